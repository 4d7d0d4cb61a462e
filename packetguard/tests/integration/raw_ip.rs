//! A paced sender of hand-built IPv4 packets (TCP SYN or UDP) on a raw socket, bounded in
//! count and time.
//!
//! The attack tests use it where the usual tools cannot send what the test needs at the
//! rate it needs: hping3 sleeps its whole interval after every packet, so `-i u200` sends
//! about 3,400 packets/s here rather than 5,000 (and its pace changes with the machine's
//! load), nping sends as fast as it can whatever `--rate` says, and `hping3 --rand-source`
//! draws sources from all of IPv4. Here packet `i` is due at `i / rate` seconds after the
//! start; a late packet goes out at once, so the average rate is the one asked for and
//! the sources are exactly the ones given. Run it on a thread inside the sending namespace
//! ([`crate::lab::in_ns`]).

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

/// What each packet is.
#[derive(Clone, Copy, Debug)]
pub enum Probe {
    /// A TCP SYN (no ACK) with an MSS option, as a SYN flood or a SYN scan sends.
    Syn { dst_port: u16 },
    /// A UDP datagram with `payload` zero bytes.
    Udp { dst_port: u16, payload: usize },
}

/// Where packets come from: source address and port of packet `i`.
#[derive(Clone, Copy, Debug)]
pub enum Sources {
    /// One address; the source port moves on by one per packet (as hping3 does), so every
    /// packet opens a flow of its own.
    One(Ipv4Addr),
    /// `count` consecutive addresses from `first`, one after the other, each packet from
    /// the next (spoofed sources). Every one must lie in 198.18.0.0/15.
    Spoofed { first: Ipv4Addr, count: u32 },
}

impl Sources {
    fn of(&self, i: u64) -> (Ipv4Addr, u16) {
        let port = 1024 + (i % 64_000) as u16;
        match *self {
            Sources::One(a) => (a, port),
            Sources::Spoofed { first, count } => (
                Ipv4Addr::from(u32::from(first) + (i % u64::from(count)) as u32),
                port,
            ),
        }
    }
}

/// One bounded, paced run.
#[derive(Clone, Copy, Debug)]
pub struct RawFlood {
    pub sources: Sources,
    pub dst: Ipv4Addr,
    /// Packet `i` goes to `dst + i % dst_count` (1: every packet to `dst`).
    pub dst_count: u32,
    pub probe: Probe,
    /// Packets per second.
    pub rate: u32,
    /// Packets in all.
    pub count: u64,
    /// The run stops here even when packets are left.
    pub limit: Duration,
}

/// What a run did.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub packets: u64,
    /// `sendto` calls that failed (the packet was not sent).
    pub errors: u64,
    pub elapsed: Duration,
}

fn in_benchmark_range(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 198 && (o[1] & 0xfe) == 18
}

/// The Internet checksum of `chunks`, taken as one byte string.
fn checksum(chunks: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = chunks.concat();
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl RawFlood {
    /// The IPv4 packet `i`: header and transport header with a correct checksum. The
    /// kernel fills in the IP header checksum (`IP_HDRINCL`, see raw(7)).
    /// The destination of packet `i`.
    pub fn dst_of(&self, i: u64) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.dst) + (i % u64::from(self.dst_count.max(1))) as u32)
    }

    pub fn packet(&self, i: u64) -> Vec<u8> {
        let (src, src_port) = self.sources.of(i);
        let dst = self.dst_of(i);
        let (protocol, transport) = match self.probe {
            Probe::Syn { dst_port } => {
                let mut t = Vec::with_capacity(24);
                t.extend_from_slice(&src_port.to_be_bytes());
                t.extend_from_slice(&dst_port.to_be_bytes());
                t.extend_from_slice(&((i as u32).wrapping_mul(2_654_435_761)).to_be_bytes());
                t.extend_from_slice(&[0, 0, 0, 0]); // ack
                t.extend_from_slice(&[6 << 4, 0x02]); // 24-byte header, SYN
                t.extend_from_slice(&64240u16.to_be_bytes());
                t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                t.extend_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
                (6u8, t)
            }
            Probe::Udp { dst_port, payload } => {
                let len = (8 + payload) as u16;
                let mut t = Vec::with_capacity(8 + payload);
                t.extend_from_slice(&src_port.to_be_bytes());
                t.extend_from_slice(&dst_port.to_be_bytes());
                t.extend_from_slice(&len.to_be_bytes());
                t.extend_from_slice(&[0, 0]);
                t.resize(8 + payload, 0);
                (17u8, t)
            }
        };
        let mut transport = transport;
        let pseudo = [
            &src.octets()[..],
            &dst.octets()[..],
            &[0, protocol],
            &(transport.len() as u16).to_be_bytes(),
        ]
        .concat();
        let sum = checksum(&[&pseudo, &transport]);
        let at = if protocol == 6 { 16 } else { 6 };
        transport[at..at + 2].copy_from_slice(&sum.to_be_bytes());

        let total = (20 + transport.len()) as u16;
        let mut p = Vec::with_capacity(total as usize);
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&[0x40, 0, 64, protocol, 0, 0]); // DF, TTL 64
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&transport);
        p
    }

    /// Sends the packets from the calling thread's network namespace.
    pub fn send(&self) -> Sent {
        if let Sources::Spoofed { first, count } = self.sources {
            let last = Ipv4Addr::from(u32::from(first) + count.saturating_sub(1));
            assert!(
                count > 0 && in_benchmark_range(first) && in_benchmark_range(last),
                "spoofed sources {first}..={last} leave 198.18.0.0/15"
            );
        }
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let sockaddr = |a: Ipv4Addr| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(a).to_be(),
            },
            sin_zero: [0; 8],
        };
        let start = Instant::now();
        let (mut packets, mut errors) = (0, 0);
        for i in 0..self.count {
            let due = start + Duration::from_secs_f64(i as f64 / f64::from(self.rate));
            let now = Instant::now();
            if now - start > self.limit {
                break;
            }
            if due > now {
                std::thread::sleep(due - now);
            }
            let p = self.packet(i);
            let dst = sockaddr(self.dst_of(i));
            let rc = unsafe {
                libc::sendto(
                    fd,
                    p.as_ptr().cast(),
                    p.len(),
                    0,
                    (&dst as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if rc == p.len() as isize {
                packets += 1;
            } else {
                errors += 1;
            }
        }
        let elapsed = start.elapsed();
        unsafe { libc::close(fd) };
        Sent {
            packets,
            errors,
            elapsed,
        }
    }
}

#[test]
fn syn_checksum_verifies_and_spoofed_sources_step_through_the_range() {
    let flood = RawFlood {
        sources: Sources::Spoofed {
            first: Ipv4Addr::new(198, 18, 0, 1),
            count: 300,
        },
        dst: Ipv4Addr::new(198, 51, 100, 2),
        dst_count: 1,
        probe: Probe::Syn { dst_port: 80 },
        rate: 1,
        count: 1,
        limit: Duration::ZERO,
    };
    let p = flood.packet(299);
    assert_eq!(p.len(), 44);
    assert_eq!(&p[12..16], &[198, 18, 1, 44], "source 299 after 198.18.0.1");
    let pseudo = [&p[12..20], &[0, 6], &24u16.to_be_bytes()[..]].concat();
    // A correct checksum makes the sum over pseudo-header and segment all ones.
    assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
    assert_eq!(p[20 + 13], 0x02, "SYN only");
}
