//! The verdict sink of `analyze`: counts every verdict per detector, and with
//! `--json-verdicts` writes each as one JSON line; for `evaluate` it also keeps them.

use std::{
    cell::RefCell,
    fs::File,
    io::{BufWriter, Write},
    rc::Rc,
};

use anyhow::{Context, Result};
use serde_json::json;

use crate::{events::Detector, pipeline::sinks::verdicts::VerdictSink, verdict::Verdict};

#[derive(Default)]
struct Inner {
    /// (verdicts, anomalies) per detector, in [`Detector::ALL`] order.
    counts: [(u64, u64); 4],
    out: Option<BufWriter<File>>,
    /// Every verdict, when the caller judges them afterwards (`evaluate`).
    kept: Option<Vec<Verdict>>,
    /// Whether verdicts carry their rows' feature values (`evaluate --rows`).
    values: bool,
    /// The first write error: a sink cannot return one, so it is kept for [`Counted::finish`].
    failed: Option<std::io::Error>,
}

/// A handle on the sink; clones share it.
#[derive(Clone, Default)]
pub struct Counted(Rc<RefCell<Inner>>);

impl Counted {
    /// A sink writing to `out` (if any) and, with `keep`, keeping every verdict.
    pub fn new(out: Option<BufWriter<File>>, keep: bool) -> Self {
        Counted(Rc::new(RefCell::new(Inner {
            out,
            kept: keep.then(Vec::new),
            ..Inner::default()
        })))
    }

    /// The sink, asking for each verdict's feature values too when `on`.
    pub fn with_values(self, on: bool) -> Self {
        self.0.borrow_mut().values = on;
        self
    }

    /// The verdicts kept so far (none without `keep`), leaving the sink's list empty.
    pub fn take_kept(&self) -> Vec<Verdict> {
        self.0
            .borrow_mut()
            .kept
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Flushes the verdicts file; returns each detector's (verdicts, anomalies).
    pub fn finish(&self) -> Result<Vec<(Detector, u64, u64)>> {
        let mut inner = self.0.borrow_mut();
        if let Some(e) = inner.failed.take() {
            return Err(e).context("writing the verdicts file");
        }
        if let Some(out) = &mut inner.out {
            out.flush().context("writing the verdicts file")?;
        }
        Ok(Detector::ALL
            .iter()
            .map(|d| {
                let (all, anomalies) = inner.counts[d.index()];
                (*d, all, anomalies)
            })
            .collect())
    }
}

/// One verdict as a JSON value.
pub fn to_json(v: &Verdict) -> serde_json::Value {
    json!({
        "ts_unix_ms": v.ts_ns / 1_000_000,
        "detector": v.detector.as_str(),
        "rule": v.rule,
        "subject": v.subject,
        "score": v.score,
        "threshold": v.threshold,
        "anomaly": v.anomaly,
        "top_features": v.top_features,
    })
}

impl VerdictSink for Counted {
    fn verdict(&mut self, v: Verdict) {
        let mut inner = self.0.borrow_mut();
        let c = &mut inner.counts[v.detector.index()];
        c.0 += 1;
        c.1 += u64::from(v.anomaly);
        if inner.failed.is_none() {
            if let Some(out) = &mut inner.out {
                if let Err(e) = writeln!(out, "{}", to_json(&v)) {
                    inner.failed = Some(e);
                }
            }
        }
        if let Some(kept) = &mut inner.kept {
            kept.push(v);
        }
    }

    fn wants_values(&self) -> bool {
        self.0.borrow().values
    }
}
