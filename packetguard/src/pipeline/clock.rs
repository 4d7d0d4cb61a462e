//! The pipeline's clock: the time windows, idle expiry, rate limits and event timestamps
//! run on.
//!
//! Live, that is the host's clocks (monotonic for spans, wall for timestamps). Offline, it
//! is the capture's own timestamps: the source moves the clock forward as it reads, so a
//! capture gives the same windows, expiries and event times however fast it is read. No
//! detector or sink reads `Instant::now()` or `SystemTime::now()` itself.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One reading of the clock: a point for spans and the matching wall time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// For spans and deadlines (window lengths, rate limits, the end of learning).
    pub mono: Instant,
    /// For timestamps (event times, the live page, verdicts).
    pub wall: SystemTime,
}

impl Now {
    /// Nanoseconds since the Unix epoch of [`Self::wall`].
    pub fn unix_ns(&self) -> u64 {
        self.wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
    }
}

/// The source's clock (see the module doc).
#[derive(Clone, Debug)]
pub struct Clock(Kind);

#[derive(Clone, Debug)]
enum Kind {
    Live,
    /// Capture time: `origin` stands for the first timestamp seen, so spans between
    /// capture timestamps become spans between `Instant`s.
    Capture {
        origin: Instant,
        first_ns: Option<u64>,
        now_ns: u64,
    },
}

impl Clock {
    /// The host's clocks.
    pub fn live() -> Self {
        Clock(Kind::Live)
    }

    /// A clock that stands still until [`Self::advance_to`] moves it to capture time.
    pub fn capture() -> Self {
        Clock(Kind::Capture {
            // An arbitrary anchor, read once: only differences from it are ever used.
            origin: Instant::now(),
            first_ns: None,
            now_ns: 0,
        })
    }

    /// True for a capture clock.
    pub fn is_capture(&self) -> bool {
        matches!(self.0, Kind::Capture { .. })
    }

    /// The time now.
    pub fn now(&self) -> Now {
        match &self.0 {
            Kind::Live => Now {
                mono: Instant::now(),
                wall: SystemTime::now(),
            },
            Kind::Capture {
                origin,
                first_ns,
                now_ns,
            } => Now {
                mono: *origin + Duration::from_nanos(now_ns - first_ns.unwrap_or(*now_ns)),
                wall: UNIX_EPOCH + Duration::from_nanos(*now_ns),
            },
        }
    }

    /// Moves a capture clock to `unix_ns` (a packet's or row's timestamp). Time never runs
    /// backwards: a timestamp older than the clock (captures are not always in order)
    /// leaves it where it is. A live clock ignores this.
    pub fn advance_to(&mut self, unix_ns: u64) {
        if let Kind::Capture {
            first_ns, now_ns, ..
        } = &mut self.0
        {
            let first = *first_ns.get_or_insert(unix_ns);
            *now_ns = (*now_ns).max(unix_ns).max(first);
        }
    }

    /// A capture clock's first and latest timestamps (the span read so far), in Unix
    /// nanoseconds; `None` live or before the first timestamp. Evaluation needs the span to
    /// tell how long the benign part of a capture was.
    pub fn span(&self) -> Option<(u64, u64)> {
        match &self.0 {
            Kind::Live => None,
            Kind::Capture {
                first_ns, now_ns, ..
            } => first_ns.map(|first| (first, *now_ns)),
        }
    }

    /// The source's own time in nanoseconds, the clock flow timestamps are on: live,
    /// `CLOCK_MONOTONIC` (what `bpf_ktime_get_ns` reads); offline, the capture's Unix time.
    pub fn source_ns(&self) -> u64 {
        match &self.0 {
            Kind::Live => crate::datapath::flow_table::monotonic_ns(),
            Kind::Capture { now_ns, .. } => *now_ns,
        }
    }

    /// Unix milliseconds of a flow timestamp in [`Self::source_ns`] terms.
    pub fn unix_ms_of(&self, ts_ns: u64) -> u64 {
        match &self.0 {
            Kind::Live => crate::flows::monotonic_to_unix_ms(ts_ns),
            Kind::Capture { .. } => ts_ns / 1_000_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000_000_000;

    #[test]
    fn capture_time_runs_on_timestamps_not_on_the_host() {
        let mut c = Clock::capture();
        c.advance_to(T0);
        let a = c.now();
        assert_eq!(a.unix_ns(), T0);
        c.advance_to(T0 + 1_500_000_000);
        let b = c.now();
        assert_eq!(b.mono - a.mono, Duration::from_millis(1500));
        assert_eq!(b.unix_ns(), T0 + 1_500_000_000);
        assert_eq!(c.source_ns(), T0 + 1_500_000_000);
        assert_eq!(c.unix_ms_of(T0 + 2_000_000), T0 / 1_000_000 + 2);
        // Reading again without advancing gives the same time.
        assert_eq!(c.now(), b);
        assert_eq!(c.span(), Some((T0, T0 + 1_500_000_000)));
        assert_eq!(Clock::capture().span(), None);
        assert_eq!(Clock::live().span(), None);
    }

    #[test]
    fn capture_time_never_runs_backwards() {
        let mut c = Clock::capture();
        c.advance_to(T0 + 5_000);
        c.advance_to(T0);
        assert_eq!(c.now().unix_ns(), T0 + 5_000);
        assert!(c.is_capture());
        assert!(!Clock::live().is_capture());
    }
}
