//! Fragmented floods through `BPF_PROG_TEST_RUN`: a SYN flood sent as tiny first
//! fragments (TCP header cut after 8 bytes, ports present, flags absent) plus their tails
//! must reach its destination's totals and window exactly as `parse/fragment.rs` in the
//! eBPF crate says: every first fragment a connection attempt and a new flow, every
//! fragment a packet.

use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use packetguard::{
    datapath::{
        drain::{decode, Event},
        hosts::HostTable,
        DataPathConfig,
    },
    detect::window::DestinationWindows,
};
use packetguard_common::{
    features::HOST_FEATURES, record::TCP_SYN, Counter, FlowStart, HostKey, HostStats,
};
use packetguard_forest::Model;

use crate::{
    frames::*,
    host_credit::{host, totals},
    parser::Harness,
};

/// The IPv6 key of an address in the destination and source maps.
fn host6(addr: [u8; 16]) -> HostKey {
    let w = |i: usize| u32::from_ne_bytes(addr[i..i + 4].try_into().unwrap());
    HostKey {
        addr: [w(0), w(4), w(8), w(12)],
        ip_version: 6,
        _pad: [0; 3],
    }
}

/// The first fragment (8 bytes of a SYN's TCP header: ports and sequence number) and the
/// tail (the other 12 bytes) of one SYN from `src:sport` to `dst:80`, over IPv4 or IPv6.
fn tiny_syn(v6: bool, src: [u8; 16], dst: [u8; 16], sport: u16) -> [Vec<u8>; 2] {
    let tcp = tcp_header(sport, 80, TCP_SYN);
    if v6 {
        [
            Frame::eth(&[], ETH_IPV6)
                .ipv6(44, src, dst, 8 + 8)
                .frag6(6, 0, true)
                .bytes(&tcp[..8])
                .0,
            Frame::eth(&[], ETH_IPV6)
                .ipv6(44, src, dst, 8 + 12)
                .frag6(6, 1, false)
                .bytes(&tcp[8..])
                .0,
        ]
    } else {
        let (s, d) = (v4(src), v4(dst));
        [
            Frame::eth(&[], ETH_IPV4)
                .ipv4(6, s, d, &[], 0x2000, 8)
                .bytes(&tcp[..8])
                .0,
            Frame::eth(&[], ETH_IPV4)
                .ipv4(6, s, d, &[], 1, 12)
                .bytes(&tcp[8..])
                .0,
        ]
    }
}

/// The first four bytes of a 16-byte address slot: how IPv4 addresses ride in [`tiny_syn`].
fn v4(a: [u8; 16]) -> [u8; 4] {
    a[..4].try_into().unwrap()
}

fn slot(a: [u8; 4]) -> [u8; 16] {
    let mut s = [0; 16];
    s[..4].copy_from_slice(&a);
    s
}

/// Flow starts waiting in the ring buffer.
fn flow_starts(ring: &mut RingBuf<MapData>) -> Vec<FlowStart> {
    let mut starts = Vec::new();
    while let Some(item) = ring.next() {
        if let Event::FlowStart(s) = decode(&item).unwrap() {
            starts.push(*s);
        }
    }
    starts
}

/// A harness whose program announces new flows, with its destination map and ring buffer.
fn flood_harness() -> (Harness, HostTable, RingBuf<MapData>) {
    let mut h = Harness::new(DataPathConfig {
        emit_flow_starts: true,
        ..DataPathConfig::default()
    });
    let hosts = HostTable::new(h.dp.take_hosts().unwrap()).unwrap();
    let ring = h.dp.take_events().unwrap();
    (h, hosts, ring)
}

/// One second's destination window of `victim`, built the way the agent builds it: the
/// flow starts, the kernel's totals, and what the flows hold uncredited (credited late
/// when the agent removes them).
fn window_row(
    h: &Harness,
    hosts: &mut HostTable,
    starts: &[FlowStart],
    victim: HostKey,
) -> (HostStats, Vec<f64>) {
    let mut w = DestinationWindows::new();
    starts.iter().for_each(|s| w.observe_start(s));
    let mut all = totals(hosts, victim);
    w.reading(victim, all);
    for (key, entry) in h.entries() {
        for (to, d) in entry.uncredited_hosts(&key) {
            w.credit_late(to, &d);
            if to == victim {
                all = all.plus(&d);
            }
        }
    }
    let mut rows = Vec::new();
    w.close(Duration::from_secs(1), |addr, row| {
        if addr == victim {
            rows.push(row.to_vec())
        }
    });
    assert_eq!(rows.len(), 1, "one row for the victim");
    (all, rows.pop().unwrap())
}

#[test]
fn tiny_first_fragments_of_a_syn_flood_are_attempts_and_new_flows_in_the_destination_window() {
    for v6 in [false, true] {
        for egress in [false, true] {
            let (mut h, mut hosts, mut ring) = flood_harness();
            let (src, dst, victim) = if v6 {
                (V6_A, V6_B, host6(V6_B))
            } else {
                (slot(V4_A), slot(V4_B), host(V4_B))
            };
            let mut bytes = 0;
            for i in 0..100u16 {
                for f in tiny_syn(v6, src, dst, 20000 + i) {
                    bytes += f.len() as u64;
                    if egress {
                        h.run_egress(&f);
                    } else {
                        h.run(&f, 1);
                    }
                }
            }
            let what = format!("v6 {v6}, egress {egress}");
            assert_eq!(h.counter(Counter::Packets), 200, "{what}");
            assert_eq!(h.counter(Counter::ParseErrors), 0, "{what}");
            assert_eq!(h.counter(Counter::ShortFirstFragments), 100, "{what}");
            assert_eq!(h.counter(Counter::Fragments), 100, "{what}");

            // 100 flows by ports, one packet each, flags unknown (never counted as 0 or as
            // SYN); one flow of the tails with ports 0.
            let mut flows = h.flows();
            flows.sort_by_key(|(k, _)| (k.port_a.max(k.port_b), k.port_a.min(k.port_b)));
            assert_eq!(flows.len(), 101, "{what}");
            let (tails, firsts) = flows.split_first().unwrap();
            assert_eq!(
                (tails.0.port_a, tails.0.port_b, tails.0.protocol),
                (0, 0, 6)
            );
            assert_eq!(tails.1.packets(), 100, "{what}");
            for (i, (k, s)) in firsts.iter().enumerate() {
                let ports = (k.port_a.min(k.port_b), k.port_a.max(k.port_b));
                assert_eq!(ports, (80, 20000 + i as u16), "{what}");
                assert_eq!(s.packets(), 1, "{what}");
                assert_eq!(s.tcp_flag_counts, [0; 8], "{what}: flags are unknown");
                assert_eq!(s.payload_packets, 0, "{what}");
            }

            let starts = flow_starts(&mut ring);
            assert_eq!(starts.len(), 101, "{what}");
            assert_eq!(starts.iter().filter(|s| s.attempt == 1).count(), 100);

            // The kernel's totals plus what the tail flow holds uncredited: every fragment,
            // and every first fragment an attempt (credited at once).
            let kernel = totals(&mut hosts, victim);
            assert_eq!(
                kernel.syn_without_ack, 100,
                "{what}: attempts count at once"
            );
            let (all, row) = window_row(&h, &mut hosts, &starts, victim);
            assert_eq!(
                all,
                HostStats {
                    packets: 200,
                    bytes,
                    tcp_packets: 200,
                    syn_without_ack: 100,
                    answered: 0,
                },
                "{what}"
            );
            let f = |name: &str| row[HOST_FEATURES.iter().position(|n| *n == name).unwrap()];
            assert_eq!(
                (
                    f("packets_per_s"),
                    f("bytes_per_s"),
                    f("new_flows_per_s"),
                    f("distinct_sources"),
                    f("distinct_dst_ports"),
                    f("syn_without_ack_ratio"),
                    f("mean_packet_size"),
                ),
                (
                    200.0,
                    bytes as f64,
                    100.0,
                    1.0,
                    1.0,
                    0.5,
                    bytes as f64 / 200.0
                ),
                "{what}"
            );
        }
    }
}

#[test]
fn other_short_first_fragments_count_by_ports_without_being_attempts() {
    let (mut h, mut hosts, mut ring) = flood_harness();
    let udp = Frame(Vec::new()).udp(5000, 53, 0).0;
    let icmp = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let tcp = tcp_header(40000, 443, TCP_SYN);
    let frames = [
        // UDP cut after its ports: the flow of its ports, no attempt.
        Frame::eth(&[], ETH_IPV4)
            .ipv4(17, V4_A, V4_B, &[], 0x2000, 4)
            .bytes(&udp[..4]),
        // ICMP echo cut before its identifier: the L3 flow with ports 0.
        Frame::eth(&[], ETH_IPV4)
            .ipv4(1, V4_A, V4_B, &[], 0x2000, 4)
            .bytes(&icmp[..4]),
        // TCP cut before its destination port: the L3 flow, no attempt (nothing says
        // where it goes).
        Frame::eth(&[], ETH_IPV4)
            .ipv4(6, V4_A, V4_B, &[], 0x2000, 3)
            .bytes(&tcp[..3]),
        // A first fragment with the whole TCP header: parsed like a whole packet.
        Frame::eth(&[], ETH_IPV4)
            .ipv4(6, V4_A, V4_B, &[], 0x2000, 20 + 8)
            .tcp(40001, 443, TCP_SYN, 8),
    ];
    frames.iter().for_each(|f| h.run(&f.0, 1));
    assert_eq!(h.counter(Counter::ParseErrors), 0);
    assert_eq!(h.counter(Counter::ShortFirstFragments), 3);
    let mut keys: Vec<(u8, u16, u16, [u32; 8])> = h
        .flows()
        .iter()
        .map(|(k, s)| (k.protocol, k.port_a, k.port_b, s.tcp_flag_counts))
        .collect();
    keys.sort();
    let syn = [0, 1, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        keys,
        vec![
            (1, 0, 0, [0; 8]),
            (6, 0, 0, [0; 8]),
            (6, 40001, 443, syn),
            (17, 5000, 53, [0; 8]),
        ]
    );
    let starts = flow_starts(&mut ring);
    let attempts: Vec<u16> = starts
        .iter()
        .filter(|s| s.attempt == 1)
        .map(|s| s.key.port_a.min(s.key.port_b))
        .collect();
    assert_eq!(attempts, vec![443], "only the SYN with its flags");
    assert_eq!(totals(&mut hosts, host(V4_B)).syn_without_ack, 1);
}

#[test]
fn a_spoofed_tiny_fragment_flood_is_an_anomaly_for_the_shipped_host_model() {
    let model_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/host.pgm");
    let model = Model::load(model_path).expect("the shipped host model loads");
    let (mut h, mut hosts, mut ring) = flood_harness();
    let n = 2000u16;
    for i in 0..n {
        // Spoofed sources in 198.18.0.0/15, one SYN each toward the victim's port 80.
        let src = slot([198, 18, (i >> 8) as u8, i as u8]);
        for f in tiny_syn(false, src, slot(V4_B), 1024 + i) {
            h.run(&f, 1);
        }
    }
    let starts = flow_starts(&mut ring);
    let (all, row) = window_row(&h, &mut hosts, &starts, host(V4_B));
    assert_eq!((all.packets, all.syn_without_ack), (2 * n as u64, n as u64));
    let f = |name: &str| row[HOST_FEATURES.iter().position(|n| *n == name).unwrap()];
    assert_eq!(
        (f("new_flows_per_s"), f("distinct_sources")),
        (n as f64, n as f64)
    );
    let schema_row: Vec<f64> = model.schema().names().map(f).collect();
    let score = model.score_one(&schema_row);
    assert!(
        score > model.threshold(),
        "the flood scores {score}, above the threshold {}",
        model.threshold()
    );
}
