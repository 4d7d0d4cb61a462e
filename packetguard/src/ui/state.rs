//! The live state the run loop feeds and the page's API reads: fixed-size series of the
//! last minutes, the newest scored points, the latest anomalies, top talkers and health.
//!
//! Every series is a [`Ring`] allocated once; the loop's updates overwrite, never grow.
//! The loop writes once per tick (traffic, anomaly rates, health), once per scored batch
//! (points, scores of addresses) and once per anomaly.

use std::net::IpAddr;

use packetguard_common::Counter;

use super::{
    anomalies::{Anomalies, Reported},
    ring::Ring,
    top::Talkers,
};
use crate::{
    datapath::counters::KernelCounters,
    events::{Detector, N_DETECTORS},
};

/// Seconds of traffic and anomaly-rate history: five minutes at one sample a second.
pub const HISTORY: usize = 300;
/// Scored points kept per detector for the scatter plot.
pub const POINTS_PER_DETECTOR: usize = 300;
/// Rows of the anomaly table kept.
pub const ANOMALY_ROWS: usize = 100;

/// Traffic over one tick, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrafficSample {
    /// End of the tick, milliseconds since the Unix epoch.
    pub t_ms: u64,
    pub ingress_pps: f64,
    pub ingress_bps: f64,
    pub egress_pps: f64,
    pub egress_bps: f64,
}

/// Anomalies per second of each detector over one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateSample {
    pub t_ms: u64,
    pub per_s: [f64; N_DETECTORS],
}

/// One scored flow or window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub t_ms: u64,
    pub score: f64,
    pub anomaly: bool,
    /// A flow's bytes (both directions), or a window's bytes per second.
    pub bytes: f64,
}

/// A model a detector scores with.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInUse {
    pub id: String,
    pub kind: String,
    pub trained_rows: u64,
    pub threshold: f64,
}

/// What the health panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// Each attachment: interface, program and mode.
    pub attached: Vec<String>,
    pub started_ms: u64,
    pub models: [Option<ModelInUse>; N_DETECTORS],
    pub rules: Vec<String>,
    /// Flow starts and samples the full ring buffer lost (records are delayed, not lost).
    pub ringbuf_lost: u64,
    /// Flow records the full ring buffer delayed to the next flow-table scan.
    pub records_delayed: u64,
    pub parse_errors: u64,
    pub flow_table_entries: u64,
    pub flow_table_capacity: u64,
    pub events_dropped: u64,
}

/// What the loop tells the state at every tick besides the kernel's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct TickInputs {
    pub flow_table_entries: u64,
    pub events_dropped: u64,
}

/// Everything the page shows.
#[derive(Clone, Debug)]
pub struct LiveState {
    pub traffic: Ring<TrafficSample>,
    pub rates: Ring<RateSample>,
    pub points: [Ring<Point>; N_DETECTORS],
    pub anomalies: Anomalies,
    pub talkers: Talkers,
    pub health: Health,
    /// Kernel packet and byte totals (all, egress) at the last tick.
    last_kernel: Option<(u64, [u64; 4])>,
    /// Anomalies since the last tick, per detector.
    pending: [u64; N_DETECTORS],
    last_tick_ms: u64,
}

impl LiveState {
    pub fn new(started_ms: u64) -> Self {
        LiveState {
            traffic: Ring::new(HISTORY),
            rates: Ring::new(HISTORY),
            points: std::array::from_fn(|_| Ring::new(POINTS_PER_DETECTOR)),
            anomalies: Anomalies::new(ANOMALY_ROWS),
            talkers: Talkers::default(),
            health: Health {
                started_ms,
                ..Health::default()
            },
            last_kernel: None,
            pending: [0; N_DETECTORS],
            last_tick_ms: started_ms,
        }
    }

    /// One tick of the run loop: traffic rates from the kernel's totals, the anomaly rate
    /// of each detector since the last tick, and the health counters.
    pub fn tick(&mut self, now_ms: u64, k: &KernelCounters, inputs: TickInputs) {
        let totals = [
            k.get(Counter::Packets),
            k.get(Counter::Bytes),
            k.get(Counter::EgressPackets),
            k.get(Counter::EgressBytes),
        ];
        if let Some((then, before)) = self.last_kernel {
            let secs = now_ms.saturating_sub(then) as f64 / 1000.0;
            if secs > 0.0 {
                // Counters only grow while the program stays loaded; a smaller value is
                // a reload, and counts from zero.
                let d: [f64; 4] = std::array::from_fn(|i| {
                    totals[i].checked_sub(before[i]).unwrap_or(totals[i]) as f64 / secs
                });
                self.traffic.push(TrafficSample {
                    t_ms: now_ms,
                    ingress_pps: (d[0] - d[2]).max(0.0),
                    ingress_bps: (d[1] - d[3]).max(0.0),
                    egress_pps: d[2],
                    egress_bps: d[3],
                });
            }
        }
        self.last_kernel = Some((now_ms, totals));
        let secs = now_ms.saturating_sub(self.last_tick_ms) as f64 / 1000.0;
        if secs > 0.0 {
            self.rates.push(RateSample {
                t_ms: now_ms,
                per_s: std::array::from_fn(|i| self.pending[i] as f64 / secs),
            });
            self.pending = [0; N_DETECTORS];
            self.last_tick_ms = now_ms;
        }
        let h = &mut self.health;
        h.ringbuf_lost = k.get(Counter::RingbufLost);
        h.records_delayed = k.get(Counter::RecordsDelayed);
        h.parse_errors = k.get(Counter::ParseErrors);
        h.flow_table_entries = inputs.flow_table_entries;
        h.events_dropped = inputs.events_dropped;
    }

    /// Counts one anomaly and adds it to the table.
    pub fn record_anomaly(&mut self, a: &Reported<'_>) {
        self.pending[a.detector.index()] += 1;
        self.anomalies.record(a);
    }

    /// Adds one scored row to `detector`'s scatter.
    pub fn record_point(&mut self, detector: Detector, p: Point) {
        self.points[detector.index()].push(p);
    }

    /// The window score of an address, for the top lists by score.
    pub fn offer_score(&mut self, subject: crate::events::Subject, score: f64, now_ms: u64) {
        use crate::events::Subject;
        match subject {
            Subject::Host(a) => self.talkers.destinations_by_score.offer(a, score, now_ms),
            Subject::Source(a) => self.talkers.sources_by_score.offer(a, score, now_ms),
            Subject::Flow { .. } => {}
        }
    }

    /// The bytes per second of an address's window, for the top lists by traffic.
    pub fn offer_bytes(&mut self, destination: bool, addr: IpAddr, bps: f64, now_ms: u64) {
        let list = if destination {
            &mut self.talkers.destinations_by_bytes
        } else {
            &mut self.talkers.sources_by_bytes
        };
        list.offer(addr, bps, now_ms);
    }

    /// The model `detector` scores with from now on.
    pub fn set_model(&mut self, detector: Detector, model: ModelInUse) {
        self.health.models[detector.index()] = Some(model);
    }

    /// The threshold of `detector`'s model, if it has one.
    pub fn threshold(&self, detector: Detector) -> Option<f64> {
        self.health.models[detector.index()]
            .as_ref()
            .map(|m| m.threshold)
    }
}
