//! The source role: the source detector's windows.

use packetguard_common::{
    key::{IPPROTO_TCP, IPPROTO_UDP},
    record::{TCP_ACK, TCP_RST, TCP_SYN},
    HostStats,
};

use super::support::{addr, close, close_with, start_to};
use super::{DestinationWindows, SourceWindows, WindowRole, MAX_ADDRESSES, MAX_PAIRS, MAX_STARTED};

const ICMP: u8 = 1;
/// 198.51.100.7, the address whose sending the tests follow.
const SENDER: u32 = 0xc633_6407;
/// 192.0.2.1 to .3: its peers.
const A: u32 = 0xc000_0201;
const B: u32 = 0xc000_0202;
const C: u32 = 0xc000_0203;

#[test]
fn a_source_window_is_what_it_sent_with_the_attempts_it_made_and_how_they_fared() {
    let mut w = SourceWindows::new();
    assert_eq!(w.role(), WindowRole::Source);
    let mut totals = HostStats::default();
    for _ in 0..10 {
        totals.add(100, 1, TCP_ACK);
    }
    totals.answered = 4;
    w.reading(addr(SENDER), totals);
    assert_eq!(
        close(&mut w, 1),
        vec![(
            addr(SENDER),
            vec![10.0, 1000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        )]
    );

    // Next window (2 s): three SYNs to two destinations and three ports (22 on A, 80 on A
    // and B), one UDP query to C, each followed by one more packet; the SYN to A:80 and
    // the query were answered.
    for (dst, dport, proto, flags) in [
        (A, 22, IPPROTO_TCP, TCP_SYN),
        (A, 80, IPPROTO_TCP, TCP_SYN),
        (B, 80, IPPROTO_TCP, TCP_SYN),
        (C, 53, IPPROTO_UDP, 0),
    ] {
        w.observe_start(&start_to(SENDER, 40000, dst, dport, proto, flags));
        let is_tcp = (proto == IPPROTO_TCP) as u8;
        totals.add(60, is_tcp, flags);
        totals.add(140, is_tcp, TCP_ACK);
    }
    totals.answered += 2;
    w.reading(addr(SENDER), totals);
    // 8 packets, 800 bytes, 4 attempts, destinations A B C, ports 22 80 53; 3 SYNs of 6 TCP
    // packets; 2 of 4 attempts failed; 2 UDP packets; one login attempt (SSH).
    assert_eq!(
        close(&mut w, 2),
        vec![(
            addr(SENDER),
            vec![4.0, 400.0, 2.0, 3.0, 3.0, 0.5, 0.5, 1.0, 1.0, 0.5, 0.0]
        )]
    );
}

#[test]
fn only_flows_the_address_opened_count_as_its_attempts() {
    let mut w = SourceWindows::new();
    // A opened a flow toward the sender: A's attempt, not the sender's.
    w.observe_start(&start_to(A, 50000, SENDER, 80, IPPROTO_TCP, TCP_SYN));
    // First seen at the sender's SYN-ACK, or mid-stream: nobody's attempt.
    w.observe_start(&start_to(
        SENDER,
        80,
        B,
        50001,
        IPPROTO_TCP,
        TCP_SYN | TCP_ACK,
    ));
    w.observe_start(&start_to(SENDER, 443, B, 50002, IPPROTO_TCP, TCP_ACK));
    w.observe_start(&start_to(SENDER, 443, B, 50003, IPPROTO_TCP, TCP_RST));
    // An echo request: an attempt without a port.
    w.observe_start(&start_to(SENDER, 7, C, 7, ICMP, 0));
    assert_eq!(
        close(&mut w, 1),
        vec![
            (
                addr(A),
                vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
            ),
            (
                addr(SENDER),
                vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
            ),
        ]
    );
}

#[test]
fn the_failed_share_is_clamped_and_zero_without_attempts() {
    let mut w = SourceWindows::new();
    // One attempt, but three answers credited in this window (two were for attempts of
    // the window before): nothing failed.
    w.observe_start(&start_to(SENDER, 40000, A, 443, IPPROTO_TCP, TCP_SYN));
    let mut totals = HostStats::first(60, 1, TCP_SYN);
    totals.answered = 3;
    w.reading(addr(SENDER), totals);
    assert_eq!(
        close(&mut w, 1),
        vec![(
            addr(SENDER),
            vec![1.0, 60.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        )]
    );
    // Answers and no attempt: a share of nothing is 0.
    totals.add(1000, 0, 0);
    totals.answered += 1;
    w.reading(addr(SENDER), totals);
    assert_eq!(
        close(&mut w, 1),
        vec![(
            addr(SENDER),
            vec![1.0, 1000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
        )]
    );
}

#[test]
fn one_flow_start_counts_for_its_destination_in_one_role_and_its_source_in_the_other() {
    let (mut dst, mut src) = (DestinationWindows::new(), SourceWindows::new());
    for ev in [
        start_to(SENDER, 40000, A, 22, IPPROTO_TCP, TCP_SYN),
        start_to(SENDER, 40001, A, 22, IPPROTO_TCP, TCP_SYN),
        start_to(SENDER, 40002, B, 22, IPPROTO_TCP, TCP_SYN),
    ] {
        dst.observe_start(&ev);
        src.observe_start(&ev);
    }
    // A: two flows from one source to one port, the second a repeated login; B: one.
    assert_eq!(
        close(&mut dst, 1),
        vec![
            (addr(A), vec![0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 0.0, 2.0, 1.0]),
            (addr(B), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
        ]
    );
    // The sender: three attempts to two destinations and one port, none answered yet, all
    // of them SSH logins: three made, two received by A and one by B; the second to A
    // is a repeated one.
    assert_eq!(
        close(&mut src, 1),
        vec![(
            addr(SENDER),
            vec![0.0, 0.0, 3.0, 2.0, 1.0, 0.0, 1.0, 3.0, 0.0, 3.0, 1.0]
        )]
    );
}

#[test]
fn late_credits_join_the_window_answers_included() {
    let mut w = SourceWindows::new();
    let mut totals = HostStats::first(60, 1, TCP_SYN);
    w.reading(addr(SENDER), totals);
    close(&mut w, 1);
    // Two attempts; the kernel credited one answer, removed flows held two uncredited
    // packets and, in another flow, the other answer without a packet.
    w.observe_start(&start_to(SENDER, 40000, A, 53, IPPROTO_UDP, 0));
    w.observe_start(&start_to(SENDER, 40001, A, 53, IPPROTO_UDP, 0));
    totals.add(80, 0, 0);
    totals.answered += 1;
    w.reading(addr(SENDER), totals);
    let mut late = HostStats::first(80, 0, 0);
    late.add(80, 0, 0);
    w.credit_late(addr(SENDER), &late);
    let answer = HostStats {
        answered: 1,
        ..HostStats::default()
    };
    w.credit_late(addr(SENDER), &answer);
    // Nothing at all makes no row.
    w.credit_late(addr(B), &HostStats::default());
    assert_eq!(
        close(&mut w, 1),
        vec![(
            addr(SENDER),
            vec![3.0, 240.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0]
        )]
    );
}

#[test]
fn a_horizontal_scan_saturates_the_pairs_and_counts_become_upper_bounds() {
    let mut w = SourceWindows::new();
    let distinct = MAX_PAIRS as u32 - 1;
    for dst in 0..distinct {
        w.observe_start(&start_to(
            SENDER,
            40000,
            0x0b00_0000 + dst,
            80,
            IPPROTO_TCP,
            TCP_SYN,
        ));
    }
    // Full (distinct destinations + one port): ten more to a destination already seen
    // each count as a new destination and port.
    for _ in 0..10 {
        w.observe_start(&start_to(
            SENDER,
            40000,
            0x0b00_0000,
            80,
            IPPROTO_TCP,
            TCP_SYN,
        ));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), 1);
    let r = &rows[0].1;
    assert_eq!(r[2], (distinct + 10) as f64);
    assert_eq!(r[3], (distinct + 10) as f64);
    assert_eq!(r[4], 11.0);
    assert_eq!(r[7], (distinct + 10) as f64);
}

#[test]
fn spoofed_sources_fill_half_the_window_and_the_kernel_reported_addresses_still_get_rows() {
    let mut w = SourceWindows::new();
    // A SYN flood from spoofed sources: one flow start per source.
    let spoofed = MAX_STARTED as u32 + 100;
    for src in 0..spoofed {
        w.observe_start(&start_to(
            0x0c00_0000 + src,
            1000,
            A,
            80,
            IPPROTO_TCP,
            TCP_SYN,
        ));
    }
    // The host under attack answers; its reading is kept.
    let mut replies = HostStats::default();
    for _ in 0..5 {
        replies.add(60, 1, TCP_SYN | TCP_ACK);
    }
    w.reading(addr(A), replies);
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), MAX_STARTED + 1);
    assert_eq!(
        rows.iter()
            .find(|(h, _)| *h == addr(A))
            .map(|(_, r)| r.clone()),
        Some(vec![
            5.0, 300.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        ])
    );
    let spoofed_row = vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0];
    assert!(rows
        .iter()
        .filter(|(h, _)| *h != addr(A))
        .all(|(_, r)| *r == spoofed_row));
    // The next window is empty and unsaturated.
    let (rows, closed) = close_with(&mut w, 1);
    assert!(rows.is_empty() && !closed.saturated);
}

#[test]
fn readings_past_the_bound_are_not_remembered_and_never_count_whole_later() {
    let mut w = SourceWindows::new();
    let n = MAX_ADDRESSES as u32 + 3;
    let extra = |i: u32| addr(0x0c00_0000 + MAX_ADDRESSES as u32 + i);
    let packets = |k: u32| {
        let mut t = HostStats::default();
        for _ in 0..k {
            t.add(100, 0, 0);
        }
        t
    };
    // Window 1: more addresses than the bound; the first MAX_ADDRESSES make rows.
    for a in 0..n {
        w.reading(addr(0x0c00_0000 + a), packets(1));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), MAX_ADDRESSES);
    // Window 2: one more packet each. The remembered addresses count it; the three past
    // the bound have no baseline and add nothing (not their totals whole).
    for a in 0..n {
        w.reading(addr(0x0c00_0000 + a), packets(2));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), MAX_ADDRESSES);
    assert!(rows.iter().all(|(_, r)| r[0] == 1.0));
    assert!(rows.iter().all(|(h, _)| *h != extra(0)));
    // Window 3: only the three are left. The last reading was cut short, so they still
    // have no baseline; this reading is complete and remembered.
    for i in 0..3 {
        w.reading(extra(i), packets(3));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert!(rows.is_empty());
    // Window 4: two more packets each, counted exactly.
    for i in 0..3 {
        w.reading(extra(i), packets(5));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(!closed.saturated);
    assert_eq!(
        rows,
        (0..3)
            .map(|i| (
                extra(i),
                vec![2.0, 200.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0]
            ))
            .collect::<Vec<_>>()
    );
}
