//! How well the shipped flow model separates an attack's flows from the quiet phase's:
//! the ROC AUC of the scores in the agent's `--flow-scores` file, flows scored before the
//! attack's start against flows scored after it.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::capture::read_csv;

/// Scores of the quiet phase's flows and of the attack's, split at `start`.
pub fn split_scores(path: &Path, start: SystemTime) -> (Vec<f64>, Vec<f64>) {
    let start_ms = start.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (mut quiet, mut attack) = (Vec::new(), Vec::new());
    for row in read_csv(path) {
        let ms: u64 = row["scored_unix_ms"].parse().unwrap();
        let score: f64 = row["score"].parse().unwrap();
        if ms < start_ms {
            quiet.push(score);
        } else {
            attack.push(score);
        }
    }
    (quiet, attack)
}

/// The probability that an attack flow scores above a quiet one (ties count half): the
/// area under the ROC curve of the score as a detector of attack flows.
pub fn roc_auc(quiet: &[f64], attack: &[f64]) -> Option<f64> {
    if quiet.is_empty() || attack.is_empty() {
        return None;
    }
    let mut sorted = quiet.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut wins = 0.0;
    for &a in attack {
        let below = sorted.partition_point(|&q| q < a);
        let equal = sorted[below..].partition_point(|&q| q <= a);
        wins += below as f64 + 0.5 * equal as f64;
    }
    Some(wins / (quiet.len() as f64 * attack.len() as f64))
}

#[test]
fn roc_auc_counts_pairs_and_ties() {
    assert_eq!(roc_auc(&[0.1, 0.2], &[0.3, 0.4]), Some(1.0));
    assert_eq!(roc_auc(&[0.3, 0.4], &[0.1, 0.2]), Some(0.0));
    assert_eq!(roc_auc(&[0.5], &[0.5]), Some(0.5));
    assert_eq!(roc_auc(&[0.1, 0.5], &[0.5]), Some(0.75));
    assert_eq!(roc_auc(&[], &[0.5]), None);
}
