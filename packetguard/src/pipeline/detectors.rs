//! The detectors stage: the flow detector (every flow record), the host detector
//! (per-destination windows), the source detector (per-source windows), the threshold
//! rules (both kinds of windows), and the learning phase if any. Fed alike by the live
//! source and by offline ones; every time it reads is the pipeline's clock
//! ([`Outputs::clock`]).

use std::{
    net::IpAddr,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use packetguard_common::{FlowRecord, HostKey};

use super::{
    detector::{report_rule, Outputs, Pipeline},
    learn::Learner,
    sinks::scores::FlowScores,
    source::AddressTotals,
};
use crate::{
    datapath::{drain::Event, flow_table::Removed},
    detect::{
        flow::{self, flow_row},
        host,
        models::{self, Models},
        rules::{Rules, WindowKind},
        source::{self, SourceKey},
        window::{DestinationWindows, SourceWindows, WindowRole},
    },
    events::Subject,
    flows::{addr, context::FlowContext, Endpoints},
    metrics::RuleMetrics,
    ui::{top::Talkers, unix_ms},
};

/// The shortest window that is scored. The live loop closes a window every second; after a
/// stall (the agent descheduled, a slow disk) the next tick may come moments after the one
/// before, and rates over a few milliseconds would be noise blown up a hundredfold. A
/// window shorter than this is not closed: it goes on and is scored with the next.
pub const MIN_WINDOW: Duration = Duration::from_millis(500);

/// True when a window open for `elapsed` is long enough to close and score.
pub fn window_due(elapsed: Duration) -> bool {
    elapsed >= MIN_WINDOW
}

/// Every detector (each may be off), the windows, and the learning phase if any.
pub struct Detectors {
    pub out: Outputs,
    flow: Option<Pipeline<Endpoints>>,
    host: Option<Pipeline<HostKey>>,
    source: Option<Pipeline<SourceKey>>,
    rules: Rules,
    rule_metrics: Option<RuleMetrics>,
    destinations: DestinationWindows,
    sources: SourceWindows,
    /// The context features of flow records, from the flow starts.
    context: FlowContext,
    window_opened: Instant,
    pub learner: Option<Learner>,
    /// `--flow-scores`: every scored flow, as CSV.
    pub flow_scores: Option<FlowScores>,
}

impl Detectors {
    pub fn new(out: Outputs, rules: Rules, learner: Option<Learner>) -> Result<Self> {
        let window_opened = out.clock.now().mono;
        let rule_metrics = if rules.is_empty() {
            None
        } else {
            Some(RuleMetrics::new(&out.metrics, rules.names())?)
        };
        Ok(Self {
            out,
            flow: None,
            host: None,
            source: None,
            rules,
            rule_metrics,
            destinations: DestinationWindows::new(),
            sources: SourceWindows::new(),
            context: FlowContext::new(),
            window_opened,
            learner,
            flow_scores: None,
        })
    }

    /// Takes `rules` in place of the current ones (a reloaded config file).
    pub fn set_rules(&mut self, rules: Rules, metrics: &crate::metrics::Metrics) -> Result<()> {
        match &mut self.rule_metrics {
            Some(m) => m.set_names(rules.names()),
            None if !rules.is_empty() => {
                self.rule_metrics = Some(RuleMetrics::new(metrics, rules.names())?);
            }
            None => {}
        }
        let names: Vec<String> = rules.names().map(str::to_owned).collect();
        self.out.live(|l| l.health.rules = names);
        self.rules = rules;
        Ok(())
    }

    /// Windows are built while learning and while a window detector or a rule is on;
    /// without any, reading the address maps and counting flow starts would be work for
    /// nothing.
    pub fn wants_windows(&self) -> bool {
        self.learner.is_some()
            || self.host.is_some()
            || self.source.is_some()
            || !self.rules.is_empty()
    }

    /// Flow rows are built while learning and while the flow detector is on; they need
    /// the flow starts for their context features.
    pub fn wants_flow_rows(&self) -> bool {
        self.learner.is_some() || self.flow.is_some()
    }

    /// Scores (or, while learning, keeps) a flow record.
    fn flow_record(&mut self, rec: &FlowRecord) -> Result<()> {
        let prior = self
            .context
            .prior_login_attempts(&rec.key, rec.stats.flow_start_ns);
        let (tag, row) = flow_row(rec, prior);
        if let Some(l) = &mut self.learner {
            // A flow is keyed by its opener: the address that chose to send it.
            l.flows.offer(&row, super::learn::address_key(tag.src));
        } else if let Some(p) = &mut self.flow {
            p.queue(&mut self.out, tag, &row)?;
        }
        Ok(())
    }

    /// Scores (or, while learning, keeps) a flow known by its features only.
    pub fn flow_features(&mut self, tag: Endpoints, row: &[f64]) -> Result<()> {
        if let Some(l) = &mut self.learner {
            l.flows.offer(row, super::learn::address_key(tag.src));
        } else if let Some(p) = &mut self.flow {
            p.queue(&mut self.out, tag, row)?;
        }
        Ok(())
    }

    /// Handles what the agent exported when it removed a flow from the kernel: its last
    /// record, and what it counted but had not credited to its addresses.
    pub fn removed(&mut self, removed: &Removed) -> Result<()> {
        if self.wants_windows() {
            for (host, d) in &removed.uncredited {
                self.destinations.credit_late(*host, d);
            }
            for (sender, d) in &removed.uncredited_sources {
                self.sources.credit_late(*sender, d);
            }
        }
        let scored = match &removed.record {
            Some(rec) => self.flow_record(rec),
            None => Ok(()),
        };
        self.context.forget(&removed.key, removed.flow_start_ns);
        scored
    }

    pub fn event(&mut self, ev: Event<'_>) -> Result<()> {
        match ev {
            Event::Flow(rec) => self.flow_record(rec),
            Event::FlowStart(start) => {
                if self.wants_flow_rows() {
                    self.context.observe_start(start);
                    let not_kept = self.context.take_not_kept();
                    if not_kept > 0 {
                        self.out.metrics.add_login_context_full(not_kept);
                    }
                }
                if self.wants_windows() {
                    self.destinations.observe_start(start);
                    self.sources.observe_start(start);
                }
                Ok(())
            }
            Event::Sample(_) => Ok(()),
        }
    }

    /// Reads the kernel's per-destination and per-source totals and closes the current
    /// windows: one row per address that saw traffic, scored (or kept while learning) and
    /// checked against the rules.
    ///
    /// A window shorter than [`MIN_WINDOW`] stays open (see there).
    pub fn close_windows(
        &mut self,
        dst_map: &mut dyn AddressTotals,
        src_map: &mut dyn AddressTotals,
    ) -> Result<()> {
        let clock = self.out.clock.now();
        let elapsed = clock.mono.saturating_duration_since(self.window_opened);
        if !self.wants_windows() || !window_due(elapsed) {
            return Ok(());
        }
        let destinations = &mut self.destinations;
        dst_map.for_each_total(&mut |a, totals| destinations.reading(a, totals))?;
        let sources = &mut self.sources;
        src_map.for_each_total(&mut |a, totals| sources.reading(a, totals))?;
        let window = elapsed;
        self.window_opened = clock.mono;

        // Top talkers by traffic, gathered here and handed to the live page in one lock.
        let mut talkers = Talkers::default();
        let now_ms = unix_ms(clock.wall);
        let dst_bytes = bytes_per_s_at(host::NAMES);
        let src_bytes = bytes_per_s_at(source::NAMES);
        let (learner, rules, out) = (&mut self.learner, &self.rules, &mut self.out);
        let rule_metrics = self.rule_metrics.as_ref();
        let (host, source) = (&mut self.host, &mut self.source);
        let closed_dst = self.destinations.try_close(window, |key, row| {
            if let Some(l) = learner.as_mut() {
                l.hosts.offer(row, super::learn::address_key(key));
            } else if let Some(p) = host.as_mut() {
                p.queue(out, key, row)?;
            }
            let ip = addr(&key.addr, key.ip_version);
            if let Some(v) = dst_bytes.and_then(|i| row.get(i)) {
                talkers.destinations_by_bytes.offer(ip, *v, now_ms);
            }
            check_rules(rules, rule_metrics, out, WindowKind::Destination, ip, row)
        })?;
        let closed_src = self.sources.try_close(window, |key, row| {
            if let Some(l) = learner.as_mut() {
                l.sources.offer(row, super::learn::address_key(key));
            } else if let Some(p) = source.as_mut() {
                p.queue(out, SourceKey(key), row)?;
            }
            let ip = addr(&key.addr, key.ip_version);
            if let Some(v) = src_bytes.and_then(|i| row.get(i)) {
                talkers.sources_by_bytes.offer(ip, *v, now_ms);
            }
            check_rules(rules, rule_metrics, out, WindowKind::Source, ip, row)
        })?;
        self.out.live(|l| {
            for e in talkers.destinations_by_bytes.list(now_ms) {
                l.offer_bytes(true, e.addr, e.value, now_ms);
            }
            for e in talkers.sources_by_bytes.list(now_ms) {
                l.offer_bytes(false, e.addr, e.value, now_ms);
            }
        });
        for (role, closed) in [
            (WindowRole::Destination, closed_dst),
            (WindowRole::Source, closed_src),
        ] {
            if closed.saturated {
                self.out.metrics.record_window_saturated(role);
                tracing::warn!(
                    window = role.as_str(),
                    "more addresses or distinct peers and ports in one second than the windows track; this second's counts are upper bounds"
                );
            }
        }
        Ok(())
    }

    /// Scores whatever the detectors have queued.
    pub fn score(&mut self) -> Result<()> {
        if let Some(p) = &mut self.flow {
            match &mut self.flow_scores {
                Some(csv) => {
                    p.score_each(&mut self.out, |scorer, s, time| csv.write(scorer, s, time))?
                }
                None => p.score(&mut self.out)?,
            }
        }
        if let Some(p) = &mut self.host {
            p.score(&mut self.out)?;
        }
        if let Some(p) = &mut self.source {
            p.score(&mut self.out)?;
        }
        Ok(())
    }

    /// Starts scoring with `models`, and says which detectors are on.
    pub fn install(&mut self, models: Models) -> Result<()> {
        // Build every pipeline before printing anything: a model that does not fit fails
        // alone.
        let described =
            |m: &models::Loaded| format!("model {} ({})", m.model.id(), m.path.display());
        let texts = [
            ("flow", models.flow.as_ref().map(described)),
            ("host", models.host.as_ref().map(described)),
            ("source", models.source.as_ref().map(described)),
        ];
        if let Some(m) = models.flow {
            self.flow = Some(Pipeline::new(m, flow::NAMES, &self.out)?);
        }
        if let Some(m) = models.host {
            self.host = Some(Pipeline::new(m, host::NAMES, &self.out)?);
        }
        if let Some(m) = models.source {
            self.source = Some(Pipeline::new(m, source::NAMES, &self.out)?);
        }
        for (name, text) in texts {
            match text {
                Some(t) => eprintln!("{name} detector: {t}"),
                None => eprintln!("{name} detector: off (no {name} model)"),
            }
        }
        let rules: Vec<String> = self.rules.names().map(str::to_owned).collect();
        self.out.live(|l| l.health.rules = rules);
        if !self.rules.is_empty() {
            eprintln!(
                "threshold rules: {}",
                self.rules.names().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    }

    /// Starts the current window now (after a stretch of empty windows the source did not
    /// close one by one).
    pub fn restart_window(&mut self) {
        self.window_opened = self.out.clock.now().mono;
    }

    /// Starts the first window, and the learning time if any, now: when the source starts
    /// yielding traffic.
    pub fn start(&mut self) {
        let now = self.out.clock.now().mono;
        self.window_opened = now;
        if let Some(l) = &mut self.learner {
            l.restart(now);
        }
    }

    /// True once the learning phase, if any, has run its course on the pipeline's clock.
    pub fn learning_due(&self) -> bool {
        self.learner
            .as_ref()
            .is_some_and(|l| self.out.clock.now().mono >= l.until)
    }

    /// Ends the learning phase: trains, saves, and starts detecting with the new models
    /// (a detector that saw too little keeps the default model, if there is one).
    pub fn finish_learning(&mut self, dir: &Path) -> Result<()> {
        let Some(learner) = self.learner.take() else {
            return Ok(());
        };
        let mut learned = learner.finish(dir, self.out.clock.now().mono)?;
        if learned.flow.is_none() || learned.host.is_none() || learned.source.is_none() {
            if let Ok(defaults) = models::load(None) {
                learned.flow = learned.flow.or(defaults.flow);
                learned.host = learned.host.or(defaults.host);
                learned.source = learned.source.or(defaults.source);
            }
        }
        self.install(learned)
    }
}

/// Where a window row holds its bytes per second.
fn bytes_per_s_at(names: &[&str]) -> Option<usize> {
    names.iter().position(|n| *n == "bytes_per_s")
}

/// Checks one window row against the rules, counting and reporting each match.
fn check_rules(
    rules: &Rules,
    metrics: Option<&RuleMetrics>,
    out: &mut Outputs,
    kind: WindowKind,
    ip: IpAddr,
    row: &[f64],
) -> Result<()> {
    let (Some(metrics), true) = (metrics, rules.reads(kind)) else {
        return Ok(());
    };
    let subject = match kind {
        WindowKind::Destination => Subject::Host(ip),
        WindowKind::Source => Subject::Source(ip),
    };
    rules.matches(kind, ip, row, &mut |m| {
        metrics.record_match(m.index);
        report_rule(out, &m, subject)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_shorter_than_half_a_second_are_not_scored() {
        assert!(!window_due(Duration::from_millis(3)));
        assert!(!window_due(Duration::from_millis(499)));
        assert!(window_due(Duration::from_millis(500)));
        assert!(window_due(Duration::from_secs(7)));
    }
}
