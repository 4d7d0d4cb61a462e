//! The offline traffic source: capture files in, on capture time, exactly what the live
//! loop hands the detectors.
//!
//! The live loop gets flow records and flow starts from the ring buffer as the kernel
//! writes them, and once a second (its tick) removes idle flows and then reads the
//! per-address totals to close the windows. [`OfflineSource`] does the same on the
//! capture's clock:
//!
//! - each packet is parsed ([`super::parse`]) and folded ([`super::flows`]); what the kernel
//!   would write to the ring buffer reaches [`Consumer::event`] at once, in packet order;
//! - before the first packet at or past a one-second boundary of capture time (boundaries
//!   are whole seconds since the epoch), the tick of that boundary runs: flows idle for
//!   the idle timeout are removed ([`Consumer::removed`]), then [`Consumer::window_close`]
//!   gets the boundary and the running per-address totals, the same cumulative totals
//!   `HostTable::for_each_total` reads from the kernel (the windows take differences
//!   between readings, as live). A stretch of capture with no packet and no flow left in
//!   the table has no ticks: nothing could be removed and no total could change;
//! - [`OfflineSource::finish`] is the live shutdown: every remaining flow exported as a
//!   shutdown record (`FlowTable::export_all`), then a last window close.
//!
//! Files given one after another are one capture: the source keeps its flows, totals and
//! clock across them. A packet whose time is before the previous packet's (files out of
//! order, a clock step) is folded at its own time, as the kernel's saturating arithmetic
//! does; ticks never go back.

use std::time::Duration;

use packetguard_common::config;

use super::{
    flows::{FlowCounts, FlowFolder, HostTotals, Sink},
    parse::{parse_link, FragmentKind, Parsed},
    reader::{CaptureReader, Frame, ReadError},
};
use crate::datapath::{drain::Event, flow_table::Removed, DataPathConfig};

const SECOND_NS: u64 = 1_000_000_000;

/// What the detectors receive, in capture-time order.
pub trait Consumer {
    type Error;
    /// A flow record or a flow start, as the live drain hands them over.
    fn event(&mut self, ev: Event<'_>) -> Result<(), Self::Error>;
    /// A flow removed from the table, as `FlowTable::expire_idle` and `export_all` hand
    /// them over.
    fn removed(&mut self, removed: &Removed) -> Result<(), Self::Error>;
    /// The window ending at `end_ns` (capture time) closes: `totals` holds every address's
    /// running totals.
    fn window_close(&mut self, end_ns: u64, totals: &HostTotals) -> Result<(), Self::Error>;
}

/// The settings that decide flows: the live agent's, so the same capture gives the same
/// flows.
#[derive(Clone, Copy, Debug)]
pub struct OfflineSettings {
    /// The flow table's cap (the kernel map's size).
    pub flow_entries: u32,
    pub active_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        OfflineSettings {
            flow_entries: config::DEFAULT_FLOW_ENTRIES,
            active_timeout: Duration::from_nanos(config::DEFAULT_ACTIVE_TIMEOUT_NS),
            idle_timeout: Duration::from_secs(15),
        }
    }
}

impl OfflineSettings {
    /// The settings of an agent loaded with `datapath` and expiring after `idle_timeout`.
    pub fn of(datapath: &DataPathConfig, idle_timeout: Duration) -> Self {
        OfflineSettings {
            flow_entries: datapath.flow_entries,
            active_timeout: datapath.active_timeout,
            idle_timeout,
        }
    }
}

/// What the source counted, as the kernel counters and the live summary name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Packets read from the captures.
    pub packets: u64,
    /// Bytes they count (as Ethernet frames, see [`super::link`]).
    pub bytes: u64,
    pub parse_errors: u64,
    pub non_ip: u64,
    pub fragments: u64,
    pub short_first_fragments: u64,
    /// Window closes.
    pub windows: u64,
    pub flows: FlowCounts,
}

/// Called every `every` packets with the counts so far (the CLI prints progress).
pub struct Progress {
    pub every: u64,
    pub report: Box<dyn FnMut(&Counts) + Send>,
}

/// Capture packets in, detector inputs out.
pub struct OfflineSource {
    folder: FlowFolder,
    idle_ns: u64,
    counts: Counts,
    /// The next tick's boundary; 0 before the first packet.
    next_tick_ns: u64,
    progress: Option<Progress>,
}

/// Hands the folder's output to a consumer, keeping its first error.
struct Forward<'a, C: Consumer> {
    out: &'a mut C,
    err: Option<C::Error>,
}

impl<C: Consumer> Sink for Forward<'_, C> {
    fn event(&mut self, ev: Event<'_>) {
        if self.err.is_none() {
            self.err = self.out.event(ev).err();
        }
    }

    fn removed(&mut self, removed: &Removed) {
        if self.err.is_none() {
            self.err = self.out.removed(removed).err();
        }
    }
}

impl<C: Consumer> Forward<'_, C> {
    fn result(&mut self) -> Result<(), C::Error> {
        self.err.take().map_or(Ok(()), Err)
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl OfflineSource {
    pub fn new(settings: OfflineSettings) -> OfflineSource {
        OfflineSource {
            folder: FlowFolder::new(settings.flow_entries, nanos(settings.active_timeout)),
            idle_ns: nanos(settings.idle_timeout),
            counts: Counts::default(),
            next_tick_ns: 0,
            progress: None,
        }
    }

    /// Reports progress every `progress.every` packets.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let mut c = self.counts;
        c.flows = self.folder.counts;
        c
    }

    /// The flow table (for tests and the benchmark).
    pub fn folder(&self) -> &FlowFolder {
        &self.folder
    }

    /// Reads `reader` to its end, handing everything due to `out`. `Ok(Some(error))` when
    /// the file stopped early (truncated, corrupt, an unsupported link type): every packet
    /// before it was taken in and the source goes on with the next file or
    /// [`Self::finish`]. `Err` is the consumer's error, which stops the run.
    pub fn run<C: Consumer>(
        &mut self,
        reader: &mut CaptureReader,
        out: &mut C,
    ) -> Result<Option<ReadError>, C::Error> {
        while let Some(frame) = reader.next_frame() {
            match frame {
                Ok(frame) => self.push_frame(&frame, out)?,
                Err(e) => return Ok(Some(e)),
            }
        }
        Ok(None)
    }

    /// Takes in one captured frame.
    pub fn push_frame<C: Consumer>(
        &mut self,
        frame: &Frame<'_>,
        out: &mut C,
    ) -> Result<(), C::Error> {
        self.push(frame.ts_ns, frame.link, frame.data, frame.orig_len, out)
    }

    /// Takes in one packet captured at `ts_ns` (nanoseconds since the epoch).
    pub fn push<C: Consumer>(
        &mut self,
        ts_ns: u64,
        link: super::link::LinkType,
        data: &[u8],
        orig_len: u32,
        out: &mut C,
    ) -> Result<(), C::Error> {
        self.tick_until(ts_ns, out)?;
        let c = &mut self.counts;
        c.packets += 1;
        match parse_link(link, data, orig_len) {
            Ok(Parsed::Flow(mut pkt)) => {
                c.bytes += pkt.meta.len as u64;
                match pkt.fragment {
                    FragmentKind::Tail => c.fragments += 1,
                    FragmentKind::ShortFirst => c.short_first_fragments += 1,
                    FragmentKind::None => {}
                }
                pkt.meta.ts_ns = ts_ns;
                let mut fwd = Forward { out, err: None };
                self.folder.account(&pkt, &mut fwd);
                fwd.result()?;
            }
            Ok(Parsed::NonIp) => {
                c.bytes += link.ethernet_len(orig_len.max(data.len() as u32)) as u64;
                c.non_ip += 1;
            }
            Err(_) => {
                c.bytes += link.ethernet_len(orig_len.max(data.len() as u32)) as u64;
                c.parse_errors += 1;
            }
        }
        if let Some(p) = &mut self.progress {
            if p.every != 0 && self.counts.packets.is_multiple_of(p.every) {
                let mut now = self.counts;
                now.flows = self.folder.counts;
                (p.report)(&now);
            }
        }
        Ok(())
    }

    /// Runs the ticks of every boundary up to `ts_ns`.
    fn tick_until<C: Consumer>(&mut self, ts_ns: u64, out: &mut C) -> Result<(), C::Error> {
        if self.next_tick_ns == 0 {
            self.next_tick_ns = (ts_ns / SECOND_NS + 1) * SECOND_NS;
            return Ok(());
        }
        while self.next_tick_ns <= ts_ns {
            self.tick(self.next_tick_ns, out)?;
            self.next_tick_ns += SECOND_NS;
            if self.folder.is_empty() && self.next_tick_ns <= ts_ns {
                // Nothing left to expire and nothing counted until the next packet.
                self.next_tick_ns = (ts_ns / SECOND_NS + 1) * SECOND_NS;
            }
        }
        Ok(())
    }

    /// One tick at `now_ns`: idle expiry, then the window close.
    fn tick<C: Consumer>(&mut self, now_ns: u64, out: &mut C) -> Result<(), C::Error> {
        let mut fwd = Forward { out, err: None };
        self.folder.expire_idle(now_ns, self.idle_ns, &mut fwd);
        fwd.result()?;
        self.counts.windows += 1;
        out.window_close(now_ns, &self.folder.hosts)
    }

    /// The end of the input: every flow still in the table exported as a shutdown record,
    /// then the last window close (at the next boundary after the last packet).
    pub fn finish<C: Consumer>(&mut self, out: &mut C) -> Result<Counts, C::Error> {
        let mut fwd = Forward { out, err: None };
        self.folder.export_all(&mut fwd);
        fwd.result()?;
        if self.next_tick_ns != 0 {
            self.counts.windows += 1;
            out.window_close(self.next_tick_ns, &self.folder.hosts)?;
        }
        Ok(self.counts())
    }
}
