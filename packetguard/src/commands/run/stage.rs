//! The stage of `run` in the live loop: the detectors with every sink, and what each batch
//! and tick does with them (score, metrics, the live page, the end of learning).

use std::{path::PathBuf, sync::Arc, time::Duration, time::Instant};

use anyhow::Result;
use packetguard_common::Counter;

use super::{http::HttpThread, reload};
use crate::{
    datapath::{
        drain::{DrainStats, Event},
        flow_table::{Removed, ScanStats},
    },
    metrics::{DrainBatch, Metrics},
    pipeline::{
        clock::Clock,
        detectors::Detectors,
        live::LiveSource,
        session::LiveStage,
        source::{AddressTotals, Stage},
    },
    ui::{state::TickInputs, unix_ms},
};

/// `run`'s stage.
pub struct Detect {
    pub det: Detectors,
    pub metrics: Arc<Metrics>,
    pub reloadable: reload::Reloadable,
    pub learn_dir: PathBuf,
    /// Flows removed from the kernel (idle and at the end), for the summary.
    pub removed_total: u64,
    /// The metrics server, stopped at the end.
    pub server: Option<HttpThread>,
}

impl Detect {
    /// Reports one drained batch (what `before` and `after` differ by) to the metrics.
    fn observe_batch(&self, before: &DrainStats, after: &DrainStats, start: Instant) {
        self.metrics.observe_drain_batch(&DrainBatch {
            flows: after.flows - before.flows,
            samples: after.samples - before.samples,
            flow_starts: after.flow_starts - before.flow_starts,
            decode_errors: after.malformed - before.malformed,
            elapsed: start.elapsed(),
        });
    }
}

impl Stage for Detect {
    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        self.det.event(ev)
    }

    fn removed(&mut self, removed: &Removed) -> Result<()> {
        self.det.removed(removed)
    }

    fn second(
        &mut self,
        destinations: &mut dyn AddressTotals,
        sources: &mut dyn AddressTotals,
    ) -> Result<()> {
        self.det.close_windows(destinations, sources)
    }

    fn clock_mut(&mut self) -> &mut Clock {
        &mut self.det.out.clock
    }
}

impl LiveStage for Detect {
    fn tick_every(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn batch(&mut self, before: &DrainStats, after: &DrainStats, start: Instant) -> Result<()> {
        // The batch's latency includes scoring what it brought.
        self.det.score()?;
        self.observe_batch(before, after, start);
        Ok(())
    }

    fn tick(&mut self, src: &mut LiveSource, scan: &ScanStats) -> Result<()> {
        self.removed_total += scan.removed as u64;
        // Take in the flow starts already in the ring buffer before reading the kernel's
        // host totals, so a window's new flows and its packets describe the same second.
        let start = Instant::now();
        let before = src.drain_stats();
        src.drain_now(self)?;
        self.observe_batch(&before, &src.drain_stats(), start);
        src.close_second(self)?;
        let k = src.counters()?;
        self.metrics.set_kernel_totals(&k);
        let losses = src.losses(&k);
        self.metrics.set_flow_losses(&losses);
        let entries = (scan.entries - scan.removed) as u64;
        self.metrics.set_flow_table_entries(entries);
        self.det.score()?;
        // After scoring, so this second's windows count in this second's rate.
        let now = self.det.out.clock.now();
        let events_dropped = self.metrics.events_dropped();
        self.det.out.live(|l| {
            l.tick(
                unix_ms(now.wall),
                &k,
                TickInputs {
                    flow_table_entries: entries,
                    events_dropped,
                },
            )
        });
        if self.det.learning_due() {
            self.det.finish_learning(&self.learn_dir)?;
        }
        let now = self.det.out.clock.now();
        self.det.out.events.flush_idle(now.mono, now.wall)?;
        Ok(())
    }

    fn reload(&mut self) -> Result<()> {
        reload::reload(&self.reloadable, &mut self.det, &self.metrics)
    }

    fn stopping(&self) -> &'static str {
        "detaching, scoring what is left"
    }

    fn finish(&mut self, src: &mut LiveSource, exported: &ScanStats) -> Result<()> {
        self.removed_total += exported.removed as u64;
        src.close_second(self)?;
        self.det.score()?;
        if self.det.learner.is_some() {
            eprintln!("stopped before learning finished: no model was written");
        }
        let k = src.counters()?;
        self.metrics.set_kernel_totals(&k);
        let losses = src.losses_settled(&k);
        self.metrics.set_flow_losses(&losses);
        self.det.out.events.finish(self.det.out.clock.now().wall)?;
        if let Some(server) = self.server.take() {
            server.stop(Duration::from_secs(2));
        }
        eprintln!(
            "summary: packets {}, flows exported {}, records delayed {}, flow starts and samples lost {} (ring buffer full)",
            k.get(Counter::Packets),
            self.removed_total,
            k.get(Counter::RecordsDelayed),
            k.get(Counter::RingbufLost)
        );
        Ok(())
    }
}
