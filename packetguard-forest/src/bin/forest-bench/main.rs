//! Prints training and scoring figures for the standard workload: 100 trees, psi 256,
//! 8 features, training on 100k rows and scoring 1M rows on one thread.
//!
//! Training and scored rows come from the same four clusters (plus 1% uniform noise, the
//! anomalies), as a detector meets them: it learns what normal looks like and then scores
//! more of it. `--data new-clusters` scores rows of four other clusters instead, which is
//! what this bench did first; kept to compare with figures measured that way.
//!
//! `--sample-size 4096` grows the deeper trees of the agent's flow model on the same data;
//! `--model FILE --score-csv FILE` times scoring of a saved model (the shipped
//! `models/flow.pgm`, say) on the rows of a CSV with its feature columns, which is where the
//! agent's end-to-end rate is decided. `--kernel` picks a scoring walk other than the best.
//!
//! `--data-dir` also writes the exact rows used (raw little-endian f64, row-major) so
//! `bench/compare.py` can time scikit-learn and isotree on the same data; `--json` writes the
//! figures for `bench/run.sh` to put in one table.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ndarray::Array2;
use packetguard_forest::synth::{clusters_with_noise, roc_auc, Clusters};
use packetguard_forest::{ForestParams, Model, Schema, Transform};

mod model_file;

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
    /// Timed repetitions; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Seed of training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the scored rows come from.
    #[arg(long, value_enum, default_value_t = Data::SameClusters)]
    data: Data,
    /// Write train.f64, score.f64 and score_labels.u8 here.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Time scoring of this model file instead of training one (needs `--score-csv`).
    #[arg(long, requires = "score_csv")]
    model: Option<PathBuf>,
    /// CSV with a header naming at least the model's features: the rows `--model` scores.
    #[arg(long, requires = "model")]
    score_csv: Option<PathBuf>,
    /// Scoring walk to time (`scalar`, `avx2`, `avx512`); the best this CPU runs if unset.
    #[arg(long)]
    kernel: Option<String>,
}

/// Distribution of the scored rows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    /// The training rows' clusters: normal rows are like the ones trained on.
    SameClusters,
    /// Four other clusters: every scored row is far from the training data, and the AUC
    /// only says whether uniform noise is further still.
    NewClusters,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let (Some(model), Some(csv)) = (&args.model, &args.score_csv) {
        return model_file::run(model, csv, args.kernel.as_deref(), args.repeat);
    }
    let clusters = Clusters::new(args.features, 1);
    let (train, _) = clusters.sample(args.train_rows, 0.01, 1);
    let (score, labels) = match args.data {
        Data::SameClusters => clusters.sample(args.score_rows, 0.01, 2),
        Data::NewClusters => clusters_with_noise(args.score_rows, args.features, 0.01, 2),
    };
    if let Some(dir) = &args.data_dir {
        write_data(dir, &train, &score, &labels)?;
    }
    let names: Vec<String> = (0..args.features).map(|i| format!("f{i}")).collect();
    let params = ForestParams {
        trees: args.trees,
        sample_size: args.sample_size,
        seed: args.seed,
        ..ForestParams::default()
    };

    let mut train_times = Vec::with_capacity(args.repeat);
    let mut model = None;
    for _ in 0..args.repeat.max(1) {
        let schema = Schema::uniform(&names, Transform::None);
        let t = Instant::now();
        let m = Model::fit(train.view(), schema, &params)?;
        train_times.push(t.elapsed().as_secs_f64());
        model = Some(m);
    }
    let train_s = median(train_times);
    let mut model = model.expect("at least one repetition");
    let mut log_model = Model::fit(
        train.view(),
        Schema::uniform(&names, Transform::Log1p),
        &params,
    )?;
    if let Some(kernel) = &args.kernel {
        model_file::pick_kernel(&mut model, kernel)?;
        model_file::pick_kernel(&mut log_model, kernel)?;
    }

    let mut out = vec![0.0; args.score_rows];
    let batch_us = median_us_per_row(args.repeat, args.score_rows, || {
        model.score_batch(score.view(), &mut out)
    });
    let auc = roc_auc(&out, &labels).unwrap_or(f64::NAN);
    let slice = score.as_slice().expect("standard layout");
    let one_us = median_us_per_row(args.repeat, args.score_rows, || {
        for row in slice.chunks_exact(args.features) {
            black_box(model.score_one(black_box(row)));
        }
    });
    let log_us = median_us_per_row(args.repeat, args.score_rows, || {
        log_model.score_batch(score.view(), &mut out)
    });

    println!(
        "packetguard-forest: {} trees, psi {}, {} features, {} training rows, {} scored rows ({}), 1 thread",
        args.trees, args.sample_size, args.features, args.train_rows, args.score_rows, data_name(args.data)
    );
    println!("  scoring kernel            {:>10}", model.scoring_kernel());
    println!("  training                  {:>10.4} s", train_s);
    println!("  score_batch               {:>10.4} us/row", batch_us);
    println!("  score_one                 {:>10.4} us/row", one_us);
    println!("  score_batch, log1p schema {:>10.4} us/row", log_us);
    println!("  ROC AUC on scored rows    {:>10.4}", auc);
    println!(
        "  model: {} nodes, {} KiB, id {}",
        model.node_count(),
        model.node_bytes() / 1024,
        model.id()
    );
    if let Some(path) = &args.json {
        let json = format!(
            "{{\"train_s\": {train_s}, \"score_us_per_row\": {batch_us}, \"score_one_us_per_row\": {one_us}, \"score_log1p_us_per_row\": {log_us}, \"auc\": {auc}, \"kernel\": \"{}\", \"data\": \"{}\"}}\n",
            model.scoring_kernel(),
            data_name(args.data)
        );
        std::fs::write(path, json)?;
    }
    Ok(())
}

/// The `--data` value as typed.
fn data_name(data: Data) -> &'static str {
    match data {
        Data::SameClusters => "same-clusters",
        Data::NewClusters => "new-clusters",
    }
}

/// Median time per row over `repeat` runs of `f`, in microseconds. The machine may be
/// shared: the median is what a run usually takes, where the best would flatter it.
pub(crate) fn median_us_per_row(repeat: usize, rows: usize, mut f: impl FnMut()) -> f64 {
    let times = (0..repeat.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times) * 1e6 / rows as f64
}

/// Median of at least one value (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
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
