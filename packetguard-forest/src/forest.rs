//! Flat storage of every tree of a model, and the walks over it.
//!
//! # Layout
//!
//! All trees live in one `Vec<Node>`, each tree a contiguous run in depth-first preorder.
//! A node is 8 bytes, so a cache line holds 8 of them:
//!
//! - internal node: `value` is the split threshold, `feature` the column compared, `right`
//!   the offset from this node to its right child. The left child is always the next node,
//!   so half of all steps read the adjacent 8 bytes, usually in the same cache line.
//! - leaf: `value` is the path length credited to a point ending here, `depth + c(size)`,
//!   precomputed at training so scoring adds one float per tree. `feature` points at an
//!   extra slot of the row buffer that always holds NaN and `right` is 0.
//!
//! The leaf encoding makes the walk branch-free: `x < value` is false for NaN, so a leaf
//! steps by `right = 0` onto itself. A tree is walked a fixed number of steps (its depth),
//! which lets the batch walk advance several rows in lock-step with no data-dependent
//! branches, so their cache misses overlap.
//!
//! A preorder run with 16-bit right offsets holds trees of up to 65,535 nodes, which is why
//! the sample size is capped at 32,768 (a tree has at most `2 psi - 1` nodes).

/// One tree node; see the module documentation for the encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Node {
    pub value: f32,
    pub feature: u16,
    pub right: u16,
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

/// Rows walked together by [`Forest::walk_block`].
pub const LANES: usize = 8;

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

    /// Sum over trees of the leaf values reached by `LANES` rows at once.
    ///
    /// `buf` holds the rows' transformed values, `stride` floats per row with the last of
    /// each row NaN (the slot leaves point at). Adds into `acc`.
    #[inline]
    pub fn walk_block(&self, buf: &[f32], stride: usize, acc: &mut [f64; LANES]) {
        let buf = &buf[..LANES * stride];
        for t in &self.trees {
            let nodes = &self.nodes[t.start as usize..(t.start + t.len) as usize];
            let mut pos = [0usize; LANES];
            for _ in 0..t.depth {
                for (lane, p) in pos.iter_mut().enumerate() {
                    let node = nodes[*p];
                    let x = buf[lane * stride + node.feature as usize];
                    *p += if x < node.value {
                        1
                    } else {
                        node.right as usize
                    };
                }
            }
            for (a, p) in acc.iter_mut().zip(pos) {
                *a += f64::from(nodes[p].value);
            }
        }
    }

    /// Sum over trees of the leaf values reached by one row (`row` ends with the NaN slot).
    #[inline]
    pub fn walk_one(&self, row: &[f32]) -> f64 {
        let mut sum = 0.0;
        for t in &self.trees {
            let nodes = &self.nodes[t.start as usize..(t.start + t.len) as usize];
            let mut p = 0usize;
            loop {
                let node = nodes[p];
                if node.is_leaf() {
                    sum += f64::from(node.value);
                    break;
                }
                p += if row[node.feature as usize] < node.value {
                    1
                } else {
                    node.right as usize
                };
            }
        }
        sum
    }

    /// Calls `visit(feature, depth)` for every split on one row's path in every tree.
    pub fn for_each_split(&self, row: &[f32], mut visit: impl FnMut(usize, u32)) {
        for t in &self.trees {
            let nodes = &self.nodes[t.start as usize..(t.start + t.len) as usize];
            let (mut p, mut depth) = (0usize, 0u32);
            loop {
                let node = nodes[p];
                if node.is_leaf() {
                    break;
                }
                visit(node.feature as usize, depth);
                depth += 1;
                p += if row[node.feature as usize] < node.value {
                    1
                } else {
                    node.right as usize
                };
            }
        }
    }

    /// Mean and maximum leaf depth over all leaves of all trees.
    pub fn leaf_depths(&self) -> (f64, u32) {
        let (mut total, mut leaves, mut max) = (0u64, 0u64, 0u32);
        for t in &self.trees {
            let nodes = &self.nodes[t.start as usize..(t.start + t.len) as usize];
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
/// already pointing at slot `n_features`) no deeper than `max_depth`, and returns its depth.
///
/// Loading runs this on every tree, so the unchecked-looking offsets of the walks can never
/// leave the tree or the row buffer, whatever a file holds.
pub fn validate_tree(nodes: &[Node], n_features: usize, max_depth: u32) -> Result<u32, String> {
    let mut stack: Vec<(usize, u32)> = Vec::with_capacity(max_depth as usize + 1);
    let (mut pos, mut depth, mut deepest) = (0usize, 0u32, 0u32);
    loop {
        let Some(node) = nodes.get(pos) else {
            return Err(format!(
                "node {pos} is past the end of a {}-node tree",
                nodes.len()
            ));
        };
        if node.is_leaf() {
            if usize::from(node.feature) != n_features {
                return Err(format!("leaf {pos} has feature {}", node.feature));
            }
            if !node.value.is_finite() || node.value < 0.0 {
                return Err(format!("leaf {pos} has path length {}", node.value));
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
            if node.right < 2 || node.value.is_nan() {
                return Err(format!("node {pos} has an invalid split"));
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
mod tests {
    use super::*;

    fn leaf(v: f32) -> Node {
        Node {
            value: v,
            feature: 1,
            right: 0,
        }
    }

    fn split(t: f32, right: u16) -> Node {
        Node {
            value: t,
            feature: 0,
            right,
        }
    }

    #[test]
    fn validates_a_good_tree_and_rejects_bad_offsets() {
        // root(x<1) -> [left: (x<0) -> leaf, leaf], right leaf
        let good = [
            split(1.0, 4),
            split(0.0, 2),
            leaf(2.0),
            leaf(2.0),
            leaf(1.0),
        ];
        assert_eq!(validate_tree(&good, 1, 8), Ok(2));
        let mut bad = good;
        bad[0].right = 3;
        assert!(validate_tree(&bad, 1, 8).is_err());
        let mut bad = good;
        bad[0].right = 9;
        assert!(validate_tree(&bad, 1, 8).is_err());
        assert!(validate_tree(&good[..4], 1, 8).is_err());
        assert!(validate_tree(&good, 1, 1).is_err());
        assert!(validate_tree(&[], 1, 8).is_err());
    }

    #[test]
    fn block_walk_matches_single_walk() {
        let mut forest = Forest {
            nodes: vec![
                split(1.0, 4),
                split(0.0, 2),
                leaf(2.5),
                leaf(2.0),
                leaf(1.0),
            ],
            trees: vec![],
        };
        forest.close_tree(0, 2);
        let xs = [-1.0f32, 0.5, 3.0, f32::NAN, 0.0, 1.0, -0.5, 2.0];
        let mut buf = [0f32; LANES * 2];
        for (l, x) in xs.iter().enumerate() {
            buf[l * 2] = *x;
            buf[l * 2 + 1] = f32::NAN;
        }
        let mut acc = [0.0; LANES];
        forest.walk_block(&buf, 2, &mut acc);
        for (l, x) in xs.iter().enumerate() {
            assert_eq!(acc[l], forest.walk_one(&[*x, f32::NAN]), "lane {l}");
        }
        assert_eq!(acc[0], 2.5);
        assert_eq!(acc[1], 2.0);
        assert_eq!(acc[2], 1.0);
        // NaN input goes right at every split.
        assert_eq!(acc[3], 1.0);
    }
}
