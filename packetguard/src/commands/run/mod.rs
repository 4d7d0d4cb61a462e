//! `packetguard run`: the detector. Attach, drain, score every flow record with the flow
//! model and every destination's one-second window with the host model, export Prometheus
//! metrics and JSON anomaly events, shut down cleanly.
//!
//! A configuration of the live pipeline ([`crate::pipeline`]) whose stage is the
//! detectors with every sink: events, metrics, the live page, `--flow-scores`.
//!
//! - this file: arguments, settings, and setting the stage up.
//! - [`stage`]: what the live loop does with the detectors each batch and tick.
//! - [`http`]: the metrics server on its own thread.
//! - [`reload`]: SIGHUP, reopening the events file and reloading models and rules.
//!
//! The live page's state ([`crate::ui`]) is fed from the stage once a tick (traffic,
//! anomaly rates, health) and from the detectors (scored points, anomalies).

mod http;
mod reload;
mod stage;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Result;
use packetguard_forest::Contamination;

use crate::{
    commands::shutdown::stop_signal,
    config::{self, RuleConfig, RunConfig},
    datapath::{
        interface_index, interface_or_default, AttachMode, AttachOptions, Attachment,
        DataPathConfig, Direction, TcMode,
    },
    detect::{models, rules::Rules},
    events::{EventTarget, EventWriter, RateLimit},
    limits,
    metrics::{self, Metrics},
    pipeline::{
        clock::Clock,
        detector::Outputs,
        detectors::Detectors,
        learn::{self, Learner},
        live::LiveSource,
        session,
        sinks::scores::FlowScores,
    },
    ui::{unix_ms, LiveState, SharedState},
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
    session::block_on(detect(s, duration))
}

async fn detect(mut s: Settings, duration: Option<Duration>) -> Result<()> {
    let stop = stop_signal(duration)?;
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
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
    // Flow starts feed the windows only; the kernel sends them when those are built.
    s.datapath.emit_flow_starts = s.learn.is_some()
        || !rules.is_empty()
        || loaded
            .as_ref()
            .is_some_and(|m| m.host.is_some() || m.source.is_some());
    let clock = Clock::live();
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_flow_table_capacity(s.datapath.flow_entries as u64);
    let live = s.ui.then(|| {
        let mut state = LiveState::new(unix_ms(clock.now().wall));
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
    let learner = s
        .learn
        .map(|d| Learner::new(d, s.learn_contamination, clock.now().mono));
    let mut det = Detectors::new(
        Outputs {
            events,
            metrics: metrics.clone(),
            live: live.clone(),
            verdicts: None,
            clock,
        },
        rules,
        learner,
    )?;
    if let Some(path) = &s.flow_scores {
        det.flow_scores = Some(FlowScores::create(
            path,
            metrics.flow_score_drop_counters(),
        )?);
    }
    if let Some(models) = loaded {
        det.install(models)?;
    }

    let mut src = LiveSource::open(
        &s.datapath,
        std::slice::from_ref(&s.iface),
        s.attach,
        true,
        |attached| {
            eprintln!(
                "attached: {}; metrics on http://{}/metrics",
                Attachment::describe(attached),
                s.metrics_addr
            );
            if let Some(live) = &live {
                live.lock().health.attached = attached.iter().map(|a| a.to_string()).collect();
            }
        },
    )?;
    match &live {
        Some(_) => eprintln!("live page on http://{}/", s.metrics_addr),
        None => eprintln!("live page off (--no-ui)"),
    }
    if let Some(d) = s.learn {
        eprintln!(
            "learning this host's traffic for {}: nothing is scored until then; models go to {}",
            humantime::format_duration(d),
            s.learn_dir.display()
        );
    }
    let server = http::start(listener, metrics.clone(), live.clone())?;
    det.start();
    let mut stage = stage::Detect {
        det,
        metrics,
        reloadable: s.reloadable,
        learn_dir: s.learn_dir,
        removed_total: 0,
        server: Some(server),
    };
    session::run(&mut stage, &mut src, stop, Some(hangup), s.idle_timeout).await
}
