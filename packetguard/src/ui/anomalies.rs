//! The latest anomalies, folded the way the JSON events fold them: an anomaly the
//! events' rate limit writes opens a row; one it holds back is added to the newest row of
//! the same detector and address, so the table shows what the event lines show and the
//! counts still add up to `packetguard_anomalies_total`.

use std::net::IpAddr;

use crate::{
    detect::scorer::TOP_FEATURES,
    events::{Detector, FeatureContribution, Subject},
};

use super::ring::Ring;

/// One row of the anomaly table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnomalyRow {
    /// The number of the anomaly that opened the row (1 for the first since start).
    pub id: u64,
    /// The number of the latest anomaly folded into the row (`id` if none was).
    pub last_id: u64,
    /// Wall-clock time of the opening anomaly, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Wall-clock time of the latest anomaly folded in.
    pub last_ms: u64,
    pub detector: Detector,
    /// The threshold rule, for threshold anomalies.
    pub rule: Option<RuleName>,
    pub subject: Subject,
    pub score: f64,
    pub threshold: f64,
    pub top: [FeatureContribution; TOP_FEATURES],
    pub n_top: usize,
    /// Anomalies of the same detector and address folded into this row.
    pub folded: u64,
}

/// A rule's name, truncated to a fixed size so a row stays `Copy` and allocation-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleName {
    bytes: [u8; 48],
    len: u8,
}

impl RuleName {
    pub fn new(name: &str) -> Self {
        let mut bytes = [0; 48];
        let mut len = name.len().min(bytes.len());
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        RuleName {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

/// What the run loop reports of one anomaly.
#[derive(Clone, Copy, Debug)]
pub struct Reported<'a> {
    pub time_ms: u64,
    pub detector: Detector,
    pub rule: Option<&'a str>,
    pub subject: Subject,
    pub score: f64,
    pub threshold: f64,
    pub top: &'a [FeatureContribution],
    /// The events' rate limit wrote this anomaly as a line of its own.
    pub written: bool,
}

/// The newest rows and the running anomaly count.
#[derive(Clone, Debug)]
pub struct Anomalies {
    rows: Ring<AnomalyRow>,
    /// Anomalies since start, per detector.
    pub totals: [u64; crate::events::N_DETECTORS],
    /// The number of the newest anomaly: the sum of `totals`.
    pub last_id: u64,
}

/// The address a row is folded under: the one the events' rate limit keys on.
fn fold_key(d: Detector, s: &Subject) -> (Detector, IpAddr) {
    (d, s.host())
}

impl Anomalies {
    pub fn new(capacity: usize) -> Self {
        Anomalies {
            rows: Ring::new(capacity),
            totals: [0; crate::events::N_DETECTORS],
            last_id: 0,
        }
    }

    /// Counts one anomaly and opens or folds its row.
    pub fn record(&mut self, a: &Reported<'_>) {
        self.last_id += 1;
        self.totals[a.detector.index()] += 1;
        let id = self.last_id;
        if !a.written {
            let key = fold_key(a.detector, &a.subject);
            if let Some(row) = self
                .rows
                .iter_mut_newest_first()
                .find(|r| fold_key(r.detector, &r.subject) == key)
            {
                row.folded += 1;
                row.last_id = id;
                row.last_ms = a.time_ms;
                return;
            }
        }
        let mut top = [FeatureContribution {
            name: "",
            value: 0.0,
            weight: 0.0,
        }; TOP_FEATURES];
        let n_top = a.top.len().min(TOP_FEATURES);
        top[..n_top].copy_from_slice(&a.top[..n_top]);
        self.rows.push(AnomalyRow {
            id,
            last_id: id,
            time_ms: a.time_ms,
            last_ms: a.time_ms,
            detector: a.detector,
            rule: a.rule.map(RuleName::new),
            subject: a.subject,
            score: a.score,
            threshold: a.threshold,
            top,
            n_top,
            folded: 0,
        });
    }

    /// Rows that opened or took in an anomaly after number `since`, newest first, at most
    /// `limit`.
    pub fn since(&self, since: u64, limit: usize) -> Vec<AnomalyRow> {
        self.rows
            .iter()
            .rev()
            .filter(|r| r.last_id > since)
            .take(limit)
            .copied()
            .collect()
    }

    pub fn capacity(&self) -> usize {
        self.rows.capacity()
    }
}
