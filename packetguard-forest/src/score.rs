//! Scoring: `s(x) = 2^(-E[h(x)] / c(psi))`, the same quantity as scikit-learn's
//! `-score_samples`. Scores lie in (0, 1]; well above 0.5 is anomalous, well below normal.
//!
//! Nothing here allocates: a row block's transformed values live in a stack buffer.

use ndarray::ArrayView2;

use crate::forest::LANES;
use crate::model::{Model, Verdict};
use crate::schema::MAX_FEATURES;

/// Floats per row slot in the stack buffers: every feature plus the NaN slot leaves use.
const SLOT: usize = MAX_FEATURES + 1;

impl Model {
    /// Anomaly score of one row of raw values in schema order.
    ///
    /// NaN values go to the right of every split they meet (they are never below a
    /// threshold); the score stays defined.
    ///
    /// # Panics
    /// If `row.len()` differs from the number of features.
    pub fn score_one(&self, row: &[f64]) -> f64 {
        let d = self.n_features();
        assert_eq!(
            row.len(),
            d,
            "row has {} values, model has {d} features",
            row.len()
        );
        let mut buf = [0f32; SLOT];
        self.transform_into(row.iter().copied(), &mut buf[..=d]);
        self.to_score(self.forest.walk_one(&buf[..=d]))
    }

    /// Scores every row of `rows` (raw values in schema order) into `out`, walking
    /// [`LANES`](crate::LANES) rows through each tree together so their memory accesses
    /// overlap. Allocation-free; the result equals [`Model::score_one`] row by row.
    ///
    /// # Panics
    /// If `rows` has a column count other than the number of features, or `out.len()`
    /// differs from the number of rows.
    pub fn score_batch(&self, rows: ArrayView2<f64>, out: &mut [f64]) {
        let d = self.n_features();
        assert_eq!(
            rows.ncols(),
            d,
            "rows have {} columns, model has {d} features",
            rows.ncols()
        );
        assert_eq!(
            rows.nrows(),
            out.len(),
            "{} rows but {} output slots",
            rows.nrows(),
            out.len()
        );
        let stride = d + 1;
        let mut buf = [0f32; LANES * SLOT];
        for (block, out) in out.chunks_mut(LANES).enumerate() {
            let first = block * LANES;
            for lane in 0..LANES {
                let slot = &mut buf[lane * stride..(lane + 1) * stride];
                if lane < out.len() {
                    self.transform_into(rows.row(first + lane).iter().copied(), slot);
                } else {
                    // Unused lanes walk harmlessly down the right edge.
                    slot.fill(f32::NAN);
                }
            }
            let mut acc = [0.0; LANES];
            self.forest.walk_block(&buf, stride, &mut acc);
            for (o, a) in out.iter_mut().zip(acc) {
                *o = self.to_score(a);
            }
        }
    }

    /// Normal or anomaly for one row: anomaly iff its score is strictly above the threshold.
    pub fn predict(&self, row: &[f64]) -> Verdict {
        self.verdict(self.score_one(row))
    }

    /// The verdict for a score: anomaly iff `score > threshold`, so a score exactly at the
    /// threshold is normal (with `contamination` set, the training row at the quantile is not
    /// flagged, matching scikit-learn's `decision_function >= 0` for inliers).
    pub fn verdict(&self, score: f64) -> Verdict {
        if score > self.info.threshold {
            Verdict::Anomaly
        } else {
            Verdict::Normal
        }
    }

    /// Writes the transformed values of one row into `slot` (`d + 1` floats, last NaN).
    #[inline]
    pub(crate) fn transform_into(&self, row: impl Iterator<Item = f64>, slot: &mut [f32]) {
        let (last, values) = slot.split_last_mut().expect("slot has the NaN entry");
        for ((dst, x), f) in values.iter_mut().zip(row).zip(self.schema.features()) {
            *dst = f.transform.apply(x);
        }
        *last = f32::NAN;
    }

    #[inline]
    fn to_score(&self, path_sum: f64) -> f64 {
        (path_sum * self.scale).exp2()
    }
}
