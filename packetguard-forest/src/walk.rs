//! The scoring layout: trees as complete binary trees in breadth-first (heap) order, sixteen
//! trees interleaved per cache line, walked with no data-dependent branch.
//!
//! The preorder trees of [`Forest`] are compact and are what files store, but stepping
//! through them needs a choice between "next node" and "right offset", which compilers turn
//! into a branch that mispredicts on half the steps (splits are coin flips by design). Here
//! every tree of a group is padded to the group's deepest leaf `D` (at least 1): `2^D - 1`
//! split slots followed by `2^D` leaf slots, the children of slot `i` being `2i + 1` and
//! `2i + 2`, so a step is `i = 2i + 1 + (x >= t)`: pure arithmetic, and every row takes
//! exactly `D` steps.
//!
//! Padding is what makes this fast and what could make it huge: `layout` decides which trees
//! are padded, deepest first in bands of one depth, so the padded lines never take more than
//! `layout::PADDING_FACTOR` times the bytes the trees take in the model file. Trees it leaves
//! out take the preorder walk of `sparse`, in the same fixed-point units.
//!
//! A leaf above depth `D` becomes a chain of pass-through slots down to the bottom level:
//! their threshold is `-inf`, which no value (NaN included) is below, so the walk keeps going
//! right and lands on a copy of the leaf's value.
//!
//! Trees come in groups of [`GROUP`], one per 32-bit lane of an AVX-512 register. Split slot
//! `i` of a group is two 64-byte [`Line`]s, `2i` for trees 0 to 7 and `2i + 1` for trees 8
//! to 15, each tree a pair of 32-bit words: the `f32` threshold's bits, then the feature
//! index. One 64-bit load fetches both, so a level of eight trees is one 8-element gather.
//! Leaf slot `i` (heap slot `2^D - 1 + i`) is line `2 (2^D - 1) + i`, sixteen fixed-point
//! path lengths; the AVX2 kernel's layout pairs each bottom split's two leaves instead
//! (`leaf_position`).
//!
//! # Why fixed point
//!
//! Leaf path lengths are summed as integers in units of `2^-24`. Integer sums do not depend
//! on order, so the SIMD kernel (which adds trees lane by lane), the scalar walk and the
//! preorder walk give bit-identical scores whatever group or walk a tree lands in. Path
//! lengths are `f32` values of at least 1 below 256 (loading checks every leaf holds exactly
//! the value training computes), hence multiples of `2^-23`: the conversion is exact and the
//! scores equal those of an `f64` sum in tree order.
//!
//! Cost: `3 * 2^D - 2` lines per group; for psi 256 (D = 8) 48 KiB per sixteen trees, 336
//! KiB for 100 trees. The batch walk takes blocks of rows through one group at a time so the
//! group's lines stay in cache while the block walks it.

use crate::fill::{clear_group, fill_lane};
use crate::forest::Forest;
pub use crate::layout::{group_lines, GROUP};
use crate::layout::{Band, Plan};
use crate::schema::MAX_FEATURES;
use crate::sparse::Sparse;
#[cfg(target_arch = "x86_64")]
use crate::{walk_avx2, walk_avx512};

/// Fixed-point units per unit of path length.
const LEAF_UNIT: f64 = (1u64 << 24) as f64;

/// Largest leaf path length stored (what 32 bits of fixed point hold); no tree of at most
/// 32,768 rows comes near it.
const MAX_LEAF: f64 = u32::MAX as f64 / LEAF_UNIT;

/// Rows a batch walk takes through one group before moving to the next group.
pub const BLOCK: usize = 64;

/// Features the SIMD kernels can look up: two AVX-512 registers of sixteen, picked from by
/// one two-source permute, or four AVX2 registers of eight (the flow model has 26 features).
pub const SIMD_FEATURES: usize = 32;

/// One 64-byte line: one slot's thresholds, feature indices or leaf values for a group.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub struct Line(pub [u32; GROUP]);

/// A transformed row padded to what the AVX-512 kernel loads at once.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub struct SimdRow(pub [f32; SIMD_FEATURES]);

/// Which walk a [`Compiled`] uses; chosen once when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable code; the reference the SIMD kernel must match bit for bit.
    Scalar,
    /// AVX-512F gathers over a group of trees at once (at most [`SIMD_FEATURES`] features).
    Avx512,
    /// AVX2 gathers over half a group at once (at most [`SIMD_FEATURES`] features).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs for a model of `n_features` features.
    pub fn best(n_features: usize) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if n_features <= SIMD_FEATURES {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        let _ = n_features;
        Kernel::Scalar
    }

    /// Every kernel this CPU runs for a model of `n_features` features, the portable one
    /// first: what the equality checks compare.
    pub fn available(n_features: usize) -> Vec<Kernel> {
        let mut all = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        if n_features <= SIMD_FEATURES {
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Kernel::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
            }
        }
        let _ = n_features;
        all
    }

    /// The kernel's name, as the bench prints it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
        }
    }
}

/// All trees of a model in the scoring layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The padded groups, band after band.
    lines: Vec<Line>,
    bands: Vec<Band>,
    /// Trees not worth padding.
    sparse: Sparse,
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
        let plan = Plan::new(forest);
        let mut lines = Vec::with_capacity(plan.bands.iter().map(Band::lines).sum());
        let mut padded = plan.padded.iter();
        for band in &plan.bands {
            let group_lines = group_lines(band.depth);
            let first = lines.len();
            lines.resize(first + band.lines(), Line([0; GROUP]));
            for (k, &t) in padded.by_ref().take(band.trees).enumerate() {
                let group = &mut lines[first + k / GROUP * group_lines..][..group_lines];
                if k % GROUP == 0 {
                    clear_group(group, band.depth);
                }
                fill_lane(
                    group,
                    band.depth,
                    k % GROUP,
                    forest.tree(&forest.trees[t as usize]),
                    kernel == Kernel::Avx2,
                );
            }
        }
        Compiled {
            lines,
            bands: plan.bands,
            sparse: Sparse::new(forest, &plan.sparse, leaf_word),
            n_features,
            kernel,
        }
    }

    /// Sum over trees of the leaf path lengths one row reaches; `row[f]` is feature `f`
    /// after its transform (at least `n_features` values).
    pub fn walk_one(&self, row: &[f32]) -> f64 {
        assert!(row.len() >= self.n_features);
        let units = match self.kernel {
            Kernel::Scalar => self.walk_one_scalar(row),
            Kernel::Avx512 | Kernel::Avx2 => {
                let mut padded = SimdRow([0.0; SIMD_FEATURES]);
                padded.0[..self.n_features].copy_from_slice(&row[..self.n_features]);
                self.walk_simd(&[padded])[0]
            }
        };
        from_units(units)
    }

    /// The scalar walk of one row: the reference every kernel matches.
    pub fn walk_one_scalar(&self, row: &[f32]) -> u64 {
        let row = &row[..self.n_features];
        let mut lines = &self.lines[..];
        let mut sum = self.sparse.walk(row);
        for band in &self.bands {
            let (here, rest) = lines.split_at(band.lines());
            sum += here
                .chunks_exact(group_lines(band.depth))
                .map(|group| walk_group(group, band.depth, row))
                .sum::<u64>();
            lines = rest;
        }
        sum
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
                let mut buf = [0f32; MAX_FEATURES];
                let buf = &mut buf[..self.n_features];
                for i in 0..n {
                    fill(i, buf);
                    emit(i, from_units(self.walk_one_scalar(buf)));
                }
            }
            Kernel::Avx512 | Kernel::Avx2 => {
                let mut block = [SimdRow([0.0; SIMD_FEATURES]); BLOCK];
                for first in (0..n).step_by(BLOCK) {
                    let rows = &mut block[..(n - first).min(BLOCK)];
                    for (k, row) in rows.iter_mut().enumerate() {
                        fill(first + k, &mut row.0[..self.n_features]);
                    }
                    let sums = self.walk_simd(rows);
                    for (k, &s) in sums[..rows.len()].iter().enumerate() {
                        emit(first + k, from_units(s));
                    }
                }
            }
        }
    }

    /// Path-length sums of up to [`BLOCK`] rows by the SIMD kernel, band by band, plus the
    /// preorder walk of the trees left out of the padded layout.
    fn walk_simd(&self, rows: &[SimdRow]) -> [u64; BLOCK] {
        let mut out = [0u64; BLOCK];
        for (o, row) in out.iter_mut().zip(rows) {
            *o = self.sparse.walk(&row.0[..self.n_features]);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let mut lines = &self.lines[..];
            for band in &self.bands {
                let (here, rest) = lines.split_at(band.lines());
                // SAFETY: `Kernel::Avx512` and `Kernel::Avx2` are only chosen (by
                // `Kernel::best` or `Kernel::available`) when the CPU has AVX-512F or AVX2
                // and the model at most `SIMD_FEATURES` features; `here` is one band:
                // `band.trees` trees padded to `band.depth`, only its last group short,
                // whose missing lanes `clear_group` left as pass-through splits over leaves
                // worth 0.
                let sums = unsafe {
                    match self.kernel {
                        Kernel::Avx2 => walk_avx2::walk_block(
                            here,
                            band.depth,
                            band.trees,
                            self.n_features,
                            rows,
                        ),
                        Kernel::Avx512 => {
                            walk_avx512::walk_block(here, band.depth, band.trees, rows)
                        }
                        Kernel::Scalar => unreachable!("the scalar walk takes no SIMD block"),
                    }
                };
                for (o, s) in out.iter_mut().zip(sums) {
                    *o += s;
                }
                lines = rest;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        if !self.bands.is_empty() {
            unreachable!("SIMD kernels are only chosen on x86-64")
        }
        out
    }

    /// The walk this layout uses.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Heap bytes of the scoring layout: padded lines and preorder trees.
    pub fn bytes(&self) -> usize {
        self.lines.capacity() * std::mem::size_of::<Line>()
            + self.bands.capacity() * std::mem::size_of::<Band>()
            + self.sparse.bytes()
    }

    /// Tree groups in the padded layout (for tests).
    #[cfg(test)]
    pub fn groups(&self) -> usize {
        self.bands.iter().map(Band::groups).sum()
    }

    /// Trees walked in preorder rather than padded (for tests).
    #[cfg(test)]
    pub fn sparse_trees(&self) -> usize {
        self.sparse.trees()
    }
}

/// Line and word of the threshold of split slot `slot` of tree `lane` in a group; the
/// feature index is the next word.
pub(crate) fn split_word(slot: usize, lane: usize) -> (usize, usize) {
    (2 * slot + lane / 8, 2 * (lane % 8))
}

/// Leaf path length to fixed point; see the module documentation.
pub(crate) fn leaf_word(value: f32) -> u32 {
    // Adding one half and truncating rounds like `f64::round` for the non-negative values
    // here, without a library call per leaf.
    (f64::from(value).clamp(0.0, MAX_LEAF) * LEAF_UNIT + 0.5) as u32
}

/// Fixed-point sum back to a path length.
fn from_units(units: u64) -> f64 {
    units as f64 / LEAF_UNIT
}

/// Walks one row through the sixteen trees of `group`, advancing the trees together one level
/// at a time so their loads overlap; returns the sum of their leaf words.
fn walk_group(group: &[Line], depth: u32, row: &[f32]) -> u64 {
    let mut slot = [0usize; GROUP];
    for _ in 0..depth {
        for (lane, s) in slot.iter_mut().enumerate() {
            let (line, word) = split_word(*s, lane);
            let threshold = f32::from_bits(group[line].0[word]);
            let x = row[group[line].0[word + 1] as usize];
            *s = 2 * *s + 1 + goes_right(x, threshold);
        }
    }
    let n_splits = (1usize << depth) - 1;
    slot.iter()
        .enumerate()
        .map(|(lane, &s)| u64::from(group[n_splits + s].0[lane]))
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
    use crate::forest::tests::{leaf, split};

    #[test]
    fn padded_and_preorder_walks_reach_the_same_leaves() {
        // x < 1 ? (x < 0 ? 2.5 : 2.0) : 1.0
        let tree = [
            split(1.0, 4, 3),
            split(0.0, 2, 2),
            leaf(2.5),
            leaf(2.0),
            leaf(1.0),
        ];
        // A group of depth 2 is 640 bytes; a copy of the tree 54 file bytes, so one or two
        // copies are walked in preorder, three or more padded.
        for (copies, groups, sparse) in [(1, 0, 1), (2, 0, 2), (3, 1, 0), (16, 1, 0), (17, 2, 0)] {
            let mut forest = Forest::default();
            for _ in 0..copies {
                let start = forest.nodes.len();
                forest.nodes.extend_from_slice(&tree);
                forest.close_tree(start, 2);
            }
            let c = Compiled::with_kernel(&forest, 1, Kernel::Scalar);
            assert_eq!((c.groups(), c.sparse_trees()), (groups, sparse));
            // NaN goes right at every split; 1.0 is not below the threshold 1.0.
            for (x, want) in [
                (-1.0, 2.5),
                (0.5, 2.0),
                (3.0, 1.0),
                (f32::NAN, 1.0),
                (1.0, 1.0),
            ] {
                assert_eq!(c.walk_one(&[x]), want * copies as f64, "x = {x}");
            }
        }
    }

    #[test]
    fn leaf_words_are_exact_for_trained_path_lengths() {
        for v in [1.0f32, 2.0, 7.75, 8.0f32.next_up(), 35.3, 0.5, 0.0] {
            assert_eq!(from_units(leaf_word(v).into()), f64::from(v));
        }
        assert_eq!(leaf_word(f32::MAX), u32::MAX);
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
    fn simd_kernels_match_the_scalar_walk_bit_for_bit() {
        use crate::build::grow_forest;
        use crate::schema::Transform;
        use crate::synth::clusters_with_noise;
        // (features, psi, trees): the standard shape, odd group fills, one register of
        // features, features from both registers (the flow model's 26), the widest model the
        // kernel takes, trees too shallow for its blend levels, and single-leaf trees.
        for (features, psi, trees) in [
            (8, 256, 100),
            (3, 5, 9),
            (16, 64, 17),
            (26, 256, 100),
            (32, 128, 33),
            (9, 64, 24),
            (17, 256, 40),
            (2, 2, 5),
            (1, 4, 3),
        ] {
            let (mut data, _) = clusters_with_noise(700, features, 0.05, features as u64);
            if trees == 3 {
                // Constant data: single-leaf trees.
                data.fill(1.5);
            }
            let transforms = vec![Transform::None; features];
            let forest = grow_forest(data.view(), &transforms, trees, psi, 7).unwrap();
            let scalar = Compiled::with_kernel(&forest, features, Kernel::Scalar);
            let rows = probe_rows(&data);
            let kernels = Kernel::available(features);
            if kernels.len() == 1 {
                eprintln!("no SIMD kernel on this CPU: nothing to compare");
            }
            for &kernel in &kernels[1..] {
                let simd = Compiled::with_kernel(&forest, features, kernel);
                let mut batch = vec![f64::NAN; rows.len()];
                simd.walk_batch(
                    rows.len(),
                    |i, buf| buf.copy_from_slice(&rows[i]),
                    |i, s| batch[i] = s,
                );
                for (i, row) in rows.iter().enumerate() {
                    let want = scalar.walk_one(row);
                    let one = simd.walk_one(row);
                    assert_eq!(one.to_bits(), want.to_bits(), "{kernel:?} row {i}");
                    assert_eq!(batch[i].to_bits(), want.to_bits(), "{kernel:?} row {i}");
                }
            }
        }
    }
}
