//! pcap and pcapng captures as an offline source: [`crate::capture`] reads, parses with the
//! kernel's rules and folds flows on capture time; this hands what it yields to the stage
//! and moves the stage's clock along.
//!
//! The capture source ticks at whole seconds of capture time, and skips the ticks of a
//! stretch with no packet and no flow left (nothing could change in it). The live loop
//! ticks through such a stretch with empty windows, so at the first packet after a skip
//! (it opens a flow, so it comes as a flow start) the window restarts at that packet's
//! second: nothing was counted in between, and the next window is one second long, as
//! live.

use std::path::Path;

use anyhow::Result;

use super::SECOND_NS;
use crate::{
    capture::{self, CaptureReader, Consumer, HostTotals, OfflineSettings, ReadError},
    datapath::{drain::Event, flow_table::Removed},
    pipeline::source::{MapTotals, OfflineSource, SourceStats, Stage},
};

/// One capture file.
pub struct CaptureFile {
    reader: CaptureReader,
    settings: OfflineSettings,
    /// Where the file stopped early (truncated or corrupt), if it did.
    pub stopped: Option<ReadError>,
}

impl CaptureFile {
    /// Opens `path` and reads its header: a file that is no capture, or of a link type
    /// the parser does not read, fails here, before anything is analysed.
    pub fn open(path: &Path, settings: OfflineSettings) -> Result<Self, ReadError> {
        Ok(Self {
            reader: CaptureReader::open(path)?,
            settings,
            stopped: None,
        })
    }
}

/// The capture source's consumer: the stage, on capture time.
struct ToStage<'a> {
    stage: &'a mut dyn Stage,
    last_close: Option<u64>,
}

impl ToStage<'_> {
    fn close(&mut self, end_ns: u64, totals: &HostTotals) -> Result<()> {
        self.stage.clock_mut().advance_to(end_ns);
        self.stage.second(
            &mut MapTotals(&totals.destinations),
            &mut MapTotals(&totals.sources),
        )
    }
}

impl Consumer for ToStage<'_> {
    type Error = anyhow::Error;

    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        let ts = match ev {
            Event::Flow(rec) => rec.stats.last_seen_ns,
            Event::FlowStart(s) => s.ts_ns,
            Event::Sample(s) => s.ts_ns,
        };
        // A tick runs before any packet at or past its boundary: an event a second or more
        // after the last one means the ticks in between were skipped.
        if self.last_close.is_some_and(|last| ts >= last + SECOND_NS) {
            let second = ts / SECOND_NS * SECOND_NS;
            self.stage.clock_mut().advance_to(second);
            self.stage.restart_window();
            self.last_close = Some(second);
        }
        self.stage.clock_mut().advance_to(ts);
        self.stage.event(ev)
    }

    fn removed(&mut self, removed: &Removed) -> Result<()> {
        self.stage.removed(removed)
    }

    fn window_close(&mut self, end_ns: u64, totals: &HostTotals) -> Result<()> {
        self.last_close = Some(end_ns);
        self.close(end_ns, totals)
    }
}

impl OfflineSource for CaptureFile {
    fn kind(&self) -> &'static str {
        "capture"
    }

    fn run(
        &mut self,
        stage: &mut dyn Stage,
        progress: &mut dyn FnMut(SourceStats),
    ) -> Result<SourceStats> {
        let reader = &mut self.reader;
        let mut source = capture::OfflineSource::new(self.settings);
        let mut out = ToStage {
            stage,
            last_close: None,
        };
        let stats = |c: &capture::Counts| SourceStats {
            read: c.packets,
            flows: c.flows.created,
        };
        while let Some(frame) = reader.next_frame() {
            match frame {
                Ok(frame) => {
                    out.stage.traffic(frame.ts_ns, 1, u64::from(frame.orig_len));
                    source.push_frame(&frame, &mut out)?
                }
                Err(e) => {
                    self.stopped = Some(e);
                    break;
                }
            }
            progress(stats(&source.counts()));
        }
        let counts = source.finish(&mut out)?;
        if let Some(e) = &self.stopped {
            // What was read before the cut is analysed; where it stopped is said here.
            eprintln!("warning: {e}");
        }
        Ok(stats(&counts))
    }
}
