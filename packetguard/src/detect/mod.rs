//! Live detection: scoring what the kernel reports.
//!
//! - [`scorer`]: the batch scorer every detector uses, and the tag a row carries.
//! - [`flow`]: flow records scored with the flow model.
//! - [`window`]: per-address one-second windows in two roles: per destination (the host
//!   detector's rows; `DestinationWindows`, formerly `HostWindows`) and per source (the
//!   source detector's rows; `SourceWindows`).
//! - [`host`]: destination windows scored with the host model.
//! - [`source`]: source windows scored with the source model.
//! - [`models`]: finding and loading the flow, host and source models.
//! - [`rules`]: deterministic threshold rules over the destination and source windows.

pub mod flow;
pub mod host;
pub mod models;
pub mod rules;
pub mod scorer;
pub mod source;
pub mod window;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod shipped_flow_tests;
#[cfg(test)]
mod shipped_tests;
