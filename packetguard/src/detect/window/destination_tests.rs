//! The destination role: the host detector's windows.

use packetguard_common::{
    key::{IPPROTO_TCP, IPPROTO_UDP},
    record::{TCP_ACK, TCP_SYN},
    HostStats,
};

use super::support::{addr, close, close_with, start, VICTIM};
use super::{DestinationWindows, WindowRole, MAX_PAIRS, MAX_STARTED};

fn victim() -> packetguard_common::HostKey {
    addr(VICTIM)
}

#[test]
fn a_window_is_the_difference_between_readings_with_start_counts() {
    let mut w = DestinationWindows::new();
    assert_eq!(w.role(), WindowRole::Destination);
    let mut totals = HostStats::default();
    for _ in 0..10 {
        totals.add(100, 1, TCP_ACK);
    }
    w.reading(victim(), totals);
    assert_eq!(close(&mut w, 1).len(), 1);

    // Next window: 4 SYNs from 2 sources to 3 ports, one of them SSH (a login attempt),
    // plus 4 ACKs.
    for (src, sport, dport) in [(1, 1000, 22), (1, 1001, 80), (2, 1000, 80), (2, 1001, 443)] {
        w.observe_start(&start(src, sport, dport, IPPROTO_TCP, TCP_SYN));
        totals.add(60, 1, TCP_SYN);
        totals.add(140, 1, TCP_ACK);
    }
    w.reading(victim(), totals);
    assert_eq!(
        close(&mut w, 2),
        vec![(
            victim(),
            vec![4.0, 400.0, 2.0, 2.0, 3.0, 0.5, 100.0, 0.5, 0.0]
        )]
    );
}

#[test]
fn flows_the_host_opened_itself_do_not_count_as_new_flows_toward_it() {
    let mut w = DestinationWindows::new();
    w.observe_start(&start(1, 443, 50000, IPPROTO_TCP, TCP_SYN | TCP_ACK));
    w.observe_start(&start(1, 443, 50001, IPPROTO_TCP, TCP_ACK));
    assert!(close(&mut w, 1).is_empty());
    w.observe_start(&start(1, 53, 50002, IPPROTO_UDP, 0));
    w.observe_start(&start(1, 7, 7, 1, 0));
    // Two flows from one source; only the UDP one has a port.
    assert_eq!(
        close(&mut w, 1),
        vec![(victim(), vec![0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])]
    );
}

#[test]
fn a_host_without_traffic_in_the_window_gives_no_row_and_evicted_hosts_are_forgotten() {
    let mut w = DestinationWindows::new();
    let t = HostStats::first(1500, 0, 0);
    w.reading(victim(), t);
    assert_eq!(close(&mut w, 1).len(), 1);
    w.reading(victim(), t);
    assert!(close(&mut w, 1).is_empty());
    // Not read this time: evicted. When it comes back its totals count whole.
    assert!(close(&mut w, 1).is_empty());
    w.reading(victim(), t);
    assert_eq!(close(&mut w, 1)[0].1[0], 1.0);
}

#[test]
fn late_credits_of_removed_flows_join_the_window_once() {
    let mut w = DestinationWindows::new();
    let mut totals = HostStats::first(100, 1, TCP_SYN);
    w.reading(victim(), totals);
    assert_eq!(close(&mut w, 1).len(), 1);

    // The kernel credited one more packet; a removed flow had two more uncredited.
    totals.add(100, 1, TCP_ACK);
    w.reading(victim(), totals);
    let mut late = HostStats::first(60, 1, TCP_ACK);
    late.add(60, 1, TCP_ACK);
    w.credit_late(victim(), &late);
    w.credit_late(victim(), &HostStats::default());
    assert_eq!(
        close(&mut w, 1),
        vec![(
            victim(),
            vec![3.0, 220.0, 0.0, 0.0, 0.0, 0.0, 220.0 / 3.0, 0.0, 0.0]
        )]
    );

    // Nothing new: no row. A late credit for a host the kernel map no longer holds
    // still makes one.
    w.reading(victim(), totals);
    assert!(close(&mut w, 1).is_empty());
    w.credit_late(victim(), &late);
    assert_eq!(close(&mut w, 1)[0].1[..2], [2.0, 120.0]);
}

#[test]
fn distinct_counts_saturate_at_the_pair_limit_and_say_so() {
    let mut w = DestinationWindows::new();
    let distinct = MAX_PAIRS as u32 - 1;
    for src in 0..distinct {
        w.observe_start(&start(src + 100, 1000, 80, IPPROTO_TCP, TCP_SYN));
    }
    // The sets are full (distinct sources + one port). Ten more starts from a source
    // already seen, to the same port: each counts as new, an upper bound.
    for _ in 0..10 {
        w.observe_start(&start(100, 1000, 80, IPPROTO_TCP, TCP_SYN));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    let r = &rows[0].1;
    assert_eq!(r[2], (distinct + 10) as f64);
    assert_eq!(r[3], (distinct + 10) as f64);
    assert_eq!(r[4], 11.0);
    // The next window starts empty and unsaturated.
    w.observe_start(&start(100, 1000, 80, IPPROTO_TCP, TCP_SYN));
    let (rows, closed) = close_with(&mut w, 1);
    assert!(!closed.saturated);
    assert_eq!(rows[0].1[3], 1.0);
}

#[test]
fn flow_starts_toward_many_destinations_fill_half_the_addresses_and_readings_the_rest() {
    // A scan through a router: one flow start toward each of many destinations.
    let mut w = DestinationWindows::new();
    let scanned = MAX_STARTED as u32 + 5;
    for dst in 0..scanned {
        let ev = super::support::start_to(7, 1000, 0x0b00_0000 + dst, 80, IPPROTO_TCP, TCP_SYN);
        w.observe_start(&ev);
    }
    // The victim's reading still gets in, and makes a row.
    w.reading(victim(), HostStats::first(60, 1, TCP_SYN));
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), MAX_STARTED + 1);
    assert!(rows.iter().any(|(h, r)| *h == victim() && r[0] == 1.0));
    // Nothing is carried over.
    w.reading(victim(), HostStats::first(60, 1, TCP_SYN));
    let (rows, closed) = close_with(&mut w, 1);
    assert!(!closed.saturated);
    assert!(rows.is_empty(), "the victim's totals did not change");
}
