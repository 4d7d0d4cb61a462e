//! Top talkers: the few addresses with the largest value (bytes per second, or score) in
//! the windows of the last few seconds. A fixed array, no allocation: an address already
//! listed takes its newest value; a new one replaces an entry gone stale or the smallest.

use std::net::IpAddr;

/// How long an entry counts after its last window: a few windows, so the list neither
/// flickers between seconds nor keeps an attack that ended.
pub const FRESH_MS: u64 = 10_000;

/// Entries kept per list.
pub const TOP_N: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub addr: IpAddr,
    pub value: f64,
    /// When it was last offered, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct TopList {
    entries: [Option<Entry>; TOP_N],
}

impl TopList {
    pub fn offer(&mut self, addr: IpAddr, value: f64, now_ms: u64) {
        if !value.is_finite() {
            return;
        }
        let fresh = |e: &Entry| now_ms.saturating_sub(e.at_ms) <= FRESH_MS;
        if let Some(e) = self.entries.iter_mut().flatten().find(|e| e.addr == addr) {
            // The largest value within the fresh period, so one quiet second does not
            // drop an address that flooded the second before.
            e.value = if fresh(e) { e.value.max(value) } else { value };
            e.at_ms = now_ms;
            return;
        }
        let new = Some(Entry {
            addr,
            value,
            at_ms: now_ms,
        });
        // An empty or stale slot first, else the smallest value if this one beats it.
        if let Some(slot) = self
            .entries
            .iter_mut()
            .find(|s| s.as_ref().is_none_or(|e| !fresh(e)))
        {
            *slot = new;
            return;
        }
        if let Some(slot) = self
            .entries
            .iter_mut()
            .min_by(|a, b| value_of(a).total_cmp(&value_of(b)))
        {
            if value > value_of(slot) {
                *slot = new;
            }
        }
    }

    /// The fresh entries, largest first.
    pub fn list(&self, now_ms: u64) -> Vec<Entry> {
        let mut v: Vec<Entry> = self
            .entries
            .iter()
            .flatten()
            .filter(|e| now_ms.saturating_sub(e.at_ms) <= FRESH_MS)
            .copied()
            .collect();
        v.sort_by(|a, b| b.value.total_cmp(&a.value));
        v
    }
}

fn value_of(e: &Option<Entry>) -> f64 {
    e.map_or(f64::NEG_INFINITY, |e| e.value)
}

/// The four lists of the page.
#[derive(Clone, Copy, Debug, Default)]
pub struct Talkers {
    pub destinations_by_bytes: TopList,
    pub sources_by_bytes: TopList,
    pub destinations_by_score: TopList,
    pub sources_by_score: TopList,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, i])
    }

    #[test]
    fn keeps_the_largest_fresh_values_largest_first() {
        let mut t = TopList::default();
        for i in 0..30u8 {
            t.offer(ip(i), f64::from(i), 1000);
        }
        let l = t.list(1000);
        assert_eq!(l.len(), TOP_N);
        assert_eq!(l[0].addr, ip(29));
        assert_eq!(l[TOP_N - 1].addr, ip(20));
        // Offering a listed address again updates it in place.
        t.offer(ip(20), 100.0, 2000);
        let l = t.list(2000);
        assert_eq!((l[0].addr, l.len()), (ip(20), TOP_N));
    }

    #[test]
    fn stale_entries_leave_the_list_and_make_room() {
        let mut t = TopList::default();
        for i in 0..TOP_N as u8 {
            t.offer(ip(i), 1e9, 0);
        }
        t.offer(ip(200), 1.0, FRESH_MS + 1);
        let l = t.list(FRESH_MS + 1);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].addr, ip(200));
        t.offer(ip(201), f64::NAN, FRESH_MS + 1);
        assert_eq!(t.list(FRESH_MS + 1).len(), 1, "NaN is not a value");
    }
}
