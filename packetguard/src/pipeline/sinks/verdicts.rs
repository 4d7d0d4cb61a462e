//! The verdict sink: every verdict of every detector, normal ones too, as an owned
//! [`Verdict`]. The live agent has none (it keeps no verdicts); `analyze` hands them to the
//! report, and evaluation counts them.

use std::time::UNIX_EPOCH;

use crate::{events::AnomalyEvent, verdict::Verdict};

/// Receives every verdict, in the order the detectors make them.
pub trait VerdictSink {
    fn verdict(&mut self, v: Verdict);
    /// Whether verdicts should carry the scored row's feature values ([`Verdict::values`]).
    /// Off unless asked for: a row costs an allocation per verdict.
    fn wants_values(&self) -> bool {
        false
    }
}

impl<F: FnMut(Verdict)> VerdictSink for F {
    fn verdict(&mut self, v: Verdict) {
        self(v)
    }
}

/// Hands `sink` the verdict of `ev`, with the scored `row`'s feature values when the sink
/// asks for them ([`VerdictSink::wants_values`]).
pub fn hand_over(sink: &mut dyn VerdictSink, ev: &AnomalyEvent<'_>, anomaly: bool, row: &[f64]) {
    let values = if sink.wants_values() { row } else { &[] };
    sink.verdict(verdict_of(ev, anomaly, values));
}

/// The owned verdict of `ev`, anomalous or not, with the row's feature `values` (empty for
/// none).
pub fn verdict_of(ev: &AnomalyEvent<'_>, anomaly: bool, values: &[f64]) -> Verdict {
    Verdict {
        ts_ns: ev
            .time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64),
        detector: ev.detector,
        rule: ev.rule.map(str::to_owned),
        subject: ev.subject,
        score: ev.score,
        threshold: ev.threshold,
        anomaly,
        top_features: ev.top_features.to_vec(),
        values: values.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::{Detector, FeatureContribution, Subject};

    #[test]
    fn a_verdict_owns_what_the_event_borrowed() {
        let top = [FeatureContribution {
            name: "new_flows_per_s",
            value: 2500.0,
            weight: 1.0,
        }];
        let ev = AnomalyEvent {
            time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            detector: Detector::Threshold,
            rule: Some("web-syn-flood"),
            subject: Subject::Host("198.51.100.7".parse().unwrap()),
            score: 2500.0,
            threshold: 2000.0,
            top_features: &top,
            model: "",
        };
        let mut got = Vec::new();
        let mut sink = |v: Verdict| got.push(v);
        sink.verdict(verdict_of(&ev, true, &[]));
        assert_eq!(
            got,
            [Verdict {
                ts_ns: 1_700_000_000_123_000_000,
                detector: Detector::Threshold,
                rule: Some("web-syn-flood".into()),
                subject: Subject::Host("198.51.100.7".parse().unwrap()),
                score: 2500.0,
                threshold: 2000.0,
                anomaly: true,
                top_features: top.to_vec(),
                values: Vec::new(),
            }]
        );
    }
}
