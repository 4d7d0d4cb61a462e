//! The offline report: one self-contained HTML file of what an analysis found.
//!
//! [`ReportBuilder`] is a sink any pipeline can feed while it runs: traffic as it is read,
//! every verdict as it is made (normal ones too: the score distributions and the scatter
//! need them), and the features its input could not provide. It keeps exact counts and
//! bounded summaries only, so a capture of millions of flows costs the same memory as a
//! small one:
//!
//! - traffic per second ([`traffic`]), coarsened past [`traffic::MAX_BUCKETS`] buckets;
//! - per model detector, a score histogram of fixed bins ([`scores`]);
//! - a uniform, deterministic sample of flow verdicts for the scatter ([`sample`]):
//!   normal and anomalous flows sampled apart, so that rare anomalies are all drawn;
//! - per detector, the most anomalous verdicts in a bounded heap ([`top`]).
//!
//! [`ReportBuilder::render`] draws the charts as inline SVG (the `plotters` SVG backend)
//! into a page that loads nothing from anywhere: no scripts, fonts or images.
//!
//! # Layout
//!
//! - this file: the builder and its errors.
//! - `meta`: the inputs and models a report names.
//! - `traffic`, `scores`, `sample`, `top`: the bounded summaries.
//! - `charts`: the SVG charts; `page`: the HTML around them; `tables`: its tables;
//!   `html`: escaping; `report.css`: the light and dark styles.

mod charts;
mod html;
pub mod meta;
mod page;
pub mod sample;
pub mod scores;
mod tables;
pub mod top;
pub mod traffic;

#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use meta::{Input, ModelUsed, ReportMeta};

use crate::events::{Detector, N_DETECTORS};
use crate::verdict::Verdict;
use sample::{Point, Reservoir};
use scores::ScoreHistogram;
use top::TopAnomalies;
use traffic::Traffic;

/// Normal flow verdicts drawn in the scatter, at most.
pub const SCATTER_NORMAL: usize = 2000;
/// Anomalous flow verdicts drawn in the scatter, at most.
pub const SCATTER_ANOMALY: usize = 1000;
/// Anomalies listed per detector, at most.
pub const TOP_PER_DETECTOR: usize = 10;
/// Groups of unavailable features kept, at most (an input names a handful).
pub const MAX_UNAVAILABLE: usize = 32;

/// Errors rendering or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot draw the {chart} chart")]
    Chart {
        chart: &'static str,
        #[source]
        source: plotters::drawing::DrawingAreaErrorKind<io::Error>,
    },
    #[error("cannot write the report")]
    Output {
        #[source]
        source: io::Error,
    },
    #[error("cannot write the report to {path}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Normal and anomalous verdicts of one detector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub normal: u64,
    pub anomaly: u64,
}

/// Features an input could not provide, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Unavailable {
    pub features: Vec<String>,
    pub why: String,
}

/// Collects what a report shows; see the module documentation.
pub struct ReportBuilder {
    meta: ReportMeta,
    traffic: Traffic,
    counts: [Counts; N_DETECTORS],
    /// Indexed by [`Detector::index`]; the threshold detector's stays empty (a rule's score
    /// is a feature value, not a model score).
    scores: [ScoreHistogram; N_DETECTORS],
    scatter_normal: Reservoir,
    scatter_anomaly: Reservoir,
    top: [TopAnomalies; N_DETECTORS],
    unavailable: Vec<Unavailable>,
    /// Earliest and latest timestamp seen, traffic or verdict.
    span_ns: Option<(u64, u64)>,
}

impl ReportBuilder {
    pub fn new(meta: ReportMeta) -> ReportBuilder {
        ReportBuilder {
            meta,
            traffic: Traffic::default(),
            counts: [Counts::default(); N_DETECTORS],
            scores: Default::default(),
            scatter_normal: Reservoir::new(SCATTER_NORMAL, 0x5ca7_7e12),
            scatter_anomaly: Reservoir::new(SCATTER_ANOMALY, 0xa40_4a1e),
            top: std::array::from_fn(|_| TopAnomalies::new(TOP_PER_DETECTOR)),
            unavailable: Vec::new(),
            span_ns: None,
        }
    }

    fn seen(&mut self, ts_ns: u64) {
        self.span_ns = Some(match self.span_ns {
            None => (ts_ns, ts_ns),
            Some((lo, hi)) => (lo.min(ts_ns), hi.max(ts_ns)),
        });
    }

    /// Credits `packets` packets of `bytes` bytes to the second of `ts_ns` (nanoseconds
    /// since the Unix epoch, on the capture's clock). Meant to be called once per packet
    /// read (`packets` = 1, `bytes` = its length on the wire), so the chart shows real
    /// per-second rates; a source that only has flow records may call it once per record,
    /// which puts the flow's whole traffic in the second it ended.
    ///
    /// Allocates only when a second is first seen.
    pub fn traffic(&mut self, ts_ns: u64, packets: u64, bytes: u64) {
        self.seen(ts_ns);
        self.traffic.add_traffic(ts_ns, packets, bytes);
    }

    /// Counts one verdict, normal or anomalous; every verdict must be given, or the counts
    /// and distributions are wrong. Allocates only when the verdict enters its detector's
    /// top list (a clone of it) or opens a new traffic bucket.
    pub fn verdict(&mut self, v: &Verdict) {
        self.seen(v.ts_ns);
        self.traffic.add_verdict(v.ts_ns, v.anomaly);
        let i = v.detector.index();
        let c = &mut self.counts[i];
        if v.anomaly {
            c.anomaly += 1;
            self.top[i].offer(v);
        } else {
            c.normal += 1;
        }
        if v.detector != Detector::Threshold {
            self.scores[i].add(v.score, v.threshold, v.anomaly);
        }
        if v.detector == Detector::Flow {
            let p = Point {
                ts_ns: v.ts_ns,
                score: v.score,
            };
            match v.anomaly {
                true => self.scatter_anomaly.offer(p),
                false => self.scatter_normal.offer(p),
            }
        }
    }

    /// Records that the input lacks `features`, for the reason `why` (for example "a
    /// Wireshark packet-list CSV has no TCP flags for non-TCP rows"); the report lists them.
    pub fn unavailable_features(&mut self, features: &[&str], why: &str) {
        if self.unavailable.len() >= MAX_UNAVAILABLE {
            return;
        }
        self.unavailable.push(Unavailable {
            features: features.iter().map(|&f| f.to_owned()).collect(),
            why: why.to_owned(),
        });
    }

    /// Adds an input to those the report names. A reader knows an input's span only once
    /// it has read it, after the builder was made.
    pub fn input(&mut self, input: Input) {
        self.meta.inputs.push(input);
    }

    /// Normal and anomalous verdicts of `d` so far.
    pub fn counts(&self, d: Detector) -> Counts {
        self.counts[d.index()]
    }

    /// The flow points the scatter draws: normal, then anomalous.
    pub fn scatter(&self) -> (&[Point], &[Point]) {
        (self.scatter_normal.points(), self.scatter_anomaly.points())
    }

    /// The anomalies of `d` the table lists, most anomalous first.
    pub fn top(&self, d: Detector) -> Vec<&Verdict> {
        self.top[d.index()].sorted()
    }

    /// The page.
    pub fn render(&self) -> Result<String, ReportError> {
        page::render(self)
    }

    /// Writes the page to `out`.
    pub fn write_to<W: Write>(&self, mut out: W) -> Result<(), ReportError> {
        let page = self.render()?;
        out.write_all(page.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| ReportError::Output { source })
    }

    /// Writes the page to the file `path`, replacing it.
    pub fn write_file(&self, path: &Path) -> Result<(), ReportError> {
        let page = self.render()?;
        std::fs::write(path, page).map_err(|source| ReportError::File {
            path: path.to_path_buf(),
            source,
        })
    }
}
