//! Seeded synthetic data with known anomalies, shared by the tests, the criterion bench and
//! `forest-bench` so every figure is measured on the same kind of data.

use ndarray::Array2;

use crate::rng::Rng;

/// Dense Gaussian clusters plus uniform noise.
///
/// Four clusters with centres uniform in `[0, 10]` per feature and standard deviations in
/// `[0.3, 1)`; a share `anomaly_fraction` of the rows is instead uniform over `[-2, 12]` per
/// feature and labelled `true`. Rows are in random order. Same arguments, same data.
///
/// Each call places its own clusters: two calls with different seeds draw from different
/// distributions. To train on one sample and score another of the same distribution, draw
/// both from one [`Clusters`].
pub fn clusters_with_noise(
    rows: usize,
    features: usize,
    anomaly_fraction: f64,
    seed: u64,
) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Rng::new(seed);
    let clusters = Clusters::draw(features, &mut rng);
    clusters.sample_with(rows, anomaly_fraction, &mut rng)
}

/// The four clusters of [`clusters_with_noise`], placed once, so that training and scored
/// rows can come from the same distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    features: usize,
    centres: Vec<f64>,
    spreads: Vec<f64>,
}

/// Clusters of [`clusters_with_noise`].
const CLUSTERS: usize = 4;

impl Clusters {
    /// Clusters over `features` features placed by `seed`.
    pub fn new(features: usize, seed: u64) -> Clusters {
        Clusters::draw(features, &mut Rng::new(seed))
    }

    fn draw(features: usize, rng: &mut Rng) -> Clusters {
        let centres = (0..CLUSTERS * features)
            .map(|_| 10.0 * rng.unit())
            .collect();
        let spreads = (0..CLUSTERS).map(|_| 0.3 + 0.7 * rng.unit()).collect();
        Clusters {
            features,
            centres,
            spreads,
        }
    }

    /// `rows` rows of these clusters plus uniform noise (a share `anomaly_fraction`,
    /// labelled `true`), drawn by `seed`.
    pub fn sample(
        &self,
        rows: usize,
        anomaly_fraction: f64,
        seed: u64,
    ) -> (Array2<f64>, Vec<bool>) {
        self.sample_with(rows, anomaly_fraction, &mut Rng::new(seed))
    }

    fn sample_with(
        &self,
        rows: usize,
        anomaly_fraction: f64,
        rng: &mut Rng,
    ) -> (Array2<f64>, Vec<bool>) {
        let features = self.features;
        let mut data = Array2::zeros((rows, features));
        let mut labels = Vec::with_capacity(rows);
        for mut row in data.rows_mut() {
            let anomaly = rng.unit() < anomaly_fraction;
            if anomaly {
                row.iter_mut().for_each(|x| *x = -2.0 + 14.0 * rng.unit());
            } else {
                let c = rng.below(CLUSTERS as u64) as usize;
                for (f, x) in row.iter_mut().enumerate() {
                    *x = self.centres[c * features + f] + self.spreads[c] * normal(rng);
                }
            }
            labels.push(anomaly);
        }
        (data, labels)
    }
}

/// Standard normal draw (Box–Muller, one of the pair).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1], so the log is finite
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// ROC AUC of `scores` against `labels` (`true` = positive): the probability that a random
/// positive outscores a random negative, ties counting one half. `None` if either class is
/// empty.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U with average ranks for ties.
    let (mut rank_sum, mut positives) = (0.0, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] {
                rank_sum += avg_rank;
                positives += 1;
            }
        }
        i = j + 1;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_reversed_and_tied_scores() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.5; 4], &labels), Some(0.5));
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
    }

    #[test]
    fn data_is_reproducible_and_labelled() {
        let (a, la) = clusters_with_noise(500, 3, 0.1, 4);
        let (b, lb) = clusters_with_noise(500, 3, 0.1, 4);
        assert_eq!(a, b);
        assert_eq!(la, lb);
        let share = la.iter().filter(|l| **l).count() as f64 / 500.0;
        assert!((0.05..0.15).contains(&share), "{share}");
    }

    #[test]
    fn one_set_of_clusters_gives_samples_of_one_distribution() {
        let clusters = Clusters::new(8, 1);
        let (a, _) = clusters.sample(2000, 0.0, 1);
        let (b, _) = clusters.sample(2000, 0.0, 2);
        assert_ne!(a, b);
        // Every row of the second sample lies within 5 spreads of a centre of the first's
        // clusters in every feature; rows of freshly placed clusters (what the forest bench
        // used to score) mostly do not.
        let near = |data: &Array2<f64>, c: &Clusters| {
            data.rows()
                .into_iter()
                .filter(|r| {
                    (0..CLUSTERS).any(|k| {
                        r.iter()
                            .enumerate()
                            .all(|(f, x)| (x - c.centres[k * 8 + f]).abs() < 5.0 * c.spreads[k])
                    })
                })
                .count()
        };
        assert_eq!(near(&b, &clusters), 2000);
        let (other, _) = clusters_with_noise(2000, 8, 0.0, 2);
        assert!(
            near(&other, &clusters) < 1000,
            "{}",
            near(&other, &clusters)
        );
        // The one-call form is the same as placing clusters and sampling from one stream.
        let mut rng = Rng::new(9);
        let c = Clusters::draw(3, &mut rng);
        assert_eq!(
            c.sample_with(300, 0.1, &mut rng),
            clusters_with_noise(300, 3, 0.1, 9)
        );
    }
}
