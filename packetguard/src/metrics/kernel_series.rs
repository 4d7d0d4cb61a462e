//! The kernel's per-CPU counters that are exported as one plain counter each: which slot,
//! under which name, with which help text.

use packetguard_common::Counter;

/// The kernel counters exported as one plain counter each: slot, metric name, help.
pub(super) const KERNEL_SERIES: [(Counter, &str, &str); 15] = [
    (
        Counter::Packets,
        "packetguard_packets_total",
        "Frames the kernel programs saw on the interface (received and sent), every protocol.",
    ),
    (
        Counter::Bytes,
        "packetguard_bytes_total",
        "Bytes of the frames the kernel programs saw, link-layer headers included.",
    ),
    (
        Counter::EgressPackets,
        "packetguard_egress_packets_total",
        "Of packetguard_packets_total, the frames the egress (TC) program saw: what the host sent.",
    ),
    (
        Counter::EgressBytes,
        "packetguard_egress_bytes_total",
        "Of packetguard_bytes_total, the bytes the egress (TC) program saw.",
    ),
    (
        Counter::NonIp,
        "packetguard_non_ip_frames_total",
        "Frames that are neither IPv4 nor IPv6 (ARP, LLDP, ...); passed unscored.",
    ),
    (
        Counter::ParseErrors,
        "packetguard_parse_errors_total",
        "Frames cut short or malformed where the parser needed a header; passed.",
    ),
    (
        Counter::FlowsCreated,
        "packetguard_kernel_flows_created_total",
        "Flow entries the XDP program created in its flow map.",
    ),
    (
        Counter::RingbufLost,
        "packetguard_ringbuf_lost_total",
        "Flow starts and packet samples dropped because the ring buffer was full.",
    ),
    (
        Counter::RecordsDelayed,
        "packetguard_ringbuf_delayed_total",
        "Flow records the ring buffer had no room for; their counts stayed in the flow map for a later record.",
    ),
    (
        Counter::FlowsEnded,
        "packetguard_kernel_flows_ended_total",
        "Flows the XDP program ended on FIN or RST.",
    ),
    (
        Counter::Fragments,
        "packetguard_ip_fragments_total",
        "Non-first IP fragments, counted toward their flow without ports.",
    ),
    (
        Counter::ShortFirstFragments,
        "packetguard_ip_short_first_fragments_total",
        "First IP fragments cut inside their L4 header, counted by ports; TCP ones as connection attempts.",
    ),
    (
        Counter::FlowInsertFailed,
        "packetguard_flow_insert_failures_total",
        "Flow map inserts the kernel refused; those packets update no flow.",
    ),
    (
        Counter::HostInsertFailed,
        "packetguard_host_insert_failures_total",
        "Host map inserts the kernel refused; those packets are missing from their host's window.",
    ),
    (
        Counter::SourceInsertFailed,
        "packetguard_source_insert_failures_total",
        "Source map inserts the kernel refused; those packets are missing from their source's window.",
    ),
];
