//! The flow detector: every flow record the kernel (or idle expiry) produces is scored with
//! the flow model, in batches so the forest walks several rows per tree at once.

use std::path::Path;

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use packetguard_common::{
    features::{FLOW_FEATURES, N_FLOW_FEATURES},
    FlowRecord,
};
use packetguard_forest::{Attribution, Model, Verdict};

use crate::flows::{features::flow_features, Endpoints};

/// Rows scored together.
pub const BATCH: usize = 1024;
/// Features named in an anomaly event.
pub const TOP_FEATURES: usize = 3;

/// One scored record.
pub struct Scored<'a> {
    pub endpoints: Endpoints,
    pub score: f64,
    pub verdict: Verdict,
    /// The model's feature values for this record (raw, before the model's transforms).
    pub row: &'a [f64],
}

/// Batch scorer for flow records. Buffers are allocated once; pushing and scoring do not
/// allocate.
pub struct FlowDetector {
    model: Model,
    /// For each model feature, its position in [`FLOW_FEATURES`].
    positions: Vec<usize>,
    rows: Array2<f64>,
    endpoints: Vec<Endpoints>,
    scores: Vec<f64>,
    len: usize,
}

/// Loads the flow model from a file, or `flow.pgm` inside a directory.
pub fn load_model(path: &Path) -> Result<(Model, std::path::PathBuf)> {
    let file = if path.is_dir() {
        path.join("flow.pgm")
    } else {
        path.to_path_buf()
    };
    if !file.exists() {
        bail!(
            "no flow model at {}; pass --model FILE, or train one with `packetguard train` (see README)",
            file.display()
        );
    }
    let model =
        Model::load(&file).with_context(|| format!("loading the flow model {}", file.display()))?;
    Ok((model, file))
}

impl FlowDetector {
    pub fn new(model: Model, path: &Path) -> Result<Self> {
        let positions = model
            .schema()
            .positions_in(&FLOW_FEATURES)
            .map_err(|missing| {
                anyhow::anyhow!(
                    "model {} does not match the flow schema: features {} are not flow features",
                    path.display(),
                    missing.join(", ")
                )
            })?;
        let n = positions.len();
        Ok(Self {
            model,
            positions,
            rows: Array2::zeros((BATCH, n)),
            endpoints: Vec::with_capacity(BATCH),
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

    /// Queues a record for scoring. Call [`Self::score`] when full.
    pub fn push(&mut self, rec: &FlowRecord) {
        debug_assert!(!self.is_full());
        let all: [f64; N_FLOW_FEATURES] = flow_features(&rec.stats);
        let mut row = self.rows.row_mut(self.len);
        for (dst, &pos) in row.iter_mut().zip(&self.positions) {
            *dst = all[pos];
        }
        self.endpoints
            .push(Endpoints::of(&rec.key, rec.stats.fwd_is_a));
        self.len += 1;
    }

    /// Scores every queued record; read them with [`Self::scores`] and [`Self::result`],
    /// then empty the batch with [`Self::clear`]. Returns how many were scored.
    pub fn score_pending(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            self.model
                .score_batch(self.rows.slice(ndarray::s![..n, ..]), &mut self.scores[..n]);
        }
        n
    }

    /// Scores of the records scored by the last [`Self::score_pending`].
    pub fn scores(&self) -> &[f64] {
        &self.scores[..self.len]
    }

    /// Record `i` of the scored batch.
    pub fn result(&self, i: usize) -> Scored<'_> {
        let score = self.scores[i];
        Scored {
            endpoints: self.endpoints[i],
            score,
            verdict: self.model.verdict(score),
            row: self.rows.row(i).to_slice().expect("rows are contiguous"),
        }
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.endpoints.clear();
        self.len = 0;
    }

    /// The features that isolated `row` most, with their names.
    pub fn explain(&self, row: &[f64], out: &mut [Attribution; TOP_FEATURES]) -> usize {
        self.model.explain_into(row, out)
    }

    /// The flow feature name of model feature `i`.
    pub fn feature_name(&self, i: usize) -> &'static str {
        FLOW_FEATURES[self.positions[i]]
    }
}
