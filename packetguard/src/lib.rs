//! PacketGuard agent library.
//!
//! # Layout
//!
//! - [`pipeline`]: sources -> detectors -> sinks wired in one place; the live session
//!   skeleton `collect` and `run` share.
//! - [`datapath`]: loading and attaching the XDP program, draining its ring buffer,
//!   expiring and exporting its flow map.
//! - [`detect`]: live scoring of flow records, destination (host) windows and source
//!   windows.
//! - [`flows`]: flow rows in userspace: orientation, merging records, features, CSV.
//! - [`capture`]: capture files (pcap, pcapng) read offline into the same flows, flow
//!   starts and per-address totals the kernel gives live.
//! - [`baseline`]: generated normal traffic, the training data of the default models.
//! - [`commands`]: one module per sub-command of the `packetguard` binary.
//! - [`metrics`]: the Prometheus registry, every metric the agent exports, and the HTTP
//!   server behind `/metrics`.
//! - [`ui`]: the live page at `/` and its JSON API, fed by the run loop.
//! - [`events`]: JSON anomaly events, one per line, rate-limited per address.
//! - [`settings`]: each command's settings, one type for flags and file; every default.
//! - [`config`]: the TOML configuration file of `packetguard run`.
//! - [`limits`]: the range of every numeric setting, for flags and the file alike.
//! - [`verdict`]: an owned verdict, normal or anomalous, for offline work.
//! - [`simulate`]: synthetic attacks injected into a capture or flow CSV, with labels.
//! - [`evaluate`]: precision, recall, ROC AUC and delays of verdicts against labels.
pub mod baseline;
pub mod capture;
pub mod commands;
pub mod config;
pub mod datapath;
pub mod detect;
pub mod evaluate;
pub mod events;
pub mod flows;
pub mod limits;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod settings;
pub mod simulate;
#[doc(hidden)]
pub mod test_frames;
pub mod ui;
pub mod verdict;
