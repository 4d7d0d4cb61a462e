use std::{io::Cursor, net::IpAddr, path::Path, time::Duration};

use packetguard_common::{
    record::{TCP_ACK, TCP_SYN},
    RecordReason,
};

use super::*;
use crate::pipeline::offline::{packets::PacketFolder, test_stage::Recorder};

#[test]
fn info_gives_ports_flags_window_and_payload() {
    assert_eq!(
        parse_info("443 → 51234 [SYN, ACK] Seq=0 Ack=1 Win=65535 Len=0 MSS=1460"),
        Some(InfoHeader {
            src_port: 443,
            dst_port: 51234,
            flags: TCP_SYN | TCP_ACK,
            window: Some(65535),
            payload: Some(0),
        })
    );
    assert_eq!(
        parse_info("51234 > 53 Len=32"),
        Some(InfoHeader {
            src_port: 51234,
            dst_port: 53,
            flags: 0,
            window: None,
            payload: Some(32),
        })
    );
    assert_eq!(parse_info("Standard query 0x1a2b A example.com"), None);
    assert_eq!(parse_info("Application Data"), None);
}

#[test]
fn times_are_seconds_or_utc_dates() {
    // Since the capture's start, placed one second after the epoch.
    assert_eq!(parse_time("0.000123"), Some(1_000_123_000));
    assert_eq!(parse_time("12"), Some(13_000_000_000));
    assert_eq!(parse_time("1705312800.5"), Some(1_705_312_800_500_000_000));
    assert_eq!(
        parse_time("2024-01-15 10:00:00.5"),
        Some(1_705_312_800_500_000_000)
    );
    assert_eq!(parse_time("1970-01-01 00:00:01"), Some(1_000_000_000));
    assert_eq!(parse_time("yesterday"), None);
    assert_eq!(parse_time("-1"), None);
}

const CLIENT: &str = "192.0.2.10";
const SERVER: &str = "198.51.100.20";

fn list(rows: &[(&str, &str, &str, &str, u32, &str)]) -> String {
    let mut text = String::new();
    for (i, (time, src, dst, proto, len, info)) in rows.iter().enumerate() {
        text.push_str(&format!(
            "\"{}\",\"{time}\",\"{src}\",\"{dst}\",\"{proto}\",\"{len}\",\"{info}\"\n",
            i + 1
        ));
    }
    text
}

fn run(text: &str) -> (Recorder, PacketList<Cursor<Vec<u8>>>, SourceStats) {
    let folder = PacketFolder::new(Duration::from_secs(15), Duration::from_secs(60), 1024);
    let mut src = PacketList::new(
        Path::new("t.csv"),
        Cursor::new(text.as_bytes().to_vec()),
        folder,
    );
    let mut rec = Recorder::new();
    let stats = src.run(&mut rec, &mut |_| {}).unwrap();
    (rec, src, stats)
}

#[test]
fn a_tcp_conversation_and_a_dns_exchange_make_two_exact_flows() {
    let text = list(&[
        (
            "0.000000",
            CLIENT,
            SERVER,
            "TCP",
            74,
            "51234 → 443 [SYN] Seq=0 Win=64240 Len=0",
        ),
        (
            "0.001000",
            SERVER,
            CLIENT,
            "TCP",
            74,
            "443 → 51234 [SYN, ACK] Seq=0 Ack=1 Win=65160 Len=0",
        ),
        (
            "0.002000",
            CLIENT,
            SERVER,
            "TCP",
            66,
            "51234 → 443 [ACK] Seq=1 Ack=1 Win=64256 Len=0",
        ),
        ("0.003000", CLIENT, SERVER, "TLSv1.3", 583, "Client Hello"),
        (
            "0.010000",
            SERVER,
            CLIENT,
            "TCP",
            1514,
            "443 → 51234 [PSH, ACK] Seq=1 Ack=518 Win=65000 Len=1448",
        ),
        (
            "1.500000",
            CLIENT,
            SERVER,
            "TCP",
            66,
            "51234 → 443 [FIN, ACK] Seq=518 Ack=1449 Win=64256 Len=0",
        ),
        (
            "1.600000",
            CLIENT,
            "192.0.2.53",
            "DNS",
            80,
            "Standard query 0x1a2b A example.com",
        ),
        (
            "1.650000",
            "192.0.2.53",
            CLIENT,
            "DNS",
            96,
            "Standard query response 0x1a2b A example.com",
        ),
        (
            "1.700000",
            "aa:bb:cc:dd:ee:ff",
            "Broadcast",
            "ARP",
            42,
            "Who has 192.0.2.1?",
        ),
    ]);
    let (rec, src, stats) = run(&text);
    assert_eq!(stats, SourceStats { read: 8, flows: 2 });
    assert_eq!((src.skipped, src.without_header), (1, 3));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut flows = rec.flows.clone();
    flows.sort_by_key(|f| f.endpoints.dst_port);
    assert_eq!(flows.len(), 2);
    let dns = &flows[0];
    assert_eq!(
        (dns.endpoints.src, dns.endpoints.dst, dns.endpoints.protocol),
        (ip(CLIENT), ip("192.0.2.53"), 17)
    );
    assert_eq!((dns.packets, dns.bytes), ((1, 1), (80, 96)));
    let tcp = &flows[1];
    assert_eq!(
        (
            tcp.endpoints.src,
            tcp.endpoints.src_port,
            tcp.endpoints.dst,
            tcp.endpoints.dst_port
        ),
        (ip(CLIENT), 51234, ip(SERVER), 443)
    );
    assert_eq!(tcp.packets, (4, 2));
    assert_eq!(tcp.bytes, (74 + 66 + 583 + 66, 74 + 1514));
    assert_eq!(tcp.syn_count, 2);
    assert_eq!(tcp.reason, RecordReason::Shutdown as u32);
    // The handshake's SYN opened the TCP flow; the DNS query opened its flow.
    assert_eq!(
        rec.starts,
        [
            (ip(CLIENT), 1_000_000_000, 1),
            (ip(CLIENT), 2_600_000_000, 0)
        ]
    );
    // Two seconds closed. The address totals are credited as the kernel credits them: a
    // direction's first packet and a connection attempt at once, the rest at most every
    // 100 ms, and what is left when the flow is removed goes with it.
    assert_eq!(rec.seconds.len(), 2);
    let first = &rec.seconds[0].1;
    assert_eq!(first[&ip(SERVER)].packets, 1, "the SYN");
    assert_eq!(first[&ip(SERVER)].syn_without_ack, 1);
    assert_eq!(first[&ip(CLIENT)].bytes, 74, "the SYN-ACK");
    assert_eq!(rec.sent[0][&ip(CLIENT)].answered, 1, "the SYN-ACK answered");
    let second = &rec.seconds[1].1;
    assert_eq!(
        second[&ip(SERVER)].packets,
        3,
        "ACK, Client Hello and FIN at the FIN"
    );
    assert_eq!(second[&ip("192.0.2.53")].packets, 1);
    assert_eq!(second[&ip(CLIENT)].packets, 1);
    // The server's data segment, 9 ms after its SYN-ACK, was never due: it is the removed
    // flow's late credit to the client.
    assert_eq!(rec.late, [(ip(CLIENT), 1, 1514)]);
}

#[test]
fn seconds_without_packets_are_closed_one_by_one_on_capture_time() {
    let text = list(&[
        ("100.0", CLIENT, SERVER, "UDP", 60, "40000 → 9 Len=18"),
        ("103.5", CLIENT, SERVER, "UDP", 60, "40000 → 9 Len=18"),
    ]);
    let (rec, _, _) = run(&text);
    let times: Vec<u64> = rec.seconds.iter().map(|(t, _)| t / 1_000_000).collect();
    assert_eq!(times, [102_000, 103_000, 104_000, 105_000]);
    assert_eq!(rec.flows[0].packets, (2, 0));
}

#[test]
fn a_short_row_is_one_line_naming_the_file_and_line() {
    let text = format!(
        "{}\"2\",\"0.1\",\"{CLIENT}\"\n",
        list(&[("0.0", CLIENT, SERVER, "UDP", 60, "1 → 2 Len=18")])
    );
    let folder = PacketFolder::new(Duration::from_secs(15), Duration::from_secs(60), 1024);
    let mut src = PacketList::new(Path::new("t.csv"), Cursor::new(text.into_bytes()), folder);
    let err = src.run(&mut Recorder::new(), &mut |_| {}).unwrap_err();
    assert_eq!(err.to_string(), "t.csv line 3: bad row: 3 fields, not 7");
}

#[test]
fn every_listed_packet_is_traffic_ip_or_not() {
    let text = list(&[
        ("0.500000", CLIENT, SERVER, "UDP", 60, "40000 → 9 Len=18"),
        (
            "0.700000",
            "02:00:00:00:00:01",
            "Broadcast",
            "ARP",
            42,
            "Who has 198.51.100.20? Tell 192.0.2.10",
        ),
        ("2.000000", SERVER, CLIENT, "UDP", 70, "9 → 40000 Len=28"),
    ]);
    let (rec, _, stats) = run(&text);
    assert_eq!(stats.read, 2);
    assert_eq!(
        rec.traffic,
        [
            (1_500_000_000, 1, 60),
            (1_700_000_000, 1, 42),
            (3_000_000_000, 1, 70)
        ]
    );
}
