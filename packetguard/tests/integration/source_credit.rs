//! The source map as the kernel credits it from the flow map, through
//! `BPF_PROG_TEST_RUN`: every packet an address sends reaches its source entry (at once for
//! a connection attempt), and a flow's first reply tells its opener whether the attempt was
//! answered (a SYN-ACK, a UDP answer) or not (a reset, silence). The map is read the way
//! the agent reads it, in per-CPU batches.

use packetguard::datapath::hosts::HostTable;
use packetguard_common::{
    record::{TCP_ACK, TCP_RST, TCP_SYN},
    HostKey, HostStats,
};

use crate::{
    frames::*,
    host_credit::{host as address, totals},
    parser::harness,
};

#[test]
fn what_each_end_sent_and_whether_its_attempt_was_answered() {
    let mut h = harness();
    let mut sources = HostTable::new(h.dp.take_sources().unwrap()).unwrap();
    // An answered connection from A to B, ended by A's reset.
    let syn = tcp_v4(V4_A, V4_B, 40000, 80, TCP_SYN, 0);
    let syn_ack = tcp_v4(V4_B, V4_A, 80, 40000, TCP_SYN | TCP_ACK, 0);
    let ack = tcp_v4(V4_A, V4_B, 40000, 80, TCP_ACK, 100);
    let rst = tcp_v4(V4_A, V4_B, 40000, 80, TCP_RST | TCP_ACK, 0);
    // A refused one: B resets A's SYN to port 9.
    let syn9 = tcp_v4(V4_A, V4_B, 40001, 9, TCP_SYN, 0);
    let rst9 = tcp_v4(V4_B, V4_A, 9, 40001, TCP_RST | TCP_ACK, 0);
    // An unanswered one.
    let syn10 = tcp_v4(V4_A, V4_B, 40002, 10, TCP_SYN, 0);
    for f in [&syn, &syn_ack, &ack, &rst, &syn9, &rst9, &syn10] {
        h.run(f, 1);
    }
    let a = totals(&mut sources, address(V4_A));
    let sent_by_a = [&syn, &ack, &rst, &syn9, &syn10];
    assert_eq!(
        a,
        HostStats {
            packets: 5,
            bytes: sent_by_a.iter().map(|f| f.len() as u64).sum(),
            tcp_packets: 5,
            syn_without_ack: 3,
            answered: 1,
        },
        "A sent three attempts; only the SYN-ACK answered one"
    );
    let b = totals(&mut sources, address(V4_B));
    assert_eq!(
        (b.packets, b.bytes, b.syn_without_ack, b.answered),
        (2, (syn_ack.len() + rst9.len()) as u64, 0, 0),
        "B opened nothing"
    );
}

#[test]
fn a_udp_answer_counts_once_per_flow() {
    let mut h = harness();
    let mut sources = HostTable::new(h.dp.take_sources().unwrap()).unwrap();
    let query = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &[], 0, 8 + 32)
        .udp(5353, 53, 32)
        .0;
    let answer = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_B, V4_A, &[], 0, 8 + 64)
        .udp(53, 5353, 64)
        .0;
    h.run(&query, 1);
    h.run(&answer, 3);
    h.run(&query, 1);
    // Each direction's first packet credits at once; the rest waits in the flow entry
    // for its direction's next credit (at most 100 ms).
    let entries = h.entries();
    assert_eq!(entries.len(), 1);
    let (key, entry) = entries[0];
    let waiting = |sender: HostKey| -> HostStats {
        entry
            .uncredited_sources(&key)
            .into_iter()
            .filter(|(from, _)| *from == sender)
            .fold(HostStats::default(), |acc, (_, d)| acc.plus(&d))
    };
    let a = totals(&mut sources, address(V4_A)).plus(&waiting(address(V4_A)));
    assert_eq!(
        (a.packets, a.bytes, a.answered),
        (2, 2 * query.len() as u64, 1),
        "two queries, one answered flow: {a:?}"
    );
    let b = totals(&mut sources, address(V4_B)).plus(&waiting(address(V4_B)));
    assert_eq!(
        (b.packets, b.bytes, b.answered),
        (3, 3 * answer.len() as u64, 0),
        "B answered and opened nothing: {b:?}"
    );
}
