//! The evaluation as a fixed-width table for a terminal (and JSON through serde).

use std::fmt::Write;

use super::labels::format_epoch;
use super::score::Evaluation;

/// Formats `e` as two tables: one row per detector, then one row per attack with each
/// detector's delay.
pub fn table(e: &Evaluation) -> String {
    let mut s = String::new();
    let opt = |v: Option<f64>, digits: usize| match v {
        Some(v) => format!("{v:.digits$}"),
        None => "-".to_string(),
    };
    let _ = writeln!(
        s,
        "{:<10} {:>9} {:>9} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>9}",
        "detector",
        "verdicts",
        "anomalies",
        "TP",
        "FP",
        "FN",
        "precision",
        "recall",
        "F1",
        "AUC",
        "FP/hour"
    );
    for d in &e.detectors {
        let _ = writeln!(
            s,
            "{:<10} {:>9} {:>9} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>9}",
            d.detector,
            d.verdicts,
            d.anomalies,
            d.true_positives,
            d.false_positives,
            d.false_negatives,
            opt(d.precision, 3),
            opt(d.recall, 3),
            opt(d.f1, 3),
            opt(d.roc_auc, 3),
            opt(d.false_positives_per_hour, 1),
        );
    }
    let _ = writeln!(s, "benign part: {:.1} s", e.benign_seconds);
    let _ = writeln!(s);
    let _ = write!(
        s,
        "{:<18} {:<20} {:<20} {:>20}",
        "attack", "attacker", "victim", "start"
    );
    for d in e.detectors.iter() {
        let _ = write!(s, " {:>10}", d.detector);
    }
    let _ = writeln!(s);
    for a in &e.attacks {
        let attacker = a
            .attacker
            .map(|x| x.to_string())
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            s,
            "{:<18} {:<20} {:<20} {:>20}",
            clip(&a.attack, 18),
            clip(&attacker, 20),
            clip(&a.victim.to_string(), 20),
            &format_epoch(a.start_ns)[..format_epoch(a.start_ns).len() - 6]
        );
        for d in &a.delays {
            let cell = match d.delay_s {
                Some(t) => format!("{t:.3} s"),
                None => "missed".into(),
            };
            let _ = write!(s, " {cell:>10}");
        }
        let _ = writeln!(s);
    }
    s
}

/// `text` cut to `width` characters, the cut marked with `~`.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('~');
        t
    }
}
