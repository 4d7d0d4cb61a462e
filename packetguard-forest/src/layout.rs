//! Which trees the padded scoring layout takes, in which groups, and which it leaves to the
//! preorder walk: the rule that keeps scoring memory proportional to the model file.
//!
//! The branch-free walk of `walk` pads every tree of a group of [`GROUP`] to the group's
//! deepest leaf `D`, which costs `3 * 2^D - 2` lines of 64 bytes whatever the trees hold. A
//! full tree of depth `D` has about `2^(D+1)` nodes (10 bytes each in a file), so padding it
//! costs less than the file; but a thin tree (a chain of `2D + 1` nodes) or a group of one
//! deep tree and fifteen single leaves would cost thousands of times its bytes, and a small
//! crafted file could ask for tens of gigabytes. So:
//!
//! - trees are taken deepest first and cut into groups of sixteen, so trees of similar depth
//!   share groups (scores are fixed-point sums, which do not depend on tree order);
//! - the padded lines of all groups together may take at most [`PADDING_FACTOR`] times the
//!   bytes all trees take in the file. Groups are padded cheapest first (fewest padded bytes
//!   per file byte) while they fit that budget; the trees of the others take the preorder
//!   walk of `sparse`.
//!
//! The bound holds whatever the file claims. Trained trees are far from thin: the shipped
//! models' groups take 1.6 (flow) and 2.4 (host) times their file bytes, so every group,
//! the short last one of a 100-tree model included (paid for by the rest), is padded.

use crate::forest::Forest;

/// Trees per group: one 64-byte line holds the same slot of this many trees.
pub const GROUP: usize = 16;

/// Most bytes of padded lines, over the whole model, per byte its trees take in the file.
pub const PADDING_FACTOR: usize = 4;

/// Bytes of one line.
const LINE_BYTES: usize = 64;

/// Bytes a tree of `nodes` nodes takes in a model file: its size field and its nodes.
pub fn tree_file_bytes(nodes: u32) -> usize {
    4 + 10 * nodes as usize
}

/// Lines of one group of trees padded to `depth`: two per split slot, one per leaf slot.
pub fn group_lines(depth: u32) -> usize {
    2 * ((1usize << depth) - 1) + (1usize << depth)
}

/// A run of padded groups of one depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// Padded depth of every group of the band, at least 1.
    pub depth: u32,
    /// Trees in the band: full groups, but for a short last group of the model.
    pub trees: usize,
}

impl Band {
    /// Groups of the band.
    pub fn groups(&self) -> usize {
        self.trees.div_ceil(GROUP)
    }

    /// Lines of the band.
    pub fn lines(&self) -> usize {
        self.groups() * group_lines(self.depth)
    }
}

/// Where each tree of a forest goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Padded trees (indices into the forest's trees) in layout order: group after group,
    /// band after band.
    pub padded: Vec<u32>,
    /// The bands `padded` is cut into, deepest first.
    pub bands: Vec<Band>,
    /// Trees left to the preorder walk, in forest order.
    pub sparse: Vec<u32>,
}

impl Plan {
    /// Assigns the trees of `forest` (validated) per the module's rule.
    pub fn new(forest: &Forest) -> Plan {
        let spans = &forest.trees;
        // A single-leaf tree is padded as a pass-through root over its leaf.
        let depth = |t: u32| spans[t as usize].depth.max(1);
        let file_bytes = |t: &u32| tree_file_bytes(spans[*t as usize].len) as u64;
        let mut order: Vec<u32> = (0..spans.len() as u32).collect();
        // Stable: trees of one depth keep forest order.
        order.sort_by_key(|&t| std::cmp::Reverse(depth(t)));
        // Per group: padded bytes and file bytes (at most 2^23 and 2^28: products fit).
        let costs: Vec<(u64, u64)> = order
            .chunks(GROUP)
            .map(|g| {
                let padded = (group_lines(depth(g[0])) * LINE_BYTES) as u64;
                (padded, g.iter().map(file_bytes).sum())
            })
            .collect();
        let mut cheapest: Vec<usize> = (0..costs.len()).collect();
        cheapest.sort_by(|&a, &b| {
            let ((pa, fa), (pb, fb)) = (costs[a], costs[b]);
            (pa * fb).cmp(&(pb * fa)).then(a.cmp(&b))
        });
        let all_bytes: u64 = order.iter().map(file_bytes).sum();
        let budget = PADDING_FACTOR as u64 * all_bytes;
        let mut padded = vec![false; costs.len()];
        let mut spent = 0;
        for g in cheapest {
            if spent + costs[g].0 <= budget {
                spent += costs[g].0;
                padded[g] = true;
            }
        }
        let mut plan = Plan::default();
        for (group, pad) in order.chunks(GROUP).zip(padded) {
            if !pad {
                plan.sparse.extend_from_slice(group);
                continue;
            }
            // Groups come deepest first, so a band is a run of groups of one depth; only the
            // last group of the model can be short, and it comes last.
            plan.padded.extend_from_slice(group);
            let d = depth(group[0]);
            match plan.bands.last_mut() {
                Some(band) if band.depth == d => band.trees += group.len(),
                _ => plan.bands.push(Band {
                    depth: d,
                    trees: group.len(),
                }),
            }
        }
        plan.sparse.sort_unstable();
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::tests::{leaf, split};
    use crate::forest::Node;

    /// A forest of the given trees, each closed at its true depth.
    fn forest(trees: &[(Vec<Node>, u32)]) -> Forest {
        let mut f = Forest::default();
        for (nodes, depth) in trees {
            let start = f.nodes.len();
            f.nodes.extend_from_slice(nodes);
            f.close_tree(start, *depth);
        }
        f
    }

    /// A full tree of depth `d` (its node sizes do not matter here).
    fn full(d: u32) -> (Vec<Node>, u32) {
        fn grow(d: u32, out: &mut Vec<Node>) {
            if d == 0 {
                out.push(leaf(1.0));
                return;
            }
            let me = out.len();
            out.push(split(0.0, 0, 2));
            grow(d - 1, out);
            out[me].right = (out.len() - me) as u16;
            grow(d - 1, out);
        }
        let mut nodes = Vec::new();
        grow(d, &mut nodes);
        (nodes, d)
    }

    /// A chain of `d` splits, each with a leaf on its left.
    fn chain(d: u32) -> (Vec<Node>, u32) {
        let mut nodes = Vec::new();
        for _ in 0..d {
            nodes.push(split(0.0, 2, 2));
            nodes.push(leaf(1.0));
        }
        nodes.push(leaf(1.0));
        (nodes, d)
    }

    #[test]
    fn full_trees_are_padded_in_bands_deepest_first() {
        let mut trees: Vec<_> = (0..20).map(|_| full(3)).collect();
        trees.extend((0..16).map(|_| full(5)));
        let plan = Plan::new(&forest(&trees));
        assert_eq!(
            plan.bands,
            [
                Band {
                    depth: 5,
                    trees: 16
                },
                Band {
                    depth: 3,
                    trees: 20
                }
            ]
        );
        assert_eq!(plan.padded[..16], (20..36).collect::<Vec<_>>()[..]);
        assert_eq!(plan.padded[16..], (0..20).collect::<Vec<_>>()[..]);
        assert!(plan.sparse.is_empty());
    }

    /// Padded bytes of `plan` and file bytes of the trees of `f`.
    fn bytes(plan: &Plan, f: &Forest) -> (usize, usize) {
        let lines: usize = plan.bands.iter().map(Band::lines).sum();
        let file = f.trees.iter().map(|t| tree_file_bytes(t.len)).sum();
        (lines * LINE_BYTES, file)
    }

    #[test]
    fn a_deep_thin_tree_among_single_leaves_is_walked_in_preorder() {
        let mut trees = vec![(vec![leaf(1.0)], 0); 40];
        trees.insert(7, chain(15));
        let f = forest(&trees);
        let plan = Plan::new(&f);
        // The chain and the fifteen leaves grouped with it would take 6,291,328 bytes.
        assert_eq!(plan.sparse, (0..16).collect::<Vec<_>>());
        assert_eq!(plan.padded, (16..41).collect::<Vec<_>>());
        assert_eq!(
            plan.bands,
            [Band {
                depth: 1,
                trees: 25
            }]
        );
        let (padded, file) = bytes(&plan, &f);
        assert_eq!((padded, file), (2 * 256, 40 * 14 + 314));
    }

    #[test]
    fn a_short_last_group_is_padded_within_the_budget() {
        // A group of depth 6 is 190 lines, 12,160 bytes; a full tree of depth 6 is 127
        // nodes, 1,274 file bytes. Two of them (a budget of 10,192 bytes) are not worth a
        // group; three (15,288) are.
        let plan = Plan::new(&forest(&vec![full(6); 2]));
        assert_eq!((plan.bands.len(), plan.sparse.len()), (0, 2));
        let plan = Plan::new(&forest(&vec![full(6); 3]));
        assert_eq!(plan.bands, [Band { depth: 6, trees: 3 }]);
        // A lone seventeenth tree is paid for by the full group before it.
        let plan = Plan::new(&forest(&vec![full(6); 17]));
        assert_eq!(
            plan.bands,
            [Band {
                depth: 6,
                trees: 17
            }]
        );
        assert!(plan.sparse.is_empty());
    }

    #[test]
    fn the_cheapest_groups_get_the_budget() {
        // Sixteen chains of depth 10 (21 nodes each) would take 196,480 padded bytes for
        // 3,424 file bytes; sixteen full trees of depth 6 take 12,160 for 20,384. The budget,
        // 4 * 23,808 = 95,232 bytes, pads the full trees only.
        let mut trees = vec![chain(10); 16];
        trees.extend(vec![full(6); 16]);
        let f = forest(&trees);
        let plan = Plan::new(&f);
        assert_eq!(plan.sparse, (0..16).collect::<Vec<_>>());
        assert_eq!(
            plan.bands,
            [Band {
                depth: 6,
                trees: 16
            }]
        );
        let (padded, file) = bytes(&plan, &f);
        assert_eq!((padded, file), (12_160, 23_808));
        assert!(padded <= PADDING_FACTOR * file);
    }
}
