//! Every metric the agent exports, and the HTTP server behind `/metrics`.
//!
//! [`Metrics`] owns a private `prometheus::Registry` (not the crate's global one, so tests
//! can run several agents in one process) and a handle for each series. Labelled children
//! are resolved once at construction: the drain loop and the scorers call methods that only
//! touch atomics, never allocate and never take a lock.
//!
//! Names follow Prometheus practice: `packetguard_` prefix, `_total` on counters, base units,
//! and labels only from small fixed sets (`detector`, `kind`, `window`, and `rule`, bounded
//! by the config), never an address or a port.
//! The kernel's per-CPU counters are absolute totals; [`Metrics::set_kernel_totals`] turns
//! them into counter increments so the exported values stay monotone and exact.
//! [`RuleMetrics`] adds the threshold rule counter, whose label values come from the config.
//! [`HttpMetrics`] are the metrics server's own connection counts; the server itself is in
//! `server.rs`, its bounds in [`ServerLimits`].

mod connection;
mod connections;
mod event_drops;
mod http;
mod kernel_series;
mod limits;
mod rules;
mod server;

use std::sync::Mutex;
use std::time::Duration;

use packetguard_common::Counter;
use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::datapath::{counters::KernelCounters, ledger::FlowLosses};
use crate::detect::window::WindowRole;
pub use crate::events::{Detector, N_DETECTORS};
pub use http::{HttpMetrics, Timeout};
pub use limits::ServerLimits;
pub use rules::{RuleMetrics, RULE_MATCHES};
pub use server::{
    bind, router, router_with_ui, serve, serve_routes, serve_with, DEFAULT_METRICS_ADDR,
};

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

use kernel_series::KERNEL_SERIES;

/// The kernel counter behind each `kind` of `packetguard_ringbuf_emitted_total`, in
/// [`RECORD_KINDS`] order.
const EMITTED: [Counter; 3] = [
    Counter::RecordsEmitted,
    Counter::SamplesEmitted,
    Counter::FlowStartsEmitted,
];

/// Label values of the `kind` label, in the order of the per-kind arrays.
const RECORD_KINDS: [&str; 3] = ["flow", "sample", "flow_start"];

/// The agent's metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    /// The counters fed from the kernel's totals, each with the slot it follows.
    kernel: Vec<(Counter, IntCounter)>,
    /// The last kernel totals applied, to turn absolute totals into increments.
    last_kernel: Mutex<KernelCounters>,
    flows_scored: IntCounter,
    host_windows: IntCounter,
    source_windows: IntCounter,
    event_drops: crate::events::queue::DropCounters,
    score_drops: crate::events::queue::DropCounters,
    anomalies: [IntCounter; N_DETECTORS],
    scores: [Histogram; N_DETECTORS],
    flow_table_entries: IntGauge,
    flow_table_capacity: IntGauge,
    flow_table_evictions: IntCounter,
    flow_table_evicted_packets: IntCounter,
    model_info: IntGaugeVec,
    /// The model label currently set per detector, to replace it on reload.
    models: Mutex<[Option<String>; N_DETECTORS]>,
    drained: [IntCounter; 3],
    decode_errors: IntCounter,
    drain_seconds: Histogram,
    drain_records: Histogram,
    suppressed: [IntCounter; N_DETECTORS],
    /// Windows closed with a bound reached, per [`WindowRole`].
    windows_saturated: [IntCounter; WindowRole::ALL.len()],
    /// Login attempts the flow context could not keep (`FlowContext::take_not_kept`).
    login_context_full: IntCounter,
    http: HttpMetrics,
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
fn per_detector<T: MetricVecBuilder>(vec: &MetricVec<T>) -> [T::M; N_DETECTORS] {
    Detector::ALL.map(|d| vec.with_label_values(&[d.as_str()]))
}

impl Metrics {
    /// Creates and registers every metric; `packetguard_build_info` carries this crate's
    /// version.
    pub fn new() -> Result<Self, MetricsError> {
        let b = Builder {
            registry: Registry::new(),
        };
        let event_drops = event_drops::register_events(&b)?;
        let score_drops = event_drops::register_flow_scores(&b)?;
        let mut kernel = KERNEL_SERIES
            .iter()
            .map(|&(slot, name, help)| Ok((slot, b.counter(name, help)?)))
            .collect::<Result<Vec<_>, MetricsError>>()?;
        let emitted = b.counter_vec(
            "packetguard_ringbuf_emitted_total",
            "Records the XDP program wrote to the ring buffer, by kind.",
            &["kind"],
        )?;
        kernel.extend(
            EMITTED
                .into_iter()
                .zip(RECORD_KINDS)
                .map(|(slot, k)| (slot, emitted.with_label_values(&[k]))),
        );
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
        let saturated = b.counter_vec(
            "packetguard_window_saturated_total",
            "One-second windows that reached a memory bound (distinct pairs, addresses or readings), so some counts are bounds, by window role.",
            &["window"],
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
            event_drops,
            score_drops,
            kernel,
            last_kernel: Mutex::new(KernelCounters::default()),
            flows_scored: b.counter(
                "packetguard_flows_total",
                "Flow records the flow detector scored.",
            )?,
            host_windows: b.counter(
                "packetguard_host_windows_total",
                "Per-destination one-second windows the host detector scored.",
            )?,
            source_windows: b.counter(
                "packetguard_source_windows_total",
                "Per-source one-second windows the source detector scored.",
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
                "Flows the kernel flow map (LRU) dropped to make room before the agent removed them.",
            )?,
            flow_table_evicted_packets: b.counter(
                "packetguard_flow_table_evicted_packets_total",
                "Packets counted into flows the LRU dropped before they were reported: missing from every flow record.",
            )?,
            model_info,
            models: Mutex::new(Default::default()),
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
            windows_saturated: WindowRole::ALL.map(|r| saturated.with_label_values(&[r.as_str()])),
            login_context_full: b.counter(
                "packetguard_login_context_full_total",
                "Login attempts not remembered because the flow context's bounds were reached, so later flows' prior_login_attempts are lower bounds.",
            )?,
            http: HttpMetrics::new(&b)?,
            registry: b.registry,
        })
    }

    /// The registry, e.g. to add metrics of another module.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The metrics server's own series.
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// Applies the kernel's absolute totals. Each counter rises by the difference to the
    /// previous call. A total below the previous one means the program was reloaded and
    /// its counters restarted at zero; the counter then rises by the new total, so it
    /// stays monotone and counts every packet of both lifetimes.
    /// The counters of events dropped instead of written, for the event queue.
    pub fn event_drop_counters(&self) -> crate::events::queue::DropCounters {
        self.event_drops.clone()
    }

    /// Anomaly events dropped instead of written (queue full or write failed), in all.
    pub fn events_dropped(&self) -> u64 {
        self.event_drops.queue_full.get() + self.event_drops.write_failed.get()
    }

    /// The same for the rows of the `--flow-scores` file.
    pub fn flow_score_drop_counters(&self) -> crate::events::queue::DropCounters {
        self.score_drops.clone()
    }

    pub fn set_kernel_totals(&self, now: &KernelCounters) {
        let mut last = match self.last_kernel.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (slot, counter) in &self.kernel {
            let (new, old) = (now.get(*slot), last.get(*slot));
            counter.inc_by(if new >= old { new - old } else { new });
        }
        *last = *now;
    }

    /// Records one scored flow, host window or source window: counts it and adds its score
    /// to the score histogram.
    pub fn record_score(&self, detector: Detector, score: f64) {
        self.record_scores(detector, &[score]);
    }

    /// [`Metrics::record_score`] for a whole scored batch.
    pub fn record_scores(&self, detector: Detector, scores: &[f64]) {
        let scored = match detector {
            Detector::Flow => Some(&self.flows_scored),
            Detector::Host => Some(&self.host_windows),
            Detector::Source => Some(&self.source_windows),
            // Threshold rules have no forest score or scored-row count of their own.
            Detector::Threshold => None,
        };
        if let Some(scored) = scored {
            scored.inc_by(scores.len() as u64);
        }
        let histogram = &self.scores[detector.index()];
        for &score in scores {
            histogram.observe(score);
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

    /// Counts one closed window of `role` that reached a bound (`Closed::saturated`).
    pub fn record_window_saturated(&self, role: WindowRole) {
        self.windows_saturated[role.index()].inc();
    }

    /// Counts login attempts the flow context could not keep.
    pub fn add_login_context_full(&self, n: u64) {
        self.login_context_full.inc_by(n);
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

    /// Raises the eviction counters to `losses` (totals from the flow table's ledger,
    /// which never go back).
    pub fn set_flow_losses(&self, losses: &FlowLosses) {
        for (counter, total) in [
            (&self.flow_table_evictions, losses.evicted_flows),
            (&self.flow_table_evicted_packets, losses.evicted_packets),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
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
mod server_tests;
#[cfg(test)]
mod tests;
