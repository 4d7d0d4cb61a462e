//! The JSON of an event line and of a summary line.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;

use super::{limiter::Pending, AnomalyEvent, Detector, EventsError, FeatureContribution, Subject};

pub(super) fn json_error(err: serde_json::Error) -> EventsError {
    EventsError::Write { source: err.into() }
}

pub(super) fn write_event(
    buf: &mut Vec<u8>,
    ev: &AnomalyEvent<'_>,
    folded: u64,
) -> serde_json::Result<()> {
    let verdict = Verdict {
        score: ev.score,
        threshold: ev.threshold,
        top_features: ev.top_features,
        model: ev.model,
    };
    let subject = match ev.subject {
        Subject::Flow {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            protocol,
        } => Body::Flow {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            protocol: Collect(ProtocolName(protocol)),
            verdict,
        },
        Subject::Host(host) => Body::Host { host, verdict },
        Subject::Source(source) => Body::Source { source, verdict },
    };
    let suppressed = (folded > 0).then_some(folded);
    let line = Line::new(ev.time, ev.detector, subject, suppressed).with_rule(ev.rule);
    serde_json::to_writer(buf, &line)
}

pub(super) fn write_summary(
    buf: &mut Vec<u8>,
    p: Pending,
    time: SystemTime,
) -> serde_json::Result<()> {
    // A summary names its address the way the detector's events do.
    let body = match p.detector {
        Detector::Source => Body::SourceSummary {
            source: p.host,
            summary: true,
        },
        _ => Body::Summary {
            host: p.host,
            summary: true,
        },
    };
    serde_json::to_writer(buf, &Line::new(time, p.detector, body, Some(p.suppressed)))
}

/// One JSON line: time and detector first, then the rule when there is one, `suppressed`
/// last and only when non-zero.
#[derive(Serialize)]
struct Line<'a> {
    time: Collect<humantime::Rfc3339Timestamp>,
    detector: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    #[serde(flatten)]
    body: Body<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<u64>,
}

impl<'a> Line<'a> {
    fn new(time: SystemTime, d: Detector, body: Body<'a>, suppressed: Option<u64>) -> Self {
        let time = Collect(humantime::format_rfc3339_millis(time));
        Line {
            time,
            detector: d.as_str(),
            rule: None,
            body,
            suppressed,
        }
    }

    fn with_rule(self, rule: Option<&'a str>) -> Self {
        Line { rule, ..self }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Flow {
        src_ip: IpAddr,
        dst_ip: IpAddr,
        src_port: u16,
        dst_port: u16,
        protocol: Collect<ProtocolName>,
        #[serde(flatten)]
        verdict: Verdict<'a>,
    },
    Host {
        host: IpAddr,
        #[serde(flatten)]
        verdict: Verdict<'a>,
    },
    Source {
        source: IpAddr,
        #[serde(flatten)]
        verdict: Verdict<'a>,
    },
    Summary {
        host: IpAddr,
        summary: bool,
    },
    SourceSummary {
        source: IpAddr,
        summary: bool,
    },
}

#[derive(Serialize)]
struct Verdict<'a> {
    score: f64,
    threshold: f64,
    top_features: &'a [FeatureContribution],
    /// The model's id; threshold rules have none, and their lines no `model` key.
    #[serde(skip_serializing_if = "str::is_empty")]
    model: &'a str,
}

/// Protocol name for the well-known numbers, the decimal number otherwise; always a string
/// so consumers see one JSON type.
struct ProtocolName(u8);

impl std::fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            1 => f.write_str("icmp"),
            6 => f.write_str("tcp"),
            17 => f.write_str("udp"),
            58 => f.write_str("icmpv6"),
            n => write!(f, "{n}"),
        }
    }
}

/// Serializes anything `Display` as a JSON string without an intermediate `String`.
struct Collect<T>(T);

impl<T: std::fmt::Display> Serialize for Collect<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}
