//! Unit tests of the per-packet arithmetic.

use super::*;
use crate::record::{TCP_ACK, TCP_SYN};

fn pkt(ts: u64, len: u32, flags: u8) -> PacketMeta {
    PacketMeta {
        ts_ns: ts,
        len,
        payload_len: len.saturating_sub(54),
        window: 1000 + len as u16,
        tcp_flags: flags,
        ttl: 64,
        is_tcp: 1,
        attempt: 0,
        _pad: [0; 2],
    }
}

#[test]
fn handshake_and_close_end_the_flow_on_the_second_fin() {
    let mut s = FlowStats::new_flow(1_000, 1);
    let seq = [
        (pkt(1_000, 74, TCP_SYN), true),
        (pkt(2_000, 74, TCP_SYN | TCP_ACK), false),
        (pkt(5_000, 66, TCP_ACK), true),
        (pkt(9_000, 66, TCP_FIN | TCP_ACK), true),
    ];
    for (m, fwd) in seq {
        s.observe(&m, fwd);
        s.count(fwd, m.len);
        assert!(!s.ends_now(&m));
    }
    let last = pkt(10_000, 66, TCP_FIN | TCP_ACK);
    s.observe(&last, false);
    s.count(false, last.len);
    assert!(s.ends_now(&last));
    assert_eq!((s.fwd_packets, s.bwd_packets), (3, 2));
    assert_eq!((s.fwd_bytes, s.bwd_bytes), (74 + 66 + 66, 74 + 66));
    assert_eq!((s.len_min, s.len_max), (66, 74));
    assert_eq!(s.iat_count, 4);
    assert_eq!(s.iat_sum_ns, 9_000);
    assert_eq!((s.iat_min_ns, s.iat_max_ns), (1_000, 4_000));
    assert_eq!(s.tcp_flag_counts[1], 2, "two SYNs");
    assert_eq!(s.tcp_flag_counts[0], 2, "two FINs");
    assert_eq!((s.init_win_fwd, s.init_win_bwd), (1074, 1074));
}

#[test]
fn a_new_interval_keeps_identity_and_continues_inter_arrival() {
    let mut s = FlowStats::new_flow(100, 0);
    s.observe(&pkt(100, 60, TCP_SYN), true);
    s.count(true, 60);
    s.begin_interval();
    assert_eq!(s.packets(), 0);
    assert_eq!(s.flow_start_ns, 100);
    assert_eq!(s.records, 1);
    s.observe(&pkt(400, 60, TCP_ACK), true);
    assert_eq!(s.iat_count, 1);
    assert_eq!(s.iat_sum_ns, 300);
    assert_eq!(s.first_seen_ns, 400);
}

#[test]
fn merging_intervals_equals_one_long_interval() {
    let pkts = [
        (pkt(10, 74, TCP_SYN), true),
        (pkt(20, 74, TCP_SYN | TCP_ACK), false),
        (pkt(35, 1500, TCP_ACK), true),
        (pkt(90, 66, TCP_ACK), false),
    ];
    let mut whole = FlowStats::new_flow(10, 1);
    let mut split = FlowStats::new_flow(10, 1);
    let mut merged = FlowStats::default();
    for (i, (m, fwd)) in pkts.iter().enumerate() {
        whole.observe(m, *fwd);
        whole.count(*fwd, m.len);
        split.observe(m, *fwd);
        split.count(*fwd, m.len);
        if i == 1 {
            merged.merge(&split);
            split.begin_interval();
        }
    }
    merged.merge(&split);
    assert_eq!(merged.packets(), whole.packets());
    assert_eq!(merged.fwd_bytes, whole.fwd_bytes);
    assert_eq!(merged.len_sum_sq, whole.len_sum_sq);
    assert_eq!(merged.iat_sum_ns, whole.iat_sum_ns);
    assert_eq!(merged.iat_count, whole.iat_count);
    assert_eq!(
        (merged.iat_min_ns, merged.iat_max_ns),
        (whole.iat_min_ns, whole.iat_max_ns)
    );
    assert_eq!(merged.tcp_flag_counts, whole.tcp_flag_counts);
    assert_eq!(merged.first_seen_ns, 10);
    assert_eq!(merged.last_seen_ns, 90);
}

#[test]
fn will_end_predicts_ends_now() {
    for (state, flags, forward) in [
        (0, TCP_FIN, true),
        (STATE_FIN_BWD, TCP_FIN | TCP_ACK, true),
        (STATE_FIN_FWD, TCP_FIN, true),
        (STATE_FIN_FWD, TCP_FIN, false),
        (STATE_FIN_FWD | STATE_FIN_BWD, TCP_ACK, false),
        (0, TCP_RST, false),
        (STATE_ENDED | STATE_FIN_FWD, TCP_RST | TCP_FIN, false),
    ] {
        let mut s = FlowStats::new_flow(1, 1);
        s.state = state;
        let m = pkt(5, 60, flags);
        let before = s.will_end(&m, forward);
        s.observe(&m, forward);
        assert_eq!(before, s.ends_now(&m), "{state:#x} {flags:#x} {forward}");
    }
}

#[test]
fn an_interval_with_no_packet_folded_in_is_never_active_due() {
    let mut s = FlowStats::new_flow(1_000, 1);
    assert!(!s.active_due(u64::MAX, 1), "nothing folded in yet");
    s.observe(&pkt(2_000, 60, TCP_ACK), true);
    assert!(!s.active_due(2_999, 1_000));
    assert!(s.active_due(3_000, 1_000));
    assert!(!s.active_due(u64::MAX, 0), "0 turns it off");
    s.begin_interval_stats();
    assert!(!s.active_due(u64::MAX, 1), "just cut");
}

#[test]
fn a_restart_is_a_new_flow_that_keeps_the_counters() {
    let mut s = FlowStats::new_flow(100, 0);
    for (ts, flags, fwd) in [(100, TCP_SYN, true), (300, TCP_FIN, false)] {
        let m = pkt(ts, 74, flags);
        s.observe(&m, fwd);
        s.count(fwd, m.len);
    }
    s.state |= STATE_ENDED;
    s.records = 3;
    let mut expected = FlowStats::new_flow(900, 1);
    (expected.fwd_packets, expected.bwd_packets) = (s.fwd_packets, s.bwd_packets);
    (expected.fwd_bytes, expected.bwd_bytes) = (s.fwd_bytes, s.bwd_bytes);
    s.restart(900, 1);
    assert_eq!(s, expected);
}

#[test]
fn an_interval_whose_only_packet_lost_its_details_is_filled_from_its_counts() {
    let mut s = FlowStats::new_flow(100, 1);
    s.observe(&pkt(500, 90, TCP_ACK), true);
    s.begin_interval_stats();
    // Counted after the cut copied the interval: only the counters know of it.
    s.count(false, 90);
    s.complete_interval();
    assert_eq!((s.first_seen_ns, s.last_seen_ns), (500, 500));
    assert_eq!(
        (s.len_min, s.len_max, s.len_sum, s.len_sum_sq),
        (90, 90, 90, 8100)
    );

    // A whole interval is left alone, and so is an empty one.
    let mut whole = FlowStats::new_flow(100, 1);
    whole.observe(&pkt(100, 60, TCP_SYN), true);
    whole.count(true, 60);
    let before = whole;
    whole.complete_interval();
    assert_eq!(whole, before);
    let mut empty = FlowStats::new_flow(100, 1);
    empty.complete_interval();
    assert_eq!(empty, FlowStats::new_flow(100, 1));

    // Two packets whose times were stored against their clocks' order.
    let mut crossed = whole;
    (crossed.first_seen_ns, crossed.last_seen_ns) = (700, 600);
    crossed.complete_interval();
    assert_eq!((crossed.first_seen_ns, crossed.last_seen_ns), (600, 700));
}

#[test]
fn packets_stored_out_of_clock_order_keep_the_interval_bounds() {
    let mut s = FlowStats::new_flow(100, 1);
    s.observe(&pkt(500, 60, TCP_ACK), true);
    s.observe(&pkt(400, 60, TCP_ACK), false);
    assert_eq!((s.first_seen_ns, s.last_seen_ns), (400, 500));
}

#[test]
fn rst_ends_once() {
    let mut s = FlowStats::new_flow(1, 1);
    let rst = pkt(1, 54, TCP_RST);
    s.observe(&rst, true);
    assert!(s.ends_now(&rst));
    s.state |= STATE_ENDED;
    assert!(!s.ends_now(&rst));
}
