//! `packetguard run`: the detector. Attach, drain, score every flow record with the flow
//! model and every destination's one-second window with the host model, export Prometheus
//! metrics and JSON anomaly events, shut down cleanly.
//!
//! - this file: arguments, settings, and the main loop.
//! - [`detectors`]: every detector and the windows that feed them.
//! - [`http`]: the metrics server on its own thread.
//! - [`pipeline`]: a detector with its scorer, metrics and events.
//! - [`scores_out`]: `--flow-scores`, every scored flow as CSV.
//! - [`reload`]: SIGHUP, reopening the events file and reloading models and rules.
//! - [`learn`]: `--learn`, training both models on this host's own traffic.
//!
//! The live page's state ([`crate::ui`]) is fed from here: once a tick (traffic, anomaly
//! rates, health) and from the pipelines (scored points, anomalies).

mod detectors;
mod http;
mod learn;
mod pipeline;
mod reload;
mod scores_out;

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
    limits,
    metrics::{self, DrainBatch, Metrics},
    ui::{state::TickInputs, unix_ms, LiveState, SharedState},
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
    /// Where `/metrics` is served, and the live page at `/` with its JSON API under
    /// `/api/`.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Do not serve the live page and its JSON API: only `/metrics` and `/healthz`.
    #[arg(long)]
    pub no_ui: bool,
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
    /// A flow with no packet for this long is exported, scored and removed (default 15s).
    #[arg(long, value_parser = limits::IDLE_TIMEOUT.parser())]
    pub idle_timeout: Option<Duration>,
    /// A long-lived flow is exported and scored every this long (default 60s).
    #[arg(long, value_parser = limits::ACTIVE_TIMEOUT.parser())]
    pub active_timeout: Option<Duration>,
    /// Kernel flow map size (default 262144; least recently used flows are evicted beyond).
    #[arg(long, value_parser = limits::FLOW_ENTRIES.parse_u32())]
    pub flow_entries: Option<u32>,
    /// Learn a baseline from this host's traffic for this long (e.g. 1h), train both
    /// models, save them to /var/lib/packetguard/models (or $STATE_DIRECTORY/models), then
    /// detect with them. Only learn on traffic you trust to be normal.
    #[arg(long, value_parser = limits::LEARN.parser())]
    pub learn: Option<Duration>,
    /// Expected share of anomalies in the learned traffic (`auto`: threshold 0.5).
    #[arg(long)]
    pub learn_contamination: Option<Contamination>,
    /// Where `--learn` writes its models (default: see --learn).
    #[arg(long)]
    pub learn_dir: Option<PathBuf>,
    /// Let `--learn` replace models learned before (they are kept as NAME.previous);
    /// without it a learn over existing learned models is refused.
    #[arg(long)]
    pub learn_overwrite: bool,
    /// Stop after this long (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = limits::RUN_DURATION.parser())]
    pub duration: Option<Duration>,
    /// Write every scored flow record (key, the model's features, score, verdict) to this
    /// CSV file, for evaluating the flow model on live traffic.
    #[arg(long)]
    pub flow_scores: Option<PathBuf>,
}

/// Settings after merging flags over the config file over defaults.
struct Settings {
    iface: String,
    model: Option<PathBuf>,
    learn: Option<Duration>,
    /// `learn` came from the config file, not from `--learn`.
    learn_from_config: bool,
    learn_overwrite: bool,
    learn_contamination: Contamination,
    learn_dir: PathBuf,
    metrics_addr: SocketAddr,
    /// Serve the live page and its API.
    ui: bool,
    events: String,
    attach: AttachOptions,
    idle_timeout: Duration,
    datapath: DataPathConfig,
    rate_limit: RateLimit,
    rules: Vec<RuleConfig>,
    flow_scores: Option<PathBuf>,
    reloadable: reload::Reloadable,
}

fn settings(args: RunArgs) -> Result<Settings> {
    let file = match &args.config {
        Some(p) => config::load(p)?,
        None => RunConfig::default(),
    };
    let iface = interface_or_default(args.iface.or(file.iface))?;
    let model_flag = args.model.clone();
    let events_arg = args
        .events
        .clone()
        .or(file.events.clone())
        .unwrap_or_else(|| "-".into());
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
    if let Some(b) = file.event_budget_per_s {
        rate_limit.global_per_s = b;
    }
    Ok(Settings {
        iface,
        model: args.model.or(file.model),
        learn_from_config: args.learn.is_none() && file.learn.is_some(),
        learn_overwrite: args.learn_overwrite,
        learn: args.learn.or(file.learn),
        learn_contamination: args.learn_contamination.unwrap_or_default(),
        learn_dir: args.learn_dir.unwrap_or_else(models::learned_dir),
        metrics_addr: args
            .metrics_addr
            .or(file.metrics_addr)
            .unwrap_or(metrics::DEFAULT_METRICS_ADDR),
        ui: !args.no_ui && file.ui.unwrap_or(true),
        events: events_arg.clone(),
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
        flow_scores: args.flow_scores,
        reloadable: reload::Reloadable {
            events: events_arg,
            config: args.config,
            model_flag,
        },
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
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    // Models first: a bad model must fail before anything is bound or attached.
    if s.learn.is_some() {
        let existing = learn::existing_models(&s.learn_dir);
        if !existing.is_empty() && !s.learn_overwrite {
            let listed = format!("{} ({})", s.learn_dir.display(), existing.join(", "));
            anyhow::ensure!(
                s.learn_from_config,
                "learned models are already in {listed}: pass --learn-overwrite to replace them (the current ones are kept as NAME.previous)"
            );
            // `learn` in the config file learns once, not on every restart.
            eprintln!(
                "learned models are already in {listed}: detecting with them, not learning again"
            );
            s.learn = None;
            // The default search starts at the default learned directory; a custom one
            // has to be named.
            if s.model.is_none() && s.learn_dir != models::learned_dir() {
                s.model = Some(s.learn_dir.clone());
            }
        }
    }
    let loaded = match s.learn {
        Some(_) => None,
        None => Some(models::load(s.model.as_deref())?),
    };
    let rules = Rules::new(&s.rules)?;
    // Flow starts feed the windows and the flow rows' context features; the kernel sends
    // them when either is built.
    s.datapath.emit_flow_starts = s.learn.is_some()
        || !rules.is_empty()
        || loaded
            .as_ref()
            .is_some_and(|m| m.flow.is_some() || m.host.is_some() || m.source.is_some());
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_flow_table_capacity(s.datapath.flow_entries as u64);
    let live = s.ui.then(|| {
        let mut state = LiveState::new(unix_ms(SystemTime::now()));
        state.health.flow_table_capacity = u64::from(s.datapath.flow_entries);
        SharedState::new(state)
    });
    // Bind before attaching: a port in use must fail with nothing attached.
    let listener = metrics::bind(s.metrics_addr).await?;
    let events = EventWriter::open(
        &EventTarget::parse(&s.events),
        s.rate_limit,
        metrics.event_drop_counters(),
    )?;
    let mut det = Detectors::new(
        Outputs {
            events,
            metrics: metrics.clone(),
            live: live.clone(),
        },
        rules,
        s.learn.map(|d| Learner::new(d, s.learn_contamination)),
    )?;
    if let Some(path) = &s.flow_scores {
        det.flow_scores = Some(scores_out::FlowScores::create(
            path,
            metrics.flow_score_drop_counters(),
        )?);
    }
    if let Some(models) = loaded {
        det.install(models)?;
    }

    let mut dp = DataPath::load(&s.datapath)?;
    let attached = dp.attach(&s.iface, s.attach)?;
    eprintln!(
        "attached: {}; metrics on http://{}/metrics",
        crate::datapath::Attachment::describe(attached),
        s.metrics_addr
    );
    match &live {
        Some(live) => {
            live.lock().health.attached = attached.iter().map(|a| a.to_string()).collect();
            eprintln!("live page on http://{}/", s.metrics_addr);
        }
        None => eprintln!("live page off (--no-ui)"),
    }
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

    let server = http::start(listener, metrics.clone(), live.clone())?;

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // After a stall, one tick a second from then on, not a burst of the missed ones: each
    // window is scored on its real length (see `detectors::MIN_WINDOW`).
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut removed_total = 0u64;
    let mut err = None;
    tokio::pin!(stop);
    det.window_opened = Instant::now();
    let reason = loop {
        tokio::select! {
            r = &mut stop => break r,
            _ = hangup.recv() => reload::reload(&s.reloadable, &mut det, &metrics)?,
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
                let entries = (st.entries - st.removed) as u64;
                metrics.set_flow_table_entries(entries);
                det.score()?;
                // After scoring, so this second's windows count in this second's rate.
                det.out.live(|l| {
                    l.tick(unix_ms(SystemTime::now()), &k, TickInputs {
                        flow_table_entries: entries,
                        events_dropped: metrics.events_dropped(),
                    })
                });
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
    server.stop(Duration::from_secs(2));
    eprintln!(
        "summary: packets {}, flows exported {}, records delayed {}, flow starts and samples lost {} (ring buffer full)",
        k.get(Counter::Packets),
        removed_total,
        k.get(Counter::RecordsDelayed),
        k.get(Counter::RingbufLost)
    );
    Ok(())
}
