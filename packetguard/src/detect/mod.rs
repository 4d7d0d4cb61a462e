//! Live detection: scoring what the kernel reports.
//!
//! - [`scorer`]: the batch scorer both detectors use, and the tag a row carries.
//! - [`flow`]: flow records scored with the flow model.
//! - [`window`]: per-destination one-second windows, the host detector's rows.
//! - [`host`]: host windows scored with the host model.
//! - [`models`]: finding and loading the flow and host models.
//! - [`rules`]: deterministic threshold rules over the destination and source windows.

pub mod flow;
pub mod host;
pub mod models;
pub mod rules;
pub mod scorer;
pub mod window;
