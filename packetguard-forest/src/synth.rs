//! Seeded synthetic data with known anomalies, shared by the tests, the criterion bench and
//! `forest-bench` so every figure is measured on the same kind of data.

use ndarray::Array2;

use crate::rng::Rng;

/// Dense Gaussian clusters plus uniform noise.
///
/// Four clusters with centres uniform in `[0, 10]` per feature and standard deviations in
/// `[0.3, 1)`; a share `anomaly_fraction` of the rows is instead uniform over `[-2, 12]` per
/// feature and labelled `true`. Rows are in random order. Same arguments, same data.
pub fn clusters_with_noise(
    rows: usize,
    features: usize,
    anomaly_fraction: f64,
    seed: u64,
) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Rng::new(seed);
    const CLUSTERS: usize = 4;
    let centres: Vec<f64> = (0..CLUSTERS * features)
        .map(|_| 10.0 * rng.unit())
        .collect();
    let spreads: Vec<f64> = (0..CLUSTERS).map(|_| 0.3 + 0.7 * rng.unit()).collect();
    let mut data = Array2::zeros((rows, features));
    let mut labels = Vec::with_capacity(rows);
    for mut row in data.rows_mut() {
        let anomaly = rng.unit() < anomaly_fraction;
        if anomaly {
            row.iter_mut().for_each(|x| *x = -2.0 + 14.0 * rng.unit());
        } else {
            let c = rng.below(CLUSTERS as u64) as usize;
            for (f, x) in row.iter_mut().enumerate() {
                *x = centres[c * features + f] + spreads[c] * normal(&mut rng);
            }
        }
        labels.push(anomaly);
    }
    (data, labels)
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
}
