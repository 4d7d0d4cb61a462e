//! Scoring: `s(x) = 2^(-E[h(x)] / c(psi))`, the same quantity as scikit-learn's
//! `-score_samples`. Scores lie in (0, 1]; well above 0.5 is anomalous, well below normal.
//!
//! Nothing here allocates: transformed rows live in stack buffers. CPUs with AVX-512 walk
//! sixteen trees per instruction, CPUs with AVX2 eight (models of at most 32 features,
//! `walk::SIMD_FEATURES`); others, and wider models, take the portable scalar walk, which
//! gives the same scores bit for bit.

use ndarray::ArrayView2;

use crate::model::{Model, Verdict};
use crate::schema::{Transform, MAX_FEATURES};

/// Trees walked together: one 32-bit lane each of an AVX-512 register, a group of the
/// scoring layout.
pub const LANES: usize = crate::walk::GROUP;

impl Model {
    /// Anomaly score of one row of raw values in schema order.
    ///
    /// NaN values go to the right of every split they meet (they are never below a
    /// threshold); the score stays defined.
    ///
    /// # Panics
    /// If `row.len()` differs from the number of features.
    pub fn score_one(&self, row: &[f64]) -> f64 {
        let mut buf = [0f32; MAX_FEATURES];
        let walk_row = self.transform_row(row, &mut buf);
        self.to_score(self.compiled.walk_one(walk_row))
    }

    /// Applies the schema's transforms to `row` (raw values in schema order) into `buf` and
    /// returns the transformed row.
    ///
    /// # Panics
    /// If `row.len()` differs from the number of features.
    pub(crate) fn transform_row<'b>(
        &self,
        row: &[f64],
        buf: &'b mut [f32; MAX_FEATURES],
    ) -> &'b [f32] {
        let d = self.n_features();
        assert_eq!(
            row.len(),
            d,
            "row has {} values, model has {d} features",
            row.len()
        );
        self.transform_into(row, buf);
        &buf[..d]
    }

    /// Writes the schema's transforms of `row` (raw values in schema order) into `buf`: the
    /// one loop single-row and batch scoring share, so both see the same values.
    #[inline]
    fn transform_into<'a>(&self, row: impl IntoIterator<Item = &'a f64>, buf: &mut [f32]) {
        for ((dst, &x), f) in buf.iter_mut().zip(row).zip(self.schema.features()) {
            *dst = f.transform.apply(x);
        }
    }

    /// Scores every row of `rows` (raw values in schema order) into `out`. Rows go through
    /// the trees in blocks (see `walk`), so one group of trees stays in cache while a block
    /// walks it. Allocation-free; the result equals [`Model::score_one`] row by row, bit for
    /// bit.
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
        let emit = |i: usize, sum: f64| out[i] = self.to_score(sum);
        // Rows in standard layout through identity transforms are converted straight from
        // the slice: the same `x as f32` as `Transform::None`, without a row view and a
        // transform match per value.
        let identity = self
            .schema
            .features()
            .iter()
            .all(|f| f.transform == Transform::None);
        match rows.as_slice().filter(|_| identity) {
            Some(flat) => self.compiled.walk_batch(
                rows.nrows(),
                |i, buf| {
                    for (dst, &x) in buf.iter_mut().zip(&flat[i * d..(i + 1) * d]) {
                        *dst = x as f32;
                    }
                },
                emit,
            ),
            None => self.compiled.walk_batch(
                rows.nrows(),
                |i, buf| self.transform_into(rows.row(i), buf),
                emit,
            ),
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

    /// The score of a sum of leaf path lengths over all trees.
    #[inline]
    pub(crate) fn to_score(&self, path_sum: f64) -> f64 {
        (path_sum * self.scale).exp2()
    }
}
