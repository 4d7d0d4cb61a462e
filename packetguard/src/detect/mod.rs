//! Live detection: scoring what the kernel reports.
//!
//! - [`flow`]: the flow detector, batch-scoring flow records with the flow model.

pub mod flow;
