//! simulate -> analyze -> evaluate: every attack `simulate` injects at its default rate
//! into benign traffic is found by the shipped models, by the detector meant to catch it.

use std::fs;
use std::path::Path;
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::DataLink;

use crate::collect_agent::{assert_ok, packetguard};
use crate::simulate::support::{write_pcap, Scratch};

const T0_US: u64 = 1_700_000_000_000_000;
const CLIENTS: [[u8; 4]; 3] = [[192, 0, 2, 1], [192, 0, 2, 2], [192, 0, 2, 3]];
const WEB: [u8; 4] = [192, 0, 2, 10];
const DNS: [u8; 4] = [192, 0, 2, 53];
/// Benign seconds of the capture.
const SECONDS: u64 = 200;

/// One frame between two hosts of the office.
fn frame(src: [u8; 4], dst: [u8; 4], tcp: Option<(u16, u16, u8)>, payload: usize) -> Vec<u8> {
    let mac = |ip: [u8; 4]| [0x02, 0xaa, 0, 0, 0, ip[3]];
    let b = PacketBuilder::ethernet2(mac(src), mac(dst)).ipv4(src, dst, 64);
    let mut out = Vec::new();
    let body = vec![0x5a; payload];
    match tcp {
        Some((sp, dp, flags)) => {
            let mut t = b.tcp(sp, dp, 1000, 64240);
            if flags & 0x02 != 0 {
                t = t.syn();
            }
            if flags & 0x10 != 0 {
                t = t.ack(1);
            }
            if flags & 0x01 != 0 {
                t = t.fin();
            }
            if flags & 0x08 != 0 {
                t = t.psh();
            }
            t.write(&mut out, &body).unwrap();
        }
        None => b.udp(53000, 53).write(&mut out, &body).unwrap(),
    }
    out
}

/// A small office's traffic: three clients, each every two seconds looking up a name and
/// fetching a page over a short TCP connection (handshake, request, eight segments of
/// response, close both ways).
fn office() -> Vec<(Duration, Vec<u8>)> {
    let mut packets = Vec::new();
    for s in 0..SECONDS / 2 {
        for (c, client) in CLIENTS.iter().enumerate() {
            let mut t = T0_US + s * 2_000_000 + c as u64 * 611_000;
            let mut push = |gap_us: u64, data: Vec<u8>| {
                t += gap_us;
                packets.push((Duration::from_micros(t), data));
            };
            let port = 40000 + (s as u16) * 3 + c as u16;
            push(0, frame(*client, DNS, None, 40));
            let mut answer = frame(DNS, *client, None, 80);
            // The answer comes from port 53 back to the client's port.
            answer[34..38].copy_from_slice(&[0, 53, 0xcf, 0x08]);
            push(900, answer);
            let to = |f: u8, n: usize| frame(*client, WEB, Some((port, 443, f)), n);
            let from = |f: u8, n: usize| frame(WEB, *client, Some((443, port, f)), n);
            push(1_000, to(0x02, 0));
            push(800, from(0x12, 0));
            push(800, to(0x10, 0));
            push(200, to(0x18, 320));
            for _ in 0..8 {
                push(1_500, from(0x10, 1448));
            }
            push(300, to(0x10, 0));
            push(20_000, to(0x11, 0));
            push(800, from(0x11, 0));
            push(800, to(0x10, 0));
        }
    }
    packets.sort_by_key(|p| p.0);
    packets
}

/// Each attack, where it starts (seconds into the capture), and the detector meant to
/// catch it at its default rate.
const ATTACKS: [(&str, u64, &str); 6] = [
    ("syn-flood", 10, "host"),
    ("udp-flood", 40, "source"),
    ("vertical-scan", 70, "host"),
    ("horizontal-scan", 100, "source"),
    ("brute-force", 130, "source"),
    ("exfiltration", 160, "flow"),
];

#[test]
fn every_attack_simulated_at_its_default_rate_is_found() {
    let dir = Scratch::new("evaluate");
    let (input, out, labels) = (
        dir.path("office.pcap"),
        dir.path("labelled.pcap"),
        dir.path("labels.csv"),
    );
    let benign = office();
    assert_eq!(benign.len(), 300 * 18);
    write_pcap(&input, DataLink::ETHERNET, &benign);
    let specs: Vec<String> = ATTACKS
        .iter()
        .map(|(kind, start, _)| format!("{kind}:start={start}"))
        .collect();
    let mut args = vec![
        "simulate",
        "--input",
        &input,
        "--out",
        &out,
        "--labels",
        &labels,
        "--victim",
        "192.0.2.10",
    ];
    for s in &specs {
        args.extend(["--attack", s.as_str()]);
    }
    assert_ok(&packetguard(&args));
    let text = fs::read_to_string(&labels).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    // The label counts of the defaults: 10 s at each attack's default rate. The vertical
    // scan's probe of 443, a port the victim answered in the capture, is a SYN, SYN-ACK and
    // RST (three packets, not two); the exfiltration's transfer has a handshake and close.
    let expect = [
        ("syn-flood", "203.0.113.66", 20000),
        ("udp-flood", "203.0.113.67", 20000),
        ("vertical-scan", "203.0.113.68", 10001),
        ("horizontal-scan", "203.0.113.69", 2008),
        ("brute-force", "203.0.113.70", 1200),
        ("exfiltration", "203.0.113.71", 150006),
    ];
    assert_eq!(rows.len(), expect.len(), "{text}");
    for (row, (kind, attacker, packets)) in rows.iter().zip(expect) {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(
            (f[0], f[1], f[5]),
            (kind, attacker, &*packets.to_string()),
            "{row}"
        );
    }

    let rows_dir = dir.path("rows");
    let eval = packetguard(&[
        "evaluate", "--input", &out, "--labels", &labels, "--json", "--rows", &rows_dir,
    ]);
    assert_ok(&eval);
    let json: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    scored_rows_are_the_verdicts(&json, Path::new(&rows_dir));
    let attacks = json["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), ATTACKS.len());
    for (a, (kind, start, detector)) in attacks.iter().zip(ATTACKS) {
        assert_eq!(a["attack"], kind);
        let start_s = a["start_ns"].as_u64().unwrap() / 1_000_000_000;
        assert_eq!(start_s, T0_US / 1_000_000 + start, "{kind}");
        let delay = a["delays"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["detector"] == detector)
            .unwrap_or_else(|| panic!("{kind}: no {detector} verdicts: {a}"));
        let s = delay["delay_s"].as_f64();
        assert!(
            s.is_some_and(|s| (0.0..=26.0).contains(&s)),
            "{kind}: {detector} missed it: {a}"
        );
    }
    // The table form names every attack once.
    let table = packetguard(&["evaluate", "--input", &out, "--labels", &labels]);
    assert_ok(&table);
    let table = String::from_utf8_lossy(&table.stdout);
    for (kind, _, _) in ATTACKS {
        assert_eq!(table.matches(kind).count(), 1, "{table}");
    }
}

/// `--rows` wrote, per model detector, one row per verdict with the label the evaluation
/// gave it: the counts are the detector's, and the ROC AUC of the rows' scores and labels
/// is the one the evaluation printed.
fn scored_rows_are_the_verdicts(json: &serde_json::Value, rows_dir: &Path) {
    let mut seen = 0;
    for d in json["detectors"].as_array().unwrap() {
        let name = d["detector"].as_str().unwrap();
        if name == "threshold" {
            continue;
        }
        let text = std::fs::read_to_string(rows_dir.join(format!("{name}.csv")))
            .unwrap_or_else(|e| panic!("{name}.csv: {e}"));
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header[..2], ["attack", "score"], "{name}");
        let mut scored: Vec<(f64, bool)> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), header.len(), "{name}: {l}");
                (f[1].parse().unwrap(), f[0] == "1")
            })
            .collect();
        assert_eq!(
            scored.len() as u64,
            d["verdicts"].as_u64().unwrap(),
            "{name}"
        );
        let attacks = scored.iter().filter(|s| s.1).count() as u64;
        let tp_fn = d["true_positives"].as_u64().unwrap() + d["false_negatives"].as_u64().unwrap();
        assert_eq!(attacks, tp_fn, "{name}");
        // serde_json's default float parsing may land one ulp off the printed value.
        let (ours, printed) = (
            packetguard::evaluate::roc_auc(&mut scored).unwrap(),
            d["roc_auc"].as_f64().unwrap(),
        );
        assert!((ours - printed).abs() < 1e-12, "{name}: {ours} {printed}");
        seen += 1;
    }
    assert_eq!(seen, 3, "flow, host and source rows: {json}");
}
