//! `packetguard analyze FILE...`: the pipeline with an offline source. Each file (a pcap
//! or pcapng capture, a flow CSV from `collect`, a Wireshark packet-list CSV) is read to
//! its end on its own time, scored by the same detectors as `run`,
//! and written with the same columns as `collect` (`--out`) and the same event lines as
//! `run` (`--events`).

use std::{
    fs::File,
    io::BufWriter,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::{
    commands::evaluate::Analysis,
    datapath::{drain::Event, flow_table::Removed},
    detect::{models, rules::Rules},
    events::{Detector, EventSink, EventWriter, RateLimit},
    flows::csv::FlowCsvWriter,
    limits,
    metrics::Metrics,
    pipeline::{
        clock::Clock,
        detector::Outputs,
        detectors::Detectors,
        offline::{self, FoldSettings},
        sinks::{rows::RowSink, verdicts::VerdictSink},
        source::{AddressTotals, FeatureRow, SourceStats, Stage},
    },
    settings::defaults,
};

mod report;
mod verdicts;

/// Arguments of `packetguard analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Files to analyse: pcap or pcapng captures, flow CSVs written by `collect`,
    /// Wireshark packet-list CSV exports (header
    /// "No.","Time","Source","Destination","Protocol","Length","Info"); the type is told
    /// from the content.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Model directory (holding flow.pgm, host.pgm and source.pgm) or one model file.
    /// Default: as for `run`.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Write the flows as the flow CSV `collect` writes.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Write anomaly events, one JSON line each as `run` writes them.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Write every verdict, normal ones too, one JSON line each (time, detector,
    /// subject, score, threshold, anomaly, top features).
    #[arg(long)]
    pub json_verdicts: Option<PathBuf>,
    /// Write a report: one self-contained HTML page (inline SVG charts, no scripts, nothing
    /// fetched) with the traffic over time, the score distributions, the flow scatter, the
    /// top anomalies, counts per verdict, the models used, the inputs and the features
    /// they could not provide.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// A flow with no packet for this long (in capture time) is exported. Default: 15s.
    #[arg(long, value_parser = limits::IDLE_TIMEOUT.parser())]
    pub idle_timeout: Option<Duration>,
    /// A flow reporting for this long (in capture time) emits an interim record.
    /// Default: 1m.
    #[arg(long, value_parser = limits::ACTIVE_TIMEOUT.parser())]
    pub active_timeout: Option<Duration>,
    /// The flow table's size, as the kernel flow map's: beyond it the least recently
    /// used flows are evicted. Default: 262144.
    #[arg(long, value_parser = limits::FLOW_ENTRIES.parse_u32())]
    pub flow_entries: Option<u32>,
}

/// What an analysis found, for the summary (and the report).
#[derive(Debug, Default)]
pub struct Findings {
    /// Verdicts per detector: (all, anomalies), in [`Detector`] order.
    pub counts: Vec<(Detector, u64, u64)>,
    /// Per file: the features its input could not provide.
    pub missing: Vec<(PathBuf, Vec<&'static str>)>,
}

/// The stage of `analyze`: the detectors and the flow rows.
struct Analyze {
    det: Detectors,
    rows: Option<RowSink<BufWriter<File>>>,
    report: Option<report::Report>,
}

impl Stage for Analyze {
    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        match (ev, &mut self.rows) {
            (Event::Flow(rec), Some(rows)) => rows.record(rec).context("writing the flow CSV")?,
            (Event::FlowStart(start), Some(rows)) => rows.flow_start(start),
            _ => {}
        }
        self.det.event(ev)
    }

    fn removed(&mut self, removed: &Removed) -> Result<()> {
        if let Some(rows) = &mut self.rows {
            rows.removed(removed).context("writing the flow CSV")?;
        }
        self.det.removed(removed)
    }

    fn second(
        &mut self,
        destinations: &mut dyn AddressTotals,
        sources: &mut dyn AddressTotals,
    ) -> Result<()> {
        self.det.close_windows(destinations, sources)?;
        self.det.score()?;
        let now = self.det.out.clock.now();
        self.det.out.events.flush_idle(now.mono, now.wall)?;
        Ok(())
    }

    fn clock_mut(&mut self) -> &mut Clock {
        &mut self.det.out.clock
    }

    fn restart_window(&mut self) {
        self.det.restart_window();
    }

    fn flow_features(&mut self, flow: &FeatureRow<'_>) -> Result<()> {
        if let Some(rows) = &mut self.rows {
            rows.line(flow.line).context("writing the flow CSV")?;
        }
        self.det.flow_features(flow.endpoints, flow.features)
    }

    fn traffic(&mut self, ts_ns: u64, packets: u64, bytes: u64) {
        if let Some(r) = &mut self.report {
            r.traffic(ts_ns, packets, bytes);
        }
    }
}

fn create(path: &PathBuf, what: &str) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| {
        format!("cannot create the {what} {}", path.display())
    })?))
}

/// Prints `read` at most once a second, from the first second on.
struct Progress {
    started: Instant,
    last: Instant,
    name: String,
}

impl Progress {
    fn new(name: String) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            name,
        }
    }

    fn offer(&mut self, s: SourceStats) {
        // Reading the clock on every row would cost more than the row: every 4096th.
        if !s.read.is_multiple_of(4096) {
            return;
        }
        let now = Instant::now();
        if now - self.last >= Duration::from_secs(1) {
            self.last = now;
            let rate = s.read as f64 / (now - self.started).as_secs_f64();
            eprintln!(
                "{}: {} read, {} flows, {:.0} a second",
                self.name, s.read, s.flows, rate
            );
        }
    }
}

/// `packetguard analyze`: the analysis, with its summary on stderr.
pub fn run(args: AnalyzeArgs) -> Result<()> {
    analyze(&args, Keep::Counts).map(|_| ())
}

/// The analysis of one file with the defaults of `analyze` (no output files), keeping
/// every verdict and the capture's span: what `evaluate` judges. It runs the same code as
/// the command, so an evaluation measures exactly what `analyze` reports.
pub fn analysis(input: &Path, model: Option<&Path>, values: bool) -> Result<Analysis> {
    let args = AnalyzeArgs {
        files: vec![input.to_path_buf()],
        model: model.map(Path::to_path_buf),
        out: None,
        events: None,
        json_verdicts: None,
        report: None,
        idle_timeout: None,
        active_timeout: None,
        flow_entries: None,
    };
    Ok(analyze(&args, Keep::Verdicts { values })?.1)
}

/// What [`analyze`] keeps of the verdicts for its caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Only the counts (the `analyze` command).
    Counts,
    /// Every verdict (`evaluate`); with `values`, each with its row's feature values.
    Verdicts { values: bool },
}

/// Runs the analysis of `args`; as `keep` says, the returned [`Analysis`] holds every
/// verdict (otherwise only the span and the models' features). The span runs from the first
/// file's first timestamp to the latest timestamp of any file.
fn analyze(args: &AnalyzeArgs, keep: Keep) -> Result<(Findings, Analysis)> {
    let fold = FoldSettings {
        idle_timeout: args.idle_timeout.unwrap_or(defaults::IDLE_TIMEOUT),
        active_timeout: args.active_timeout.unwrap_or(defaults::ACTIVE_TIMEOUT),
        flow_entries: args.flow_entries.unwrap_or(defaults::FLOW_ENTRIES),
    };
    // Every input is opened (and its type told) before anything is read or written.
    let mut sources = Vec::new();
    for path in &args.files {
        sources.push((path, offline::open(path, fold)?));
    }
    let loaded = models::load(args.model.as_deref())?;
    let features = loaded.feature_names();
    let metrics = Arc::new(Metrics::new()?);
    let events = match &args.events {
        Some(p) => EventSink::Direct(create(p, "events file")?),
        None => EventSink::Discard,
    };
    let counted = verdicts::Counted::new(
        match &args.json_verdicts {
            Some(p) => Some(create(p, "verdicts file")?),
            None => None,
        },
        keep != Keep::Counts,
    )
    .with_values(keep == Keep::Verdicts { values: true });
    if let Some(p) = &args.report {
        // Made now, as the other outputs are, so a path that cannot be written fails before
        // the analysis rather than after it; the page replaces it at the end.
        create(p, "report")?;
    }
    let report = args
        .report
        .as_ref()
        .map(|_| report::Report::new(crate::report::ReportMeta::default().with_models(&loaded)));
    let mut verdict_sink = Box::new(counted.clone()) as Box<dyn VerdictSink>;
    if let Some(r) = &report {
        verdict_sink = Box::new(report::Tee {
            report: r.clone(),
            next: verdict_sink,
        });
    }
    let out = Outputs {
        events: EventWriter::new(events, RateLimit::default()),
        metrics,
        live: None,
        verdicts: Some(verdict_sink),
        clock: Clock::capture(),
    };
    let mut det = Detectors::new(out, Rules::new(&[])?, None)?;
    det.install(loaded)?;
    let rows = match &args.out {
        Some(p) => Some(RowSink::new(
            FlowCsvWriter::with_clock(create(p, "flow CSV")?, Clock::capture())?,
            false,
        )),
        None => None,
    };
    let mut stage = Analyze { det, rows, report };
    let mut findings = Findings::default();
    let mut span: Option<(u64, u64)> = None;
    for (path, mut source) in sources {
        // Each file runs on its own timestamps, from its first.
        stage.det.out.clock = Clock::capture();
        stage.det.start();
        let mut progress = Progress::new(path.display().to_string());
        let stats = source.run(&mut stage, &mut |s| progress.offer(s))?;
        if let Some((first, last)) = stage.det.out.clock.span() {
            span = Some(span.map_or((first, last), |(f, l)| (f.min(first), l.max(last))));
        }
        let missing = source.missing_features();
        eprintln!(
            "{}: {} {} read, {} flows",
            path.display(),
            source.kind(),
            stats.read,
            stats.flows
        );
        if !missing.is_empty() {
            eprintln!(
                "{}: not available from a {}: {}",
                path.display(),
                source.kind(),
                missing.join(", ")
            );
        }
        if let Some(r) = &mut stage.report {
            r.input_done(path, source.kind(), &missing);
        }
        findings.missing.push((path.clone(), missing));
    }
    stage.det.score()?;
    let end = stage.det.out.clock.now().wall;
    stage.det.out.events.finish(end)?;
    if let Some(rows) = &mut stage.rows {
        let n = rows.finish().context("writing the flow CSV")?;
        eprintln!("flow CSV: {n} rows");
    }
    findings.counts = counted.finish()?;
    let parts: Vec<String> = findings
        .counts
        .iter()
        .map(|(d, all, anomalies)| format!("{} {anomalies} of {all}", d.as_str()))
        .collect();
    eprintln!("summary: anomalies {}", parts.join(", "));
    if let (Some(r), Some(path)) = (&stage.report, &args.report) {
        r.write_file(path)?;
        eprintln!("report: {}", path.display());
    }
    let (first_ns, last_ns) = span.unwrap_or_default();
    let analysis = Analysis {
        verdicts: counted.take_kept(),
        first_ns,
        last_ns,
        features,
    };
    Ok((findings, analysis))
}
