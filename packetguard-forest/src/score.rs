//! Scoring: `s(x) = 2^(-E[h(x)] / c(psi))`, the same quantity as scikit-learn's
//! `-score_samples`. Scores lie in (0, 1]; well above 0.5 is anomalous, well below normal.
//!
//! Nothing here allocates: a row block's transformed values live in a stack buffer.

use ndarray::ArrayView2;

use crate::model::{Model, Verdict};
use crate::schema::MAX_FEATURES;

/// Rows walked through each tree together by [`Model::score_batch`].
pub const LANES: usize = 8;

impl Model {
    /// Anomaly score of one row of raw values in schema order.
    ///
    /// NaN values go to the right of every split they meet (they are never below a
    /// threshold); the score stays defined.
    ///
    /// # Panics
    /// If `row.len()` differs from the number of features.
    pub fn score_one(&self, row: &[f64]) -> f64 {
        let mut buf = [0f32; MAX_FEATURES + 1];
        let walk_row = self.transform_row(row, &mut buf);
        self.to_score(self.compiled.walk_one(walk_row))
    }

    /// Applies the schema's transforms to `row` (raw values in schema order) into `buf` and
    /// returns the walkable row: the features plus a trailing NaN slot that leaves read.
    ///
    /// # Panics
    /// If `row.len()` differs from the number of features.
    pub(crate) fn transform_row<'b>(
        &self,
        row: &[f64],
        buf: &'b mut [f32; MAX_FEATURES + 1],
    ) -> &'b [f32] {
        let d = self.n_features();
        assert_eq!(
            row.len(),
            d,
            "row has {} values, model has {d} features",
            row.len()
        );
        for ((dst, &x), f) in buf.iter_mut().zip(row).zip(self.schema.features()) {
            *dst = f.transform.apply(x);
        }
        buf[d] = f32::NAN;
        &buf[..=d]
    }

    /// Scores every row of `rows` (raw values in schema order) into `out`, walking
    /// [`LANES`] rows through each tree together so their memory accesses overlap.
    /// Allocation-free; the result equals [`Model::score_one`] row by row.
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
        // Feature-major block: block[f * LANES + lane]; feature `d` is the NaN slot.
        let mut block = [f32::NAN; (MAX_FEATURES + 1) * LANES];
        let block = &mut block[..(d + 1) * LANES];
        for (b, out) in out.chunks_mut(LANES).enumerate() {
            let first = b * LANES;
            for lane in 0..LANES {
                if lane < out.len() {
                    let row = rows.row(first + lane);
                    for ((&x, f), i) in row.iter().zip(self.schema.features()).zip(0..) {
                        block[i * LANES + lane] = f.transform.apply(x);
                    }
                } else {
                    // Unused lanes walk harmlessly down the right edge.
                    for i in 0..d {
                        block[i * LANES + lane] = f32::NAN;
                    }
                }
            }
            let acc = self.compiled.walk_block(block);
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

    #[inline]
    fn to_score(&self, path_sum: f64) -> f64 {
        (path_sum * self.scale).exp2()
    }
}
