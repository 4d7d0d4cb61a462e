//! JSON anomaly events, one object per line, rate-limited per host.
//!
//! Each anomaly the detectors report becomes one line of JSON on stdout or appended to a
//! file, so that log shippers (journald, Vector, Fluent Bit) can pick it up without a
//! parser of their own. One attack easily produces thousands of anomalous flows towards
//! the same destination; writing each would drown the useful first lines, so events are
//! limited per destination host (and per detector, so a flood of flow verdicts cannot hide
//! the host detector's verdict). What is held back is never lost silently: the next event
//! written for that host carries `"suppressed": K`, and [`EventWriter::finish`] writes one
//! summary line per host whose held-back count never got a later event.
//!
//! The host table is bounded ([`RateLimit::max_hosts`]) so a flood of spoofed destinations
//! cannot grow memory; evicting a host that still holds a count writes its summary first.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// Which detector produced a verdict. Also the `detector` label of the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    /// The per-flow Isolation Forest.
    Flow,
    /// The per-destination, one-second window Isolation Forest.
    Host,
}

impl Detector {
    /// Both detectors, in label order.
    pub const ALL: [Detector; 2] = [Detector::Flow, Detector::Host];

    /// The name used in JSON events and as a metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Detector::Flow => "flow",
            Detector::Host => "host",
        }
    }

    /// Position in [`Detector::ALL`], for per-detector arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an anomaly is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A flow, as seen by the flow detector. `dst_ip` is the host it is limited under.
    Flow {
        src_ip: IpAddr,
        dst_ip: IpAddr,
        src_port: u16,
        dst_port: u16,
        /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
        protocol: u8,
    },
    /// A destination host, as seen by the host detector.
    Host(IpAddr),
}

impl Subject {
    /// The destination address the rate limit applies to.
    pub fn host(&self) -> IpAddr {
        match *self {
            Subject::Flow { dst_ip, .. } => dst_ip,
            Subject::Host(host) => host,
        }
    }
}

/// One feature's part in a verdict, as listed in `top_features`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FeatureContribution {
    /// The feature's schema name.
    pub name: &'static str,
    /// The feature's value for this flow or window.
    pub value: f64,
    /// How much it pushed the score towards anomalous (model-specific, larger is more).
    pub weight: f64,
}

/// An anomaly as the agent reports it. Borrowed, so filling one allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct AnomalyEvent<'a> {
    /// Wall-clock time of the verdict; written as RFC 3339 with milliseconds.
    pub time: SystemTime,
    pub detector: Detector,
    pub subject: Subject,
    /// Isolation Forest score in [0, 1]; higher is more anomalous.
    pub score: f64,
    /// The score at or above which the detector calls a verdict anomalous.
    pub threshold: f64,
    /// The features that contributed most, most important first.
    pub top_features: &'a [FeatureContribution],
    /// Identifier of the model that scored it.
    pub model: &'a str,
}

/// How many events each host may produce, and how many hosts are tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Events written per host and detector in each interval.
    pub burst: u32,
    /// Length of the rate-limit window.
    pub interval: Duration,
    /// Hosts tracked at once; the least recently seen is evicted beyond this.
    pub max_hosts: usize,
}

impl Default for RateLimit {
    /// 5 events per host every 10 s: enough to see an attack start and change, few enough
    /// that a flood does not bury everything else. 4096 hosts cap the table at well under
    /// a megabyte.
    fn default() -> Self {
        RateLimit {
            burst: 5,
            interval: Duration::from_secs(10),
            max_hosts: 4096,
        }
    }
}

/// Where events go: `-` for stdout, anything else is a file path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventTarget {
    Stdout,
    File(PathBuf),
}

impl EventTarget {
    /// Reads the `--events` argument: `-` is stdout, anything else a file to append to.
    pub fn parse(arg: &str) -> EventTarget {
        if arg == "-" {
            EventTarget::Stdout
        } else {
            EventTarget::File(PathBuf::from(arg))
        }
    }
}

/// Errors writing events.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("cannot open events file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot write anomaly event: {source}")]
    Write { source: io::Error },
}

/// What [`EventWriter::emit`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written; `folded` earlier events of this host were reported with it.
    Written { folded: u64 },
    /// Held back by the rate limit; add one to `packetguard_events_suppressed_total`.
    Suppressed,
}

/// Writes anomaly events as JSON lines, limiting each host's rate.
pub struct EventWriter<W: Write> {
    out: W,
    limiter: Limiter,
    /// Reused line buffer, so steady-state writing does not allocate.
    line: Vec<u8>,
}

impl EventWriter<Box<dyn Write + Send>> {
    /// Opens stdout, or a file for appending (created if missing).
    pub fn open(target: &EventTarget, limit: RateLimit) -> Result<Self, EventsError> {
        let out: Box<dyn Write + Send> = match target {
            EventTarget::Stdout => Box::new(io::stdout()),
            EventTarget::File(path) => Box::new(open_append(path)?),
        };
        Ok(EventWriter::new(out, limit))
    }
}

fn open_append(path: &Path) -> Result<std::fs::File, EventsError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| EventsError::Open {
            path: path.to_owned(),
            source,
        })
}

impl<W: Write> EventWriter<W> {
    /// Writes to any sink; each event is one `write_all` of a whole line, then a flush,
    /// so readers tailing the file never see half a line.
    pub fn new(out: W, limit: RateLimit) -> Self {
        EventWriter {
            out,
            limiter: Limiter::new(limit),
            line: Vec::with_capacity(512),
        }
    }

    /// Writes `ev` unless its host has used up its events for the current window.
    ///
    /// `now` is a monotonic clock reading (the rate-limit clock); `ev.time` is only what
    /// gets printed.
    pub fn emit(&mut self, ev: &AnomalyEvent<'_>, now: Instant) -> Result<Outcome, EventsError> {
        let decision = self.limiter.admit(ev.detector, ev.subject.host(), now);
        if let Some(evicted) = decision.evicted {
            self.write_summary(evicted, ev.time)?;
        }
        match decision.decision {
            Decision::Suppress => Ok(Outcome::Suppressed),
            Decision::Write { folded } => {
                self.line.clear();
                write_event(&mut self.line, ev, folded).map_err(json_error)?;
                self.write_line()?;
                Ok(Outcome::Written { folded })
            }
        }
    }

    /// Writes summaries for hosts whose window has reopened but which still hold a
    /// count, so held-back events show up within one interval even if the attack stopped.
    /// Call it on a timer (e.g. every second).
    pub fn flush_idle(&mut self, now: Instant, time: SystemTime) -> Result<(), EventsError> {
        for idle in self.limiter.take_idle(now) {
            self.write_summary(idle, time)?;
        }
        self.flush()
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), EventsError> {
        self.out
            .flush()
            .map_err(|source| EventsError::Write { source })
    }

    /// On shutdown: writes one summary per host that still holds a count, then flushes.
    pub fn finish(&mut self, time: SystemTime) -> Result<(), EventsError> {
        for pending in self.limiter.take_all() {
            self.write_summary(pending, time)?;
        }
        self.flush()
    }

    /// The sink, e.g. to inspect a `Vec<u8>` in tests.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn write_summary(&mut self, pending: Pending, time: SystemTime) -> Result<(), EventsError> {
        self.line.clear();
        write_summary(&mut self.line, pending, time).map_err(json_error)?;
        self.write_line()
    }

    fn write_line(&mut self) -> Result<(), EventsError> {
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .and_then(|()| self.out.flush())
            .map_err(|source| EventsError::Write { source })
    }
}

impl<W: Write> Drop for EventWriter<W> {
    /// Last resort if the agent did not call [`EventWriter::finish`]: held-back counts are
    /// still written. Errors cannot be reported from here and are ignored.
    fn drop(&mut self) {
        let _ = self.finish(SystemTime::now());
    }
}

fn json_error(err: serde_json::Error) -> EventsError {
    EventsError::Write { source: err.into() }
}

fn write_event(buf: &mut Vec<u8>, ev: &AnomalyEvent<'_>, folded: u64) -> serde_json::Result<()> {
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
    };
    let suppressed = (folded > 0).then_some(folded);
    serde_json::to_writer(buf, &Line::new(ev.time, ev.detector, subject, suppressed))
}

fn write_summary(buf: &mut Vec<u8>, p: Pending, time: SystemTime) -> serde_json::Result<()> {
    let body = Body::Summary {
        host: p.host,
        summary: true,
    };
    serde_json::to_writer(buf, &Line::new(time, p.detector, body, Some(p.suppressed)))
}

/// One JSON line: time and detector first, `suppressed` last and only when non-zero.
#[derive(Serialize)]
struct Line<'a> {
    time: Collect<humantime::Rfc3339Timestamp>,
    detector: &'static str,
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
            body,
            suppressed,
        }
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
    Summary {
        host: IpAddr,
        summary: bool,
    },
}

#[derive(Serialize)]
struct Verdict<'a> {
    score: f64,
    threshold: f64,
    top_features: &'a [FeatureContribution],
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

/// What the limiter decided for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Write { folded: u64 },
    Suppress,
}

/// A host's held-back count that must be written as a summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    detector: Detector,
    host: IpAddr,
    suppressed: u64,
}

struct Admission {
    decision: Decision,
    /// A host evicted to make room that still held a count.
    evicted: Option<Pending>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    last_seen: Instant,
    written: u32,
    suppressed: u64,
}

/// Fixed-window limiter keyed by (detector, destination host).
struct Limiter {
    limit: RateLimit,
    hosts: HashMap<(Detector, IpAddr), Window>,
}

impl Limiter {
    fn new(limit: RateLimit) -> Self {
        // Allocate the whole table up front: a flood then costs no allocation.
        let hosts = HashMap::with_capacity(limit.max_hosts.min(1 << 16));
        Limiter { limit, hosts }
    }

    fn expired(&self, w: &Window, now: Instant) -> bool {
        now.saturating_duration_since(w.start) >= self.limit.interval
    }

    fn admit(&mut self, detector: Detector, host: IpAddr, now: Instant) -> Admission {
        let key = (detector, host);
        let mut evicted = None;
        if !self.hosts.contains_key(&key) && self.hosts.len() >= self.limit.max_hosts {
            evicted = self.make_room(now);
        }
        let interval = self.limit.interval;
        let w = self.hosts.entry(key).or_insert(Window {
            start: now,
            last_seen: now,
            written: 0,
            suppressed: 0,
        });
        w.last_seen = now;
        if now.saturating_duration_since(w.start) >= interval {
            w.start = now;
            w.written = 0;
        }
        let decision = if w.written < self.limit.burst {
            w.written += 1;
            Decision::Write {
                folded: std::mem::take(&mut w.suppressed),
            }
        } else {
            w.suppressed += 1;
            Decision::Suppress
        };
        Admission { decision, evicted }
    }

    /// Frees at least one slot. Expired windows with nothing held back carry no
    /// information and go first; otherwise the least recently seen host is evicted.
    /// Linear in the table size, but only runs when the table is full.
    fn make_room(&mut self, now: Instant) -> Option<Pending> {
        let interval = self.limit.interval;
        self.hosts
            .retain(|_, w| w.suppressed > 0 || now.saturating_duration_since(w.start) < interval);
        if self.hosts.len() < self.limit.max_hosts {
            return None;
        }
        let key = *self.hosts.iter().min_by_key(|(_, w)| w.last_seen)?.0;
        let w = self.hosts.remove(&key)?;
        (w.suppressed > 0).then_some(Pending {
            detector: key.0,
            host: key.1,
            suppressed: w.suppressed,
        })
    }

    /// Removes every expired window, returning the held-back counts among them.
    fn take_idle(&mut self, now: Instant) -> Vec<Pending> {
        let mut out = Vec::new();
        let expired: Vec<_> = self
            .hosts
            .iter()
            .filter(|(_, w)| self.expired(w, now))
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            if let Some(w) = self.hosts.remove(&key) {
                if w.suppressed > 0 {
                    out.push(Pending {
                        detector: key.0,
                        host: key.1,
                        suppressed: w.suppressed,
                    });
                }
            }
        }
        out.sort_by_key(|p| (p.detector, p.host));
        out
    }

    /// Empties the table, returning every held-back count, in a stable order.
    fn take_all(&mut self) -> Vec<Pending> {
        let mut out: Vec<_> = self
            .hosts
            .drain()
            .filter(|(_, w)| w.suppressed > 0)
            .map(|((detector, host), w)| Pending {
                detector,
                host,
                suppressed: w.suppressed,
            })
            .collect();
        out.sort_by_key(|p| (p.detector, p.host));
        out
    }
}

#[cfg(test)]
mod tests {
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

    fn limit(burst: u32, max_hosts: usize) -> RateLimit {
        RateLimit {
            burst,
            interval: Duration::from_secs(10),
            max_hosts,
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
        for port in [1, 2] {
            let mut w = EventWriter::open(&target, RateLimit::default()).unwrap();
            w.emit(&flow_event("192.0.2.1", port), Instant::now())
                .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(EventTarget::parse("-"), EventTarget::Stdout);
    }
}
