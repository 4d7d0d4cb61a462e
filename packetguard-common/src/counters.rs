//! The kernel programs' per-CPU counters (XDP and TC share them): one slot each in a `PerCpuArray<u64>`.

/// Index of each counter in the per-CPU counter array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every frame the program saw.
    Packets = 0,
    /// Frame bytes of every frame the program saw.
    Bytes = 1,
    /// Frames that are not IPv4 or IPv6 (ARP, LLDP, ...). Passed, not an error.
    NonIp = 2,
    /// Frames cut short or malformed where the parser needed a header. Passed.
    ParseErrors = 3,
    /// Flow entries the program created.
    FlowsCreated = 4,
    /// Flow starts and packet samples dropped because the ring buffer was full: really
    /// lost. A flow record that finds the buffer full is only delayed
    /// ([`Counter::RecordsDelayed`]).
    RingbufLost = 5,
    /// Flow records the program emitted (end, reset, active timeout).
    RecordsEmitted = 6,
    /// Packet samples emitted.
    SamplesEmitted = 7,
    /// Flows the program ended on FIN/FIN or RST.
    FlowsEnded = 8,
    /// Non-first IP fragments (counted toward their L3 flow with ports 0).
    Fragments = 9,
    /// Flow map inserts the kernel refused.
    FlowInsertFailed = 10,
    /// Flow start events emitted.
    FlowStartsEmitted = 11,
    /// Flows started in place of an ended flow with the same 5-tuple (a new SYN); also
    /// counted in `FlowsCreated`.
    FlowsReused = 12,
    /// Host map inserts the kernel refused (the packet is missing from its host's window).
    HostInsertFailed = 13,
    /// Of `Packets`, the frames the egress (TC) program saw: what the host sent.
    EgressPackets = 14,
    /// Of `Bytes`, the frame bytes the egress program saw.
    EgressBytes = 15,
    /// Source map inserts the kernel refused (the packet is missing from its source's
    /// window).
    SourceInsertFailed = 16,
    /// First IP fragments too short for their L4 header (a tiny-fragment attack, RFC
    /// 1858): counted on their flow by ports when the 4 port bytes are there, a TCP one as
    /// a connection attempt. Not parse errors.
    ShortFirstFragments = 17,
    /// Flow records the ring buffer had no room for. Nothing is lost: the counts stay in
    /// the flow map and go out in the flow's next record (its next packet retries, or the
    /// agent exports it), unless the LRU evicts the flow first (the agent counts those).
    RecordsDelayed = 18,
    /// Packets (both directions) in the flow records the program emitted: what left the
    /// flow map through the ring buffer, for the agent's account of evicted packets.
    RecordedPackets = 19,
    /// Record cuts, host credits and restarts a CPU left to the flow's next packet because
    /// another CPU held the flow at that moment (see `crate::entry`). Their counts are not
    /// affected; a high rate means the two directions of busy flows often meet.
    FlowBusy = 20,
}

/// Number of counter slots; the size of the per-CPU array.
pub const COUNTER_SLOTS: u32 = 21;

/// Every counter with its metric-friendly name, in slot order.
pub const COUNTERS: [(Counter, &str); COUNTER_SLOTS as usize] = [
    (Counter::Packets, "packets"),
    (Counter::Bytes, "bytes"),
    (Counter::NonIp, "non_ip"),
    (Counter::ParseErrors, "parse_errors"),
    (Counter::FlowsCreated, "flows_created"),
    (Counter::RingbufLost, "ringbuf_lost"),
    (Counter::RecordsEmitted, "records_emitted"),
    (Counter::SamplesEmitted, "samples_emitted"),
    (Counter::FlowsEnded, "flows_ended"),
    (Counter::Fragments, "fragments"),
    (Counter::FlowInsertFailed, "flow_insert_failed"),
    (Counter::FlowStartsEmitted, "flow_starts_emitted"),
    (Counter::FlowsReused, "flows_reused"),
    (Counter::HostInsertFailed, "host_insert_failed"),
    (Counter::EgressPackets, "egress_packets"),
    (Counter::EgressBytes, "egress_bytes"),
    (Counter::SourceInsertFailed, "source_insert_failed"),
    (Counter::ShortFirstFragments, "short_first_fragments"),
    (Counter::RecordsDelayed, "records_delayed"),
    (Counter::RecordedPackets, "recorded_packets"),
    (Counter::FlowBusy, "flow_busy"),
];
