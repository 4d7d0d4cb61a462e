//! A bounded, uniform, deterministic sample of scored points for the scatter.
//!
//! Reservoir sampling (Vitter's algorithm R): after `n` offers each point is in the sample
//! with probability `capacity / n`, and memory never exceeds `capacity` points. The random
//! draws come from a fixed-seed SplitMix64, so the same verdicts give the same page.

/// One flow verdict as the scatter plots it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub ts_ns: u64,
    pub score: f64,
}

/// A uniform sample of at most `capacity` points.
#[derive(Clone, Debug)]
pub struct Reservoir {
    capacity: usize,
    seen: u64,
    points: Vec<Point>,
    state: u64,
}

impl Reservoir {
    /// An empty sample; its memory is taken now, so offering never allocates.
    pub fn new(capacity: usize, seed: u64) -> Reservoir {
        Reservoir {
            capacity,
            seen: 0,
            points: Vec::with_capacity(capacity),
            state: seed,
        }
    }

    /// SplitMix64 (Steele, Lea and Flood, 2014).
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn offer(&mut self, p: Point) {
        self.seen += 1;
        if self.points.len() < self.capacity {
            self.points.push(p);
            return;
        }
        // A uniform draw in [0, seen) by multiply-shift, without modulo bias to speak of.
        let j = ((u128::from(self.next()) * u128::from(self.seen)) >> 64) as usize;
        if j < self.capacity {
            self.points[j] = p;
        }
    }

    /// The points kept.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Points offered in all.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(n: u64) -> Reservoir {
        let mut r = Reservoir::new(100, 7);
        for i in 0..n {
            r.offer(Point {
                ts_ns: i,
                score: 0.5,
            });
        }
        r
    }

    #[test]
    fn keeps_everything_until_full_then_a_uniform_bounded_sample() {
        let small = fill(60);
        assert_eq!(small.points().len(), 60);
        assert_eq!(small.seen(), 60);

        let big = fill(100_000);
        assert_eq!(big.points().len(), 100);
        assert_eq!(big.points.capacity(), 100);
        assert_eq!(big.seen(), 100_000);
        // Uniform: about half the kept points come from the second half of the offers
        // (binomial, n = 100, p = 0.5: 25..=75 holds with probability 1 - 1e-6).
        let late = big.points().iter().filter(|p| p.ts_ns >= 50_000).count();
        assert!(
            (25..=75).contains(&late),
            "{late} of 100 from the second half"
        );
        // Deterministic: the same offers give the same sample.
        assert_eq!(fill(100_000).points(), big.points());
    }
}
