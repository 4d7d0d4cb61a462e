//! Which features isolated a point.
//!
//! Isolation trees draw split features at random, so merely counting the splits on a path
//! (even weighted by depth) credits every feature about equally in expectation. What singles
//! out the feature a point is odd in is how much each split cut away: a split on an ordinary
//! feature keeps the point with about half its node's rows, while a split on the feature
//! where the point sits in a tail leaves it with a few. Each split on the path therefore
//! credits its feature `log2(node size / size of the child taken) / (depth + 1)`: the bits of
//! isolation it contributed, discounted by depth so the early, decisive cuts dominate.
//! Credits are summed over trees and normalised to sum to 1, so an event can say
//! "syn_count 0.42, dst_port 0.18" and the numbers read as shares.

use crate::model::Model;
use crate::schema::MAX_FEATURES;

/// One feature's share in isolating a point.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attribution {
    /// Index into the model's schema.
    pub feature: usize,
    /// Share of the depth-discounted isolation credit, in [0, 1]; all features sum to 1.
    pub weight: f64,
}

impl Model {
    /// Fills `out` with the `out.len()` features with the highest weight for `row` (raw
    /// values in schema order), highest first, ties by feature index; returns how many were
    /// written (fewer when fewer features split on the path). Allocation-free.
    ///
    /// # Panics
    /// If `row.len()` differs from the number of features.
    pub fn explain_into(&self, row: &[f64], out: &mut [Attribution]) -> usize {
        let d = self.n_features();
        let mut buf = [0f32; MAX_FEATURES];
        let walk_row = self.transform_row(row, &mut buf);
        let mut weights = [0f64; MAX_FEATURES];
        self.forest
            .for_each_split(walk_row, |feature, depth, size, child| {
                let bits = (f64::from(size) / f64::from(child)).log2();
                weights[feature] += bits / f64::from(depth + 1);
            });
        let total: f64 = weights[..d].iter().sum();
        if total == 0.0 {
            return 0;
        }
        let mut filled = 0;
        for (feature, &w) in weights[..d].iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            let item = Attribution {
                feature,
                weight: w / total,
            };
            // Insertion into the sorted prefix; features come in index order, so a strict
            // comparison keeps ties by index.
            let mut at = filled;
            while at > 0 && out[at - 1].weight < item.weight {
                at -= 1;
            }
            if at >= out.len() {
                continue;
            }
            let end = (filled + 1).min(out.len());
            out.copy_within(at..end - 1, at + 1);
            out[at] = item;
            filled = end;
        }
        filled
    }

    /// [`Model::explain_into`] into a new vector of at most `k` entries.
    pub fn explain(&self, row: &[f64], k: usize) -> Vec<Attribution> {
        let mut out = vec![Attribution::default(); k];
        let n = self.explain_into(row, &mut out);
        out.truncate(n);
        out
    }
}
