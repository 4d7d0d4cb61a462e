//! Measuring detection against ground truth: a library over verdicts and labels, with no
//! capture I/O of its own (`packetguard evaluate` and `cargo xtask eval` run the analysis
//! and hand its verdicts here).
//!
//! # Layout
//!
//! - `net`: an address or address block, as labels name hosts.
//! - `labels`: reading ground truth in `simulate`'s format and the evaluation captures'
//!   format, and writing `simulate`'s.
//! - `matching`: which verdicts are about which attack, and the benign part of a capture.
//! - `score`: precision, recall, F1, ROC AUC, detection delays, false positives per hour.
//! - `table`: the fixed-width table; [`Evaluation`] serializes to the JSON form.
//! - `rows`: the scored rows with their labels, for a peer forest to score (`--rows`).

pub mod labels;
pub mod matching;
pub mod net;
pub mod rows;
pub mod score;
pub mod table;

pub use labels::{labels_of, read_labels, AttackLabel, LabelsError};
pub use matching::DEFAULT_LINGER_NS;
pub use rows::{write_rows, RowsError};
pub use score::{evaluate, roc_auc, AttackResult, Delay, DetectorScore, Evaluation};
pub use table::table;

#[cfg(test)]
mod tests;
