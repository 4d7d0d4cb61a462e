//! Login attempts in both roles: TCP connections opened to a login service port.

use packetguard_common::{
    key::{IPPROTO_TCP, IPPROTO_UDP},
    record::{TCP_ACK, TCP_SYN},
};

use super::support::{addr, close, close_with, start, start_to, VICTIM};
use super::{DestinationWindows, SourceWindows, MAX_PAIRS};

/// 198.51.100.7, the address that makes most attempts.
const SENDER: u32 = 0xc633_6407;
/// 192.0.2.1 and .2: its peers.
const A: u32 = 0xc000_0201;
const B: u32 = 0xc000_0202;

#[test]
fn only_tcp_connections_opened_to_a_login_port_are_login_attempts_in_both_roles() {
    let (mut dst, mut src) = (DestinationWindows::new(), SourceWindows::new());
    for ev in [
        // SSH and RDP: two login attempts by the sender, received by A.
        start_to(SENDER, 40000, A, 22, IPPROTO_TCP, TCP_SYN),
        start_to(SENDER, 40001, A, 3389, IPPROTO_TCP, TCP_SYN),
        // SSH on a port not in the list, and PostgreSQL: attempts, not logins.
        start_to(SENDER, 40002, A, 2222, IPPROTO_TCP, TCP_SYN),
        start_to(SENDER, 40003, A, 5432, IPPROTO_TCP, TCP_SYN),
        // UDP to 22: a flow, not a login.
        start_to(SENDER, 40004, A, 22, IPPROTO_UDP, 0),
        // From the sender's port 22: the destination port is what counts.
        start_to(SENDER, 22, B, 40000, IPPROTO_TCP, TCP_SYN),
        // First seen at A's SYN-ACK from 22: nobody's attempt.
        start_to(A, 22, SENDER, 40005, IPPROTO_TCP, TCP_SYN | TCP_ACK),
        // B logs in to the sender's IMAPS.
        start_to(B, 50000, SENDER, 993, IPPROTO_TCP, TCP_SYN),
    ] {
        dst.observe_start(&ev);
        src.observe_start(&ev);
    }
    // Sources: B made 1 attempt, a login; the sender 6 attempts to 2 destinations and 5
    // ports (UDP 22 shares the port of TCP 22), 2 of them logins. None answered yet.
    assert_eq!(
        close(&mut src, 1),
        vec![
            (
                addr(B),
                vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
            ),
            (
                addr(SENDER),
                vec![0.0, 0.0, 6.0, 2.0, 5.0, 0.0, 1.0, 6.0, 0.0, 2.0]
            ),
        ]
    );
    // Destinations: A received 5 flows on 4 ports, 2 logins; B one flow to an ephemeral
    // port; the sender B's login.
    assert_eq!(
        close(&mut dst, 1),
        vec![
            (addr(A), vec![0.0, 0.0, 5.0, 1.0, 4.0, 0.0, 0.0, 2.0]),
            (addr(B), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]),
            (addr(SENDER), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]),
        ]
    );
}

#[test]
fn login_attempts_are_a_rate_over_the_window() {
    let mut w = SourceWindows::new();
    for sport in 0..7 {
        w.observe_start(&start_to(
            SENDER,
            40000 + sport,
            A,
            22,
            IPPROTO_TCP,
            TCP_SYN,
        ));
    }
    let rows = close(&mut w, 2);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1[2], 3.5);
    assert_eq!(rows[0].1[9], 3.5);
}

#[test]
fn login_attempts_stay_exact_when_the_distinct_counts_saturate() {
    let mut w = DestinationWindows::new();
    let distinct = MAX_PAIRS as u32 - 1;
    for src in 0..distinct {
        w.observe_start(&start(src + 100, 1000, 80, IPPROTO_TCP, TCP_SYN));
    }
    // The pair sets are full: ten guesses from a source already seen count as new
    // sources and ports (upper bounds), but as exactly ten logins.
    for sport in 0..10 {
        w.observe_start(&start(100, 2000 + sport, 22, IPPROTO_TCP, TCP_SYN));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, addr(VICTIM));
    let r = &rows[0].1;
    assert_eq!(r[2], (distinct + 10) as f64);
    assert_eq!(r[3], (distinct + 10) as f64);
    assert_eq!(r[4], 11.0);
    assert_eq!(r[7], 10.0);
}
