//! The logic behind `packetguard train`, `packetguard score` and `packetguard model inspect`.
//!
//! The agent binary owns the clap command tree and flattens these argument structs into its
//! sub-commands; everything else (reading CSV, reporting bad rows, printing summaries) lives
//! here so it is tested with the forest.

mod inspect;
mod score;
mod train;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::Context;

use crate::csv::CsvReader;
use crate::Schema;

pub use inspect::{inspect_report, run_inspect, InspectArgs};
pub use score::{run_score, score_csv, ScoreArgs, ScoreSummary};
pub use train::{run_train, train, ModelKind, TrainArgs, TrainSummary};

/// Rows between progress lines on stderr.
pub const PROGRESS_EVERY: usize = 1_000_000;

/// Rows that could not be used: how many, and the first one with its reason, so a report
/// can point at a line to look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BadRows {
    pub count: usize,
    /// Line number (1-based, header is line 1) and reason of the first bad row.
    pub first: Option<(usize, String)>,
}

impl BadRows {
    fn record(&mut self, line: usize, reason: String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((line, reason));
        }
    }

    /// One line for a summary, e.g. `2 rows skipped (first: line 7: ...)`.
    pub fn describe(&self, what: &str) -> String {
        match &self.first {
            None => format!("0 rows {what}"),
            Some((line, reason)) => format!(
                "{} row{} {what} (first: line {line}: {reason})",
                self.count,
                if self.count == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Opens a CSV input for buffered reading, naming the file on failure.
fn open_input(path: &Path) -> anyhow::Result<BufReader<Box<dyn Read>>> {
    let file = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 16, Box::new(file)))
}

/// Reads the header row of `reader` and returns its field count and, for each feature of
/// `schema`, the position of its column (header fields are trimmed); errors name an empty
/// file or every missing column.
fn read_header(
    reader: &mut CsvReader<impl BufRead>,
    schema: &Schema,
    input: &Path,
) -> anyhow::Result<(usize, Vec<usize>)> {
    let input = input.display();
    if !reader
        .next_record()
        .with_context(|| format!("reading {input}"))?
    {
        anyhow::bail!("{input}: empty file, expected a header row");
    }
    let header = reader.fields();
    let trimmed: Vec<&str> = header.iter().map(|h| h.trim()).collect();
    let positions = schema.positions_in(&trimmed).map_err(|missing| {
        anyhow::anyhow!(
            "{input}: missing required column{} {} (header has: {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            header.join(",")
        )
    })?;
    Ok((header.len(), positions))
}

/// Parses the wanted columns of one record into `out`; `Err` says why the row is unusable.
fn parse_row(
    fields: &[String],
    header_len: usize,
    positions: &[usize],
    names: &[String],
    out: &mut [f64],
) -> Result<(), String> {
    if fields.len() != header_len {
        return Err(format!("{} fields, header has {header_len}", fields.len()));
    }
    for ((o, &p), name) in out.iter_mut().zip(positions).zip(names) {
        let raw = fields[p].trim();
        if raw.is_empty() {
            return Err(format!("{name} is empty"));
        }
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => *o = v,
            _ => return Err(format!("{name} = {raw:?} is not a finite number")),
        }
    }
    Ok(())
}
