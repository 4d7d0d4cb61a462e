//! `--learn DURATION`: collect this host's own flow records, destination (host) windows and
//! source windows for a while, train the flow, host and source models on them, save them,
//! and detect with them from then on.
//!
//! Rows are kept in a uniform reservoir sample of bounded size, so learning for a day on a
//! busy link takes the same memory as learning for a minute.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use ndarray::ArrayView2;
use packetguard_forest::{cli::ModelKind, Contamination, ForestParams, Model, Schema, Transform};
use rand::{rngs::SmallRng, Rng, SeedableRng};

use crate::{
    detect::models::{detector_of, file_name, Loaded, Models},
    detect::{flow, host, source},
};

/// Rows kept per detector (a uniform sample of everything seen).
pub const MAX_ROWS: usize = 200_000;
/// Fewer rows than this is too little to learn from: the detector keeps its default model.
pub const MIN_ROWS: usize = 32;

/// A uniform sample of at most `cap` rows of `width` features (reservoir sampling).
pub struct RowSample {
    width: usize,
    cap: usize,
    seen: u64,
    data: Vec<f64>,
    rng: SmallRng,
}

impl RowSample {
    pub fn new(width: usize, cap: usize, seed: u64) -> Self {
        Self {
            width,
            cap,
            seen: 0,
            data: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// Offers a row; rows with a NaN or infinity are not kept.
    pub fn offer(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.width);
        if !row.iter().all(|v| v.is_finite()) {
            return;
        }
        self.seen += 1;
        if self.rows() < self.cap {
            self.data.extend_from_slice(row);
            return;
        }
        let j = self.rng.random_range(0..self.seen);
        if (j as usize) < self.cap {
            let at = j as usize * self.width;
            self.data[at..at + self.width].copy_from_slice(row);
        }
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.width
    }

    /// Rows offered (finite ones), kept or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn view(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.rows(), self.width), &self.data).expect("whole rows")
    }
}

/// The learning phase of `run`: one sample per model, fed by the run loop.
pub struct Learner {
    pub until: Instant,
    /// Flow rows (`flow::NAMES`).
    pub flows: RowSample,
    /// Destination window rows (`host::NAMES`).
    pub hosts: RowSample,
    /// Source window rows (`source::NAMES`).
    pub sources: RowSample,
    contamination: Contamination,
    started: Instant,
}

impl Learner {
    pub fn new(duration: Duration, contamination: Contamination) -> Self {
        let now = Instant::now();
        Self {
            until: now + duration,
            flows: RowSample::new(flow::NAMES.len(), MAX_ROWS, 1),
            hosts: RowSample::new(host::NAMES.len(), MAX_ROWS, 2),
            sources: RowSample::new(source::NAMES.len(), MAX_ROWS, 3),
            contamination,
            started: now,
        }
    }

    /// Trains the flow, host and source models on what was collected and writes them
    /// (atomically) into `dir`. A detector with fewer than [`MIN_ROWS`] rows gets no model
    /// and says so.
    pub fn finish(self, dir: &Path) -> Result<Models> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the learned-model directory {}", dir.display()))?;
        let elapsed = self.started.elapsed();
        let mut models = Models::default();
        for (kind, sample, names) in [
            (ModelKind::Flow, &self.flows, flow::NAMES),
            (ModelKind::Host, &self.hosts, host::NAMES),
            (ModelKind::Source, &self.sources, source::NAMES),
        ] {
            let d = detector_of(kind);
            if sample.rows() < MIN_ROWS {
                eprintln!(
                    "learn: only {} {} rows in {}: too few to train a {} model (need {MIN_ROWS})",
                    sample.rows(),
                    d.as_str(),
                    humantime::format_duration(round_secs(elapsed)),
                    d.as_str()
                );
                continue;
            }
            let params = ForestParams {
                kind: kind.as_str().into(),
                contamination: self.contamination,
                ..ForestParams::default()
            };
            let model = Model::fit(
                sample.view(),
                Schema::uniform(names, Transform::Log1p),
                &params,
            )
            .with_context(|| format!("training the {} model", d.as_str()))?;
            let path = dir.join(file_name(d).expect("every model kind has a file name"));
            model
                .save(&path)
                .with_context(|| format!("saving the learned model {}", path.display()))?;
            eprintln!(
                "learn: {} model {} trained on {} rows (of {} seen), threshold {:.4}, saved to {}",
                d.as_str(),
                model.id(),
                sample.rows(),
                sample.seen(),
                model.threshold(),
                path.display()
            );
            models.set(kind, Loaded { model, path });
        }
        Ok(models)
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reservoir_keeps_at_most_cap_rows_drawn_from_everything_offered() {
        let mut s = RowSample::new(2, 100, 7);
        for i in 0..10_000 {
            s.offer(&[i as f64, 1.0]);
        }
        s.offer(&[f64::NAN, 1.0]);
        assert_eq!(s.rows(), 100);
        assert_eq!(s.seen(), 10_000);
        // A uniform sample of 0..10000 has most of its rows past the first 100.
        let late = s.view().column(0).iter().filter(|v| **v >= 100.0).count();
        assert!(late > 90, "only {late} rows from past the first 100");
    }

    #[test]
    fn source_rows_learn_a_source_model_and_a_detector_with_too_few_rows_gets_none() {
        let dir = std::env::temp_dir().join(format!("pg-learn-{}", std::process::id()));
        let mut l = Learner::new(Duration::from_secs(1), Contamination::Auto);
        for i in 0..MIN_ROWS {
            let mut row = [0.0; source::NAMES.len()];
            row[0] = i as f64;
            row[2] = (i % 4) as f64;
            l.sources.offer(&row);
        }
        l.hosts.offer(&[1.0; host::NAMES.len()]);
        let models = l.finish(&dir).unwrap();
        let learned = models.source.as_ref().unwrap();
        assert_eq!(learned.path, dir.join("source.pgm"));
        assert_eq!(learned.model.info().kind, "source");
        assert_eq!(learned.model.info().rows, MIN_ROWS as u64);
        assert!(models.flow.is_none() && models.host.is_none());
        assert!(!dir.join("host.pgm").exists());
        let reloaded = crate::detect::models::load(Some(&dir)).unwrap();
        assert!(reloaded.source.is_some() && reloaded.host.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
