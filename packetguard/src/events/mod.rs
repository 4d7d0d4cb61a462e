//! JSON anomaly events, one object per line, rate-limited per address.
//!
//! Each anomaly the detectors report becomes one line of JSON on stdout or appended to a
//! file, so that log shippers (journald, Vector, Fluent Bit) can pick it up without a
//! parser of their own. One attack easily produces thousands of anomalous flows towards
//! the same destination; writing each would drown the useful first lines, so events are
//! limited per address (the destination of a flow, the host of a destination window, the
//! source of a source window) and per detector, so a flood of flow verdicts cannot hide
//! the host or source detector's verdict. What is held back is never lost silently: the
//! next event written for that address carries `"suppressed": K`, and
//! [`EventWriter::finish`] writes one summary line per address whose held-back count never
//! got a later event (naming it `"source"` for the source detector, `"host"` otherwise).
//!
//! The address table is bounded ([`RateLimit::max_hosts`]) so a flood of spoofed addresses
//! cannot grow memory; evicting an address that still holds a count writes its summary
//! first.
//!
//! - this file: the event types and [`EventWriter`].
//! - `json`: the JSON of event and summary lines.
//! - `limiter`: the per-address, per-detector fixed-window rate limit.

use std::fs::OpenOptions;
use std::io::{self, Write};
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
    /// The per-source, one-second window Isolation Forest.
    Source,
    /// Threshold rules over flows and windows; each event names its rule.
    Threshold,
}

impl Detector {
    /// Every detector, in label order.
    pub const ALL: [Detector; 4] = [
        Detector::Flow,
        Detector::Host,
        Detector::Source,
        Detector::Threshold,
    ];

    /// The name used in JSON events and as a metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Detector::Flow => "flow",
            Detector::Host => "host",
            Detector::Source => "source",
            Detector::Threshold => "threshold",
        }
    }

    /// Position in [`Detector::ALL`], for per-detector arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Number of detectors: the length of per-detector arrays.
pub const N_DETECTORS: usize = Detector::ALL.len();

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// The threshold rule that fired, for [`Detector::Threshold`] events; written as
    /// `"rule"` only when present.
    pub rule: Option<&'a str>,
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
    /// Events written per second over all hosts and detectors; beyond it events are held
    /// back and folded into their host's count like rate-limited ones.
    pub global_per_s: u32,
}

impl Default for RateLimit {
    /// 5 events per host every 10 s: enough to see an attack start and change, few enough
    /// that a flood does not bury everything else. 4096 hosts cap the table at well under
    /// a megabyte. 100 events a second in all keep a flood over millions of spoofed
    /// addresses from writing millions of lines. (The values are in
    /// [`crate::settings::defaults`].)
    fn default() -> Self {
        use crate::settings::defaults;
        RateLimit {
            burst: defaults::EVENT_RATE_LIMIT,
            interval: defaults::EVENT_RATE_INTERVAL,
            max_hosts: defaults::EVENT_RATE_HOSTS,
            global_per_s: defaults::EVENT_BUDGET_PER_S,
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

impl EventWriter<EventSink> {
    /// Opens stdout, or a file for appending (created if missing), behind the bounded
    /// queue of a writer thread (see [`queue`]): writing never blocks the caller, and
    /// what cannot be written is dropped and counted in `drops`.
    pub fn open(
        target: &EventTarget,
        limit: RateLimit,
        drops: queue::DropCounters,
    ) -> Result<Self, EventsError> {
        Ok(EventWriter::new(
            EventSink::Queued(open_queued(target, drops)?),
            limit,
        ))
    }
}

/// `target` behind a writer thread's queue (see [`EventWriter::open`]).
pub fn open_queued(
    target: &EventTarget,
    drops: queue::DropCounters,
) -> Result<queue::QueuedSink, EventsError> {
    let out: Box<dyn Write + Send> = match target {
        EventTarget::Stdout => Box::new(io::stdout()),
        EventTarget::File(path) => Box::new(open_append(path)?),
    };
    queue::QueuedSink::spawn(out, drops).map_err(|source| EventsError::Open {
        path: PathBuf::from("(event writer thread)"),
        source,
    })
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
        let admission = self.limiter.admit(ev.detector, ev.subject.host(), now);
        if let Some(evicted) = admission.evicted {
            self.write_summary(evicted, ev.time)?;
        }
        if let Outcome::Written { folded } = admission.outcome {
            self.line.clear();
            write_event(&mut self.line, ev, folded).map_err(json_error)?;
            self.write_line()?;
        }
        Ok(admission.outcome)
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

    /// Puts `out` in place of the current sink (the old one is flushed and dropped), e.g.
    /// the events file opened again after log rotation. The rate-limit state carries over.
    pub fn replace_sink(&mut self, out: W) -> Result<(), EventsError> {
        self.flush()?;
        self.out = out;
        Ok(())
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

mod json;
mod limiter;
pub mod queue;
mod sink;
mod subject;

use json::{json_error, write_event, write_summary};
use limiter::{Limiter, Pending};
pub use sink::EventSink;
pub use subject::Subject;
#[cfg(test)]
mod tests;
