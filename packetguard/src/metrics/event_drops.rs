//! `packetguard_events_dropped_total{reason}` and `packetguard_flow_scores_dropped_total
//! {reason}`: lines of the event output and of the flow scores file that could not be
//! written, by why (`queue_full`: the sink fell behind by a whole queue; `write_failed`: the
//! sink refused the write, e.g. a full disk or a closed pipe). Every series exists from
//! start-up.

use super::{Builder, MetricsError};
use crate::events::queue::DropCounters;

/// Name of the counter.
pub const EVENTS_DROPPED: &str = "packetguard_events_dropped_total";

/// Name of the flow scores counter.
pub const FLOW_SCORES_DROPPED: &str = "packetguard_flow_scores_dropped_total";

pub(super) fn register_events(b: &Builder) -> Result<DropCounters, MetricsError> {
    register(
        b,
        EVENTS_DROPPED,
        "Anomaly events dropped instead of written, by reason (queue_full, write_failed); detection goes on.",
    )
}

pub(super) fn register_flow_scores(b: &Builder) -> Result<DropCounters, MetricsError> {
    register(
        b,
        FLOW_SCORES_DROPPED,
        "Rows of the --flow-scores file dropped instead of written, by reason (queue_full, write_failed).",
    )
}

fn register(b: &Builder, name: &'static str, help: &str) -> Result<DropCounters, MetricsError> {
    let vec = b.counter_vec(name, help, &["reason"])?;
    Ok(DropCounters {
        queue_full: vec.with_label_values(&["queue_full"]),
        write_failed: vec.with_label_values(&["write_failed"]),
    })
}
