//! The flow CSV: key columns, meta columns, then every flow feature and the context
//! features (`FLOW_ROW_FEATURES`).

use std::io::{self, Write};

use packetguard_common::features::{FLOW_KEY_COLUMNS, FLOW_META_COLUMNS, FLOW_ROW_FEATURES};

use super::{features::flow_row_features, merge::FlowRow, Endpoints};
use crate::pipeline::clock::Clock;

/// Writes flow rows as CSV.
pub struct FlowCsvWriter<W: Write> {
    out: W,
    rows: u64,
    /// The clock flow timestamps are on (the kernel's monotonic clock, or capture time).
    clock: Clock,
}

/// The header line (without newline).
pub fn header() -> String {
    FLOW_KEY_COLUMNS
        .iter()
        .chain(FLOW_META_COLUMNS.iter())
        .chain(FLOW_ROW_FEATURES.iter())
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

impl<W: Write> FlowCsvWriter<W> {
    /// Writes the header; flow start times are on the kernel's monotonic clock.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_clock(out, Clock::live())
    }

    /// Writes the header; flow start times are on `clock`'s source time.
    pub fn with_clock(mut out: W, clock: Clock) -> io::Result<Self> {
        writeln!(out, "{}", header())?;
        Ok(Self {
            out,
            rows: 0,
            clock,
        })
    }

    /// Writes one row; `prior_login_attempts` is the flow's context feature (see
    /// [`super::context`]).
    pub fn write_row(&mut self, row: &FlowRow, prior_login_attempts: u32) -> io::Result<()> {
        let e = Endpoints::of(&row.key, row.stats.fwd_is_a);
        write!(
            self.out,
            "{},{},{},{},{},{},{},{}",
            e.src,
            e.dst,
            e.src_port,
            e.dst_port,
            e.protocol,
            self.clock.unix_ms_of(row.stats.flow_start_ns),
            row.reason.as_str(),
            row.records
        )?;
        for v in flow_row_features(&row.stats, prior_login_attempts) {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                write!(self.out, ",{}", v as i64)?;
            } else {
                write!(self.out, ",{v:.3}")?;
            }
        }
        writeln!(self.out)?;
        self.rows += 1;
        Ok(())
    }

    /// Writes a row already in this format (a flow CSV row read back), as it is.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.out, "{line}")?;
        self.rows += 1;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
