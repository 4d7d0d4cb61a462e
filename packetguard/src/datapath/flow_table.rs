//! The kernel flow map from userspace: idle expiry and the final export.
//!
//! The kernel never deletes a flow. It emits records when a flow ends or runs past the
//! active timeout, and leaves the entry in place so late packets (the last ACK of a close)
//! land in a tail. The agent removes flows that went quiet, exporting whatever they
//! counted since their last record, so every packet reaches exactly one record.
//!
//! A flow is idle when neither its latest packet nor, if it has none yet, its creation is
//! within the idle timeout ([`FlowEntry::last_active_ns`]): the kernel inserts an entry
//! and folds its first packet in afterwards, and an entry in between must not look idle
//! since boot.
//!
//! A packet that arrives between reading an idle entry and deleting it would be lost; by
//! definition the entry has been idle for the whole idle timeout, so this needs a packet
//! to arrive within the microseconds between two syscalls after seconds of silence (the
//! entry is read again and tested again right before the delete, and the ledger counts
//! such a packet among the evicted ones).
//!
//! Every scan feeds the table's [`FlowLedger`], which derives what the LRU evicted.

use std::time::Duration;

use aya::maps::{HashMap, IterableMap, MapData};
use packetguard_common::{
    FlowEntry, FlowKey, FlowRecord, FlowStats, HostKey, HostStats, RecordKind, RecordReason,
};

use super::{
    counters::KernelCounters,
    ledger::{FlowLedger, FlowLosses},
    DataPathError,
};

/// A flow the agent removed from the kernel map.
#[derive(Clone, Copy, Debug)]
pub struct Removed {
    pub key: FlowKey,
    pub flow_start_ns: u64,
    /// What the flow counted since its last record; `None` when that is nothing (a flow
    /// that ended in the kernel and saw no packet since).
    pub record: Option<FlowRecord>,
    /// What each direction counted and the kernel had not yet credited to its destination
    /// host (see `packetguard_common::entry`).
    pub uncredited: [(HostKey, HostStats); 2],
    /// The same counts, with the address that sent each direction (the source map's due).
    pub uncredited_sources: [(HostKey, HostStats); 2],
}

/// Why a scan stopped early: the map walk failed, or the caller's handler did.
enum Step<E> {
    Io(std::io::Error),
    Visit(E),
}

impl<E> From<std::io::Error> for Step<E> {
    fn from(e: std::io::Error) -> Self {
        Step::Io(e)
    }
}

/// What one scan saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanStats {
    /// Entries in the map when the scan started.
    pub entries: usize,
    /// Entries removed.
    pub removed: usize,
    /// Packets in the records of the removed entries.
    pub removed_packets: u64,
    /// Packets the entries left in the map held (counted since their last record).
    pub live_packets: u64,
}

/// The kernel flow map.
pub struct FlowTable {
    map: HashMap<MapData, FlowKey, FlowEntry>,
    keys: Vec<FlowKey>,
    values: Vec<FlowEntry>,
    ledger: FlowLedger,
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn record(key: FlowKey, mut stats: FlowStats, reason: RecordReason) -> Option<FlowRecord> {
    stats.complete_interval();
    (stats.packets() > 0).then_some(FlowRecord {
        kind: RecordKind::Flow as u32,
        reason: reason as u32,
        key,
        stats,
    })
}

impl FlowTable {
    pub fn new(map: HashMap<MapData, FlowKey, FlowEntry>) -> Self {
        Self {
            map,
            keys: Vec::new(),
            values: Vec::new(),
            ledger: FlowLedger::default(),
        }
    }

    /// What the LRU evicted so far, from the kernel counters read after the latest scan
    /// (see [`FlowLedger::losses`]).
    pub fn losses(&mut self, counters: &KernelCounters) -> FlowLosses {
        self.ledger.losses(counters)
    }

    /// The same, exact, once the programs are detached and the map no longer changes (see
    /// [`FlowLedger::losses_settled`]).
    pub fn losses_settled(&mut self, counters: &KernelCounters) -> FlowLosses {
        self.ledger.losses_settled(counters)
    }

    /// Removes flows whose last activity (latest packet, or creation for a flow with none
    /// yet) is at least `idle` older than `now_ns`, handing each to `f`; the first error
    /// `f` returns ends the scan and is returned.
    pub fn expire_idle<E: From<DataPathError>>(
        &mut self,
        now_ns: u64,
        idle: Duration,
        f: impl FnMut(Removed) -> Result<(), E>,
    ) -> Result<ScanStats, E> {
        let idle_ns = idle.as_nanos().min(u64::MAX as u128) as u64;
        self.scan(RecordReason::IdleTimeout, f, |e| {
            now_ns.saturating_sub(e.last_active_ns()) >= idle_ns
        })
    }

    /// Removes every flow (at shutdown, after detaching), handing each to `f`.
    pub fn export_all<E: From<DataPathError>>(
        &mut self,
        f: impl FnMut(Removed) -> Result<(), E>,
    ) -> Result<ScanStats, E> {
        self.scan(RecordReason::Shutdown, f, |_| true)
    }

    fn scan<E: From<DataPathError>>(
        &mut self,
        reason: RecordReason,
        mut f: impl FnMut(Removed) -> Result<(), E>,
        due: impl Fn(&FlowEntry) -> bool,
    ) -> Result<ScanStats, E> {
        let mut stats = ScanStats::default();
        // The map is borrowed for deletes inside the walk; the descriptor stays valid
        // because `self.map` owns it for the whole call.
        let fd = super::batch::map_fd(self.map.map());
        let map = &mut self.map;
        super::batch::for_each_chunk(
            fd,
            1,
            &mut self.keys,
            &mut self.values,
            |keys, values| -> Result<(), Step<E>> {
                stats.entries += keys.len();
                for (key, flow) in keys.iter().zip(values) {
                    if !due(flow) {
                        stats.live_packets += flow.stats.packets();
                        continue;
                    }
                    // Read and test again right before deleting, to shrink the window for
                    // a racing packet.
                    let flow = map.get(key, 0).unwrap_or(*flow);
                    if !due(&flow) {
                        stats.live_packets += flow.stats.packets();
                        continue;
                    }
                    if map.remove(key).is_err() {
                        continue;
                    }
                    stats.removed += 1;
                    let record = record(*key, flow.stats, reason);
                    stats.removed_packets += record.map_or(0, |r| r.stats.packets());
                    f(Removed {
                        key: *key,
                        flow_start_ns: flow.stats.flow_start_ns,
                        record,
                        uncredited: flow.uncredited_hosts(key),
                        uncredited_sources: flow.uncredited_sources(key),
                    })
                    .map_err(Step::Visit)?;
                }
                Ok(())
            },
        )
        .map_err(|e| match e {
            Step::Io(e) => E::from(DataPathError::Map {
                map: "FLOWS",
                cause: format!("batch lookup: {e}"),
            }),
            Step::Visit(e) => e,
        })?;
        self.ledger.scanned(&stats);
        Ok(stats)
    }
}
