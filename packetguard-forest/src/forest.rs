//! Compact storage of every tree of a model: what files hold, what explanations walk.
//!
//! All trees live in one `Vec<Node>`, each tree a contiguous run in depth-first preorder.
//! A node is 10 bytes in files (12 in memory):
//!
//! - internal node: `value` is the split threshold, `feature` the column compared, `right`
//!   the offset from this node to its right child; the left child is the next node.
//!   Rows with `x < value` go left.
//! - leaf: `value` is the path length credited to a point ending here, `depth + c(size)`,
//!   precomputed at training so scoring adds one float per tree; `right` is 0 and `feature`
//!   is the number of features (the NaN slot of a row buffer).
//! - every node also keeps its training sample size (at most 32,768, so 16 bits).
//!
//! A preorder run with 16-bit right offsets holds trees of up to 65,535 nodes, which is why
//! the sample size is capped at 32,768 (a tree has at most `2 psi - 1` nodes). Scoring uses
//! the branch-free layout built from this one in `walk`.

use crate::path_length::PathLengths;

/// One tree node; see the module documentation for the encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Node {
    pub value: f32,
    pub feature: u16,
    pub right: u16,
    /// Training rows that reached this node; explanations use it to measure how much of a
    /// node a split cut away from the point.
    pub size: u16,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.right == 0
    }
}

/// Where one tree sits in the node array, and how many steps reach all its leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeSpan {
    pub start: u32,
    pub len: u32,
    pub depth: u32,
}

/// The trees of one model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Forest {
    pub nodes: Vec<Node>,
    pub trees: Vec<TreeSpan>,
}

impl Forest {
    /// Appends a tree whose nodes were pushed from `start` on, recording its depth.
    pub fn close_tree(&mut self, start: usize, depth: u32) {
        self.trees.push(TreeSpan {
            start: start as u32,
            len: (self.nodes.len() - start) as u32,
            depth,
        });
    }

    /// The nodes of tree `t`, one of `self.trees`.
    pub fn tree(&self, t: &TreeSpan) -> &[Node] {
        let start = t.start as usize;
        &self.nodes[start..start + t.len as usize]
    }

    /// Calls `visit(feature, depth, node size, size of the child taken)` for every split on
    /// one row's path in every tree.
    pub fn for_each_split(&self, row: &[f32], mut visit: impl FnMut(usize, u32, u16, u16)) {
        for t in &self.trees {
            let nodes = self.tree(t);
            let (mut p, mut depth) = (0usize, 0u32);
            loop {
                let node = nodes[p];
                if node.is_leaf() {
                    break;
                }
                let next = if row[node.feature as usize] < node.value {
                    p + 1
                } else {
                    p + node.right as usize
                };
                visit(node.feature as usize, depth, node.size, nodes[next].size);
                depth += 1;
                p = next;
            }
        }
    }

    /// Mean and maximum leaf depth over all leaves of all trees.
    pub fn leaf_depths(&self) -> (f64, u32) {
        let (mut total, mut leaves, mut max) = (0u64, 0u64, 0u32);
        for t in &self.trees {
            let nodes = self.tree(t);
            let mut stack = vec![(0usize, 0u32)];
            while let Some((p, d)) = stack.pop() {
                let node = nodes[p];
                if node.is_leaf() {
                    total += u64::from(d);
                    leaves += 1;
                    max = max.max(d);
                } else {
                    stack.push((p + node.right as usize, d + 1));
                    stack.push((p + 1, d + 1));
                }
            }
        }
        (total as f64 / leaves.max(1) as f64, max)
    }
}

/// Checks that `nodes` is one well-formed preorder tree over `n_features` features (leaves
/// already pointing at slot `n_features`) no deeper than `max_depth`, whose leaves hold the
/// path lengths training gives them, and returns its depth.
///
/// Loading runs this on every tree, so the unchecked-looking offsets of the walks can never
/// leave the tree or the row buffer, and no leaf can skew scores (a leaf worth 255 everywhere
/// would score every row normal), whatever a file holds.
pub fn validate_tree(
    nodes: &[Node],
    n_features: usize,
    max_depth: u32,
    lengths: &PathLengths,
) -> Result<u32, String> {
    let mut stack: Vec<(usize, u32)> = Vec::with_capacity(max_depth as usize + 1);
    let (mut pos, mut depth, mut deepest) = (0usize, 0u32, 0u32);
    loop {
        let Some(node) = nodes.get(pos) else {
            return Err(format!(
                "node {pos} is past the end of a {}-node tree",
                nodes.len()
            ));
        };
        if node.size == 0 {
            return Err(format!("node {pos} has no training rows"));
        }
        if node.is_leaf() {
            if usize::from(node.feature) != n_features {
                return Err(format!("leaf {pos} has feature {}", node.feature));
            }
            let want = lengths.leaf_value(depth, node.size);
            if node.value.to_bits() != want.to_bits() {
                return Err(format!(
                    "leaf {pos} has path length {}, training gives {want} at depth {depth} with {} rows",
                    node.value, node.size
                ));
            }
            deepest = deepest.max(depth);
            match stack.pop() {
                Some((right, d)) => {
                    if right != pos + 1 {
                        return Err(format!(
                            "right child {right} does not follow its left subtree ending at {pos}"
                        ));
                    }
                    pos = right;
                    depth = d;
                }
                None if pos + 1 == nodes.len() => return Ok(deepest),
                None => {
                    return Err(format!(
                        "tree ends at node {pos} but has {} nodes",
                        nodes.len()
                    ))
                }
            }
        } else {
            if usize::from(node.feature) >= n_features {
                return Err(format!(
                    "node {pos} splits on feature {} of {n_features}",
                    node.feature
                ));
            }
            if node.right < 2 {
                return Err(format!("node {pos} has right child offset {}", node.right));
            }
            if node.value.is_nan() {
                // NaN is below nothing: the split would send every row right.
                return Err(format!("node {pos} has split threshold NaN"));
            }
            let right = pos + usize::from(node.right);
            match (nodes.get(pos + 1), nodes.get(right)) {
                (Some(l), Some(r))
                    if u32::from(l.size) + u32::from(r.size) == u32::from(node.size) => {}
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "node {pos}: children sizes do not add up to {}",
                        node.size
                    ))
                }
                _ => return Err(format!("node {pos} has a child past the end of the tree")),
            }
            if depth >= max_depth {
                return Err(format!("tree deeper than the height limit {max_depth}"));
            }
            stack.push((pos + usize::from(node.right), depth + 1));
            pos += 1;
            depth += 1;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn validate(nodes: &[Node], max_depth: u32) -> Result<u32, String> {
        validate_tree(nodes, 1, max_depth, &PathLengths::new())
    }

    /// A leaf worth `v` (hand-built trees in tests).
    pub(crate) fn leaf(v: f32) -> Node {
        Node {
            value: v,
            feature: 1,
            right: 0,
            size: 1,
        }
    }

    /// A split on feature 0 at `t`, its right child `right` nodes on.
    pub(crate) fn split(t: f32, right: u16, size: u16) -> Node {
        Node {
            value: t,
            feature: 0,
            right,
            size,
        }
    }

    #[test]
    fn validates_a_good_tree_and_rejects_bad_offsets() {
        // root(x<1) -> [left: (x<0) -> leaf, leaf], right leaf
        let good = [
            split(1.0, 4, 3),
            split(0.0, 2, 2),
            leaf(2.0),
            leaf(2.0),
            leaf(1.0),
        ];
        assert_eq!(validate(&good, 8), Ok(2));
        let mut bad = good;
        bad[0].right = 3;
        assert!(validate(&bad, 8).is_err());
        let mut bad = good;
        bad[0].right = 9;
        assert!(validate(&bad, 8).is_err());
        assert!(validate(&good[..4], 8).is_err());
        assert!(validate(&good, 1).is_err());
        assert!(validate(&[], 8).is_err());
        let mut bad = good;
        bad[0].size = 4;
        assert!(validate(&bad, 8).is_err());
        let mut bad = good;
        bad[1].value = f32::NAN;
        assert_eq!(
            validate(&bad, 8),
            Err("node 1 has split threshold NaN".into())
        );
        // A leaf credited other than depth + c(size).
        let mut bad = good;
        bad[4].value = 1.5;
        assert_eq!(
            validate(&bad, 8),
            Err("leaf 4 has path length 1.5, training gives 1 at depth 1 with 1 rows".into())
        );
    }
}
