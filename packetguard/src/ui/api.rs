//! The JSON API of the live page, and the routes serving it and the page.
//!
//! Every document is bounded: the series hold [`HISTORY`] seconds and
//! [`POINTS_PER_DETECTOR`] points per detector, the anomaly list at most
//! [`ANOMALY_ROWS`] rows, the top lists [`TOP_N`] entries each. A handler holds the
//! state's lock only to copy what it serves; serialising happens after. The README's
//! "Live page and JSON API" section documents every field.

use std::net::IpAddr;

use axum::{
    extract::State,
    http::{header, StatusCode, Uri},
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Serialize;

use super::{
    anomalies::AnomalyRow,
    state::{Health, Point, RateSample, TrafficSample, ANOMALY_ROWS, HISTORY, POINTS_PER_DETECTOR},
    top::{Entry, FRESH_MS, TOP_N},
    unix_ms, SharedState, PAGE,
};
use crate::events::{Detector, FeatureContribution, Subject, N_DETECTORS};

/// Per-detector values, written as an object keyed by detector name.
#[derive(Serialize, Default, Clone, Copy, Debug, PartialEq)]
pub struct PerDetector<T> {
    pub flow: T,
    pub host: T,
    pub source: T,
    pub threshold: T,
}

impl<T: Copy> PerDetector<T> {
    fn from_array(a: [T; N_DETECTORS]) -> Self {
        PerDetector {
            flow: a[Detector::Flow.index()],
            host: a[Detector::Host.index()],
            source: a[Detector::Source.index()],
            threshold: a[Detector::Threshold.index()],
        }
    }
}

#[derive(Serialize, Debug)]
pub struct Summary {
    pub version: &'static str,
    pub now_ms: u64,
    pub started_ms: u64,
    pub uptime_s: u64,
    /// Seconds between samples of `traffic` and `anomaly_rates`.
    pub interval_s: u64,
    /// Oldest first; at most [`HISTORY`].
    pub traffic: Vec<TrafficJson>,
    /// Oldest first; at most [`HISTORY`].
    pub anomaly_rates: Vec<RateJson>,
    /// Anomalies since start: equal to `packetguard_anomalies_total` by detector.
    pub anomalies_total: PerDetector<u64>,
    /// The number of the newest anomaly (the sum of `anomalies_total`).
    pub last_anomaly_id: u64,
    /// The newest scored rows of each model detector, oldest first, with its threshold.
    pub points: PerDetector<Option<Scatter>>,
    pub health: HealthJson,
}

#[derive(Serialize, Debug)]
pub struct TrafficJson {
    pub t_ms: u64,
    pub ingress_pps: f64,
    pub ingress_bps: f64,
    pub egress_pps: f64,
    pub egress_bps: f64,
}

#[derive(Serialize, Debug)]
pub struct RateJson {
    pub t_ms: u64,
    #[serde(flatten)]
    pub per_s: PerDetector<f64>,
}

#[derive(Serialize, Debug)]
pub struct Scatter {
    pub threshold: f64,
    pub points: Vec<PointJson>,
}

#[derive(Serialize, Debug)]
pub struct PointJson {
    pub t_ms: u64,
    pub score: f64,
    pub anomaly: bool,
    pub bytes: f64,
}

#[derive(Serialize, Debug)]
pub struct HealthJson {
    pub attached: Vec<String>,
    pub models: Vec<ModelJson>,
    pub rules: Vec<String>,
    pub ringbuf_lost: u64,
    pub records_delayed: u64,
    pub parse_errors: u64,
    pub flow_table_entries: u64,
    pub flow_table_capacity: u64,
    pub events_dropped: u64,
}

#[derive(Serialize, Debug)]
pub struct ModelJson {
    pub detector: &'static str,
    pub id: String,
    pub kind: String,
    pub trained_rows: u64,
    pub threshold: f64,
}

#[derive(Serialize, Debug)]
pub struct AnomalyList {
    pub last_id: u64,
    pub anomalies_total: PerDetector<u64>,
    /// Newest first; at most [`ANOMALY_ROWS`].
    pub anomalies: Vec<AnomalyJson>,
}

#[derive(Serialize, Debug)]
pub struct AnomalyJson {
    pub id: u64,
    pub last_id: u64,
    pub time_ms: u64,
    pub last_ms: u64,
    pub detector: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The address the row is about: a flow's destination, the host, or the source.
    pub address: IpAddr,
    pub subject: Subject,
    pub score: f64,
    pub threshold: f64,
    pub top_features: Vec<FeatureContribution>,
    pub folded: u64,
}

#[derive(Serialize, Debug)]
pub struct Top {
    /// An address is listed for this long after its last window.
    pub window_s: u64,
    pub destinations_by_bytes: Vec<TopJson>,
    pub sources_by_bytes: Vec<TopJson>,
    pub destinations_by_score: Vec<TopJson>,
    pub sources_by_score: Vec<TopJson>,
}

#[derive(Serialize, Debug)]
pub struct TopJson {
    pub address: IpAddr,
    /// Bytes per second, or the window's score.
    pub value: f64,
    pub at_ms: u64,
}

fn traffic(s: &TrafficSample) -> TrafficJson {
    TrafficJson {
        t_ms: s.t_ms,
        ingress_pps: s.ingress_pps,
        ingress_bps: s.ingress_bps,
        egress_pps: s.egress_pps,
        egress_bps: s.egress_bps,
    }
}

fn rate(s: &RateSample) -> RateJson {
    RateJson {
        t_ms: s.t_ms,
        per_s: PerDetector::from_array(s.per_s),
    }
}

fn point(p: &Point) -> PointJson {
    PointJson {
        t_ms: p.t_ms,
        score: p.score,
        anomaly: p.anomaly,
        bytes: p.bytes,
    }
}

fn health(h: &Health) -> HealthJson {
    let models = Detector::ALL
        .iter()
        .filter_map(|d| {
            h.models[d.index()].as_ref().map(|m| ModelJson {
                detector: d.as_str(),
                id: m.id.clone(),
                kind: m.kind.clone(),
                trained_rows: m.trained_rows,
                threshold: m.threshold,
            })
        })
        .collect();
    HealthJson {
        attached: h.attached.clone(),
        models,
        rules: h.rules.clone(),
        ringbuf_lost: h.ringbuf_lost,
        records_delayed: h.records_delayed,
        parse_errors: h.parse_errors,
        flow_table_entries: h.flow_table_entries,
        flow_table_capacity: h.flow_table_capacity,
        events_dropped: h.events_dropped,
    }
}

/// `/api/summary` of the state as it is at `now_ms`.
pub fn summary(state: &SharedState, now_ms: u64) -> Summary {
    let s = state.lock().clone();
    let scatter = |d: Detector| {
        s.threshold(d).map(|threshold| Scatter {
            threshold,
            points: s.points[d.index()].iter().map(point).collect(),
        })
    };
    Summary {
        version: env!("CARGO_PKG_VERSION"),
        now_ms,
        started_ms: s.health.started_ms,
        uptime_s: now_ms.saturating_sub(s.health.started_ms) / 1000,
        interval_s: 1,
        traffic: s.traffic.iter().map(traffic).collect(),
        anomaly_rates: s.rates.iter().map(rate).collect(),
        anomalies_total: PerDetector::from_array(s.anomalies.totals),
        last_anomaly_id: s.anomalies.last_id,
        points: PerDetector {
            flow: scatter(Detector::Flow),
            host: scatter(Detector::Host),
            source: scatter(Detector::Source),
            threshold: None,
        },
        health: health(&s.health),
    }
}

fn anomaly(r: &AnomalyRow) -> AnomalyJson {
    AnomalyJson {
        id: r.id,
        last_id: r.last_id,
        time_ms: r.time_ms,
        last_ms: r.last_ms,
        detector: r.detector.as_str(),
        rule: r.rule.map(|n| n.as_str().to_owned()),
        address: r.subject.host(),
        subject: r.subject,
        score: r.score,
        threshold: r.threshold,
        top_features: r.top[..r.n_top].to_vec(),
        folded: r.folded,
    }
}

/// `/api/anomalies?since=ID`: rows that opened or took in an anomaly numbered above `since`.
pub fn anomalies(state: &SharedState, since: u64) -> AnomalyList {
    let (rows, last_id, totals) = {
        let s = state.lock();
        (
            s.anomalies.since(since, ANOMALY_ROWS),
            s.anomalies.last_id,
            s.anomalies.totals,
        )
    };
    AnomalyList {
        last_id,
        anomalies_total: PerDetector::from_array(totals),
        anomalies: rows.iter().map(anomaly).collect(),
    }
}

/// `/api/top` at `now_ms`.
pub fn top(state: &SharedState, now_ms: u64) -> Top {
    let t = state.lock().talkers;
    let list = |l: &super::top::TopList| -> Vec<TopJson> {
        l.list(now_ms)
            .iter()
            .map(|e: &Entry| TopJson {
                address: e.addr,
                value: e.value,
                at_ms: e.at_ms,
            })
            .collect()
    };
    Top {
        window_s: FRESH_MS / 1000,
        destinations_by_bytes: list(&t.destinations_by_bytes),
        sources_by_bytes: list(&t.sources_by_bytes),
        destinations_by_score: list(&t.destinations_by_score),
        sources_by_score: list(&t.sources_by_score),
    }
}

/// `since` from a query string such as `since=42`; absent or unreadable is 0 (everything).
pub fn since_of(query: Option<&str>) -> u64 {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn json<T: Serialize>(doc: &T) -> Response {
    match serde_json::to_vec(doc) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
    }
}

fn now_ms() -> u64 {
    unix_ms(std::time::SystemTime::now())
}

/// The page and its API, to merge into the metrics server's routes.
pub fn routes(state: SharedState) -> Router {
    // The sizes the documents are bounded by, checked where they are promised.
    const _: () = assert!(HISTORY <= 3600 && POINTS_PER_DETECTOR <= 1000 && TOP_N <= 50);
    Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [
                        (header::CACHE_CONTROL, "no-store"),
                        (
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
                        ),
                    ],
                    Html(PAGE),
                )
            }),
        )
        .route(
            "/api/summary",
            get(|State(s): State<SharedState>| async move { json(&summary(&s, now_ms())) }),
        )
        .route(
            "/api/anomalies",
            get(|State(s): State<SharedState>, uri: Uri| async move {
                json(&anomalies(&s, since_of(uri.query())))
            }),
        )
        .route(
            "/api/top",
            get(|State(s): State<SharedState>| async move { json(&top(&s, now_ms())) }),
        )
        .with_state(state)
}
