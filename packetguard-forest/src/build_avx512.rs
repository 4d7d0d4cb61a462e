//! AVX-512 versions of the two scans of tree growing: the min and max of a feature over a
//! node's rows, and the partition of its rows by a threshold.
//!
//! Both read `col[i]` for the row offsets `i` of a node sixteen at a time with one gather,
//! instead of one load after another. They compute exactly what the scalar versions in
//! `build` compute: the min and max of a set do not depend on the order it is read in (the
//! sample holds no negative zero, see `build`), and a partition is the same pair of sets
//! whatever order each side is in, which is all a tree depends on.

/// Min and max of `col[i]` over `i` in `idx` (not empty).
///
/// # Safety
/// The CPU must support AVX-512F; every offset in `idx` is below `col.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn min_max(col: &[f32], idx: &[u32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let mut lo = _mm512_set1_ps(f32::INFINITY);
    let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
    for chunk in idx.chunks(16) {
        let live = tail_mask(chunk.len());
        // SAFETY: the masked load reads only `chunk`; the gather reads only live lanes,
        // whose offsets are inside `col` by the contract.
        let x = unsafe {
            let i = _mm512_maskz_loadu_epi32(live, chunk.as_ptr().cast());
            _mm512_mask_i32gather_ps::<4>(lo, live, i, col.as_ptr())
        };
        lo = _mm512_min_ps(lo, x);
        hi = _mm512_max_ps(hi, _mm512_mask_mov_ps(hi, live, x));
    }
    (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi))
}

/// Reorders `idx` so the rows with `col[i] < threshold` come first and returns how many
/// they are; `scratch` (as long as `idx`) holds the others meanwhile.
///
/// # Safety
/// The CPU must support AVX-512F; every offset in `idx` is below `col.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn partition(
    col: &[f32],
    threshold: f32,
    idx: &mut [u32],
    scratch: &mut [u32],
) -> usize {
    use std::arch::x86_64::*;
    assert_eq!(idx.len(), scratch.len());
    let t = _mm512_set1_ps(threshold);
    let (mut left, mut right, mut start) = (0usize, 0usize, 0usize);
    while start < idx.len() {
        let live = tail_mask(idx.len() - start);
        // SAFETY: loads stay inside `idx[start..]` and, by the contract, `col`. Left rows go
        // back into `idx` at `left <= start`, over rows this step has already loaded; right
        // rows go into `scratch[right..]`; `left + right` never exceeds the rows seen.
        unsafe {
            let i = _mm512_maskz_loadu_epi32(live, idx.as_ptr().add(start).cast());
            let x = _mm512_mask_i32gather_ps::<4>(t, live, i, col.as_ptr());
            let goes_left = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(live, x, t);
            let goes_right = live & !goes_left;
            let (l, r) = (
                goes_left.count_ones() as usize,
                goes_right.count_ones() as usize,
            );
            _mm512_mask_storeu_epi32(
                idx.as_mut_ptr().add(left).cast(),
                tail_mask(l),
                _mm512_maskz_compress_epi32(goes_left, i),
            );
            _mm512_mask_storeu_epi32(
                scratch.as_mut_ptr().add(right).cast(),
                tail_mask(r),
                _mm512_maskz_compress_epi32(goes_right, i),
            );
            left += l;
            right += r;
        }
        start += 16;
    }
    idx[left..].copy_from_slice(&scratch[..right]);
    left
}

/// The first `n` of sixteen lanes (all of them from 16 up).
#[inline]
fn tail_mask(n: usize) -> u16 {
    if n >= 16 {
        u16::MAX
    } else {
        (1u16 << n) - 1
    }
}
