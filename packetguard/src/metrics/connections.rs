//! The metrics server's connection table: which connections are open, which of them wait
//! for a request, and which one gives way when the limit is reached.
//!
//! A plain cap that refuses new connections at the limit lets anyone who opens that many
//! idle connections lock the scraper out until the timeouts free a slot. Here a new
//! connection at the limit instead closes the connection that has waited longest for a
//! request, so holding the limit costs an attacker a steady stream of new connections and
//! a scraper, whose request follows its connect at once, still gets in. Only when every
//! open connection is in the middle of a request is the new one refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use prometheus::IntGauge;
use tokio::sync::oneshot;

/// Open connections, bounded by a limit.
pub(super) struct Connections {
    limit: usize,
    inner: Mutex<Inner>,
    /// `packetguard_http_connections_open`, set on every change.
    open: IntGauge,
}

struct Inner {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    /// Since when the connection has waited for a request; `None` while one is answered.
    waiting_since: Option<Instant>,
    /// Sending (or dropping) it tells the connection's task to close the connection.
    close: oneshot::Sender<()>,
}

/// The outcome of [`Connections::admit`].
pub(super) enum Admission {
    /// The connection has a slot. `evicted` says that an older connection waiting for a
    /// request was told to close to make room for it. `close` completes when the table
    /// wants this connection closed.
    Admitted {
        slot: Slot,
        close: oneshot::Receiver<()>,
        evicted: bool,
    },
    /// Every slot is answering a request: close the new connection.
    Full,
}

impl Connections {
    /// A table of at most `limit` connections (at least one) that reports its size in
    /// `open`.
    pub(super) fn new(limit: usize, open: IntGauge) -> Arc<Self> {
        open.set(0);
        Arc::new(Self {
            limit: limit.max(1),
            inner: Mutex::new(Inner {
                next_id: 0,
                open: HashMap::new(),
            }),
            open,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The table stays consistent across a panic: every change is one map operation.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for a new connection, waiting for its first request from `now`.
    pub(super) fn admit(self: &Arc<Self>, now: Instant) -> Admission {
        let mut inner = self.lock();
        let mut evicted = false;
        if inner.open.len() >= self.limit {
            let oldest = inner
                .open
                .iter()
                .filter_map(|(&id, e)| e.waiting_since.map(|since| (since, id)))
                .min();
            let Some((_, id)) = oldest else {
                return Admission::Full;
            };
            if let Some(entry) = inner.open.remove(&id) {
                // The receiver is gone only if that task already ended.
                let _ = entry.close.send(());
            }
            evicted = true;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let (close, closed) = oneshot::channel();
        inner.open.insert(
            id,
            Entry {
                waiting_since: Some(now),
                close,
            },
        );
        self.open.set(inner.open.len() as i64);
        Admission::Admitted {
            slot: Slot {
                table: self.clone(),
                id,
            },
            close: closed,
            evicted,
        }
    }

    /// Connections open now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().open.len()
    }
}

/// One connection's place in the table; dropping it frees the place.
pub(super) struct Slot {
    table: Arc<Connections>,
    id: u64,
}

impl Slot {
    /// Marks the connection as answering a request until the returned guard drops, when it
    /// waits for the next one. A connection in a request is never closed for a newcomer.
    pub(super) fn request(self: &Arc<Self>) -> InRequest {
        self.set_waiting(None);
        InRequest { slot: self.clone() }
    }

    /// Whether the connection is answering a request now.
    pub(super) fn in_request(&self) -> bool {
        self.table
            .lock()
            .open
            .get(&self.id)
            .is_some_and(|e| e.waiting_since.is_none())
    }

    fn set_waiting(&self, since: Option<Instant>) {
        if let Some(entry) = self.table.lock().open.get_mut(&self.id) {
            entry.waiting_since = since;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        // An evicted connection's entry is gone already.
        inner.open.remove(&self.id);
        self.table.open.set(inner.open.len() as i64);
    }
}

/// A request being answered on a connection; see [`Slot::request`].
pub(super) struct InRequest {
    slot: Arc<Slot>,
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.slot.set_waiting(Some(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn table(limit: usize) -> (Arc<Connections>, IntGauge) {
        let open = IntGauge::new("open", "open").unwrap();
        (Connections::new(limit, open.clone()), open)
    }

    fn admitted(a: Admission) -> (Slot, oneshot::Receiver<()>, bool) {
        match a {
            Admission::Admitted {
                slot,
                close,
                evicted,
            } => (slot, close, evicted),
            Admission::Full => panic!("refused"),
        }
    }

    #[test]
    fn the_longest_waiting_connection_gives_way_at_the_limit() {
        let (t, open) = table(2);
        let t0 = Instant::now();
        let (a, mut a_close, a_evicted) = admitted(t.admit(t0));
        let (b, mut b_close, _) = admitted(t.admit(t0 + Duration::from_millis(1)));
        assert!(!a_evicted);
        assert_eq!(open.get(), 2);
        // A third connection closes the oldest waiting one, a.
        let (_c, _, c_evicted) = admitted(t.admit(t0 + Duration::from_millis(2)));
        assert!(c_evicted);
        assert_eq!(a_close.try_recv(), Ok(()));
        assert!(b_close.try_recv().is_err());
        assert_eq!((t.len(), open.get()), (2, 2));
        // a's task ends: its slot is gone already, nothing else changes.
        drop(a);
        assert_eq!((t.len(), open.get()), (2, 2));
        drop(b);
        assert_eq!((t.len(), open.get()), (1, 1));
    }

    #[test]
    fn a_connection_in_a_request_is_never_closed_for_a_newcomer() {
        let (t, open) = table(2);
        let t0 = Instant::now();
        let (a, mut a_close, _) = admitted(t.admit(t0));
        let (b, mut b_close, _) = admitted(t.admit(t0 + Duration::from_millis(1)));
        let (a, b) = (Arc::new(a), Arc::new(b));
        let a_busy = a.request();
        assert!(a.in_request() && !b.in_request());
        // b waits, a does not: b gives way although a is older.
        let (_c, _, evicted) = admitted(t.admit(t0 + Duration::from_millis(2)));
        assert!(evicted);
        assert_eq!(b_close.try_recv(), Ok(()));
        assert!(a_close.try_recv().is_err());
        // Now a and c; c waits, so d takes c's place; with c's and d's places in
        // requests, the next is refused.
        let (d, _, _) = admitted(t.admit(t0 + Duration::from_millis(3)));
        let d = Arc::new(d);
        let d_busy = d.request();
        assert!(matches!(
            t.admit(t0 + Duration::from_millis(4)),
            Admission::Full
        ));
        assert_eq!(open.get(), 2);
        // Once a's request is answered, a waits again and gives way.
        drop(a_busy);
        assert!(!a.in_request());
        let (_e, _, evicted) = admitted(t.admit(t0 + Duration::from_millis(5)));
        assert!(evicted);
        assert_eq!(a_close.try_recv(), Ok(()));
        drop(d_busy);
    }
}
