//! The live page at `/` and the JSON API behind it (`/api/summary`, `/api/anomalies`,
//! `/api/top`): what the agent sees, in a browser, with nothing to install.
//!
//! The run loop feeds a bounded [`LiveState`] (fixed-size rings, no allocation per
//! packet); the metrics server's thread reads it. They share it behind one mutex: the
//! loop holds it for a few array writes, the server only to copy out what a request
//! needs, and serialises after letting go. Addresses appear here and nowhere in the
//! Prometheus labels.
//!
//! - [`ring`]: the fixed-capacity ring behind every series.
//! - [`state`]: the state and its per-tick, per-batch and per-anomaly updates.
//! - [`anomalies`]: the anomaly table, folded as the events are.
//! - [`top`]: top talkers by traffic and by score.
//! - [`api`]: the JSON documents and their routes.
//! - `page.html`: the page, compiled into the binary.

pub mod anomalies;
pub mod api;
pub mod ring;
pub mod state;
pub mod top;

#[cfg(test)]
mod tests;

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

pub use self::state::LiveState;

/// The state shared between the run loop and the HTTP thread.
#[derive(Clone, Debug)]
pub struct SharedState(Arc<Mutex<LiveState>>);

impl SharedState {
    pub fn new(state: LiveState) -> Self {
        SharedState(Arc::new(Mutex::new(state)))
    }

    /// Locks the state. A panic elsewhere while it was held leaves plain numbers behind,
    /// still worth showing, so a poisoned lock is taken as it is.
    pub fn lock(&self) -> MutexGuard<'_, LiveState> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The page: one HTML document with its style and script inline.
pub const PAGE: &str = include_str!("page.html");
