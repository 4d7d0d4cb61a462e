//! One synthetic packet: what it is (addresses, ports, flags, payload) and its IP bytes
//! with correct IPv4 header, TCP and UDP checksums.
//!
//! A packet is kept as this small description until it is written, so a long attack is a
//! stream of descriptions and the bytes of one packet at a time, in one reused buffer.

use std::net::IpAddr;

use super::rng::Rng;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// The transport header of a synthetic packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
}

/// What a packet carries after its transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    None,
    /// `len` pseudo-random bytes drawn from `seed` (what encrypted or compressed data
    /// looks like).
    Random {
        len: u16,
        seed: u64,
    },
    /// Fixed text, such as an SSH version banner.
    Text(&'static [u8]),
}

impl Payload {
    pub fn len(&self) -> usize {
        match *self {
            Payload::None => 0,
            Payload::Random { len, .. } => len as usize,
            Payload::Text(t) => t.len(),
        }
    }
}

/// A synthetic packet, before it has bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Synth {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
    pub transport: Transport,
    pub payload: Payload,
    /// True when the packet travels toward the victim's side (from outside), which decides
    /// the link-layer addresses and the SLL packet type.
    pub inbound: bool,
}

impl Synth {
    pub fn protocol(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => 6,
            Transport::Udp { .. } => 17,
        }
    }

    fn transport_len(&self) -> usize {
        match self.transport {
            Transport::Tcp { .. } => 20,
            Transport::Udp { .. } => 8,
        }
    }
}

/// Writes `p`'s IP packet (header, transport header, payload) to the end of `out`.
pub fn write_ip(p: &Synth, out: &mut Vec<u8>) {
    let l4_len = p.transport_len() + p.payload.len();
    let ip_start = out.len();
    match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + l4_len) as u16;
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&p.ip_id.to_be_bytes());
            out.extend_from_slice(&[0x40, 0]); // don't fragment
            out.extend_from_slice(&[p.ttl, p.protocol(), 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let sum = fold(sum_words(&out[ip_start..]));
            out[ip_start + 10..ip_start + 12].copy_from_slice(&(!sum).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(l4_len as u16).to_be_bytes());
            out.extend_from_slice(&[p.protocol(), p.ttl]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => unreachable!("plans never mix address families in one packet"),
    }
    let l4_start = out.len();
    match p.transport {
        Transport::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
        } => {
            out.extend_from_slice(&src_port.to_be_bytes());
            out.extend_from_slice(&dst_port.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&ack.to_be_bytes());
            out.extend_from_slice(&[0x50, flags]);
            out.extend_from_slice(&window.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        }
        Transport::Udp { src_port, dst_port } => {
            out.extend_from_slice(&src_port.to_be_bytes());
            out.extend_from_slice(&dst_port.to_be_bytes());
            out.extend_from_slice(&(l4_len as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
    match p.payload {
        Payload::None => {}
        Payload::Text(t) => out.extend_from_slice(t),
        Payload::Random { len, seed } => {
            let at = out.len();
            out.resize(at + len as usize, 0);
            Rng::new(seed).fill(&mut out[at..]);
        }
    }
    let mut sum = sum_words(&out[l4_start..]) + l4_len as u64 + p.protocol() as u64;
    sum += match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum_words(&s.octets()) + sum_words(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum_words(&s.octets()) + sum_words(&d.octets()),
        _ => 0,
    };
    let mut check = !fold(sum);
    if check == 0 && matches!(p.transport, Transport::Udp { .. }) {
        check = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
    let at = l4_start + if p.protocol() == 6 { 16 } else { 6 };
    out[at..at + 2].copy_from_slice(&check.to_be_bytes());
}

/// The sum of `data` as big-endian 16-bit words (an odd tail byte padded with zero).
fn sum_words(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut sum: u64 = chunks
        .by_ref()
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u64)
        .sum();
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    sum
}

/// The ones' complement fold of a sum to 16 bits.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_header_checksum_verifies_to_zero() {
        let p = Synth {
            ts_ns: 0,
            src: "203.0.113.5".parse().unwrap(),
            dst: "192.0.2.10".parse().unwrap(),
            ttl: 64,
            ip_id: 0x1234,
            transport: Transport::Udp {
                src_port: 40000,
                dst_port: 53,
            },
            payload: Payload::Text(b"abc"),
            inbound: true,
        };
        let mut out = Vec::new();
        write_ip(&p, &mut out);
        assert_eq!(out.len(), 20 + 8 + 3);
        assert_eq!(!fold(sum_words(&out[..20])), 0);
        // Pseudo-header + UDP segment sums to all ones when the checksum is right.
        let pseudo = sum_words(&out[12..20]) + 17 + 11;
        assert_eq!(!fold(pseudo + sum_words(&out[20..])), 0);
    }
}
