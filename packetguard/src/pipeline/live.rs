//! The live source: the kernel programs attached to interfaces, their ring buffer (flow
//! records, flow starts, packet samples), their flow table (idle expiry and the final
//! export) and their per-address maps (the windows' totals).

use std::time::Duration;

use anyhow::Result;
use aya::maps::{MapData, PerCpuArray};

use super::source::Stage;
use crate::datapath::{
    counters::{self, KernelCounters},
    drain::{Drain, DrainStats},
    flow_table::{FlowTable, ScanStats},
    hosts::HostTable,
    ledger::FlowLosses,
    AttachOptions, Attachment, DataPath, DataPathConfig,
};

/// Entries handed over per wake-up of the drain loop.
pub const BATCH: usize = 4096;

/// The kernel side of a live session.
pub struct LiveSource {
    dp: DataPath,
    drain: Drain,
    table: FlowTable,
    counters: PerCpuArray<MapData, u64>,
    /// The destination and source maps, when the stage reads windows.
    address_maps: Option<(HostTable, HostTable)>,
}

impl LiveSource {
    /// Loads the programs, attaches them to every interface of `ifaces` (calling
    /// `attached` with what each got) and takes the maps. Must run inside the tokio
    /// runtime (the ring buffer registers with its reactor).
    pub fn open(
        cfg: &DataPathConfig,
        ifaces: &[String],
        opts: AttachOptions,
        address_maps: bool,
        mut attached: impl FnMut(&[Attachment]),
    ) -> Result<Self> {
        let mut dp = DataPath::load(cfg)?;
        for iface in ifaces {
            attached(dp.attach(iface, opts)?);
        }
        let drain = Drain::new(dp.take_events()?)?;
        let table = FlowTable::new(dp.take_flows()?);
        let counters = dp.take_counters()?;
        let address_maps = if address_maps {
            Some((
                HostTable::new(dp.take_hosts()?)?,
                HostTable::sources(dp.take_sources()?)?,
            ))
        } else {
            None
        };
        Ok(Self {
            dp,
            drain,
            table,
            counters,
            address_maps,
        })
    }

    /// Waits for the kernel, then hands up to [`BATCH`] entries to `stage`.
    pub async fn next_batch(&mut self, stage: &mut impl Stage) -> Result<usize> {
        self.drain.next_batch(BATCH, |ev| stage.event(ev)).await
    }

    /// Hands every entry already in the ring buffer to `stage`.
    pub fn drain_now(&mut self, stage: &mut impl Stage) -> Result<usize> {
        self.drain.drain_now(|ev| stage.event(ev))
    }

    /// Removes the flows idle for `idle` on the stage's clock, handing each to `stage`.
    pub fn expire_idle(&mut self, stage: &mut impl Stage, idle: Duration) -> Result<ScanStats> {
        let now = stage.clock_mut().source_ns();
        self.table.expire_idle(now, idle, |r| stage.removed(&r))
    }

    /// Removes every flow, handing each to `stage` (after [`Self::detach`]).
    pub fn export_all(&mut self, stage: &mut impl Stage) -> Result<ScanStats> {
        self.table.export_all(|r| stage.removed(&r))
    }

    /// Ends the second: the stage closes its windows against the kernel's address maps
    /// (when it asked for them).
    pub fn close_second(&mut self, stage: &mut impl Stage) -> Result<()> {
        match &mut self.address_maps {
            Some((dst, src)) => stage.second(dst, src),
            None => Ok(()),
        }
    }

    /// The kernel's counters now.
    pub fn counters(&self) -> Result<KernelCounters> {
        Ok(counters::read(&self.counters)?)
    }

    /// What the LRU evicted so far (see [`FlowTable::losses`]).
    pub fn losses(&mut self, k: &KernelCounters) -> FlowLosses {
        self.table.losses(k)
    }

    /// The same, exact once detached and exported (see [`FlowTable::losses_settled`]).
    pub fn losses_settled(&mut self, k: &KernelCounters) -> FlowLosses {
        self.table.losses_settled(k)
    }

    /// What the drain loop has read so far.
    pub fn drain_stats(&self) -> DrainStats {
        self.drain.stats
    }

    /// Detaches from every interface: the maps stop changing.
    pub fn detach(&mut self) {
        self.dp.detach_all();
    }
}
