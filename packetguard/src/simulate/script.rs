//! What each attack sends, one burst at a time: a burst is what one rate unit causes (a
//! SYN, a probe and its answer, a whole brute-force connection, one data segment), with
//! every packet at or after the burst's first.
//!
//! Unit `i` of an attack starts at a random time inside its slot
//! `[start + i/rate, start + (i + 1/2)/rate)`, so the rate holds on every second while the
//! timing is not a perfect comb.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::conversation::{Conversation, Side, TTL_OUTSIDE};
use super::packet::{Payload, Synth, Transport, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN};
use super::rng::Rng;
use super::spec::{AttackKind, Attacker, Plan};

/// Payload of one UDP flood datagram.
pub const UDP_FLOOD_PAYLOAD: u16 = 512;
/// Payload of one exfiltration segment (a full segment at a 1500-byte MTU with timestamps).
pub const EXFIL_SEGMENT: u16 = 1448;
/// Packets of one brute-force connection: handshake (3), banners (2), key exchange (2),
/// one password attempt and its failure (2), close (3).
pub const BRUTE_FORCE_PACKETS: u64 = 12;
/// Round trip between the attacker and the victim.
const RTT_NS: u64 = 800_000;

const SSH_SERVER_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
const SSH_CLIENT_BANNER: &[u8] = b"SSH-2.0-libssh_0.10.4\r\n";

/// The bursts of one attack, in order of their first packet.
pub struct Script {
    plan: Plan,
    rng: Rng,
    unit: u64,
    units: u64,
    /// The victim's listening TCP ports seen in the capture (sorted).
    open_ports: Vec<u16>,
    /// Vertical scan: the ports in probe order. Horizontal scan: the last address byte of
    /// each target, in probe order.
    order: Vec<u16>,
    /// Scans: the scanner's one source port. Exfiltration: the transfer, once opened.
    scan_port: u16,
    transfer: Option<Conversation>,
    closed: bool,
}

impl Script {
    pub fn new(plan: Plan, mut rng: Rng, open_ports: Vec<u16>) -> Self {
        let units = plan.units();
        let order = match plan.kind {
            AttackKind::VerticalScan => {
                let n = units.min(65535) as usize;
                rng.permutation(n)
                    .into_iter()
                    .map(|p| p as u16 + 1)
                    .collect()
            }
            AttackKind::HorizontalScan => {
                let hosts = if plan.victim.is_ipv4() { 254 } else { 255 };
                rng.permutation(hosts)
                    .into_iter()
                    .map(|h| h as u16 + 1)
                    .collect()
            }
            _ => Vec::new(),
        };
        let scan_port = rng.ephemeral_port();
        Self {
            plan,
            rng,
            unit: 0,
            units,
            open_ports,
            order,
            scan_port,
            transfer: None,
            closed: false,
        }
    }

    /// Appends the next burst to `out` (cleared first); false when the attack is over.
    pub fn next_burst(&mut self, out: &mut Vec<Synth>) -> bool {
        out.clear();
        if self.unit >= self.units {
            if self.plan.kind == AttackKind::Exfiltration && !self.closed {
                self.closed = true;
                self.close_transfer(out);
                return true;
            }
            return false;
        }
        let slot = 1e9 / self.plan.rate;
        let base = self.plan.start_ns + (self.unit as f64 * slot) as u64;
        let t = base + self.rng.range(0, (slot / 2.0) as u64);
        let i = self.unit;
        self.unit += 1;
        match self.plan.kind {
            AttackKind::SynFlood => out.push(self.flood_packet(t, true)),
            AttackKind::UdpFlood => out.push(self.flood_packet(t, false)),
            AttackKind::VerticalScan => {
                let port = self.order[(i % self.order.len() as u64) as usize];
                self.probe(t, self.plan.victim, port, out);
            }
            AttackKind::HorizontalScan => {
                let host = self.order[(i % self.order.len() as u64) as usize];
                let target = in_same_24(self.plan.victim, host);
                self.probe(t, target, self.plan.port.unwrap_or(80), out);
            }
            AttackKind::BruteForce => self.brute_force_connection(t, out),
            AttackKind::Exfiltration => self.exfil_segment(t, i, out),
        }
        true
    }

    fn attacker(&self) -> IpAddr {
        match self.plan.attacker {
            Attacker::Host(a) => a,
            Attacker::Spoofed => self.plan.victim, // never used: only floods spoof
        }
    }

    fn flood_packet(&mut self, t: u64, syn: bool) -> Synth {
        let rng = &mut self.rng;
        let (src, ttl) = match self.plan.attacker {
            Attacker::Host(a) => (a, TTL_OUTSIDE),
            Attacker::Spoofed => (
                spoofed_source(rng, self.plan.victim),
                rng.range(32, 64) as u8,
            ),
        };
        let src_port = match self.plan.attacker {
            Attacker::Host(_) => rng.ephemeral_port(),
            Attacker::Spoofed => rng.range(1024, 65535) as u16,
        };
        let (transport, payload) = if syn {
            let t = Transport::Tcp {
                src_port,
                dst_port: self.plan.port.unwrap_or(80),
                seq: rng.next_u32(),
                ack: 0,
                flags: TCP_SYN,
                window: 64240,
            };
            (t, Payload::None)
        } else {
            let dst_port = self.plan.port.unwrap_or_else(|| rng.range(1, 65535) as u16);
            let p = Payload::Random {
                len: UDP_FLOOD_PAYLOAD,
                seed: rng.next_u64(),
            };
            (Transport::Udp { src_port, dst_port }, p)
        };
        let ip_id = rng.next_u32() as u16;
        Synth {
            ts_ns: t,
            src,
            dst: self.plan.victim,
            ttl,
            ip_id,
            transport,
            payload,
            inbound: true,
        }
    }

    /// A SYN probe of `target:port` and, when the target is the victim (the one host known
    /// to exist), its answer: SYN-ACK and the scanner's reset for an open port, a reset
    /// for a closed one.
    fn probe(&mut self, t: u64, target: IpAddr, port: u16, out: &mut Vec<Synth>) {
        let mut c = Conversation {
            client: side(
                self.attacker(),
                self.scan_port,
                self.rng.next_u32(),
                1024,
                true,
            ),
            server: side(target, port, 0, 0, false),
            t_ns: t,
        };
        out.push(c.send(&mut self.rng, true, TCP_SYN, Payload::None, 0));
        if target != self.plan.victim {
            return;
        }
        let dt = RTT_NS + self.rng.range(0, RTT_NS / 4);
        if self.open_ports.binary_search(&port).is_ok() {
            c.server.seq = self.rng.next_u32();
            c.server.window = 65160;
            out.push(c.send(&mut self.rng, false, TCP_SYN | TCP_ACK, Payload::None, dt));
            out.push(c.send(&mut self.rng, true, TCP_RST, Payload::None, 20_000));
        } else {
            out.push(c.send(&mut self.rng, false, TCP_RST | TCP_ACK, Payload::None, dt));
        }
    }

    /// One SSH connection: handshake, banners, key exchange, one failed password, close.
    fn brute_force_connection(&mut self, t: u64, out: &mut Vec<Synth>) {
        let attacker = self.attacker();
        let r = &mut self.rng;
        let client = side(attacker, r.ephemeral_port(), r.next_u32(), 64240, true);
        let server = side(
            self.plan.victim,
            self.plan.port.unwrap_or(22),
            r.next_u32(),
            65160,
            false,
        );
        let mut c = Conversation {
            client,
            server,
            t_ns: t,
        };
        let rnd = |r: &mut Rng, len| Payload::Random {
            len,
            seed: r.next_u64(),
        };
        let pa = TCP_PSH | TCP_ACK;
        let steps: [Step; 12] = [
            (true, TCP_SYN, None, b"", 0),
            (false, TCP_SYN | TCP_ACK, None, b"", RTT_NS),
            (true, TCP_ACK, None, b"", RTT_NS),
            (false, pa, None, SSH_SERVER_BANNER, 2_000_000),
            (true, pa, None, SSH_CLIENT_BANNER, RTT_NS),
            (true, pa, Some(1024), b"", 100_000),
            (false, pa, Some(1080), b"", 3_000_000),
            (true, pa, Some(96), b"", 5_000_000),
            (false, pa, Some(48), b"", 20_000_000),
            (true, TCP_FIN | TCP_ACK, None, b"", 1_000_000),
            (false, TCP_FIN | TCP_ACK, None, b"", RTT_NS),
            (true, TCP_ACK, None, b"", RTT_NS),
        ];
        for (from_client, flags, random_len, text, dt) in steps {
            let payload = match random_len {
                Some(len) => rnd(r, len),
                None if !text.is_empty() => Payload::Text(text),
                None => Payload::None,
            };
            out.push(c.send(r, from_client, flags, payload, dt));
        }
    }

    /// Unit 0 opens the transfer (handshake and first segment); every unit sends a
    /// segment from the victim's side; the outside host acknowledges every second one.
    fn exfil_segment(&mut self, t: u64, i: u64, out: &mut Vec<Synth>) {
        let attacker = self.attacker();
        let r = &mut self.rng;
        let mut c = match self.transfer {
            Some(c) => c,
            None => {
                let client = side(
                    self.plan.victim,
                    r.ephemeral_port(),
                    r.next_u32(),
                    64240,
                    false,
                );
                let server = side(
                    attacker,
                    self.plan.port.unwrap_or(443),
                    r.next_u32(),
                    65160,
                    true,
                );
                let mut c = Conversation {
                    client,
                    server,
                    t_ns: t,
                };
                out.push(c.send(r, true, TCP_SYN, Payload::None, 0));
                out.push(c.send(r, false, TCP_SYN | TCP_ACK, Payload::None, RTT_NS));
                out.push(c.send(r, true, TCP_ACK, Payload::None, 50_000));
                c
            }
        };
        // A stack sends its first segment a little after the handshake's last ACK.
        let dt = t.saturating_sub(c.t_ns).max(10_000);
        let data = Payload::Random {
            len: EXFIL_SEGMENT,
            seed: r.next_u64(),
        };
        out.push(c.send(r, true, TCP_ACK | TCP_PSH, data, dt));
        if i % 2 == 1 {
            out.push(c.send(r, false, TCP_ACK, Payload::None, RTT_NS / 2));
            // The next segment must not be stamped before this acknowledgement.
            c.t_ns -= RTT_NS / 2;
        }
        self.transfer = Some(c);
    }

    fn close_transfer(&mut self, out: &mut Vec<Synth>) {
        if let Some(mut c) = self.transfer.take() {
            let r = &mut self.rng;
            out.push(c.send(r, true, TCP_FIN | TCP_ACK, Payload::None, RTT_NS));
            out.push(c.send(r, false, TCP_FIN | TCP_ACK, Payload::None, RTT_NS));
            out.push(c.send(r, true, TCP_ACK, Payload::None, RTT_NS));
        }
    }
}

/// One segment of a scripted connection: from the client?, flags, random payload length
/// or fixed text, and the time since the previous segment.
type Step = (bool, u8, Option<u16>, &'static [u8], u64);

fn side(addr: IpAddr, port: u16, seq: u32, window: u16, outside: bool) -> Side {
    Side {
        addr,
        port,
        seq,
        window,
        outside,
    }
}

/// A random forged source: 198.18.0.0/15 (RFC 2544 benchmarking) for IPv4,
/// 2001:db8:5900::/40 for IPv6.
fn spoofed_source(rng: &mut Rng, victim: IpAddr) -> IpAddr {
    match victim {
        IpAddr::V4(_) => {
            let low = rng.range(1, (1 << 17) - 2) as u32;
            Ipv4Addr::from((198u32 << 24 | 18 << 16) + low).into()
        }
        IpAddr::V6(_) => {
            let low = rng.next_u64() as u128 | (rng.next_u64() as u128 & 0xff_ffff) << 64;
            Ipv6Addr::from(0x2001_0db8_5900_u128 << 80 | low).into()
        }
    }
}

/// The address with last byte `host` in the victim's /24 (IPv6: its /120).
pub fn in_same_24(victim: IpAddr, host: u16) -> IpAddr {
    match victim {
        IpAddr::V4(v) => {
            let o = v.octets();
            Ipv4Addr::new(o[0], o[1], o[2], host as u8).into()
        }
        IpAddr::V6(v) => {
            let mut o = v.octets();
            o[15] = host as u8;
            Ipv6Addr::from(o).into()
        }
    }
}
