//! `packetguard analyze`: files scored offline by the detectors of `run`, with the flow CSV
//! columns of `collect` and the event lines of `run`. Needs no privileges: nothing is
//! attached.

use std::{collections::BTreeMap, path::PathBuf};

use crate::{
    capture::read_csv,
    collect_agent::{assert_ok, default_models, one_line_error, packetguard},
};

const HEADER: &str = r#""No.","Time","Source","Destination","Protocol","Length","Info""#;
const CLIENT: &str = "192.0.2.10";
const SERVER: &str = "198.51.100.20";
const VICTIM: &str = "198.51.100.80";
/// SYNs of the flood, from 250 addresses in one second.
const SYNS: usize = 2000;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-analyze-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A packet list: one TCP conversation in the first second, nothing in the second, a SYN
/// flood toward [`VICTIM`] in the third.
fn packet_list() -> String {
    let mut rows: Vec<(f64, String, String, &str, u32, String)> = vec![
        (
            0.0,
            CLIENT.into(),
            SERVER.into(),
            "TCP",
            74,
            "51234 → 443 [SYN] Seq=0 Win=64240 Len=0".into(),
        ),
        (
            0.001,
            SERVER.into(),
            CLIENT.into(),
            "TCP",
            74,
            "443 → 51234 [SYN, ACK] Seq=0 Ack=1 Win=65160 Len=0".into(),
        ),
        (
            0.002,
            CLIENT.into(),
            SERVER.into(),
            "TCP",
            66,
            "51234 → 443 [ACK] Seq=1 Ack=1 Win=502 Len=0".into(),
        ),
        (
            0.003,
            CLIENT.into(),
            SERVER.into(),
            "TLSv1.3",
            583,
            "Client Hello".into(),
        ),
        (
            0.01,
            SERVER.into(),
            CLIENT.into(),
            "TCP",
            1514,
            "443 → 51234 [PSH, ACK] Seq=1 Ack=518 Win=501 Len=1448".into(),
        ),
        (
            0.5,
            CLIENT.into(),
            SERVER.into(),
            "TCP",
            66,
            "51234 → 443 [FIN, ACK] Seq=518 Ack=1449 Win=501 Len=0".into(),
        ),
    ];
    for i in 0..SYNS {
        rows.push((
            2.0 + i as f64 * 0.0004,
            format!("203.0.113.{}", 1 + i % 250),
            VICTIM.into(),
            "TCP",
            60,
            format!("{} → 80 [SYN] Seq=0 Win=1024 Len=0", 10_000 + i),
        ));
    }
    let mut text = format!("{HEADER}\n");
    for (n, (t, src, dst, proto, len, info)) in rows.into_iter().enumerate() {
        text.push_str(&format!(
            "\"{}\",\"{t:.6}\",\"{src}\",\"{dst}\",\"{proto}\",\"{len}\",\"{info}\"\n",
            n + 1
        ));
    }
    text
}

/// (detector, anomaly) -> verdicts, from a `--json-verdicts` file.
fn verdict_counts(path: &PathBuf) -> BTreeMap<(String, bool), usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            v["detector"].as_str().unwrap().to_owned(),
            v["anomaly"].as_bool().unwrap(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[test]
fn a_packet_list_gives_exact_flows_every_verdict_and_the_floods_host_events() {
    let d = dir("list");
    let (input, flows, events, verdicts) = (
        d.join("list.csv"),
        d.join("flows.csv"),
        d.join("events.jsonl"),
        d.join("verdicts.jsonl"),
    );
    std::fs::write(&input, packet_list()).unwrap();
    let models = default_models();
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let out = packetguard(&[
        "analyze",
        &s(&input),
        "--model",
        &s(&models),
        "--out",
        &s(&flows),
        "--events",
        &s(&events),
        "--json-verdicts",
        &s(&verdicts),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: packet list {} read, {} flows",
            input.display(),
            SYNS + 6,
            SYNS + 1
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("not available from a packet list: ttl_min, ttl_max"),
        "{stderr}"
    );

    // The flow CSV has collect's columns and one exact row per flow.
    let text = std::fs::read_to_string(&flows).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        packetguard::flows::csv::header()
    );
    let rows = read_csv(&flows);
    assert_eq!(rows.len(), SYNS + 1);
    let tls = rows.iter().find(|r| r["dst_port"] == "443").unwrap();
    let got: Vec<&str> = [
        "src_ip",
        "src_port",
        "dst_ip",
        "protocol",
        "start_unix_ms",
        "end_reason",
        "fwd_packets",
        "bwd_packets",
        "fwd_bytes",
        "bwd_bytes",
        "syn_count",
        "fin_count",
        "ack_count",
        "init_win_fwd",
        "init_win_bwd",
        "duration_ns",
    ]
    .iter()
    .map(|c| tls[*c].as_str())
    .collect();
    assert_eq!(
        got,
        [
            CLIENT,
            "51234",
            SERVER,
            "6",
            "1000",
            "shutdown",
            "4",
            "2",
            "789",
            "1588",
            "2",
            "1",
            "4",
            "64240",
            "65160",
            "500000000"
        ]
    );
    let syn = rows.iter().find(|r| r["src_port"] == "10007").unwrap();
    assert_eq!(
        (
            syn["src_ip"].as_str(),
            syn["dst_ip"].as_str(),
            syn["fwd_packets"].as_str(),
            syn["bwd_packets"].as_str()
        ),
        ("203.0.113.8", VICTIM, "1", "0")
    );

    // Every flow judged once; every address with traffic in a second judged once.
    let counts = verdict_counts(&verdicts);
    let n = |d: &str| {
        counts.get(&(d.to_owned(), false)).unwrap_or(&0)
            + counts.get(&(d.to_owned(), true)).unwrap_or(&0)
    };
    assert_eq!(n("flow"), SYNS + 1, "{counts:?}");
    // Destinations: the client and server in second 0; the victim in second 2, and the
    // client again when the conversation is exported at the end with what the server's
    // data segment had not yet credited (the kernel credits at most every 100 ms).
    assert_eq!(n("host"), 4, "{counts:?}");
    // Sources: the client and server in second 0; the 250 flooders in second 2, and the
    // server with its late credit.
    assert_eq!(n("source"), 253, "{counts:?}");

    // The flood's victim has host events, lines as `run` writes them, on capture time.
    for v in &host_event_lines(&events) {
        assert_eq!(v["host"], VICTIM);
        // Times since the capture's start are placed one second after the epoch.
        assert_eq!(
            v["time"], "1970-01-01T00:00:04.000Z",
            "the end of the flood's second"
        );
    }
    assert!(stderr.contains("summary: anomalies"), "{stderr}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_flow_csv_read_back_gives_the_same_rows() {
    let d = dir("flows");
    let (input, flows, again) = (d.join("list.csv"), d.join("flows.csv"), d.join("again.csv"));
    std::fs::write(&input, packet_list()).unwrap();
    let models = default_models();
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    assert_ok(&packetguard(&[
        "analyze",
        &s(&input),
        "--model",
        &s(&models),
        "--out",
        &s(&flows),
    ]));
    let out = packetguard(&[
        "analyze",
        &s(&flows),
        "--model",
        &s(&models),
        "--out",
        &s(&again),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("flow CSV {} read, {} flows", SYNS + 1, SYNS + 1)),
        "{stderr}"
    );
    let sorted = |p: &PathBuf| {
        let mut l: Vec<String> = std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&flows), sorted(&again));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn another_csv_header_is_a_one_line_error() {
    let d = dir("bad");
    let csv = d.join("other.csv");
    std::fs::write(&csv, "No.,Time,Source\n1,0.1,192.0.2.1\n").unwrap();
    let err = one_line_error(&packetguard(&["analyze", csv.to_str().unwrap()]));
    assert!(
        err.contains("not a pcap or pcapng capture, a flow CSV or a Wireshark packet-list CSV")
            && err.contains("\"No.,Time,Source\""),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// The host detector's event lines in the events file at `path` (summaries left out):
/// there must be some, each with exactly the keys of a `run` event line.
pub fn host_event_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let host: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["detector"] == "host" && v.get("summary").is_none())
        .collect();
    assert!(!host.is_empty(), "{text}");
    for v in &host {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "detector",
                "host",
                "model",
                "score",
                "threshold",
                "time",
                "top_features"
            ]
        );
    }
    host
}
