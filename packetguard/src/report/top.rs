//! The most anomalous verdicts of one detector, kept in a bounded min-heap.
//!
//! An offer that would not make the list is turned away after one comparison with the
//! heap's least entry, without copying the verdict; only entrants are cloned. Ties are
//! broken towards the earlier verdict, then the earlier offer, so the list is the same
//! however often the report is built.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::events::Detector;
use crate::verdict::Verdict;

/// How a verdict ranks: by [`severity`], then earlier first.
#[derive(Clone, Copy, Debug)]
struct Rank {
    severity: f64,
    ts_ns: u64,
    seq: u64,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.severity
            .total_cmp(&other.severity)
            .then(other.ts_ns.cmp(&self.ts_ns))
            .then(other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Rank {}

/// How anomalous a verdict is, comparable within a detector: the model score, or for a
/// threshold rule (whose score is a feature value in its own unit) how many times its
/// limit the value is.
pub fn severity(v: &Verdict) -> f64 {
    match v.detector {
        Detector::Threshold if v.threshold > 0.0 => v.score / v.threshold,
        _ => v.score,
    }
}

struct Entry {
    rank: Rank,
    verdict: Verdict,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}
impl Eq for Entry {}

/// The `capacity` highest-ranked verdicts offered.
pub struct TopAnomalies {
    capacity: usize,
    offered: u64,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl TopAnomalies {
    pub fn new(capacity: usize) -> TopAnomalies {
        TopAnomalies {
            capacity,
            offered: 0,
            heap: BinaryHeap::with_capacity(capacity + 1),
        }
    }

    pub fn offer(&mut self, v: &Verdict) {
        let rank = Rank {
            severity: severity(v),
            ts_ns: v.ts_ns,
            seq: self.offered,
        };
        self.offered += 1;
        if self.capacity == 0 {
            return;
        }
        if self.heap.len() == self.capacity {
            match self.heap.peek() {
                Some(Reverse(least)) if rank > least.rank => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        self.heap.push(Reverse(Entry {
            rank,
            verdict: v.clone(),
        }));
    }

    /// Entries held now: at most the capacity.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The kept verdicts, highest ranked first.
    pub fn sorted(&self) -> Vec<&Verdict> {
        let mut entries: Vec<&Entry> = self.heap.iter().map(|Reverse(e)| e).collect();
        entries.sort_by(|a, b| b.cmp(a));
        entries.into_iter().map(|e| &e.verdict).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Subject;
    use std::net::{IpAddr, Ipv4Addr};

    fn verdict(ts_ns: u64, score: f64) -> Verdict {
        Verdict {
            ts_ns,
            detector: Detector::Host,
            rule: None,
            subject: Subject::Host(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            score,
            threshold: 0.6,
            anomaly: true,
            top_features: Vec::new(),
            values: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_highest_scores_earliest_first_on_ties() {
        let mut top = TopAnomalies::new(3);
        for (ts, score) in [(1, 0.7), (2, 0.9), (3, 0.65), (4, 0.9), (5, 0.8), (6, 0.61)] {
            top.offer(&verdict(ts, score));
        }
        let kept: Vec<(u64, f64)> = top.sorted().iter().map(|v| (v.ts_ns, v.score)).collect();
        assert_eq!(kept, [(2, 0.9), (4, 0.9), (5, 0.8)]);
        assert_eq!(top.len(), 3);
    }

    #[test]
    fn a_rule_ranks_by_how_far_past_its_limit_it_is() {
        let mut v = verdict(1, 3000.0);
        v.detector = Detector::Threshold;
        v.threshold = 1000.0;
        assert_eq!(severity(&v), 3.0);
        v.threshold = 0.0;
        assert_eq!(severity(&v), 3000.0);
    }
}
