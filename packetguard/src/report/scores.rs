//! The score distribution of one model detector: fixed bins over [0, 1], normal and
//! anomalous verdicts counted apart, so a million verdicts cost 800 bytes.

/// Bins over the score range [0, 1].
pub const BINS: usize = 50;

/// Counts of one detector's scores, by bin and verdict.
#[derive(Clone, Debug)]
pub struct ScoreHistogram {
    pub normal: [u64; BINS],
    pub anomaly: [u64; BINS],
    /// Scores outside [0, 1] or not a number: counted, not binned.
    pub out_of_range: u64,
    /// The threshold of the latest verdict.
    pub threshold: Option<f64>,
    /// Whether verdicts came with more than one threshold (models changed mid-input).
    pub thresholds_differ: bool,
}

impl Default for ScoreHistogram {
    fn default() -> Self {
        ScoreHistogram {
            normal: [0; BINS],
            anomaly: [0; BINS],
            out_of_range: 0,
            threshold: None,
            thresholds_differ: false,
        }
    }
}

/// The bin of a score in [0, 1]; 1.0 goes in the last bin.
pub fn bin_of(score: f64) -> Option<usize> {
    if !(0.0..=1.0).contains(&score) {
        return None;
    }
    Some(((score * BINS as f64) as usize).min(BINS - 1))
}

impl ScoreHistogram {
    pub fn add(&mut self, score: f64, threshold: f64, anomaly: bool) {
        match bin_of(score) {
            Some(bin) if anomaly => self.anomaly[bin] += 1,
            Some(bin) => self.normal[bin] += 1,
            None => self.out_of_range += 1,
        }
        if let Some(t) = self.threshold {
            self.thresholds_differ |= t.to_bits() != threshold.to_bits();
        }
        self.threshold = Some(threshold);
    }

    /// Verdicts counted, binned or not.
    pub fn total(&self) -> u64 {
        self.normal.iter().chain(&self.anomaly).sum::<u64>() + self.out_of_range
    }

    /// Bars the chart draws: one per non-empty bin and verdict.
    pub fn bars(&self) -> usize {
        self.normal
            .iter()
            .chain(&self.anomaly)
            .filter(|&&c| c > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_fall_in_their_bins_and_strays_are_counted_apart() {
        let mut h = ScoreHistogram::default();
        h.add(0.0, 0.6, false);
        h.add(0.019, 0.6, false);
        h.add(0.02, 0.6, false);
        h.add(1.0, 0.6, true);
        h.add(f64::NAN, 0.6, false);
        h.add(-0.1, 0.6, false);
        assert_eq!(h.normal[0], 2);
        assert_eq!(h.normal[1], 1);
        assert_eq!(h.anomaly[BINS - 1], 1);
        assert_eq!(h.out_of_range, 2);
        assert_eq!(h.total(), 6);
        assert_eq!(h.bars(), 3);
        assert!(!h.thresholds_differ);
        h.add(0.5, 0.7, false);
        assert!(h.thresholds_differ);
        assert_eq!(h.threshold, Some(0.7));
    }
}
