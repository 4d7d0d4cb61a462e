//! TCP mechanics shared by every TCP profile: the handshake, data written by one side
//! and acknowledged by the other, the ways connections close, and attempts that fail.
//!
//! Frame sizes follow the stacks that send them: a SYN carries the sender's options (74
//! bytes from Linux, 66 from Windows, 78 from macOS), later segments the timestamp option
//! or none, and a host's own writes reach TC egress before segmentation, as one packet of
//! up to 64 KiB (TSO/GSO), while what it receives arrives as wire frames.

use packetguard_common::record::{TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN};
use rand::{rngs::SmallRng, Rng};

use super::sim::{Pkt, Side, Sim, View};
use crate::baseline::log_uniform;

/// Ethernet, IPv4 and TCP headers without options.
const BARE: u32 = 54;
/// Largest packet a host hands to its NIC with segmentation offload.
const GSO_MAX: u64 = 65_160;
/// Packets one write may produce at most: bounds every transfer loop.
const MAX_PACKETS_PER_WRITE: u64 = 20_000;

/// A TCP conversation being simulated.
pub struct Tcp {
    pub sim: Sim,
    /// Header bytes of a segment after the handshake, per side (with or without timestamps).
    hdr: [u32; 2],
    /// Frame length of each side's SYN (or SYN-ACK).
    syn_len: [u32; 2],
    /// Payload of one wire segment.
    mss: u64,
    /// Wire segments a receiver takes before it acknowledges (delayed ACKs, GRO).
    ack_every: [u64; 2],
    /// Wire segments each side received and has not acknowledged yet.
    unacked: [u64; 2],
    pub rtt_ns: u64,
}

impl Tcp {
    pub fn new(rng: &mut SmallRng, view: View) -> Tcp {
        // Per side: (SYN frame, segment header) of Linux, Windows, macOS and BSD stacks.
        let stack = |rng: &mut SmallRng| match rng.random_range(0..10) {
            0..=6 => (74, 66),
            7..=8 => (66, 54),
            _ => (78, 66),
        };
        let (syn_i, hdr_i) = stack(rng);
        let (syn_r, hdr_r) = stack(rng);
        let mtu_payload = if rng.random_bool(0.05) { 8_960 } else { 1_460 };
        let sim = Sim::new(rng, view, true);
        let mut ack_every = [0u64; 2];
        for side in [Side::Initiator, Side::Responder] {
            // A host's own ACKs follow GRO, which merges up to 16 or more segments; a
            // remote receiver's follow delayed ACKs (every second segment) or its own GRO.
            ack_every[side as usize] = if sim.is_local(side) || rng.random_bool(0.3) {
                log_uniform(rng, 1.0, 17.0) as u64
            } else {
                2
            };
        }
        Tcp {
            sim,
            hdr: [hdr_i, hdr_r],
            syn_len: [syn_i, syn_r],
            mss: mtu_payload - (hdr_i.max(hdr_r) - BARE) as u64,
            ack_every,
            unacked: [0; 2],
            rtt_ns: log_uniform(rng, 30_000.0, 300_000_000.0) as u64,
        }
    }

    fn hdr(&self, side: Side) -> u32 {
        self.hdr[side as usize]
    }

    /// A segment without payload.
    pub fn bare(&mut self, gap_ns: u64, from: Side, flags: u8) {
        let len = self.hdr(from);
        self.sim.packet(Pkt {
            gap_ns,
            from,
            len,
            payload: 0,
            flags,
        });
    }

    /// The three-way handshake.
    pub fn connect(&mut self) {
        let half = self.rtt_ns / 2;
        for (gap, from, flags) in [
            (0, Side::Initiator, TCP_SYN),
            (half, Side::Responder, TCP_SYN | TCP_ACK),
        ] {
            let len = self.syn_len[from as usize];
            self.sim.packet(Pkt {
                gap_ns: gap,
                from,
                len,
                payload: 0,
                flags,
            });
        }
        self.bare(half, Side::Initiator, TCP_ACK);
    }

    /// `bytes` written by `from` after `gap_ns`, wire segments `pace_ns` apart, and the
    /// receiver's ACKs. Unless `answered` (the receiver's next write carries the ACK), the
    /// receiver acknowledges what is left unacknowledged at the end.
    pub fn write(&mut self, from: Side, bytes: u64, gap_ns: u64, pace_ns: u64, answered: bool) {
        let to = from.other();
        let per_packet = if self.sim.is_local(from) {
            GSO_MAX / self.mss * self.mss
        } else {
            self.mss
        };
        let ack_every = self.ack_every[to as usize];
        // Data carries an ACK of everything received.
        self.unacked[from as usize] = 0;
        let mut left = bytes.clamp(1, per_packet * MAX_PACKETS_PER_WRITE);
        let mut gap = gap_ns;
        while left > 0 {
            let n = left.min(per_packet);
            left -= n;
            let flags = if left == 0 {
                TCP_ACK | TCP_PSH
            } else {
                TCP_ACK
            };
            let len = self.hdr(from) + n as u32;
            self.sim.packet(Pkt {
                gap_ns: gap,
                from,
                len,
                payload: n as u32,
                flags,
            });
            let segments = n.div_ceil(self.mss);
            gap = pace_ns * segments;
            let unacked = &mut self.unacked[to as usize];
            *unacked += segments;
            let due = *unacked / ack_every;
            *unacked %= ack_every;
            // Several ACKs for one offload packet, at most four: receivers merge ACKs under
            // load (GRO, ACK compression).
            for _ in 0..due.min(4) {
                self.bare(pace_ns / 4 + 1, to, TCP_ACK);
            }
        }
        if !answered && self.unacked[to as usize] > 0 {
            self.unacked[to as usize] = 0;
            self.bare(self.rtt_ns / 2 + 1, to, TCP_ACK);
        }
    }

    /// A message of `lo` to `hi` bytes (log-uniform) from `from` after the pause `gap`
    /// draws, answered or acknowledged at random.
    pub fn message(
        &mut self,
        rng: &mut SmallRng,
        from: Side,
        (lo, hi): (f64, f64),
        gap: impl FnOnce(&mut SmallRng) -> u64,
    ) {
        let gap_ns = gap(rng);
        let bytes = log_uniform(rng, lo, hi) as u64;
        let answered = rng.random_bool(0.5);
        self.write(from, bytes, gap_ns, 10_000, answered);
    }

    /// One side closes, the other follows after `linger_ns`, the first acknowledges: that
    /// last ACK comes after the flow ended, so the agent scores it as the flow's tail.
    pub fn close(&mut self, rng: &mut SmallRng, first: Side, linger_ns: u64) {
        let half = self.rtt_ns / 2 + 1;
        self.bare(half, first, TCP_FIN | TCP_ACK);
        if linger_ns > 40_000_000 {
            // The peer's stack acknowledges the FIN before its application closes.
            self.bare(half, first.other(), TCP_ACK);
        }
        self.bare(half + linger_ns, first.other(), TCP_FIN | TCP_ACK);
        self.bare(half, first, TCP_ACK);
        if rng.random_bool(0.15) {
            // A window update or a duplicate ACK that crossed the close.
            self.bare(
                log_uniform(rng, 1_000.0, 1e6) as u64,
                first.other(),
                TCP_ACK,
            );
        }
    }

    /// An abortive close: a RST (an application closing with unread data, or with
    /// SO_LINGER 0), sometimes another for a segment still in flight.
    pub fn abort(&mut self, rng: &mut SmallRng, from: Side) {
        self.bare(self.rtt_ns / 4 + 1, from, TCP_RST | TCP_ACK);
        if rng.random_bool(0.2) {
            self.bare(self.rtt_ns / 2 + 1, from.other(), TCP_ACK);
            self.bare(1_000, from, TCP_RST);
        }
    }
}

/// A connection to a closed port: the SYN and the server's RST, sometimes retried a second
/// later (each try a flow of its own: the kernel starts a new flow on a SYN after a RST).
pub fn refused(rng: &mut SmallRng, view: View) -> Sim {
    let mut t = Tcp::new(rng, view);
    let tries = if rng.random_bool(0.8) { 1 } else { 3 };
    for i in 0..tries {
        let len = t.syn_len[0];
        t.sim.packet(Pkt {
            gap_ns: if i == 0 { 0 } else { 1_000_000_000 },
            from: Side::Initiator,
            len,
            payload: 0,
            flags: TCP_SYN,
        });
        t.sim.packet(Pkt {
            gap_ns: t.rtt_ns,
            from: Side::Responder,
            len: BARE,
            payload: 0,
            flags: TCP_RST | TCP_ACK,
        });
    }
    t.sim
}

/// A connection to a filtered port or a host that is down: the SYN and its retransmissions
/// (1, 2, 4 s apart), unanswered, until the client gives up.
pub fn unanswered(rng: &mut SmallRng, view: View) -> Sim {
    let mut t = Tcp::new(rng, view);
    let syns = rng.random_range(1..=4u32);
    for i in 0..syns {
        let len = t.syn_len[0];
        t.sim.packet(Pkt {
            gap_ns: if i == 0 { 0 } else { 1_000_000_000 << (i - 1) },
            from: Side::Initiator,
            len,
            payload: 0,
            flags: TCP_SYN,
        });
    }
    t.sim
}

/// Wire segments `pace` apart: from 1 us (10 Gbit/s) to 5 ms (2 Mbit/s).
pub fn pace(rng: &mut SmallRng) -> u64 {
    log_uniform(rng, 1_000.0, 5_000_000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::features::flow_feature_index;
    use rand::SeedableRng;

    fn get(row: &[f64], name: &str) -> f64 {
        row[flow_feature_index(name).unwrap()]
    }

    #[test]
    fn a_hosts_own_writes_are_offload_packets_and_what_it_receives_wire_frames() {
        let mut rng = SmallRng::seed_from_u64(4);
        for local in [Side::Initiator, Side::Responder] {
            let mut t = Tcp::new(&mut rng, View::EndHost { local });
            let (hdr, mss) = (t.hdr(Side::Initiator), t.mss);
            t.connect();
            t.write(Side::Initiator, 1_000_000, 1_000, 1_000, false);
            let row = t.sim.finish()[0];
            let largest = get(&row, "pkt_len_max");
            if local == Side::Initiator {
                assert!(largest > 60_000.0, "sent: {largest}");
            } else {
                assert_eq!(largest, (hdr as u64 + mss) as f64, "received");
            }
            // The receiver acknowledged: a host merging received segments (GRO) in fewer
            // packets than the data took, a remote one several times per offload packet.
            let (data, acks) = (get(&row, "fwd_packets"), get(&row, "bwd_packets"));
            if local == Side::Initiator {
                assert!(acks > data, "{data} data, {acks} ACKs");
            } else {
                assert!(acks >= 1.0 && acks < data, "{data} data, {acks} ACKs");
            }
        }
    }

    #[test]
    fn a_refused_attempt_is_a_syn_and_a_reset() {
        let mut rng = SmallRng::seed_from_u64(5);
        let rows = refused(&mut rng, View::Transit).finish();
        assert!(!rows.is_empty());
        for row in &rows {
            assert_eq!(
                [get(row, "fwd_packets"), get(row, "bwd_packets")],
                [1.0, 1.0]
            );
            assert_eq!([get(row, "syn_count"), get(row, "rst_count")], [1.0, 1.0]);
            assert_eq!(get(row, "payload_packets"), 0.0);
        }
    }
}
