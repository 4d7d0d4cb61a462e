//! Hand-made verdict sets; every expected number is worked out in the comments.

use std::net::IpAddr;

use super::matching::{benign_ns, Window};
use super::*;
use crate::events::{Detector, Subject};
use crate::verdict::Verdict;

const S: u64 = 1_000_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn flow(src: &str, dst: &str) -> Subject {
    Subject::Flow {
        src_ip: ip(src),
        dst_ip: ip(dst),
        src_port: 40000,
        dst_port: 80,
        protocol: 6,
    }
}

fn v(ts_s: f64, detector: Detector, subject: Subject, score: f64, anomaly: bool) -> Verdict {
    Verdict {
        ts_ns: (ts_s * 1e9) as u64,
        detector,
        rule: None,
        subject,
        score,
        threshold: 0.6,
        anomaly,
        top_features: Vec::new(),
        values: Vec::new(),
    }
}

fn label(attacker: &str, victim: &str, spoofed: bool) -> AttackLabel {
    AttackLabel {
        file: None,
        attack: "syn-flood".into(),
        attacker: Some(attacker.parse().unwrap()),
        victim: victim.parse().unwrap(),
        start_ns: 100 * S,
        end_ns: 110 * S,
        packets: None,
        bytes: None,
        spoofed,
    }
}

const A: &str = "203.0.113.66";
const VIC: &str = "192.0.2.10";

fn verdicts() -> Vec<Verdict> {
    use Detector::{Flow, Host, Source};
    vec![
        v(101.0, Flow, flow(A, VIC), 0.9, true),              // TP
        v(102.0, Flow, flow(VIC, A), 0.7, false),             // FN (either way round)
        v(103.0, Flow, flow("198.51.100.1", VIC), 0.8, true), // FP, inside the window
        v(500.0, Flow, flow("198.51.100.1", "192.0.2.20"), 0.6, true), // FP, benign part
        v(600.0, Flow, flow("198.51.100.1", "192.0.2.20"), 0.7, false), // TN
        v(200.0, Flow, flow(A, VIC), 0.2, false),             // TN: after the window
        v(114.0, Flow, flow(A, VIC), 0.95, true),             // TP: inside the linger
        v(105.0, Host, Subject::Host(ip(VIC)), 0.8, true),    // TP
        v(300.0, Host, Subject::Host(ip(VIC)), 0.3, false),   // TN
        v(301.0, Host, Subject::Host(ip("192.0.2.99")), 0.9, true), // FP, benign part
        v(106.0, Source, Subject::Source(ip(A)), 0.4, false), // FN
    ]
}

/// Span 0..3615 s, window 100..110 s + 5 s linger: exactly one benign hour.
fn run() -> Evaluation {
    evaluate(&[label(A, VIC, false)], &verdicts(), 0, 3615 * S, 5 * S)
}

#[test]
fn flow_detector_figures_by_hand() {
    let e = run();
    assert_eq!(e.benign_seconds, 3600.0);
    let f = &e.detectors[0];
    assert_eq!(f.detector, "flow");
    assert_eq!(
        (
            f.verdicts,
            f.anomalies,
            f.true_positives,
            f.false_positives,
            f.false_negatives,
            f.true_negatives
        ),
        (7, 4, 2, 2, 1, 2)
    );
    assert_eq!(f.precision, Some(0.5)); // 2 / (2 + 2)
    assert_eq!(f.recall, Some(2.0 / 3.0)); // 2 / (2 + 1)
    assert!((f.f1.unwrap() - 4.0 / 7.0).abs() < 1e-12); // 2·½·⅔ / (½ + ⅔)
                                                        // Positives 0.9, 0.7, 0.95; negatives 0.8, 0.6, 0.7, 0.2. Pairs won: 4 + 2.5 + 4
                                                        // (0.7 ties 0.7: one half) of 12.
    assert_eq!(f.roc_auc, Some(10.5 / 12.0));
    assert_eq!(f.benign_false_positives, 1);
    assert_eq!(f.false_positives_per_hour, Some(1.0));
}

#[test]
fn window_detectors_and_delays_by_hand() {
    let e = run();
    let h = &e.detectors[1];
    assert_eq!(h.detector, "host");
    assert_eq!(
        (
            h.true_positives,
            h.false_positives,
            h.false_negatives,
            h.true_negatives
        ),
        (1, 1, 0, 1)
    );
    assert_eq!((h.precision, h.recall), (Some(0.5), Some(1.0)));
    assert!((h.f1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(h.roc_auc, Some(0.5)); // 0.8 beats 0.3, loses to 0.9
    assert_eq!(h.false_positives_per_hour, Some(1.0));
    let s = &e.detectors[2];
    assert_eq!(s.detector, "source");
    assert_eq!(
        (s.precision, s.recall, s.f1, s.roc_auc),
        (None, Some(0.0), None, None)
    );
    assert_eq!(s.false_positives_per_hour, Some(0.0));
    assert_eq!(e.detectors.len(), 3); // no threshold verdicts, no threshold row
    let a = &e.attacks[0];
    assert_eq!(a.verdicts, 5); // flows at 101, 102, 114; host 105; source 106 (not 103)
    let delays: Vec<(&str, Option<f64>)> =
        a.delays.iter().map(|d| (d.detector, d.delay_s)).collect();
    assert_eq!(
        delays,
        vec![("flow", Some(1.0)), ("host", Some(5.0)), ("source", None)]
    );
}

#[test]
fn spoofed_floods_count_flows_and_windows_of_the_victim_only() {
    use Detector::{Flow, Host, Source};
    let l = label("198.18.0.0/15", VIC, true);
    let set = [
        v(101.0, Flow, flow("198.18.5.5", VIC), 0.9, true), // about: to the victim
        v(101.0, Flow, flow("198.51.100.1", VIC), 0.9, true), // about: to the victim
        v(101.0, Flow, flow(VIC, "198.18.5.5"), 0.9, true), // not: from it
        v(101.0, Host, Subject::Host(ip(VIC)), 0.9, true),  // about
        v(101.0, Source, Subject::Source(ip("198.18.5.5")), 0.9, true), // not: forged
    ];
    let e = evaluate(&[l], &set, 0, 1000 * S, 0);
    let tp: Vec<u64> = e.detectors.iter().map(|d| d.true_positives).collect();
    let fp: Vec<u64> = e.detectors.iter().map(|d| d.false_positives).collect();
    assert_eq!((tp, fp), (vec![2, 1, 0], vec![1, 0, 1]));
    assert_eq!(e.attacks[0].verdicts, 3);
}

#[test]
fn the_benign_part_leaves_out_overlapping_and_clipped_windows() {
    let w = |a, b| Window {
        start_ns: a,
        end_ns: b,
    };
    // Covered: 10..30 (two overlapping windows) and 90..100 (clipped at the end).
    assert_eq!(benign_ns(0, 100, &[w(15, 30), w(10, 20), w(90, 120)]), 70);
    assert_eq!(benign_ns(0, 100, &[]), 100);
    assert_eq!(benign_ns(50, 60, &[w(0, 200)]), 0);
}

#[test]
fn auc_of_ties_and_perfect_separation() {
    assert_eq!(
        roc_auc(&mut [(0.5, true), (0.5, false), (0.5, false)]),
        Some(0.5)
    );
    assert_eq!(
        roc_auc(&mut [(0.9, true), (0.8, true), (0.1, false)]),
        Some(1.0)
    );
    assert_eq!(roc_auc(&mut [(0.1, true), (0.8, false)]), Some(0.0));
    assert_eq!(roc_auc(&mut [(0.1, true)]), None);
}

#[test]
fn the_table_has_one_fixed_width_row_per_detector_and_attack() {
    let text = table(&run());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "detector    verdicts anomalies      TP      FP      FN precision  recall      F1     AUC   FP/hour"
    );
    assert_eq!(
        lines[1],
        "flow               7         4       2       2       1     0.500   0.667   0.571   0.875       1.0"
    );
    assert_eq!(
        lines[3],
        "source             1         0       0       0       1         -   0.000       -       -       0.0"
    );
    assert_eq!(lines[4], "benign part: 3600.0 s");
    assert_eq!(
        lines[7],
        "syn-flood          203.0.113.66         192.0.2.10                        100.000    1.000 s    5.000 s     missed"
    );
    let json = serde_json::to_value(run()).unwrap();
    assert_eq!(json["detectors"][0]["roc_auc"], 0.875);
    assert_eq!(json["attacks"][0]["victim"], "192.0.2.10");
    assert_eq!(
        json["attacks"][0]["delays"][2]["delay_s"],
        serde_json::Value::Null
    );
}

#[test]
fn overlapping_attacks_on_one_victim_each_get_their_delay() {
    let mut scan = label(A, VIC, false);
    scan.attack = "vertical-scan".into();
    scan.start_ns = 104 * S;
    let one = [v(105.0, Detector::Host, Subject::Host(ip(VIC)), 0.9, true)];
    let e = evaluate(&[label(A, VIC, false), scan], &one, 0, 1000 * S, 0);
    let delays: Vec<Option<f64>> = e.attacks.iter().map(|a| a.delays[0].delay_s).collect();
    assert_eq!(delays, [Some(5.0), Some(1.0)]);
    assert_eq!((e.attacks[0].verdicts, e.attacks[1].verdicts), (1, 1));
    // Counted once among the detector's true positives all the same.
    assert_eq!(e.detectors[0].true_positives, 1);
    assert_eq!(e.linger_s, 0.0);
}

#[test]
fn rows_are_written_per_detector_with_the_label_evaluate_gives() {
    use Detector::{Flow, Host};
    let dir = std::env::temp_dir().join(format!("pg-eval-rows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let with = |mut v: Verdict, values: &[f64]| {
        v.values = values.to_vec();
        v
    };
    let verdicts = vec![
        // In the window, attacker to victim: about the attack.
        with(v(101.0, Flow, flow(A, VIC), 0.9, true), &[3.0, 0.5]),
        // In the window, another pair: not about it.
        with(
            v(102.0, Flow, flow("198.51.100.1", A), 0.4, false),
            &[1.0, 2.0],
        ),
        // After the window and its linger of 16 s (110 + 16 < 130): benign.
        with(v(130.0, Flow, flow(A, VIC), 0.3, false), &[0.0, 1.0]),
        with(v(105.0, Host, Subject::Host(ip(VIC)), 0.7, true), &[2500.0]),
    ];
    let features = vec![
        (
            Flow,
            vec!["syn_count".to_string(), "duration_ns".to_string()],
        ),
        (Host, vec!["packets_per_s".to_string()]),
        // No source verdicts: no file.
        (Detector::Source, vec!["failed_attempts_per_s".to_string()]),
    ];
    let labels = [label(A, VIC, false)];
    let written = write_rows(&dir, &labels, 16 * S, &verdicts, &features).unwrap();
    assert_eq!(
        written,
        [(dir.join("flow.csv"), 3), (dir.join("host.csv"), 1)]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("flow.csv")).unwrap(),
        "attack,score,syn_count,duration_ns\n1,0.9,3,0.5\n0,0.4,1,2\n0,0.3,0,1\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("host.csv")).unwrap(),
        "attack,score,packets_per_s\n1,0.7,2500\n"
    );
    assert!(!dir.join("source.csv").exists());

    // A verdict without its values (a sink that did not ask) is an error, not a short row.
    let bare = [v(101.0, Flow, flow(A, VIC), 0.9, true)];
    let err = write_rows(&dir, &labels, 16 * S, &bare, &features[..1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow verdict at 101000000000 ns has 0 feature values; its model has 2"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
