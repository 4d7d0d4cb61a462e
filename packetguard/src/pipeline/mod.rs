//! The pipeline: sources -> detectors -> sinks, wired in one place. `collect`, `run` and
//! `analyze` are configurations of it.
//!
//! # Layout
//!
//! - [`clock`]: the source's time, which windows, idle expiry, rate limits and event
//!   timestamps run on (the host's clocks live, capture timestamps offline).
//! - [`source`]: what every source yields ([`source::Stage`] takes it), per-address totals,
//!   and the [`source::OfflineSource`] seam of file inputs.
//! - [`live`]: the live source: the attached kernel programs and their maps.
//! - [`offline`]: file sources (flow CSV, Wireshark packet list; captures to come) on
//!   their own time.
//! - [`session`]: the one live session skeleton (load, attach, loop, shutdown, summary).
//! - [`detectors`]: the detectors stage (flow, host, source, threshold rules, learning).
//! - [`detector`]: one detector with its scorer and where its verdicts go
//!   ([`detector::Outputs`]: events, metrics, the live page, the verdict sink).
//! - [`learn`]: `--learn`, training models on this host's own traffic.
//! - [`sinks`]: flow rows, packet samples, flow scores, verdicts.

pub mod clock;
pub mod detector;
pub mod detectors;
pub mod learn;
pub mod live;
pub mod offline;
pub mod session;
pub mod sinks;
pub mod source;
