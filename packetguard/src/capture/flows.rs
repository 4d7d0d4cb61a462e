//! The offline flow table: parsed packets folded into flows on capture time, with the
//! kernel's arithmetic and the kernel's decisions.
//!
//! [`FlowFolder::account`] is `packetguard-ebpf/src/flow.rs` `account` for one CPU: the
//! same `packetguard-common` functions (`FlowStats::observe`, `will_end`, `closes`,
//! `active_due`, `restart`, `complete_interval`, `FlowEntry::credit_due`, `uncredited`,
//! `credited`, `reported`, `host::is_answer`) called in the same order on the same
//! conditions. With one thread the flow's claim is always free and the ring buffer never
//! full, so every record the kernel would cut is cut here, and the `CLAIM_*` bits are the
//! `STATE_*` bits they mirror. What the kernel's `emit.rs` writes to the ring buffer
//! ([`FlowRecord`], [`FlowStart`]) goes to [`Sink`] in the same order.
//!
//! Per-address totals are credited as the kernel credits its `HOSTS` (destination) and
//! `SOURCES` maps ([`HostTotals`]): from the flow, when a direction's credit is due, on
//! every connection attempt, and when the flow ends; what a flow removed by idle expiry
//! had not credited goes in its [`Removed`], as the agent's expiry hands it over.
//!
//! The table is a hash map capped at `flow_entries` (the kernel map's size). The kernel's
//! map is an LRU that drops a flow silently when full; here nothing is dropped: when a new
//! flow finds the table full, the least recently active sixteenth of it is exported as
//! `Removed` (idle-timeout records, counted in [`FlowCounts::evicted`]) to make room.

use std::collections::HashMap;

use packetguard_common::{
    entry::{BACKWARD, FORWARD},
    host::is_answer,
    key::IPPROTO_TCP,
    record::{STATE_ENDED, STATE_REPLIED, TCP_RST},
    FlowEntry, FlowKey, FlowRecord, FlowStart, FlowStats, HostKey, HostStats, RecordKind,
    RecordReason,
};

use super::parse::Packet;
use crate::datapath::{drain::Event, flow_table::Removed};

/// What the kernel would write to the ring buffer, and the agent's removals.
pub trait Sink {
    /// A flow record or a flow start, as the ring buffer carries them.
    fn event(&mut self, ev: Event<'_>);
    /// A flow taken out of the table (idle, evicted by the cap, or at the end).
    fn removed(&mut self, removed: &Removed);
}

/// Per-address totals, as the kernel's `HOSTS` and `SOURCES` maps hold them (summed over
/// CPUs): running totals never reset, which the windows turn into per-second differences.
#[derive(Debug, Default)]
pub struct HostTotals {
    /// What each address received.
    pub destinations: HashMap<HostKey, HostStats>,
    /// What each address sent.
    pub sources: HashMap<HostKey, HostStats>,
}

impl HostTotals {
    /// Every destination's totals, as `HostTable::for_each_total` on `HOSTS` gives them.
    pub fn for_each_destination(&self, mut f: impl FnMut(HostKey, HostStats)) -> usize {
        self.destinations.iter().for_each(|(k, v)| f(*k, *v));
        self.destinations.len()
    }

    /// Every source's totals, as `HostTable::for_each_total` on `SOURCES` gives them.
    pub fn for_each_source(&self, mut f: impl FnMut(HostKey, HostStats)) -> usize {
        self.sources.iter().for_each(|(k, v)| f(*k, *v));
        self.sources.len()
    }

    fn credit(map: &mut HashMap<HostKey, HostStats>, host: HostKey, d: &HostStats) {
        let e = map.entry(host).or_default();
        *e = e.plus(d);
    }
}

/// What the folder counted, named as the kernel's counters are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Flows created, new entries and restarts over ended flows (`FlowsCreated`).
    pub created: u64,
    /// Of those, restarts (`FlowsReused`).
    pub reused: u64,
    /// Flows ended by FIN both ways or RST (`FlowsEnded`).
    pub ended: u64,
    /// Records emitted on packets (`RecordsEmitted`).
    pub records: u64,
    /// Flows removed after the idle timeout.
    pub expired: u64,
    /// Flows removed to keep the table within its cap.
    pub evicted: u64,
    /// Packets in the flows removed to keep the table within its cap.
    pub evicted_packets: u64,
}

/// The flow table and the per-address totals.
pub struct FlowFolder {
    flows: HashMap<FlowKey, FlowEntry>,
    cap: usize,
    active_ns: u64,
    pub hosts: HostTotals,
    pub counts: FlowCounts,
    /// Reused by expiry and eviction: keys due, with their last activity.
    due: Vec<(u64, FlowKey)>,
}

fn endpoint(key: &FlowKey, a: bool) -> HostKey {
    HostKey::endpoint(key, a)
}

/// A [`Removed`] for `entry`, as `FlowTable` builds it.
fn removed(key: FlowKey, entry: &FlowEntry, reason: RecordReason) -> Removed {
    let mut stats = entry.stats;
    stats.complete_interval();
    let record = (stats.packets() > 0).then_some(FlowRecord {
        kind: RecordKind::Flow as u32,
        reason: reason as u32,
        key,
        stats,
    });
    Removed {
        key,
        flow_start_ns: entry.stats.flow_start_ns,
        record,
        uncredited: entry.uncredited_hosts(&key),
        uncredited_sources: entry.uncredited_sources(&key),
    }
}

impl FlowFolder {
    /// A table of at most `flow_entries` flows with the kernel's active timeout.
    pub fn new(flow_entries: u32, active_ns: u64) -> FlowFolder {
        FlowFolder {
            flows: HashMap::new(),
            cap: flow_entries.max(1) as usize,
            active_ns,
            hosts: HostTotals::default(),
            counts: FlowCounts::default(),
            due: Vec::new(),
        }
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The table's entries, for tests that compare them with the kernel's map.
    pub fn entries(&self) -> impl Iterator<Item = (&FlowKey, &FlowEntry)> {
        self.flows.iter()
    }

    /// Folds `pkt` (stamped with its capture time) into its flow: the kernel's `account`.
    pub fn account(&mut self, pkt: &Packet, sink: &mut impl Sink) {
        let meta = &pkt.meta;
        let ts = meta.ts_ns;
        let src_is_a = pkt.src_is_a as u8;
        if !self.flows.contains_key(&pkt.key) {
            if self.flows.len() >= self.cap {
                self.evict(sink);
            }
            self.flows
                .insert(pkt.key, FlowEntry::new_flow(ts, src_is_a));
            self.counts.created += 1;
            flow_start(pkt, sink);
        }
        let Some(entry) = self.flows.get_mut(&pkt.key) else {
            return;
        };
        let (hosts, counts) = (&mut self.hosts, &mut self.counts);

        let attempt = meta.attempt != 0;
        if attempt && entry.stats.state & STATE_ENDED != 0 {
            restart(pkt, entry, hosts, counts, sink);
        }
        let forward = src_is_a == entry.stats.fwd_is_a;
        if !forward && entry.stats.state & STATE_REPLIED == 0 {
            entry.stats.state |= STATE_REPLIED;
            if is_answer(pkt.key.protocol, meta.tcp_flags) {
                let answered = HostStats {
                    answered: 1,
                    ..HostStats::default()
                };
                let opener = endpoint(&pkt.key, entry.stats.fwd_is_a != 0);
                HostTotals::credit(&mut hosts.sources, opener, &answered);
            }
        }
        let dir = if forward { FORWARD } else { BACKWARD };
        let cut_due =
            entry.stats.will_end(meta, forward) || entry.stats.active_due(ts, self.active_ns);
        entry.stats.observe(meta, forward);
        entry.stats.count(forward, meta.len);
        if cut_due {
            cut(
                pkt,
                entry,
                dir,
                attempt,
                self.active_ns,
                hosts,
                counts,
                sink,
            );
        } else if attempt || entry.credit_due(dir, ts) {
            credit(&pkt.key, entry, dir, attempt as u64, ts, hosts);
        }
    }

    /// Removes the flows idle for at least `idle_ns` at `now_ns` (no packet since, as
    /// [`FlowEntry::last_active_ns`] says), oldest first: `FlowTable::expire_idle`.
    pub fn expire_idle(&mut self, now_ns: u64, idle_ns: u64, sink: &mut impl Sink) -> usize {
        self.due.clear();
        self.due.extend(
            self.flows
                .iter()
                .filter(|(_, e)| now_ns.saturating_sub(e.last_active_ns()) >= idle_ns)
                .map(|(k, e)| (e.last_active_ns(), *k)),
        );
        let n = self.remove_due(RecordReason::IdleTimeout, sink);
        self.counts.expired += n as u64;
        n
    }

    /// Removes every flow, oldest first: `FlowTable::export_all` at the end of the input.
    pub fn export_all(&mut self, sink: &mut impl Sink) -> usize {
        self.due.clear();
        self.due
            .extend(self.flows.iter().map(|(k, e)| (e.last_active_ns(), *k)));
        self.remove_due(RecordReason::Shutdown, sink)
    }

    /// Makes room for a new flow: the least recently active sixteenth of the table (at
    /// least one flow) goes out as idle-timeout records.
    fn evict(&mut self, sink: &mut impl Sink) {
        self.due.clear();
        self.due
            .extend(self.flows.iter().map(|(k, e)| (e.last_active_ns(), *k)));
        let n = (self.due.len() / 16).max(1);
        if n < self.due.len() {
            self.due.select_nth_unstable(n - 1);
            self.due.truncate(n);
        }
        let packets: u64 = self
            .due
            .iter()
            .filter_map(|(_, k)| self.flows.get(k))
            .map(|e| e.stats.packets())
            .sum();
        let removed = self.remove_due(RecordReason::IdleTimeout, sink);
        self.counts.evicted += removed as u64;
        self.counts.evicted_packets += packets;
    }

    fn remove_due(&mut self, reason: RecordReason, sink: &mut impl Sink) -> usize {
        self.due.sort_unstable();
        let mut n = 0;
        for (_, key) in &self.due {
            if let Some(entry) = self.flows.remove(key) {
                sink.removed(&removed(*key, &entry, reason));
                n += 1;
            }
        }
        self.due.clear();
        n
    }
}

/// The kernel's `emit::flow_start`.
fn flow_start(pkt: &Packet, sink: &mut impl Sink) {
    let start = FlowStart {
        kind: RecordKind::FlowStart as u32,
        len: pkt.meta.len,
        ts_ns: pkt.meta.ts_ns,
        key: pkt.key,
        tcp_flags: pkt.meta.tcp_flags,
        fwd_is_a: pkt.src_is_a as u8,
        attempt: pkt.meta.attempt,
        _pad: [0; 5],
    };
    sink.event(Event::FlowStart(&start));
}

/// The kernel's `emit::record`, with a ring buffer that always has room.
fn record(
    key: &FlowKey,
    flow: &mut FlowEntry,
    reason: RecordReason,
    counts: &mut FlowCounts,
    sink: &mut impl Sink,
) {
    let mut stats: FlowStats = flow.stats;
    stats.complete_interval();
    let rec = FlowRecord {
        kind: RecordKind::Flow as u32,
        reason: reason as u32,
        key: *key,
        stats,
    };
    sink.event(Event::Flow(&rec));
    let s = &mut flow.stats;
    let (fp, bp, fb, bb) = (s.fwd_packets, s.bwd_packets, s.fwd_bytes, s.bwd_bytes);
    s.fwd_packets = 0;
    s.bwd_packets = 0;
    s.fwd_bytes = 0;
    s.bwd_bytes = 0;
    s.begin_interval_stats();
    flow.reported(fp, bp, fb, bb);
    counts.records += 1;
}

/// The kernel's `cut`: with the packet folded in, the end record if it closed the
/// connection, else the direction's credit if due and an active-timeout record if due.
#[allow(clippy::too_many_arguments)]
fn cut(
    pkt: &Packet,
    entry: &mut FlowEntry,
    dir: usize,
    attempt: bool,
    active_ns: u64,
    hosts: &mut HostTotals,
    counts: &mut FlowCounts,
    sink: &mut impl Sink,
) {
    let (key, meta) = (&pkt.key, &pkt.meta);
    let ts = meta.ts_ns;
    if entry.stats.state & STATE_ENDED == 0 && entry.stats.closes(meta) {
        credit(key, entry, dir, attempt as u64, ts, hosts);
        credit(key, entry, 1 - dir, 0, ts, hosts);
        let reason = if meta.tcp_flags & TCP_RST != 0 {
            RecordReason::Reset
        } else {
            RecordReason::FlowEnd
        };
        record(key, entry, reason, counts, sink);
        entry.stats.state |= STATE_ENDED;
        counts.ended += 1;
        return;
    }
    if attempt || entry.credit_due(dir, ts) {
        credit(key, entry, dir, attempt as u64, ts, hosts);
    }
    if entry.stats.active_due(ts, active_ns) {
        record(key, entry, RecordReason::ActiveTimeout, counts, sink);
    }
}

/// The kernel's `credit`: what direction `dir` counted since its last credit, to its
/// destination (as received) and its source (as sent).
fn credit(
    key: &FlowKey,
    entry: &mut FlowEntry,
    dir: usize,
    attempts: u64,
    ts_ns: u64,
    hosts: &mut HostTotals,
) {
    let mut d = entry.uncredited(dir, key.protocol == IPPROTO_TCP);
    d.syn_without_ack = attempts;
    if d.packets | d.bytes != 0 {
        let to_a = entry.destination_is_a(dir);
        HostTotals::credit(&mut hosts.destinations, endpoint(key, to_a), &d);
        HostTotals::credit(&mut hosts.sources, endpoint(key, !to_a), &d);
    }
    entry.credited(dir, &d, ts_ns);
}

/// The kernel's `restart`: a fresh SYN on an ended flow's 5-tuple credits and reports the
/// old flow's tail, then starts a new flow in the entry.
fn restart(
    pkt: &Packet,
    entry: &mut FlowEntry,
    hosts: &mut HostTotals,
    counts: &mut FlowCounts,
    sink: &mut impl Sink,
) {
    let ts = pkt.meta.ts_ns;
    credit(&pkt.key, entry, FORWARD, 0, ts, hosts);
    credit(&pkt.key, entry, BACKWARD, 0, ts, hosts);
    if entry.stats.packets() != 0 {
        record(&pkt.key, entry, RecordReason::FlowEnd, counts, sink);
    }
    entry.stats.restart(ts, pkt.src_is_a as u8);
    entry.credit.credited_ns = [0, 0];
    counts.created += 1;
    counts.reused += 1;
    flow_start(pkt, sink);
}
