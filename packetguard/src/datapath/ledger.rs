//! Where every flow and every packet the kernel counted went, and so what the LRU evicted.
//!
//! The flow map is an LRU hash: when it is full, inserting a new flow silently drops the
//! least recently used one, and the kernel programs cannot see that happen. The agent
//! derives it from what it can see, exactly:
//!
//! ```text
//! evicted flows   = (flows_created - flows_reused) - removed by the agent - live
//! evicted packets = flow packets - recorded_packets - in the agent's records - live
//! flow packets    = packets - non_ip - parse_errors - flow_insert_failed
//! ```
//!
//! `flows_created - flows_reused` is the number of entries the kernel inserted (a reused
//! entry starts a new flow in place). Each is at every moment removed by the agent (idle
//! expiry, final export), still in the map ("live", from the latest scan), or evicted.
//! Each packet that reached a flow is in a record the kernel sent (`recorded_packets`),
//! in the record the agent made when it removed the flow, still in a live entry, or was
//! in an entry the LRU dropped (or, rarely, landed in an entry between the agent's last
//! read and its delete). An evicted flow that had ended and reported everything counts as
//! an evicted flow with no evicted packet.
//!
//! While traffic flows, the counters and the walk of the map are not one snapshot. The
//! inputs (`flows_created`, `flows_reused`, flow packets) are taken from the counters read
//! before the latest scan and the outputs (`recorded_packets`) from those read after it,
//! so a reading never exceeds the true value; the totals reported are the highest reading
//! so far, so they never go back. Once the programs are detached (or no packet arrives)
//! and the map was scanned, [`FlowLedger::losses_settled`] is exact.

use packetguard_common::Counter;

use super::{counters::KernelCounters, flow_table::ScanStats};

/// What the LRU took from the flow map before the agent exported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowLosses {
    /// Flow entries evicted.
    pub evicted_flows: u64,
    /// Packets those entries had counted and not yet reported.
    pub evicted_packets: u64,
}

/// What the agent removed and saw in the flow map, scan after scan.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowLedger {
    removed_flows: u64,
    removed_packets: u64,
    live_flows: u64,
    live_packets: u64,
    /// The counters of the latest reading.
    latest: KernelCounters,
    /// The latest reading taken before the latest scan: the inputs' side.
    before_scan: KernelCounters,
    /// The highest reading so far.
    totals: FlowLosses,
}

impl FlowLedger {
    /// Takes in one scan of the flow map: what it removed and what it left.
    pub fn scanned(&mut self, scan: &ScanStats) {
        self.removed_flows += scan.removed as u64;
        self.removed_packets += scan.removed_packets;
        self.live_flows = scan.entries.saturating_sub(scan.removed) as u64;
        self.live_packets = scan.live_packets;
        self.before_scan = self.latest;
    }

    /// The losses so far, with `counters` read after the latest scan. Call it after each
    /// scan; any other order only makes a reading lower, never wrong.
    pub fn losses(&mut self, counters: &KernelCounters) -> FlowLosses {
        self.latest = *counters;
        let before = self.before_scan;
        self.raise(&before, counters)
    }

    /// The losses when nothing changed since the latest scan (the programs are detached, or
    /// no packet arrived): exact.
    pub fn losses_settled(&mut self, counters: &KernelCounters) -> FlowLosses {
        self.latest = *counters;
        self.before_scan = *counters;
        self.raise(counters, counters)
    }

    fn raise(&mut self, before: &KernelCounters, after: &KernelCounters) -> FlowLosses {
        let inserted = before
            .get(Counter::FlowsCreated)
            .saturating_sub(before.get(Counter::FlowsReused));
        let flows = inserted
            .saturating_sub(self.removed_flows)
            .saturating_sub(self.live_flows);
        let folded = before
            .get(Counter::Packets)
            .saturating_sub(before.get(Counter::NonIp))
            .saturating_sub(before.get(Counter::ParseErrors))
            .saturating_sub(before.get(Counter::FlowInsertFailed));
        let packets = folded
            .saturating_sub(after.get(Counter::RecordedPackets))
            .saturating_sub(self.removed_packets)
            .saturating_sub(self.live_packets);
        let t = &mut self.totals;
        t.evicted_flows = t.evicted_flows.max(flows);
        t.evicted_packets = t.evicted_packets.max(packets);
        *t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(values: &[(Counter, u64)]) -> KernelCounters {
        let mut k = KernelCounters::default();
        for &(c, v) in values {
            k.0[c as usize] = v;
        }
        k
    }

    fn scan(entries: usize, removed: usize, removed_packets: u64, live_packets: u64) -> ScanStats {
        ScanStats {
            entries,
            removed,
            removed_packets,
            live_packets,
        }
    }

    #[test]
    fn settled_losses_are_what_no_scan_and_no_record_accounts_for() {
        let mut l = FlowLedger::default();
        // 12 entries inserted (13 flows, one of them reusing an ended entry), 100 packets
        // into flows (3 frames were not IP, 1 failed to parse).
        let k = counters(&[
            (Counter::FlowsCreated, 13),
            (Counter::FlowsReused, 1),
            (Counter::Packets, 104),
            (Counter::NonIp, 3),
            (Counter::ParseErrors, 1),
            (Counter::RecordedPackets, 40),
        ]);
        l.scanned(&scan(10, 4, 30, 0));
        l.scanned(&scan(6, 6, 21, 0));
        assert_eq!(
            l.losses_settled(&k),
            FlowLosses {
                evicted_flows: 2,
                evicted_packets: 9
            }
        );
    }

    #[test]
    fn readings_while_traffic_flows_never_exceed_the_truth_and_never_go_back() {
        let mut l = FlowLedger::default();
        // Read before the first scan: 5 flows, 50 packets, nothing recorded.
        let k0 = counters(&[(Counter::FlowsCreated, 5), (Counter::Packets, 50)]);
        l.scanned(&scan(5, 0, 0, 50));
        assert_eq!(l.losses(&k0), FlowLosses::default());
        // Between the reading and the next scan 3 more flows of 10 packets arrive, and one
        // old flow's 10 packets go out in a kernel record: none of that is an eviction.
        l.scanned(&scan(8, 0, 0, 70));
        let k1 = counters(&[
            (Counter::FlowsCreated, 8),
            (Counter::Packets, 80),
            (Counter::RecordedPackets, 10),
        ]);
        assert_eq!(l.losses(&k1), FlowLosses::default());
        // Then the LRU drops two flows holding 14 packets.
        l.scanned(&scan(6, 0, 0, 56));
        assert_eq!(
            l.losses(&counters(&[
                (Counter::FlowsCreated, 8),
                (Counter::Packets, 80),
                (Counter::RecordedPackets, 10),
            ])),
            FlowLosses {
                evicted_flows: 2,
                evicted_packets: 14
            }
        );
        // A reading that comes out lower (counters read late) does not lower the totals.
        l.scanned(&scan(9, 0, 0, 90));
        assert_eq!(
            l.losses(&k1),
            FlowLosses {
                evicted_flows: 2,
                evicted_packets: 14
            }
        );
    }
}
