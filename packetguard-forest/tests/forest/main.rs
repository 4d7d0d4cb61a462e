//! Integration tests of packetguard-forest, compiled into one binary.

mod support;

mod agreement;
mod cli;
mod corrupt;
mod fuzz_corpus;
mod hostile;
mod properties;

/// Every allocation of the test binary is counted, so memory bounds are exact assertions.
#[global_allocator]
static ALLOC: support::alloc::Counting = support::alloc::Counting;

use std::path::PathBuf;

use ndarray::Array2;
use packetguard_forest::{ForestParams, Model, Schema, Transform};

/// A fresh, empty directory under the system temp dir, unique per test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pg-forest-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A small model over `features` generated columns, with a fixed training time so its bytes
/// are reproducible.
pub fn small_model(features: usize, seed: u64) -> (Model, Array2<f64>) {
    let (data, _) = packetguard_forest::synth::clusters_with_noise(600, features, 0.02, 11);
    let names: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    let params = ForestParams {
        trees: 20,
        seed,
        trained_unix: Some(1_700_000_000),
        ..ForestParams::default()
    };
    let model = Model::fit(
        data.view(),
        Schema::uniform(&names, Transform::None),
        &params,
    )
    .expect("training succeeds");
    (model, data)
}
