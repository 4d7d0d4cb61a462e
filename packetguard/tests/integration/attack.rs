//! End to end with the shipped default models: the agent on the victim's side of the lab,
//! a quiet phase of ordinary traffic, then a SYN flood and a SYN port scan, while a real
//! Prometheus server scrapes the agent.
//!
//! The agent runs in the server namespace on `s0`, in both directions: it sees what the
//! victim (198.51.100.2) receives and what it sends. Prometheus runs in the same namespace,
//! because the agent's metrics listen on that namespace's loopback.
//! All traffic stays inside the lab's namespaces; every step is bounded in count and time.

use std::time::{Duration, SystemTime};

use packetguard::events::RateLimit;
use serde_json::Value;

use crate::{
    capture::read_events,
    collect_agent::{assert_detached_in, default_models, start_run, METRICS_ADDR},
    lab::{in_ns, Lab, SERVER_V4, WEB_PORT},
    prometheus_scrape::{
        assert_shipped_queries_evaluate, require, single_value, wait_for, Prometheus, PROMETHEUS,
    },
};

const IPERF_PORT: &str = "5201";

/// Features that describe a SYN flood: many new flows, half-open connections, packet rate.
const FLOOD_FEATURES: [&str; 3] = ["new_flows_per_s", "syn_without_ack_ratio", "packets_per_s"];
/// Features that describe a port scan: many ports, many new flows.
const SCAN_FEATURES: [&str; 2] = ["distinct_dst_ports", "new_flows_per_s"];

fn event_time(e: &Value) -> SystemTime {
    let time = e["time"].as_str().unwrap_or_else(|| panic!("no time: {e}"));
    humantime::parse_rfc3339(time).unwrap_or_else(|err| panic!("time {time:?}: {err}"))
}

/// Host verdicts (not summary lines) from `from` on, and before `to` if given.
fn host_verdicts(events: &[Value], from: SystemTime, to: Option<SystemTime>) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["detector"] == "host" && e["summary"].is_null())
        .filter(|e| {
            let t = event_time(e);
            t >= from && to.is_none_or(|to| t < to)
        })
        .cloned()
        .collect()
}

fn feature_names(e: &Value) -> Vec<&str> {
    e["top_features"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default()
}

/// One line per event: score and top features with their values.
fn describe(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            let features: Vec<String> = e["top_features"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{}={:.3}", f["name"].as_str().unwrap_or("?"), f["value"]))
                .collect();
            format!(
                "  {} host {} score {:.4} (threshold {:.4}) {}",
                e["time"].as_str().unwrap_or("?"),
                e["host"].as_str().unwrap_or("?"),
                e["score"].as_f64().unwrap_or(f64::NAN),
                e["threshold"].as_f64().unwrap_or(f64::NAN),
                features.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of an instant query with exactly one series, as a number.
fn query_number(prom: &Prometheus, promql: &str) -> Option<f64> {
    single_value(&prom.query(promql).ok()?)?.parse().ok()
}

#[test]
fn attack_lab_raises_host_anomalies_for_flood_and_scan_but_not_for_normal_traffic() {
    require(PROMETHEUS);
    let lab = Lab::new();
    let events_path = lab.dir.join("events.jsonl");
    let models = default_models();
    let mut agent = start_run(
        &lab,
        &lab.server,
        "s0",
        &events_path,
        &["--model", models.to_str().unwrap()],
    );
    // The host detector must score with the shipped host model.
    let stderr = agent.stderr();
    let host_model = stderr
        .lines()
        .find_map(|l| l.strip_prefix("host detector: model "))
        .unwrap_or_else(|| panic!("host detector is not on: {stderr}"));
    let (host_model_id, host_model_path) = host_model.split_once(' ').unwrap();
    assert_eq!(
        host_model_path,
        format!("({})", models.join("host.pgm").display()),
        "{stderr}"
    );

    let prom = in_ns(&lab.server, || {
        Prometheus::start(&lab.dir, METRICS_ADDR.parse().unwrap())
    });
    in_ns(&lab.server, || {
        wait_for(
            "Prometheus to scrape the agent (up == 1)",
            Duration::from_secs(30),
            || query_number(&prom, r#"up{job="packetguard"}"#).filter(|v| *v == 1.0),
        )
    });

    // Quiet phase: ping, a small web server, a short UDP iperf3 stream (UDP keeps TCP
    // segmentation offload's super-frames out of the picture).
    let _web = lab.web_server(WEB_PORT);
    let _iperf_server = lab.spawn(&lab.server, &["iperf3", "-s", "-1", "-p", IPERF_PORT]);
    lab.wait_listening(&lab.server, IPERF_PORT);
    let url = format!("http://{SERVER_V4}:{WEB_PORT}/");
    let quiet_start = SystemTime::now();
    std::thread::scope(|s| {
        let ping = s.spawn(|| {
            lab.exec(
                &lab.client,
                &["ping", "-q", "-c", "40", "-i", "0.2", SERVER_V4],
            );
        });
        let web = s.spawn(|| {
            for _ in 0..30 {
                lab.exec(
                    &lab.client,
                    &["curl", "-sS", "-o", "/dev/null", "--max-time", "5", &url],
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        std::thread::sleep(Duration::from_secs(2));
        lab.exec(
            &lab.client,
            &[
                "iperf3", "-c", SERVER_V4, "-p", IPERF_PORT, "-u", "-b", "20M", "-l", "1400", "-t",
                "3",
            ],
        );
        for t in [ping, web] {
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    });
    let quiet_end = SystemTime::now();
    // Let the last quiet windows close and be scored before the attack starts.
    std::thread::sleep(Duration::from_millis(2500));
    let quiet_windows = in_ns(&lab.server, || {
        query_number(&prom, "packetguard_host_windows_total")
    });

    // SYN flood against the web server's port, from the lab client's own address.
    let flood_start = SystemTime::now();
    let flood = lab.output(
        &lab.client,
        &[
            "timeout", "5", "hping3", "-q", "-S", "-p", WEB_PORT, "-i", "u50", "-c", "40000",
            SERVER_V4,
        ],
    );
    let flood_report = format!(
        "hping3 {}: {}{}",
        flood.status,
        String::from_utf8_lossy(&flood.stdout),
        String::from_utf8_lossy(&flood.stderr)
    );
    let first_flood_event = wait_for(
        "a host anomaly event for the flood",
        Duration::from_secs(10),
        || {
            let events = read_events(&events_path);
            host_verdicts(&events, flood_start, None).first().cloned()
        },
    );
    let detected = event_time(&first_flood_event);
    eprintln!(
        "flood start to first host anomaly event: {:?}",
        detected.duration_since(flood_start).unwrap_or_default()
    );
    // Events are limited per host (5 per 10 s by default); the flood has used its share.
    // Scan once the limiter's window, opened by the first flood event, has passed.
    let reopen = detected + RateLimit::default().interval + Duration::from_millis(500);
    if let Ok(wait) = reopen.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }

    let scan_start = SystemTime::now();
    let scan = lab.exec(
        &lab.client,
        &[
            "nmap",
            "-sS",
            "-Pn",
            "-n",
            "-p",
            "1-2000",
            "--max-retries",
            "0",
            SERVER_V4,
        ],
    );
    let scan_report = String::from_utf8_lossy(&scan.stdout).into_owned();
    wait_for(
        "a host anomaly event for the scan",
        Duration::from_secs(10),
        || {
            let events = read_events(&events_path);
            (!host_verdicts(&events, scan_start, None).is_empty()).then_some(())
        },
    );

    let events = read_events(&events_path);
    // Everything before the flood: the agent's start, Prometheus's start, the quiet phase.
    let quiet = host_verdicts(&events, SystemTime::UNIX_EPOCH, Some(flood_start));
    let flood = host_verdicts(&events, flood_start, Some(scan_start));
    let scan = host_verdicts(&events, scan_start, None);
    let all = host_verdicts(&events, SystemTime::UNIX_EPOCH, None);
    eprintln!(
        "quiet phase: {:?} of traffic, {} host windows scored before the flood, {} host events",
        quiet_end.duration_since(quiet_start).unwrap_or_default(),
        quiet_windows.unwrap_or(f64::NAN),
        quiet.len()
    );
    eprintln!("flood: {} host events\n{}", flood.len(), describe(&flood));
    eprintln!("scan: {} host events\n{}", scan.len(), describe(&scan));

    // Normal traffic raises nothing: not one host verdict before the attack, about any
    // host (the limiter always writes a host's first event, so none written means none
    // raised).
    assert!(
        quiet.is_empty(),
        "host anomalies during normal traffic:\n{}",
        describe(&quiet)
    );
    for e in &all {
        assert_eq!(e["host"], SERVER_V4, "an event names another host: {e}");
        assert_eq!(e["model"], host_model_id, "{e}");
        let (score, threshold) = (
            e["score"].as_f64().unwrap(),
            e["threshold"].as_f64().unwrap(),
        );
        assert!(score > threshold, "{e}");
    }
    assert!(
        !flood.is_empty(),
        "no host event for the flood; {flood_report}"
    );
    for e in &flood {
        let names = feature_names(e);
        assert!(
            names.iter().any(|n| FLOOD_FEATURES.contains(n)),
            "flood event without {FLOOD_FEATURES:?} among its top features: {e}"
        );
    }
    assert!(
        scan.iter()
            .any(|e| feature_names(e).iter().any(|n| SCAN_FEATURES.contains(n))),
        "no scan event with {SCAN_FEATURES:?} among its top features:\n{}\n{scan_report}",
        describe(&scan)
    );

    // Prometheus has the anomaly series (the counter includes rate-limited verdicts, so
    // it reaches at least the number of events written), and every shipped dashboard and
    // alert query evaluates against the live agent's metrics.
    in_ns(&lab.server, || {
        let written = all.len() as f64;
        let counted = wait_for(
            "packetguard_anomalies_total{detector=\"host\"} in Prometheus",
            Duration::from_secs(30),
            || {
                query_number(&prom, r#"packetguard_anomalies_total{detector="host"}"#)
                    .filter(|v| *v > 0.0 && *v >= written)
            },
        );
        eprintln!("packetguard_anomalies_total{{detector=\"host\"}} = {counted}");
        assert_shipped_queries_evaluate(&prom);
    });

    let status = agent.stop(libc::SIGTERM, Duration::from_secs(30));
    assert!(
        status.success(),
        "agent exited {status}: {}",
        agent.stderr()
    );
    assert_detached_in(&lab, &lab.server, "s0");
    let summaries: Vec<_> = read_events(&events_path)
        .into_iter()
        .filter(|e| e["summary"] == true)
        .collect();
    eprintln!("summary lines: {summaries:?}");
}
