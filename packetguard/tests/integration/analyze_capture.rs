//! `packetguard analyze` on pcap captures the tests write: exact flows with the columns of
//! `collect`, event lines as `run` writes them, and what a truncated file gives.

use std::path::{Path, PathBuf};

use packetguard_common::record::{TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN};

use crate::{
    analyze::host_event_lines,
    capture::read_csv,
    collect_agent::{assert_ok, default_models, one_line_error, packetguard},
    frames::{tcp_v4, V4_A, V4_B},
};

/// The capture's first second: 2023-11-14T22:13:20Z.
const T0_S: u64 = 1_700_000_000;

/// A classic pcap (microseconds, Ethernet) of `(microseconds after T0_S, frame)`.
fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65_535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (us, f) in frames {
        b.extend_from_slice(&((T0_S + us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    b
}

/// A closed TCP conversation from 192.0.2.10:40000 to 198.51.100.20:80 starting at
/// `at` microseconds, and a lone SYN from port 40001 a second later.
fn conversation(at: u64) -> Vec<(u64, Vec<u8>)> {
    let (a, b) = (V4_A, V4_B);
    vec![
        (at, tcp_v4(a, b, 40000, 80, TCP_SYN, 0)),
        (at + 1_000, tcp_v4(b, a, 80, 40000, TCP_SYN | TCP_ACK, 0)),
        (at + 2_000, tcp_v4(a, b, 40000, 80, TCP_ACK, 0)),
        (at + 3_000, tcp_v4(a, b, 40000, 80, TCP_PSH | TCP_ACK, 100)),
        (at + 4_000, tcp_v4(b, a, 80, 40000, TCP_ACK, 1000)),
        (at + 500_000, tcp_v4(a, b, 40000, 80, TCP_FIN | TCP_ACK, 0)),
        (at + 501_000, tcp_v4(b, a, 80, 40000, TCP_FIN | TCP_ACK, 0)),
        (at + 502_000, tcp_v4(a, b, 40000, 80, TCP_ACK, 0)),
        (at + 1_000_000, tcp_v4(a, b, 40001, 80, TCP_SYN, 0)),
    ]
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-analyze-cap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

#[test]
fn a_capture_written_here_gives_exact_flows_with_the_columns_of_collect() {
    let d = dir("flows");
    let (input, flows) = (d.join("traffic.pcap"), d.join("flows.csv"));
    std::fs::write(&input, pcap(&conversation(1_000_000))).unwrap();
    let out = packetguard(&[
        "analyze",
        &s(&input),
        "--model",
        &s(&default_models()),
        "--out",
        &s(&flows),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: capture 9 read, 2 flows", input.display())),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&flows).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        packetguard::flows::csv::header()
    );
    let rows = read_csv(&flows);
    assert_eq!(rows.len(), 2, "{text}");
    let cols = [
        "src_ip",
        "dst_ip",
        "src_port",
        "dst_port",
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
        "psh_count",
    ];
    let get = |port: &str| -> Vec<String> {
        let r = rows.iter().find(|r| r["src_port"] == port).unwrap();
        cols.iter().map(|c| r[*c].clone()).collect()
    };
    let start = (T0_S + 1) * 1000;
    // Frames are 54 bytes plus payload: 5 sent (one with 100 bytes), 3 back (one with 1000).
    assert_eq!(
        get("40000"),
        [
            "192.0.2.10",
            "198.51.100.20",
            "40000",
            "80",
            "6",
            &start.to_string(),
            "end",
            "5",
            "3",
            "370",
            "1162",
            "2",
            "2",
            "7",
            "1"
        ]
    );
    assert_eq!(
        get("40001"),
        [
            "192.0.2.10",
            "198.51.100.20",
            "40001",
            "80",
            "6",
            &(start + 1000).to_string(),
            "shutdown",
            "1",
            "0",
            "54",
            "0",
            "1",
            "0",
            "0",
            "0"
        ]
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn events_of_a_capture_are_the_lines_run_writes_on_capture_time() {
    let d = dir("events");
    let (input, events) = (d.join("flood.pcap"), d.join("events.jsonl"));
    let mut frames = conversation(1_000_000);
    // 3000 SYNs toward 198.51.100.20 from 250 addresses inside the second from T0+10s.
    for i in 0..3000u64 {
        let src = [203, 0, 113, 1 + (i % 250) as u8];
        frames.push((
            10_000_000 + i * 250,
            tcp_v4(src, V4_B, 10_000 + i as u16, 80, TCP_SYN, 0),
        ));
    }
    std::fs::write(&input, pcap(&frames)).unwrap();
    let out = packetguard(&[
        "analyze",
        &s(&input),
        "--model",
        &s(&default_models()),
        "--events",
        &s(&events),
    ]);
    assert_ok(&out);
    for v in &host_event_lines(&events) {
        assert_eq!(v["host"], "198.51.100.20");
        // The window of the flood's second closes at its end, on capture time.
        assert_eq!(v["time"], "2023-11-14T22:13:31.000Z");
        assert_eq!(v["top_features"].as_array().unwrap().len(), 3);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_truncated_capture_is_analysed_up_to_the_cut_and_says_where_it_stopped() {
    let d = dir("cut");
    let (input, flows) = (d.join("cut.pcap"), d.join("flows.csv"));
    let mut bytes = pcap(&conversation(1_000_000));
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&input, bytes).unwrap();
    let out = packetguard(&[
        "analyze",
        &s(&input),
        "--model",
        &s(&default_models()),
        "--out",
        &s(&flows),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warning.len(), 1, "{stderr}");
    assert!(
        warning[0].contains("stopped at packet 9")
            && warning[0].contains("the 8 packets before it were read"),
        "{stderr}"
    );
    // The conversation before the cut is all there.
    let rows = read_csv(&flows);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0]["fwd_packets"].as_str(),
            rows[0]["bwd_packets"].as_str()
        ),
        ("5", "3")
    );
    // A file that is only a magic number is one line naming it.
    let bad = d.join("magic.pcap");
    std::fs::write(&bad, [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]).unwrap();
    let err = one_line_error(&packetguard(&["analyze", &s(&bad)]));
    assert!(err.contains(&s(&bad)), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn after_a_silent_stretch_windows_stay_on_whole_seconds_of_capture_time() {
    let d = dir("gap");
    let (input, verdicts) = (d.join("gap.pcap"), d.join("verdicts.jsonl"));
    let mut frames = conversation(1_000_000);
    frames.pop();
    // Nothing for 18 seconds (the conversation expires after 1s idle), then one SYN.
    frames.push((20_250_000, tcp_v4(V4_A, V4_B, 40001, 80, TCP_SYN, 0)));
    std::fs::write(&input, pcap(&frames)).unwrap();
    let out = packetguard(&[
        "analyze",
        &s(&input),
        "--model",
        &s(&default_models()),
        "--idle-timeout",
        "1s",
        "--json-verdicts",
        &s(&verdicts),
    ]);
    assert_ok(&out);
    let mut windows: Vec<(u64, String)> = std::fs::read_to_string(&verdicts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["detector"] == "host")
        .map(|v| {
            let host = v["subject"]["host"].as_str().unwrap().to_owned();
            (v["ts_unix_ms"].as_u64().unwrap(), host)
        })
        .collect();
    windows.sort();
    // Server and client in the conversation's second; the server again when the ended
    // flow is removed a second later with the closing ACK it had not credited yet (the
    // kernel credits at most every 100 ms); then the SYN's destination in the second it
    // arrived in, closed at that second's end.
    let t = |s: u64| (T0_S + s) * 1000;
    assert_eq!(
        windows,
        [
            (t(2), "192.0.2.10".to_owned()),
            (t(2), "198.51.100.20".to_owned()),
            (t(3), "198.51.100.20".to_owned()),
            (t(21), "198.51.100.20".to_owned())
        ],
        "{windows:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
