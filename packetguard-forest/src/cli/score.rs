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

    let mut summary = ScoreSummary::default();
    let mut chunk = Chunk::new(names.len());
    let mut row = vec![0.0; names.len()];
    while reader
        .next_record()
        .with_context(|| format!("reading {name}"))?
    {
        let ok = match parse_row(reader.fields(), header_len, &positions, &names, &mut row) {
            Ok(()) => {
                chunk.values.extend_from_slice(&row);
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
        chunk.lines.push(reader.line().to_string());
        chunk.valid.push(ok);
        summary.rows += 1;
        if summary.rows.is_multiple_of(PROGRESS_EVERY) {
            eprintln!("{name}: scored {} rows", summary.rows);
        }
        if chunk.lines.len() == CHUNK {
            summary.anomalies += chunk.write(model, output)?;
        }
    }
    summary.anomalies += chunk.write(model, output)?;
    output.flush()?;
    Ok(summary)
}

/// Rows read but not yet written: their lines, whether each parsed, and the values of
/// those that did.
struct Chunk {
    lines: Vec<String>,
    valid: Vec<bool>,
    values: Vec<f64>,
    scores: Vec<f64>,
}

impl Chunk {
    /// An empty chunk for rows of `d` features.
    fn new(d: usize) -> Chunk {
        Chunk {
            lines: Vec::with_capacity(CHUNK),
            valid: Vec::with_capacity(CHUNK),
            values: Vec::with_capacity(CHUNK * d),
            scores: vec![0.0; CHUNK],
        }
    }

    /// Scores the valid rows, writes every row with its score and verdict (or an empty
    /// score and `invalid`) and empties the chunk; returns the anomalies written.
    fn write(&mut self, model: &Model, output: &mut impl Write) -> io::Result<usize> {
        let d = model.n_features();
        let n_valid = self.values.len() / d;
        let view = ArrayView2::from_shape((n_valid, d), &self.values).expect("n_valid * d values");
        let scores = &mut self.scores[..n_valid];
        model.score_batch(view, scores);
        let mut next = scores.iter();
        let mut anomalies = 0;
        for (line, ok) in self.lines.iter().zip(&self.valid) {
            if *ok {
                let s = *next.next().expect("one score per valid row");
                let verdict = model.verdict(s);
                if verdict == crate::Verdict::Anomaly {
                    anomalies += 1;
                }
                writeln!(output, "{line},{s:.6},{}", verdict.as_str())?;
            } else {
                writeln!(output, "{line},,invalid")?;
            }
        }
        self.lines.clear();
        self.valid.clear();
        self.values.clear();
        Ok(anomalies)
    }
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
