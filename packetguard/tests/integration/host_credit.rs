//! The host map as the XDP program credits it from the flow map, through
//! `BPF_PROG_TEST_RUN`: connection attempts count at once, a flow's end credits both
//! directions, and what a busy flow has not credited yet is in its flow entry, so the two
//! together always hold every packet. The host map is read the way the agent reads it,
//! in per-CPU batches.

use packetguard::datapath::hosts::HostTable;
use packetguard_common::{
    record::{TCP_ACK, TCP_RST, TCP_SYN},
    HostKey, HostStats,
};

use crate::{
    frames::*,
    parser::{harness, Harness},
};

/// The key of an IPv4 address in the destination and source maps.
pub fn host(addr: [u8; 4]) -> HostKey {
    HostKey {
        addr: [u32::from_ne_bytes(addr), 0, 0, 0],
        ip_version: 4,
        _pad: [0; 3],
    }
}

/// An address's totals summed over CPUs, as the agent reads them (from the destination or
/// the source map); zero when it has no entry.
pub fn totals(hosts: &mut HostTable, h: HostKey) -> HostStats {
    let mut found = None;
    hosts
        .for_each_total(|key, t| {
            if key == h {
                assert!(found.replace(t).is_none(), "{h:?} read twice");
            }
        })
        .unwrap();
    found.unwrap_or_default()
}

fn run_all(h: &mut Harness, frames: &[Vec<u8>]) -> u64 {
    frames.iter().for_each(|f| h.run(f, 1));
    frames.iter().map(|f| f.len() as u64).sum()
}

#[test]
fn a_reset_connection_credits_both_hosts_exactly() {
    let mut h = harness();
    let mut hosts = HostTable::new(h.dp.take_hosts().unwrap()).unwrap();
    let to_server = [
        tcp_v4(V4_A, V4_B, 40000, 80, TCP_SYN, 0),
        tcp_v4(V4_A, V4_B, 40000, 80, TCP_ACK, 100),
        tcp_v4(V4_A, V4_B, 40000, 80, TCP_ACK, 200),
    ];
    let to_client = [
        tcp_v4(V4_B, V4_A, 80, 40000, TCP_SYN | TCP_ACK, 0),
        tcp_v4(V4_B, V4_A, 80, 40000, TCP_ACK, 1000),
    ];
    let server_bytes = run_all(&mut h, &to_server[..1]);
    let client_bytes = run_all(&mut h, &to_client);
    let server_bytes = server_bytes + run_all(&mut h, &to_server[1..]);
    let rst = tcp_v4(V4_A, V4_B, 40000, 80, TCP_RST | TCP_ACK, 0);
    h.run(&rst, 1);

    assert_eq!(
        totals(&mut hosts, host(V4_B)),
        HostStats {
            packets: 4,
            bytes: server_bytes + rst.len() as u64,
            tcp_packets: 4,
            syn_without_ack: 1,
            answered: 0,
        },
        "the server: SYN, two ACKs, RST"
    );
    assert_eq!(
        totals(&mut hosts, host(V4_A)),
        HostStats {
            packets: 2,
            bytes: client_bytes,
            tcp_packets: 2,
            syn_without_ack: 0,
            answered: 0,
        },
        "the client: SYN-ACK, ACK (a SYN-ACK is no connection attempt)"
    );
}

#[test]
fn every_syn_of_a_flood_reaches_the_host_at_once() {
    let mut h = harness();
    let mut hosts = HostTable::new(h.dp.take_hosts().unwrap()).unwrap();
    let syns: Vec<Vec<u8>> = (0..200u16)
        .map(|i| tcp_v4(V4_A, V4_B, 20000 + i, 80, TCP_SYN, 0))
        .collect();
    let bytes = run_all(&mut h, &syns);
    // One more SYN on a flow that exists: a retransmission is a connection attempt too.
    h.run(&syns[0], 1);
    let t = totals(&mut hosts, host(V4_B));
    assert_eq!(
        (t.packets, t.syn_without_ack, t.bytes),
        (201, 201, bytes + syns[0].len() as u64)
    );
}

#[test]
fn a_busy_flow_holds_in_its_entry_what_the_host_map_does_not_have_yet() {
    let mut h = harness();
    let mut hosts = HostTable::new(h.dp.take_hosts().unwrap()).unwrap();
    let f = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &[], 0, 8 + 64)
        .udp(5353, 53, 64)
        .0;
    let n = 5000;
    h.run(&f, n);
    let credited = totals(&mut hosts, host(V4_B));
    assert!(credited.packets >= 1, "the first packet credits at once");
    let entries = h.entries();
    assert_eq!(entries.len(), 1);
    let (key, entry) = entries[0];
    let [(to, fwd), (_, bwd)] = entry.uncredited_hosts(&key);
    assert_eq!(to, host(V4_B));
    assert_eq!(bwd, HostStats::default());
    assert_eq!(
        (credited.packets + fwd.packets, credited.bytes + fwd.bytes),
        (n as u64, n as u64 * f.len() as u64),
        "credited plus uncredited is every packet"
    );
    assert_eq!((credited.tcp_packets, fwd.tcp_packets), (0, 0));
}
