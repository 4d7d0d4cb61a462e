//! `packetguard collect`: the collection mode, a configuration of the live pipeline whose
//! only sinks are the flow CSV (one row per flow) and the packet samples CSV. Attach, drain
//! flow records, write rows, export what is left at exit, detach, summarise.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use packetguard_common::Counter;

use crate::{
    commands::shutdown::stop_signal,
    datapath::{
        counters::KernelCounters,
        drain::{DrainStats, Event},
        flow_table::{Removed, ScanStats},
        interface_index,
        ledger::FlowLosses,
        Attachment, DataPathConfig,
    },
    flows::csv::FlowCsvWriter,
    pipeline::{
        clock::Clock,
        live::LiveSource,
        session::{self, LiveStage},
        sinks::{rows::RowSink, samples::SampleCsv},
        source::{AddressTotals, Stage},
    },
    settings::{defaults, CollectSettings},
};

/// Arguments of `packetguard collect`: its settings.
pub type CollectArgs = CollectSettings;

/// The collection stage: flow rows and packet samples.
struct Collect {
    rows: RowSink<Box<dyn Write>>,
    samples: Option<SampleCsv<BufWriter<File>>>,
    clock: Clock,
    idle_timeout: Duration,
}

impl Stage for Collect {
    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        match ev {
            Event::Flow(rec) => self.rows.record(rec).context("writing the flow CSV"),
            Event::Sample(s) => match &mut self.samples {
                Some(f) => f
                    .write(s, self.clock.unix_ms_of(s.ts_ns))
                    .context("writing the samples CSV"),
                None => Ok(()),
            },
            Event::FlowStart(start) => {
                self.rows.flow_start(start);
                Ok(())
            }
        }
    }

    fn removed(&mut self, r: &Removed) -> Result<()> {
        self.rows.removed(r).context("writing the flow CSV")
    }

    fn second(&mut self, _: &mut dyn AddressTotals, _: &mut dyn AddressTotals) -> Result<()> {
        Ok(())
    }

    fn clock_mut(&mut self) -> &mut Clock {
        &mut self.clock
    }
}

impl LiveStage for Collect {
    fn tick_every(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(5))
    }

    fn batch(&mut self, _: &DrainStats, _: &DrainStats, _: Instant) -> Result<()> {
        Ok(())
    }

    fn tick(&mut self, _: &mut LiveSource, _: &ScanStats) -> Result<()> {
        Ok(())
    }

    fn stopping(&self) -> &'static str {
        "detaching and exporting live flows"
    }

    fn finish(&mut self, src: &mut LiveSource, _: &ScanStats) -> Result<()> {
        let rows = self.rows.finish().context("writing the flow CSV")?;
        if let Some(f) = &mut self.samples {
            f.flush().context("writing the samples CSV")?;
        }
        let k = src.counters()?;
        // Detached and exported: nothing changes any more, so the ledger is exact.
        let losses = src.losses_settled(&k);
        print_summary(&k, &losses, rows, &src.drain_stats());
        Ok(())
    }
}

fn open_out(path: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

/// Runs the collection; returns once everything is exported and detached.
pub fn run(mut args: CollectArgs) -> Result<()> {
    if args.iface.is_empty() {
        args.iface
            .push(crate::datapath::interface_or_default(None)?);
    }
    for iface in &args.iface {
        interface_index(iface)?;
    }
    session::block_on(collect(args))
}

async fn collect(args: CollectArgs) -> Result<()> {
    let stop = stop_signal(args.duration)?;
    let out = open_out(&args.out)?;
    let samples = match &args.samples_out {
        Some(p) => Some(SampleCsv::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))?),
        None => None,
    };
    let cfg = DataPathConfig {
        sample_every: args.sample.unwrap_or(defaults::SAMPLE_EVERY),
        // The rows' context features come from the flow starts.
        emit_flow_starts: true,
        ..args.datapath()
    };
    let mut src = LiveSource::open(&cfg, &args.iface, args.attach(), false, |attached| {
        eprintln!("attached: {}", Attachment::describe(attached))
    })?;
    let mut stage = Collect {
        rows: RowSink::new(FlowCsvWriter::new(out)?, args.per_record),
        samples,
        clock: Clock::live(),
        idle_timeout: args.idle_timeout(),
    };
    session::run(&mut stage, &mut src, stop, None, args.idle_timeout()).await
}

fn print_summary(k: &KernelCounters, losses: &FlowLosses, rows: u64, drained: &DrainStats) {
    eprintln!(
        "summary: packets {} ({} bytes), flows {} (rows written), kernel records {}, samples {}, \
         records delayed {} (ring buffer full, sent later), flow starts and samples lost {} (ring buffer full), \
         flows evicted before export {} ({} packets), parse errors {}, non-IP frames {}",
        k.get(Counter::Packets),
        k.get(Counter::Bytes),
        rows,
        drained.flows,
        drained.samples,
        k.get(Counter::RecordsDelayed),
        k.get(Counter::RingbufLost),
        losses.evicted_flows,
        losses.evicted_packets,
        k.get(Counter::ParseErrors),
        k.get(Counter::NonIp),
    );
}
