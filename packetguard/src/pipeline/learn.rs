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

/// The largest share of a learned model's rows one address may contribute, so that one
/// host (a scanner left running, an attacker warming up) cannot teach the model that its
/// traffic is normal. An address holding more is cut down to it before training.
pub const MAX_SHARE: f64 = 0.01;
/// ... but never fewer rows per address than this, so a host with only a handful of peers
/// can still learn.
pub const MIN_PER_ADDRESS: usize = 50;

/// A uniform sample of at most `cap` rows of `width` features (reservoir sampling), each
/// with the hash of the address it describes (see [`MAX_SHARE`]).
pub struct RowSample {
    width: usize,
    cap: usize,
    seen: u64,
    data: Vec<f64>,
    keys: Vec<u64>,
    rng: SmallRng,
}

/// The hash of an address, the key of [`RowSample::offer`].
pub fn address_key(addr: impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(addr)
}

impl RowSample {
    pub fn new(width: usize, cap: usize, seed: u64) -> Self {
        Self {
            width,
            cap,
            seen: 0,
            data: Vec::new(),
            keys: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// Offers a row describing the address whose [`address_key`] is `key`; rows with a NaN
    /// or infinity are not kept.
    pub fn offer(&mut self, row: &[f64], key: u64) {
        debug_assert_eq!(row.len(), self.width);
        if !row.iter().all(|v| v.is_finite()) {
            return;
        }
        self.seen += 1;
        if self.rows() < self.cap {
            self.data.extend_from_slice(row);
            self.keys.push(key);
            return;
        }
        let j = self.rng.random_range(0..self.seen);
        if (j as usize) < self.cap {
            let at = j as usize * self.width;
            self.data[at..at + self.width].copy_from_slice(row);
            self.keys[j as usize] = key;
        }
    }

    /// The rows to train on: the sample with every address cut down to [`MAX_SHARE`] of it
    /// (at least [`MIN_PER_ADDRESS`] rows each), and how many rows were cut. The sample is
    /// in random order, so the rows an address keeps are a uniform choice of its rows.
    pub fn capped(&self) -> (Vec<f64>, usize) {
        let per_address = ((self.rows() as f64 * MAX_SHARE) as usize).max(MIN_PER_ADDRESS);
        let mut counts: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let mut kept = Vec::with_capacity(self.data.len());
        let mut cut = 0;
        for (row, key) in self.data.chunks_exact(self.width).zip(&self.keys) {
            let n = counts.entry(*key).or_default();
            if *n < per_address {
                *n += 1;
                kept.extend_from_slice(row);
            } else {
                cut += 1;
            }
        }
        (kept, cut)
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.width
    }

    /// Rows offered (finite ones), kept or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    #[cfg(test)]
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
    duration: Duration,
}

impl Learner {
    /// Learns from `now` (on the pipeline's clock) for `duration`.
    pub fn new(duration: Duration, contamination: Contamination, now: Instant) -> Self {
        Self {
            until: now + duration,
            flows: RowSample::new(flow::NAMES.len(), MAX_ROWS, 1),
            hosts: RowSample::new(host::NAMES.len(), MAX_ROWS, 2),
            sources: RowSample::new(source::NAMES.len(), MAX_ROWS, 3),
            contamination,
            started: now,
            duration,
        }
    }

    /// Starts the learning time again from `now`: it counts from when traffic is seen
    /// (after attaching, which may take seconds of verifier time), not from start-up.
    pub fn restart(&mut self, now: Instant) {
        self.started = now;
        self.until = now + self.duration;
    }

    /// Trains the flow, host and source models on what was collected and writes them
    /// (atomically) into `dir`. A detector with fewer than [`MIN_ROWS`] rows gets no model
    /// and says so.
    pub fn finish(self, dir: &Path, now: Instant) -> Result<Models> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the learned-model directory {}", dir.display()))?;
        let elapsed = now.saturating_duration_since(self.started);
        let mut models = Models::default();
        for (kind, sample, names) in [
            (ModelKind::Flow, &self.flows, flow::NAMES),
            (ModelKind::Host, &self.hosts, host::NAMES),
            (ModelKind::Source, &self.sources, source::NAMES),
        ] {
            let d = detector_of(kind);
            let (rows, cut) = sample.capped();
            let n = rows.len() / names.len();
            if cut > 0 {
                eprintln!(
                    "learn: {cut} {} rows left out: no address may give more than {}% of a model's rows",
                    d.as_str(),
                    MAX_SHARE * 100.0
                );
            }
            if n < MIN_ROWS {
                eprintln!(
                    "learn: only {n} {} rows in {}: too few to train a {} model (need {MIN_ROWS})",
                    d.as_str(),
                    humantime::format_duration(round_secs(elapsed)),
                    d.as_str()
                );
                continue;
            }
            let view = ArrayView2::from_shape((n, names.len()), &rows).expect("whole rows");
            let params = ForestParams {
                kind: kind.as_str().into(),
                contamination: self.contamination,
                ..ForestParams::default()
            };
            let model = Model::fit(view, Schema::uniform(names, Transform::Log1p), &params)
                .with_context(|| format!("training the {} model", d.as_str()))?;
            let path = dir.join(file_name(d).expect("every model kind has a file name"));
            keep_previous(&path)?;
            model
                .save(&path)
                .with_context(|| format!("saving the learned model {}", path.display()))?;
            eprintln!(
                "learn: {} model {} trained on {} rows (of {} seen), threshold {:.4}, saved to {}",
                d.as_str(),
                model.id(),
                n,
                sample.seen(),
                model.threshold(),
                path.display()
            );
            models.set(kind, Loaded { model, path });
        }
        Ok(models)
    }
}

/// Moves a model learned before out of the way (to `NAME.previous`), so a new learn never
/// destroys the last one. Only reached when overwriting was asked for (see
/// [`existing_models`]).
fn keep_previous(path: &Path) -> Result<()> {
    if path.exists() {
        let mut previous = path.as_os_str().to_owned();
        previous.push(".previous");
        std::fs::rename(path, &previous)
            .with_context(|| format!("keeping the previous model {}", path.display()))?;
    }
    Ok(())
}

/// The learned models already in `dir`, by file name.
pub fn existing_models(dir: &Path) -> Vec<&'static str> {
    [ModelKind::Flow, ModelKind::Host, ModelKind::Source]
        .into_iter()
        .filter_map(|k| file_name(detector_of(k)))
        .filter(|f| dir.join(f).exists())
        .collect()
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
            s.offer(&[i as f64, 1.0], i);
        }
        s.offer(&[f64::NAN, 1.0], 0);
        assert_eq!(s.rows(), 100);
        assert_eq!(s.seen(), 10_000);
        // A uniform sample of 0..10000 has most of its rows past the first 100.
        let late = s.view().column(0).iter().filter(|v| **v >= 100.0).count();
        assert!(late > 90, "only {late} rows from past the first 100");
    }

    #[test]
    fn no_address_gives_more_than_its_share_of_the_rows_learned() {
        let mut s = RowSample::new(1, MAX_ROWS, 3);
        // 100 ordinary addresses with 100 rows each, and one with 40,000.
        for a in 0..100u64 {
            for _ in 0..100 {
                s.offer(&[a as f64], a);
            }
        }
        for _ in 0..40_000 {
            s.offer(&[-1.0], 999);
        }
        let (rows, cut) = s.capped();
        let per_address = (50_000.0 * MAX_SHARE) as usize; // 500
        let loud = rows.iter().filter(|v| **v == -1.0).count();
        assert_eq!(loud, per_address);
        assert_eq!(cut, 40_000 - per_address);
        assert_eq!(
            rows.len(),
            10_000 + per_address,
            "the ordinary rows all stay"
        );
    }

    #[test]
    fn source_rows_learn_a_source_model_and_a_detector_with_too_few_rows_gets_none() {
        let dir = std::env::temp_dir().join(format!("pg-learn-{}", std::process::id()));
        let mut l = Learner::new(Duration::from_secs(1), Contamination::Auto, Instant::now());
        for i in 0..MIN_ROWS {
            let mut row = [0.0; source::NAMES.len()];
            row[0] = i as f64;
            row[2] = (i % 4) as f64;
            l.sources.offer(&row, i as u64);
        }
        l.hosts.offer(&[1.0; host::NAMES.len()], 1);
        let models = l.finish(&dir, Instant::now()).unwrap();
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
