//! Seconds of capture time: an offline source moves the clock to each packet's (or row's)
//! timestamp and, before that, closes every second that ended on the way, as the live loop
//! ticks once a second. Empty seconds are closed too, so a window is one second long
//! whatever the gaps in the capture.

use anyhow::Result;

use crate::pipeline::source::Stage;

/// Nanoseconds in one window.
pub const SECOND_NS: u64 = 1_000_000_000;

/// The next second boundary of a capture.
#[derive(Debug, Default)]
pub struct Timeline {
    /// The end of the current second; `None` before the first timestamp.
    next_ns: Option<u64>,
}

impl Timeline {
    /// Moves to `ts_ns`: for every second that ends at or before it, moves the clock to
    /// that second's end and calls `close` with it; then moves the clock to `ts_ns`.
    /// Timestamps before the current second (out of order) are taken as the clock's now.
    pub fn reach<S: Stage + ?Sized>(
        &mut self,
        ts_ns: u64,
        stage: &mut S,
        mut close: impl FnMut(&mut S, u64) -> Result<()>,
    ) -> Result<()> {
        let next = self.next_ns.get_or_insert(ts_ns.saturating_add(SECOND_NS));
        while *next <= ts_ns {
            let end = *next;
            stage.clock_mut().advance_to(end);
            close(stage, end)?;
            *next = end.saturating_add(SECOND_NS);
        }
        stage.clock_mut().advance_to(ts_ns);
        Ok(())
    }

    /// The end of the current second, once a timestamp was seen.
    pub fn current_end(&self) -> Option<u64> {
        self.next_ns
    }
}
