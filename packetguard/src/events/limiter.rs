//! The per-address, per-detector fixed-window rate limit of anomaly events.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Detector, Outcome, RateLimit};

/// An address's held-back count that must be written as a summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) detector: Detector,
    /// The address limited: a destination host, or a source for the source detector.
    pub(super) host: IpAddr,
    pub(super) suppressed: u64,
}

pub(super) struct Admission {
    /// Whether to write the event, and the held-back count it carries.
    pub(super) outcome: Outcome,
    /// A host evicted to make room that still held a count.
    pub(super) evicted: Option<Pending>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub(super) start: Instant,
    pub(super) last_seen: Instant,
    pub(super) written: u32,
    pub(super) suppressed: u64,
}

impl Window {
    /// Whether `interval` has passed since the window opened.
    fn expired(&self, now: Instant, interval: Duration) -> bool {
        now.saturating_duration_since(self.start) >= interval
    }
}

/// Fixed-window limiter keyed by (detector, address): the address is a destination host,
/// or a source for the source detector.
pub(super) struct Limiter {
    pub(super) limit: RateLimit,
    pub(super) hosts: HashMap<(Detector, IpAddr), Window>,
}

impl Limiter {
    pub(super) fn new(limit: RateLimit) -> Self {
        // Allocate the whole table up front: a flood then costs no allocation.
        let hosts = HashMap::with_capacity(limit.max_hosts.min(1 << 16));
        Limiter { limit, hosts }
    }

    pub(super) fn admit(&mut self, detector: Detector, host: IpAddr, now: Instant) -> Admission {
        let key = (detector, host);
        let mut evicted = None;
        if self.hosts.len() >= self.limit.max_hosts && !self.hosts.contains_key(&key) {
            evicted = self.make_room(now);
        }
        let interval = self.limit.interval;
        let w = self.hosts.entry(key).or_insert(Window {
            start: now,
            last_seen: now,
            written: 0,
            suppressed: 0,
        });
        w.last_seen = now;
        if w.expired(now, interval) {
            w.start = now;
            w.written = 0;
        }
        let outcome = if w.written < self.limit.burst {
            w.written += 1;
            Outcome::Written {
                folded: std::mem::take(&mut w.suppressed),
            }
        } else {
            w.suppressed += 1;
            Outcome::Suppressed
        };
        Admission { outcome, evicted }
    }

    /// Frees at least one slot. Expired windows with nothing held back carry no
    /// information and go first; otherwise the least recently seen host is evicted.
    /// Linear in the table size, but only runs when the table is full.
    pub(super) fn make_room(&mut self, now: Instant) -> Option<Pending> {
        let interval = self.limit.interval;
        self.hosts
            .retain(|_, w| w.suppressed > 0 || !w.expired(now, interval));
        if self.hosts.len() < self.limit.max_hosts {
            return None;
        }
        let key = *self.hosts.iter().min_by_key(|(_, w)| w.last_seen)?.0;
        pending(key, &self.hosts.remove(&key)?)
    }

    /// Removes every expired window, returning the held-back counts among them.
    pub(super) fn take_idle(&mut self, now: Instant) -> Vec<Pending> {
        let interval = self.limit.interval;
        self.take_where(|w| w.expired(now, interval))
    }

    /// Empties the table, returning every held-back count, in a stable order.
    pub(super) fn take_all(&mut self) -> Vec<Pending> {
        self.take_where(|_| true)
    }

    /// Removes the windows `take` selects, returning the held-back counts among them
    /// sorted by detector and host.
    fn take_where(&mut self, mut take: impl FnMut(&Window) -> bool) -> Vec<Pending> {
        let mut out = Vec::new();
        self.hosts.retain(|&key, w| {
            if !take(w) {
                return true;
            }
            out.extend(pending(key, w));
            false
        });
        out.sort_by_key(|p| (p.detector, p.host));
        out
    }
}

/// The held-back count of a window leaving the table, if it holds one.
fn pending((detector, host): (Detector, IpAddr), w: &Window) -> Option<Pending> {
    (w.suppressed > 0).then_some(Pending {
        detector,
        host,
        suppressed: w.suppressed,
    })
}
