//! The expected path length `c(n)` of an unsuccessful search in a binary search tree of `n`
//! keys, which normalises depths into scores and stands in for the subtree a leaf cuts off.

/// Euler–Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Below this, harmonic numbers are summed exactly; above it the asymptotic series is
/// accurate to well under 1e-12, and summing would cost a loop per leaf.
const EXACT_HARMONIC_BELOW: u64 = 256;

/// The `k`-th harmonic number `H(k) = 1 + 1/2 + ... + 1/k` (`H(0) = 0`).
///
/// Exact for small `k`; for large `k` uses `ln k + gamma + 1/(2k) - 1/(12k^2) + 1/(120k^4)`.
pub fn harmonic(k: u64) -> f64 {
    if k < EXACT_HARMONIC_BELOW {
        // Summed from the small terms up so rounding stays minimal.
        (1..=k).rev().map(|i| 1.0 / i as f64).sum()
    } else {
        let x = k as f64;
        let x2 = x * x;
        x.ln() + EULER_GAMMA + 1.0 / (2.0 * x) - 1.0 / (12.0 * x2) + 1.0 / (120.0 * x2 * x2)
    }
}

/// `c(n) = 2 H(n-1) - 2 (n-1) / n`, with `c(0) = c(1) = 0` and `c(2) = 1`.
///
/// scikit-learn's `_average_path_length` special-cases `n <= 2` the same way but
/// approximates `H(n-1)` by `ln(n-1) + gamma` for every larger `n`; the exact sum differs by
/// less than `1/(n-1)`, which moves scores by a few thousandths at most.
pub fn average_path_length(n: u64) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let nf = n as f64;
            2.0 * harmonic(n - 1) - 2.0 * (nf - 1.0) / nf
        }
    }
}

/// `c(n)` for every node size a tree can have, at a table look-up each for small sizes.
///
/// Loading checks every leaf of a file against `depth + c(size)`; summing up to 255
/// harmonic terms per leaf would let a large crafted file cost seconds of arithmetic.
pub struct PathLengths {
    small: [f64; SMALL_TABLE],
}

/// Sizes up to this (exclusive) are looked up; from it on the asymptotic series is one step.
const SMALL_TABLE: usize = EXACT_HARMONIC_BELOW as usize + 1;

impl PathLengths {
    pub fn new() -> PathLengths {
        PathLengths {
            small: std::array::from_fn(|n| average_path_length(n as u64)),
        }
    }

    /// [`average_path_length`]`(n)`, bit for bit.
    pub fn c(&self, n: u64) -> f64 {
        match self.small.get(n as usize) {
            Some(&c) => c,
            None => average_path_length(n),
        }
    }

    /// The path length training stores in a leaf of `size` rows at `depth`.
    pub fn leaf_value(&self, depth: u32, size: u16) -> f32 {
        (f64::from(depth) + self.c(u64::from(size))) as f32
    }
}

impl Default for PathLengths {
    fn default() -> Self {
        PathLengths::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // H(2) = 1.5, so c(3) = 3 - 4/3.
        assert!((average_path_length(3) - (3.0 - 4.0 / 3.0)).abs() < 1e-12);
        // H(3) = 11/6, so c(4) = 11/3 - 3/2.
        assert!((average_path_length(4) - (11.0 / 3.0 - 1.5)).abs() < 1e-12);
    }

    #[test]
    fn asymptotic_series_meets_the_exact_sum() {
        for k in [256u64, 300, 1000, 5000] {
            let exact: f64 = (1..=k).rev().map(|i| 1.0 / i as f64).sum();
            assert!((harmonic(k) - exact).abs() < 1e-12, "k = {k}");
        }
    }

    #[test]
    fn the_table_gives_the_function_bit_for_bit() {
        let t = PathLengths::new();
        for n in (0..600).chain([32_767, 32_768]) {
            assert_eq!(
                t.c(n).to_bits(),
                average_path_length(n).to_bits(),
                "n = {n}"
            );
        }
    }

    #[test]
    fn c256_is_close_to_the_usual_approximation() {
        let approx = 2.0 * (255f64.ln() + EULER_GAMMA) - 2.0 * 255.0 / 256.0;
        let c = average_path_length(256);
        assert!((c - approx).abs() < 0.01, "c(256) = {c}, approx {approx}");
    }
}
