//! A hand-built capture folded into exact flow records.

use packetguard_common::{
    key::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP},
    FlowKey, FlowRecord, HostKey, HostStats, RecordReason,
};

use super::{fold_file, frames::*};
use crate::capture::flows::FlowCounts;

pub const T0: u64 = 1_700_000_000_250_000_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn w4(a: [u8; 4]) -> [u32; 4] {
    [u32::from_ne_bytes(a), 0, 0, 0]
}

fn w6(a: [u8; 16]) -> [u32; 4] {
    let w = |i: usize| u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    [w(0), w(4), w(8), w(12)]
}

pub fn key4(proto: u8, sport: u16, dport: u16) -> (FlowKey, bool) {
    FlowKey::canonical(4, proto, w4(V4_A), sport, w4(V4_B), dport)
}

/// The test's traffic, as (capture time, Ethernet frame): a TCP connection (handshake,
/// data, FIN both ways, the last ACK), a UDP exchange and an ARP frame; 20 s later an
/// ICMP echo and its reply, an IPv6 UDP datagram, a VLAN-tagged SYN and a fragmented UDP
/// datagram (first fragment and tail).
pub fn traffic() -> Vec<(u64, Vec<u8>)> {
    let (a, b) = (V4_A, V4_B);
    let at = |ms: u64| T0 + ms * MS;
    let later = |ms: u64| T0 + 20 * S + ms * MS;
    vec![
        (at(0), tcp_v4(a, b, 40000, 80, 0x02, 0)),
        (at(1), tcp_v4(b, a, 80, 40000, 0x12, 0)),
        (at(2), tcp_v4(a, b, 40000, 80, 0x10, 0)),
        (at(3), tcp_v4(a, b, 40000, 80, 0x18, 100)),
        (at(4), tcp_v4(b, a, 80, 40000, 0x10, 0)),
        (at(5), tcp_v4(a, b, 40000, 80, 0x11, 0)),
        (at(6), tcp_v4(b, a, 80, 40000, 0x11, 0)),
        (at(7), tcp_v4(a, b, 40000, 80, 0x10, 0)),
        (
            at(10),
            F::eth(&[], 0x0800)
                .ipv4(17, a, b, &[], 0, 38)
                .udp(5353, 53, 30)
                .0,
        ),
        (
            at(11),
            F::eth(&[], 0x0800)
                .ipv4(17, b, a, &[], 0, 68)
                .udp(53, 5353, 60)
                .0,
        ),
        (at(12), F::eth(&[], 0x0806).zeros(28).0),
        (
            later(0),
            F::eth(&[], 0x0800)
                .ipv4(1, a, b, &[], 0, 64)
                .icmp(8, 7, 56)
                .0,
        ),
        (
            later(1),
            F::eth(&[], 0x0800)
                .ipv4(1, b, a, &[], 0, 64)
                .icmp(0, 7, 56)
                .0,
        ),
        (
            later(2),
            F::eth(&[], 0x86DD)
                .ipv6(17, V6_A, V6_B, 18)
                .udp(6000, 6001, 10)
                .0,
        ),
        (
            later(3),
            F::eth(&[(0x8100, 10)], 0x0800)
                .ipv4(6, a, b, &[], 0, 20)
                .tcp(41000, 443, 0x02, 0)
                .0,
        ),
        (
            later(4),
            F::eth(&[], 0x0800)
                .ipv4(17, a, b, &[], 0x2000, 108)
                .udp(7000, 7001, 100)
                .0,
        ),
        (
            later(5),
            F::eth(&[], 0x0800).ipv4(17, a, b, &[], 14, 60).zeros(60).0,
        ),
    ]
}

/// (reason, forward packets, backward packets, forward bytes, backward bytes, flag counts)
type Summary = (u32, u64, u64, u64, u64, [u32; 8]);

fn summary(r: &FlowRecord) -> Summary {
    let s = &r.stats;
    (
        r.reason,
        s.fwd_packets,
        s.bwd_packets,
        s.fwd_bytes,
        s.bwd_bytes,
        s.tcp_flag_counts,
    )
}

const NO_FLAGS: [u32; 8] = [0; 8];

#[test]
fn a_hand_built_capture_folds_into_exact_records() {
    let (got, counts, stopped) = fold_file("hand.pcap", pcap(1, &traffic()));
    assert!(stopped.is_none());
    use RecordReason::*;

    let (tcp, src_is_a) = key4(IPPROTO_TCP, 40000, 80);
    let recs = got.of(&tcp);
    let sums: Vec<Summary> = recs.iter().map(|r| summary(r)).collect();
    assert_eq!(
        sums,
        vec![
            // SYN, ACK, data, FIN forward; SYN-ACK, ACK, FIN back. Flags in wire order:
            // fin, syn, rst, psh, ack, urg, ece, cwr.
            (
                FlowEnd as u32,
                4,
                3,
                54 * 3 + 154,
                54 * 3,
                [2, 2, 0, 1, 6, 0, 0, 0]
            ),
            // The last ACK, exported when the flow went idle.
            (IdleTimeout as u32, 1, 0, 54, 0, [0, 0, 0, 0, 1, 0, 0, 0]),
        ]
    );
    let end = &recs[0].stats;
    assert_eq!(
        end.fwd_is_a, src_is_a as u8,
        "the SYN's sender opened the flow"
    );
    assert_eq!(
        (end.flow_start_ns, end.first_seen_ns, end.last_seen_ns),
        (T0, T0, T0 + 6 * MS)
    );
    assert_eq!(
        (end.payload_packets, end.init_win_fwd, end.init_win_bwd),
        (1, 0x7210, 0x7210)
    );
    assert_eq!(
        (end.len_min, end.len_max, end.ttl_min, end.records),
        (54, 154, 64, 0)
    );
    assert_eq!((end.iat_count, end.iat_min_ns, end.iat_max_ns), (6, MS, MS));
    assert_eq!(recs[1].stats.records, 1);

    let udp = key4(IPPROTO_UDP, 5353, 53).0;
    let sums: Vec<Summary> = got.of(&udp).iter().map(|r| summary(r)).collect();
    assert_eq!(sums, vec![(IdleTimeout as u32, 1, 1, 72, 102, NO_FLAGS)]);

    let icmp = key4(IPPROTO_ICMP, 7, 7).0;
    let sums: Vec<Summary> = got.of(&icmp).iter().map(|r| summary(r)).collect();
    assert_eq!(
        sums,
        vec![(Shutdown as u32, 1, 1, 98, 98, NO_FLAGS)],
        "one flow by echo id"
    );

    let v6 = FlowKey::canonical(6, IPPROTO_UDP, w6(V6_A), 6000, w6(V6_B), 6001).0;
    let sums: Vec<Summary> = got.of(&v6).iter().map(|r| summary(r)).collect();
    assert_eq!(
        sums,
        vec![(Shutdown as u32, 1, 0, 14 + 40 + 8 + 10, 0, NO_FLAGS)]
    );

    let vlan = key4(IPPROTO_TCP, 41000, 443).0;
    let sums: Vec<Summary> = got.of(&vlan).iter().map(|r| summary(r)).collect();
    let syn = [0, 1, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        sums,
        vec![(Shutdown as u32, 1, 0, 58, 0, syn)],
        "the tag counts 4 bytes"
    );

    let first = key4(IPPROTO_UDP, 7000, 7001).0;
    let tail = key4(IPPROTO_UDP, 0, 0).0;
    let sums: Vec<Summary> = [first, tail]
        .iter()
        .flat_map(|k| got.of(k))
        .map(summary)
        .collect();
    assert_eq!(
        sums,
        vec![
            (Shutdown as u32, 1, 0, 142, 0, NO_FLAGS),
            (Shutdown as u32, 1, 0, 94, 0, NO_FLAGS)
        ],
        "the first fragment by its ports, the tail on the L3 flow"
    );
    assert_eq!(got.records.len(), 8, "no other record");
    assert_eq!(got.starts.len(), 7, "one start per flow");
    assert!(got.starts.iter().all(|s| s.ts_ns >= T0));

    assert_eq!(
        (
            counts.packets,
            counts.non_ip,
            counts.parse_errors,
            counts.fragments
        ),
        (17, 1, 0, 1)
    );
    assert_eq!(
        counts.flows,
        FlowCounts {
            created: 7,
            ended: 1,
            records: 1,
            expired: 2,
            ..FlowCounts::default()
        }
    );
}

#[test]
fn hosts_get_every_packet_they_received_once_credited_or_late() {
    let (got, _, _) = fold_file("hand.pcap", pcap(1, &traffic()));
    let server = HostKey {
        addr: w4(V4_B),
        ip_version: 4,
        _pad: [0; 3],
    };
    let credited = got.last_dst[&server];
    let late = got.late_dst.get(&server).copied().unwrap_or_default();
    let all = credited.plus(&late);
    // TCP 5 packets (370 bytes), UDP 72, ICMP 98, the tagged SYN 58, fragments 142 + 94.
    assert_eq!(
        all,
        HostStats {
            packets: 10,
            bytes: 370 + 72 + 98 + 58 + 142 + 94,
            tcp_packets: 6,
            syn_without_ack: 2,
            answered: 0,
        }
    );
    // The windows: one close per second while flows were live, none over the quiet
    // stretch after they expired, and the last one at the end.
    let ends: Vec<u64> = got.windows.iter().map(|(end, _)| *end).collect();
    let first = (T0 / S + 1) * S;
    assert_eq!(
        ends[..16],
        (0..16).map(|i| first + i * S).collect::<Vec<_>>()[..]
    );
    assert_eq!(
        ends.len(),
        17,
        "16 up to the expiry, then only the last one"
    );
    assert_eq!(
        ends[16],
        first + 20 * S,
        "the boundary after the last packet"
    );
}
