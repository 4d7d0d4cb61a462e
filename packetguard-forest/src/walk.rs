//! The scoring layout: trees as complete binary trees in breadth-first (heap) order, eight
//! trees interleaved per cache line, walked with no data-dependent branch.
//!
//! The preorder trees of [`Forest`] are compact and are what files store, but stepping
//! through them needs a choice between "next node" and "right offset", which compilers turn
//! into a branch that mispredicts on half the steps (splits are coin flips by design). Here
//! every tree is padded to the model's deepest leaf `D`: `2^D - 1` split slots followed by
//! `2^D` leaf slots, the children of slot `i` being `2i + 1` and `2i + 2`, so a step is
//! `i = 2i + 1 + (x >= t)`: pure arithmetic, and every row takes exactly `D` steps.
//!
//! A leaf above depth `D` becomes a chain of pass-through slots down to the bottom level:
//! their threshold is `-inf`, which no value (NaN included) is below, so the walk keeps going
//! right and lands on a copy of the leaf's value.
//!
//! Trees come in groups of [`GROUP`]: slot `i` of the eight trees of a group is one 64-byte
//! [`Line`] of 64-bit words, tree `k` of the group in word `k`. A split word holds the `f32`
//! threshold's bits in its low half and the feature index in its high half, so one 64-bit
//! load (or one AVX-512 gather for the whole group) fetches both; a leaf word holds the
//! leaf's path length in fixed point.
//!
//! # Why fixed point
//!
//! Leaf path lengths are summed as integers in units of `2^-24`. Integer sums do not depend
//! on order, so the SIMD kernels (which add trees lane by lane) and the scalar walk give
//! bit-identical scores. Path lengths are `f32` values of at least 1 below 256 in every model
//! training produces, hence multiples of `2^-23`: the conversion is exact and the scores
//! equal those of an `f64` sum in tree order. Values a hand-made file might hold outside
//! that range are rounded to the unit (and capped at `2^20`), still identically everywhere.
//!
//! Cost: `2^(D+1) - 1` lines per group; for psi 256 (D = 8) 32 KiB per eight trees, 416 KiB
//! for 100 trees. The batch walk takes blocks of rows through one group at a time so the
//! group stays in L1 while the block walks it.

use crate::forest::Forest;
use crate::walk_avx512;

/// Trees per group: one 64-byte line holds the same slot of this many trees.
pub const GROUP: usize = 8;

/// Fixed-point units per unit of path length.
const LEAF_UNIT: f64 = (1u64 << 24) as f64;

/// Largest leaf path length kept exactly; no tree of at most 32,768 rows comes near it.
const MAX_LEAF: f64 = (1u64 << 20) as f64;

/// Rows a batch walk takes through one group before moving to the next group.
pub const BLOCK: usize = 64;

/// Features the AVX-512 kernel can look up in one register.
pub const SIMD_FEATURES: usize = 16;

/// Word of a pass-through slot: threshold `-inf`, feature 0.
const PASS: u64 = f32::NEG_INFINITY.to_bits() as u64;

/// One slot of the eight trees of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub struct Line(pub [u64; GROUP]);

/// A transformed row padded to what the AVX-512 kernel loads at once.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub struct SimdRow(pub [f32; SIMD_FEATURES]);

/// Which walk a [`Compiled`] uses; chosen once when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable code; the reference the SIMD kernels must match bit for bit.
    Scalar,
    /// AVX-512F gathers over a group of trees at once (at most [`SIMD_FEATURES`] features).
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs for a model of `n_features` features.
    pub fn best(n_features: usize) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if n_features <= SIMD_FEATURES && std::arch::is_x86_feature_detected!("avx512f") {
            return Kernel::Avx512;
        }
        let _ = n_features;
        Kernel::Scalar
    }
}

/// All trees of a model in the scoring layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    lines: Vec<Line>,
    groups: usize,
    depth: u32,
    n_features: usize,
    kernel: Kernel,
}

impl Compiled {
    /// Lays out `forest` (validated, over `n_features` features) for the best kernel.
    pub fn new(forest: &Forest, n_features: usize) -> Compiled {
        Compiled::with_kernel(forest, n_features, Kernel::best(n_features))
    }

    /// Lays out `forest` for `kernel`, which the caller knows this CPU runs.
    pub fn with_kernel(forest: &Forest, n_features: usize, kernel: Kernel) -> Compiled {
        let depth = forest.trees.iter().map(|t| t.depth).max().unwrap_or(0);
        let n_splits = (1usize << depth) - 1;
        let slots = 2 * n_splits + 1;
        let groups = forest.trees.len().div_ceil(GROUP);
        let mut lines = vec![Line([PASS; GROUP]); groups * slots];
        // Lanes past the last tree walk the pass-through slots to a leaf worth 0.
        for g in 0..groups {
            for line in &mut lines[g * slots + n_splits..(g + 1) * slots] {
                *line = Line([0; GROUP]);
            }
        }
        for (i, t) in forest.trees.iter().enumerate() {
            let nodes = &forest.nodes[t.start as usize..(t.start + t.len) as usize];
            let (group, lane) = (&mut lines[i / GROUP * slots..][..slots], i % GROUP);
            // (preorder position, heap slot, depth)
            let mut stack = vec![(0usize, 0usize, 0u32)];
            while let Some((p, slot, d)) = stack.pop() {
                let node = nodes[p];
                if d == depth {
                    group[slot].0[lane] = leaf_word(node.value);
                } else if node.is_leaf() {
                    // Pass-through slots (already filled) down the right edge.
                    stack.push((p, 2 * slot + 2, d + 1));
                } else {
                    group[slot].0[lane] =
                        u64::from(node.value.to_bits()) | u64::from(node.feature) << 32;
                    stack.push((p + 1, 2 * slot + 1, d + 1));
                    stack.push((p + usize::from(node.right), 2 * slot + 2, d + 1));
                }
            }
        }
        Compiled {
            lines,
            groups,
            depth,
            n_features,
            kernel,
        }
    }

    /// Lines of one group.
    fn slots(&self) -> usize {
        (2usize << self.depth) - 1
    }

    /// Sum over trees of the leaf path lengths one row reaches; `row[f]` is feature `f`
    /// after its transform (at least `n_features` values).
    pub fn walk_one(&self, row: &[f32]) -> f64 {
        assert!(row.len() >= self.n_features);
        let units = match self.kernel {
            Kernel::Scalar => self.walk_one_scalar(row),
            Kernel::Avx512 => {
                let mut padded = SimdRow([0.0; SIMD_FEATURES]);
                padded.0[..self.n_features].copy_from_slice(&row[..self.n_features]);
                // SAFETY: `Kernel::Avx512` is only chosen (by `Kernel::best`, or by tests
                // after the same check) when the CPU has AVX-512F and the model at most
                // `SIMD_FEATURES` features.
                let sums = unsafe {
                    walk_avx512::walk_block(&self.lines, self.slots(), self.depth, &[padded])
                };
                sums[0]
            }
        };
        from_units(units)
    }

    /// The scalar walk of one row: the reference every kernel matches.
    pub fn walk_one_scalar(&self, row: &[f32]) -> u64 {
        let row = &row[..self.n_features];
        self.lines
            .chunks_exact(self.slots())
            .map(|group| walk_group(group, self.depth, row))
            .sum()
    }

    /// Path-length sums of `n` rows: `fill(i, buf)` writes row `i`'s transformed features
    /// into `buf[..n_features]`, and `emit(i, sum)` receives its result, in row order.
    ///
    /// Rows go through in blocks of [`BLOCK`], each block through one group of trees at a
    /// time, so the group's lines stay in L1 while the rows walk it.
    pub fn walk_batch(
        &self,
        n: usize,
        mut fill: impl FnMut(usize, &mut [f32]),
        mut emit: impl FnMut(usize, f64),
    ) {
        match self.kernel {
            Kernel::Scalar => {
                let mut buf = vec![0f32; self.n_features];
                for i in 0..n {
                    fill(i, &mut buf);
                    emit(i, from_units(self.walk_one_scalar(&buf)));
                }
            }
            Kernel::Avx512 => {
                let mut block = [SimdRow([0.0; SIMD_FEATURES]); BLOCK];
                for first in (0..n).step_by(BLOCK) {
                    let rows = &mut block[..(n - first).min(BLOCK)];
                    for (k, row) in rows.iter_mut().enumerate() {
                        fill(first + k, &mut row.0[..self.n_features]);
                    }
                    // SAFETY: as in `walk_one`.
                    let sums = unsafe {
                        walk_avx512::walk_block(&self.lines, self.slots(), self.depth, rows)
                    };
                    for (k, &s) in sums[..rows.len()].iter().enumerate() {
                        emit(first + k, from_units(s));
                    }
                }
            }
        }
    }

    /// Bytes of the scoring layout.
    pub fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }

    /// Trees groups in the layout (for tests).
    #[cfg(test)]
    pub fn groups(&self) -> usize {
        self.groups
    }
}

/// Leaf path length to fixed point; see the module documentation.
fn leaf_word(value: f32) -> u64 {
    (f64::from(value).clamp(0.0, MAX_LEAF) * LEAF_UNIT).round() as u64
}

/// Fixed-point sum back to a path length.
fn from_units(units: u64) -> f64 {
    units as f64 / LEAF_UNIT
}

/// Walks one row through the eight trees of `group`, advancing the trees together one level
/// at a time so their loads overlap; returns the sum of their leaf words.
fn walk_group(group: &[Line], depth: u32, row: &[f32]) -> u64 {
    let mut slot = [0usize; GROUP];
    for _ in 0..depth {
        for (lane, s) in slot.iter_mut().enumerate() {
            let word = group[*s].0[lane];
            let x = row[(word >> 32) as usize];
            *s = 2 * *s + 1 + goes_right(x, f32::from_bits(word as u32));
        }
    }
    slot.iter()
        .enumerate()
        .map(|(lane, &s)| group[s].0[lane])
        .sum()
}

/// 1 when `x` is not below `threshold`, NaN included (the pass-through rule), else 0.
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `x >= t` would send NaN left
fn goes_right(x: f32, threshold: f32) -> usize {
    usize::from(!(x < threshold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::Node;

    fn leaf(v: f32) -> Node {
        Node {
            value: v,
            feature: 1,
            right: 0,
            size: 1,
        }
    }

    fn split(t: f32, right: u16, size: u16) -> Node {
        Node {
            value: t,
            feature: 0,
            right,
            size,
        }
    }

    #[test]
    fn heap_layout_reaches_the_preorder_leaves() {
        // x < 1 ? (x < 0 ? 2.5 : 2.0) : 1.0
        let mut forest = Forest {
            nodes: vec![
                split(1.0, 4, 3),
                split(0.0, 2, 2),
                leaf(2.5),
                leaf(2.0),
                leaf(1.0),
            ],
            trees: vec![],
        };
        forest.close_tree(0, 2);
        let c = Compiled::with_kernel(&forest, 1, Kernel::Scalar);
        // NaN goes right at every split; 1.0 is not below the threshold 1.0.
        for (x, want) in [
            (-1.0, 2.5),
            (0.5, 2.0),
            (3.0, 1.0),
            (f32::NAN, 1.0),
            (1.0, 1.0),
        ] {
            assert_eq!(c.walk_one(&[x]), want, "x = {x}");
        }
        assert_eq!(c.groups(), 1);
    }

    #[test]
    fn leaf_words_are_exact_for_trained_path_lengths() {
        for v in [1.0f32, 2.0, 7.75, 8.0f32.next_up(), 35.3, 0.5, 0.0] {
            assert_eq!(from_units(leaf_word(v)), f64::from(v));
        }
        assert_eq!(leaf_word(f32::MAX), (MAX_LEAF * LEAF_UNIT) as u64);
    }

    /// Rows of `data` as `f32`, plus rows of NaN, infinities and signed zeros.
    fn probe_rows(data: &ndarray::Array2<f64>) -> Vec<Vec<f32>> {
        let d = data.ncols();
        let mut rows: Vec<Vec<f32>> = data
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&x| x as f32).collect())
            .collect();
        for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0] {
            rows.push(vec![special; d]);
            let mut mixed = rows[0].clone();
            mixed[d / 2] = special;
            rows.push(mixed);
        }
        rows
    }

    #[test]
    fn simd_kernel_matches_the_scalar_walk_bit_for_bit() {
        use crate::build::grow_forest;
        use crate::schema::Transform;
        use crate::synth::clusters_with_noise;
        // (features, psi, trees): the standard shape, odd group fills, the widest model the
        // kernel takes, and trees too shallow for its register levels.
        for (features, psi, trees) in [(8, 256, 100), (3, 5, 9), (16, 64, 17), (1, 2, 3)] {
            if Kernel::best(features) != Kernel::Avx512 {
                eprintln!("no AVX-512 on this CPU: nothing to compare");
                return;
            }
            let (data, _) = clusters_with_noise(700, features, 0.05, features as u64);
            let transforms = vec![Transform::None; features];
            let forest = grow_forest(data.view(), &transforms, trees, psi, 7).unwrap();
            let simd = Compiled::with_kernel(&forest, features, Kernel::Avx512);
            let scalar = Compiled::with_kernel(&forest, features, Kernel::Scalar);
            let rows = probe_rows(&data);
            let mut batch = vec![f64::NAN; rows.len()];
            simd.walk_batch(
                rows.len(),
                |i, buf| buf.copy_from_slice(&rows[i]),
                |i, s| batch[i] = s,
            );
            for (i, row) in rows.iter().enumerate() {
                let want = scalar.walk_one(row);
                assert_eq!(simd.walk_one(row).to_bits(), want.to_bits(), "row {i}");
                assert_eq!(batch[i].to_bits(), want.to_bits(), "row {i}");
            }
        }
    }
}
