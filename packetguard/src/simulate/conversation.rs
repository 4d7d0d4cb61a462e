//! A TCP conversation between two hosts: sequence and acknowledgement numbers kept
//! consistent as segments are sent, so handshakes, data and closes look like a real stack's.

use std::net::IpAddr;

use super::packet::{Payload, Synth, Transport, TCP_ACK, TCP_FIN, TCP_SYN};
use super::rng::Rng;

/// TTL of packets from outside (64 minus a dozen hops) and from the victim's side.
pub const TTL_OUTSIDE: u8 = 52;
pub const TTL_INSIDE: u8 = 64;

/// One side of a conversation.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    pub addr: IpAddr,
    pub port: u16,
    /// The next sequence number this side sends.
    pub seq: u32,
    pub window: u16,
    /// True when this side is outside the victim's network.
    pub outside: bool,
}

/// A TCP conversation: its two sides and the time of its latest segment.
#[derive(Clone, Copy, Debug)]
pub struct Conversation {
    pub client: Side,
    pub server: Side,
    pub t_ns: u64,
}

impl Conversation {
    /// A segment `dt_ns` after the previous one, from the client when `from_client`. The
    /// sender's sequence number advances by the payload (and one for SYN or FIN); the
    /// acknowledgement is the other side's next sequence number when ACK is set.
    pub fn send(
        &mut self,
        rng: &mut Rng,
        from_client: bool,
        flags: u8,
        payload: Payload,
        dt_ns: u64,
    ) -> Synth {
        self.t_ns += dt_ns;
        let (from, to) = if from_client {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        };
        let seq = from.seq;
        let advance = payload.len() as u32 + u32::from(flags & (TCP_SYN | TCP_FIN) != 0);
        from.seq = from.seq.wrapping_add(advance);
        let ack = if flags & TCP_ACK != 0 { to.seq } else { 0 };
        Synth {
            ts_ns: self.t_ns,
            src: from.addr,
            dst: to.addr,
            ttl: if from.outside {
                TTL_OUTSIDE
            } else {
                TTL_INSIDE
            },
            ip_id: rng.next_u32() as u16,
            transport: Transport::Tcp {
                src_port: from.port,
                dst_port: to.port,
                seq,
                ack,
                flags,
                window: from.window,
            },
            payload,
            inbound: from.outside,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_acknowledges_each_side() {
        let side = |addr: &str, port, seq, outside| Side {
            addr: addr.parse().unwrap(),
            port,
            seq,
            window: 1000,
            outside,
        };
        let mut c = Conversation {
            client: side("203.0.113.1", 40000, 100, true),
            server: side("192.0.2.1", 22, 5000, false),
            t_ns: 10,
        };
        let mut rng = Rng::new(1);
        let syn = c.send(&mut rng, true, TCP_SYN, Payload::None, 0);
        let synack = c.send(&mut rng, false, TCP_SYN | TCP_ACK, Payload::None, 5);
        let data = c.send(&mut rng, true, TCP_ACK, Payload::Text(b"hello"), 1);
        let ack = c.send(&mut rng, false, TCP_ACK, Payload::None, 1);
        let tcp = |s: &Synth| match s.transport {
            Transport::Tcp { seq, ack, .. } => (seq, ack),
            Transport::Udp { .. } => unreachable!(),
        };
        assert_eq!(tcp(&syn), (100, 0));
        assert_eq!(tcp(&synack), (5000, 101));
        assert_eq!(tcp(&data), (101, 5001));
        assert_eq!(tcp(&ack), (5001, 106));
        assert_eq!((syn.ts_ns, synack.ts_ns, ack.ts_ns), (10, 15, 17));
        assert!(syn.inbound && !synack.inbound);
        assert_eq!((syn.ttl, synack.ttl), (TTL_OUTSIDE, TTL_INSIDE));
    }
}
