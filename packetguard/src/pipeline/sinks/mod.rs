//! Where the pipeline's results go. JSON events and metrics have modules of their own
//! ([`crate::events`], [`crate::metrics`]), as has the live page ([`crate::ui`]); these are
//! the sinks only the pipeline writes.
//!
//! - [`rows`]: flow rows as the flow CSV of `collect` (and `analyze --out`).
//! - [`samples`]: packet samples as CSV (`collect --samples-out`).
//! - [`scores`]: `--flow-scores`, every scored flow as CSV.
//! - [`verdicts`]: every verdict, normal ones too, for the report and evaluation.

pub mod rows;
pub mod samples;
pub mod scores;
pub mod verdicts;
