//! One detector's judgement of one flow or window, owned: what offline analysis,
//! evaluation and the report work from.
//!
//! The live agent writes verdicts straight into its sinks as borrowed
//! [`AnomalyEvent`](crate::events::AnomalyEvent)s and keeps none. Offline work needs every
//! verdict, normal ones included (a score distribution, a ROC curve, false positives per
//! hour), after the pipeline has run, so it collects these instead.

use crate::events::{Detector, FeatureContribution, Subject};

/// A scored flow or window, normal or anomalous.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// When the verdict was made, in nanoseconds since the Unix epoch on the clock of the
    /// traffic (capture timestamps offline): a flow record's end, a window's close.
    pub ts_ns: u64,
    pub detector: Detector,
    /// The threshold rule that matched, for [`Detector::Threshold`] verdicts.
    pub rule: Option<String>,
    pub subject: Subject,
    /// Isolation Forest score in [0, 1] (higher is more anomalous); for a threshold rule,
    /// the feature's value.
    pub score: f64,
    /// The score at or above which the detector calls a verdict anomalous; for a rule, its
    /// limit.
    pub threshold: f64,
    pub anomaly: bool,
    /// The features that contributed most, most important first (at most a few).
    pub top_features: Vec<FeatureContribution>,
    /// The model's feature values of the scored row (raw, before the model's transforms,
    /// in the model's feature order), when the verdict sink asked for them
    /// ([`VerdictSink::wants_values`](crate::pipeline::sinks::verdicts::VerdictSink)):
    /// `evaluate --rows` writes them out so that another forest can score the very rows
    /// ours did. Empty otherwise, and for threshold rules.
    pub values: Vec<f64>,
}
