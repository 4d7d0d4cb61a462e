//! Tests of the event writer, its JSON and its rate limit.

use super::*;
use serde_json::Value;

const FEATURES: [FeatureContribution; 2] = [
    FeatureContribution {
        name: "syn_ratio",
        value: 0.98,
        weight: 0.6,
    },
    FeatureContribution {
        name: "packets",
        value: 2.0,
        weight: 0.25,
    },
];

fn flow_event(dst: &str, src_port: u16) -> AnomalyEvent<'static> {
    AnomalyEvent {
        time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        detector: Detector::Flow,
        rule: None,
        subject: Subject::Flow {
            src_ip: "198.51.100.7".parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            src_port,
            dst_port: 443,
            protocol: 6,
        },
        score: 0.71,
        threshold: 0.62,
        top_features: &FEATURES,
        model: "flow-default-v1",
    }
}

fn host_event(host: &str) -> AnomalyEvent<'static> {
    AnomalyEvent {
        detector: Detector::Host,
        subject: Subject::Host(host.parse().unwrap()),
        ..flow_event(host, 1)
    }
}

fn source_event(source: &str) -> AnomalyEvent<'static> {
    AnomalyEvent {
        detector: Detector::Source,
        subject: Subject::Source(source.parse().unwrap()),
        ..flow_event("192.0.2.250", 1)
    }
}

fn rule_event(host: &str, rule: &'static str) -> AnomalyEvent<'static> {
    AnomalyEvent {
        detector: Detector::Threshold,
        rule: Some(rule),
        model: "",
        ..host_event(host)
    }
}

fn limit(burst: u32, max_hosts: usize) -> RateLimit {
    RateLimit {
        burst,
        interval: Duration::from_secs(10),
        max_hosts,
        global_per_s: 1_000_000,
    }
}

fn lines(w: &EventWriter<Vec<u8>>) -> Vec<Value> {
    let text = std::str::from_utf8(w.get_ref()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn flow_event_has_key_score_features_and_rfc3339_time() {
    let mut w = EventWriter::new(Vec::new(), RateLimit::default());
    let out = w
        .emit(&flow_event("192.0.2.10", 40000), Instant::now())
        .unwrap();
    assert_eq!(out, Outcome::Written { folded: 0 });
    let raw = std::str::from_utf8(w.get_ref()).unwrap();
    let head = r#"{"time":"2023-11-14T22:13:20.123Z","detector":"flow","src_ip":"#;
    assert!(raw.starts_with(head) && raw.ends_with("}\n"), "{raw}");
    let v = &lines(&w)[0];
    assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(v["detector"], "flow");
    assert_eq!(v["src_ip"], "198.51.100.7");
    assert_eq!(v["dst_ip"], "192.0.2.10");
    assert_eq!(v["src_port"], 40000);
    assert_eq!(v["dst_port"], 443);
    assert_eq!(v["protocol"], "tcp");
    assert_eq!(v["score"], 0.71);
    assert_eq!(v["threshold"], 0.62);
    assert_eq!(v["model"], "flow-default-v1");
    assert_eq!(v["top_features"][0]["name"], "syn_ratio");
    assert_eq!(v["top_features"][0]["value"], 0.98);
    assert_eq!(v["top_features"][1]["weight"], 0.25);
    assert!(v.get("suppressed").is_none());
    assert!(v.get("host").is_none());
}

#[test]
fn host_event_names_the_host_not_a_flow() {
    let mut w = EventWriter::new(Vec::new(), RateLimit::default());
    w.emit(&host_event("2001:db8::1"), Instant::now()).unwrap();
    let v = &lines(&w)[0];
    assert_eq!(v["detector"], "host");
    assert_eq!(v["host"], "2001:db8::1");
    assert!(v.get("src_ip").is_none());
}

#[test]
fn source_event_names_the_source_and_nothing_else() {
    let mut w = EventWriter::new(Vec::new(), RateLimit::default());
    w.emit(&source_event("198.51.100.7"), Instant::now())
        .unwrap();
    let raw = std::str::from_utf8(w.get_ref()).unwrap();
    let head = r#"{"time":"2023-11-14T22:13:20.123Z","detector":"source","source":"198.51.100.7","score":0.71,"#;
    assert!(raw.starts_with(head), "{raw}");
    let v = &lines(&w)[0];
    assert_eq!(v["model"], "flow-default-v1");
    assert_eq!(v["top_features"][0]["name"], "syn_ratio");
    for absent in ["host", "src_ip", "dst_ip", "rule", "suppressed"] {
        assert!(v.get(absent).is_none(), "{absent} in {v}");
    }
}

#[test]
fn a_threshold_event_names_its_rule_right_after_the_detector() {
    let mut w = EventWriter::new(Vec::new(), RateLimit::default());
    w.emit(&rule_event("192.0.2.10", "syn_flood"), Instant::now())
        .unwrap();
    let raw = std::str::from_utf8(w.get_ref()).unwrap();
    let head = r#"{"time":"2023-11-14T22:13:20.123Z","detector":"threshold","rule":"syn_flood","host":"192.0.2.10","#;
    assert!(raw.starts_with(head), "{raw}");
    // A rule has no model: no `model` key rather than an empty id.
    let v: serde_json::Value = serde_json::from_str(raw.trim_end()).unwrap();
    assert_eq!(v.get("model"), None, "{raw}");
    // Without a rule there is no key at all, not a null.
    let mut w = EventWriter::new(Vec::new(), RateLimit::default());
    w.emit(&host_event("192.0.2.10"), Instant::now()).unwrap();
    assert!(!std::str::from_utf8(w.get_ref()).unwrap().contains("rule"));
}

#[test]
fn detector_labels_and_indices_follow_all() {
    let names: Vec<_> = Detector::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(names, ["flow", "host", "source", "threshold"]);
    for (i, d) in Detector::ALL.into_iter().enumerate() {
        assert_eq!(d.index(), i);
        assert_eq!(d.to_string(), d.as_str());
    }
    assert_eq!(N_DETECTORS, 4);
}

#[test]
fn burst_is_limited_and_next_window_carries_suppressed_count() {
    let t0 = Instant::now();
    let mut w = EventWriter::new(Vec::new(), limit(2, 16));
    let outs: Vec<_> = (0..5)
        .map(|i| w.emit(&flow_event("192.0.2.10", 1000 + i), t0).unwrap())
        .collect();
    assert_eq!(&outs[..2], &[Outcome::Written { folded: 0 }; 2]);
    assert_eq!(&outs[2..], &[Outcome::Suppressed; 3]);
    // Still inside the window.
    let nine = t0 + Duration::from_secs(9);
    assert_eq!(
        w.emit(&flow_event("192.0.2.10", 9), nine).unwrap(),
        Outcome::Suppressed
    );
    let ten = t0 + Duration::from_secs(10);
    let out = w.emit(&flow_event("192.0.2.10", 10), ten).unwrap();
    assert_eq!(out, Outcome::Written { folded: 4 });
    let v = lines(&w);
    assert_eq!(v.len(), 3);
    assert_eq!(v[2]["suppressed"], 4);
    let last = std::str::from_utf8(w.get_ref())
        .unwrap()
        .lines()
        .last()
        .unwrap();
    assert!(
        last.ends_with(r#""model":"flow-default-v1","suppressed":4}"#),
        "{last}"
    );
    assert_eq!(v[2]["src_port"], 10);
}

#[test]
fn hosts_and_detectors_are_limited_separately() {
    let t0 = Instant::now();
    let mut w = EventWriter::new(Vec::new(), limit(1, 16));
    assert!(matches!(
        w.emit(&flow_event("192.0.2.1", 1), t0).unwrap(),
        Outcome::Written { .. }
    ));
    assert!(matches!(
        w.emit(&flow_event("192.0.2.2", 1), t0).unwrap(),
        Outcome::Written { .. }
    ));
    assert!(matches!(
        w.emit(&host_event("192.0.2.1"), t0).unwrap(),
        Outcome::Written { .. }
    ));
    assert_eq!(
        w.emit(&flow_event("192.0.2.1", 2), t0).unwrap(),
        Outcome::Suppressed
    );
}

#[test]
fn a_source_is_limited_under_its_own_address_apart_from_the_host_of_that_address() {
    let t0 = Instant::now();
    let mut w = EventWriter::new(Vec::new(), limit(1, 16));
    let written = |o: Outcome| matches!(o, Outcome::Written { .. });
    assert!(written(w.emit(&source_event("192.0.2.1"), t0).unwrap()));
    assert!(written(w.emit(&source_event("192.0.2.2"), t0).unwrap()));
    // The same address as a destination host is another detector's budget.
    assert!(written(w.emit(&host_event("192.0.2.1"), t0).unwrap()));
    assert_eq!(
        w.emit(&source_event("192.0.2.1"), t0).unwrap(),
        Outcome::Suppressed
    );
    assert_eq!(
        w.emit(&source_event("192.0.2.1"), t0).unwrap(),
        Outcome::Suppressed
    );
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
    w.finish(end).unwrap();
    let v = lines(&w);
    assert_eq!(v.len(), 4, "3 events and 1 summary: {v:?}");
    assert_eq!(v[3]["detector"], "source");
    assert_eq!(v[3]["source"], "192.0.2.1");
    assert_eq!(v[3]["suppressed"], 2);
    assert_eq!(v[3]["summary"], true);
    assert!(v[3].get("host").is_none());
}

#[test]
fn finish_writes_one_summary_per_host_with_held_back_events() {
    let t0 = Instant::now();
    let mut w = EventWriter::new(Vec::new(), limit(1, 16));
    for port in 0..4 {
        w.emit(&flow_event("192.0.2.1", port), t0).unwrap();
    }
    for _ in 0..3 {
        w.emit(&host_event("192.0.2.1"), t0).unwrap();
    }
    w.emit(&flow_event("192.0.2.2", 1), t0).unwrap();
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
    w.finish(end).unwrap();
    let v = lines(&w);
    assert_eq!(v.len(), 5, "3 events and 2 summaries: {v:?}");
    assert_eq!(v[3]["detector"], "flow");
    assert_eq!(v[3]["host"], "192.0.2.1");
    assert_eq!(v[3]["suppressed"], 3);
    assert_eq!(v[3]["summary"], true);
    assert_eq!(v[3]["time"], "2023-11-14T22:15:00.000Z");
    assert_eq!(v[4]["detector"], "host");
    assert_eq!(v[4]["suppressed"], 2);
    // Nothing left to report twice.
    w.finish(end).unwrap();
    assert_eq!(lines(&w).len(), 5);
}

#[test]
fn flush_idle_reports_counts_once_the_window_has_passed() {
    let t0 = Instant::now();
    let mut w = EventWriter::new(Vec::new(), limit(1, 16));
    w.emit(&flow_event("192.0.2.1", 1), t0).unwrap();
    w.emit(&flow_event("192.0.2.1", 2), t0).unwrap();
    w.flush_idle(t0 + Duration::from_secs(5), SystemTime::now())
        .unwrap();
    assert_eq!(lines(&w).len(), 1, "window still open");
    w.flush_idle(t0 + Duration::from_secs(10), SystemTime::now())
        .unwrap();
    let v = lines(&w);
    assert_eq!(v.len(), 2);
    assert_eq!(v[1]["suppressed"], 1);
    let out = w
        .emit(&flow_event("192.0.2.1", 3), t0 + Duration::from_secs(11))
        .unwrap();
    assert_eq!(
        out,
        Outcome::Written { folded: 0 },
        "count was already reported"
    );
}

#[test]
fn full_host_table_evicts_least_recent_and_reports_its_count() {
    let t0 = Instant::now();
    let mut w = EventWriter::new(Vec::new(), limit(1, 2));
    w.emit(&flow_event("192.0.2.1", 1), t0).unwrap();
    w.emit(&flow_event("192.0.2.1", 2), t0).unwrap();
    let t1 = t0 + Duration::from_millis(1);
    w.emit(&flow_event("192.0.2.2", 1), t1).unwrap();
    w.emit(&flow_event("192.0.2.3", 1), t1).unwrap();
    assert_eq!(w.limiter.hosts.len(), 2);
    let v = lines(&w);
    assert_eq!(v.len(), 4, "{v:?}");
    assert_eq!(v[2]["host"], "192.0.2.1");
    assert_eq!(v[2]["suppressed"], 1);
    assert_eq!(v[3]["dst_ip"], "192.0.2.3");
}

#[test]
fn file_target_is_created_then_appended() {
    let dir = std::env::temp_dir().join(format!("packetguard-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.jsonl");
    let target = EventTarget::parse(path.to_str().unwrap());
    let drops = crate::events::queue::DropCounters {
        queue_full: prometheus::IntCounter::new("q", "q").unwrap(),
        write_failed: prometheus::IntCounter::new("w", "w").unwrap(),
    };
    for port in [1, 2] {
        // Dropping the writer waits for its thread to write the queued line.
        let mut w = EventWriter::open(&target, RateLimit::default(), drops.clone()).unwrap();
        w.emit(&flow_event("192.0.2.1", port), Instant::now())
            .unwrap();
    }
    assert_eq!((drops.queue_full.get(), drops.write_failed.get()), (0, 0));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert_eq!(EventTarget::parse("-"), EventTarget::Stdout);
}

#[test]
fn the_global_budget_holds_back_events_over_all_hosts_and_folds_them_into_each_hosts_count() {
    let mut w = EventWriter::new(
        Vec::new(),
        RateLimit {
            global_per_s: 3,
            ..limit(5, 100)
        },
    );
    let t0 = Instant::now();
    // Five hosts in one second: three are written, two held back by the budget.
    let outcomes: Vec<Outcome> = (1..=5)
        .map(|i| w.emit(&host_event(&format!("192.0.2.{i}")), t0).unwrap())
        .collect();
    let written = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Written { .. }))
        .count();
    assert_eq!(written, 3, "{outcomes:?}");
    // A second later the budget has room again: host 4's next event carries its held-back
    // one.
    let t1 = t0 + Duration::from_millis(1000);
    assert_eq!(
        w.emit(&host_event("192.0.2.4"), t1).unwrap(),
        Outcome::Written { folded: 1 }
    );
    w.finish(SystemTime::now()).unwrap();
    let v = lines(&w);
    let summary: Vec<&Value> = v.iter().filter(|l| l["host"] == "192.0.2.5").collect();
    assert_eq!(
        summary.len(),
        1,
        "host 5's held-back event is summarised: {v:?}"
    );
    assert_eq!(summary[0]["suppressed"], 1);
}

#[test]
fn a_flood_of_distinct_hosts_costs_constant_work_per_event_and_keeps_the_table_bounded() {
    // 100,000 distinct addresses through a 4096-entry table: with a scan of the table per
    // eviction this would be 400 million steps; with the touch queue it is a moment.
    let mut w = EventWriter::new(
        std::io::sink(),
        RateLimit {
            global_per_s: u32::MAX,
            ..limit(1, 4096)
        },
    );
    let t0 = Instant::now();
    for i in 0..100_000u32 {
        let ip = std::net::Ipv4Addr::from(0xC612_0000 + i); // 198.18.0.0/15
        w.emit(&host_event(&ip.to_string()), t0).unwrap();
        assert!(w.limiter.hosts.len() <= 4096);
    }
    assert_eq!(w.limiter.hosts.len(), 4096);
    // The survivors are the most recent addresses.
    let newest = std::net::Ipv4Addr::from(0xC612_0000 + 99_999u32);
    assert!(w
        .limiter
        .hosts
        .keys()
        .any(|(_, h)| *h == std::net::IpAddr::V4(newest)));
}
