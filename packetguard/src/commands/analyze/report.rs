//! `analyze --report`: the pipeline feeds a [`ReportBuilder`] while it runs (every verdict
//! through the verdict sink, the traffic through the stage), and the page is written at
//! the end. The builder keeps bounded summaries only, so a report costs the same memory
//! for any length of input.

use std::{cell::RefCell, path::Path, rc::Rc};

use crate::{
    pipeline::sinks::verdicts::VerdictSink,
    report::{Input, ReportBuilder, ReportError, ReportMeta},
    verdict::Verdict,
};

/// A handle on the report being built; clones share it (the verdict sink holds one, the
/// stage another).
#[derive(Clone)]
pub struct Report {
    builder: Rc<RefCell<ReportBuilder>>,
    /// The first and last traffic timestamp of the input being read.
    span_ns: Option<(u64, u64)>,
}

impl Report {
    pub fn new(meta: ReportMeta) -> Report {
        Report {
            builder: Rc::new(RefCell::new(ReportBuilder::new(meta))),
            span_ns: None,
        }
    }

    /// Traffic read from the current input. Allocates only when a second is first seen.
    pub fn traffic(&mut self, ts_ns: u64, packets: u64, bytes: u64) {
        self.span_ns = Some(match self.span_ns {
            None => (ts_ns, ts_ns),
            Some((lo, hi)) => (lo.min(ts_ns), hi.max(ts_ns)),
        });
        self.builder.borrow_mut().traffic(ts_ns, packets, bytes);
    }

    /// The current input was read to its end: it is named with its span and the features
    /// it could not provide, and the next input's span starts afresh.
    pub fn input_done(&mut self, name: &Path, format: &str, missing: &[&'static str]) {
        let mut b = self.builder.borrow_mut();
        b.input(Input {
            name: name.display().to_string(),
            format: format.to_owned(),
            span_ns: self.span_ns.take(),
        });
        if !missing.is_empty() {
            b.unavailable_features(
                missing,
                &format!("{}: a {format} does not carry them", name.display()),
            );
        }
    }

    pub fn write_file(&self, path: &Path) -> Result<(), ReportError> {
        self.builder.borrow().write_file(path)
    }
}

/// Hands every verdict to the report, then to the next sink.
pub struct Tee {
    pub report: Report,
    pub next: Box<dyn VerdictSink>,
}

impl VerdictSink for Tee {
    fn verdict(&mut self, v: Verdict) {
        self.report.builder.borrow_mut().verdict(&v);
        self.next.verdict(v);
    }

    fn wants_values(&self) -> bool {
        self.next.wants_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Detector, Subject};

    fn verdict(ts_ns: u64, anomaly: bool) -> Verdict {
        Verdict {
            ts_ns,
            detector: Detector::Host,
            rule: None,
            subject: Subject::Host("198.51.100.7".parse().unwrap()),
            score: if anomaly { 0.8 } else { 0.4 },
            threshold: 0.6,
            anomaly,
            top_features: Vec::new(),
            values: Vec::new(),
        }
    }

    #[test]
    fn verdicts_reach_the_report_and_the_next_sink_and_inputs_get_their_own_span() {
        let mut report = Report::new(ReportMeta::default());
        let seen = Rc::new(RefCell::new(Vec::new()));
        let into = seen.clone();
        let mut tee = Tee {
            report: report.clone(),
            next: Box::new(move |v: Verdict| into.borrow_mut().push(v.anomaly)),
        };
        tee.verdict(verdict(5_000_000_000, true));
        tee.verdict(verdict(6_000_000_000, false));
        assert_eq!(*seen.borrow(), [true, false]);
        report.traffic(7_000_000_000, 1, 60);
        report.traffic(3_000_000_000, 1, 60);
        report.input_done(Path::new("a.pcap"), "capture", &[]);
        report.traffic(9_000_000_000, 4, 400);
        report.input_done(Path::new("b.csv"), "packet list", &["ttl_min"]);
        let b = report.builder.borrow();
        let c = b.counts(Detector::Host);
        assert_eq!((c.normal, c.anomaly), (1, 1));
        let page = b.render().unwrap();
        assert!(page.contains("a.pcap"), "{page}");
        assert!(page.contains("b.csv: a packet list does not carry them"));
    }
}
