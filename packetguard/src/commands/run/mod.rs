//! `packetguard run`: the detector. Attach, drain, score every flow record with the flow
//! model and every destination's one-second window with the host model, export Prometheus
//! metrics and JSON anomaly events, shut down cleanly.
//!
//! - this file: arguments, settings, and the main loop.
//! - [`detectors`]: every detector and the windows that feed them.
//! - [`pipeline`]: a detector with its scorer, metrics and events.
//! - [`learn`]: `--learn`, training both models on this host's own traffic.

mod detectors;
mod learn;
mod pipeline;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Result;
use packetguard_common::Counter;
use packetguard_forest::Contamination;

use self::{detectors::Detectors, learn::Learner, pipeline::Outputs};
use crate::{
    commands::shutdown::stop_signal,
    config::{self, RuleConfig, RunConfig},
    datapath::{
        counters,
        drain::{Drain, DrainStats},
        flow_table::{monotonic_ns, FlowTable},
        hosts::HostTable,
        interface_index, interface_or_default, AttachMode, AttachOptions, DataPath, DataPathConfig,
        Direction, TcMode,
    },
    detect::{models, rules::Rules},
    events::{EventTarget, EventWriter, RateLimit},
    metrics::{self, DrainBatch, Metrics},
};

/// Arguments of `packetguard run`. Flags override the `--config` file.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Interface to watch. Default: the interface of the default route.
    #[arg(long, short)]
    pub iface: Option<String>,
    /// Model directory (holding flow.pgm and host.pgm) or one model file. Default: each
    /// detector's model from the first of /var/lib/packetguard/models (learned),
    /// <exe>/../share/packetguard/models and models/ that holds it.
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
    /// Which packets to see: `both` (default: arriving through XDP and leaving through TC
    /// egress, two-sided flows on an end host), `ingress` (a router or bridge, attached on
    /// every interface) or `egress`.
    #[arg(long, value_enum)]
    pub direction: Option<Direction>,
    /// How to attach XDP: `auto` (native, falling back to generic skb mode), `native`,
    /// `skb`.
    #[arg(long, value_enum)]
    pub xdp_mode: Option<AttachMode>,
    /// How to attach the egress program: `auto` (a TCX link on Linux 6.6+, else a clsact
    /// qdisc), `tcx`, `netlink`.
    #[arg(long, value_enum)]
    pub tc_mode: Option<TcMode>,
    #[arg(long, value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    pub active_timeout: Option<Duration>,
    #[arg(long)]
    pub flow_entries: Option<u32>,
    /// Learn a baseline from this host's traffic for this long (e.g. 1h), train both
    /// models, save them to /var/lib/packetguard/models (or $STATE_DIRECTORY/models), then
    /// detect with them. Only learn on traffic you trust to be normal.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub learn: Option<Duration>,
    /// Expected share of anomalies in the learned traffic (`auto`: threshold 0.5).
    #[arg(long)]
    pub learn_contamination: Option<Contamination>,
    /// Where `--learn` writes its models (default: see --learn).
    #[arg(long)]
    pub learn_dir: Option<PathBuf>,
    /// Stop after this long (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

/// Settings after merging flags over the config file over defaults.
struct Settings {
    iface: String,
    model: Option<PathBuf>,
    learn: Option<Duration>,
    learn_contamination: Contamination,
    learn_dir: PathBuf,
    metrics_addr: SocketAddr,
    events: String,
    attach: AttachOptions,
    idle_timeout: Duration,
    datapath: DataPathConfig,
    rate_limit: RateLimit,
    rules: Vec<RuleConfig>,
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
        model: args.model.or(file.model),
        learn: args.learn.or(file.learn),
        learn_contamination: args.learn_contamination.unwrap_or_default(),
        learn_dir: args.learn_dir.unwrap_or_else(models::learned_dir),
        metrics_addr: args
            .metrics_addr
            .or(file.metrics_addr)
            .unwrap_or(metrics::DEFAULT_METRICS_ADDR),
        events: args.events.or(file.events).unwrap_or_else(|| "-".into()),
        attach: AttachOptions {
            direction: args.direction.or(file.direction).unwrap_or_default(),
            xdp_mode: args.xdp_mode.or(file.xdp_mode).unwrap_or_default(),
            tc_mode: args.tc_mode.or(file.tc_mode).unwrap_or_default(),
        },
        idle_timeout: args
            .idle_timeout
            .or(file.idle_timeout)
            .unwrap_or(Duration::from_secs(15)),
        datapath,
        rate_limit,
        rules: file.rules,
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

/// Keeps the first error raised inside a callback that cannot return one.
fn keep_first(slot: &mut Option<anyhow::Error>, res: Result<()>) {
    if let Err(e) = res {
        slot.get_or_insert(e);
    }
}

/// Reports one drained batch (what `before` and `after` differ by) to the metrics.
fn observe_batch(metrics: &Metrics, before: &DrainStats, after: &DrainStats, start: Instant) {
    metrics.observe_drain_batch(&DrainBatch {
        flows: after.flows - before.flows,
        samples: after.samples - before.samples,
        flow_starts: after.flow_starts - before.flow_starts,
        decode_errors: after.malformed - before.malformed,
        elapsed: start.elapsed(),
    });
}

async fn detect(mut s: Settings, duration: Option<Duration>) -> Result<()> {
    let stop = stop_signal(duration)?;
    // Models first: a bad model must fail before anything is bound or attached.
    let loaded = match s.learn {
        Some(_) => None,
        None => Some(models::load(s.model.as_deref())?),
    };
    let rules = Rules::new(&s.rules)?;
    // Flow starts feed the windows only; the kernel sends them when those are built.
    s.datapath.emit_flow_starts = s.learn.is_some()
        || !rules.is_empty()
        || loaded
            .as_ref()
            .is_some_and(|m| m.host.is_some() || m.source.is_some());
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_flow_table_capacity(s.datapath.flow_entries as u64);
    // Bind before attaching: a port in use must fail with nothing attached.
    let listener = metrics::bind(s.metrics_addr).await?;
    let events = EventWriter::open(&EventTarget::parse(&s.events), s.rate_limit)?;
    let mut det = Detectors::new(
        Outputs {
            events,
            metrics: metrics.clone(),
        },
        rules,
        s.learn.map(|d| Learner::new(d, s.learn_contamination)),
    )?;
    if let Some(models) = loaded {
        det.install(models)?;
    }

    let mut dp = DataPath::load(&s.datapath)?;
    let attached = dp.attach(&s.iface, s.attach)?;
    eprintln!(
        "attached: {}; metrics on http://{}/metrics",
        crate::commands::collect::describe(attached),
        s.metrics_addr
    );
    if let Some(d) = s.learn {
        eprintln!(
            "learning this host's traffic for {}: nothing is scored until then; models go to {}",
            humantime::format_duration(d),
            s.learn_dir.display()
        );
    }
    let mut drain = Drain::new(dp.take_events()?)?;
    let mut table = FlowTable::new(dp.take_flows()?);
    let counter_map = dp.take_counters()?;
    let mut host_table = HostTable::new(dp.take_hosts()?)?;
    let mut source_table = HostTable::sources(dp.take_sources()?)?;

    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(metrics::serve(listener, metrics.clone(), async {
        let _ = server_stopped.await;
    }));

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut removed_total = 0u64;
    let mut err = None;
    tokio::pin!(stop);
    det.window_opened = Instant::now();
    let reason = loop {
        tokio::select! {
            r = &mut stop => break r,
            res = async {
                let start = Instant::now();
                let before = drain.stats;
                drain.next_batch(4096, |ev| keep_first(&mut err, det.event(ev))).await?;
                if let Some(e) = err.take() {
                    return Err(e);
                }
                // The batch's latency includes scoring what it brought.
                det.score()?;
                observe_batch(&metrics, &before, &drain.stats, start);
                anyhow::Ok(())
            } => res?,
            _ = tick.tick() => {
                let st = table.expire_idle(monotonic_ns(), s.idle_timeout, |r| {
                    keep_first(&mut err, det.removed(&r));
                })?;
                removed_total += st.removed as u64;
                if let Some(e) = err.take() {
                    return Err(e);
                }
                // Take in the flow starts already in the ring buffer before reading the
                // kernel's host totals, so a window's new flows and its packets describe
                // the same second.
                let start = Instant::now();
                let before = drain.stats;
                drain.drain_now(|ev| keep_first(&mut err, det.event(ev)));
                if let Some(e) = err.take() {
                    return Err(e);
                }
                observe_batch(&metrics, &before, &drain.stats, start);
                det.close_windows(&mut host_table, &mut source_table)?;
                let k = counters::read(&counter_map)?;
                metrics.set_kernel_totals(&k);
                metrics.set_flow_losses(&table.losses(&k));
                metrics.set_flow_table_entries((st.entries - st.removed) as u64);
                det.score()?;
                if det.learner.as_ref().is_some_and(|l| Instant::now() >= l.until) {
                    det.finish_learning(&s.learn_dir)?;
                }
                det.out.events.flush_idle(Instant::now(), SystemTime::now())?;
            }
        }
    };
    eprintln!(
        "stopping ({}): detaching, scoring what is left",
        reason.as_str()
    );
    dp.detach_all();
    drain.drain_now(|ev| keep_first(&mut err, det.event(ev)));
    let st = table.export_all(|r| keep_first(&mut err, det.removed(&r)))?;
    removed_total += st.removed as u64;
    if let Some(e) = err {
        return Err(e);
    }
    det.close_windows(&mut host_table, &mut source_table)?;
    det.score()?;
    if det.learner.is_some() {
        eprintln!("stopped before learning finished: no model was written");
    }
    let k = counters::read(&counter_map)?;
    metrics.set_kernel_totals(&k);
    metrics.set_flow_losses(&table.losses_settled(&k));
    det.out.events.finish(SystemTime::now())?;
    let _ = stop_server.send(());
    let _ = server.await;
    eprintln!(
        "summary: packets {}, flows exported {}, records delayed {}, flow starts and samples lost {} (ring buffer full)",
        k.get(Counter::Packets),
        removed_total,
        k.get(Counter::RecordsDelayed),
        k.get(Counter::RingbufLost)
    );
    Ok(())
}
