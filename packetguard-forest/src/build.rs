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

/// Whether the AVX-512 scans of `build_avx512` run on this CPU.
fn simd_scans() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return true;
    }
    false
}

/// Hints the CPU to start loading the cache line at `p`; a no-op off x86-64. Sampling reads
/// scattered pool slots and scattered rows of a matrix far larger than L2, a string of
/// cache misses unless many are in flight at once.
#[inline(always)]
fn prefetch<T>(p: *const T) {
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
    grow_forest_with(data, transforms, trees, psi, seed, simd_scans())
}

/// [`grow_forest`] with the AVX-512 scans on or off (`simd` only where they run).
fn grow_forest_with(
    data: ArrayView2<f64>,
    transforms: &[Transform],
    trees: usize,
    psi: usize,
    seed: u64,
    simd: bool,
) -> Result<Forest, (usize, usize, f64)> {
    let n = data.nrows();
    let d = data.ncols();
    let mut rng = Rng::new(seed);
    // Partial Fisher–Yates over one index buffer: each tree shuffles the first `psi` slots,
    // which is a uniform draw without replacement whatever order earlier trees left.
    let mut pool: Vec<u32> = (0..n as u32).collect();
    let limit = height_limit(psi);
    let mut grower = Grower {
        sample: vec![0.0; psi * d],
        n_features: d,
        limit,
        candidates: Vec::with_capacity(d),
        simd,
        // Leaf path lengths need c(size) for every size up to psi: computed once.
        c: (0..=psi as u64).map(average_path_length).collect(),
        forest: Forest::default(),
    };
    grower
        .forest
        .nodes
        .reserve(trees * (2 * psi).min(1 << (limit + 1)));
    let mut idx: Vec<u32> = Vec::with_capacity(psi);
    let mut draws: Vec<u32> = Vec::with_capacity(psi);
    // What a node's partition writes its rows into; see `Grower::grow`.
    let mut spare = vec![0u32; psi];
    // The matrix as one slice when it is in standard layout (the usual case) and every
    // transform is the identity: rows are then converted whole.
    let identity = data
        .as_slice()
        .filter(|_| transforms.iter().all(|t| *t == Transform::None));
    // A row may straddle two cache lines: its first and last values are prefetched.
    let last_offset = d.saturating_sub(1) as isize * data.strides()[1];
    for _ in 0..trees {
        // The draws do not depend on the pool, so they are made first (the generator's
        // stream is the same as drawing during the swaps), each prefetching the slot it
        // will touch while the next is computed; the swaps then prefetch the rows drawn, so
        // the misses of a tree's sample are in flight together rather than one after
        // another.
        draws.clear();
        for i in 0..psi {
            let j = i + rng.below((n - i) as u64) as usize;
            prefetch(pool.as_ptr().wrapping_add(j));
            draws.push(j as u32);
        }
        // Each row is copied `COPY_LAG` swaps after its prefetch, by when it has usually
        // arrived, so copies overlap the misses still in flight.
        for (i, &j) in draws.iter().enumerate() {
            pool.swap(i, j as usize);
            // Slot `i` is final: later swaps only touch slots above it.
            let row = data.row(pool[i] as usize).as_ptr();
            prefetch(row);
            prefetch(row.wrapping_offset(last_offset));
            if let Some(k) = i.checked_sub(COPY_LAG) {
                copy_row(
                    &mut grower.sample[k * d..][..d],
                    data,
                    identity,
                    transforms,
                    pool[k],
                )?;
            }
        }
        let tail = psi.saturating_sub(COPY_LAG);
        for (k, &r) in (tail..).zip(&pool[tail..psi]) {
            copy_row(
                &mut grower.sample[k * d..][..d],
                data,
                identity,
                transforms,
                r,
            )?;
        }
        idx.clear();
        // A row is named by its offset `o` in the row-major sample, so its feature `f` is
        // `sample[f..][o]`, as cheap to reach as in a column.
        idx.extend((0..psi).map(|i| (i * d) as u32));
        let start = grower.forest.nodes.len();
        let depth = grower.grow(&mut rng, &mut idx, &mut spare, 0);
        grower.forest.close_tree(start, depth);
    }
    Ok(grower.forest)
}

/// Swaps between a row's prefetch and its copy.
const COPY_LAG: usize = 32;

/// Copies row `r` of `data` into `dst` (one row of the row-major sample) through its
/// transforms; `identity` is the matrix as a slice when every transform is the identity.
/// Rows are copied in draw order, so the first NaN or infinity met is the one reported.
/// Adding 0 turns -0 into +0, which compares the same, so a min or max is one value whatever
/// order a scan meets them in.
fn copy_row(
    dst: &mut [f32],
    data: ArrayView2<f64>,
    identity: Option<&[f64]>,
    transforms: &[Transform],
    r: u32,
) -> Result<(), (usize, usize, f64)> {
    let (r, d) = (r as usize, dst.len());
    let finite = match identity {
        Some(flat) => {
            let src = &flat[r * d..(r + 1) * d];
            for (o, &x) in dst.iter_mut().zip(src) {
                *o = x as f32 + 0.0;
            }
            src.iter().fold(true, |ok, x| ok & x.is_finite())
        }
        None => {
            let mut finite = true;
            for ((o, &x), t) in dst.iter_mut().zip(data.row(r)).zip(transforms) {
                finite &= x.is_finite();
                *o = t.apply(x) + 0.0;
            }
            finite
        }
    };
    if finite {
        return Ok(());
    }
    let (f, &x) = data
        .row(r)
        .into_iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite())
        .expect("a value is not finite");
    Err((r, f, x))
}

struct Grower {
    /// The current tree's sample, row-major: feature `f` of row `i` at `i * d + f`.
    sample: Vec<f32>,
    n_features: usize,
    limit: u32,
    candidates: Vec<usize>,
    /// Whether the AVX-512 scans of `build_avx512` run on this CPU.
    simd: bool,
    /// `c(size)` for sizes `0..=psi`.
    c: Vec<f64>,
    forest: Forest,
}

impl Grower {
    /// Grows the subtree over `idx` in preorder and returns its deepest leaf depth.
    ///
    /// `spare` (as long as `idx`) receives the node's rows partitioned, and the children
    /// then take its halves, with the halves of `idx` as theirs: the buffers swap roles at
    /// every level instead of each partition being copied back.
    fn grow(&mut self, rng: &mut Rng, idx: &mut [u32], spare: &mut [u32], depth: u32) -> u32 {
        if depth >= self.limit || idx.len() <= 1 {
            return self.leaf(idx.len(), depth);
        }
        let Some((feature, threshold)) = self.draw_split(rng, idx) else {
            return self.leaf(idx.len(), depth);
        };
        let col = &self.sample[feature..];
        let (split, rows, spare) = if depth + 1 >= self.limit {
            // Both children are leaves, which only need their sizes.
            let split = idx
                .iter()
                // SAFETY: every offset in `idx` is a row's `i * d` (`i < psi`) and `col`
                // starts at a feature below `d` of the `psi * d` sample, so it is in `col`.
                .map(|&i| usize::from(unsafe { at(col, i) } < threshold))
                .sum();
            (split, idx, spare)
        } else {
            // SAFETY: offsets in `idx` are inside `col`, as above.
            let split = unsafe { partition(self.simd, col, threshold, idx, spare) };
            (split, spare, idx)
        };
        let me = self.forest.nodes.len();
        self.forest.nodes.push(Node {
            value: threshold,
            feature: feature as u16,
            right: 0,
            size: rows.len() as u16,
        });
        let (left, right) = rows.split_at_mut(split);
        let (left_spare, right_spare) = spare.split_at_mut(split);
        let dl = self.grow(rng, left, left_spare, depth + 1);
        self.forest.nodes[me].right = (self.forest.nodes.len() - me) as u16;
        let dr = self.grow(rng, right, right_spare, depth + 1);
        dl.max(dr)
    }

    /// A feature that is not constant over `idx`, drawn uniformly, and a threshold drawn
    /// uniformly in its `(min, max]` so both sides get at least one row. `None` if every
    /// feature is constant.
    fn draw_split(&mut self, rng: &mut Rng, idx: &[u32]) -> Option<(usize, f32)> {
        // The first draw is over all features; the candidate list is only built when that
        // feature turns out constant (the draws are the same either way).
        let mut j = rng.below(self.n_features as u64) as usize;
        let mut f = j;
        let mut listed = false;
        loop {
            // SAFETY: offsets in `idx` are rows' `i * d` (`i < psi`), inside the sample from
            // any feature `f < d` on.
            let (lo, hi) = unsafe { min_max(self.simd, &self.sample[f..], idx) };
            if hi > lo {
                let t = f64::from(lo) + rng.unit() * (f64::from(hi) - f64::from(lo));
                // Rows go left when `x < t`: keep `t` in (lo, hi] after rounding to f32.
                let t = (t as f32).max(lo.next_up()).min(hi);
                return Some((f, t));
            }
            if !listed {
                self.candidates.clear();
                self.candidates.extend(0..self.n_features);
                listed = true;
            }
            self.candidates.swap_remove(j);
            if self.candidates.is_empty() {
                return None;
            }
            j = rng.below(self.candidates.len() as u64) as usize;
            f = self.candidates[j];
        }
    }

    fn leaf(&mut self, size: usize, depth: u32) -> u32 {
        // Loading recomputes this exactly (`PathLengths::leaf_value`) and refuses any other.
        self.forest.nodes.push(Node {
            value: (f64::from(depth) + self.c[size]) as f32,
            feature: self.n_features as u16,
            right: 0,
            size: size as u16,
        });
        depth
    }
}

/// Nodes smaller than this are scanned by the scalar code: a gather and a horizontal
/// reduction cost more than a few plain loads.
const SIMD_MIN_ROWS: usize = 16;

/// [`partition_scalar`], or its AVX-512 form when `simd` (which only `simd_scans` sets):
/// the rows of `idx` into `out`, those with `col[i] < threshold` first; returns how many
/// they are. `idx` is left in any order.
///
/// # Safety
/// Every offset in `idx` is below `col.len()`.
unsafe fn partition(
    simd: bool,
    col: &[f32],
    threshold: f32,
    idx: &mut [u32],
    out: &mut [u32],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if simd && idx.len() >= SIMD_MIN_ROWS {
        // SAFETY: `simd` means AVX-512F runs here; offsets in `idx` are inside `col`. It
        // partitions `idx` in place, with `out` as its scratch.
        let left = unsafe { crate::build_avx512::partition(col, threshold, idx, out) };
        out.copy_from_slice(idx);
        return left;
    }
    let _ = simd;
    // SAFETY: forwarded contract.
    unsafe { partition_scalar(col, threshold, idx, out) }
}

/// [`min_max_scalar`], or its AVX-512 form when `simd`.
///
/// # Safety
/// Every offset in `idx` is below `col.len()`.
unsafe fn min_max(simd: bool, col: &[f32], idx: &[u32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if simd && idx.len() >= SIMD_MIN_ROWS {
        // SAFETY: as in `partition`.
        return unsafe { crate::build_avx512::min_max(col, idx) };
    }
    let _ = simd;
    // SAFETY: forwarded contract.
    unsafe { min_max_scalar(col, idx) }
}

/// Writes the rows of `idx` into `out` (as long), those with `col[i] < threshold` first,
/// and returns how many they are. Order within each side is not kept (trees depend only on
/// which rows a node holds).
///
/// Branch-free: every row is written both at the next left slot and the next right slot
/// (from the end) of `out`, and only one of the two cursors moves, so the coin-flip
/// comparison never steers a branch and no store feeds the next load.
///
/// # Safety
/// Every offset in `idx` is below `col.len()`.
unsafe fn partition_scalar(col: &[f32], threshold: f32, idx: &[u32], out: &mut [u32]) -> usize {
    assert_eq!(idx.len(), out.len());
    let (mut left, mut right) = (0usize, idx.len());
    for &i in idx.iter() {
        // SAFETY: offsets in `idx` are inside `col` (the callers' contract).
        let goes_left = unsafe { at(col, i) } < threshold;
        // SAFETY: after `k` rows, `left + (len - right) = k < len`, so
        // `left <= right - 1 < len`.
        unsafe {
            *out.get_unchecked_mut(left) = i;
            *out.get_unchecked_mut(right - 1) = i;
        }
        left += usize::from(goes_left);
        right -= usize::from(!goes_left);
    }
    left
}

/// `col[i]` without a bounds check: the growing scans read a value per row of a node at
/// every level, and the check was a fifth of their instructions.
///
/// # Safety
/// `i` is below `col.len()`.
#[inline(always)]
unsafe fn at(col: &[f32], i: u32) -> f32 {
    debug_assert!((i as usize) < col.len());
    // SAFETY: per the contract.
    unsafe { *col.get_unchecked(i as usize) }
}

/// Min and max of `col` over the rows in `idx`.
///
/// Four independent running pairs, so the compare chains overlap instead of waiting on each
/// other; plain comparisons because values are finite and `f32::min` pays for NaN rules.
///
/// # Safety
/// Every offset in `idx` is below `col.len()`.
unsafe fn min_max_scalar(col: &[f32], idx: &[u32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; 4];
    let mut hi = [f32::NEG_INFINITY; 4];
    let chunks = idx.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            // SAFETY: offsets in `idx` are inside `col` (the callers' contract).
            let x = unsafe { at(col, c[k]) };
            lo[k] = if x < lo[k] { x } else { lo[k] };
            hi[k] = if x > hi[k] { x } else { hi[k] };
        }
    }
    for (k, &i) in rest.iter().enumerate() {
        // SAFETY: as above.
        let x = unsafe { at(col, i) };
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
            let nodes = f.tree(t);
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

    #[test]
    fn simd_scans_grow_the_same_trees() {
        if !simd_scans() {
            eprintln!("no AVX-512 on this CPU: nothing to compare");
            return;
        }
        for (rows, features, psi, trees) in [(3000, 8, 256, 20), (500, 3, 37, 9), (40, 1, 16, 5)] {
            let (mut data, _) = crate::synth::clusters_with_noise(rows, features, 0.05, 4);
            // Ties and both zeros, which the scans must treat alike.
            data.row_mut(0).fill(0.0);
            data.row_mut(1).fill(-0.0);
            data.row_mut(2).fill(1.0);
            data.row_mut(3).fill(1.0);
            let transforms = vec![Transform::None; features];
            let grow = |simd| grow_forest_with(data.view(), &transforms, trees, psi, 5, simd);
            let (scalar, simd) = (grow(false).unwrap(), grow(true).unwrap());
            assert_eq!(scalar, simd);
            // Bit for bit, thresholds included (`PartialEq` on floats takes -0 for +0).
            let bits = |f: &Forest| {
                f.nodes
                    .iter()
                    .map(|n| n.value.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&scalar), bits(&simd));
        }
    }
}
