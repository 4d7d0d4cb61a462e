//! `packetguard analyze CAPTURE --report` on a lab capture, in a real browser: quiet
//! traffic (pings, HTTP requests to a small server) and then a SYN flood from spoofed
//! sources of 198.18.0.0/15 on the victim (198.51.100.2) are captured with tcpdump on the
//! victim's interface, analysed by the real binary with the shipped models, and the report
//! is opened in headless Chromium. The page must log no console error and load nothing;
//! the charts must hold exactly the points the analysis gives (its own `--json-verdicts`
//! and the capture's packets, not figures written here); the anomaly table must name the
//! victim. The screenshot is kept under the target's test directory (`report-capture/`).

use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    path::Path,
    time::{Duration, UNIX_EPOCH},
};

use serde_json::{json, Value};

use crate::{
    browser::{open, Page, CHROMIUM},
    capture::{pcap_packets, read_events, tcpdump},
    collect_agent::{assert_ok, default_models, one_line_error, packetguard},
    lab::{in_ns, Lab, CLIENT_V4, SERVER_V4, WEB_PORT},
    prometheus_scrape::require,
    raw_ip::{Probe, RawFlood, Sources},
    report_page::{counted, emulate, screenshot, WINDOW},
};

const PINGS: &str = "10";
const CURLS: usize = 5;
/// The flood: as the attack suite's spoofed SYN flood, which the shipped models catch.
const SYNS: u64 = 4500;
const SYN_RATE: u32 = 1500;

/// The capture: quiet traffic, then the flood, all seen on the victim's `s0`.
fn capture(lab: &Lab) -> std::path::PathBuf {
    lab.route_via_client("198.18.0.0/15");
    let _web = lab.web_server(WEB_PORT);
    // tcpdump keeps 96 bytes of each packet, so the reader must take the length on the
    // wire from each record, not from what was kept.
    let (mut dump, path) = tcpdump(lab, &lab.server, "s0", "ip", "lab.pcap");
    let ping = lab.output(
        &lab.client,
        &[
            "ping", "-q", "-c", PINGS, "-i", "0.2", "-w", "10", SERVER_V4,
        ],
    );
    assert!(ping.status.success(), "ping: {ping:?}");
    let url = format!("http://{SERVER_V4}:{WEB_PORT}/");
    for _ in 0..CURLS {
        let out = lab.output(
            &lab.client,
            &[
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
                &url,
            ],
        );
        assert_eq!(out.stdout, b"200", "curl: {out:?}");
    }
    let flood = RawFlood {
        sources: Sources::Spoofed {
            first: Ipv4Addr::new(198, 18, 0, 1),
            count: SYNS as u32,
        },
        dst: SERVER_V4.parse().unwrap(),
        dst_count: 1,
        probe: Probe::Syn {
            dst_port: WEB_PORT.parse().unwrap(),
        },
        rate: SYN_RATE,
        count: SYNS,
        limit: Duration::from_secs(6),
    };
    let sent = in_ns(&lab.client, || flood.send());
    assert_eq!(sent.errors, 0, "the flood's sender failed to send");
    dump.stop(libc::SIGINT, Duration::from_secs(10));
    path
}

/// The number shown in the element `id` (digits grouped with narrow no-break spaces).
fn shown_number(page: &Page, id: &str) -> u64 {
    let js = format!("document.getElementById({id:?}).innerText");
    let text = page.tab.evaluate(&js, false).expect(id).value;
    let text = text.and_then(|v| v.as_str().map(str::to_owned)).unwrap();
    text.replace('\u{202f}', "")
        .parse()
        .unwrap_or_else(|e| panic!("{id}: {text:?}: {e}"))
}

#[test]
fn report_of_a_lab_capture_with_a_syn_flood_holds_every_point_in_chromium() {
    require(CHROMIUM);
    let lab = Lab::new();
    let pcap = capture(&lab);
    let packets = pcap_packets(&pcap);
    assert!(!packets.is_empty(), "tcpdump captured nothing");

    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-capture");
    std::fs::create_dir_all(&artefacts).unwrap();
    let (report, events, verdicts) = (
        artefacts.join("report.html"),
        lab.dir.join("events.jsonl"),
        lab.dir.join("verdicts.jsonl"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let out = packetguard(&[
        "analyze",
        &s(&pcap),
        "--model",
        &s(&default_models()),
        "--report",
        &s(&report),
        "--events",
        &s(&events),
        "--json-verdicts",
        &s(&verdicts),
    ]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: capture {} read",
            pcap.display(),
            packets.len()
        )),
        "{stderr}"
    );
    let events = read_events(&events);
    assert!(
        events.iter().any(|e| e.to_string().contains(SERVER_V4)),
        "no event names the victim: {events:?}"
    );

    // What the page must show, from the analysis's own verdicts and the capture.
    let verdicts: Vec<Value> = std::fs::read_to_string(&verdicts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seconds: BTreeSet<u64> = packets
        .iter()
        .map(|p| p.time.duration_since(UNIX_EPOCH).unwrap().as_secs())
        .collect();
    let mut marked = BTreeSet::new();
    let mut counts = json!([]);
    let (mut flow_normal, mut flow_anomalous) = (0u64, 0u64);
    for d in ["flow", "host", "source", "threshold"] {
        let (mut normal, mut anomalous) = (0u64, 0u64);
        for v in verdicts.iter().filter(|v| v["detector"] == d) {
            let second = v["ts_unix_ms"].as_u64().unwrap() / 1000;
            seconds.insert(second);
            if v["anomaly"] == true {
                anomalous += 1;
                marked.insert(second);
            } else {
                normal += 1;
            }
        }
        if d == "flow" {
            (flow_normal, flow_anomalous) = (normal, anomalous);
        }
        counts
            .as_array_mut()
            .unwrap()
            .push(json!([d, normal, anomalous]));
    }
    let (first, last) = (seconds.first().unwrap(), seconds.last().unwrap());
    let points = last - first + 1;
    assert!(
        !marked.is_empty(),
        "the analysis found no anomaly: {stderr}"
    );
    let bytes: u64 = packets.iter().map(|p| u64::from(p.orig_len)).sum();
    eprintln!(
        "[report_capture] {} packets ({bytes} bytes) over {points} s, {} verdicts, {} anomalous seconds",
        packets.len(),
        verdicts.len(),
        marked.len()
    );

    let url = format!("file://{}", report.display());
    let profile = lab.dir.join("chromium-profile");
    let page = in_ns(&lab.server, || open(&profile, &url, WINDOW));
    emulate(&page.tab, 1400, 1000, false, "light");
    let c = counted(&page.tab);
    assert_eq!(c["resources"], 0, "the page loaded something: {c}");
    assert_eq!(
        shown_number(&page, "total-packets"),
        packets.len() as u64,
        "{c}"
    );
    assert_eq!(c["packets_points"], points, "{c}");
    assert_eq!(c["bytes_points"], points, "{c}");
    assert_eq!(c["packets_marks"], marked.len(), "{c}");
    assert_eq!(c["bytes_marks"], marked.len(), "{c}");
    assert_eq!(c["packets_data"], json!([points, marked.len()]), "{c}");
    let scatter = [
        flow_normal.min(packetguard::report::SCATTER_NORMAL as u64),
        flow_anomalous.min(packetguard::report::SCATTER_ANOMALY as u64),
    ];
    assert_eq!(c["scatter_normal"], scatter[0], "{c}");
    assert_eq!(c["scatter_anomalous"], scatter[1], "{c}");
    assert_eq!(c["scatter_data"], json!(scatter), "{c}");
    assert_eq!(c["counts"], counts, "{c}");
    let rows = c["rows"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| r[1] == SERVER_V4),
        "the anomaly table does not name the victim: {c}"
    );
    assert!(
        !rows.iter().any(|r| r[1] == CLIENT_V4),
        "the anomaly table names the quiet client: {c}"
    );
    let inputs = page
        .tab
        .evaluate(
            "document.querySelector('#inputs tbody tr').innerText",
            false,
        )
        .expect("the inputs table")
        .value
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    assert!(
        inputs.contains(&pcap.display().to_string()) && inputs.contains("capture"),
        "{inputs}"
    );
    let shot = artefacts.join("report.png");
    screenshot(&page.tab, &shot, 1400, false, "light");
    eprintln!("[report_capture] screenshot: {}", shot.display());
    let errors = page.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}

#[test]
fn a_report_that_cannot_be_written_is_a_one_line_error_before_the_analysis() {
    let dir = std::env::temp_dir().join(format!("pg-report-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // An empty classic pcap: its header only.
    let pcap = dir.join("empty.pcap");
    let mut header = Vec::new();
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&65_535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    std::fs::write(&pcap, header).unwrap();
    let report = dir.join("no-such-dir").join("report.html");
    let out = packetguard(&[
        "analyze",
        pcap.to_str().unwrap(),
        "--model",
        default_models().to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!("cannot create the report {}", report.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
