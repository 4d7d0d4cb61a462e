//! The numbers: confusion counts, precision, recall, F1, ROC AUC, delays, false
//! positives per benign hour.

use serde::Serialize;

use crate::events::Detector;
use crate::verdict::Verdict;

use super::labels::AttackLabel;
use super::matching::{attack_of, benign_ns, involves, Window};
use super::net::IpNet;

/// One detector's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectorScore {
    pub detector: &'static str,
    pub verdicts: u64,
    pub anomalies: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
    /// `None` when the detector called nothing anomalous.
    pub precision: Option<f64>,
    /// `None` when no verdict of the detector was about an attack.
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Area under the ROC curve of the scores (ties count half); `None` without both
    /// attack and benign verdicts.
    pub roc_auc: Option<f64>,
    /// Anomalous verdicts outside every attack window.
    pub benign_false_positives: u64,
    /// Those per hour of the benign part; `None` when the capture has no benign part.
    pub false_positives_per_hour: Option<f64>,
}

/// How long one detector took to flag one attack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delay {
    pub detector: &'static str,
    /// First anomalous verdict about the attack minus the attack's start; `None`: missed.
    pub delay_s: Option<f64>,
}

/// One attack and how each detector did on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttackResult {
    pub attack: String,
    pub attacker: Option<IpNet>,
    pub victim: IpNet,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Verdicts about it, all detectors.
    pub verdicts: u64,
    pub delays: Vec<Delay>,
}

/// The whole evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub first_ns: u64,
    pub last_ns: u64,
    /// How long after an attack's last packet its verdicts were still counted as its.
    pub linger_s: f64,
    pub benign_seconds: f64,
    pub detectors: Vec<DetectorScore>,
    pub attacks: Vec<AttackResult>,
}

/// Evaluates `verdicts` of a capture spanning `[first_ns, last_ns]` against `labels`,
/// with attack windows lingering `linger_ns` after their last packet. Detectors without
/// a verdict are left out.
pub fn evaluate(
    labels: &[AttackLabel],
    verdicts: &[Verdict],
    first_ns: u64,
    last_ns: u64,
    linger_ns: u64,
) -> Evaluation {
    let windows: Vec<Window> = labels.iter().map(|l| Window::of(l, linger_ns)).collect();
    let about: Vec<Option<usize>> = verdicts
        .iter()
        .map(|v| attack_of(labels, &windows, v))
        .collect();
    let in_any_window = |ts: u64| windows.iter().any(|w| w.contains(ts));
    let benign = benign_ns(first_ns, last_ns, &windows);
    let present: Vec<Detector> = Detector::ALL
        .into_iter()
        .filter(|d| verdicts.iter().any(|v| v.detector == *d))
        .collect();
    let detectors = present
        .iter()
        .map(|&d| {
            let mut s = DetectorScore {
                detector: d.as_str(),
                verdicts: 0,
                anomalies: 0,
                true_positives: 0,
                false_positives: 0,
                false_negatives: 0,
                true_negatives: 0,
                precision: None,
                recall: None,
                f1: None,
                roc_auc: None,
                benign_false_positives: 0,
                false_positives_per_hour: None,
            };
            let mut scored = Vec::new();
            for (v, a) in verdicts.iter().zip(&about).filter(|(v, _)| v.detector == d) {
                s.verdicts += 1;
                s.anomalies += v.anomaly as u64;
                match (v.anomaly, a.is_some()) {
                    (true, true) => s.true_positives += 1,
                    (true, false) => s.false_positives += 1,
                    (false, true) => s.false_negatives += 1,
                    (false, false) => s.true_negatives += 1,
                }
                if v.anomaly && !in_any_window(v.ts_ns) {
                    s.benign_false_positives += 1;
                }
                scored.push((v.score, a.is_some()));
            }
            s.precision = ratio(s.true_positives, s.true_positives + s.false_positives);
            s.recall = ratio(s.true_positives, s.true_positives + s.false_negatives);
            s.f1 = match (s.precision, s.recall) {
                (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            };
            s.roc_auc = roc_auc(&mut scored);
            s.false_positives_per_hour =
                (benign > 0).then(|| s.benign_false_positives as f64 * 3.6e12 / benign as f64);
            s
        })
        .collect();
    let attacks = labels
        .iter()
        .zip(&windows)
        .map(|(l, w)| {
            // Each attack on its own: a verdict about two overlapping attacks counts for both.
            let mine = |v: &&Verdict| w.contains(v.ts_ns) && involves(l, &v.subject);
            AttackResult {
                attack: l.attack.clone(),
                attacker: l.attacker,
                victim: l.victim,
                start_ns: l.start_ns,
                end_ns: l.end_ns,
                verdicts: verdicts.iter().filter(mine).count() as u64,
                delays: present
                    .iter()
                    .map(|&d| Delay {
                        detector: d.as_str(),
                        delay_s: verdicts
                            .iter()
                            .filter(|v| v.detector == d && v.anomaly)
                            .filter(mine)
                            .map(|v| v.ts_ns)
                            .min()
                            .map(|t| t.saturating_sub(l.start_ns) as f64 / 1e9),
                    })
                    .collect(),
            }
        })
        .collect();
    Evaluation {
        first_ns,
        last_ns,
        linger_s: linger_ns as f64 / 1e9,
        benign_seconds: benign as f64 / 1e9,
        detectors,
        attacks,
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The exact ROC AUC of `(score, positive)` pairs: the Mann-Whitney statistic, with each
/// run of equal scores given its average rank (a tie between a positive and a negative
/// counts one half). Sorts `scored`. `None` unless both classes are present.
pub fn roc_auc(scored: &mut [(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|s| s.1).count() as f64;
    let negatives = scored.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0.total_cmp(&scored[i].0).is_eq() {
            j += 1;
        }
        // Ranks i+1 ..= j, averaged.
        let avg = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg * scored[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}
