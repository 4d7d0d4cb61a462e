//! Login attempts in both roles: TCP connections opened to a login service port, and the
//! repeated ones (to or from a peer that already had one in the window).

use packetguard_common::{
    key::{IPPROTO_TCP, IPPROTO_UDP},
    record::{TCP_ACK, TCP_SYN},
};

use super::support::{addr, close, close_with, start, start_to, VICTIM};
use super::{DestinationWindows, SourceWindows, MAX_PAIRS};

/// 198.51.100.7, the address that makes most attempts.
const SENDER: u32 = 0xc633_6407;
/// 192.0.2.1 to .3: its peers.
const A: u32 = 0xc000_0201;
const B: u32 = 0xc000_0202;
const C: u32 = 0xc000_0203;

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
    // ports (UDP 22 shares the port of TCP 22), 2 of them logins, both to A: the second
    // a repeated one. None answered yet.
    assert_eq!(
        close(&mut src, 1),
        vec![
            (
                addr(B),
                vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
            ),
            (
                addr(SENDER),
                vec![0.0, 0.0, 6.0, 2.0, 5.0, 0.0, 1.0, 6.0, 0.0, 2.0, 1.0]
            ),
        ]
    );
    // Destinations: A received 5 flows on 4 ports, 2 logins from one source (one
    // repeated); B one flow to an ephemeral port; the sender B's login.
    assert_eq!(
        close(&mut dst, 1),
        vec![
            (addr(A), vec![0.0, 0.0, 5.0, 1.0, 4.0, 0.0, 0.0, 2.0, 1.0]),
            (addr(B), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            (
                addr(SENDER),
                vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
            ),
        ]
    );
}

#[test]
fn login_attempts_and_the_repeated_ones_are_rates_over_the_window() {
    // Over 2 s: seven guesses at A, one login each at B and C (a fan-out): 9 logins, of
    // which the 6 after the first at A are repeated.
    let mut w = SourceWindows::new();
    for (dst, sport) in (0..7)
        .map(|i| (A, 40000 + i))
        .chain([(B, 41000), (C, 41001)])
    {
        w.observe_start(&start_to(SENDER, sport, dst, 22, IPPROTO_TCP, TCP_SYN));
    }
    let rows = close(&mut w, 2);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1[2..5], [4.5, 3.0, 1.0]);
    assert_eq!(rows[0].1[9..], [4.5, 3.0]);
    // The next window starts afresh: one more at A is not repeated.
    w.observe_start(&start_to(SENDER, 42000, A, 22, IPPROTO_TCP, TCP_SYN));
    assert_eq!(close(&mut w, 1)[0].1[9..], [1.0, 0.0]);
}

#[test]
fn login_counts_stay_exact_when_the_pairs_saturate_and_repeats_become_lower_bounds() {
    let mut w = DestinationWindows::new();
    // Source 1 logs in once before the pair sets fill up.
    w.observe_start(&start(1, 999, 22, IPPROTO_TCP, TCP_SYN));
    let distinct = MAX_PAIRS as u32 - 3;
    for src in 0..distinct {
        w.observe_start(&start(src + 100, 1000, 80, IPPROTO_TCP, TCP_SYN));
    }
    // Full: three more from source 1 are repeated (its pair is remembered); three from
    // source 2, never seen, are not remembered and count as first logins (lower bound).
    for sport in 0..3 {
        w.observe_start(&start(1, 2000 + sport, 22, IPPROTO_TCP, TCP_SYN));
        w.observe_start(&start(2, 2000 + sport, 22, IPPROTO_TCP, TCP_SYN));
    }
    let (rows, closed) = close_with(&mut w, 1);
    assert!(closed.saturated);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, addr(VICTIM));
    let r = &rows[0].1;
    assert_eq!(r[2], (1 + distinct + 6) as f64);
    // Logins exact; repeated: source 1's three.
    assert_eq!(r[7..], [7.0, 3.0]);
}
