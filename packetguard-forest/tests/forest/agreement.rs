//! ROC AUC agreement with scikit-learn on the committed fixtures (see
//! `tests/fixtures/make_reference.py`).

use std::path::Path;

use ndarray::Array2;
use packetguard_forest::synth::roc_auc;
use packetguard_forest::{ForestParams, Model, Schema, Transform};

const SEEDS: u64 = 10;

/// Features and labels of a fixture CSV (last column `label`).
fn load(name: &str) -> (Array2<f64>, Vec<bool>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let d = lines.next().unwrap().split(',').count() - 1;
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for line in lines {
        let fields: Vec<f64> = line.split(',').map(|f| f.parse().unwrap()).collect();
        values.extend_from_slice(&fields[..d]);
        labels.push(fields[d] == 1.0);
    }
    (
        Array2::from_shape_vec((labels.len(), d), values).unwrap(),
        labels,
    )
}

/// scikit-learn's mean AUC for a data set, read from the JSON fixture without a parser:
/// the value follows `"mean_auc": ` inside the data set's object.
fn sklearn_mean_auc(dataset: &str) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn_auc.json");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find(&format!("\"{dataset}\"")).unwrap();
    let rest = &text[start..];
    let at = rest.find("\"mean_auc\":").unwrap() + "\"mean_auc\":".len();
    let value: String = rest[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    value.parse().unwrap()
}

fn our_mean_auc(data: &Array2<f64>, labels: &[bool]) -> f64 {
    let names: Vec<String> = (0..data.ncols()).map(|i| format!("f{i}")).collect();
    let mut scores = vec![0.0; data.nrows()];
    let mut total = 0.0;
    for seed in 0..SEEDS {
        let params = ForestParams {
            seed,
            ..ForestParams::default()
        };
        let model = Model::fit(
            data.view(),
            Schema::uniform(&names, Transform::None),
            &params,
        )
        .unwrap();
        model.score_batch(data.view(), &mut scores);
        total += roc_auc(&scores, labels).unwrap();
    }
    total / SEEDS as f64
}

fn check(dataset: &str) {
    let (data, labels) = load(&format!("{dataset}.csv"));
    let ours = our_mean_auc(&data, &labels);
    let theirs = sklearn_mean_auc(dataset);
    eprintln!("{dataset}: ours {ours:.4}, scikit-learn {theirs:.4}");
    assert!(
        (ours - theirs).abs() <= 0.02,
        "{dataset}: mean AUC {ours:.4} vs scikit-learn {theirs:.4}"
    );
}

#[test]
fn clusters_with_uniform_noise_matches_sklearn() {
    check("clusters");
}

#[test]
fn mulcross_matches_sklearn() {
    check("mulcross");
}
