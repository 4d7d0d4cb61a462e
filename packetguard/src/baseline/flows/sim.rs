//! One conversation folded packet by packet into flow records, cut where the kernel and the
//! agent cut them.
//!
//! Every packet the agent would see goes through [`FlowStats::observe`] and
//! [`FlowStats::count`], the arithmetic of the XDP and TC programs. A record is emitted
//! where the kernel emits one (a RST or the second FIN ends the flow, the active timeout
//! cuts a long one) and where the agent exports one (idle expiry); what follows the end of
//! a flow (the last ACK of a close) becomes a record of its own, the *tail*, exactly as
//! the agent scores it. A generated conversation is therefore one to several rows.

use packetguard_common::{
    features::{N_FLOW_FEATURES, N_FLOW_ROW_FEATURES},
    host::connection_attempt,
    record::{STATE_ENDED, TCP_ACK, TCP_SYN},
    FlowStats, PacketMeta,
};
use rand::{rngs::SmallRng, Rng, SeedableRng};

use crate::{baseline::log_uniform, flows::features::flow_features};

/// The kernel's default active timeout: a flow running this long is cut into records.
const ACTIVE_TIMEOUT_NS: u64 = 60_000_000_000;
/// The agent's default idle timeout (`--idle-timeout 15s`).
const DEFAULT_IDLE_TIMEOUT_NS: u64 = 15_000_000_000;
/// Ethernet's minimum frame (without FCS): shorter frames arrive padded from a wire.
const MIN_WIRE_FRAME: u32 = 60;

/// The two ends of a conversation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// The end that sent the first packet (the client).
    Initiator,
    /// The other end (the server).
    Responder,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Initiator => Side::Responder,
            Side::Responder => Side::Initiator,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Where the agent runs, and so which packets of a conversation it sees and in what shape.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum View {
    /// An end host in `both` mode, `local` being its own end: TC egress sees what it sends
    /// before segmentation (TCP offload packets up to 64 KiB) with its own initial TTL, XDP
    /// sees what it receives as wire frames.
    EndHost { local: Side },
    /// Both directions of traffic passing through (a router watching both of its sides):
    /// wire frames only, both TTLs decremented on the way.
    Transit,
    /// One direction only (ingress on a router's interface, or `--direction ingress`): the
    /// packets sent by that side.
    OneSided(Side),
}

impl View {
    /// A view drawn from the deployments the default model serves: mostly end hosts in
    /// `both` mode (as client or server), then routers and hosts in `ingress` mode.
    pub fn draw(rng: &mut SmallRng) -> View {
        match rng.random_range(0..20) {
            0..=4 => View::EndHost {
                local: Side::Initiator,
            },
            5..=10 => View::EndHost {
                local: Side::Responder,
            },
            11..=12 => View::Transit,
            13..=16 => View::OneSided(Side::Initiator),
            _ => View::OneSided(Side::Responder),
        }
    }
}

/// One packet of a conversation as its sender put it on the stack or the wire.
#[derive(Clone, Copy)]
pub struct Pkt {
    /// Time since the conversation's previous packet.
    pub gap_ns: u64,
    pub from: Side,
    /// Frame length before any padding.
    pub len: u32,
    pub payload: u32,
    pub flags: u8,
}

/// A conversation being simulated: the flow state the kernel keeps and the records it and
/// the agent have emitted so far.
pub struct Sim {
    pub view: View,
    is_tcp: u8,
    stats: Option<FlowStats>,
    now_ns: u64,
    /// TTL as seen, per side: exact on an end host's own packets, decremented otherwise.
    ttl: [u8; 2],
    /// Initial TCP window per side (the SYN's, or the first packet's).
    window: [u16; 2],
    /// Frames received from a physical wire come padded to 60 bytes; virtual links do not pad.
    pads: bool,
    idle_timeout_ns: u64,
    /// How much earlier than the packet before it a packet of the other direction may be
    /// stamped: the two directions of a flow can be processed on two CPUs at once, and a
    /// packet stamped before the previous one counts as a gap of 0.
    skew_ns: u64,
    last_from: Option<Side>,
    /// Draws the skew of each packet, seeded from the conversation's generator.
    jitter: SmallRng,
    records: Vec<[f64; N_FLOW_FEATURES]>,
    /// The context feature `prior_login_attempts` of every record of the conversation:
    /// what the profile drew for the attempts its client made just before (login
    /// connections only).
    pub prior_login_attempts: u32,
}

/// An initial TTL as operating systems set them.
fn initial_ttl(rng: &mut SmallRng) -> u8 {
    match rng.random_range(0..20) {
        0..=13 => 64,
        14..=18 => 128,
        _ => 255,
    }
}

impl Sim {
    pub fn new(rng: &mut SmallRng, view: View, is_tcp: bool) -> Sim {
        let mut ttl = [0u8; 2];
        for side in [Side::Initiator, Side::Responder] {
            let local = view == View::EndHost { local: side };
            let hops = if local {
                0
            } else {
                log_uniform(rng, 1.0, 31.0) as u8 - 1
            };
            ttl[side.index()] = initial_ttl(rng) - hops;
        }
        let win = |rng: &mut SmallRng| {
            [64_240u16, 65_160, 65_535, 29_200, 28_960, 14_600, 8_192][rng.random_range(0..7)]
        };
        let idle_timeout_ns = if rng.random_bool(0.6) {
            DEFAULT_IDLE_TIMEOUT_NS
        } else {
            log_uniform(rng, 1e9, 60e9) as u64
        };
        let two_way = !matches!(view, View::OneSided(_));
        let skew_ns = if two_way && rng.random_bool(0.5) {
            log_uniform(rng, 1_000.0, 100_000.0) as u64
        } else {
            0
        };
        Sim {
            view,
            is_tcp: is_tcp as u8,
            skew_ns,
            last_from: None,
            jitter: SmallRng::seed_from_u64(rng.random()),
            stats: None,
            now_ns: 1_000_000_000,
            ttl,
            window: [win(rng), win(rng)],
            pads: rng.random_bool(0.5),
            idle_timeout_ns,
            records: Vec::new(),
            prior_login_attempts: 0,
        }
    }

    /// Sets one side's TTL as seen (link-local protocols send with 255 or 1 and never cross
    /// a router).
    pub fn set_ttl(&mut self, side: Side, ttl: u8) {
        self.ttl[side.index()] = ttl;
    }

    /// True when the agent sees what `side` sends.
    pub fn sees(&self, side: Side) -> bool {
        match self.view {
            View::EndHost { .. } | View::Transit => true,
            View::OneSided(s) => s == side,
        }
    }

    /// True when `side` is the agent's own host: its packets pass TC egress unsegmented.
    pub fn is_local(&self, side: Side) -> bool {
        self.view == View::EndHost { local: side }
    }

    /// One packet: folded into the flow when the agent sees it.
    pub fn packet(&mut self, p: Pkt) {
        self.now_ns += p.gap_ns;
        if !self.sees(p.from) {
            return;
        }
        // The agent removes a flow idle for longer than its timeout; what comes later is a
        // new flow, whose first packet defines its direction.
        if let Some(s) = self.stats {
            if self.now_ns - s.last_seen_ns > self.idle_timeout_ns {
                self.emit_rest();
                self.stats = None;
            }
        }
        let received = !self.is_local(p.from);
        let len = if self.pads && received {
            p.len.max(MIN_WIRE_FRAME)
        } else {
            p.len
        };
        let turned = self.last_from.is_some_and(|s| s != p.from);
        self.last_from = Some(p.from);
        let ts_ns = if turned && self.skew_ns > 0 {
            self.now_ns - self.jitter.random_range(0..self.skew_ns)
        } else {
            self.now_ns
        };
        let meta = PacketMeta {
            ts_ns,
            len,
            payload_len: p.payload,
            window: if self.is_tcp == 0 {
                0
            } else {
                self.window[p.from.index()]
            },
            tcp_flags: p.flags,
            ttl: self.ttl[p.from.index()],
            is_tcp: self.is_tcp,
            attempt: connection_attempt(self.is_tcp != 0, p.flags, false) as u8,
            _pad: [0; 2],
        };
        let from_initiator = (p.from == Side::Initiator) as u8;
        let stats = self
            .stats
            .get_or_insert_with(|| FlowStats::new_flow(meta.ts_ns, from_initiator));
        // A fresh SYN on a flow that ended starts a new one, as in the kernel.
        let attempt = self.is_tcp != 0 && p.flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
        if stats.state & STATE_ENDED != 0 && attempt {
            if stats.packets() > 0 {
                self.records.push(flow_features(stats));
            }
            *stats = FlowStats::new_flow(meta.ts_ns, from_initiator);
        }
        let forward = from_initiator == stats.fwd_is_a;
        stats.observe(&meta, forward);
        stats.count(forward, meta.len);
        if stats.ends_now(&meta) {
            self.records.push(flow_features(stats));
            stats.begin_interval();
            stats.state |= STATE_ENDED;
        } else if meta.ts_ns.saturating_sub(stats.first_seen_ns) >= ACTIVE_TIMEOUT_NS {
            self.records.push(flow_features(stats));
            stats.begin_interval();
        }
    }

    /// Exports what the flow counted since its last record, as idle expiry does.
    fn emit_rest(&mut self) {
        if let Some(s) = self.stats.as_mut().filter(|s| s.packets() > 0) {
            self.records.push(flow_features(s));
            s.begin_interval();
        }
    }

    /// Every record of the conversation, the idle expiry of what was left included, as
    /// the rows the flow model scores: flow features, then the conversation's context.
    pub fn finish(mut self) -> Vec<[f64; N_FLOW_ROW_FEATURES]> {
        self.emit_rest();
        let prior = f64::from(self.prior_login_attempts);
        self.records
            .iter()
            .map(|r| {
                let mut row = [prior; N_FLOW_ROW_FEATURES];
                row[..N_FLOW_FEATURES].copy_from_slice(r);
                row
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::{
        features::flow_feature_index,
        record::{TCP_FIN, TCP_RST},
    };
    use rand::SeedableRng;

    fn get(row: &[f64], name: &str) -> f64 {
        row[flow_feature_index(name).unwrap()]
    }

    fn pkt(gap_ns: u64, from: Side, len: u32, flags: u8) -> Pkt {
        Pkt {
            gap_ns,
            from,
            len,
            payload: 0,
            flags,
        }
    }

    #[test]
    fn the_ack_after_the_second_fin_is_a_tail_record() {
        let mut rng = SmallRng::seed_from_u64(1);
        let (i, r) = (Side::Initiator, Side::Responder);
        let mut s = Sim::new(&mut rng, View::Transit, true);
        s.packet(pkt(0, i, 74, TCP_SYN));
        s.packet(pkt(1_000, r, 74, TCP_SYN | TCP_ACK));
        s.packet(pkt(1_000, i, 66, TCP_ACK));
        s.packet(pkt(1_000, r, 66, TCP_FIN | TCP_ACK));
        s.packet(pkt(1_000, i, 66, TCP_FIN | TCP_ACK));
        s.packet(pkt(7_000, r, 66, TCP_ACK));
        let rows = s.finish();
        assert_eq!(rows.len(), 2);
        assert_eq!(get(&rows[0], "fwd_packets"), 3.0);
        assert_eq!(get(&rows[0], "fin_count"), 2.0);
        // The tail: one backward ACK, no duration, its gap from the FIN before it.
        assert_eq!(get(&rows[1], "fwd_packets"), 0.0);
        assert_eq!(get(&rows[1], "bwd_packets"), 1.0);
        assert_eq!(get(&rows[1], "duration_ns"), 0.0);
        assert_eq!(get(&rows[1], "iat_min_ns"), 7_000.0);
    }

    #[test]
    fn one_sided_views_keep_one_side_and_idle_gaps_split_flows() {
        let mut rng = SmallRng::seed_from_u64(2);
        let (i, r) = (Side::Initiator, Side::Responder);
        let mut s = Sim::new(&mut rng, View::OneSided(r), true);
        s.idle_timeout_ns = 2_000_000_000;
        s.packet(pkt(0, i, 74, TCP_SYN));
        s.packet(pkt(1_000, r, 54, TCP_RST | TCP_ACK));
        s.packet(pkt(3_000_000_000, r, 54, TCP_RST | TCP_ACK));
        let rows = s.finish();
        // Each RST ends the flow it opened: the second came after the idle timeout.
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(get(row, "fwd_packets"), 1.0);
            assert_eq!(get(row, "rst_count"), 1.0);
            assert_eq!(get(row, "syn_count"), 0.0);
        }
    }

    #[test]
    fn an_end_host_sees_its_own_ttl_and_padded_received_frames() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (i, r) = (Side::Initiator, Side::Responder);
        let mut s = Sim::new(&mut rng, View::EndHost { local: r }, true);
        s.pads = true;
        s.ttl = [50, 64];
        s.packet(pkt(0, i, 58, TCP_SYN));
        s.packet(pkt(1_000, r, 54, TCP_RST | TCP_ACK));
        let row = s.finish()[0];
        assert_eq!(get(&row, "fwd_bytes"), 60.0, "received: padded");
        assert_eq!(get(&row, "bwd_bytes"), 54.0, "sent: as the stack wrote it");
        assert_eq!((get(&row, "ttl_min"), get(&row, "ttl_max")), (50.0, 64.0));
    }
}
