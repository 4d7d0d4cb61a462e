//! Every link type and both file formats give the same flows for the same packets.

use packetguard_common::FlowRecord;

use super::{flows::traffic, fold_file, frames::*};

fn records(name: &str, bytes: Vec<u8>) -> Vec<FlowRecord> {
    let (got, _, stopped) = fold_file(name, bytes);
    assert!(stopped.is_none(), "{name}: {stopped:?}");
    got.records
}

#[test]
fn ethernet_sll_sll2_and_pcapng_give_the_same_flows() {
    let eth = traffic();
    let want = records("eth.pcap", pcap(1, &eth));
    assert_eq!(want.len(), 8);
    let sll: Vec<_> = eth.iter().map(|(t, f)| (*t, to_sll(f))).collect();
    let sll2: Vec<_> = eth.iter().map(|(t, f)| (*t, to_sll2(f))).collect();
    assert_eq!(records("sll.pcap", pcap(113, &sll)), want);
    assert_eq!(records("sll2.pcap", pcap(276, &sll2)), want);
    assert_eq!(records("eth-ns.pcapng", pcapng(1, 9, &eth)), want);
    assert_eq!(records("sll2-ns.pcapng", pcapng(276, 9, &sll2)), want);
    // Default pcapng resolution: microseconds. The traffic's times are whole microseconds.
    assert_eq!(records("eth-us.pcapng", pcapng(1, 6, &eth)), want);
}

#[test]
fn raw_ip_gives_the_same_flows_as_ethernet() {
    // Raw IP has no VLAN tags and no ARP: the untagged IP packets only.
    let eth: Vec<_> = traffic()
        .into_iter()
        .filter(|(_, f)| f[12..14] == [0x08, 0x00] || f[12..14] == [0x86, 0xdd])
        .collect();
    let want = records("eth.pcap", pcap(1, &eth));
    assert_eq!(want.len(), 7, "the tagged SYN's flow is not in these");
    let raw: Vec<_> = eth.iter().map(|(t, f)| (*t, f[14..].to_vec())).collect();
    assert_eq!(records("raw.pcap", pcap(101, &raw)), want);
    let v4: Vec<_> = raw
        .iter()
        .filter(|(_, f)| f[0] >> 4 == 4)
        .cloned()
        .collect();
    let v6: Vec<_> = raw
        .iter()
        .filter(|(_, f)| f[0] >> 4 == 6)
        .cloned()
        .collect();
    let mut split = records("v4.pcap", pcap(228, &v4));
    split.extend(records("v6.pcap", pcap(229, &v6)));
    let mut want_sorted = want.clone();
    let by_key = |r: &FlowRecord| (r.key, r.stats.flow_start_ns, r.stats.records);
    want_sorted.sort_by_key(by_key);
    split.sort_by_key(by_key);
    assert_eq!(
        split, want_sorted,
        "one file per IP version, the same flows"
    );
}
