//! Self-metrics of the metrics server: how many connections it holds, how many it had to
//! close to stay within its limits, and why.
//!
//! These are the series an operator looks at when scrapes start failing: a rising
//! `packetguard_http_connections_rejected_total` means something keeps the server at its
//! connection limit, `packetguard_http_connections_timed_out_total` says whether the
//! clients were silent (`idle`) or trickled a request head (`header`).

use prometheus::{IntCounter, IntGauge, Opts};

use super::{Builder, MetricsError};

/// Label values of `timeout`, in [`HttpMetrics::timed_out`] order.
const TIMEOUTS: [&str; 2] = ["idle", "header"];

/// Which timeout closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// No byte moved either way for the idle timeout.
    Idle,
    /// A request head was not complete within the header read timeout.
    Header,
}

/// The metrics server's own series. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct HttpMetrics {
    /// Connections accepted from the listener.
    pub(super) accepted: IntCounter,
    /// Connections closed at once to stay within the connection limit.
    pub(super) rejected: IntCounter,
    /// Connections closed by a timeout, by [`Timeout`].
    timed_out: [IntCounter; 2],
    /// Connections open now; kept by the connection table.
    pub(super) open: IntGauge,
    /// The connection limit.
    pub(super) limit: IntGauge,
}

impl HttpMetrics {
    /// Registers the series through `b`; every series exists from the start, at 0.
    pub(super) fn new(b: &Builder) -> Result<Self, MetricsError> {
        let timed_out = b.counter_vec(
            "packetguard_http_connections_timed_out_total",
            "Metrics server connections closed by a timeout: idle (no byte either way for the idle timeout) or header (request head not complete in time).",
            &["timeout"],
        )?;
        let gauge = |name: &'static str, help: &str| {
            b.add(name, IntGauge::with_opts(Opts::new(name, help)))
        };
        Ok(Self {
            accepted: b.counter(
                "packetguard_http_connections_accepted_total",
                "Connections the metrics server accepted.",
            )?,
            rejected: b.counter(
                "packetguard_http_connections_rejected_total",
                "Metrics server connections closed at once to stay within the connection limit: the one that had waited longest for a request, or the new one when every connection was in a request.",
            )?,
            timed_out: TIMEOUTS.map(|t| timed_out.with_label_values(&[t])),
            open: gauge(
                "packetguard_http_connections_open",
                "Connections the metrics server holds open now.",
            )?,
            limit: gauge(
                "packetguard_http_connections_limit",
                "Most connections the metrics server holds open at once.",
            )?,
        })
    }

    /// Counts one connection closed by `timeout`.
    pub(super) fn timed_out(&self, timeout: Timeout) {
        self.timed_out[timeout as usize].inc();
    }
}
