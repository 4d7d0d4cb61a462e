//! Growing isolation trees (Liu, Ting and Zhou, ICDM 2008, Algorithms 1 and 2).
//!
//! Each tree sees `psi` rows drawn without replacement. A node becomes a leaf when it reaches
//! the height limit `ceil(log2 psi)`, holds at most one row, or every feature is constant
//! over its rows. Otherwise it splits on a feature drawn uniformly among the features that
//! are not constant over its rows (what scikit-learn's random splitter ends up doing: it
//! redraws when it hits a constant feature) at a threshold drawn uniformly between that
//! feature's min and max.
//!
//! Values are compared as `f32` after the schema's transform, exactly as scoring compares
//! them, so a training row lands in the leaf it helped build.

use ndarray::ArrayView2;

use crate::forest::{Forest, Node};
use crate::path_length::average_path_length;
use crate::rng::Rng;
use crate::schema::Transform;

/// Height limit for sub-sample size `psi`: `ceil(log2(max(psi, 2)))`, as scikit-learn.
pub fn height_limit(psi: usize) -> u32 {
    let psi = psi.max(2);
    usize::BITS - (psi - 1).leading_zeros()
}

/// Rows between a prefetch and the copy of that row.
const PREFETCH_AHEAD: usize = 16;

/// Hints the CPU to start loading the cache line at `p`; a no-op off x86-64.
#[inline(always)]
fn prefetch(p: *const f64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address; SSE is baseline on x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Grows `trees` trees over `data` into a new forest.
///
/// Every value copied into a tree's sample is checked: `Err((row, column, value))` reports
/// the first NaN or infinity met. Rows never drawn cannot influence the trees and are not
/// read.
pub fn grow_forest(
    data: ArrayView2<f64>,
    transforms: &[Transform],
    trees: usize,
    psi: usize,
    seed: u64,
) -> Result<Forest, (usize, usize, f64)> {
    let n = data.nrows();
    let d = data.ncols();
    let mut rng = Rng::new(seed);
    // Partial Fisher–Yates over one index buffer: each tree shuffles the first `psi` slots,
    // which is a uniform draw without replacement whatever order earlier trees left.
    let mut pool: Vec<u32> = (0..n as u32).collect();
    let mut grower = Grower {
        cols: vec![0.0; psi * d],
        psi,
        n_features: d,
        limit: height_limit(psi),
        candidates: Vec::with_capacity(d),
        forest: Forest::default(),
    };
    grower
        .forest
        .nodes
        .reserve(trees * (2 * psi).min(1 << (grower.limit + 1)));
    let mut idx: Vec<u32> = Vec::with_capacity(psi);
    for _ in 0..trees {
        for i in 0..psi {
            let j = i + rng.below((n - i) as u64) as usize;
            pool.swap(i, j);
        }
        // Column-major copy of the sample: the min/max scans and the partition read one
        // feature over many rows. Rows are scattered over the data, so each is prefetched
        // a few iterations ahead; the copy is otherwise a string of cache misses.
        for (i, &r) in pool[..psi].iter().enumerate() {
            if let Some(&ahead) = pool[..psi].get(i + PREFETCH_AHEAD) {
                prefetch(data.row(ahead as usize).as_ptr());
            }
            let row = data.row(r as usize);
            for (f, (&x, t)) in row.iter().zip(transforms).enumerate() {
                if !x.is_finite() {
                    return Err((r as usize, f, x));
                }
                grower.cols[f * psi + i] = t.apply(x);
            }
        }
        idx.clear();
        idx.extend(0..psi as u32);
        let start = grower.forest.nodes.len();
        let depth = grower.grow(&mut rng, &mut idx, 0);
        grower.forest.close_tree(start, depth);
    }
    Ok(grower.forest)
}

struct Grower {
    /// The current tree's sample, column-major: `cols[f * psi + i]`.
    cols: Vec<f32>,
    psi: usize,
    n_features: usize,
    limit: u32,
    candidates: Vec<usize>,
    forest: Forest,
}

impl Grower {
    /// Grows the subtree over `idx` in preorder and returns its deepest leaf depth.
    fn grow(&mut self, rng: &mut Rng, idx: &mut [u32], depth: u32) -> u32 {
        if depth >= self.limit || idx.len() <= 1 {
            return self.leaf(idx.len(), depth);
        }
        let Some((feature, threshold)) = self.draw_split(rng, idx) else {
            return self.leaf(idx.len(), depth);
        };
        let col = &self.cols[feature * self.psi..(feature + 1) * self.psi];
        let mut split = 0;
        // Branch-free partition: always swap, advance only past rows going left (swapping
        // two right-going rows is harmless). The comparison is a coin flip a branch would
        // mispredict.
        for i in 0..idx.len() {
            let goes_left = col[idx[i] as usize] < threshold;
            idx.swap(i, split);
            split += usize::from(goes_left);
        }
        let me = self.forest.nodes.len();
        self.forest.nodes.push(Node {
            value: threshold,
            feature: feature as u16,
            right: 0,
            size: idx.len() as u16,
        });
        let (left, right) = idx.split_at_mut(split);
        let dl = self.grow(rng, left, depth + 1);
        self.forest.nodes[me].right = (self.forest.nodes.len() - me) as u16;
        let dr = self.grow(rng, right, depth + 1);
        dl.max(dr)
    }

    /// A feature that is not constant over `idx`, drawn uniformly, and a threshold drawn
    /// uniformly in its `(min, max]` so both sides get at least one row. `None` if every
    /// feature is constant.
    fn draw_split(&mut self, rng: &mut Rng, idx: &[u32]) -> Option<(usize, f32)> {
        self.candidates.clear();
        self.candidates.extend(0..self.n_features);
        while !self.candidates.is_empty() {
            let j = rng.below(self.candidates.len() as u64) as usize;
            let f = self.candidates[j];
            let col = &self.cols[f * self.psi..(f + 1) * self.psi];
            let (lo, hi) = min_max(col, idx);
            if hi > lo {
                let t = f64::from(lo) + rng.unit() * (f64::from(hi) - f64::from(lo));
                // Rows go left when `x < t`: keep `t` in (lo, hi] after rounding to f32.
                let t = (t as f32).max(lo.next_up()).min(hi);
                return Some((f, t));
            }
            self.candidates.swap_remove(j);
        }
        None
    }

    fn leaf(&mut self, size: usize, depth: u32) -> u32 {
        self.forest.nodes.push(Node {
            value: (f64::from(depth) + average_path_length(size as u64)) as f32,
            feature: self.n_features as u16,
            right: 0,
            size: size as u16,
        });
        depth
    }
}

/// Min and max of `col` over the rows in `idx`.
///
/// Four independent running pairs, so the compare chains overlap instead of waiting on each
/// other; plain comparisons because values are finite and `f32::min` pays for NaN rules.
fn min_max(col: &[f32], idx: &[u32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; 4];
    let mut hi = [f32::NEG_INFINITY; 4];
    let chunks = idx.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            let x = col[c[k] as usize];
            lo[k] = if x < lo[k] { x } else { lo[k] };
            hi[k] = if x > hi[k] { x } else { hi[k] };
        }
    }
    for (k, &i) in rest.iter().enumerate() {
        let x = col[i as usize];
        lo[k] = if x < lo[k] { x } else { lo[k] };
        hi[k] = if x > hi[k] { x } else { hi[k] };
    }
    let lo = lo
        .into_iter()
        .fold(f32::INFINITY, |a, b| if b < a { b } else { a });
    let hi = hi
        .into_iter()
        .fold(f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn height_limits() {
        assert_eq!(height_limit(1), 1);
        assert_eq!(height_limit(2), 1);
        assert_eq!(height_limit(3), 2);
        assert_eq!(height_limit(256), 8);
        assert_eq!(height_limit(257), 9);
        assert_eq!(height_limit(32768), 15);
    }

    #[test]
    fn two_distinct_points_give_one_split() {
        let data = ndarray::array![[0.0, 5.0], [1.0, 5.0]];
        let f = grow_forest(data.view(), &[Transform::None; 2], 3, 2, 9).unwrap();
        for t in &f.trees {
            let nodes = &f.nodes[t.start as usize..(t.start + t.len) as usize];
            // Feature 1 is constant, so every tree splits on feature 0.
            assert_eq!(nodes.len(), 3);
            assert_eq!(nodes[0].feature, 0);
            assert!(nodes[0].value > 0.0 && nodes[0].value <= 1.0);
            assert_eq!(nodes[1].value, 1.0);
            assert_eq!(nodes[2].value, 1.0);
        }
    }

    #[test]
    fn constant_data_gives_single_leaves() {
        let data = ndarray::Array2::from_elem((10, 3), 4.0);
        let f = grow_forest(data.view(), &[Transform::None; 3], 2, 8, 1).unwrap();
        assert_eq!(f.nodes.len(), 2);
        let c8 = average_path_length(8) as f32;
        assert!(f.nodes.iter().all(|n| n.is_leaf() && n.value == c8));
    }
}
