//! The live page in a real browser: the attack lab's agent on the victim's `s0` with the
//! shipped models, the page open in headless Chromium inside the server namespace (where
//! the agent's loopback is), a quiet phase, then a SYN flood from spoofed sources.
//!
//! Before the flood the anomaly table must be empty; within [`PAGE_DEADLINE`] of its start
//! a row naming the victim must appear and the anomaly chart's newest point must be above
//! zero; the page must log no console error or exception; the API's anomaly ids and counts
//! must match the page and `packetguard_anomalies_total`; slow clients holding `/` and the
//! API must not stop `/metrics` from answering. A screenshot is kept under the target
//! directory (`live-page/live-page.png`).
//!
//! Chromium is driven over the DevTools protocol ([`headless_chrome`]): it reports console
//! calls, log entries and exceptions as events, and takes screenshots itself.

use std::{
    io::Write,
    net::{Ipv4Addr, TcpStream},
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use headless_chrome::{protocol::cdp::Page::CaptureScreenshotFormatOption, Tab};
use serde_json::Value;

use crate::{
    attacks::{victim, Capture, Scenario, Unit},
    browser::{open, Page, CHROMIUM},
    collect_agent::METRICS_ADDR,
    lab::{in_ns, Lab, SERVER_V4},
    prometheus_scrape::require,
    raw_ip::{Probe, RawFlood, Sources},
};

/// The flood must be on the page within this time of its start.
const PAGE_DEADLINE: Duration = Duration::from_secs(3);
/// The window the page is opened in: tall enough for every section.
const WINDOW: (u32, u32) = (1400, 1900);
/// Slow clients held open against the page and the API.
const SLOW_CLIENTS: usize = 300;
/// One `/metrics` scrape under that load; generous for a loaded 2-core machine.
const SCRAPE_BOUND: Duration = Duration::from_secs(1);

/// Evaluates `js` in the page, as JSON.
fn eval(tab: &Tab, js: &str) -> Value {
    let obj = tab
        .evaluate(js, false)
        .unwrap_or_else(|e| panic!("evaluating {js}: {e}"));
    obj.value.unwrap_or(Value::Null)
}

/// What the page shows now: its table's ids and addresses, the chart's newest value, the
/// anomaly total, and whether it has drawn an answer yet.
#[derive(Debug, Default)]
struct Shown {
    updated: bool,
    ids: Vec<u64>,
    addresses: Vec<String>,
    latest_rate: f64,
    total: u64,
}

fn shown(tab: &Tab) -> Shown {
    let v = eval(
        tab,
        r##"JSON.stringify({
            updated: document.getElementById("status").textContent.startsWith("updated"),
            ids: [...document.querySelectorAll("#anomaly-table tbody tr")].map(r => Number(r.dataset.id)),
            addresses: [...document.querySelectorAll("#anomaly-table tbody tr")].map(r => r.dataset.address),
            latest: Number(document.getElementById("anomaly-chart").dataset.latest),
            total: Number(document.getElementById("anomaly-total").textContent),
        })"##,
    );
    let v: Value = serde_json::from_str(v.as_str().unwrap_or("{}")).unwrap();
    Shown {
        updated: v["updated"].as_bool().unwrap_or(false),
        ids: v["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect(),
        addresses: v["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        latest_rate: v["latest"].as_f64().unwrap_or(0.0),
        total: v["total"].as_u64().unwrap_or(0),
    }
}

impl Page {
    /// Polls the page every 100 ms until `f` holds or `limit` passes.
    fn wait(&self, limit: Duration, mut f: impl FnMut(&Shown) -> bool) -> (Shown, bool) {
        let end = Instant::now() + limit;
        loop {
            let s = shown(&self.tab);
            if f(&s) || Instant::now() >= end {
                let ok = f(&s);
                return (s, ok);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A GET on the agent's address in the server namespace: the body.
fn get(lab: &Lab, path: &str) -> String {
    let url = format!("http://{METRICS_ADDR}{path}");
    let out = lab.output(&lab.server, &["curl", "-sS", "--max-time", "5", &url]);
    assert!(
        out.status.success(),
        "GET {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `packetguard_anomalies_total` summed over detectors.
fn anomalies_metric(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("packetguard_anomalies_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The API's anomaly ids (newest first) and its total.
fn api_anomalies(lab: &Lab) -> (Vec<u64>, u64) {
    let v: Value = serde_json::from_str(&get(lab, "/api/anomalies?since=0")).expect("JSON");
    let ids = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    let total = ["flow", "host", "source", "threshold"]
        .iter()
        .map(|d| v["anomalies_total"][d].as_u64().unwrap())
        .sum();
    (ids, total)
}

/// Slow clients against `/` and the API: each sends part of a request head and then one
/// byte at a time, as slowloris does. Opened inside the server namespace.
fn slow_clients(lab: &Lab) -> Vec<TcpStream> {
    in_ns(&lab.server, || {
        (0..SLOW_CLIENTS)
            .filter_map(|i| {
                let mut s = TcpStream::connect_timeout(
                    &METRICS_ADDR.parse().unwrap(),
                    Duration::from_secs(2),
                )
                .ok()?;
                let path = ["/", "/api/summary", "/api/anomalies?since=0"][i % 3];
                let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
                Some(s)
            })
            .collect()
    })
}

#[test]
fn live_page_shows_a_syn_flood_within_3s_in_chromium() {
    require(CHROMIUM);
    let lab = Lab::new();
    lab.route_via_client("198.18.0.0/15");
    let mut s = Scenario::start(&lab, "live_page", &lab.server, "s0");
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page");
    std::fs::create_dir_all(&artefacts).unwrap();
    let profile = lab.dir.join("chromium-profile");
    let url = format!("http://{METRICS_ADDR}/");
    let page = in_ns(&lab.server, || open(&profile, &url, WINDOW));
    let (first, ok) = page.wait(Duration::from_secs(10), |p| p.updated);
    assert!(ok, "the page never showed an answer of the API: {first:?}");

    s.quiet_phase(None);
    let (quiet, _) = page.wait(Duration::from_millis(1500), |_| false);
    s.check(quiet.ids.is_empty(), || {
        format!("anomalies on the page before the flood: {quiet:?}")
    });

    const PACKETS: u64 = 4500;
    let filter = format!(
        "tcp and src net 198.18.0.0/15 and dst host {SERVER_V4} and dst port 8080 \
         and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
    );
    let cap = Capture::start(&lab, &lab.server, "s0", &filter);
    let flood = RawFlood {
        sources: Sources::Spoofed {
            first: Ipv4Addr::new(198, 18, 0, 1),
            count: PACKETS as u32,
        },
        dst: SERVER_V4.parse().unwrap(),
        dst_count: 1,
        probe: Probe::Syn { dst_port: 8080 },
        rate: 1500,
        count: PACKETS,
        limit: Duration::from_secs(5),
    };
    let start = SystemTime::now();
    let started = Instant::now();
    // Rows the flood opens come after what the quiet phase left (nothing, when it passed).
    let before = quiet.ids.iter().copied().max().unwrap_or(0);
    let (row_at, rate_at) = std::thread::scope(|scope| {
        let sender = scope.spawn(|| in_ns(&lab.client, || flood.send()));
        let (mut row_at, mut rate_at) = (None, None);
        page.wait(PAGE_DEADLINE, |p| {
            let named = p
                .ids
                .iter()
                .zip(&p.addresses)
                .any(|(id, a)| *id > before && a == SERVER_V4);
            if row_at.is_none() && named {
                row_at = Some(started.elapsed());
            }
            if rate_at.is_none() && p.latest_rate > 0.0 {
                rate_at = Some(started.elapsed());
            }
            row_at.is_some() && rate_at.is_some()
        });
        let sent = sender.join().unwrap();
        eprintln!(
            "[live_page] sender: {} SYNs in {:.2} s",
            sent.packets,
            sent.elapsed.as_secs_f64()
        );
        (row_at, rate_at)
    });
    eprintln!("[live_page] on the page: a row naming {SERVER_V4} after {row_at:?}, anomaly rate above zero after {rate_at:?}");
    s.check(row_at.is_some(), || {
        format!("no row naming {SERVER_V4} within {PAGE_DEADLINE:?}")
    });
    s.check(rate_at.is_some(), || {
        format!("the anomaly chart stayed at zero for {PAGE_DEADLINE:?}")
    });

    // Once the flood's flows are scored the counts settle: page, API and metrics agree.
    let settle = Instant::now() + Duration::from_secs(20);
    let agreed = loop {
        let before = anomalies_metric(&get(&lab, "/metrics"));
        let (api_ids, api_total) = api_anomalies(&lab);
        let after = anomalies_metric(&get(&lab, "/metrics"));
        let (p, _) = page.wait(Duration::from_millis(1200), |p| p.total == api_total);
        let mut page_ids = p.ids.clone();
        page_ids.sort_unstable_by(|a, b| b.cmp(a));
        let same =
            before == after && api_total == after && p.total == api_total && page_ids == api_ids;
        if same || Instant::now() >= settle {
            eprintln!(
                "[live_page] metrics {before}/{after}, API total {api_total} ({} rows), page total {} ({} rows)",
                api_ids.len(),
                p.total,
                page_ids.len()
            );
            break same;
        }
    };
    s.check(agreed, || {
        "the page, the API and packetguard_anomalies_total did not agree".into()
    });

    let png = page
        .tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    let shot = artefacts.join("live-page.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("[live_page] screenshot: {}", shot.display());

    // Hostile clients on the page and the API; /metrics must keep answering.
    let mut slow = slow_clients(&lab);
    eprintln!("[live_page] {} slow clients connected", slow.len());
    for i in 0..3 {
        for c in &mut slow {
            let _ = c.write_all(b"x");
        }
        let t = Instant::now();
        let text = get(&lab, "/metrics");
        let took = t.elapsed();
        s.check(text.contains("packetguard_anomalies_total"), || {
            "a scrape without the metrics".into()
        });
        s.check(took <= SCRAPE_BOUND, || {
            format!("scrape {i} under slow clients took {took:?}")
        });
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(slow);

    let errors = page.errors.lock().unwrap().clone();
    s.check(errors.is_empty(), || {
        format!("the page logged errors: {errors:#?}")
    });
    drop(page);
    let rate = cap.measure(start, Unit::Packets);
    s.finish(start, &[victim(SERVER_V4)], rate, 1000.0, "SYNs");
}
