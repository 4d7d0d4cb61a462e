//! The scored rows of an evaluation, for scoring by another forest: per model detector, a
//! CSV of every verdict's label, our score and the model's feature values, so that a peer
//! (isotree, scikit-learn) trained on the same baseline can score the very rows ours did
//! and the two ROC AUCs be compared on equal terms (`cargo xtask eval`).

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use crate::events::Detector;
use crate::verdict::Verdict;

use super::labels::AttackLabel;
use super::matching::{attack_of, Window};

/// Writing the rows failed.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{detector} verdict at {ts_ns} ns has {got} feature values; its model has {want}")]
    Width {
        detector: &'static str,
        ts_ns: u64,
        got: usize,
        want: usize,
    },
}

/// Writes `dir/<detector>.csv` for each detector of `features` (its model's feature names)
/// with a verdict: header `attack,score,<features>`, then one line per verdict, `attack`
/// 1 when the verdict is about a labelled attack (as [`super::evaluate`] judges it), else
/// 0. Returns the files written, with their row counts.
pub fn write_rows(
    dir: &Path,
    labels: &[AttackLabel],
    linger_ns: u64,
    verdicts: &[Verdict],
    features: &[(Detector, Vec<String>)],
) -> Result<Vec<(PathBuf, u64)>, RowsError> {
    let windows: Vec<Window> = labels.iter().map(|l| Window::of(l, linger_ns)).collect();
    let mut written = Vec::new();
    for (detector, names) in features {
        let mine: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| v.detector == *detector)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let path = dir.join(format!("{}.csv", detector.as_str()));
        let io = |source| RowsError::Io {
            path: path.clone(),
            source,
        };
        let mut out = BufWriter::new(File::create(&path).map_err(io)?);
        writeln!(out, "attack,score,{}", names.join(",")).map_err(io)?;
        for v in &mine {
            if v.values.len() != names.len() {
                return Err(RowsError::Width {
                    detector: detector.as_str(),
                    ts_ns: v.ts_ns,
                    got: v.values.len(),
                    want: names.len(),
                });
            }
            let attack = u8::from(attack_of(labels, &windows, v).is_some());
            write!(out, "{attack},{}", v.score).map_err(io)?;
            for x in &v.values {
                write!(out, ",{x}").map_err(io)?;
            }
            writeln!(out).map_err(io)?;
        }
        out.flush().map_err(io)?;
        written.push((path, mine.len() as u64));
    }
    Ok(written)
}
