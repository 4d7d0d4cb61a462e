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
    config::{self, RuleConfig},
    datapath::{interface_index, interface_or_default, AttachOptions, Attachment, DataPathConfig},
    detect::{models, rules::Rules},
    events::{EventTarget, EventWriter, RateLimit},
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
    settings::{defaults, RunSettings},
    ui::{unix_ms, LiveState, SharedState},
};

/// Arguments of `packetguard run`: its settings (flags override the `--config` file).
pub type RunArgs = RunSettings;

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

fn settings(flags: RunSettings) -> Result<Settings> {
    let file = match &flags.config {
        Some(p) => config::load(p)?,
        None => RunSettings::default(),
    };
    let learn_from_config = flags.learn.is_none() && file.learn.is_some();
    let model_flag = flags.model.clone();
    let config = flags.config.clone();
    let s = flags.over(file);
    let events = s.events.clone().unwrap_or_else(|| defaults::EVENTS.into());
    Ok(Settings {
        iface: interface_or_default(s.iface.clone())?,
        model: s.model.clone(),
        learn_from_config,
        learn_overwrite: s.learn_overwrite,
        learn: s.learn,
        learn_contamination: s.learn_contamination.unwrap_or_default(),
        learn_dir: s.learn_dir.clone().unwrap_or_else(models::learned_dir),
        metrics_addr: s.metrics_addr.unwrap_or(defaults::METRICS_ADDR),
        ui: s.ui.unwrap_or(defaults::UI),
        events: events.clone(),
        attach: s.attach(),
        idle_timeout: s.idle_timeout(),
        datapath: s.datapath(),
        rate_limit: s.rate_limit(),
        flow_scores: s.flow_scores.clone(),
        rules: s.rules,
        reloadable: reload::Reloadable {
            events,
            config,
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
    // Flow starts feed the windows and the flow rows' context features; the kernel sends
    // them when either is built.
    s.datapath.emit_flow_starts = s.learn.is_some()
        || !rules.is_empty()
        || loaded
            .as_ref()
            .is_some_and(|m| m.flow.is_some() || m.host.is_some() || m.source.is_some());
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
