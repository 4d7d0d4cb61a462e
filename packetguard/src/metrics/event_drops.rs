//! `packetguard_events_dropped_total{reason}`: anomaly events that could not be written,
//! by why (`queue_full`: the sink fell behind by a whole queue; `write_failed`: the sink
//! refused the write, e.g. a full disk or a closed pipe). Both series exist from start-up.

use super::{Builder, MetricsError};
use crate::events::queue::DropCounters;

/// Name of the counter.
pub const EVENTS_DROPPED: &str = "packetguard_events_dropped_total";

pub(super) fn register(b: &Builder) -> Result<DropCounters, MetricsError> {
    let vec = b.counter_vec(
        EVENTS_DROPPED,
        "Anomaly events dropped instead of written, by reason (queue_full, write_failed); detection goes on.",
        &["reason"],
    )?;
    Ok(DropCounters {
        queue_full: vec.with_label_values(&["queue_full"]),
        write_failed: vec.with_label_values(&["write_failed"]),
    })
}
