//! Prints training and scoring figures for the standard workload: 100 trees, psi 256,
//! 8 features, training on 100k rows and scoring 1M rows on one thread.
//!
//! `--data-dir` also writes the exact rows used (raw little-endian f64, row-major) so
//! `bench/compare.py` can time scikit-learn and isotree on the same data; `--json` writes the
//! figures for `bench/run.sh` to put in one table.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ndarray::Array2;
use packetguard_forest::synth::{clusters_with_noise, roc_auc};
use packetguard_forest::{ForestParams, Model, Schema, Transform};

#[derive(Parser, Debug)]
#[command(about = "Isolation Forest training and scoring figures")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    train_rows: usize,
    #[arg(long, default_value_t = 1_000_000)]
    score_rows: usize,
    #[arg(long, default_value_t = 8)]
    features: usize,
    #[arg(long, default_value_t = 100)]
    trees: usize,
    #[arg(long, default_value_t = 256)]
    sample_size: usize,
    /// Timed repetitions; the best is reported (least disturbed by other work).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Write train.f64, score.f64 and score_labels.u8 here.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (train, _) = clusters_with_noise(args.train_rows, args.features, 0.01, 1);
    let (score, labels) = clusters_with_noise(args.score_rows, args.features, 0.01, 2);
    if let Some(dir) = &args.data_dir {
        write_data(dir, &train, &score, &labels)?;
    }
    let names: Vec<String> = (0..args.features).map(|i| format!("f{i}")).collect();
    let params = ForestParams {
        trees: args.trees,
        sample_size: args.sample_size,
        seed: 42,
        ..ForestParams::default()
    };

    let mut train_s = f64::INFINITY;
    let mut model = None;
    for _ in 0..args.repeat {
        let schema = Schema::uniform(&names, Transform::None);
        let t = Instant::now();
        let m = Model::fit(train.view(), schema, &params)?;
        train_s = train_s.min(t.elapsed().as_secs_f64());
        model = Some(m);
    }
    let model = model.expect("at least one repetition");
    let log_model = Model::fit(
        train.view(),
        Schema::uniform(&names, Transform::Log1p),
        &params,
    )?;

    let mut out = vec![0.0; args.score_rows];
    let batch_us = best_us_per_row(args.repeat, args.score_rows, || {
        model.score_batch(score.view(), &mut out)
    });
    let auc = roc_auc(&out, &labels).unwrap_or(f64::NAN);
    let slice = score.as_slice().expect("standard layout");
    let one_us = best_us_per_row(args.repeat, args.score_rows, || {
        for row in slice.chunks_exact(args.features) {
            black_box(model.score_one(black_box(row)));
        }
    });
    let log_us = best_us_per_row(args.repeat, args.score_rows, || {
        log_model.score_batch(score.view(), &mut out)
    });

    println!(
        "packetguard-forest: {} trees, psi {}, {} features, {} training rows, {} scored rows, 1 thread",
        args.trees, args.sample_size, args.features, args.train_rows, args.score_rows
    );
    println!("  scoring kernel            {:>10}", model.scoring_kernel());
    println!("  training                  {:>10.4} s", train_s);
    println!("  score_batch               {:>10.4} us/row", batch_us);
    println!("  score_one                 {:>10.4} us/row", one_us);
    println!("  score_batch, log1p schema {:>10.4} us/row", log_us);
    println!("  ROC AUC on scored rows    {:>10.4}", auc);
    println!(
        "  model: {} nodes, {} KiB",
        model.node_count(),
        model.node_bytes() / 1024
    );
    if let Some(path) = &args.json {
        let json = format!(
            "{{\"train_s\": {train_s}, \"score_us_per_row\": {batch_us}, \"score_one_us_per_row\": {one_us}, \"score_log1p_us_per_row\": {log_us}, \"auc\": {auc}, \"kernel\": \"{}\"}}\n",
            model.scoring_kernel()
        );
        std::fs::write(path, json)?;
    }
    Ok(())
}

/// Best time per row over `repeat` runs of `f`, in microseconds.
fn best_us_per_row(repeat: usize, rows: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e6 / rows as f64
}

fn write_data(
    dir: &Path,
    train: &Array2<f64>,
    score: &Array2<f64>,
    labels: &[bool],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let raw = |a: &Array2<f64>| -> Vec<u8> { a.iter().flat_map(|x| x.to_le_bytes()).collect() };
    std::fs::write(dir.join("train.f64"), raw(train))?;
    std::fs::write(dir.join("score.f64"), raw(score))?;
    std::fs::write(
        dir.join("score_labels.u8"),
        labels.iter().map(|&l| u8::from(l)).collect::<Vec<_>>(),
    )?;
    std::fs::write(
        dir.join("shape.json"),
        format!(
            "{{\"train_rows\": {}, \"score_rows\": {}, \"features\": {}}}\n",
            train.nrows(),
            score.nrows(),
            train.ncols()
        ),
    )?;
    Ok(())
}
