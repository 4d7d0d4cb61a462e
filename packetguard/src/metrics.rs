//! Every metric the agent exports, and the HTTP server behind `/metrics`.
//!
//! [`Metrics`] owns a private `prometheus::Registry` (not the crate's global one, so tests
//! can run several agents in one process) and a handle for each series. Labelled children
//! are resolved once at construction: the drain loop and the scorers call methods that only
//! touch atomics, never allocate and never take a lock.
//!
//! Names follow Prometheus practice: `packetguard_` prefix, `_total` on counters, base units,
//! and labels only from small fixed sets (`detector`, `kind`), never an address or a port.
//! The kernel's per-CPU counters are absolute totals; [`Metrics::set_kernel_totals`] turns
//! them into counter increments so the exported values stay monotone and exact.

mod server;

use std::sync::Mutex;
use std::time::Duration;

use packetguard_common::counters::COUNTER_SLOTS;
use packetguard_common::Counter;
use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub use crate::events::Detector;
pub use server::{bind, router, serve, DEFAULT_METRICS_ADDR};

/// Errors of the metrics registry and its HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics address {addr} is in use; pick another with --metrics-addr")]
    AddrInUse { addr: std::net::SocketAddr },
    #[error("cannot listen on metrics address {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics server failed: {source}")]
    Serve { source: std::io::Error },
    #[error("cannot register metric {name}: {source}")]
    Register {
        name: &'static str,
        source: prometheus::Error,
    },
    #[error("cannot encode metrics: {source}")]
    Encode { source: prometheus::Error },
}

/// Buckets for Isolation Forest scores, which live in [0, 1] and matter most around the
/// usual thresholds (0.5 to 0.7).
pub const SCORE_BUCKETS: [f64; 13] = [
    0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0,
];

/// Buckets for one drain batch's latency: 5 µs to 100 ms.
const DRAIN_SECONDS_BUCKETS: [f64; 14] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1,
];

/// Buckets for records per drain batch: powers of two up to 4096.
const DRAIN_RECORDS_BUCKETS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// The XDP program's counters summed over CPUs: absolute totals since it was loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelTotals {
    pub packets: u64,
    pub bytes: u64,
    pub non_ip: u64,
    pub parse_errors: u64,
    pub flows_created: u64,
    pub ringbuf_full: u64,
    pub records_emitted: u64,
    pub samples_emitted: u64,
    pub flows_ended: u64,
    pub fragments: u64,
    pub flow_insert_failed: u64,
    pub flow_starts_emitted: u64,
    pub host_insert_failed: u64,
}

impl KernelTotals {
    /// From the per-CPU array's slots, summed, indexed by [`Counter`].
    pub fn from_slots(slots: &[u64; COUNTER_SLOTS as usize]) -> Self {
        let get = |c: Counter| slots[c as usize];
        KernelTotals {
            packets: get(Counter::Packets),
            bytes: get(Counter::Bytes),
            non_ip: get(Counter::NonIp),
            parse_errors: get(Counter::ParseErrors),
            flows_created: get(Counter::FlowsCreated),
            ringbuf_full: get(Counter::RingbufFull),
            records_emitted: get(Counter::RecordsEmitted),
            samples_emitted: get(Counter::SamplesEmitted),
            flows_ended: get(Counter::FlowsEnded),
            fragments: get(Counter::Fragments),
            flow_insert_failed: get(Counter::FlowInsertFailed),
            flow_starts_emitted: get(Counter::FlowStartsEmitted),
            host_insert_failed: get(Counter::HostInsertFailed),
        }
    }
}

/// What one pass of the ring buffer drain loop read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainBatch {
    /// Flow records (end, reset, active timeout, every N packets).
    pub flows: u64,
    /// Packet samples.
    pub samples: u64,
    /// Flow start events.
    pub flow_starts: u64,
    /// Records too short or of an unknown type.
    pub decode_errors: u64,
    /// Time spent reading, decoding and scoring the batch.
    pub elapsed: Duration,
}

/// Handles for the counters fed from the kernel's totals.
struct KernelSeries {
    packets: IntCounter,
    bytes: IntCounter,
    non_ip: IntCounter,
    parse_errors: IntCounter,
    flows_created: IntCounter,
    ringbuf_lost: IntCounter,
    flows_ended: IntCounter,
    fragments: IntCounter,
    flow_insert_failed: IntCounter,
    host_insert_failed: IntCounter,
    /// Indexed by `RecordKind`: flow, sample, flow_start.
    emitted: [IntCounter; 3],
}

/// Label values of the `kind` label, in the order of the per-kind arrays.
const RECORD_KINDS: [&str; 3] = ["flow", "sample", "flow_start"];

/// The agent's metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    kernel: KernelSeries,
    /// The last kernel totals applied, to turn absolute totals into increments.
    last_kernel: Mutex<KernelTotals>,
    flows_scored: IntCounter,
    host_windows: IntCounter,
    anomalies: [IntCounter; 2],
    scores: [Histogram; 2],
    flow_table_entries: IntGauge,
    flow_table_capacity: IntGauge,
    flow_table_evictions: IntCounter,
    model_info: IntGaugeVec,
    /// The model label currently set per detector, to replace it on reload.
    models: Mutex<[Option<String>; 2]>,
    drained: [IntCounter; 3],
    decode_errors: IntCounter,
    drain_seconds: Histogram,
    drain_records: Histogram,
    suppressed: [IntCounter; 2],
}

/// Builds metrics and registers them; the first failure is returned at once, naming the
/// metric.
struct Builder {
    registry: Registry,
}

impl Builder {
    fn add<C: Collector + Clone + 'static>(
        &self,
        name: &'static str,
        made: prometheus::Result<C>,
    ) -> Result<C, MetricsError> {
        let err = |source| MetricsError::Register { name, source };
        let c = made.map_err(err)?;
        self.registry.register(Box::new(c.clone())).map_err(err)?;
        Ok(c)
    }

    fn counter(&self, name: &'static str, help: &str) -> Result<IntCounter, MetricsError> {
        self.add(name, IntCounter::new(name, help))
    }

    fn counter_vec(
        &self,
        name: &'static str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, MetricsError> {
        self.add(name, IntCounterVec::new(Opts::new(name, help), labels))
    }
}

/// The child of each detector, indexed by [`Detector::index`].
fn per_detector<T: MetricVecBuilder>(vec: &MetricVec<T>) -> [T::M; 2] {
    Detector::ALL.map(|d| vec.with_label_values(&[d.as_str()]))
}

impl Metrics {
    /// Creates and registers every metric; `packetguard_build_info` carries this crate's
    /// version.
    pub fn new() -> Result<Self, MetricsError> {
        let b = Builder {
            registry: Registry::new(),
        };
        let kernel = KernelSeries {
            packets: b.counter(
                "packetguard_packets_total",
                "Frames the XDP program saw on the interface, every protocol.",
            )?,
            bytes: b.counter(
                "packetguard_bytes_total",
                "Bytes of the frames the XDP program saw, link-layer headers included.",
            )?,
            non_ip: b.counter(
                "packetguard_non_ip_frames_total",
                "Frames that are neither IPv4 nor IPv6 (ARP, LLDP, ...); passed unscored.",
            )?,
            parse_errors: b.counter(
                "packetguard_parse_errors_total",
                "Frames cut short or malformed where the parser needed a header; passed.",
            )?,
            flows_created: b.counter(
                "packetguard_kernel_flows_created_total",
                "Flow entries the XDP program created in its flow map.",
            )?,
            ringbuf_lost: b.counter(
                "packetguard_ringbuf_lost_total",
                "Ring buffer reservations that failed because the buffer was full.",
            )?,
            flows_ended: b.counter(
                "packetguard_kernel_flows_ended_total",
                "Flows the XDP program ended on FIN or RST.",
            )?,
            fragments: b.counter(
                "packetguard_ip_fragments_total",
                "Non-first IP fragments, counted toward their flow without ports.",
            )?,
            flow_insert_failed: b.counter(
                "packetguard_flow_insert_failures_total",
                "Flow map inserts the kernel refused; those packets update no flow.",
            )?,
            host_insert_failed: b.counter(
                "packetguard_host_insert_failures_total",
                "Host map inserts the kernel refused; those packets are missing from their host's window.",
            )?,
            emitted: {
                let vec = b.counter_vec(
                    "packetguard_ringbuf_emitted_total",
                    "Records the XDP program wrote to the ring buffer, by kind.",
                    &["kind"],
                )?;
                RECORD_KINDS.map(|k| vec.with_label_values(&[k]))
            },
        };
        let anomalies = b.counter_vec(
            "packetguard_anomalies_total",
            "Verdicts at or above the detector's threshold, by detector.",
            &["detector"],
        )?;
        let scores = b.add(
            "packetguard_anomaly_score",
            HistogramVec::new(
                HistogramOpts::new(
                    "packetguard_anomaly_score",
                    "Isolation Forest score of every scored flow or host window, by detector.",
                )
                .buckets(SCORE_BUCKETS.to_vec()),
                &["detector"],
            ),
        )?;
        let drained = b.counter_vec(
            "packetguard_ringbuf_records_total",
            "Records the agent read from the ring buffer, by kind.",
            &["kind"],
        )?;
        let suppressed = b.counter_vec(
            "packetguard_events_suppressed_total",
            "Anomaly events held back by the per-host rate limit, by detector.",
            &["detector"],
        )?;
        let model_info = b.add(
            "packetguard_model_info",
            IntGaugeVec::new(
                Opts::new(
                    "packetguard_model_info",
                    "The model each detector scores with; always 1.",
                ),
                &["detector", "model"],
            ),
        )?;
        let build_info = b.add(
            "packetguard_build_info",
            IntGaugeVec::new(
                Opts::new("packetguard_build_info", "The agent's version; always 1."),
                &["version"],
            ),
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        Ok(Metrics {
            kernel,
            last_kernel: Mutex::new(KernelTotals::default()),
            flows_scored: b.counter(
                "packetguard_flows_total",
                "Flow records the flow detector scored.",
            )?,
            host_windows: b.counter(
                "packetguard_host_windows_total",
                "Per-destination one-second windows the host detector scored.",
            )?,
            anomalies: per_detector(&anomalies),
            scores: per_detector(&scores),
            flow_table_entries: b.add(
                "packetguard_flow_table_entries",
                IntGauge::new(
                    "packetguard_flow_table_entries",
                    "Flows currently held in the kernel flow map.",
                ),
            )?,
            flow_table_capacity: b.add(
                "packetguard_flow_table_capacity",
                IntGauge::new(
                    "packetguard_flow_table_capacity",
                    "Maximum entries of the kernel flow map; beyond it the oldest are evicted.",
                ),
            )?,
            flow_table_evictions: b.counter(
                "packetguard_flow_table_evictions_total",
                "Flows dropped from the flow table to make room before they were exported.",
            )?,
            model_info,
            models: Mutex::new([None, None]),
            drained: RECORD_KINDS.map(|k| drained.with_label_values(&[k])),
            decode_errors: b.counter(
                "packetguard_ringbuf_decode_errors_total",
                "Ring buffer records the agent could not decode (short or unknown type).",
            )?,
            drain_seconds: b.add(
                "packetguard_drain_batch_seconds",
                Histogram::with_opts(
                    HistogramOpts::new(
                        "packetguard_drain_batch_seconds",
                        "Time to read, decode and score one batch of ring buffer records.",
                    )
                    .buckets(DRAIN_SECONDS_BUCKETS.to_vec()),
                ),
            )?,
            drain_records: b.add(
                "packetguard_drain_batch_records",
                Histogram::with_opts(
                    HistogramOpts::new(
                        "packetguard_drain_batch_records",
                        "Ring buffer records read in one drain batch.",
                    )
                    .buckets(DRAIN_RECORDS_BUCKETS.to_vec()),
                ),
            )?,
            suppressed: per_detector(&suppressed),
            registry: b.registry,
        })
    }

    /// The registry, e.g. to add metrics of another module.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Applies the kernel's absolute totals. Each counter rises by the difference to the
    /// previous call. A total below the previous one means the program was reloaded and
    /// its counters restarted at zero; the counter then rises by the new total, so it
    /// stays monotone and counts every packet of both lifetimes.
    pub fn set_kernel_totals(&self, now: &KernelTotals) {
        let mut last = match self.last_kernel.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let k = &self.kernel;
        let pairs: [(&IntCounter, u64, u64); 13] = [
            (&k.packets, now.packets, last.packets),
            (&k.bytes, now.bytes, last.bytes),
            (&k.non_ip, now.non_ip, last.non_ip),
            (&k.parse_errors, now.parse_errors, last.parse_errors),
            (&k.flows_created, now.flows_created, last.flows_created),
            (&k.ringbuf_lost, now.ringbuf_full, last.ringbuf_full),
            (&k.flows_ended, now.flows_ended, last.flows_ended),
            (&k.fragments, now.fragments, last.fragments),
            (
                &k.flow_insert_failed,
                now.flow_insert_failed,
                last.flow_insert_failed,
            ),
            (
                &k.host_insert_failed,
                now.host_insert_failed,
                last.host_insert_failed,
            ),
            (&k.emitted[0], now.records_emitted, last.records_emitted),
            (&k.emitted[1], now.samples_emitted, last.samples_emitted),
            (
                &k.emitted[2],
                now.flow_starts_emitted,
                last.flow_starts_emitted,
            ),
        ];
        for (counter, new, old) in pairs {
            counter.inc_by(if new >= old { new - old } else { new });
        }
        *last = *now;
    }

    /// Records one scored flow or host window: counts it and adds its score to the
    /// score histogram.
    pub fn record_score(&self, detector: Detector, score: f64) {
        match detector {
            Detector::Flow => self.flows_scored.inc(),
            Detector::Host => self.host_windows.inc(),
        }
        self.scores[detector.index()].observe(score);
    }

    /// [`Metrics::record_score`] for a whole scored batch.
    pub fn record_scores(&self, detector: Detector, scores: &[f64]) {
        for &score in scores {
            self.record_score(detector, score);
        }
    }

    /// Counts one anomalous verdict.
    pub fn record_anomaly(&self, detector: Detector) {
        self.anomalies[detector.index()].inc();
    }

    /// Counts anomaly events held back by the rate limit.
    pub fn add_events_suppressed(&self, detector: Detector, n: u64) {
        self.suppressed[detector.index()].inc_by(n);
    }

    /// Records one drain batch: per-kind record counts, its latency and its size.
    pub fn observe_drain_batch(&self, batch: &DrainBatch) {
        self.drained[0].inc_by(batch.flows);
        self.drained[1].inc_by(batch.samples);
        self.drained[2].inc_by(batch.flow_starts);
        self.decode_errors.inc_by(batch.decode_errors);
        self.drain_seconds.observe(batch.elapsed.as_secs_f64());
        let records = batch.flows + batch.samples + batch.flow_starts + batch.decode_errors;
        self.drain_records.observe(records as f64);
    }

    /// Sets the current number of entries in the kernel flow map.
    pub fn set_flow_table_entries(&self, entries: u64) {
        self.flow_table_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Sets the flow map's capacity (its `max_entries`), for the near-full alert.
    pub fn set_flow_table_capacity(&self, capacity: u64) {
        self.flow_table_capacity
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
    }

    /// Counts flows evicted from the flow table before they were exported.
    pub fn add_flow_table_evictions(&self, n: u64) {
        self.flow_table_evictions.inc_by(n);
    }

    /// Names the model a detector scores with, replacing the previous one (not for the
    /// hot path: it allocates).
    pub fn set_model_info(&self, detector: Detector, model: &str) {
        let mut models = match self.models.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let slot = &mut models[detector.index()];
        if let Some(old) = slot.take() {
            // The old series may be gone already; nothing to do then.
            let _ = self
                .model_info
                .remove_label_values(&[detector.as_str(), old.as_str()]);
        }
        self.model_info
            .with_label_values(&[detector.as_str(), model])
            .set(1);
        *slot = Some(model.to_owned());
    }

    /// The text exposition format (0.0.4) of every metric.
    pub fn render(&self) -> Result<String, MetricsError> {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .map_err(|source| MetricsError::Encode { source })
    }
}

#[cfg(test)]
mod tests;
