//! The flow CSV sink: flow records folded into one row per flow (or one row per record),
//! written with the columns of `packetguard collect`.
//!
//! Rows carry one context feature the records do not: `prior_login_attempts`, counted from
//! the flow starts the source delivers (see [`crate::flows::context`]), so the sink must be
//! shown every flow start ([`RowSink::flow_start`]) before the records of that flow.

use std::io::{self, Write};

use packetguard_common::{FlowRecord, FlowStart};

use crate::{
    datapath::flow_table::Removed,
    flows::{
        context::FlowContext,
        csv::FlowCsvWriter,
        merge::{FlowMerger, FlowRow},
    },
};

/// Where flow rows go: merged per flow (default) or one per record.
pub struct RowSink<W: Write> {
    csv: FlowCsvWriter<W>,
    merger: FlowMerger,
    per_record: bool,
    /// The rows' context features, from the flow starts.
    context: FlowContext,
}

/// Writes one row with its context feature.
fn write<W: Write>(
    csv: &mut FlowCsvWriter<W>,
    context: &FlowContext,
    row: &FlowRow,
) -> io::Result<()> {
    let prior = context.prior_login_attempts(&row.key, row.stats.flow_start_ns);
    csv.write_row(row, prior)
}

impl<W: Write> RowSink<W> {
    pub fn new(csv: FlowCsvWriter<W>, per_record: bool) -> Self {
        Self {
            csv,
            merger: FlowMerger::default(),
            per_record,
            context: FlowContext::new(),
        }
    }

    /// A flow start: what the rows' context features are counted from.
    pub fn flow_start(&mut self, start: &FlowStart) {
        self.context.observe_start(start);
    }

    /// One flow record.
    pub fn record(&mut self, rec: &FlowRecord) -> io::Result<()> {
        let (csv, context) = (&mut self.csv, &self.context);
        if self.per_record {
            write(csv, context, &FlowRow::from_record(rec))
        } else {
            self.merger.add(rec, |row| write(csv, context, &row))
        }
    }

    /// A flow removed from the flow table: its last record, and its row is complete.
    pub fn removed(&mut self, r: &Removed) -> io::Result<()> {
        if let Some(rec) = &r.record {
            self.record(rec)?;
        }
        if !self.per_record {
            let (csv, context) = (&mut self.csv, &self.context);
            self.merger
                .close(&r.key, r.flow_start_ns, |row| write(csv, context, &row))?;
        }
        self.context.forget(&r.key, r.flow_start_ns);
        Ok(())
    }

    /// A flow CSV row read back, written as it is.
    pub fn line(&mut self, line: &str) -> io::Result<()> {
        self.csv.write_line(line)
    }

    /// Writes the rows still open and flushes; returns the number of rows written.
    pub fn finish(&mut self) -> io::Result<u64> {
        let (csv, context) = (&mut self.csv, &self.context);
        self.merger.finish(|row| write(csv, context, &row))?;
        self.csv.flush()?;
        Ok(self.csv.rows())
    }
}
