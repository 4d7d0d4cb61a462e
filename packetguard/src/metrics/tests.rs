//! Unit tests of the registry's text output and the HTTP routes.

use std::sync::Arc;
use std::time::Duration;

use packetguard_common::counters::COUNTER_SLOTS;

use super::*;

/// Kernel totals with the given counters set, every other one zero.
fn totals(values: &[(Counter, u64)]) -> KernelCounters {
    let mut k = KernelCounters::default();
    for &(c, v) in values {
        k.0[c as usize] = v;
    }
    k
}

/// The value of the one sample line that starts with `series ` (name plus labels).
pub(super) fn sample(text: &str, series: &str) -> Option<String> {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
}

#[test]
fn anomalies_counter_shows_exact_value_per_detector() {
    let m = Metrics::new().unwrap();
    for _ in 0..3 {
        m.record_anomaly(Detector::Flow);
    }
    m.record_anomaly(Detector::Host);
    let text = m.render().unwrap();
    assert_eq!(
        sample(&text, r#"packetguard_anomalies_total{detector="flow"}"#).as_deref(),
        Some("3")
    );
    assert_eq!(
        sample(&text, r#"packetguard_anomalies_total{detector="host"}"#).as_deref(),
        Some("1")
    );
    assert!(text.contains("# TYPE packetguard_anomalies_total counter"));
    assert!(text.contains("# HELP packetguard_anomalies_total Verdicts"));
}

#[test]
fn kernel_totals_become_exact_monotone_counters() {
    let m = Metrics::new().unwrap();
    let mut t = totals(&[
        (Counter::Packets, 1000),
        (Counter::Bytes, 64_000),
        (Counter::RingbufLost, 2),
    ]);
    m.set_kernel_totals(&t);
    t.0[Counter::Packets as usize] = 1500;
    t.0[Counter::Bytes as usize] = 96_000;
    m.set_kernel_totals(&t);
    m.set_kernel_totals(&t);
    let text = m.render().unwrap();
    assert_eq!(
        sample(&text, "packetguard_packets_total").as_deref(),
        Some("1500")
    );
    assert_eq!(
        sample(&text, "packetguard_bytes_total").as_deref(),
        Some("96000")
    );
    assert_eq!(
        sample(&text, "packetguard_ringbuf_lost_total").as_deref(),
        Some("2")
    );

    // The program was reloaded: its counters restarted at zero.
    m.set_kernel_totals(&totals(&[(Counter::Packets, 10)]));
    let text = m.render().unwrap();
    assert_eq!(
        sample(&text, "packetguard_packets_total").as_deref(),
        Some("1510")
    );
}

#[test]
fn kernel_totals_read_from_counter_slots() {
    let mut slots = [0u64; COUNTER_SLOTS as usize];
    slots[Counter::Packets as usize] = 7;
    slots[Counter::RingbufLost as usize] = 3;
    slots[Counter::FlowStartsEmitted as usize] = 5;
    slots[Counter::HostInsertFailed as usize] = 2;
    let t = KernelCounters(slots);
    assert_eq!(
        (
            t.get(Counter::Packets),
            t.get(Counter::RingbufLost),
            t.get(Counter::FlowStartsEmitted),
            t.get(Counter::HostInsertFailed)
        ),
        (7, 3, 5, 2)
    );
    let m = Metrics::new().unwrap();
    m.set_kernel_totals(&t);
    let text = m.render().unwrap();
    assert_eq!(
        sample(&text, "packetguard_host_insert_failures_total").as_deref(),
        Some("2")
    );
}

#[test]
fn scores_fill_the_histogram_and_count_scored_items() {
    let m = Metrics::new().unwrap();
    m.record_scores(Detector::Flow, &[0.42, 0.58, 0.91]);
    m.record_score(Detector::Host, 0.5);
    let text = m.render().unwrap();
    assert_eq!(
        sample(&text, "packetguard_flows_total").as_deref(),
        Some("3")
    );
    assert_eq!(
        sample(&text, "packetguard_host_windows_total").as_deref(),
        Some("1")
    );
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(r#"packetguard_anomaly_score_bucket{{detector="flow",le="{le}"}}"#),
        )
    };
    assert_eq!(bucket("0.45").as_deref(), Some("1"));
    assert_eq!(bucket("0.6").as_deref(), Some("2"));
    assert_eq!(bucket("0.9").as_deref(), Some("2"));
    assert_eq!(bucket("1").as_deref(), Some("3"));
    assert_eq!(
        sample(&text, r#"packetguard_anomaly_score_count{detector="flow"}"#).as_deref(),
        Some("3")
    );
}

#[test]
fn source_windows_are_counted_apart_and_threshold_verdicts_count_no_scored_rows() {
    let m = Metrics::new().unwrap();
    m.record_scores(Detector::Source, &[0.4, 0.8]);
    m.record_anomaly(Detector::Source);
    m.record_scores(Detector::Threshold, &[1.0]);
    m.record_anomaly(Detector::Threshold);
    m.add_events_suppressed(Detector::Source, 3);
    m.set_model_info(Detector::Source, "source-v1");
    let text = m.render().unwrap();
    for (series, value) in [
        ("packetguard_source_windows_total", "2"),
        ("packetguard_host_windows_total", "0"),
        ("packetguard_flows_total", "0"),
        (r#"packetguard_anomaly_score_count{detector="source"}"#, "2"),
        (
            r#"packetguard_anomaly_score_count{detector="threshold"}"#,
            "1",
        ),
        (r#"packetguard_anomalies_total{detector="source"}"#, "1"),
        (r#"packetguard_anomalies_total{detector="threshold"}"#, "1"),
        (r#"packetguard_anomalies_total{detector="host"}"#, "0"),
        (
            r#"packetguard_events_suppressed_total{detector="source"}"#,
            "3",
        ),
        (
            r#"packetguard_model_info{detector="source",model="source-v1"}"#,
            "1",
        ),
    ] {
        assert_eq!(sample(&text, series).as_deref(), Some(value), "{series}");
    }
}

#[test]
fn saturated_windows_are_counted_per_role() {
    use crate::detect::window::WindowRole;
    let m = Metrics::new().unwrap();
    m.record_window_saturated(WindowRole::Source);
    m.record_window_saturated(WindowRole::Source);
    m.record_window_saturated(WindowRole::Destination);
    let text = m.render().unwrap();
    let role = |r: &str| {
        sample(
            &text,
            &format!(r#"packetguard_window_saturated_total{{window="{r}"}}"#),
        )
    };
    assert_eq!(role("source").as_deref(), Some("2"));
    assert_eq!(role("destination").as_deref(), Some("1"));
    assert!(text.contains("# TYPE packetguard_window_saturated_total counter"));
}

#[test]
fn drain_batches_count_records_by_kind() {
    let m = Metrics::new().unwrap();
    let batch = DrainBatch {
        flows: 10,
        samples: 4,
        flow_starts: 2,
        decode_errors: 1,
        elapsed: Duration::from_micros(80),
    };
    m.observe_drain_batch(&batch);
    m.observe_drain_batch(&batch);
    let text = m.render().unwrap();
    let kind = |k: &str| {
        sample(
            &text,
            &format!(r#"packetguard_ringbuf_records_total{{kind="{k}"}}"#),
        )
    };
    assert_eq!(kind("flow").as_deref(), Some("20"));
    assert_eq!(kind("sample").as_deref(), Some("8"));
    assert_eq!(kind("flow_start").as_deref(), Some("4"));
    assert_eq!(
        sample(&text, "packetguard_ringbuf_decode_errors_total").as_deref(),
        Some("2")
    );
    assert_eq!(
        sample(&text, "packetguard_drain_batch_records_sum").as_deref(),
        Some("34")
    );
    assert_eq!(
        sample(
            &text,
            r#"packetguard_drain_batch_seconds_bucket{le="0.0001"}"#
        )
        .as_deref(),
        Some("2")
    );
}

#[test]
fn model_info_replaces_the_previous_model() {
    let m = Metrics::new().unwrap();
    m.set_model_info(Detector::Flow, "flow-v1");
    m.set_model_info(Detector::Flow, "flow-v2");
    m.set_model_info(Detector::Host, "host-v1");
    let text = m.render().unwrap();
    assert!(!text.contains("flow-v1"));
    assert_eq!(
        sample(
            &text,
            r#"packetguard_model_info{detector="flow",model="flow-v2"}"#
        )
        .as_deref(),
        Some("1")
    );
    let version = env!("CARGO_PKG_VERSION");
    let build = format!(r#"packetguard_build_info{{version="{version}"}}"#);
    assert_eq!(sample(&text, &build).as_deref(), Some("1"));
}

#[test]
fn series_exist_before_anything_is_recorded() {
    // Alerts and dashboards need zero-valued series, not absent ones.
    let text = Metrics::new().unwrap().render().unwrap();
    for series in [
        r#"packetguard_anomalies_total{detector="host"}"#,
        r#"packetguard_anomalies_total{detector="source"}"#,
        r#"packetguard_anomalies_total{detector="threshold"}"#,
        r#"packetguard_events_suppressed_total{detector="flow"}"#,
        r#"packetguard_events_suppressed_total{detector="source"}"#,
        r#"packetguard_window_saturated_total{window="destination"}"#,
        r#"packetguard_window_saturated_total{window="source"}"#,
        "packetguard_source_windows_total",
        r#"packetguard_ringbuf_emitted_total{kind="sample"}"#,
        "packetguard_flow_table_entries",
        "packetguard_parse_errors_total",
    ] {
        assert_eq!(sample(&text, series).as_deref(), Some("0"), "{series}");
    }
}

#[test]
fn two_registries_do_not_collide() {
    // Each agent (and each test) owns its registry; nothing is global.
    let a = Metrics::new().unwrap();
    let b = Metrics::new().unwrap();
    a.record_anomaly(Detector::Flow);
    let text = b.render().unwrap();
    assert_eq!(
        sample(&text, r#"packetguard_anomalies_total{detector="flow"}"#).as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn busy_port_is_a_clear_error() {
    let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = first.local_addr().unwrap();
    let err = bind(addr).await.unwrap_err();
    assert!(matches!(err, MetricsError::AddrInUse { .. }));
    assert_eq!(
        err.to_string(),
        format!("metrics address {addr} is in use; pick another with --metrics-addr")
    );
}

#[tokio::test]
async fn server_serves_metrics_health_and_index_then_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let metrics = Arc::new(Metrics::new().unwrap());
    metrics.record_anomaly(Detector::Flow);
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, metrics, async {
        let _ = stopped.await;
    }));

    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let deadline = Duration::from_secs(10);
    let metrics_resp = tokio::time::timeout(deadline, get("/metrics"))
        .await
        .unwrap();
    assert!(metrics_resp.starts_with("HTTP/1.1 200"), "{metrics_resp}");
    assert!(metrics_resp.contains("content-type: text/plain; version=0.0.4"));
    assert!(metrics_resp.contains("packetguard_anomalies_total{detector=\"flow\"} 1\n"));
    let health = tokio::time::timeout(deadline, get("/healthz"))
        .await
        .unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let index = tokio::time::timeout(deadline, get("/")).await.unwrap();
    assert!(index.contains("<a href=\"/metrics\">"), "{index}");
    let missing = tokio::time::timeout(deadline, get("/nope")).await.unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    stop.send(()).unwrap();
    tokio::time::timeout(deadline, server)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn rule_matches_has_one_series_per_rule_from_the_start_and_counts() {
    let m = Metrics::new().unwrap();
    let rules = RuleMetrics::new(&m, ["web-syn-flood", "dst-packets", "outbound-scan"]).unwrap();
    let series = |rule: &str| format!(r#"packetguard_rule_matches_total{{rule="{rule}"}}"#);
    let text = m.render().unwrap();
    for rule in ["web-syn-flood", "dst-packets", "outbound-scan"] {
        assert_eq!(sample(&text, &series(rule)).as_deref(), Some("0"), "{rule}");
    }
    assert!(text.contains("# TYPE packetguard_rule_matches_total counter"));
    assert!(text.contains("# HELP packetguard_rule_matches_total Window rows a threshold rule"));

    rules.record_match(0);
    rules.record_match(0);
    rules.record_match(2);
    rules.record_match(3); // no fourth rule: counts nothing
    assert!(rules.record_match_named("dst-packets"));
    assert!(!rules.record_match_named("nope"));
    let text = m.render().unwrap();
    assert_eq!(
        sample(&text, &series("web-syn-flood")).as_deref(),
        Some("2")
    );
    assert_eq!(sample(&text, &series("dst-packets")).as_deref(), Some("1"));
    assert_eq!(
        sample(&text, &series("outbound-scan")).as_deref(),
        Some("1")
    );
    let lines = text
        .lines()
        .filter(|l| l.starts_with("packetguard_rule_matches_total"))
        .count();
    assert_eq!(lines, 3, "one series per configured rule, nothing else");

    // One registration per registry.
    let err = RuleMetrics::new(&m, ["other"])
        .err()
        .expect("registered twice");
    assert!(matches!(
        err,
        MetricsError::Register {
            name: RULE_MATCHES,
            ..
        }
    ));
}

#[test]
fn no_rules_export_no_rule_series() {
    let m = Metrics::new().unwrap();
    RuleMetrics::new(&m, []).unwrap();
    let text = m.render().unwrap();
    assert!(!text.contains("packetguard_rule_matches_total"), "{text}");
}

#[test]
fn every_family_is_named_as_promtool_check_metrics_wants() {
    // What `promtool check metrics` lints, checked here without promtool: names in the
    // metric name charset under the one `packetguard_` namespace, `_total` on counters
    // and only there, help text on every family, base units rather than milli/kilo.
    let m = Metrics::new().unwrap();
    RuleMetrics::new(&m, ["web-syn-flood", "outbound-scan"]).unwrap();
    let text = m.render().unwrap();
    let mut families = 0;
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line["# TYPE ".len()..].split(' ');
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        families += 1;
        assert!(name.starts_with("packetguard_"), "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}"
        );
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
        for unit in ["_milliseconds", "_microseconds", "_kilobytes", "_megabytes"] {
            assert!(!name.contains(unit), "{name} is not in base units");
        }
    }
    assert!(families > 20, "{families} families");
    assert!(text.contains("# TYPE packetguard_rule_matches_total counter"));
}
