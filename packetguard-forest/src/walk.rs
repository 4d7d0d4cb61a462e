//! The scoring layout: every tree as a complete binary tree in breadth-first (heap) order,
//! walked with no data-dependent branch.
//!
//! The preorder trees of [`Forest`] are compact and are what files store, but stepping
//! through them needs a choice between "next node" and "right offset", which compilers turn
//! into a branch that mispredicts on half the steps (splits are coin flips by design). Here a
//! tree of depth `D` is laid out as `2^D - 1` split slots followed by `2^D` leaf values, and
//! the children of slot `i` are `2i + 1` and `2i + 2`, so a step is `i = 2i + 1 + (x >= t)`:
//! pure arithmetic.
//!
//! A leaf above depth `D` becomes a chain of pass-through slots down to the bottom level:
//! their feature is the row buffer's NaN slot, NaN never compares below a threshold, so the
//! walk keeps going right and lands on a copy of the leaf's value. Every row then takes
//! exactly `D` steps in a tree, which lets [`Compiled::walk`] advance several rows in
//! lock-step so their loads overlap.
//!
//! Cost: at most `2^(D+1)` slots per tree, about `2 psi`; for psi 256 that is 3 KiB per tree
//! (8-byte splits, 4-byte leaves), 300 KiB for 100 trees, which stays in L2.

use crate::forest::Forest;
use crate::score::LANES;

/// One split slot: go right when the row's value is not below `threshold`.
///
/// `offset` is the feature index times [`LANES`]: the position of lane 0's value in a
/// feature-major row block, so the batch walk loads a value with one addressing mode.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct Split {
    threshold: f32,
    offset: u32,
}

/// All trees of a model in the scoring layout. Every tree gets the same depth (the deepest
/// leaf of the model), so trees sit at fixed strides and [`Compiled::walk_one`] can walk
/// several trees together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    splits: Vec<Split>,
    leaves: Vec<f32>,
    trees: usize,
    depth: u32,
    /// Features of the model; `n_features * LANES` is the NaN slot.
    n_features: usize,
}

impl Compiled {
    /// Lays out `forest` (validated, over `n_features` features) for scoring.
    pub fn new(forest: &Forest, n_features: usize) -> Compiled {
        let depth = forest.trees.iter().map(|t| t.depth).max().unwrap_or(0);
        let (n_splits, n_leaves) = ((1usize << depth) - 1, 1usize << depth);
        let pass = Split {
            threshold: 0.0,
            offset: (n_features * LANES) as u32,
        };
        let mut c = Compiled {
            splits: vec![pass; n_splits * forest.trees.len()],
            leaves: vec![0.0; n_leaves * forest.trees.len()],
            trees: forest.trees.len(),
            depth,
            n_features,
        };
        for (i, t) in forest.trees.iter().enumerate() {
            let nodes = &forest.nodes[t.start as usize..(t.start + t.len) as usize];
            let splits = &mut c.splits[i * n_splits..(i + 1) * n_splits];
            let leaves = &mut c.leaves[i * n_leaves..(i + 1) * n_leaves];
            // (preorder position, heap slot, depth)
            let mut stack = vec![(0usize, 0usize, 0u32)];
            while let Some((p, slot, d)) = stack.pop() {
                let node = nodes[p];
                if d == depth {
                    leaves[slot - n_splits] = node.value;
                } else if node.is_leaf() {
                    // Pass-through slots (already filled) down the right edge.
                    stack.push((p, 2 * slot + 2, d + 1));
                } else {
                    splits[slot] = Split {
                        threshold: node.value,
                        offset: u32::from(node.feature) * LANES as u32,
                    };
                    stack.push((p + 1, 2 * slot + 1, d + 1));
                    stack.push((p + usize::from(node.right), 2 * slot + 2, d + 1));
                }
            }
        }
        c
    }

    /// Sum over trees of the leaf values reached by the [`LANES`] rows of `block`.
    ///
    /// `block` is feature-major: `block[f * LANES + lane]`, with `n_features + 1` features,
    /// the last all NaN. The rows advance together, one level at a time, so the loads of
    /// different rows are independent and overlap.
    #[inline]
    pub fn walk_block(&self, block: &[f32]) -> [f64; LANES] {
        assert!(block.len() > self.n_features * LANES + LANES - 1);
        let n_splits = (1usize << self.depth) - 1;
        let mut acc = [0.0; LANES];
        for t in 0..self.trees {
            let splits = &self.splits[t * n_splits..(t + 1) * n_splits];
            let leaves = &self.leaves[t * (n_splits + 1)..(t + 1) * (n_splits + 1)];
            let mut slot = [0usize; LANES];
            for _ in 0..self.depth {
                for (lane, s) in slot.iter_mut().enumerate() {
                    // SAFETY: before the last level a slot is below `n_splits`, the length of
                    // `splits` (children of slot i < 2^(k-1) - 1 are below 2^k - 1); offsets
                    // are at most `n_features * LANES` (validated features or the NaN
                    // slot), and the assert above keeps `offset + lane` inside `block`.
                    unsafe {
                        let split = *splits.get_unchecked(*s);
                        let x = *block.get_unchecked(split.offset as usize + lane);
                        *s = 2 * *s + 1 + goes_right(x, split.threshold);
                    }
                }
            }
            for (a, s) in acc.iter_mut().zip(slot) {
                *a += f64::from(leaves[s - n_splits]);
            }
        }
        acc
    }

    /// Sum over trees of the leaf values reached by one row (`row[f]`, `n_features + 1`
    /// values, the last NaN), walking [`LANES`] trees together so their loads overlap.
    #[inline]
    pub fn walk_one(&self, row: &[f32]) -> f64 {
        assert!(row.len() > self.n_features);
        let n_splits = (1usize << self.depth) - 1;
        let mut sum = 0.0;
        let mut tree = 0;
        while tree < self.trees {
            let group = (self.trees - tree).min(LANES);
            let mut slot = [0usize; LANES];
            for _ in 0..self.depth {
                for (g, s) in slot[..group].iter_mut().enumerate() {
                    let split = self.splits[(tree + g) * n_splits + *s];
                    // SAFETY: `offset / LANES` is a validated feature or the NaN slot, both
                    // inside `row` by the assert above.
                    let x = unsafe { *row.get_unchecked(split.offset as usize / LANES) };
                    *s = 2 * *s + 1 + goes_right(x, split.threshold);
                }
            }
            for (g, s) in slot[..group].iter().enumerate() {
                sum += f64::from(self.leaves[(tree + g) * (n_splits + 1) + s - n_splits]);
            }
            tree += group;
        }
        sum
    }

    /// Bytes of the scoring layout.
    pub fn bytes(&self) -> usize {
        self.splits.len() * std::mem::size_of::<Split>() + self.leaves.len() * 4
    }
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

    #[test]
    fn heap_layout_reaches_the_preorder_leaves() {
        let leaf = |v| Node {
            value: v,
            feature: 1,
            right: 0,
            size: 1,
        };
        let split = |t, right, size| Node {
            value: t,
            feature: 0,
            right,
            size,
        };
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
        let c = Compiled::new(&forest, 1);
        let xs = [-1.0f32, 0.5, 3.0, f32::NAN, 1.0, 1.0, 1.0, 1.0];
        let mut block = [f32::NAN; 2 * LANES];
        block[..LANES].copy_from_slice(&xs);
        // NaN goes right at every split; 1.0 is not below the threshold 1.0.
        assert_eq!(
            c.walk_block(&block),
            [2.5, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        );
        for (l, x) in xs.iter().enumerate() {
            assert_eq!(c.walk_one(&[*x, f32::NAN]), c.walk_block(&block)[l]);
        }
    }
}
