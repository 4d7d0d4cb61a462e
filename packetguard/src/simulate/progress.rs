//! Progress lines on stderr for long inputs: one line per million packets.

use std::time::Instant;

/// Counts packets and prints a line each time another million has gone by.
pub struct Progress {
    enabled: bool,
    started: Instant,
    next: u64,
}

/// Packets between two progress lines.
const EVERY: u64 = 1_000_000;

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            started: Instant::now(),
            next: EVERY,
        }
    }

    /// Notes that `packets` input packets have been handled (and `injected` written).
    pub fn tick(&mut self, stage: &str, packets: u64, injected: u64) {
        if !self.enabled || packets < self.next {
            return;
        }
        self.next = packets + EVERY;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "simulate: {stage} {packets} packets ({:.0} packets/s), {injected} injected",
            packets as f64 / secs
        );
    }
}
