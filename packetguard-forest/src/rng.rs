//! Random numbers drawn only through `next_u64` of ChaCha8.
//!
//! `rand`'s own range and float sampling may change between releases; doing the two
//! conversions here keeps a seed's model identical for as long as ChaCha8 is ChaCha8.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator behind every random choice in training.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// Seeds ChaCha8 from a `u64` with `rand_core`'s documented PCG32 expansion.
    pub fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform integer in `0..n` (Lemire's multiply-and-reject, no modulo bias).
    ///
    /// # Panics
    /// If `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "empty range");
        let m = u128::from(self.0.next_u64()) * u128::from(n);
        // The rejection threshold `2^64 mod n` is below `n`, so a low half of at least `n`
        // is accepted without computing it: the division is only paid on the rare draw that
        // needs it, and the decisions are the same as always comparing with the threshold.
        if (m as u64) >= n {
            return (m >> 64) as u64;
        }
        let threshold = n.wrapping_neg() % n;
        let mut m = m;
        loop {
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
            m = u128::from(self.0.next_u64()) * u128::from(n);
        }
    }

    /// Uniform `f64` in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.below(1000), b.below(1000));
            assert_eq!(a.unit().to_bits(), b.unit().to_bits());
        }
    }

    #[test]
    fn below_decides_like_the_plain_threshold_test() {
        // The plain form: compare every draw's low half with `2^64 mod n`.
        let plain = |rng: &mut ChaCha8Rng, n: u64| loop {
            let m = u128::from(rng.next_u64()) * u128::from(n);
            if (m as u64) >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        };
        let mut a = Rng::new(3);
        let mut b = ChaCha8Rng::seed_from_u64(3);
        for n in [
            1u64,
            2,
            3,
            7,
            255,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX,
            100_000,
        ] {
            for _ in 0..200 {
                assert_eq!(a.below(n), plain(&mut b, n), "n = {n}");
            }
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = r.below(5);
            assert!(v < 5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        for _ in 0..100 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
