//! A detector with where its verdicts go: scores queued rows in batches, counts them, and
//! writes an event for each anomaly.

use std::time::{Instant, SystemTime};

use anyhow::Result;
use packetguard_forest::{Attribution, Verdict};

use crate::{
    detect::{
        models::Loaded,
        scorer::{Scored, Scorer, Tag, TOP_FEATURES},
    },
    events::{AnomalyEvent, EventWriter, FeatureContribution, Outcome},
    metrics::Metrics,
};

/// The event writer `run` uses (standard output or an appended file, behind a queue).
pub type Events = EventWriter<crate::events::queue::QueuedSink>;

/// Where both detectors report.
pub struct Outputs {
    pub events: Events,
    pub metrics: std::sync::Arc<Metrics>,
}

/// One detector: its scorer and model id.
pub struct Pipeline<T> {
    scorer: Scorer<T>,
    model_id: String,
}

impl<T: Tag> Pipeline<T> {
    /// A pipeline for rows of `names`; fails if the model does not fit them.
    pub fn new(loaded: Loaded, names: &'static [&'static str], out: &Outputs) -> Result<Self> {
        let model_id = loaded.model.id();
        out.metrics.set_model_info(T::DETECTOR, &model_id);
        Ok(Self {
            scorer: Scorer::new(loaded.model, &loaded.path, names)?,
            model_id,
        })
    }

    /// Queues a row, scoring the batch first when it is full.
    pub fn queue(&mut self, out: &mut Outputs, tag: T, row: &[f64]) -> Result<()> {
        if self.scorer.is_full() {
            self.score(out)?;
        }
        self.scorer.push(tag, row);
        Ok(())
    }

    /// Scores what is queued, counts it and reports the anomalies.
    pub fn score(&mut self, out: &mut Outputs) -> Result<()> {
        self.score_each(out, |_, _| {})
    }

    /// [`Self::score`], calling `each` with every scored row first.
    pub fn score_each(
        &mut self,
        out: &mut Outputs,
        mut each: impl FnMut(&Scorer<T>, &Scored<'_, T>),
    ) -> Result<()> {
        let n = self.scorer.score_pending();
        out.metrics.record_scores(T::DETECTOR, self.scorer.scores());
        for i in 0..n {
            let scored = self.scorer.result(i);
            each(&self.scorer, &scored);
            if scored.verdict == Verdict::Anomaly {
                report(&self.scorer, out, &self.model_id, &scored)?;
            }
        }
        self.scorer.clear();
        Ok(())
    }
}

/// Writes one anomaly event and counts it.
fn report<T: Tag>(
    scorer: &Scorer<T>,
    out: &mut Outputs,
    model_id: &str,
    scored: &Scored<'_, T>,
) -> Result<()> {
    let mut attr = [Attribution::default(); TOP_FEATURES];
    let n = scorer.explain(scored.row, &mut attr);
    let mut top = [FeatureContribution {
        name: "",
        value: 0.0,
        weight: 0.0,
    }; TOP_FEATURES];
    for (dst, a) in top.iter_mut().zip(&attr[..n]) {
        *dst = FeatureContribution {
            name: scorer.feature_name(a.feature),
            value: scored.row[a.feature],
            weight: a.weight,
        };
    }
    let ev = AnomalyEvent {
        time: SystemTime::now(),
        detector: T::DETECTOR,
        rule: None,
        subject: scored.tag.subject(),
        score: scored.score,
        threshold: scorer.model().threshold(),
        top_features: &top[..n],
        model: model_id,
    };
    write(out, &ev)
}

/// Counts an anomaly and writes its event, rate-limited per address and detector; what the
/// limit holds back is counted as suppressed.
fn write(out: &mut Outputs, ev: &AnomalyEvent<'_>) -> Result<()> {
    out.metrics.record_anomaly(ev.detector);
    if let Outcome::Suppressed = out.events.emit(ev, Instant::now())? {
        out.metrics.add_events_suppressed(ev.detector, 1);
    }
    Ok(())
}

/// Writes the event of one threshold-rule match and counts it: the rule's feature as the
/// only top feature, its value as the score and the limit as the threshold. Rate-limited
/// per address like model events, under the `threshold` detector.
pub fn report_rule(
    out: &mut Outputs,
    m: &crate::detect::rules::RuleMatch<'_>,
    subject: crate::events::Subject,
) -> Result<()> {
    use crate::events::Detector;
    let top = [FeatureContribution {
        name: m.feature,
        value: m.value,
        weight: 1.0,
    }];
    let ev = AnomalyEvent {
        time: SystemTime::now(),
        detector: Detector::Threshold,
        rule: Some(m.rule),
        subject,
        score: m.value,
        threshold: m.limit,
        top_features: &top,
        model: "",
    };
    write(out, &ev)
}
