//! A detector with where its verdicts go: scores queued rows in batches, counts them,
//! writes an event for each anomaly, and hands every verdict to the verdict sink if any.

use anyhow::Result;
use packetguard_forest::{Attribution, Verdict};

use crate::{
    detect::{
        models::Loaded,
        scorer::{Scored, Scorer, Tag, TOP_FEATURES},
    },
    events::{AnomalyEvent, EventWriter, FeatureContribution, Outcome},
    metrics::Metrics,
    ui::{
        anomalies::Reported,
        state::{ModelInUse, Point},
        unix_ms, LiveState, SharedState,
    },
};

use super::{
    clock::Clock,
    sinks::verdicts::{hand_over, VerdictSink},
};

/// The event writer of the pipeline (standard output, an appended file, or nowhere,
/// behind a queue).
pub type Events = EventWriter<crate::events::EventSink>;

/// Where every detector reports, and the clock they report on.
pub struct Outputs {
    pub events: Events,
    pub metrics: std::sync::Arc<Metrics>,
    /// The live page's state; `None` with `--no-ui` and offline.
    pub live: Option<SharedState>,
    /// Every verdict, normal ones too (offline analysis, the report, evaluation).
    pub verdicts: Option<Box<dyn VerdictSink>>,
    /// The source's clock: event times, rate limits and windows run on it.
    pub clock: Clock,
}

impl Outputs {
    /// Runs `f` on the live page's state, if the page is on.
    pub fn live(&self, f: impl FnOnce(&mut LiveState)) {
        if let Some(live) = &self.live {
            f(&mut live.lock());
        }
    }
}

/// Normal rows of one scored batch shown on the live page's scatter, at most.
const POINTS_PER_BATCH: usize = 32;

/// One detector: its scorer and model id.
pub struct Pipeline<T> {
    scorer: Scorer<T>,
    model_id: String,
    /// Where a row's bytes are, for the live page's scatter (see [`RowBytes`]).
    bytes: RowBytes,
}

/// Which features of a row add up to its bytes: both directions of a flow, or a window's
/// bytes per second. Found by name once, so rows are not searched.
#[derive(Clone, Copy, Debug)]
struct RowBytes([Option<usize>; 2]);

impl RowBytes {
    fn of(names: &[&str]) -> Self {
        let at = |n: &str| names.iter().position(|x| *x == n);
        match at("bytes_per_s") {
            Some(i) => RowBytes([Some(i), None]),
            None => RowBytes([at("fwd_bytes"), at("bwd_bytes")]),
        }
    }

    fn get(&self, row: &[f64]) -> f64 {
        self.0.iter().flatten().filter_map(|&i| row.get(i)).sum()
    }
}

impl<T: Tag> Pipeline<T> {
    /// A pipeline for rows of `names`; fails if the model does not fit them.
    pub fn new(loaded: Loaded, names: &'static [&'static str], out: &Outputs) -> Result<Self> {
        let model_id = loaded.model.id();
        out.metrics.set_model_info(T::DETECTOR, &model_id);
        let info = loaded.model.info();
        let in_use = ModelInUse {
            id: model_id.clone(),
            kind: info.kind.clone(),
            trained_rows: info.rows,
            threshold: loaded.model.threshold(),
        };
        let scorer = Scorer::new(loaded.model, &loaded.path, names)?;
        out.live(|l| l.set_model(T::DETECTOR, in_use));
        Ok(Self {
            scorer,
            model_id,
            bytes: RowBytes::of(names),
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
        self.score_each(out, |_, _, _| {})
    }

    /// [`Self::score`], calling `each` with every scored row first.
    pub fn score_each(
        &mut self,
        out: &mut Outputs,
        mut each: impl FnMut(&Scorer<T>, &Scored<'_, T>, std::time::SystemTime),
    ) -> Result<()> {
        let n = self.scorer.score_pending();
        out.metrics.record_scores(T::DETECTOR, self.scorer.scores());
        let time = out.clock.now().wall;
        for i in 0..n {
            let scored = self.scorer.result(i);
            each(&self.scorer, &scored, time);
            if scored.verdict == Verdict::Anomaly {
                report(&self.scorer, out, &self.model_id, &scored)?;
            } else if let Some(v) = &mut out.verdicts {
                hand_over(
                    v.as_mut(),
                    &AnomalyEvent {
                        time,
                        detector: T::DETECTOR,
                        rule: None,
                        subject: scored.tag.subject(),
                        score: scored.score,
                        threshold: self.scorer.model().threshold(),
                        top_features: &[],
                        model: &self.model_id,
                    },
                    false,
                    scored.row,
                );
            }
        }
        if n > 0 {
            // One lock for the whole batch. A flood's batch holds thousands of rows: the
            // scatter takes an even sample of the normal ones and every anomaly, so one
            // batch does not push the seconds before it out of the plot.
            let now = unix_ms(time);
            let stride = n.div_ceil(POINTS_PER_BATCH);
            out.live(|l| {
                for i in 0..n {
                    let s = self.scorer.result(i);
                    let anomaly = s.verdict == Verdict::Anomaly;
                    l.offer_score(s.tag.subject(), s.score, now);
                    if !anomaly && i % stride != 0 {
                        continue;
                    }
                    let bytes = self.bytes.get(s.row);
                    l.record_point(
                        T::DETECTOR,
                        Point {
                            t_ms: now,
                            score: s.score,
                            anomaly,
                            bytes,
                        },
                    );
                }
            });
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
        time: out.clock.now().wall,
        detector: T::DETECTOR,
        rule: None,
        subject: scored.tag.subject(),
        score: scored.score,
        threshold: scorer.model().threshold(),
        top_features: &top[..n],
        model: model_id,
    };
    emit(out, &ev, scored.row)
}

/// Counts an anomaly and writes its event, rate-limited per address and detector (what the
/// limit holds back is counted as suppressed), and shows it on the live page folded the
/// way the event was. `row` is the scored row's feature values (empty for a rule).
fn emit(out: &mut Outputs, ev: &AnomalyEvent<'_>, row: &[f64]) -> Result<()> {
    out.metrics.record_anomaly(ev.detector);
    if let Some(v) = &mut out.verdicts {
        hand_over(v.as_mut(), ev, true, row);
    }
    let outcome = out.events.emit(ev, out.clock.now().mono)?;
    if let Outcome::Suppressed = outcome {
        out.metrics.add_events_suppressed(ev.detector, 1);
    }
    out.live(|l| {
        l.record_anomaly(&Reported {
            time_ms: unix_ms(ev.time),
            detector: ev.detector,
            rule: ev.rule,
            subject: ev.subject,
            score: ev.score,
            threshold: ev.threshold,
            top: ev.top_features,
            written: matches!(outcome, Outcome::Written { .. }),
        })
    });
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
        time: out.clock.now().wall,
        detector: Detector::Threshold,
        rule: Some(m.rule),
        subject,
        score: m.value,
        threshold: m.limit,
        top_features: &top,
        model: "",
    };
    emit(out, &ev, &[])
}
