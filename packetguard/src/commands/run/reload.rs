//! SIGHUP: reopen the events file (after log rotation) and reload the models and the
//! config file's reloadable keys (`model`, `rules`), without detaching or losing a record.
//!
//! Whatever fails to load is reported in one line and the agent keeps what it has: a bad
//! new model, a config file with a typo. Queued rows are scored with the models they were
//! queued for before new ones take over. Other keys (interface, map sizes, timeouts, the
//! metrics address, rate limits) take effect on the next start.

use std::path::PathBuf;

use anyhow::Result;

use crate::pipeline::detectors::Detectors;
use crate::{
    config,
    detect::{models, rules::Rules},
    events::{open_queued, EventSink, EventTarget},
    metrics::Metrics,
};

/// What a reload reads again.
pub struct Reloadable {
    pub events: String,
    pub config: Option<PathBuf>,
    /// `--model` as given on the command line (it wins over the file's `model`).
    pub model_flag: Option<PathBuf>,
}

/// Handles one SIGHUP. Never fails the agent: each part that cannot be reloaded says why.
pub fn reload(r: &Reloadable, det: &mut Detectors, metrics: &Metrics) -> Result<()> {
    let target = EventTarget::parse(&r.events);
    if let EventTarget::File(path) = &target {
        match open_queued(&target, metrics.event_drop_counters()) {
            Ok(sink) => {
                det.out.events.replace_sink(EventSink::Queued(sink))?;
                eprintln!("SIGHUP: reopened the events file {}", path.display());
            }
            Err(e) => eprintln!("SIGHUP: keeping the events file open as it was: {e}"),
        }
    }
    let mut model = r.model_flag.clone();
    if let Some(path) = &r.config {
        match config::load(path)
            .map_err(anyhow::Error::from)
            .and_then(|file| {
                let rules = Rules::new(&file.rules)?;
                Ok((file.model, rules))
            }) {
            Ok((file_model, rules)) => {
                model = model.or(file_model);
                let n = rules.len();
                det.set_rules(rules, metrics)?;
                eprintln!("SIGHUP: reloaded {} ({n} threshold rules)", path.display());
            }
            Err(e) => {
                eprintln!("SIGHUP: keeping the current configuration: {e:#}");
                return Ok(());
            }
        }
    }
    if det.learner.is_some() {
        eprintln!("SIGHUP: learning; the models are trained at its end, not reloaded");
        return Ok(());
    }
    match models::load(model.as_deref()) {
        Ok(m) => {
            // What is queued was queued for the old models: score it with them first.
            det.score()?;
            det.install(m)?;
            eprintln!("SIGHUP: models reloaded");
        }
        Err(e) => eprintln!("SIGHUP: keeping the current models: {e:#}"),
    }
    Ok(())
}
