//! The AVX-512 walk: one gather fetches the current slot of all eight trees of a group.
//!
//! Per level, for one row and one group: gather the eight split words (threshold in the low
//! half, feature in the high half), shift the features down and look the row's values up
//! with one in-register permute (the row is a single 16-float register, hence at most 16
//! features), compare against the thresholds in place, and step every lane to its child.
//! Lane `k` of a group sits at word `slot * 8 + k`, so the next position is
//! `2 pos + (8 - k) + 8 (x >= t)`. The comparison is "not less than, unordered", the
//! scalar walk's rule, so NaN goes right and `-inf` pass-through slots always go right.
//!
//! Leaf words are integers, so the lane-wise sums equal the scalar walk's bit for bit.

use crate::walk::{Line, SimdRow, BLOCK};

/// Path-length sums, in fixed-point units, of `rows` (at most [`BLOCK`]) through every
/// group of `lines` (groups of `slots` lines, trees padded to `depth` levels).
///
/// # Safety
/// The CPU must support AVX-512F; `lines` must be a layout built by `Compiled` with `slots`
/// and `depth`, over at most 16 features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn walk_block(
    lines: &[Line],
    slots: usize,
    depth: u32,
    rows: &[SimdRow],
) -> [u64; BLOCK] {
    use std::arch::x86_64::*;
    assert!(rows.len() <= BLOCK && slots == (2usize << depth) - 1);
    assert_eq!(lines.len() % slots, 0);
    let mut acc = [_mm512_setzero_si512(); BLOCK];
    for group in lines.chunks_exact(slots) {
        let base = group.as_ptr().cast::<i64>();
        let mut chunks = rows.chunks_exact(INTERLEAVE);
        let mut accs = acc[..rows.len()].chunks_exact_mut(INTERLEAVE);
        for (rows, acc) in (&mut chunks).zip(&mut accs) {
            let rows: &[SimdRow; INTERLEAVE] = rows.try_into().expect("chunk length");
            // SAFETY: positions stay inside the group (see `walk_group`).
            let leaves = unsafe { walk_group(base, depth, rows) };
            for (a, l) in acc.iter_mut().zip(leaves) {
                *a = _mm512_add_epi64(*a, l);
            }
        }
        for (row, a) in chunks.remainder().iter().zip(accs.into_remainder()) {
            let rows = [*row; INTERLEAVE];
            // SAFETY: as above.
            let leaves = unsafe { walk_group(base, depth, &rows) };
            *a = _mm512_add_epi64(*a, leaves[0]);
        }
    }
    let mut out = [0u64; BLOCK];
    for (o, a) in out.iter_mut().zip(acc) {
        *o = _mm512_reduce_add_epi64(a) as u64;
    }
    out
}

/// Rows a group walks in lock-step: a gather takes about 25 cycles, so independent rows'
/// gathers are issued back to back rather than left to out-of-order execution to find.
const INTERLEAVE: usize = 8;

/// Walks [`INTERLEAVE`] rows through the group at `base` and returns each row's eight leaf
/// words.
///
/// # Safety
/// AVX-512F; `base` points at a group of `2^(depth+1) - 1` lines whose split words name
/// features below 16. After `k` levels a position is below `(2^(k+1) - 1) * 8`, so every
/// gather stays inside the group.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn walk_group(
    base: *const i64,
    depth: u32,
    rows: &[SimdRow; INTERLEAVE],
) -> [std::arch::x86_64::__m512i; INTERLEAVE] {
    use std::arch::x86_64::*;
    let x = rows.map(|r| _mm512_load_ps(r.0.as_ptr()));
    let mut pos = [_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0); INTERLEAVE];
    let mut level = 0;
    if depth >= REGISTER_LEVELS {
        // The first three levels are lines 0 to 6, the same for every row: looked up in
        // registers instead of gathered. Position `p` of line `l` is `8 l + lane`; a
        // two-table permute picks a lane of a pair of lines by the low four bits of `p`.
        // SAFETY: the group has at least 15 lines (depth >= 3).
        let line = |l: usize| unsafe { _mm512_load_si512(base.add(8 * l).cast()) };
        let top = [
            line(0),
            line(1),
            line(2),
            line(3),
            line(4),
            line(5),
            line(6),
        ];
        let forty = _mm512_set1_epi64(40);
        for (p, &x) in pos.iter_mut().zip(&x) {
            *p = step(*p, top[0], x);
            // Positions 8..=15 (line 1) have bit 3 set, 16..=23 (line 2) clear.
            *p = step(*p, _mm512_permutex2var_epi64(top[2], *p, top[1]), x);
            // Positions 24..=39 are lines 3 and 4, 40..=55 lines 5 and 6.
            let low = _mm512_permutex2var_epi64(top[4], *p, top[3]);
            let high = _mm512_permutex2var_epi64(top[6], *p, top[5]);
            let upper = _mm512_cmpge_epu64_mask(*p, forty);
            *p = step(*p, _mm512_mask_blend_epi64(upper, low, high), x);
        }
        level = REGISTER_LEVELS;
    }
    for _ in level..depth {
        for (p, &x) in pos.iter_mut().zip(&x) {
            // SAFETY: see the function's contract.
            *p = step(*p, unsafe { _mm512_i64gather_epi64::<8>(*p, base) }, x);
        }
    }
    // SAFETY: as above; the last positions are leaf slots of the group.
    pos.map(|p| unsafe { _mm512_i64gather_epi64::<8>(p, base) })
}

/// Levels [`walk_group`] looks up in registers rather than gathers.
const REGISTER_LEVELS: u32 = 3;

/// One level: from positions `pos` and their split words, the positions of the children the
/// row `x` goes to.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn step(
    pos: std::arch::x86_64::__m512i,
    words: std::arch::x86_64::__m512i,
    x: std::arch::x86_64::__m512,
) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    let features = _mm512_srli_epi64::<32>(words);
    let xs = _mm512_permutexvar_ps(features, x);
    // Even 32-bit lanes: the value and the threshold of each tree.
    let right = _mm512_mask_cmp_ps_mask::<_CMP_NLT_UQ>(0x5555, xs, _mm512_castsi512_ps(words));
    // 2 pos + (8 - lane), plus 8 where the row goes right (added to the low half of each
    // position; positions are small).
    let pos = _mm512_add_epi64(
        _mm512_add_epi64(pos, pos),
        _mm512_set_epi64(1, 2, 3, 4, 5, 6, 7, 8),
    );
    _mm512_mask_add_epi32(pos, right, pos, _mm512_set1_epi32(8))
}

/// Never called: `Kernel::Avx512` is only chosen on x86-64.
///
/// # Safety
/// None needed; it panics.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn walk_block(_: &[Line], _: usize, _: u32, _: &[SimdRow]) -> [u64; BLOCK] {
    unreachable!("the AVX-512 kernel exists only on x86-64")
}
