//! `--flow-scores FILE`: every scored flow record as one CSV row, for evaluating a model on
//! live traffic (ROC curves, score distributions) offline.
//!
//! Columns: `scored_unix_ms`, the flow key columns of `collect` (`src_ip,dst_ip,src_port,
//! dst_port,protocol`), the model's features in the model's order, then `score,verdict`
//! (as `packetguard score` appends them). Rows go through the same bounded queue and writer
//! thread as events, so a slow disk never holds up the drain loop; rows that cannot be
//! written are dropped and counted in `packetguard_flow_scores_dropped_total{reason}`.

use std::{
    io::Write,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use packetguard_common::features::FLOW_KEY_COLUMNS;

use crate::{
    detect::scorer::{Scored, Scorer},
    events::queue::{DropCounters, QueuedSink},
    flows::Endpoints,
};

/// The CSV of scored flows.
pub struct FlowScores {
    sink: QueuedSink,
    header_written: bool,
}

impl FlowScores {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path, drops: DropCounters) -> Result<Self> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create the flow scores file {}", path.display()))?;
        let sink =
            QueuedSink::spawn(Box::new(file), drops).context("starting the flow scores writer")?;
        Ok(Self {
            sink,
            header_written: false,
        })
    }

    /// Writes one scored flow, scored at `time` on the pipeline's clock (the header first,
    /// from the scorer's model features).
    pub fn write(
        &mut self,
        scorer: &Scorer<Endpoints>,
        s: &Scored<'_, Endpoints>,
        time: SystemTime,
    ) {
        // Writes into the sink's line buffer cannot fail; `flush` queues the line.
        if !self.header_written {
            let _ = write!(self.sink, "scored_unix_ms,{}", FLOW_KEY_COLUMNS.join(","));
            for i in 0..s.row.len() {
                let _ = write!(self.sink, ",{}", scorer.feature_name(i));
            }
            let _ = writeln!(self.sink, ",score,verdict");
            let _ = self.sink.flush();
            self.header_written = true;
        }
        let ms = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let e = &s.tag;
        let _ = write!(
            self.sink,
            "{ms},{},{},{},{},{}",
            e.src, e.dst, e.src_port, e.dst_port, e.protocol
        );
        for v in s.row {
            let _ = write!(self.sink, ",{v}");
        }
        let _ = writeln!(self.sink, ",{:.6},{}", s.score, s.verdict.as_str());
        let _ = self.sink.flush();
    }
}
