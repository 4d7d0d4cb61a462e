//! `packetguard run`: the detector. Attach, drain, score every flow record with the flow
//! model, export Prometheus metrics and JSON anomaly events, shut down cleanly.
//!
//! The host detector (per-destination one-second windows) and `--learn` are not built yet.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Result;
use packetguard_common::FlowRecord;
use packetguard_forest::{Attribution, Verdict};

use crate::{
    commands::shutdown::stop_signal,
    config::{self, RunConfig},
    datapath::{
        counters,
        drain::{Drain, Event},
        flow_table::{monotonic_ns, FlowTable, Removed},
        interface_index, interface_or_default, AttachMode, DataPath, DataPathConfig,
    },
    detect::flow::{load_model, FlowDetector, Scored, TOP_FEATURES},
    events::{
        AnomalyEvent, Detector, EventTarget, EventWriter, FeatureContribution, Outcome, RateLimit,
        Subject,
    },
    metrics::{self, DrainBatch, KernelTotals, Metrics},
};

/// Arguments of `packetguard run`. Flags override the `--config` file.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Interface to watch. Default: the interface of the default route.
    #[arg(long, short)]
    pub iface: Option<String>,
    /// Flow model file, or a directory holding `flow.pgm`. Default: `models/`.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where `/metrics` is served.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Anomaly events: `-` for standard output, or a file to append to.
    #[arg(long)]
    pub events: Option<String>,
    /// TOML configuration file (see deploy/packetguard.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub xdp_mode: Option<AttachMode>,
    #[arg(long, value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    pub active_timeout: Option<Duration>,
    #[arg(long)]
    pub flow_entries: Option<u32>,
    /// Stop after this long (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

/// The event writer `run` uses (standard output or an appended file).
type Events = EventWriter<Box<dyn std::io::Write + Send>>;

/// Settings after merging flags over the config file over defaults.
struct Settings {
    iface: String,
    model: PathBuf,
    metrics_addr: SocketAddr,
    events: String,
    xdp_mode: AttachMode,
    idle_timeout: Duration,
    datapath: DataPathConfig,
    rate_limit: RateLimit,
}

fn settings(args: RunArgs) -> Result<Settings> {
    let file = match &args.config {
        Some(p) => config::load(p)?,
        None => RunConfig::default(),
    };
    let iface = interface_or_default(args.iface.or(file.iface))?;
    let mut datapath = DataPathConfig::default();
    if let Some(n) = args.flow_entries.or(file.flow_entries) {
        datapath.flow_entries = n;
    }
    if let Some(t) = args.active_timeout.or(file.active_timeout) {
        datapath.active_timeout = t;
    }
    let mut rate_limit = RateLimit::default();
    if let Some(b) = file.event_rate_limit {
        rate_limit.burst = b;
    }
    if let Some(i) = file.event_rate_interval {
        rate_limit.interval = i;
    }
    if let Some(h) = file.event_rate_hosts {
        rate_limit.max_hosts = h;
    }
    Ok(Settings {
        iface,
        model: args
            .model
            .or(file.model)
            .unwrap_or_else(|| PathBuf::from("models")),
        metrics_addr: args
            .metrics_addr
            .or(file.metrics_addr)
            .unwrap_or(metrics::DEFAULT_METRICS_ADDR),
        events: args.events.or(file.events).unwrap_or_else(|| "-".into()),
        xdp_mode: args.xdp_mode.or(file.xdp_mode).unwrap_or_default(),
        idle_timeout: args
            .idle_timeout
            .or(file.idle_timeout)
            .unwrap_or(Duration::from_secs(15)),
        datapath,
        rate_limit,
    })
}

pub fn run(args: RunArgs) -> Result<()> {
    let duration = args.duration;
    let s = settings(args)?;
    interface_index(&s.iface)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(detect(s, duration))
}

/// The flow detector with where its verdicts go.
struct FlowPipeline {
    detector: FlowDetector,
    events: Events,
    metrics: Arc<Metrics>,
    model_id: String,
}

impl FlowPipeline {
    /// Queues a record, scoring the batch first when it is full.
    fn queue(&mut self, rec: &FlowRecord) -> Result<()> {
        if self.detector.is_full() {
            self.score()?;
        }
        self.detector.push(rec);
        Ok(())
    }

    /// Queues what the agent exported when it removed a flow from the kernel.
    fn queue_removed(&mut self, removed: &Removed) -> Result<()> {
        match &removed.record {
            Some(rec) => self.queue(rec),
            None => Ok(()),
        }
    }

    /// Scores what is queued, counts it and reports the anomalies.
    fn score(&mut self) -> Result<()> {
        let n = self.detector.score_pending();
        self.metrics
            .record_scores(Detector::Flow, self.detector.scores());
        for i in 0..n {
            let scored = self.detector.result(i);
            if scored.verdict == Verdict::Anomaly {
                report(
                    &self.detector,
                    &mut self.events,
                    &self.metrics,
                    &self.model_id,
                    &scored,
                )?;
            }
        }
        self.detector.clear();
        Ok(())
    }
}

/// Keeps the first error raised inside a callback that cannot return one.
fn keep_first(slot: &mut Option<anyhow::Error>, res: Result<()>) {
    if let Err(e) = res {
        slot.get_or_insert(e);
    }
}

/// Writes one anomaly event and counts it.
fn report(
    detector: &FlowDetector,
    events: &mut Events,
    metrics: &Metrics,
    model_id: &str,
    scored: &Scored<'_>,
) -> Result<()> {
    metrics.record_anomaly(Detector::Flow);
    let mut attr = [Attribution::default(); TOP_FEATURES];
    let n = detector.explain(scored.row, &mut attr);
    let mut top = [FeatureContribution {
        name: "",
        value: 0.0,
        weight: 0.0,
    }; TOP_FEATURES];
    for (dst, a) in top.iter_mut().zip(&attr[..n]) {
        *dst = FeatureContribution {
            name: detector.feature_name(a.feature),
            value: scored.row[a.feature],
            weight: a.weight,
        };
    }
    let e = scored.endpoints;
    let ev = AnomalyEvent {
        time: SystemTime::now(),
        detector: Detector::Flow,
        subject: Subject::Flow {
            src_ip: e.src,
            dst_ip: e.dst,
            src_port: e.src_port,
            dst_port: e.dst_port,
            protocol: e.protocol,
        },
        score: scored.score,
        threshold: detector.model().threshold(),
        top_features: &top[..n],
        model: model_id,
    };
    if let Outcome::Suppressed = events.emit(&ev, Instant::now())? {
        metrics.add_events_suppressed(Detector::Flow, 1);
    }
    Ok(())
}

async fn detect(s: Settings, duration: Option<Duration>) -> Result<()> {
    let stop = stop_signal(duration)?;
    let (model, model_path) = load_model(&s.model)?;
    let model_id = model.id();
    let detector = FlowDetector::new(model, &model_path)?;
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_model_info(Detector::Flow, &model_id);
    metrics.set_flow_table_capacity(s.datapath.flow_entries as u64);
    // Bind before attaching: a port in use must fail with nothing attached.
    let listener = metrics::bind(s.metrics_addr).await?;
    let events = EventWriter::open(&EventTarget::parse(&s.events), s.rate_limit)?;

    let mut dp = DataPath::load(&s.datapath)?;
    let a = dp.attach(&s.iface, s.xdp_mode)?;
    eprintln!(
        "attached to {} in {} mode; flow model {} ({}); metrics on http://{}/metrics",
        a.iface,
        a.mode,
        model_id,
        model_path.display(),
        s.metrics_addr
    );
    let mut drain = Drain::new(dp.take_events()?)?;
    let mut table = FlowTable::new(dp.take_flows()?);
    let counter_map = dp.take_counters()?;
    let mut flows = FlowPipeline {
        detector,
        events,
        metrics: metrics.clone(),
        model_id,
    };

    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(metrics::serve(listener, metrics.clone(), async {
        let _ = server_stopped.await;
    }));

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut removed_total = 0u64;
    let mut err = None;
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            r = &mut stop => break r,
            res = async {
                let start = Instant::now();
                let before = drain.stats;
                drain.next_batch(4096, |ev| {
                    if let Event::Flow(rec) = ev {
                        keep_first(&mut err, flows.queue(rec));
                    }
                }).await?;
                if let Some(e) = err.take() {
                    return Err(e);
                }
                // The batch's latency includes scoring what it brought.
                flows.score()?;
                let after = drain.stats;
                metrics.observe_drain_batch(&DrainBatch {
                    flows: after.flows - before.flows,
                    samples: after.samples - before.samples,
                    flow_starts: after.flow_starts - before.flow_starts,
                    decode_errors: after.malformed - before.malformed,
                    elapsed: start.elapsed(),
                });
                anyhow::Ok(())
            } => res?,
            _ = tick.tick() => {
                let st = table.expire_idle(monotonic_ns(), s.idle_timeout, |r| {
                    keep_first(&mut err, flows.queue_removed(&r));
                })?;
                removed_total += st.removed as u64;
                let k = counters::read(&counter_map)?;
                metrics.set_kernel_totals(&KernelTotals::from_slots(&k.0));
                metrics.set_flow_table_entries((st.entries - st.removed) as u64);
                if let Some(e) = err.take() {
                    return Err(e);
                }
                flows.score()?;
                flows.events.flush_idle(Instant::now(), SystemTime::now())?;
            }
        }
    };
    eprintln!(
        "stopping ({}): detaching, scoring what is left",
        reason.as_str()
    );
    dp.detach_all();
    drain.drain_now(|ev| {
        if let Event::Flow(rec) = ev {
            keep_first(&mut err, flows.queue(rec));
        }
    });
    let st = table.export_all(|r| keep_first(&mut err, flows.queue_removed(&r)))?;
    removed_total += st.removed as u64;
    if let Some(e) = err {
        return Err(e);
    }
    flows.score()?;
    let k = counters::read(&counter_map)?;
    metrics.set_kernel_totals(&KernelTotals::from_slots(&k.0));
    flows.events.finish(SystemTime::now())?;
    let _ = stop_server.send(());
    let _ = server.await;
    eprintln!(
        "summary: packets {}, flows exported {}, records lost {} (ring buffer full)",
        k.get(packetguard_common::Counter::Packets),
        removed_total,
        k.get(packetguard_common::Counter::RingbufFull)
    );
    Ok(())
}
