//! The AVX2 walk: one 256-bit register holds the current node of eight trees, half a group.
//!
//! CPUs without AVX-512 (AMD Zen 2 and 3, many Intel parts, most cloud machines) have AVX2.
//! Per level, for one row and one half group, the eight (threshold, feature) pairs are
//! fetched as 64-bit words, four per register (fetching the pair as one element halves the
//! loads of fetching thresholds and features apart). They are fetched by four plain loads
//! per register rather than by `vpgatherqq`, which Zen 3 runs as microcode: on an EPYC of
//! that family the standard workload scored about 17% faster per row with plain loads. The
//! positions are kept in 64-bit lanes, four trees per register, so each pair stays in its
//! tree's lane: a shift by 32 puts the feature index beside its threshold, the row's value is
//! looked up in registers (`vpermps` picks from eight floats; wider rows take two or four
//! picks and blends on the index bits above the third, so no gather and no load is spent on
//! the row), one compare and a few adds step every lane to its child, and nothing is
//! reordered from one level to the next.
//!
//! Positions are those of the AVX-512 kernel (same split lines, `walk`): slot `s` of tree `k`
//! (0 to 15) of a group is 64-bit word `16 s + k`, its child `2 p + (16 - k) + 16 (x >= t)`.
//! The comparison is "not less than, unordered", the scalar walk's rule: NaN and `-inf`
//! pass-through slots go right. The leaves are laid out for this kernel (`walk`'s `paired`
//! order): a bottom split's two leaves sit side by side at 64-bit word `p + 8 2^D`, so the
//! last level gathers them together with the split, and the comparison picks one with a
//! shift instead of waiting for one more dependent gather.
//!
//! The first three levels touch only slots 0 to 6, the same lines for every row, so they are
//! split into threshold and feature registers once per half group and picked with blends
//! keyed by the earlier comparisons instead of gathered (for psi 256, three gathers of the
//! eight a row takes per tree).
//!
//! Leaf words are integers summed in 64-bit lanes, so the sums equal the scalar walk's bit
//! for bit, whatever the leaf order.

use std::arch::x86_64::*;

use crate::walk::{group_lines, Line, SimdRow, BLOCK, GROUP};

/// Rows a half group walks in lock-step, so that the loads of independent rows are in flight
/// together (8 measured a little faster than 4 on Zen 3, 2 slower).
const INTERLEAVE: usize = 8;

/// Trees one register holds.
const HALF: usize = GROUP / 2;

/// Levels picked by blends rather than gathered, for trees deeper than this: 4 (slots 0
/// to 14) below depth 5, else 3 (slots 0 to 6) below depth 4, else none.
fn blend_levels(depth: u32) -> u32 {
    match depth {
        5.. => 4,
        4 => 3,
        _ => 0,
    }
}

/// Thresholds and features of slots 0 to 14 of a half group, in tree order (those of the
/// blend levels; the others unused).
type Top = [(__m256, __m256i); 15];

/// Path-length sums, in fixed-point units, of `rows` (at most [`BLOCK`]) through every
/// group of `lines` (`trees` trees padded to `depth` levels) over `n_features` features.
///
/// # Safety
/// The CPU must support AVX2; `lines` must be one band of a layout built by `Compiled` for
/// this kernel (leaves paired): `trees` trees padded to `depth` over at most 32 features
/// (`n_features`), every group full but the last, whose lanes past the last tree hold leaf
/// words of 0.
#[target_feature(enable = "avx2")]
pub unsafe fn walk_block(
    lines: &[Line],
    depth: u32,
    trees: usize,
    n_features: usize,
    rows: &[SimdRow],
) -> [u64; BLOCK] {
    // SAFETY: forwarded contract; the register count covers `n_features`.
    unsafe {
        match n_features {
            0..=8 => walk_block_with::<1>(lines, depth, trees, rows),
            9..=16 => walk_block_with::<2>(lines, depth, trees, rows),
            _ => walk_block_with::<4>(lines, depth, trees, rows),
        }
    }
}

/// [`walk_block`] for rows held in `REGS` registers of eight features.
///
/// # Safety
/// As [`walk_block`], with every feature index below `8 REGS`.
#[target_feature(enable = "avx2")]
unsafe fn walk_block_with<const REGS: usize>(
    lines: &[Line],
    depth: u32,
    trees: usize,
    rows: &[SimdRow],
) -> [u64; BLOCK] {
    let group_lines = group_lines(depth);
    assert!(rows.len() <= BLOCK && depth >= 1);
    assert_eq!(lines.len() % group_lines, 0);
    // Four 64-bit sums per row; their total is what counts.
    let mut acc = [_mm256_setzero_si256(); BLOCK];
    let acc = &mut acc[..rows.len()];
    for (g, group) in lines.chunks_exact(group_lines).enumerate() {
        let base = group.as_ptr().cast::<i64>();
        // A last group of at most eight trees skips its second half: those lanes are
        // pass-through splits over leaves worth 0.
        let halves = if trees.saturating_sub(g * GROUP) <= HALF {
            1
        } else {
            2
        };
        for half in 0..halves {
            let levels = blend_levels(depth);
            let top = if levels > 0 {
                let slots = (1 << levels) - 1;
                // SAFETY: the group has the lines of every slot above its last level.
                Some(std::array::from_fn(|slot| {
                    if slot < slots {
                        unsafe { top_slot(base, slot, half) }
                    } else {
                        (_mm256_setzero_ps(), _mm256_setzero_si256())
                    }
                }))
            } else {
                None
            };
            let top = top.as_ref();
            let mut chunks = rows.chunks_exact(INTERLEAVE);
            let mut accs = acc.chunks_exact_mut(INTERLEAVE);
            for (rows, acc) in (&mut chunks).zip(&mut accs) {
                let rows: &[SimdRow; INTERLEAVE] = rows.try_into().expect("chunk length");
                // SAFETY: `base` is a whole group of `depth` levels (see `walk_half`).
                let leaves = unsafe { walk_half::<INTERLEAVE, REGS>(base, top, half, depth, rows) };
                for (a, l) in acc.iter_mut().zip(leaves) {
                    *a = _mm256_add_epi64(*a, l);
                }
            }
            for (row, a) in chunks.remainder().iter().zip(accs.into_remainder()) {
                // SAFETY: as above.
                let row = std::array::from_ref(row);
                let [leaves] = unsafe { walk_half::<1, REGS>(base, top, half, depth, row) };
                *a = _mm256_add_epi64(*a, leaves);
            }
        }
    }
    let mut out = [0u64; BLOCK];
    for (o, a) in out.iter_mut().zip(acc.iter()) {
        let mut words = [0u64; 4];
        // SAFETY: `words` is 32 writable bytes.
        unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), *a) };
        *o = words.iter().sum();
    }
    out
}

/// The thresholds and features of split slot `slot` of half `half` of the group at `base`,
/// in tree order.
///
/// # Safety
/// AVX2; the group at `base` holds slot `slot`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn top_slot(base: *const i64, slot: usize, half: usize) -> (__m256, __m256i) {
    // SAFETY: line `2 slot + half` of the group is 64 aligned bytes.
    let (low, high) = unsafe {
        let line = base.add(8 * (2 * slot + half));
        (
            _mm256_load_ps(line.cast()),
            _mm256_load_ps(line.add(4).cast()),
        )
    };
    let (t, f) = split_pairs(low, high);
    (
        _mm256_castsi256_ps(_mm256_permute4x64_epi64::<0b11_01_10_00>(
            _mm256_castps_si256(t),
        )),
        _mm256_permute4x64_epi64::<0b11_01_10_00>(f),
    )
}

/// Thresholds and features of the eight (threshold, feature) word pairs of `low` (four) and
/// `high` (four), in the lane order `0 1 4 5 2 3 6 7`.
#[target_feature(enable = "avx2")]
#[inline]
fn split_pairs(low: __m256, high: __m256) -> (__m256, __m256i) {
    (
        _mm256_shuffle_ps::<0b10_00_10_00>(low, high),
        _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(low, high)),
    )
}

/// All ones in the lanes whose value of `x` at `f` is not below `t` (NaN included).
#[target_feature(enable = "avx2")]
#[inline]
fn goes_right<const REGS: usize>(x: &[__m256; REGS], t: __m256, f: __m256i) -> __m256i {
    _mm256_castps_si256(_mm256_cmp_ps::<_CMP_NLT_UQ>(lookup(x, f), t))
}

/// Walks `R` rows through half `half` (trees `8 half` to `8 half + 7`) of the group at
/// `base` and returns, for each row, the eight leaf words it reaches summed into four 64-bit
/// lanes; `top` holds the half group's first three levels when the trees are deeper than
/// that.
///
/// Below the blend levels, positions live in 64-bit lanes, two registers of four trees, so
/// that a gathered (threshold, feature) pair stays in its tree's lane: the feature is the
/// pair shifted right by 32, the comparison lands in the threshold's half, and nothing is
/// reordered between one level and the next. The last level also gathers both leaves under
/// each tree's bottom split (the `paired` leaf order of `walk`), before its comparison is
/// known, and the comparison then picks one with a shift.
///
/// # Safety
/// AVX2; `base` points at a group of `group_lines(depth)` lines (`depth >= 1`), leaves
/// paired, whose feature words are below `8 REGS`. After `j` levels a position is `16 s + k`
/// with `s` a slot of level `j`, below `2^j - 1 + 2^j`, so split gathers read lines `2s` and
/// `2s + 1` of the group; at the last split level `s` is a bottom split `2^(D-1) - 1 + j`,
/// whose leaf pair is 64-bit word `16 s + k + 8 2^D`, in line `2 (2^D - 1) + 2 j + k / 8`:
/// every gather stays inside the group.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn walk_half<const R: usize, const REGS: usize>(
    base: *const i64,
    top: Option<&Top>,
    half: usize,
    depth: u32,
    rows: &[SimdRow; R],
) -> [__m256i; R] {
    // SAFETY: a `SimdRow` is 32 floats aligned to 64 bytes: four aligned registers.
    let x: [[__m256; REGS]; R] =
        rows.map(|r| std::array::from_fn(|k| unsafe { _mm256_load_ps(r.0.as_ptr().add(8 * k)) }));
    let first = (HALF * half) as i32;
    let lanes = _mm256_add_epi32(
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_set1_epi32(first),
    );
    let sixteen = _mm256_set1_epi32(16);
    let mut pos = [lanes; R];
    let mut level = 0;
    if let Some(top) = top {
        let blend = |m: __m256i, (t0, f0): (__m256, __m256i), (t1, f1): (__m256, __m256i)| {
            (
                _mm256_blendv_ps(t0, t1, _mm256_castsi256_ps(m)),
                _mm256_castps_si256(_mm256_blendv_ps(
                    _mm256_castsi256_ps(f0),
                    _mm256_castsi256_ps(f1),
                    _mm256_castsi256_ps(m),
                )),
            )
        };
        let four = blend_levels(depth) == 4;
        for (p, x) in pos.iter_mut().zip(&x) {
            let r0 = goes_right(x, top[0].0, top[0].1);
            // Slot 1 + r0.
            let (t, f) = blend(r0, top[1], top[2]);
            let r1 = goes_right(x, t, f);
            // Slot 3 + 2 r0 + r1.
            let (t, f) = blend(r0, blend(r1, top[3], top[4]), blend(r1, top[5], top[6]));
            let r2 = goes_right(x, t, f);
            // Slot 7 + 4 r0 + 2 r1 + r2, at 16 words per slot.
            let q = _mm256_add_epi32(*p, _mm256_and_si256(r0, _mm256_set1_epi32(64)));
            let q = _mm256_add_epi32(q, _mm256_and_si256(r1, _mm256_set1_epi32(32)));
            let q = _mm256_add_epi32(q, _mm256_and_si256(r2, sixteen));
            if !four {
                *p = _mm256_add_epi32(q, _mm256_set1_epi32(16 * 7));
                continue;
            }
            // Slot 7 + 4 r0 + 2 r1 + r2: both candidates for each r2 are picked by the
            // earlier comparisons while r2 is still being computed, then one blend.
            let pick = |c: usize| {
                blend(
                    r1,
                    blend(r0, top[c], top[c + 4]),
                    blend(r0, top[c + 2], top[c + 6]),
                )
            };
            let (t, f) = blend(r2, pick(7), pick(8));
            let r3 = goes_right(x, t, f);
            // Slot 15 + 8 r0 + 4 r1 + 2 r2 + r3: `q - p` is 16 (4 r0 + 2 r1 + r2), doubled,
            // plus 16 r3, the lane and 16 times the level's first slot.
            let q = _mm256_add_epi32(_mm256_sub_epi32(q, *p), q);
            let q = _mm256_add_epi32(q, _mm256_and_si256(r3, sixteen));
            *p = _mm256_add_epi32(q, _mm256_set1_epi32(16 * 15));
        }
        level = blend_levels(depth);
    }
    // Trees 0 to 3 and 4 to 7 of the half, one 64-bit lane each.
    let wide = |v: __m256i| {
        [
            _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
            _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v)),
        ]
    };
    let mut pos: [[__m256i; 2]; R] = pos.map(wide);
    let step = wide(_mm256_sub_epi32(sixteen, lanes));
    let sixteen = _mm256_set1_epi64x(16);
    for _ in level..depth - 1 {
        for (p, x) in pos.iter_mut().zip(&x) {
            for (p, step) in p.iter_mut().zip(step) {
                // SAFETY: see the function's contract.
                let right = unsafe { gather_split::<REGS>(base, *p, x) };
                let q = _mm256_add_epi64(_mm256_add_epi64(*p, *p), step);
                *p = _mm256_add_epi64(q, _mm256_and_si256(right, sixteen));
            }
        }
    }
    let to_leaves = _mm256_set1_epi64x(8 << depth);
    let thirty_two = _mm256_set1_epi64x(32);
    let low_word = _mm256_set1_epi64x(0xFFFF_FFFF);
    let mut sums = [_mm256_setzero_si256(); R];
    for ((p, x), sum) in pos.iter().zip(&x).zip(&mut sums) {
        for &p in p {
            // SAFETY: as above; the pair is the bottom split's two leaves.
            let (right, pair) = unsafe {
                (
                    gather_split::<REGS>(base, p, x),
                    load4(base, _mm256_add_epi64(p, to_leaves)),
                )
            };
            let leaf = _mm256_srlv_epi64(pair, _mm256_and_si256(right, thirty_two));
            *sum = _mm256_add_epi64(*sum, _mm256_and_si256(leaf, low_word));
        }
    }
    sums
}

/// For the four trees whose split positions are the 64-bit lanes of `pos`: all ones in the
/// low half of the lanes whose value of `x` is not below the threshold (NaN included), zero
/// there in the others; the high halves are not meaningful.
///
/// # Safety
/// AVX2; `pos` are split positions of the group at `base`, whose features are below
/// `8 REGS`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn gather_split<const REGS: usize>(
    base: *const i64,
    pos: __m256i,
    x: &[__m256; REGS],
) -> __m256i {
    // SAFETY: per the contract.
    let pairs = unsafe { load4(base, pos) };
    // Each feature moves to its threshold's half, the high half becoming feature 0.
    let features = _mm256_srli_epi64::<32>(pairs);
    goes_right(x, _mm256_castsi256_ps(pairs), features)
}

/// The four 64-bit words of the group at `base` at the word positions in the lanes of `pos`:
/// what `_mm256_i64gather_epi64::<8>(base, pos)` returns, by four plain loads (see the module
/// documentation).
///
/// # Safety
/// AVX2; every position is a word of the group at `base`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load4(base: *const i64, pos: __m256i) -> __m256i {
    let (low, high) = (
        _mm256_castsi256_si128(pos),
        _mm256_extracti128_si256::<1>(pos),
    );
    let at = [
        _mm_cvtsi128_si64(low),
        _mm_extract_epi64::<1>(low),
        _mm_cvtsi128_si64(high),
        _mm_extract_epi64::<1>(high),
    ];
    // SAFETY: per the contract, each position is a word inside the group.
    let w = at.map(|i| unsafe { *base.offset(i as isize) });
    _mm256_setr_epi64x(w[0], w[1], w[2], w[3])
}

/// The row's values at `features` (each below `8 REGS`), lane by lane.
#[target_feature(enable = "avx2")]
#[inline]
fn lookup<const REGS: usize>(x: &[__m256; REGS], features: __m256i) -> __m256 {
    // `vpermps` reads the low three bits of each index; the next bits pick the register,
    // moved to the sign bit that `blendv` reads.
    let pick = |k: usize| _mm256_permutevar8x32_ps(x[k], features);
    if REGS == 1 {
        return pick(0);
    }
    let bit3 = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(features));
    let low = _mm256_blendv_ps(pick(0), pick(1), bit3);
    if REGS == 2 {
        return low;
    }
    let high = _mm256_blendv_ps(pick(2), pick(3), bit3);
    let bit4 = _mm256_castsi256_ps(_mm256_slli_epi32::<27>(features));
    _mm256_blendv_ps(low, high, bit4)
}
