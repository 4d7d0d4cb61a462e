//! The per-address, per-detector fixed-window rate limit of anomaly events, under a global
//! budget of events per second.
//!
//! Every operation is O(1) (amortised), however many addresses a flood cycles through:
//! the table is bounded by [`RateLimit::max_hosts`], and the least recently seen entry is
//! found through a queue of (key, stamp) touches rather than by scanning the table. A
//! touch pushes one entry; stale entries (an older stamp than the key's window holds) are
//! skipped when popped, and the queue is compacted when it grows past a few times the
//! table, which costs O(table) once every O(table) touches.

use std::collections::{HashMap, VecDeque};
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
    /// The stamp of this key's latest entry in the touch queue.
    stamp: u64,
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
    /// Touches in order, oldest first: the front's live entry is the least recently seen.
    touches: VecDeque<((Detector, IpAddr), u64)>,
    next_stamp: u64,
    /// The global budget's current one-second window: when it opened and what it wrote.
    budget_start: Option<Instant>,
    budget_written: u32,
}

/// The global budget is counted over windows of this length.
const BUDGET_WINDOW: Duration = Duration::from_secs(1);

impl Limiter {
    pub(super) fn new(limit: RateLimit) -> Self {
        // Allocate the whole table up front: a flood then costs no allocation.
        let cap = limit.max_hosts.min(1 << 16);
        Limiter {
            limit,
            hosts: HashMap::with_capacity(cap),
            touches: VecDeque::with_capacity(4 * cap),
            next_stamp: 0,
            budget_start: None,
            budget_written: 0,
        }
    }

    /// True, counting the event, when the global budget of this second has room.
    fn within_budget(&mut self, now: Instant) -> bool {
        match self.budget_start {
            Some(t) if now.saturating_duration_since(t) < BUDGET_WINDOW => {}
            _ => {
                self.budget_start = Some(now);
                self.budget_written = 0;
            }
        }
        if self.budget_written < self.limit.global_per_s {
            self.budget_written += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn admit(&mut self, detector: Detector, host: IpAddr, now: Instant) -> Admission {
        let key = (detector, host);
        let mut evicted = None;
        if self.hosts.len() >= self.limit.max_hosts && !self.hosts.contains_key(&key) {
            evicted = self.make_room();
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.touch(key, stamp);
        let interval = self.limit.interval;
        let burst = self.limit.burst;
        let w = self.hosts.entry(key).or_insert(Window {
            start: now,
            last_seen: now,
            written: 0,
            suppressed: 0,
            stamp,
        });
        w.last_seen = now;
        w.stamp = stamp;
        if w.expired(now, interval) {
            w.start = now;
            w.written = 0;
        }
        let own_room = w.written < burst;
        let outcome = if own_room && self.within_budget(now) {
            let w = self.hosts.get_mut(&key).expect("just inserted");
            w.written += 1;
            Outcome::Written {
                folded: std::mem::take(&mut w.suppressed),
            }
        } else {
            // Held back by the address's own limit or by the global budget: either way the
            // count waits in the address's window for its next event or summary.
            let w = self.hosts.get_mut(&key).expect("just inserted");
            w.suppressed += 1;
            Outcome::Suppressed
        };
        Admission { outcome, evicted }
    }

    /// Records a touch of `key`, compacting the queue when stale entries dominate.
    fn touch(&mut self, key: (Detector, IpAddr), stamp: u64) {
        self.touches.push_back((key, stamp));
        if self.touches.len() > 4 * self.limit.max_hosts.max(16) {
            let hosts = &self.hosts;
            self.touches
                .retain(|(k, s)| hosts.get(k).is_some_and(|w| w.stamp == *s));
        }
    }

    /// Frees one slot: the least recently seen address goes, its held-back count (if any)
    /// returned for a summary line. O(1) amortised.
    pub(super) fn make_room(&mut self) -> Option<Pending> {
        while let Some((key, stamp)) = self.touches.pop_front() {
            if self.hosts.get(&key).is_some_and(|w| w.stamp == stamp) {
                let w = self.hosts.remove(&key)?;
                return pending(key, &w);
            }
        }
        None
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
