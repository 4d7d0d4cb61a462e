//! The live state and its JSON: bounds, ordering, folding and the documents' shape.

use std::net::IpAddr;

use packetguard_common::Counter;
use serde_json::Value;

use super::{
    anomalies::Reported,
    api,
    state::{ModelInUse, Point, TickInputs, ANOMALY_ROWS, HISTORY, POINTS_PER_DETECTOR},
    LiveState, SharedState,
};
use crate::{
    datapath::counters::KernelCounters,
    events::{Detector, FeatureContribution, Subject},
};

const T0: u64 = 1_700_000_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn counters(packets: u64, bytes: u64, egress_packets: u64, egress_bytes: u64) -> KernelCounters {
    let mut k = KernelCounters::default();
    k.0[Counter::Packets as usize] = packets;
    k.0[Counter::Bytes as usize] = bytes;
    k.0[Counter::EgressPackets as usize] = egress_packets;
    k.0[Counter::EgressBytes as usize] = egress_bytes;
    k.0[Counter::RingbufLost as usize] = 3;
    k.0[Counter::RecordsDelayed as usize] = 4;
    k
}

const TOP: [FeatureContribution; 1] = [FeatureContribution {
    name: "syn_without_ack_ratio",
    value: 0.98,
    weight: 0.7,
}];

fn anomaly(detector: Detector, subject: Subject, written: bool, t: u64) -> Reported<'static> {
    Reported {
        time_ms: t,
        detector,
        rule: None,
        subject,
        score: 0.8,
        threshold: 0.6,
        top: &TOP,
        written,
    }
}

fn json<T: serde::Serialize>(doc: &T) -> Value {
    serde_json::to_value(doc).unwrap()
}

#[test]
fn traffic_is_split_by_direction_and_bounded_to_five_minutes() {
    let mut s = LiveState::new(T0);
    // Every second: 1,000 packets (300 of them leaving) and 100 kB (40 kB leaving).
    for i in 0..=(HISTORY as u64 + 50) {
        let k = counters(1000 * i, 100_000 * i, 300 * i, 40_000 * i);
        s.tick(T0 + 1000 * i, &k, TickInputs::default());
    }
    assert_eq!(s.traffic.len(), HISTORY);
    assert_eq!(s.rates.len(), HISTORY);
    let last = *s.traffic.last().unwrap();
    assert_eq!(
        (
            last.ingress_pps,
            last.egress_pps,
            last.ingress_bps,
            last.egress_bps
        ),
        (700.0, 300.0, 60_000.0, 40_000.0)
    );
    let times: Vec<u64> = s.traffic.iter().map(|t| t.t_ms).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(s.health.ringbuf_lost, 3);
    assert_eq!(s.health.records_delayed, 4);
}

#[test]
fn anomaly_rates_count_each_detector_per_second() {
    let mut s = LiveState::new(T0);
    let k = counters(0, 0, 0, 0);
    let host = Subject::Host(ip("198.51.100.2"));
    for _ in 0..4 {
        s.record_anomaly(&anomaly(Detector::Host, host, true, T0));
    }
    s.tick(T0 + 2000, &k, TickInputs::default());
    let r = *s.rates.last().unwrap();
    assert_eq!(r.per_s[Detector::Host.index()], 2.0, "4 anomalies over 2 s");
    assert_eq!(r.per_s[Detector::Flow.index()], 0.0);
    s.tick(T0 + 3000, &k, TickInputs::default());
    assert_eq!(s.rates.last().unwrap().per_s[Detector::Host.index()], 0.0);
}

#[test]
fn held_back_anomalies_fold_into_their_address_row_and_counts_add_up() {
    let mut s = LiveState::new(T0);
    let victim = Subject::Host(ip("198.51.100.2"));
    let other = Subject::Host(ip("198.51.100.3"));
    s.record_anomaly(&anomaly(Detector::Host, victim, true, T0));
    s.record_anomaly(&anomaly(Detector::Host, other, true, T0 + 1));
    s.record_anomaly(&anomaly(Detector::Host, victim, false, T0 + 2));
    s.record_anomaly(&anomaly(Detector::Host, victim, false, T0 + 3));
    // Another detector about the same address does not fold into the host row.
    s.record_anomaly(&anomaly(
        Detector::Source,
        Subject::Source(ip("198.51.100.2")),
        false,
        T0 + 4,
    ));
    let rows = s.anomalies.since(0, 100);
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [5, 2, 1],
        "newest first"
    );
    let victim_row = rows.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(
        (victim_row.folded, victim_row.last_id, victim_row.last_ms),
        (2, 4, T0 + 3)
    );
    let counted: u64 = rows.iter().map(|r| 1 + r.folded).sum();
    assert_eq!(counted, 5);
    assert_eq!(s.anomalies.totals.iter().sum::<u64>(), 5);
    // `since` returns the rows that changed after it, folded ones included.
    let changed: Vec<u64> = s.anomalies.since(3, 100).iter().map(|r| r.id).collect();
    assert_eq!(changed, [5, 1]);
    assert!(s.anomalies.since(5, 100).is_empty());
}

#[test]
fn the_anomaly_table_and_the_scatter_stay_bounded() {
    let mut s = LiveState::new(T0);
    for i in 0..(3 * ANOMALY_ROWS as u64) {
        let host = Subject::Host(IpAddr::from((0xc633_6400u32 + i as u32).to_be_bytes()));
        s.record_anomaly(&anomaly(Detector::Host, host, true, T0 + i));
    }
    let rows = s.anomalies.since(0, usize::MAX);
    assert_eq!(rows.len(), ANOMALY_ROWS);
    assert_eq!(rows[0].id, 3 * ANOMALY_ROWS as u64);
    assert_eq!(
        s.anomalies.last_id,
        3 * ANOMALY_ROWS as u64,
        "the count goes on"
    );
    for i in 0..(2 * POINTS_PER_DETECTOR as u64) {
        let p = Point {
            t_ms: T0 + i,
            score: 0.5,
            anomaly: false,
            bytes: 60.0,
        };
        s.record_point(Detector::Flow, p);
    }
    assert_eq!(s.points[Detector::Flow.index()].len(), POINTS_PER_DETECTOR);
    assert!(s.points[Detector::Host.index()].is_empty());
}

fn shared_with_data() -> SharedState {
    let mut s = LiveState::new(T0);
    s.health.attached = vec!["s0: xdp (native)".into()];
    s.set_model(
        Detector::Host,
        ModelInUse {
            id: "host-1a2b3c4d".into(),
            kind: "host".into(),
            trained_rows: 5000,
            threshold: 0.6,
        },
    );
    s.tick(T0, &counters(0, 0, 0, 0), TickInputs::default());
    s.tick(
        T0 + 1000,
        &counters(10, 1000, 4, 400),
        TickInputs {
            flow_table_entries: 7,
            events_dropped: 1,
        },
    );
    s.record_point(
        Detector::Host,
        Point {
            t_ms: T0 + 1000,
            score: 0.8,
            anomaly: true,
            bytes: 600.0,
        },
    );
    let flow = Subject::Flow {
        src_ip: ip("192.0.2.2"),
        dst_ip: ip("198.51.100.2"),
        src_port: 40000,
        dst_port: 8080,
        protocol: 6,
    };
    s.record_anomaly(&anomaly(Detector::Flow, flow, true, T0 + 1000));
    s.record_anomaly(&anomaly(
        Detector::Host,
        Subject::Host(ip("198.51.100.2")),
        true,
        T0 + 1000,
    ));
    s.offer_bytes(true, ip("198.51.100.2"), 600.0, T0 + 1000);
    s.offer_score(Subject::Source(ip("192.0.2.2")), 0.7, T0 + 1000);
    SharedState::new(s)
}

#[test]
fn summary_json_has_the_documented_shape() {
    let v = json(&api::summary(&shared_with_data(), T0 + 5000));
    assert_eq!(v["uptime_s"], 5);
    assert_eq!(v["interval_s"], 1);
    assert_eq!(v["traffic"].as_array().unwrap().len(), 1);
    let t = &v["traffic"][0];
    assert_eq!(
        (t["ingress_pps"].as_f64(), t["egress_bps"].as_f64()),
        (Some(6.0), Some(400.0))
    );
    let rate = v["anomaly_rates"].as_array().unwrap().last().unwrap();
    for d in ["flow", "host", "source", "threshold"] {
        assert!(rate[d].is_number(), "{d} in {rate}");
    }
    assert_eq!(v["anomalies_total"]["flow"], 1);
    assert_eq!(v["anomalies_total"]["host"], 1);
    assert_eq!(v["last_anomaly_id"], 2);
    assert_eq!(v["points"]["host"]["threshold"], 0.6);
    assert_eq!(v["points"]["host"]["points"][0]["anomaly"], true);
    assert!(
        v["points"]["flow"].is_null(),
        "no flow model, no flow scatter"
    );
    let h = &v["health"];
    assert_eq!(h["models"][0]["id"], "host-1a2b3c4d");
    assert_eq!(h["models"][0]["trained_rows"], 5000);
    assert_eq!(
        (
            h["flow_table_entries"].as_u64(),
            h["events_dropped"].as_u64()
        ),
        (Some(7), Some(1))
    );
}

#[test]
fn anomalies_json_names_the_address_and_the_flow() {
    let v = json(&api::anomalies(&shared_with_data(), 0));
    assert_eq!(v["last_id"], 2);
    let a = v["anomalies"].as_array().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[0]["id"].as_u64(), a[0]["detector"].as_str()),
        (Some(2), Some("host"))
    );
    assert_eq!(a[0]["address"], "198.51.100.2");
    assert_eq!(a[0]["subject"]["kind"], "host");
    assert_eq!(a[1]["subject"]["kind"], "flow");
    assert_eq!(a[1]["subject"]["dst_port"], 8080);
    assert_eq!(a[1]["top_features"][0]["name"], "syn_without_ack_ratio");
    assert_eq!(a[1]["folded"], 0);
    assert!(a[1].get("rule").is_none());
    let later = json(&api::anomalies(&shared_with_data(), 2));
    assert!(later["anomalies"].as_array().unwrap().is_empty());
}

#[test]
fn top_json_lists_fresh_addresses_only() {
    let state = shared_with_data();
    let v = json(&api::top(&state, T0 + 2000));
    assert_eq!(v["destinations_by_bytes"][0]["address"], "198.51.100.2");
    assert_eq!(v["destinations_by_bytes"][0]["value"], 600.0);
    assert_eq!(v["sources_by_score"][0]["address"], "192.0.2.2");
    assert!(v["sources_by_bytes"].as_array().unwrap().is_empty());
    let stale = json(&api::top(&state, T0 + 60_000));
    assert!(stale["destinations_by_bytes"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn since_is_read_from_the_query_string() {
    assert_eq!(api::since_of(None), 0);
    assert_eq!(api::since_of(Some("since=42")), 42);
    assert_eq!(api::since_of(Some("x=1&since=7")), 7);
    assert_eq!(api::since_of(Some("since=-3")), 0);
    assert_eq!(api::since_of(Some("since=99999999999999999999999")), 0);
}

#[test]
fn the_page_is_self_contained() {
    let page = super::PAGE;
    assert!(page.starts_with("<!doctype html>"));
    for id in [
        "anomaly-table",
        "anomaly-chart",
        "packets-chart",
        "bytes-chart",
        "tops",
        "health",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
    }
    for fetched in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !page.contains(fetched),
            "nothing fetched from elsewhere: {fetched}"
        );
    }
    assert!(!page.contains("<script src"), "no external script");
    assert!(page.contains("prefers-color-scheme: dark"));
}
