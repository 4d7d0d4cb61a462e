//! The flow CSV sink: flow records folded into one row per flow (or one row per record),
//! written with the columns of `packetguard collect`.

use std::io::{self, Write};

use packetguard_common::FlowRecord;

use crate::{
    datapath::flow_table::Removed,
    flows::{
        csv::FlowCsvWriter,
        merge::{FlowMerger, FlowRow},
    },
};

/// Where flow rows go: merged per flow (default) or one per record.
pub struct RowSink<W: Write> {
    csv: FlowCsvWriter<W>,
    merger: FlowMerger,
    per_record: bool,
}

impl<W: Write> RowSink<W> {
    pub fn new(csv: FlowCsvWriter<W>, per_record: bool) -> Self {
        Self {
            csv,
            merger: FlowMerger::default(),
            per_record,
        }
    }

    /// One flow record.
    pub fn record(&mut self, rec: &FlowRecord) -> io::Result<()> {
        if self.per_record {
            self.csv.write_row(&FlowRow::from_record(rec))
        } else {
            let csv = &mut self.csv;
            self.merger.add(rec, |row| csv.write_row(&row))
        }
    }

    /// A flow removed from the flow table: its last record, and its row is complete.
    pub fn removed(&mut self, r: &Removed) -> io::Result<()> {
        if let Some(rec) = &r.record {
            self.record(rec)?;
        }
        if self.per_record {
            return Ok(());
        }
        let csv = &mut self.csv;
        self.merger
            .close(&r.key, r.flow_start_ns, |row| csv.write_row(&row))
    }

    /// A flow CSV row read back, written as it is.
    pub fn line(&mut self, line: &str) -> io::Result<()> {
        self.csv.write_line(line)
    }

    /// Writes the rows still open and flushes; returns the number of rows written.
    pub fn finish(&mut self) -> io::Result<u64> {
        let csv = &mut self.csv;
        self.merger.finish(|row| csv.write_row(&row))?;
        self.csv.flush()?;
        Ok(self.csv.rows())
    }
}
