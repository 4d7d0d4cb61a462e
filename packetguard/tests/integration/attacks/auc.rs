//! How well the shipped flow model separates an attack's flows from the quiet phase's:
//! the ROC AUC of the scores in the agent's `--flow-scores` file, flows scored before the
//! attack's start against flows scored after it.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::capture::read_csv;

/// The scored flows of one phase, quiet or attack.
#[derive(Default)]
pub struct Phase {
    pub scores: Vec<f64>,
    /// Each flow's key and packet counts, in the order of `scores`, for the report.
    pub flows: Vec<String>,
}

impl Phase {
    /// The `n` highest-scoring flows, one per line: what outranked the attack when the AUC
    /// falls short.
    pub fn top(&self, n: usize) -> String {
        let mut order: Vec<usize> = (0..self.scores.len()).collect();
        order.sort_by(|&a, &b| self.scores[b].total_cmp(&self.scores[a]));
        order
            .iter()
            .take(n)
            .map(|&i| format!("  {:.4} {}", self.scores[i], self.flows[i]))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The quiet phase's flows and the attack's, split at `start`.
pub fn split_scores(path: &Path, start: SystemTime) -> (Phase, Phase) {
    let start_ms = start.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (mut quiet, mut attack) = (Phase::default(), Phase::default());
    for row in read_csv(path) {
        let ms: u64 = row["scored_unix_ms"].parse().unwrap();
        let phase = if ms < start_ms {
            &mut quiet
        } else {
            &mut attack
        };
        phase.scores.push(row["score"].parse().unwrap());
        phase.flows.push(format!(
            "{}:{} -> {}:{} protocol {}, {} + {} packets",
            row["src_ip"],
            row["src_port"],
            row["dst_ip"],
            row["dst_port"],
            row["protocol"],
            row.get("fwd_packets").map_or("?", String::as_str),
            row.get("bwd_packets").map_or("?", String::as_str),
        ));
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
