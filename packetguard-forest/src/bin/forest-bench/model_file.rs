//! Scoring figures for a saved model on the rows of a CSV: the deep trees the agent ships
//! (`models/flow.pgm`, psi 4096) rather than the standard workload's psi 256.

use std::fs::File;
use std::hint::black_box;
use std::io::BufReader;
use std::path::Path;

use anyhow::Context;
use ndarray::Array2;
use packetguard_forest::csv::CsvReader;
use packetguard_forest::Model;

use crate::median_us_per_row;

/// Loads `model`, reads the rows of `csv` and prints score_batch and score_one figures.
pub fn run(model: &Path, csv: &Path, kernel: Option<&str>, repeat: usize) -> anyhow::Result<()> {
    let mut m = Model::load(model)?;
    if let Some(kernel) = kernel {
        pick_kernel(&mut m, kernel)?;
    }
    let rows = read_rows(&m, csv)?;
    let n = rows.nrows();
    let mut out = vec![0.0; n];
    let batch_us = median_us_per_row(repeat, n, || m.score_batch(rows.view(), &mut out));
    let flagged = out.iter().filter(|&&s| s > m.threshold()).count();
    let slice = rows.as_slice().expect("standard layout");
    let one_us = median_us_per_row(repeat, n, || {
        for row in slice.chunks_exact(m.n_features()) {
            black_box(m.score_one(black_box(row)));
        }
    });
    let (mean_depth, max_depth) = m.leaf_depths();
    println!(
        "packetguard-forest: {} ({} trees, psi {}, {} features), {n} rows of {}, 1 thread",
        model.display(),
        m.info().trees,
        m.info().sample_size,
        m.n_features(),
        csv.display()
    );
    println!("  scoring kernel            {:>10}", m.scoring_kernel());
    println!("  leaf depth mean, max      {mean_depth:>10.2} {max_depth}");
    println!(
        "  scoring layout            {:>10} KiB",
        m.scoring_bytes() / 1024
    );
    println!("  score_batch               {batch_us:>10.4} us/row");
    println!("  score_one                 {one_us:>10.4} us/row");
    println!(
        "  rows over the threshold   {flagged:>10} ({:.3}%)",
        100.0 * flagged as f64 / n.max(1) as f64
    );
    Ok(())
}

/// Switches `model` to the scoring walk named `kernel`, which this CPU must run.
pub fn pick_kernel(model: &mut Model, kernel: &str) -> anyhow::Result<()> {
    model
        .use_scoring_kernel(kernel)
        .map_err(|e| anyhow::anyhow!("--kernel {kernel}: {e}"))
}

/// The model's feature columns of every row of `csv`, in schema order.
fn read_rows(model: &Model, csv: &Path) -> anyhow::Result<Array2<f64>> {
    let name = csv.display();
    let file = File::open(csv).with_context(|| format!("cannot open {name}"))?;
    let mut reader = CsvReader::new(BufReader::new(file));
    anyhow::ensure!(
        reader.next_record()?,
        "{name}: empty file, expected a header"
    );
    let header: Vec<String> = reader.fields().iter().map(|h| h.trim().into()).collect();
    let positions = model
        .schema()
        .positions_in(&header)
        .map_err(|missing| anyhow::anyhow!("{name}: missing columns {}", missing.join(", ")))?;
    let mut values = Vec::new();
    while reader.next_record()? {
        let fields = reader.fields();
        for &p in &positions {
            let raw = fields.get(p).map(|f| f.trim()).unwrap_or("");
            let v: f64 = raw.parse().with_context(|| {
                format!("{name} line {}: {raw:?} is not a number", reader.line_no())
            })?;
            values.push(v);
        }
    }
    let d = positions.len();
    Ok(Array2::from_shape_vec((values.len() / d, d), values)?)
}
