//! UDP and ICMP: name lookups, single exchanges and one-way datagrams, streams, ping,
//! link-local control traffic and ICMP errors.

use rand::{rngs::SmallRng, Rng};

use super::sim::{Pkt, Side, Sim, View};
use crate::baseline::log_uniform;

/// Ethernet, IPv4 and UDP headers.
const UDP4: u32 = 42;
/// Ethernet and IPv6 headers.
const IP6: u32 = 54;

fn datagram(s: &mut Sim, gap_ns: u64, from: Side, header: u32, payload: u32) {
    s.packet(Pkt {
        gap_ns,
        from,
        len: header + payload,
        payload,
        flags: 0,
    });
}

/// DNS from a stub resolver: one query and its answer, or the A and AAAA queries a
/// resolver sends from one socket, each maybe unanswered and retried.
pub fn dns(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    let queries = if rng.random_bool(0.4) { 2 } else { 1 };
    let rtt = log_uniform(rng, 50_000.0, 100_000_000.0) as u64;
    for q in 0..queries {
        let query = if rng.random_bool(0.9) {
            rng.random_range(17..=120u32)
        } else {
            rng.random_range(120..=300u32)
        };
        let gap = if q == 0 {
            0
        } else {
            rng.random_range(1_000..=500_000u64)
        };
        datagram(&mut s, gap, Side::Initiator, UDP4, query);
        if rng.random_bool(0.08) {
            // No answer in time: a retry after the resolver's timeout, or none.
            if rng.random_bool(0.5) {
                continue;
            }
            let timeout = log_uniform(rng, 1e9, 5e9) as u64;
            datagram(&mut s, timeout, Side::Initiator, UDP4, query);
        }
        let answer = log_uniform(rng, 30.0, 1_400.0) as u32;
        datagram(&mut s, rtt, Side::Responder, UDP4, answer);
    }
    s
}

/// A single exchange (NTP, SNMP, a STUN binding, DHCP) or a datagram that expects no
/// answer (syslog, a metrics push, a wake-up packet).
pub fn exchange(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    let request = log_uniform(rng, 8.0, 1_400.0) as u32;
    datagram(&mut s, 0, Side::Initiator, UDP4, request);
    if rng.random_bool(0.7) {
        let rtt = log_uniform(rng, 50_000.0, 200_000_000.0) as u64;
        let reply = log_uniform(rng, 8.0, 1_400.0) as u32;
        datagram(&mut s, rtt, Side::Responder, UDP4, reply);
    }
    s
}

/// A stream: one way (media, telemetry, `iperf3 -u`), or both ways (a call's RTP, QUIC
/// with its ACK frames).
pub fn stream(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    let n = log_uniform(rng, 2.0, 20_000.0) as u32;
    let size = log_uniform(rng, 60.0, 1_400.0) as u32;
    let gap = log_uniform(rng, 20_000.0, 50_000_000.0) as u64;
    let both_ways = rng.random_bool(0.5);
    let back = if rng.random_bool(0.5) {
        size
    } else {
        log_uniform(rng, 30.0, 200.0) as u32
    };
    for i in 0..n {
        datagram(&mut s, gap, Side::Initiator, UDP4, size);
        if both_ways && (i % 2 == 0 || back == size) {
            datagram(&mut s, gap / 3 + 1, Side::Responder, UDP4, back);
        }
    }
    s
}

/// ICMP or ICMPv6 echo: requests and replies at a steady interval, some unanswered.
pub fn echo(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    let len = [98u32, 118, 74, 1_042][rng.random_range(0..4)];
    let n = log_uniform(rng, 1.0, 100.0) as u32;
    let interval = log_uniform(rng, 200_000_000.0, 1_000_000_000.0) as u64;
    let rtt = log_uniform(rng, 30_000.0, 50_000_000.0) as u64;
    let lossy = rng.random_bool(0.1);
    for i in 0..n {
        let gap = if i == 0 { 0 } else { interval };
        datagram(&mut s, gap, Side::Initiator, 42, len - 42);
        if !(lossy && rng.random_bool(0.3)) {
            datagram(&mut s, rtt, Side::Responder, 42, len - 42);
        }
    }
    s
}

/// Link-local control traffic, which never crosses a router: neighbour solicitation and
/// advertisement, router solicitations and advertisements, MLD reports (hop limit 1),
/// mDNS, LLMNR and SSDP announcements.
pub fn link_local(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    match rng.random_range(0..5) {
        0 => {
            s.set_ttl(Side::Initiator, 255);
            s.set_ttl(Side::Responder, 255);
            let rtt = log_uniform(rng, 10_000.0, 2_000_000.0) as u64;
            datagram(&mut s, 0, Side::Initiator, IP6, 32);
            datagram(&mut s, rtt, Side::Responder, IP6, 24);
        }
        1 => {
            s.set_ttl(Side::Initiator, 255);
            let tries = rng.random_range(1..=3);
            for i in 0..tries {
                let gap = if i == 0 { 0 } else { 4_000_000_000 };
                datagram(&mut s, gap, Side::Initiator, IP6, 16);
            }
        }
        2 => {
            s.set_ttl(Side::Initiator, 1);
            let reports = rng.random_range(1..=3);
            for i in 0..reports {
                let gap = if i == 0 { 0 } else { 1_000_000_000 };
                datagram(&mut s, gap, Side::Initiator, IP6, rng.random_range(28..=88));
            }
        }
        3 => {
            s.set_ttl(Side::Initiator, 255);
            let n = rng.random_range(1..=4);
            for i in 0..n {
                let gap = if i == 0 { 0 } else { 1_000_000_000 };
                datagram(
                    &mut s,
                    gap,
                    Side::Initiator,
                    UDP4,
                    rng.random_range(40..=600),
                );
            }
        }
        _ => {
            s.set_ttl(Side::Initiator, 255);
            datagram(&mut s, 0, Side::Initiator, IP6, rng.random_range(56..=150));
        }
    }
    s
}

/// ICMP errors (destination unreachable, time exceeded), each quoting the datagram that
/// caused it: a router or host tells a sender, one way, once or a few times.
pub fn icmp_error(rng: &mut SmallRng, view: View) -> Sim {
    let mut s = Sim::new(rng, view, false);
    let n = rng.random_range(1..=3);
    let quoted = rng.random_range(28..=548u32);
    for i in 0..n {
        let gap = if i == 0 {
            0
        } else {
            log_uniform(rng, 10_000.0, 2_000_000_000.0) as u64
        };
        datagram(&mut s, gap, Side::Initiator, 42, quoted);
    }
    s
}
