//! The command-line functions on small generated CSV files.

use std::fmt::Write as _;
use std::path::Path;

use packetguard_forest::cli::{inspect_report, score_csv, train, ModelKind, TrainArgs};
use packetguard_forest::{Contamination, Model, Transform};

use crate::temp_dir;

/// A flow-like CSV: key columns, three features, a label; 300 normal rows, 5 odd ones and
/// one bad row (non-numeric) at line 50.
fn write_csv(path: &Path) {
    let mut s = String::from("src_ip,dst_ip,syn_count,fwd_bytes,duration_ns,label\n");
    for i in 0..306 {
        let line = i + 2;
        if line == 50 {
            s.push_str("10.0.0.1,10.0.0.2,1,oops,5,0\n");
        } else if i % 60 == 59 {
            writeln!(
                s,
                "10.0.0.9,10.0.0.2,{},{},{},1",
                500 + i,
                9_000_000 + i,
                10
            )
            .unwrap();
        } else {
            writeln!(
                s,
                "10.0.0.1,10.0.0.2,{},{},{},0",
                1 + i % 2,
                1000 + i % 50,
                1_000_000 + i * 37
            )
            .unwrap();
        }
    }
    std::fs::write(path, s).unwrap();
}

fn args(dir: &Path) -> TrainArgs {
    TrainArgs {
        input: dir.join("flows.csv"),
        out: dir.join("models/test.pgm"),
        trees: 50,
        sample_size: 128,
        contamination: Contamination::Auto,
        seed: 3,
        features: Some(vec![
            "syn_count".into(),
            "fwd_bytes".into(),
            "duration_ns".into(),
        ]),
        kind: ModelKind::Flow,
        transform: Transform::Log1p,
    }
}

#[test]
fn train_reports_the_bad_row_and_saves_a_model() {
    let dir = temp_dir("cli-train");
    write_csv(&dir.join("flows.csv"));
    let summary = train(&args(&dir)).unwrap();
    assert_eq!(summary.rows_used, 305);
    assert_eq!(summary.bad_rows.count, 1);
    let (line, reason) = summary.bad_rows.first.clone().unwrap();
    assert_eq!(line, 50);
    assert!(reason.contains("fwd_bytes"), "{reason}");
    let text = summary.to_string();
    assert!(text.contains("1 row skipped (first: line 50"), "{text}");
    let model = Model::load(dir.join("models/test.pgm")).unwrap();
    assert_eq!(model.info().rows, 305);
    assert_eq!(model.schema().features()[0].transform, Transform::Log1p);
}

#[test]
fn train_names_a_missing_column() {
    let dir = temp_dir("cli-missing");
    write_csv(&dir.join("flows.csv"));
    let mut a = args(&dir);
    a.features = None; // every flow feature: the file lacks most of them
    let err = format!("{:#}", train(&a).unwrap_err());
    assert!(
        err.contains("missing required columns") && err.contains("bwd_packets"),
        "{err}"
    );
}

#[test]
fn score_appends_columns_to_every_row() {
    let dir = temp_dir("cli-score");
    write_csv(&dir.join("flows.csv"));
    train(&args(&dir)).unwrap();
    let model = Model::load(dir.join("models/test.pgm")).unwrap();
    let input = std::fs::read(dir.join("flows.csv")).unwrap();
    let mut out = Vec::new();
    let summary = score_csv(&model, &input[..], &mut out, Path::new("flows.csv")).unwrap();
    let out = String::from_utf8(out).unwrap();
    let in_lines: Vec<&str> = std::str::from_utf8(&input).unwrap().lines().collect();
    let out_lines: Vec<&str> = out.lines().collect();
    assert_eq!(out_lines.len(), in_lines.len());
    assert_eq!(out_lines[0], format!("{},score,verdict", in_lines[0]));
    assert_eq!(summary.rows, 306);
    assert_eq!(summary.invalid.count, 1);
    assert_eq!(out_lines[49], format!("{},,invalid", in_lines[49]));
    let mut anomalies_on_labelled = 0;
    for (i, (o, inp)) in out_lines.iter().zip(&in_lines).enumerate().skip(1) {
        assert!(o.starts_with(inp), "line {}", i + 1);
        let fields: Vec<&str> = o.rsplitn(3, ',').collect();
        if i == 49 {
            continue;
        }
        let score: f64 = fields[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
        assert!(fields[0] == "normal" || fields[0] == "anomaly");
        if inp.ends_with(",1") && fields[0] == "anomaly" {
            anomalies_on_labelled += 1;
        }
    }
    assert_eq!(anomalies_on_labelled, 5, "the odd rows are flagged");
}

#[test]
fn inspect_prints_metadata_and_schema() {
    let dir = temp_dir("cli-inspect");
    write_csv(&dir.join("flows.csv"));
    train(&args(&dir)).unwrap();
    let path = dir.join("models/test.pgm");
    let model = Model::load(&path).unwrap();
    let report = inspect_report(&model, &path);
    for needle in [
        model.id().as_str(),
        "kind          flow (flow records)",
        "rows          305",
        "trees         50",
        "sample size   128 (height limit 7)",
        "seed          3",
        "contamination auto",
        "threshold     0.5",
        "fwd_bytes",
        "log1p",
        "leaf depth",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
}

#[test]
fn a_source_model_trains_on_every_source_feature_by_default_and_says_so() {
    let dir = temp_dir("cli-source");
    let names = packetguard_common::features::SOURCE_FEATURES;
    let mut csv = format!("src_ip,{}\n", names.join(","));
    for i in 0..200 {
        let row: Vec<String> = (0..names.len())
            .map(|j| ((i * (j + 1)) % 17).to_string())
            .collect();
        writeln!(csv, "198.51.100.{},{}", i % 250, row.join(",")).unwrap();
    }
    std::fs::write(dir.join("sources.csv"), csv).unwrap();
    let a = TrainArgs {
        input: dir.join("sources.csv"),
        out: dir.join("source.pgm"),
        features: None,
        kind: ModelKind::Source,
        ..args(&dir)
    };
    assert_eq!(train(&a).unwrap().rows_used, 200);
    let model = Model::load(&a.out).unwrap();
    assert_eq!(model.info().kind, "source");
    assert_eq!(model.id().split('-').next(), Some("source"));
    let schema: Vec<&str> = model
        .schema()
        .features()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(schema, names);
    let report = inspect_report(&model, &a.out);
    assert!(
        report.contains("kind          source (per-source one-second windows)"),
        "{report}"
    );
    for k in ModelKind::ALL {
        assert_eq!(ModelKind::from_recorded(k.as_str()), Some(k));
        assert_eq!(k.default_features().len(), k.features().len());
    }
    assert_eq!(ModelKind::from_recorded("sources"), None);
}
