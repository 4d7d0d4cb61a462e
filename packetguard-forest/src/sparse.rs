//! The preorder walk of the trees the padded layout leaves out (see `layout`): thin or
//! lonely trees, which would cost far more padded than they hold.
//!
//! Nodes are kept as in the file, 8 bytes each, leaves already in the fixed-point units of
//! `walk`, so a tree contributes the same integer here as it would padded and scores stay
//! bit-identical whichever walk a tree takes.

use crate::forest::Forest;

/// One node: a split's `f32` threshold bits or a leaf's fixed-point path length, the feature
/// compared, and the offset to the right child (0 for a leaf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SparseNode {
    word: u32,
    feature: u16,
    right: u16,
}

/// Some trees of a model in preorder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sparse {
    nodes: Vec<SparseNode>,
    /// First node of each tree.
    roots: Vec<u32>,
}

impl Sparse {
    /// Copies trees `trees` (indices into `forest.trees`, validated) with their leaves in
    /// fixed point by `leaf_word`.
    pub fn new(forest: &Forest, trees: &[u32], leaf_word: impl Fn(f32) -> u32) -> Sparse {
        let len = trees
            .iter()
            .map(|&t| forest.trees[t as usize].len as usize)
            .sum();
        let mut s = Sparse {
            nodes: Vec::with_capacity(len),
            roots: Vec::with_capacity(trees.len()),
        };
        for &t in trees {
            s.roots.push(s.nodes.len() as u32);
            s.nodes
                .extend(forest.tree(&forest.trees[t as usize]).iter().map(|n| {
                    if n.is_leaf() {
                        SparseNode {
                            word: leaf_word(n.value),
                            feature: 0,
                            right: 0,
                        }
                    } else {
                        SparseNode {
                            word: n.value.to_bits(),
                            feature: n.feature,
                            right: n.right,
                        }
                    }
                }));
        }
        s
    }

    /// Sum of the fixed-point leaf values `row` (transformed) reaches in every tree. Rows
    /// with `x < threshold` go left; NaN, below nothing, goes right, as in the padded walk.
    pub fn walk(&self, row: &[f32]) -> u64 {
        let mut sum = 0u64;
        for &root in &self.roots {
            let mut p = root as usize;
            loop {
                let n = self.nodes[p];
                if n.right == 0 {
                    sum += u64::from(n.word);
                    break;
                }
                let left = row[usize::from(n.feature)] < f32::from_bits(n.word);
                p += if left { 1 } else { usize::from(n.right) };
            }
        }
        sum
    }

    /// Trees held.
    #[cfg(test)]
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<SparseNode>()
            + self.roots.capacity() * std::mem::size_of::<u32>()
    }
}
