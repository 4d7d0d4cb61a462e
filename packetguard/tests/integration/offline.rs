//! The seed tools' workflow through the real binary: collect flows from real traffic, train
//! a model on them, score the CSV offline, inspect the model.

use crate::{
    capture::read_csv,
    collect_agent::{assert_ok, one_line_error, packetguard, Collector},
    lab::{Lab, SERVER_V4},
};

#[test]
fn collected_flows_train_a_model_that_scores_every_row() {
    let lab = Lab::new();
    let agent = Collector::start(&lab, &[]);
    let flows = agent.out.clone();
    lab.exec(&lab.client, &["ping", "-c", "3", "-i", "0.1", SERVER_V4]);
    lab.syn_burst(20, 5_000);
    let got = agent.stop(libc::SIGTERM);
    let model = lab.dir.join("flow.pgm");
    let scored = lab.dir.join("scored.csv");
    let (flows_s, model_s, scored_s) = (
        flows.to_str().unwrap(),
        model.to_str().unwrap(),
        scored.to_str().unwrap(),
    );

    assert_ok(&packetguard(&[
        "train", "--input", flows_s, "--out", model_s, "--trees", "50", "--seed", "7",
    ]));
    assert_ok(&packetguard(&[
        "score", "--model", model_s, "--input", flows_s, "--out", scored_s,
    ]));

    let rows = read_csv(&scored);
    assert_eq!(rows.len(), got.rows.len(), "every collected flow is scored");
    assert!(
        rows.len() >= 21,
        "ping flow and 20 SYN flows: {}",
        rows.len()
    );
    for r in &rows {
        let score: f64 = r["score"].parse().unwrap();
        assert!(score > 0.0 && score < 1.0, "{r:?}");
        assert!(
            r["verdict"] == "normal" || r["verdict"] == "anomaly",
            "{r:?}"
        );
    }

    let out = packetguard(&["model", "inspect", model_s]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_ok(&out);
    assert!(
        report.contains(&format!("rows          {}", rows.len())),
        "{report}"
    );
    assert!(report.contains("trees         50"), "{report}");
}

#[test]
fn a_corrupt_model_file_is_one_line_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("packetguard-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("broken.pgm");
    std::fs::write(&model, b"PGIFM\0\0\0 not really a model").unwrap();
    let out = packetguard(&["model", "inspect", model.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let err = one_line_error(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("broken.pgm"), "{err}");
}
