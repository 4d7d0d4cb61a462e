//! The AVX-512 walk: one register holds the current node of all sixteen trees of a group.
//!
//! Per level, for one row and one group: gather the sixteen (threshold, feature) pairs as
//! 64-bit words (two 8-element gathers: a gather costs per element, so one 64-bit element
//! per tree is half the cost of gathering thresholds and features apart), split them into a
//! threshold and a feature register, look the row's values up with one in-register
//! two-source permute (the row is two 16-float registers, hence at most 32 features),
//! compare, and step
//! every lane to its child. The comparison is "not less than, unordered", the scalar walk's
//! rule, so NaN goes right and `-inf` pass-through slots always go right.
//!
//! Split positions count 64-bit words from the group's start: slot `s` of lane `k` is at
//! `16 s + k`, so the child is at `2 p + (16 - k) + 16 (x >= t)`. From the last split level
//! the leaf is 32-bit word `2 p + (16 2^D - k) + 16 (x >= t)` (see `walk` for the lines).
//!
//! The first three levels touch only slots 0 to 6, the same lines for every row, so they are
//! split into threshold and feature registers once per group and picked with mask blends
//! keyed by the earlier comparisons instead of gathered.
//!
//! Leaf words are integers, so the lane-wise sums equal the scalar walk's bit for bit.

use crate::walk::{group_lines, Line, SimdRow, BLOCK, GROUP};

/// Rows a group walks in lock-step: a gather takes over 20 cycles, so independent rows'
/// gathers are issued back to back rather than left to out-of-order execution to find.
const INTERLEAVE: usize = 8;

/// Levels picked by blends rather than gathered, when the trees are deep enough.
const BLEND_LEVELS: u32 = 3;

/// Path-length sums, in fixed-point units, of `rows` (at most [`BLOCK`]) through every
/// group of `lines` (`trees` trees padded to `depth` levels).
///
/// # Safety
/// The CPU must support AVX-512F; `lines` must be one band of a layout built by `Compiled`:
/// `trees` trees padded to `depth` over at most 32 features, every group full but the last,
/// whose lanes past the last tree hold leaf words of 0 (which the half-group walk relies
/// on).
#[target_feature(enable = "avx512f")]
pub unsafe fn walk_block(
    lines: &[Line],
    depth: u32,
    trees: usize,
    rows: &[SimdRow],
) -> [u64; BLOCK] {
    use std::arch::x86_64::*;
    let group_lines = group_lines(depth);
    assert!(rows.len() <= BLOCK && depth >= 1);
    assert_eq!(lines.len() % group_lines, 0);
    let low_half = _mm512_set1_epi64(0xffff_ffff);
    // Adds sixteen 32-bit leaf words to eight 64-bit sums (the sum of the eight is what
    // counts, so which word lands in which sum does not matter).
    let widen_add = |acc: __m512i, leaves: __m512i| {
        let acc = _mm512_add_epi64(acc, _mm512_and_si512(leaves, low_half));
        _mm512_add_epi64(acc, _mm512_srli_epi64::<32>(leaves))
    };
    // Only the accumulators of the rows given are walked and reduced: `walk_one` and the
    // last block of a batch pass fewer than `BLOCK` rows.
    let mut acc = [_mm512_setzero_si512(); BLOCK];
    let acc = &mut acc[..rows.len()];
    for (g, group) in lines.chunks_exact(group_lines).enumerate() {
        let base = group.as_ptr().cast::<i64>();
        // A last group of at most eight trees skips the gathers of lanes 8 to 15: a gather
        // costs per element.
        let half = trees.saturating_sub(g * GROUP) <= GROUP / 2;
        let top = if depth > BLEND_LEVELS {
            // SAFETY: the group has the 14 lines of slots 0 to 6.
            Some(std::array::from_fn(|s| unsafe {
                split_pair(
                    _mm512_load_si512(base.add(16 * s).cast()),
                    _mm512_load_si512(base.add(16 * s + 8).cast()),
                )
            }))
        } else {
            None
        };
        let top = top.as_ref();
        let mut chunks = rows.chunks_exact(INTERLEAVE);
        let mut accs = acc.chunks_exact_mut(INTERLEAVE);
        for (rows, acc) in (&mut chunks).zip(&mut accs) {
            let rows: &[SimdRow; INTERLEAVE] = rows.try_into().expect("chunk length");
            // SAFETY: `base` is a whole group of `depth` levels (see `walk_group`).
            let leaves = unsafe {
                if half {
                    walk_group::<INTERLEAVE, true>(base, top, depth, rows)
                } else {
                    walk_group::<INTERLEAVE, false>(base, top, depth, rows)
                }
            };
            for (a, l) in acc.iter_mut().zip(leaves) {
                *a = widen_add(*a, l);
            }
        }
        for (row, a) in chunks.remainder().iter().zip(accs.into_remainder()) {
            // SAFETY: as above.
            let row = std::array::from_ref(row);
            let [leaves] = unsafe {
                if half {
                    walk_group::<1, true>(base, top, depth, row)
                } else {
                    walk_group::<1, false>(base, top, depth, row)
                }
            };
            *a = widen_add(*a, leaves);
        }
    }
    let mut out = [0u64; BLOCK];
    for (o, a) in out.iter_mut().zip(acc.iter()) {
        *o = _mm512_reduce_add_epi64(*a) as u64;
    }
    out
}

/// Thresholds and features of slots 0 to 6 of a group, split into registers.
type Top = [(std::arch::x86_64::__m512, std::arch::x86_64::__m512i); 7];

/// Walks `R` rows through the group at `base` and returns each row's sixteen leaf words;
/// `top` holds the group's first three levels when the trees are deeper than that. With
/// `HALF`, lanes 8 to 15 (trees past the last, whose leaves are worth 0) are not gathered:
/// they read threshold 0 and feature 0, which keeps them on valid positions.
///
/// # Safety
/// AVX-512F; `base` points at a group of `group_lines(depth)` lines (`depth >= 1`) whose
/// feature words are below 32. After `j` levels a position is `16 s + k` with `s` a slot of
/// level `j`, below `2^j - 1 + 2^j`, so split gathers read lines `2s` and `2s + 1` of the
/// group; the leaf position is a lane of line `2^D - 1 + s`, `s` a bottom slot: every
/// gather stays inside the group.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn walk_group<const R: usize, const HALF: bool>(
    base: *const i64,
    top: Option<&Top>,
    depth: u32,
    rows: &[SimdRow; R],
) -> [std::arch::x86_64::__m512i; R] {
    use std::arch::x86_64::*;
    // SAFETY: a `SimdRow` is 32 aligned floats: two registers.
    let x = rows.map(|r| unsafe {
        (
            _mm512_load_ps(r.0.as_ptr()),
            _mm512_load_ps(r.0.as_ptr().add(16)),
        )
    });
    let lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    let mut pos = [lanes; R];
    let mut level = 0;
    if let Some(top) = top {
        let blend = |k, (t0, f0): (__m512, __m512i), (t1, f1): (__m512, __m512i)| {
            (
                _mm512_mask_blend_ps(k, t0, t1),
                _mm512_mask_blend_epi32(k, f0, f1),
            )
        };
        for (p, &x) in pos.iter_mut().zip(&x) {
            let r0 = goes_right(x, top[0].0, top[0].1);
            // Slot 1 + r0.
            let (t, f) = blend(r0, top[1], top[2]);
            let r1 = goes_right(x, t, f);
            // Slot 3 + 2 r0 + r1.
            let (t, f) = blend(r0, blend(r1, top[3], top[4]), blend(r1, top[5], top[6]));
            let r2 = goes_right(x, t, f);
            // Slot 7 + 4 r0 + 2 r1 + r2, at 16 words per slot.
            let mut q = _mm512_add_epi32(*p, _mm512_set1_epi32(16 * 7));
            q = _mm512_mask_add_epi32(q, r0, q, _mm512_set1_epi32(64));
            q = _mm512_mask_add_epi32(q, r1, q, _mm512_set1_epi32(32));
            *p = _mm512_mask_add_epi32(q, r2, q, _mm512_set1_epi32(16));
        }
        level = BLEND_LEVELS;
    }
    let step = _mm512_sub_epi32(_mm512_set1_epi32(16), lanes);
    let sixteen = _mm512_set1_epi32(16);
    for _ in level..depth - 1 {
        for (p, &x) in pos.iter_mut().zip(&x) {
            // SAFETY: see the function's contract.
            let right = unsafe { gather_split::<HALF>(base, *p, x) };
            let q = _mm512_add_epi32(_mm512_add_epi32(*p, *p), step);
            *p = _mm512_mask_add_epi32(q, right, q, sixteen);
        }
    }
    let to_leaf = _mm512_sub_epi32(_mm512_set1_epi32(16 << depth), lanes);
    let mut leaves = [_mm512_setzero_si512(); R];
    for ((p, &x), leaf) in pos.iter().zip(&x).zip(&mut leaves) {
        // SAFETY: as above.
        let right = unsafe { gather_split::<HALF>(base, *p, x) };
        let q = _mm512_add_epi32(_mm512_add_epi32(*p, *p), to_leaf);
        let q = _mm512_mask_add_epi32(q, right, q, sixteen);
        // SAFETY: as above; `q` is a lane of a leaf line.
        *leaf = unsafe { _mm512_i32gather_epi32::<4>(q, base.cast()) };
    }
    leaves
}

/// Which lanes of `x` go right at the split slots at positions `pos` (only lanes 0 to 7
/// gathered with `HALF`).
///
/// # Safety
/// AVX-512F; `pos` are split positions of the group at `base`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn gather_split<const HALF: bool>(
    base: *const i64,
    pos: std::arch::x86_64::__m512i,
    x: Row,
) -> std::arch::x86_64::__mmask16 {
    use std::arch::x86_64::*;
    // SAFETY: per the contract.
    let (low, high) = unsafe {
        (
            _mm512_i32gather_epi64::<8>(_mm512_castsi512_si256(pos), base),
            if HALF {
                _mm512_setzero_si512()
            } else {
                _mm512_i32gather_epi64::<8>(_mm512_extracti64x4_epi64::<1>(pos), base)
            },
        )
    };
    let (thresholds, features) = split_pair(low, high);
    goes_right(x, thresholds, features)
}

/// The thresholds and features of sixteen (threshold, feature) word pairs, lanes 0 to 7 in
/// `low` and 8 to 15 in `high`.
#[target_feature(enable = "avx512f")]
#[inline]
fn split_pair(
    low: std::arch::x86_64::__m512i,
    high: std::arch::x86_64::__m512i,
) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512i) {
    use std::arch::x86_64::*;
    let even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    (
        _mm512_castsi512_ps(_mm512_permutex2var_epi32(low, even, high)),
        _mm512_permutex2var_epi32(low, odd, high),
    )
}

/// A row's features 0 to 15 and 16 to 31.
type Row = (std::arch::x86_64::__m512, std::arch::x86_64::__m512);

/// Lanes whose value of `x` at `features` is not below `thresholds` (NaN included).
#[target_feature(enable = "avx512f")]
#[inline]
fn goes_right(
    x: Row,
    thresholds: std::arch::x86_64::__m512,
    features: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__mmask16 {
    use std::arch::x86_64::*;
    _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(_mm512_permutex2var_ps(x.0, features, x.1), thresholds)
}
