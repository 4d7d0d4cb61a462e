//! What a client of the metrics server may hold, and for how long.
//!
//! The metrics port serves a scraper a few kilobytes every few seconds. Anything that
//! connects can otherwise keep a socket, a task and a buffer of the agent for as long as it
//! likes; these bounds make every connection cost the agent little and end soon unless it
//! is a scrape, and make sure a scrape still gets in while the limit is taken by others.

use std::time::Duration;

/// Bounds of the metrics server. [`ServerLimits::default`] is what `packetguard run` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections held open at once. A new connection at the limit takes the place of the
    /// connection that has waited longest for a request (a client that connects and says
    /// nothing, or trickles a request head, gives way to a newer one); when every
    /// connection is in a request, the new one is closed at once. A scraper sends its
    /// request as soon as it is connected, so it is the youngest waiting connection and the
    /// last to give way. Both count in `packetguard_http_connections_rejected_total`.
    pub max_connections: usize,
    /// A connection on which no byte moves in either direction for this long is closed:
    /// one that never sends a request, a keep-alive connection nobody reuses, a client that
    /// stops reading its response.
    pub idle_timeout: Duration,
    /// A request head (request line and headers) must be complete this long after the
    /// server began waiting for it, on a new connection or after the previous response. A
    /// client that sends one byte now and then keeps the idle timeout from firing; this one
    /// still ends it.
    pub header_read_timeout: Duration,
    /// Largest request head in bytes, request line included; a longer one is answered
    /// `431 Request Header Fields Too Large` and the connection closed. At least 8192 (the
    /// smallest read buffer the HTTP/1 parser accepts).
    pub max_head_bytes: usize,
    /// On shutdown, requests already being answered get this long to finish; then every
    /// connection still open is dropped, so a client that holds one open cannot delay the
    /// agent's exit.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            // A few scrapers need a few connections; 256 stays far below the unit's
            // LimitNOFILE=1024 with the agent's own descriptors added.
            max_connections: 256,
            idle_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            max_head_bytes: 8192,
            shutdown_grace: Duration::from_secs(1),
        }
    }
}
