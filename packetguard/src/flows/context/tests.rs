use packetguard_common::{
    host::connection_attempt,
    key::{IPPROTO_TCP, IPPROTO_UDP},
    record::{RecordKind, TCP_ACK, TCP_SYN},
    FlowKey, FlowStart,
};

use super::*;

const MS: u64 = 1_000_000;
const CLIENT: u32 = 0xc000_0202;
const SERVER: u32 = 0xc633_6402;

/// The start of a flow from `src:sport` to `dst:dport` at `ms`, its first packet `flags`.
fn start(ms: u64, src: u32, sport: u16, dst: u32, dport: u16, proto: u8, flags: u8) -> FlowStart {
    let (key, src_is_a) =
        FlowKey::canonical(4, proto, [src, 0, 0, 0], sport, [dst, 0, 0, 0], dport);
    FlowStart {
        kind: RecordKind::FlowStart as u32,
        len: 60,
        ts_ns: ms * MS,
        key,
        tcp_flags: flags,
        fwd_is_a: src_is_a as u8,
        attempt: connection_attempt(proto == IPPROTO_TCP, flags, false) as u8,
        _pad: [0; 5],
    }
}

/// A connection attempt from the client's port `sport` to the server's SSH port at `ms`.
fn ssh(ms: u64, sport: u16) -> FlowStart {
    start(ms, CLIENT, sport, SERVER, 22, IPPROTO_TCP, TCP_SYN)
}

/// Observes `ev` and returns its count.
fn prior(c: &mut FlowContext, ev: &FlowStart) -> u32 {
    c.observe_start(ev);
    c.prior_login_attempts(&ev.key, ev.ts_ns)
}

#[test]
fn a_guessers_connections_count_the_attempts_of_the_two_seconds_before() {
    let mut c = FlowContext::new();
    // Six attempts a second: each counts those of the 2 s before it, at most 12.
    let counts: Vec<u32> = (0..18u64)
        .map(|i| prior(&mut c, &ssh(i * 1000 / 6, 40_000 + i as u16)))
        .collect();
    assert_eq!(
        counts,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 12, 12, 12, 12]
    );
}

#[test]
fn a_second_terminal_counts_one_and_a_login_after_a_pause_none() {
    let mut c = FlowContext::new();
    assert_eq!(prior(&mut c, &ssh(0, 40_000)), 0);
    assert_eq!(prior(&mut c, &ssh(600, 40_001)), 1);
    assert_eq!(prior(&mut c, &ssh(2_700, 40_002)), 0);
}

#[test]
fn other_ports_other_servers_other_clients_and_non_attempts_count_nothing() {
    let mut c = FlowContext::new();
    for i in 0..5u64 {
        let sport = 41_000 + i as u16;
        // A web client without keep-alive: not a login port.
        assert_eq!(
            prior(
                &mut c,
                &start(i * 100, CLIENT, sport, SERVER, 80, IPPROTO_TCP, TCP_SYN)
            ),
            0
        );
        // One SSH connection to each of five servers (an Ansible-like run).
        let server = SERVER + 1 + i as u32;
        assert_eq!(
            prior(
                &mut c,
                &start(i * 100, CLIENT, sport, server, 22, IPPROTO_TCP, TCP_SYN)
            ),
            0
        );
        // UDP to port 22, and TCP first seen mid-stream, are not login attempts.
        let udp = start(i * 100, CLIENT, sport, SERVER, 22, IPPROTO_UDP, 0);
        assert_eq!(prior(&mut c, &udp), 0);
        let mid = start(
            i * 100,
            CLIENT,
            sport + 100,
            SERVER,
            22,
            IPPROTO_TCP,
            TCP_ACK,
        );
        assert_eq!(prior(&mut c, &mid), 0);
    }
    // Five clients, one login each.
    for i in 0..5u32 {
        let ev = start(
            600,
            CLIENT + 1 + i,
            40_000,
            SERVER,
            22,
            IPPROTO_TCP,
            TCP_SYN,
        );
        assert_eq!(prior(&mut c, &ev), 0);
    }
}

#[test]
fn every_record_of_a_flow_has_its_count_until_the_flow_is_removed() {
    let mut c = FlowContext::new();
    prior(&mut c, &ssh(0, 40_000));
    let second = ssh(300, 40_001);
    assert_eq!(prior(&mut c, &second), 1);
    // The end record and the tail have the flow's start time.
    assert_eq!(c.prior_login_attempts(&second.key, second.ts_ns), 1);
    // A later flow on the same key is another flow.
    assert_eq!(c.prior_login_attempts(&second.key, second.ts_ns + 1), 0);
    c.forget(&second.key, second.ts_ns + 1);
    assert_eq!(c.prior_login_attempts(&second.key, second.ts_ns), 1);
    c.forget(&second.key, second.ts_ns);
    assert_eq!(c.prior_login_attempts(&second.key, second.ts_ns), 0);
}

#[test]
fn histories_out_of_the_window_are_dropped_and_the_bounds_hold() {
    let mut c = FlowContext::new();
    prior(&mut c, &ssh(0, 40_000));
    prior(&mut c, &ssh(100, 40_001));
    assert_eq!(c.held(), (1, 1));
    // A flow start elsewhere 3 s later sweeps the history; the flow keeps its count.
    prior(
        &mut c,
        &start(3_100, CLIENT, 1, SERVER, 80, IPPROTO_TCP, TCP_SYN),
    );
    assert_eq!(c.held(), (0, 1));
    assert_eq!(c.take_not_kept(), 0);
    // Spoofed openers: one history each, never more than the bound; the ten past it are
    // counted as not kept, once.
    for i in 0..(MAX_SERVICES as u32 + 10) {
        let ev = start(4_000, 0xc612_0000 + i, 1, SERVER, 22, IPPROTO_TCP, TCP_SYN);
        prior(&mut c, &ev);
    }
    assert_eq!(c.held(), (MAX_SERVICES, 1));
    assert_eq!(c.take_not_kept(), 10);
    assert_eq!(c.take_not_kept(), 0);
}
