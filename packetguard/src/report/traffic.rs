//! Traffic over time, bucketed by second, in bounded memory.
//!
//! Buckets are one second wide until the span would need more than [`MAX_BUCKETS`] of
//! them; then every bucket is merged with its neighbour and the width doubles, as often as
//! needed. A day-long capture thus costs the same as a half-hour one, and timestamps may
//! come in any order (captures merged from several files are not sorted).

use std::collections::BTreeMap;

/// The most buckets the chart holds: enough for a detailed line at 4K, few enough that the
/// page stays small.
pub const MAX_BUCKETS: u64 = 2000;

const NS_PER_S: u64 = 1_000_000_000;

/// What happened in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub packets: u64,
    pub bytes: u64,
    /// Verdicts made in the bucket, normal or anomalous.
    pub verdicts: u64,
    /// Anomalous verdicts made in the bucket.
    pub anomalies: u64,
}

/// Per-bucket totals over the span seen so far.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    /// Buckets are `2^shift` seconds wide.
    shift: u32,
    /// Keyed by `second >> shift`; a bucket nothing fell into is absent.
    buckets: BTreeMap<u64, Bucket>,
    /// First and last key used, so a packet costs one map lookup.
    keys: Option<(u64, u64)>,
    packets: u64,
    bytes: u64,
}

impl Traffic {
    /// The bucket `ts_ns` falls into, coarsening first if it would widen the span past
    /// [`MAX_BUCKETS`]. Allocates only when a bucket is first used.
    fn bucket(&mut self, ts_ns: u64) -> &mut Bucket {
        let second = ts_ns / NS_PER_S;
        loop {
            let key = second >> self.shift;
            let (lo, hi) = self
                .keys
                .map_or((key, key), |(lo, hi)| (lo.min(key), hi.max(key)));
            if hi - lo < MAX_BUCKETS {
                self.keys = Some((lo, hi));
                return self.buckets.entry(key).or_default();
            }
            self.coarsen();
        }
    }

    /// Doubles the bucket width, merging neighbours.
    fn coarsen(&mut self) {
        self.shift += 1;
        self.keys = self.keys.map(|(lo, hi)| (lo >> 1, hi >> 1));
        let old = std::mem::take(&mut self.buckets);
        for (key, b) in old {
            let merged = self.buckets.entry(key >> 1).or_default();
            merged.packets += b.packets;
            merged.bytes += b.bytes;
            merged.verdicts += b.verdicts;
            merged.anomalies += b.anomalies;
        }
    }

    /// Credits `packets` and `bytes` to the second of `ts_ns`.
    pub fn add_traffic(&mut self, ts_ns: u64, packets: u64, bytes: u64) {
        self.packets = self.packets.saturating_add(packets);
        self.bytes = self.bytes.saturating_add(bytes);
        let b = self.bucket(ts_ns);
        b.packets = b.packets.saturating_add(packets);
        b.bytes = b.bytes.saturating_add(bytes);
    }

    /// Counts a verdict made at `ts_ns` (and an anomaly, when it is one).
    pub fn add_verdict(&mut self, ts_ns: u64, anomaly: bool) {
        let b = self.bucket(ts_ns);
        b.verdicts += 1;
        b.anomalies += u64::from(anomaly);
    }

    /// Bucket width in seconds.
    pub fn width_s(&self) -> u64 {
        1 << self.shift
    }

    /// Total packets and bytes credited.
    pub fn totals(&self) -> (u64, u64) {
        (self.packets, self.bytes)
    }

    /// Whether nothing was credited, traffic or verdict.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Every bucket from the first to the last used one, empty ones included, each with its
    /// start in seconds since the Unix epoch.
    pub fn series(&self) -> Vec<(u64, Bucket)> {
        let Some((lo, hi)) = self.keys else {
            return Vec::new();
        };
        (lo..=hi)
            .map(|k| {
                let b = self.buckets.get(&k).copied().unwrap_or_default();
                (k << self.shift, b)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_buckets_and_gaps_are_empty_buckets() {
        let mut t = Traffic::default();
        t.add_traffic(10 * NS_PER_S + 5, 1, 100);
        t.add_traffic(10 * NS_PER_S + 999_999_999, 2, 50);
        t.add_traffic(13 * NS_PER_S, 1, 60);
        t.add_verdict(13 * NS_PER_S + 1, true);
        let s = t.series();
        assert_eq!(t.width_s(), 1);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s[0],
            (
                10,
                Bucket {
                    packets: 3,
                    bytes: 150,
                    verdicts: 0,
                    anomalies: 0
                }
            )
        );
        assert_eq!(s[1], (11, Bucket::default()));
        assert_eq!(
            s[3],
            (
                13,
                Bucket {
                    packets: 1,
                    bytes: 60,
                    verdicts: 1,
                    anomalies: 1
                }
            )
        );
        assert_eq!(t.totals(), (4, 210));
    }

    #[test]
    fn a_long_span_coarsens_and_keeps_every_count() {
        let mut t = Traffic::default();
        // A week, one packet every 7 s, given newest first.
        let n = 7 * 86_400 / 7;
        for i in (0..n).rev() {
            t.add_traffic(i * 7 * NS_PER_S, 1, 10);
        }
        let s = t.series();
        assert!(s.len() as u64 <= MAX_BUCKETS, "{} buckets", s.len());
        assert_eq!(t.width_s(), 512);
        assert_eq!(s.iter().map(|(_, b)| b.packets).sum::<u64>(), n);
        assert_eq!(s.iter().map(|(_, b)| b.bytes).sum::<u64>(), n * 10);
        assert_eq!(t.totals(), (n, n * 10));
    }
}
