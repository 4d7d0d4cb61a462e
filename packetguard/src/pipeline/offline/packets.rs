//! Packets folded into flows on capture time, for offline inputs that list packets (the
//! packet-list CSV): the `packetguard-common` arithmetic the kernel runs, a flow table
//! with idle and active timeouts on capture timestamps, the per-address totals the
//! kernel's address maps would hold, and flow starts. What it yields is what the live
//! source yields the stage.
//!
//! Flows end at idle expiry, active timeout and the end of the input; a FIN or RST is
//! counted but does not cut the record the way the kernel's end-of-flow does.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use anyhow::Result;
use packetguard_common::{
    host::{connection_attempt, is_answer},
    FlowKey, FlowRecord, FlowStart, FlowStats, HostKey, HostStats, PacketMeta, RecordKind,
    RecordReason,
};

use super::timeline::Timeline;
use crate::{
    datapath::{drain::Event, flow_table::Removed},
    flows::words,
    pipeline::source::{Stage, TotalsMap},
};

/// One packet as an offline input describes it.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub meta: PacketMeta,
}

struct Open {
    stats: FlowStats,
    /// The opener's first packet was answered already (credited once).
    answered: bool,
}

/// The offline flow table and address totals.
pub struct PacketFolder {
    flows: HashMap<FlowKey, Open>,
    idle_ns: u64,
    active_ns: u64,
    timeline: Timeline,
    destinations: TotalsMap,
    sources: TotalsMap,
    /// Flows handed to the stage.
    pub flows_out: u64,
}

impl PacketFolder {
    pub fn new(idle: Duration, active: Duration) -> Self {
        Self {
            flows: HashMap::new(),
            idle_ns: idle.as_nanos() as u64,
            active_ns: active.as_nanos() as u64,
            timeline: Timeline::default(),
            destinations: TotalsMap::default(),
            sources: TotalsMap::default(),
            flows_out: 0,
        }
    }

    /// Folds one packet, closing the seconds before it first.
    pub fn packet(&mut self, stage: &mut dyn Stage, p: &Packet) -> Result<()> {
        let ts = p.meta.ts_ns;
        let Self {
            flows,
            idle_ns,
            timeline,
            destinations,
            sources,
            flows_out,
            ..
        } = self;
        timeline.reach(ts, stage, |stage, end| {
            expire(flows, flows_out, stage, end, *idle_ns)?;
            stage.second(destinations, sources)
        })?;
        let version = if p.src.is_ipv4() { 4 } else { 6 };
        let (key, src_is_a) = FlowKey::canonical(
            version,
            p.protocol,
            words(p.src),
            p.src_port,
            words(p.dst),
            p.dst_port,
        );
        let is_tcp = p.meta.is_tcp != 0;
        let open = match self.flows.get_mut(&key) {
            Some(open) => open,
            None => {
                // Packet lists carry no fragment offsets: no first fragment is short.
                let attempt = connection_attempt(is_tcp, p.meta.tcp_flags, false);
                stage.event(Event::FlowStart(&FlowStart {
                    kind: RecordKind::FlowStart as u32,
                    len: p.meta.len,
                    ts_ns: ts,
                    key,
                    tcp_flags: p.meta.tcp_flags,
                    fwd_is_a: src_is_a as u8,
                    attempt: attempt as u8,
                    _pad: [0; 5],
                }))?;
                self.flows.entry(key).or_insert(Open {
                    stats: FlowStats::new_flow(ts, src_is_a as u8),
                    answered: false,
                })
            }
        };
        let forward = (open.stats.fwd_is_a != 0) == src_is_a;
        if open.stats.active_due(ts, self.active_ns) {
            let mut stats = open.stats;
            stats.complete_interval();
            stage.event(Event::Flow(&FlowRecord {
                kind: RecordKind::Flow as u32,
                reason: RecordReason::ActiveTimeout as u32,
                key,
                stats,
            }))?;
            open.stats.begin_interval();
        }
        open.stats.observe(&p.meta, forward);
        open.stats.count(forward, p.meta.len);
        let fwd_is_a = open.stats.fwd_is_a != 0;
        let tcp = u8::from(is_tcp);
        let d = HostStats::first(p.meta.len, tcp, p.meta.tcp_flags);
        self.destinations
            .credit(HostKey::destination(&key, src_is_a), &d);
        self.sources.credit(HostKey::source(&key, src_is_a), &d);
        if !forward && !open.answered {
            open.answered = true;
            if is_answer(p.protocol, p.meta.tcp_flags) {
                let answered = HostStats {
                    answered: 1,
                    ..HostStats::default()
                };
                self.sources
                    .credit(HostKey::source(&key, fwd_is_a), &answered);
            }
        }
        Ok(())
    }

    /// At the end of the input: closes the last second and exports every flow.
    pub fn finish(&mut self, stage: &mut dyn Stage) -> Result<()> {
        if let Some(end) = self.timeline.current_end() {
            stage.clock_mut().advance_to(end);
        }
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for key in keys {
            if let Some(open) = self.flows.remove(&key) {
                export(
                    stage,
                    key,
                    open,
                    RecordReason::Shutdown,
                    &mut self.flows_out,
                )?;
            }
        }
        stage.second(&mut self.destinations, &mut self.sources)
    }
}

/// Exports the flows idle for `idle_ns` at `now`.
fn expire(
    flows: &mut HashMap<FlowKey, Open>,
    out: &mut u64,
    stage: &mut dyn Stage,
    now: u64,
    idle_ns: u64,
) -> Result<()> {
    let due: Vec<FlowKey> = flows
        .iter()
        .filter(|(_, o)| now.saturating_sub(o.stats.last_seen_ns) >= idle_ns)
        .map(|(k, _)| *k)
        .collect();
    for key in due {
        if let Some(open) = flows.remove(&key) {
            export(stage, key, open, RecordReason::IdleTimeout, out)?;
        }
    }
    Ok(())
}

/// Hands a removed flow to the stage; its addresses were credited packet by packet.
fn export(
    stage: &mut dyn Stage,
    key: FlowKey,
    open: Open,
    reason: RecordReason,
    out: &mut u64,
) -> Result<()> {
    let mut stats = open.stats;
    stats.complete_interval();
    let record = (stats.packets() > 0).then_some(FlowRecord {
        kind: RecordKind::Flow as u32,
        reason: reason as u32,
        key,
        stats,
    });
    *out += 1;
    let none = (HostKey::default(), HostStats::default());
    stage.removed(&Removed {
        key,
        flow_start_ns: open.stats.flow_start_ns,
        record,
        uncredited: [none; 2],
        uncredited_sources: [none; 2],
    })
}
