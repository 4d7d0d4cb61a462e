//! Tests of the offline path: hand-built captures folded into exact flow records, the
//! same flows from every link type and format, and the one-line errors.

mod decisions;
mod errors;
mod flows;
mod frames;
mod links;
mod sequence;

use std::path::Path;

use packetguard_common::{FlowKey, FlowRecord, FlowStart, HostKey, HostStats};

use super::{
    flows::HostTotals,
    reader::{CaptureReader, ReadError},
    source::{Consumer, Counts, OfflineSettings, OfflineSource},
};
use crate::datapath::{drain::Event, flow_table::Removed};

/// Everything a source handed over, in order.
#[derive(Default)]
pub struct Collected {
    /// Records from events and removals, in the order they came.
    pub records: Vec<FlowRecord>,
    pub starts: Vec<FlowStart>,
    /// Late credits from removals, summed per destination and per source.
    pub late_dst: std::collections::HashMap<HostKey, HostStats>,
    pub late_src: std::collections::HashMap<HostKey, HostStats>,
    /// (window end, destinations seen) per window close.
    pub windows: Vec<(u64, usize)>,
    /// The destination totals at the last window close.
    pub last_dst: std::collections::HashMap<HostKey, HostStats>,
}

impl Consumer for Collected {
    type Error = std::convert::Infallible;
    fn event(&mut self, ev: Event<'_>) -> Result<(), Self::Error> {
        match ev {
            Event::Flow(r) => self.records.push(*r),
            Event::FlowStart(s) => self.starts.push(*s),
            Event::Sample(_) => unreachable!("the offline source sends no samples"),
        }
        Ok(())
    }
    fn removed(&mut self, r: &Removed) -> Result<(), Self::Error> {
        if let Some(rec) = r.record {
            self.records.push(rec);
        }
        for (h, d) in r.uncredited {
            let e = self.late_dst.entry(h).or_default();
            *e = e.plus(&d);
        }
        for (h, d) in r.uncredited_sources {
            let e = self.late_src.entry(h).or_default();
            *e = e.plus(&d);
        }
        Ok(())
    }
    fn window_close(&mut self, end_ns: u64, totals: &HostTotals) -> Result<(), Self::Error> {
        let mut n = 0;
        self.last_dst.clear();
        totals.for_each_destination(|k, v| {
            self.last_dst.insert(k, v);
            n += 1;
        });
        self.windows.push((end_ns, n));
        Ok(())
    }
}

impl Collected {
    /// The records of the flow with `key`, in order.
    pub fn of(&self, key: &FlowKey) -> Vec<&FlowRecord> {
        self.records.iter().filter(|r| r.key == *key).collect()
    }
}

/// Reads the capture `bytes` (named `name` in errors) through a source with the default
/// settings to the end.
pub fn fold_file(name: &str, bytes: Vec<u8>) -> (Collected, Counts, Option<ReadError>) {
    let mut reader =
        CaptureReader::from_reader(Path::new(name), Box::new(std::io::Cursor::new(bytes)))
            .expect("the capture opens");
    let mut source = OfflineSource::new(OfflineSettings::default());
    let mut out = Collected::default();
    let Ok(stopped) = source.run(&mut reader, &mut out);
    let Ok(counts) = source.finish(&mut out);
    (out, counts, stopped)
}
