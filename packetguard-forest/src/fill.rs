//! Writing preorder trees into the padded scoring layout of `walk`: slots a tree does not
//! reach become pass-through splits, and each leaf lands at the bottom where the walk's
//! pass-through chain ends, in the order the kernel reads leaves.

use crate::forest::Node;
use crate::walk::{leaf_word, split_word, Line, GROUP};

/// Sets every slot of `group` (padded to `depth`) to what lanes past the last tree walk:
/// pass-through splits (threshold -inf, feature 0) over leaves worth 0.
pub fn clear_group(group: &mut [Line], depth: u32) {
    let n_splits = (1usize << depth) - 1;
    let mut pass = Line([0; GROUP]);
    for pair in pass.0.chunks_exact_mut(2) {
        pair[0] = f32::NEG_INFINITY.to_bits();
    }
    group[..2 * n_splits].fill(pass);
    group[2 * n_splits..].fill(Line([0; GROUP]));
}

/// Writes the preorder tree `nodes` (validated, no deeper than `depth`) into lane `lane` of
/// `group`, cleared by [`clear_group`]; `paired` puts the leaves in the AVX2 kernel's order.
pub fn fill_lane(group: &mut [Line], depth: u32, lane: usize, nodes: &[Node], paired: bool) {
    let n_splits = (1usize << depth) - 1;
    // Heap slots (and depths) of right children still to come in preorder: a split's left
    // child comes next, its right child after the left subtree.
    let mut pending = [(0usize, 0u32); 32];
    let mut n_pending = 0;
    let (mut slot, mut d) = (0usize, 0u32);
    for node in nodes {
        if node.is_leaf() {
            // Pass-through slots (already filled) down the right edge to the bottom:
            // `s -> 2s + 2`, `depth - d` times.
            let bottom = ((slot + 2) << (depth - d)) - 2;
            let (line, word) = leaf_position(depth, bottom - n_splits, lane, paired);
            group[line].0[word] = leaf_word(node.value);
            if n_pending > 0 {
                n_pending -= 1;
                (slot, d) = pending[n_pending];
            }
        } else {
            let (line, word) = split_word(slot, lane);
            group[line].0[word] = node.value.to_bits();
            group[line].0[word + 1] = u32::from(node.feature);
            pending[n_pending] = (2 * slot + 2, d + 1);
            n_pending += 1;
            (slot, d) = (2 * slot + 1, d + 1);
        }
    }
}

/// Line and word of leaf `i` (0 to `2^depth - 1`, left to right) of tree `lane` in a group.
///
/// Leaf line `i` holds leaf `i` of every tree. `paired` (the AVX2 kernel) instead puts each
/// tree's two leaves under one bottom split side by side, leaf `2j + side` of tree `lane` in
/// line `2 j + lane / 8`, word `2 (lane % 8) + side`: the same places as the split pairs
/// above, so one 64-bit load fetches both leaves a bottom split chooses between, before the
/// comparison is known.
fn leaf_position(depth: u32, i: usize, lane: usize, paired: bool) -> (usize, usize) {
    let first = 2 * ((1usize << depth) - 1);
    if paired {
        (first + 2 * (i / 2) + lane / 8, 2 * (lane % 8) + i % 2)
    } else {
        (first + i, lane)
    }
}
