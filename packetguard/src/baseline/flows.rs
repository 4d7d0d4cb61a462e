//! Generated normal conversations, simulated packet by packet through
//! [`FlowStats::observe`], the arithmetic the XDP program runs for every packet.

use packetguard_common::{
    features::N_FLOW_FEATURES,
    host::connection_attempt,
    record::{TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN},
    FlowStats, PacketMeta,
};
use rand::{rngs::SmallRng, Rng};

use super::log_uniform;
use crate::flows::features::flow_features;

/// Which packets of a conversation the agent sees.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// Both directions (an agent on a router, or on both sides).
    Both,
    /// Only the initiator's packets (ingress on the responding host).
    Initiator,
    /// Only the responder's packets (ingress on the initiating host).
    Responder,
}

/// One packet of a conversation: `forward` when the initiator sent it.
struct Pkt {
    gap_ns: u64,
    len: u32,
    payload: u32,
    flags: u8,
    forward: bool,
}

/// Builds a flow from the packets the view keeps.
struct Sim {
    stats: Option<FlowStats>,
    now_ns: u64,
    view: View,
    is_tcp: u8,
    ttl_fwd: u8,
    ttl_bwd: u8,
    win_fwd: u16,
    win_bwd: u16,
}

impl Sim {
    fn new(rng: &mut SmallRng, view: View, is_tcp: bool) -> Self {
        let ttl = |rng: &mut SmallRng| {
            let base = [64u8, 128, 255][rng.random_range(0..3)];
            base - rng.random_range(0..20u8)
        };
        let win = |rng: &mut SmallRng| [64_240u16, 65_535, 29_200, 14_600][rng.random_range(0..4)];
        Self {
            stats: None,
            now_ns: 1_000_000_000,
            view,
            is_tcp: is_tcp as u8,
            ttl_fwd: ttl(rng),
            ttl_bwd: ttl(rng),
            win_fwd: win(rng),
            win_bwd: win(rng),
        }
    }

    fn packet(&mut self, p: Pkt) {
        self.now_ns += p.gap_ns;
        let seen = match self.view {
            View::Both => true,
            View::Initiator => p.forward,
            View::Responder => !p.forward,
        };
        if !seen {
            return;
        }
        let meta = PacketMeta {
            ts_ns: self.now_ns,
            len: p.len,
            payload_len: p.payload,
            window: if self.is_tcp == 0 {
                0
            } else if p.forward {
                self.win_fwd
            } else {
                self.win_bwd
            },
            tcp_flags: p.flags,
            ttl: if p.forward {
                self.ttl_fwd
            } else {
                self.ttl_bwd
            },
            is_tcp: self.is_tcp,
            attempt: connection_attempt(self.is_tcp != 0, p.flags, false) as u8,
            _pad: [0; 2],
        };
        // The first packet seen defines the flow's forward direction, as in the kernel.
        let stats = self
            .stats
            .get_or_insert_with(|| FlowStats::new_flow(meta.ts_ns, p.forward as u8));
        let forward = (p.forward as u8) == stats.fwd_is_a;
        stats.observe(&meta, forward);
        stats.count(forward, meta.len);
    }

    fn features(self) -> Option<[f64; N_FLOW_FEATURES]> {
        self.stats.map(|s| flow_features(&s))
    }
}

/// A TCP conversation: handshake, `exchanges` request/response rounds, teardown.
fn tcp(rng: &mut SmallRng, view: View, bulk: bool) -> Sim {
    let mut s = Sim::new(rng, view, true);
    let rtt = log_uniform(rng, 50_000.0, 200_000_000.0) as u64;
    let opt = rng.random_range(0..=20u32);
    let hdr = 54 + opt;
    s.packet(Pkt {
        gap_ns: 0,
        len: hdr + 20,
        payload: 0,
        flags: TCP_SYN,
        forward: true,
    });
    s.packet(Pkt {
        gap_ns: rtt / 2,
        len: hdr + 20,
        payload: 0,
        flags: TCP_SYN | TCP_ACK,
        forward: false,
    });
    s.packet(Pkt {
        gap_ns: rtt / 2,
        len: hdr,
        payload: 0,
        flags: TCP_ACK,
        forward: true,
    });
    let rounds = if bulk {
        1
    } else {
        log_uniform(rng, 1.0, 30.0) as u32
    };
    for _ in 0..rounds {
        let req = log_uniform(rng, 40.0, 1400.0) as u32;
        let think = log_uniform(rng, 10_000.0, 2_000_000_000.0) as u64;
        s.packet(Pkt {
            gap_ns: think,
            len: hdr + req,
            payload: req,
            flags: TCP_ACK | TCP_PSH,
            forward: true,
        });
        let resp_bytes = if bulk {
            log_uniform(rng, 100_000.0, 200_000_000.0)
        } else {
            log_uniform(rng, 100.0, 200_000.0)
        } as u64;
        let mss = 1460u64;
        let segments = resp_bytes.div_ceil(mss).min(20_000);
        let pace = (log_uniform(rng, 1_000.0, 200_000.0)) as u64;
        for i in 0..segments {
            let payload = if i + 1 == segments {
                resp_bytes - mss * (segments - 1)
            } else {
                mss
            } as u32;
            let flags = if i + 1 == segments {
                TCP_ACK | TCP_PSH
            } else {
                TCP_ACK
            };
            s.packet(Pkt {
                gap_ns: if i == 0 { rtt / 2 } else { pace },
                len: hdr + payload,
                payload,
                flags,
                forward: false,
            });
            if i % 2 == 1 || i + 1 == segments {
                s.packet(Pkt {
                    gap_ns: pace / 4 + 1,
                    len: hdr,
                    payload: 0,
                    flags: TCP_ACK,
                    forward: true,
                });
            }
        }
    }
    let closer = rng.random_bool(0.5);
    s.packet(Pkt {
        gap_ns: rtt,
        len: hdr,
        payload: 0,
        flags: TCP_FIN | TCP_ACK,
        forward: closer,
    });
    s.packet(Pkt {
        gap_ns: rtt / 2,
        len: hdr,
        payload: 0,
        flags: TCP_FIN | TCP_ACK,
        forward: !closer,
    });
    s.packet(Pkt {
        gap_ns: rtt / 2,
        len: hdr,
        payload: 0,
        flags: TCP_ACK,
        forward: closer,
    });
    s
}

/// UDP: a query and maybe its answer, or a one-way stream.
fn udp(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    if rng.random_bool(0.6) {
        let q = rng.random_range(20..=120u32);
        s.packet(Pkt {
            gap_ns: 0,
            len: 42 + q,
            payload: q,
            flags: 0,
            forward: true,
        });
        if rng.random_bool(0.9) {
            let a = log_uniform(rng, 40.0, 1400.0) as u32;
            let rtt = log_uniform(rng, 50_000.0, 100_000_000.0) as u64;
            s.packet(Pkt {
                gap_ns: rtt,
                len: 42 + a,
                payload: a,
                flags: 0,
                forward: false,
            });
        }
    } else {
        let n = log_uniform(rng, 2.0, 20_000.0) as u32;
        let size = log_uniform(rng, 100.0, 1400.0) as u32;
        let gap = log_uniform(rng, 20_000.0, 50_000_000.0) as u64;
        for _ in 0..n {
            s.packet(Pkt {
                gap_ns: gap,
                len: 42 + size,
                payload: size,
                flags: 0,
                forward: true,
            });
        }
    }
    s
}

/// ICMP or ICMPv6 echo: requests and replies at a steady interval.
fn echo(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    let len = if rng.random_bool(0.5) { 98 } else { 118 };
    let n = log_uniform(rng, 1.0, 100.0) as u32;
    let interval = log_uniform(rng, 200_000_000.0, 1_000_000_000.0) as u64;
    let rtt = log_uniform(rng, 30_000.0, 50_000_000.0) as u64;
    for _ in 0..n {
        s.packet(Pkt {
            gap_ns: interval,
            len,
            payload: len - 42,
            flags: 0,
            forward: true,
        });
        s.packet(Pkt {
            gap_ns: rtt,
            len,
            payload: len - 42,
            flags: 0,
            forward: false,
        });
    }
    s
}

/// One flow drawn from the normal profiles.
pub fn generate(rng: &mut SmallRng) -> [f64; N_FLOW_FEATURES] {
    loop {
        let view = match rng.random_range(0..3) {
            0 => View::Both,
            1 => View::Initiator,
            _ => View::Responder,
        };
        let sim = match rng.random_range(0..100) {
            0..=44 => tcp(rng, view, false),
            45..=54 => tcp(rng, view, true),
            55..=84 => udp(rng, view),
            _ => echo(rng, view),
        };
        // A one-way stream seen from its receiving side only has no packets: draw again.
        if let Some(row) = sim.features() {
            return row;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::features::flow_feature_index;
    use rand::SeedableRng;

    #[test]
    fn generated_flows_are_consistent_and_reproducible() {
        let mut a = SmallRng::seed_from_u64(3);
        let mut b = SmallRng::seed_from_u64(3);
        let fwd = flow_feature_index("fwd_packets").unwrap();
        let bwd = flow_feature_index("bwd_packets").unwrap();
        let syn = flow_feature_index("syn_count").unwrap();
        for _ in 0..500 {
            let row = generate(&mut a);
            assert_eq!(row, generate(&mut b));
            assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0), "{row:?}");
            assert!(row[fwd] >= 1.0, "the first packet seen is forward: {row:?}");
            assert!(row[syn] <= row[fwd] + row[bwd]);
        }
    }
}
