//! `packetguard_rule_matches_total{rule}`: how often each threshold rule matched.
//!
//! The `rule` label takes the configured rule names and nothing else, so its set is
//! bounded by the config (at most [`crate::detect::rules::MAX_RULES`]). Every child is
//! created when the agent starts, so each configured rule's series exists at 0 before it
//! first matches and alerts can use `increase()` from the start.

use prometheus::IntCounter;

use super::{Builder, Metrics, MetricsError};

/// Name of the counter.
pub const RULE_MATCHES: &str = "packetguard_rule_matches_total";

/// The rule match counters, one per configured rule, in configuration order.
pub struct RuleMetrics {
    vec: prometheus::IntCounterVec,
    /// Name and counter of each rule; a rule's index is its position.
    matches: Vec<(Box<str>, IntCounter)>,
}

impl RuleMetrics {
    /// Registers `packetguard_rule_matches_total` in `metrics`' registry with one child per
    /// rule name (in configuration order, e.g. [`crate::detect::rules::Rules::names`]), each
    /// at 0. Once per registry: a second call fails as a duplicate registration.
    pub fn new<'a>(
        metrics: &Metrics,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, MetricsError> {
        let b = Builder {
            registry: metrics.registry().clone(),
        };
        let vec = b.counter_vec(
            RULE_MATCHES,
            "Window rows a threshold rule matched (feature strictly above its limit), by rule.",
            &["rule"],
        )?;
        let mut m = RuleMetrics {
            vec,
            matches: Vec::new(),
        };
        m.set_names(names);
        Ok(m)
    }

    /// Follows a reloaded configuration: one child per rule of `names` (new ones at 0; a
    /// rule that keeps its name keeps its count). Rules no longer configured leave the
    /// exposition.
    pub fn set_names<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        let new: Vec<(Box<str>, IntCounter)> = names
            .into_iter()
            .map(|name| (name.into(), self.vec.with_label_values(&[name])))
            .collect();
        for (old, _) in &self.matches {
            if !new.iter().any(|(n, _)| n == old) {
                let _ = self.vec.remove_label_values(&[old]);
            }
        }
        self.matches = new;
    }

    /// Counts one match of the rule at `index` (`RuleMatch::index`). Touches one atomic; an
    /// index beyond the configured rules counts nothing.
    #[inline]
    pub fn record_match(&self, index: usize) {
        if let Some((_, counter)) = self.matches.get(index) {
            counter.inc();
        }
    }

    /// Counts one match of the rule called `name`; false when no rule has that name. A
    /// linear search: prefer [`RuleMetrics::record_match`] on the hot path.
    pub fn record_match_named(&self, name: &str) -> bool {
        match self.matches.iter().find(|(n, _)| &**n == name) {
            Some((_, counter)) => {
                counter.inc();
                true
            }
            None => false,
        }
    }
}
