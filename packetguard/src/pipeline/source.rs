//! What a source yields and the stage that takes it.
//!
//! A source (the kernel through [`super::live::LiveSource`]; a capture, a flow CSV or a
//! packet-list CSV through an [`OfflineSource`]) yields the same things whatever it reads:
//! flow records and flow starts ([`Event`]), flows it removed from its flow table
//! ([`Removed`]), and at the end of each second of its clock the per-address totals the
//! windows are read from ([`AddressTotals`]). A [`Stage`] (the detectors with their sinks,
//! or the flow rows of `collect`) takes them.

use std::collections::HashMap;

use anyhow::Result;
use packetguard_common::{HostKey, HostStats};

use super::clock::Clock;
use crate::{
    datapath::{drain::Event, flow_table::Removed, hosts::HostTable, DataPathError},
    flows::Endpoints,
};

/// Per-address totals (packets, bytes, SYNs, ... as a destination or as a source) as the
/// kernel's address maps hold them: cumulative, read once a second.
pub trait AddressTotals {
    /// Calls `f` with every address's totals; returns the addresses read.
    fn for_each_total(
        &mut self,
        f: &mut dyn FnMut(HostKey, HostStats),
    ) -> Result<usize, DataPathError>;
}

impl AddressTotals for HostTable {
    fn for_each_total(
        &mut self,
        f: &mut dyn FnMut(HostKey, HostStats),
    ) -> Result<usize, DataPathError> {
        HostTable::for_each_total(self, f)
    }
}

/// Address totals kept in userspace, for offline sources: the same cumulative counts the
/// kernel's maps hold, credited by the source.
#[derive(Debug, Default)]
pub struct TotalsMap(pub HashMap<HostKey, HostStats>);

impl TotalsMap {
    /// Adds `d` to `addr`'s totals.
    pub fn credit(&mut self, addr: HostKey, d: &HostStats) {
        let t = self.0.entry(addr).or_default();
        *t = t.plus(d);
    }
}

impl AddressTotals for TotalsMap {
    fn for_each_total(
        &mut self,
        f: &mut dyn FnMut(HostKey, HostStats),
    ) -> Result<usize, DataPathError> {
        for (k, v) in &self.0 {
            f(*k, *v);
        }
        Ok(self.0.len())
    }
}

/// Address totals someone else keeps (the capture reader's flow table), read in place.
pub struct MapTotals<'a>(pub &'a HashMap<HostKey, HostStats>);

impl AddressTotals for MapTotals<'_> {
    fn for_each_total(
        &mut self,
        f: &mut dyn FnMut(HostKey, HostStats),
    ) -> Result<usize, DataPathError> {
        self.0.iter().for_each(|(k, v)| f(*k, *v));
        Ok(self.0.len())
    }
}

/// What a configuration of the pipeline does with what a source yields.
pub trait Stage {
    /// A flow record, flow start or packet sample.
    fn event(&mut self, ev: Event<'_>) -> Result<()>;
    /// A flow the source removed from its flow table (idle, or at the end).
    fn removed(&mut self, removed: &Removed) -> Result<()>;
    /// The end of a second on the source's clock: close the windows against the
    /// per-address totals, and score what is queued.
    fn second(
        &mut self,
        destinations: &mut dyn AddressTotals,
        sources: &mut dyn AddressTotals,
    ) -> Result<()>;
    /// The clock the stage runs on; offline sources move it to their timestamps.
    fn clock_mut(&mut self) -> &mut Clock;
    /// The source had nothing for longer than a window (no packet, no flow) and skipped
    /// the closes of those empty windows: the current window starts now.
    fn restart_window(&mut self) {}
    /// A flow known by its features only (a row of the flow CSV `collect` writes), to be
    /// scored as its record would be. Only offline sources yield these.
    fn flow_features(&mut self, _flow: &FeatureRow<'_>) -> Result<()> {
        Ok(())
    }
    /// Traffic as read, for a report's traffic chart: once per packet of a capture or a
    /// packet list (`packets` = 1, `bytes` its length on the wire), once per row of a flow
    /// CSV (the flow's totals, at its end). Called on the per-packet path: it must not
    /// allocate per call.
    fn traffic(&mut self, _ts_ns: u64, _packets: u64, _bytes: u64) {}
}

/// A flow as a flow CSV row gives it.
#[derive(Clone, Copy, Debug)]
pub struct FeatureRow<'a> {
    pub endpoints: Endpoints,
    /// Every flow feature, in `FLOW_FEATURES` order.
    pub features: &'a [f64],
    /// The row as read, without its line ending.
    pub line: &'a str,
}

/// What an offline source read, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Packets (or packet-list rows, or flow rows) read.
    pub read: u64,
    /// Flows handed to the stage.
    pub flows: u64,
}

/// A file read to its end, feeding a stage on the file's own time. Each input format
/// (pcap/pcapng, the flow CSV of `collect`, Wireshark's packet-list CSV) is one of these.
pub trait OfflineSource {
    /// What is read, for messages (`capture`, `flow CSV`, `packet list`).
    fn kind(&self) -> &'static str;
    /// Features this input cannot provide (say which in the summary and the report).
    fn missing_features(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Reads everything into `stage`, reporting how far it got to `progress`.
    fn run(
        &mut self,
        stage: &mut dyn Stage,
        progress: &mut dyn FnMut(SourceStats),
    ) -> Result<SourceStats>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_map_keeps_cumulative_totals_like_the_kernel_maps() {
        let a = HostKey {
            addr: [1, 0, 0, 0],
            ip_version: 4,
            ..HostKey::default()
        };
        let one = HostStats {
            packets: 2,
            bytes: 120,
            ..HostStats::default()
        };
        let mut m = TotalsMap::default();
        m.credit(a, &one);
        m.credit(a, &one);
        let mut seen = Vec::new();
        let n = m.for_each_total(&mut |k, t| seen.push((k, t.packets, t.bytes)));
        assert_eq!(n.unwrap(), 1);
        assert_eq!(seen, [(a, 4, 240)]);
    }
}
