//! One row per flow: a flow's records (end, active timeouts, the tail exported on idle)
//! are folded together and the row is released when the flow is gone from the kernel.

use std::collections::HashMap;

use packetguard_common::{FlowKey, FlowRecord, FlowStats, RecordReason};

/// A flow's records folded together.
#[derive(Clone, Copy, Debug)]
pub struct FlowRow {
    pub key: FlowKey,
    pub stats: FlowStats,
    /// The kernel's end (FIN/FIN or RST) when there was one, else the last record's reason.
    pub reason: RecordReason,
    /// Records folded into this row.
    pub records: u32,
}

impl FlowRow {
    pub fn from_record(rec: &FlowRecord) -> Self {
        Self {
            key: rec.key,
            stats: rec.stats,
            reason: RecordReason::from_u32(rec.reason).unwrap_or(RecordReason::Shutdown),
            records: 1,
        }
    }

    fn fold(&mut self, rec: &FlowRecord) {
        self.stats.merge(&rec.stats);
        self.records += 1;
        let reason = RecordReason::from_u32(rec.reason).unwrap_or(RecordReason::Shutdown);
        if !matches!(self.reason, RecordReason::FlowEnd | RecordReason::Reset) {
            self.reason = reason;
        }
    }
}

/// Folds records by flow instance (key and start time).
#[derive(Default)]
pub struct FlowMerger {
    open: HashMap<FlowKey, FlowRow>,
}

impl FlowMerger {
    /// Adds a record. If the key's previous instance is still open (the 5-tuple was reused
    /// after the flow ended) that row is complete and is handed to `done`, whose error is
    /// returned.
    pub fn add<E>(
        &mut self,
        rec: &FlowRecord,
        done: impl FnOnce(FlowRow) -> Result<(), E>,
    ) -> Result<(), E> {
        match self.open.get_mut(&rec.key) {
            Some(row) if row.stats.flow_start_ns == rec.stats.flow_start_ns => {
                row.fold(rec);
                Ok(())
            }
            Some(row) => done(std::mem::replace(row, FlowRow::from_record(rec))),
            None => {
                self.open.insert(rec.key, FlowRow::from_record(rec));
                Ok(())
            }
        }
    }

    /// The kernel no longer holds the flow: its row is complete.
    pub fn close<E>(
        &mut self,
        key: &FlowKey,
        flow_start_ns: u64,
        done: impl FnOnce(FlowRow) -> Result<(), E>,
    ) -> Result<(), E> {
        if self
            .open
            .get(key)
            .is_some_and(|r| r.stats.flow_start_ns == flow_start_ns)
        {
            if let Some(row) = self.open.remove(key) {
                return done(row);
            }
        }
        Ok(())
    }

    /// Releases every open row (at exit), oldest first; stops at the first error.
    pub fn finish<E>(&mut self, done: impl FnMut(FlowRow) -> Result<(), E>) -> Result<(), E> {
        let mut rows: Vec<FlowRow> = self.open.drain().map(|(_, r)| r).collect();
        rows.sort_by_key(|r| r.stats.flow_start_ns);
        rows.into_iter().try_for_each(done)
    }

    pub fn open_rows(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::RecordKind;

    fn push(rows: &mut Vec<FlowRow>, r: FlowRow) -> Result<(), ()> {
        rows.push(r);
        Ok(())
    }

    fn rec(start: u64, fwd: u64, bwd: u64, reason: RecordReason) -> FlowRecord {
        let mut stats = FlowStats::new_flow(start, 1);
        stats.fwd_packets = fwd;
        stats.bwd_packets = bwd;
        stats.first_seen_ns = start;
        stats.last_seen_ns = start + 1;
        FlowRecord {
            kind: RecordKind::Flow as u32,
            reason: reason as u32,
            key: FlowKey::default(),
            stats,
        }
    }

    #[test]
    fn end_record_and_tail_make_one_row_that_keeps_the_end_reason() {
        let mut m = FlowMerger::default();
        let mut rows = Vec::new();
        m.add(&rec(5, 4, 3, RecordReason::FlowEnd), |r| push(&mut rows, r))
            .unwrap();
        m.add(&rec(5, 1, 0, RecordReason::IdleTimeout), |r| {
            push(&mut rows, r)
        })
        .unwrap();
        assert!(rows.is_empty());
        m.close(&FlowKey::default(), 5, |r| push(&mut rows, r))
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].stats.fwd_packets, rows[0].stats.bwd_packets),
            (5, 3)
        );
        assert_eq!(rows[0].reason, RecordReason::FlowEnd);
        assert_eq!(rows[0].records, 2);
    }

    #[test]
    fn a_reused_tuple_releases_the_previous_flow() {
        let mut m = FlowMerger::default();
        let mut rows = Vec::new();
        m.add(&rec(5, 2, 2, RecordReason::Reset), |r| push(&mut rows, r))
            .unwrap();
        m.add(&rec(9, 1, 0, RecordReason::IdleTimeout), |r| {
            push(&mut rows, r)
        })
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].stats.flow_start_ns, 5);
        m.finish(|r| push(&mut rows, r)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(m.open_rows(), 0);
    }
}
