//! `packetguard run` in the lab: a model trained on collected traffic scores live flows,
//! metrics are served, anomaly events are written, bad input fails cleanly.

use std::time::Duration;

use crate::{
    capture::read_events,
    collect_agent::{assert_detached, assert_ok, one_line_error, packetguard, Collector, BIN},
    lab::{Lab, SERVER_V4},
    prometheus_scrape::wait_for,
};

/// Collects a small baseline in `lab` and trains a flow model on it.
fn train_model(lab: &Lab) -> std::path::PathBuf {
    let agent = Collector::start(lab, &[]);
    let flows = agent.out.clone();
    // Each ping run is its own ICMP flow: a baseline of eight flows of different lengths.
    for count in 2..10 {
        lab.exec(
            &lab.client,
            &["ping", "-c", &count.to_string(), "-i", "0.02", SERVER_V4],
        );
    }
    agent.stop(libc::SIGTERM);
    let model = lab.dir.join("flow.pgm");
    assert_ok(&packetguard(&[
        "train",
        "--input",
        flows.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--trees",
        "30",
        "--seed",
        "3",
    ]));
    model
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

#[test]
fn run_scores_live_flows_serves_metrics_writes_events_and_detaches() {
    let lab = Lab::new();
    let model = train_model(&lab);
    let events = lab.dir.join("events.jsonl");
    let mut agent = lab.spawn(
        &lab.router,
        &[
            BIN,
            "run",
            "-i",
            "rc",
            "--model",
            model.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:9617",
            "--events",
            events.to_str().unwrap(),
            "--idle-timeout",
            "1s",
        ],
    );
    agent.wait_for_stderr(
        "metrics on http://127.0.0.1:9617/metrics",
        1,
        Duration::from_secs(30),
    );
    const SYNS: u64 = 15;
    lab.exec(&lab.client, &["ping", "-c", "3", "-i", "0.05", SERVER_V4]);
    lab.syn_burst(SYNS, 5_000);
    // Idle expiry (1 s) plus the one-second metrics tick.
    std::thread::sleep(Duration::from_millis(2800));
    let out = lab.exec(
        &lab.router,
        &[
            "curl",
            "-sS",
            "--max-time",
            "5",
            "http://127.0.0.1:9617/metrics",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = agent.stop(libc::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "{}", agent.stderr());
    assert_detached(&lab);

    // rc sees the client's packets: 3 echo requests and the SYNs, at least.
    assert!(
        metric(&text, "packetguard_packets_total").unwrap() >= 3 + SYNS,
        "{text}"
    );
    // Each SYN is its own flow; with the ping flow, at least SYNS + 1 were scored.
    assert!(
        metric(&text, "packetguard_flows_total").unwrap() > SYNS,
        "{text}"
    );
    assert!(
        text.contains("packetguard_model_info{detector=\"flow\",model=\"flow-"),
        "{text}"
    );
    assert_eq!(
        metric(&text, "packetguard_ringbuf_lost_total"),
        Some(0),
        "{text}"
    );
    let anomalies = metric(&text, "packetguard_anomalies_total{detector=\"flow\"}").unwrap();

    // The baseline held only pings: SYN-only flows to a closed port are new to the model.
    let lines = read_events(&events);
    let syn_events: Vec<_> = lines.iter().filter(|e| e["dst_port"] == 9).collect();
    assert!(
        anomalies >= 1 && !syn_events.is_empty(),
        "anomalies {anomalies}, events {lines:?}"
    );
    let e = syn_events[0];
    assert_eq!(e["detector"], "flow");
    assert_eq!(e["dst_ip"], SERVER_V4);
    assert!(e["score"].as_f64().unwrap() > e["threshold"].as_f64().unwrap());
    assert!(!e["top_features"].as_array().unwrap().is_empty());
}

/// `run` in the router namespace with `extra` arguments: must fail with exit status 1 and
/// one line, leaving nothing attached.
fn run_error(lab: &Lab, extra: &[&str]) -> String {
    let mut args = vec![BIN, "run", "-i", "rc", "--duration", "2s"];
    args.extend_from_slice(extra);
    let out = lab.output(&lab.router, &args);
    let err = one_line_error(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_detached(lab);
    err
}

#[test]
fn run_rejects_bad_models_busy_ports_and_unknown_interfaces_with_nothing_attached() {
    let lab = Lab::new();
    let model = train_model(&lab);
    let m = model.to_str().unwrap();

    let err = run_error(&lab, &["--model", "/nonexistent/flow.pgm"]);
    assert!(err.contains("no model at /nonexistent/flow.pgm"), "{err}");

    // A model that says it is a flow model but was trained on host features: the flow
    // detector cannot feed it.
    let host_csv = lab.dir.join("host.csv");
    let mut csv = packetguard_common::features::HOST_FEATURES.join(",");
    for i in 0..40 {
        csv.push_str(&format!("\n{i},{},{},1,1,0.5,100,0,0", i * 100, i % 3));
    }
    std::fs::write(&host_csv, csv).unwrap();
    let host_model = lab.dir.join("host.pgm");
    assert_ok(&packetguard(&[
        "train",
        "--kind",
        "flow",
        "--features",
        &packetguard_common::features::HOST_FEATURES.join(","),
        "--input",
        host_csv.to_str().unwrap(),
        "--out",
        host_model.to_str().unwrap(),
    ]));
    let err = run_error(&lab, &["--model", host_model.to_str().unwrap()]);
    assert!(err.contains("does not match the flow schema"), "{err}");

    // Something already listens on the metrics port.
    let mut busy = lab.spawn(
        &lab.router,
        &[
            "python3",
            "-m",
            "http.server",
            "9617",
            "--bind",
            "127.0.0.1",
        ],
    );
    wait_for("the port holder to listen", Duration::from_secs(10), || {
        lab.output(
            &lab.router,
            &["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:9617/"],
        )
        .status
        .success()
        .then_some(())
    });
    let err = run_error(&lab, &["--model", m, "--metrics-addr", "127.0.0.1:9617"]);
    assert!(
        err.contains("in use") && err.contains("--metrics-addr"),
        "{err}"
    );
    busy.stop(libc::SIGTERM, Duration::from_secs(10));

    let out = packetguard(&["run", "-i", "nosuch0", "--model", m]);
    let err = one_line_error(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("no network interface named \"nosuch0\""),
        "{err}"
    );
}
