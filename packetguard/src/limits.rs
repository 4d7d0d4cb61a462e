//! The range every numeric setting must lie in, defined once and checked the same way
//! whether the value comes from a flag (as clap's value parser) or from the config file.
//!
//! A zero flow table, a zero timeout or a rate limit of a billion events are not settings
//! anybody means; each is refused with one line that names the setting and its range.

use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

/// A count setting and its inclusive range.
pub struct Count {
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
}

/// A duration setting and its inclusive range.
pub struct Span {
    pub key: &'static str,
    pub min: Duration,
    pub max: Duration,
}

/// Kernel flow map entries (each a little over 400 bytes of kernel memory).
pub const FLOW_ENTRIES: Count = Count {
    key: "flow_entries",
    min: 1,
    max: 1 << 24,
};
pub const EVENT_RATE_LIMIT: Count = Count {
    key: "event_rate_limit",
    min: 1,
    max: 1_000_000,
};
pub const EVENT_RATE_HOSTS: Count = Count {
    key: "event_rate_hosts",
    min: 1,
    max: 1 << 20,
};
pub const EVENT_BUDGET: Count = Count {
    key: "event_budget_per_s",
    min: 1,
    max: 1_000_000,
};
pub const IDLE_TIMEOUT: Span = Span {
    key: "idle_timeout",
    min: Duration::from_millis(1),
    max: DAY,
};
pub const ACTIVE_TIMEOUT: Span = Span {
    key: "active_timeout",
    min: Duration::from_millis(1),
    max: DAY,
};
pub const EVENT_RATE_INTERVAL: Span = Span {
    key: "event_rate_interval",
    min: Duration::from_millis(1),
    max: DAY,
};
pub const LEARN: Span = Span {
    key: "learn",
    min: SECOND,
    max: Duration::from_secs(30 * 86_400),
};
pub const RUN_DURATION: Span = Span {
    key: "duration",
    min: Duration::from_millis(1),
    max: Duration::from_secs(365 * 86_400),
};

impl Count {
    /// `Ok(v)` inside the range, else the one-line reason.
    pub fn check(&self, v: u64) -> Result<u64, String> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "must be between {} and {} (got {v})",
                self.min, self.max
            ))
        }
    }

    /// A clap value parser for a `u32` flag with this range.
    pub fn parse_u32(&'static self) -> impl Fn(&str) -> Result<u32, String> + Clone {
        move |s| {
            let v: u64 = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a whole number"))?;
            self.check(v).map(|v| v as u32)
        }
    }
}

impl Span {
    /// `Ok(d)` inside the range, else the one-line reason.
    pub fn check(&self, d: Duration) -> Result<Duration, String> {
        if (self.min..=self.max).contains(&d) {
            Ok(d)
        } else {
            Err(format!(
                "must be between {} and {} (got {})",
                humantime::format_duration(self.min),
                humantime::format_duration(self.max),
                humantime::format_duration(d)
            ))
        }
    }

    /// A clap value parser for a duration flag (`15s`, `2m`, `1h 30m`) with this range.
    pub fn parser(&'static self) -> impl Fn(&str) -> Result<Duration, String> + Clone {
        move |s| {
            let d = humantime::parse_duration(s).map_err(|e| {
                format!("invalid duration {s:?} ({e}); write it like \"15s\", \"2m\" or \"1h 30m\"")
            })?;
            self.check(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_spans_refuse_zero_and_absurd_values_in_one_line() {
        let flow = FLOW_ENTRIES.parse_u32();
        assert_eq!(flow("262144"), Ok(262_144));
        assert_eq!(
            flow("0").unwrap_err(),
            "must be between 1 and 16777216 (got 0)"
        );
        assert!(flow("-1").unwrap_err().contains("not a whole number"));
        assert!(flow("99999999999").unwrap_err().contains("between 1 and"));
        let idle = IDLE_TIMEOUT.parser();
        assert_eq!(idle("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(
            idle("0s").unwrap_err(),
            "must be between 1ms and 1day (got 0s)"
        );
        assert!(idle("3days").unwrap_err().contains("between 1ms and 1day"));
        assert!(idle("soon")
            .unwrap_err()
            .contains("invalid duration \"soon\""));
        assert!(LEARN.check(Duration::from_millis(10)).is_err());
        assert!(EVENT_RATE_LIMIT.check(0).is_err());
    }
}
