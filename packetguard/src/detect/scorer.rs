//! A batch scorer shared by both detectors: rows are queued with a tag saying what they
//! describe (a flow's endpoints, a host), scored together so the forest walks several rows
//! per tree at once, and read back with their verdicts.

use std::path::Path;

use ndarray::Array2;
use packetguard_forest::{Attribution, Model, Verdict};

use crate::events::{Detector, Subject};

/// Rows scored together.
pub const BATCH: usize = 1024;
/// Features named in an anomaly event.
pub const TOP_FEATURES: usize = 3;

/// What a scored row describes.
pub trait Tag: Copy {
    /// The detector whose rows carry this tag.
    const DETECTOR: Detector;
    /// The subject of an anomaly event about this row.
    fn subject(&self) -> Subject;
}

/// One scored row.
pub struct Scored<'a, T> {
    pub tag: T,
    pub score: f64,
    pub verdict: Verdict,
    /// The model's feature values for this row (raw, before the model's transforms).
    pub row: &'a [f64],
}

/// Batch scorer. Buffers are allocated once; pushing and scoring do not allocate.
pub struct Scorer<T> {
    model: Model,
    /// The detector's feature names, in the order rows are pushed.
    names: &'static [&'static str],
    /// For each model feature, its position in `names`.
    positions: Vec<usize>,
    rows: Array2<f64>,
    tags: Vec<T>,
    scores: Vec<f64>,
    len: usize,
}

impl<T: Tag> Scorer<T> {
    /// A scorer for rows of the features `names`; fails if the model (read from `path`)
    /// needs a feature that is not among them.
    pub fn new(model: Model, path: &Path, names: &'static [&'static str]) -> anyhow::Result<Self> {
        let positions = model.schema().positions_in(names).map_err(|missing| {
            anyhow::anyhow!(
                "model {} does not match the {} schema: features {} are not {} features",
                path.display(),
                T::DETECTOR.as_str(),
                missing.join(", "),
                T::DETECTOR.as_str()
            )
        })?;
        let n = positions.len();
        Ok(Self {
            model,
            names,
            positions,
            rows: Array2::zeros((BATCH, n)),
            tags: Vec::with_capacity(BATCH),
            scores: vec![0.0; BATCH],
            len: 0,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// True when the batch is full and must be scored before the next push.
    pub fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// Queues a row (every feature of `names`, in that order). Score first when full.
    pub fn push(&mut self, tag: T, all: &[f64]) {
        debug_assert!(!self.is_full());
        debug_assert_eq!(all.len(), self.names.len());
        let mut row = self.rows.row_mut(self.len);
        for (dst, &pos) in row.iter_mut().zip(&self.positions) {
            *dst = all[pos];
        }
        self.tags.push(tag);
        self.len += 1;
    }

    /// Scores every queued row; read them with [`Self::scores`] and [`Self::result`], then
    /// empty the batch with [`Self::clear`]. Returns how many were scored.
    pub fn score_pending(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            self.model
                .score_batch(self.rows.slice(ndarray::s![..n, ..]), &mut self.scores[..n]);
        }
        n
    }

    /// Scores of the rows scored by the last [`Self::score_pending`].
    pub fn scores(&self) -> &[f64] {
        &self.scores[..self.len]
    }

    /// Row `i` of the scored batch.
    pub fn result(&self, i: usize) -> Scored<'_, T> {
        let score = self.scores[i];
        Scored {
            tag: self.tags[i],
            score,
            verdict: self.model.verdict(score),
            row: self.rows.row(i).to_slice().expect("rows are contiguous"),
        }
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.tags.clear();
        self.len = 0;
    }

    /// The features that isolated `row` most.
    pub fn explain(&self, row: &[f64], out: &mut [Attribution; TOP_FEATURES]) -> usize {
        self.model.explain_into(row, out)
    }

    /// The name of model feature `i`.
    pub fn feature_name(&self, i: usize) -> &'static str {
        self.names[self.positions[i]]
    }
}
