//! `score`: append `score` and `verdict` columns to every row of a CSV.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use ndarray::ArrayView2;

use super::{open_input, parse_row, read_header, BadRows, PROGRESS_EVERY};
use crate::csv::CsvReader;
use crate::Model;

/// Rows scored together; large enough for batch scoring, small enough to stream.
const CHUNK: usize = 4096;

/// Arguments of `score`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScoreArgs {
    /// Model file written by `train`.
    #[arg(long)]
    pub model: PathBuf,
    /// CSV with a header row holding at least the model's feature columns.
    #[arg(long)]
    pub input: PathBuf,
    /// Output CSV (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `score` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreSummary {
    pub rows: usize,
    pub anomalies: usize,
    /// Rows written with an empty score and verdict `invalid`.
    pub invalid: BadRows,
}

impl std::fmt::Display for ScoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scored {} rows: {} anomalies, {}",
            self.rows,
            self.anomalies,
            self.invalid.describe("invalid")
        )
    }
}

/// Copies `input` to `output` with `score` and `verdict` appended to the header and to every
/// row. Rows that cannot be scored keep their place with an empty score and verdict
/// `invalid`, so no row is lost. `name` labels progress and warnings on stderr.
pub fn score_csv(
    model: &Model,
    input: impl BufRead,
    output: &mut impl Write,
    name: &Path,
) -> anyhow::Result<ScoreSummary> {
    let mut reader = CsvReader::new(input);
    let (header_len, positions) = read_header(&mut reader, model.schema(), name)?;
    writeln!(output, "{},score,verdict", reader.line())?;
    let name = name.display();
    let names: Vec<String> = model.schema().names().map(str::to_string).collect();

    let d = names.len();
    let mut summary = ScoreSummary::default();
    let mut lines: Vec<String> = Vec::with_capacity(CHUNK);
    let mut valid: Vec<bool> = Vec::with_capacity(CHUNK);
    let mut values: Vec<f64> = Vec::with_capacity(CHUNK * d);
    let mut row = vec![0.0; d];
    let mut scores = vec![0.0; CHUNK];
    loop {
        let more = reader
            .next_record()
            .with_context(|| format!("reading {name}"))?;
        if more {
            let ok = match parse_row(reader.fields(), header_len, &positions, &names, &mut row) {
                Ok(()) => {
                    values.extend_from_slice(&row);
                    true
                }
                Err(reason) => {
                    if summary.invalid.count == 0 {
                        eprintln!(
                            "{name}: line {}: cannot score row: {reason}",
                            reader.line_no()
                        );
                    }
                    summary.invalid.record(reader.line_no(), reason);
                    false
                }
            };
            lines.push(reader.line().to_string());
            valid.push(ok);
            summary.rows += 1;
            if summary.rows.is_multiple_of(PROGRESS_EVERY) {
                eprintln!("{name}: scored {} rows", summary.rows);
            }
        }
        if lines.len() == CHUNK || (!more && !lines.is_empty()) {
            let n_valid = values.len() / d;
            let view = ArrayView2::from_shape((n_valid, d), &values).expect("n_valid * d values");
            model.score_batch(view, &mut scores[..n_valid]);
            let mut next = scores[..n_valid].iter();
            for (line, ok) in lines.iter().zip(&valid) {
                if *ok {
                    let s = *next.next().expect("one score per valid row");
                    let verdict = model.verdict(s);
                    if verdict == crate::Verdict::Anomaly {
                        summary.anomalies += 1;
                    }
                    writeln!(output, "{line},{s:.6},{}", verdict.as_str())?;
                } else {
                    writeln!(output, "{line},,invalid")?;
                }
            }
            lines.clear();
            valid.clear();
            values.clear();
        }
        if !more {
            break;
        }
    }
    output.flush()?;
    Ok(summary)
}

/// `score` for the command line: writes the CSV, prints the summary to stderr.
pub fn run_score(args: &ScoreArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
    let input = open_input(&args.input)?;
    let summary = match &args.out {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create output {}", path.display()))?;
            let mut out = BufWriter::new(file);
            score_csv(&model, input, &mut out, &args.input)
                .with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            score_csv(&model, input, &mut out, &args.input)?
        }
    };
    eprintln!("{} with model {}", summary, model.id());
    Ok(())
}
