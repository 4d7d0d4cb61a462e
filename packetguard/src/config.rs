//! The TOML configuration file of `packetguard run`.
//!
//! Every key is optional: the file only sets what differs from the defaults, and
//! command-line flags override the file (the settings type, [`crate::settings`], is one for
//! both and merges them; this module only reads). Unknown
//! keys are rejected rather than ignored, because a misspelt `idle_timout` silently doing
//! nothing is worse than a refusal to start. Errors name the file and, for TOML and type
//! errors, the line and key; a mistake in a `[[rules]]` table is one line naming the rule
//! by position and name. `deploy/packetguard.toml` documents every key.

mod rules;

use std::path::{Path, PathBuf};

pub use crate::datapath::{AttachMode, Direction, TcMode};
use crate::detect::rules::{RuleError, RuleProblem, RuleRef, MAX_RULES};
use crate::limits;
pub use rules::RuleConfig;

/// Settings of `packetguard run` as the file fills them: the same type the flags fill
/// (see [`crate::settings`]).
pub type RunConfig = crate::settings::RunSettings;

/// Errors reading the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A TOML syntax or type error, on one line: where it is and what is wrong (the
    /// parser's own message, which quotes the line and points at the column, takes four).
    #[error("invalid config file {path}: line {line}, column {column} (`{text}`): {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        /// The line itself, trimmed and cut to 60 characters: it names the key.
        text: String,
        message: String,
    },
    #[error("invalid config file {path}: `{key}` {reason}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        reason: String,
    },
    #[error(
        "invalid config file {path}: {count} [[rules]] tables; at most {MAX_RULES} are allowed"
    )]
    TooManyRules { path: PathBuf, count: usize },
    /// `rule` names the `[[rules]]` table by position (from 1) and name.
    #[error("invalid config file {path}: {rule}: {source}")]
    Rule {
        path: PathBuf,
        rule: RuleRef,
        source: RuleProblem,
    },
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Parses config text; `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<RunConfig, ConfigError> {
    let mut config: RunConfig = toml::from_str(text).map_err(|e: toml::de::Error| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = &text[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = text[line_start..].lines().next().unwrap_or("");
        ConfigError::Parse {
            path: path.to_owned(),
            line: before.matches('\n').count() + 1,
            column: text[line_start..at].chars().count() + 1,
            text: line.trim().chars().take(60).collect(),
            message: e.message().trim().replace('\n', " "),
        }
    })?;
    let invalid = |key, reason| ConfigError::Invalid {
        path: path.to_owned(),
        key,
        reason,
    };
    // The same ranges as the flags (see `limits`).
    let counts = [
        (&limits::FLOW_ENTRIES, config.flow_entries.map(u64::from)),
        (
            &limits::EVENT_RATE_LIMIT,
            config.event_rate_limit.map(u64::from),
        ),
        (
            &limits::EVENT_RATE_HOSTS,
            config.event_rate_hosts.map(|v| v as u64),
        ),
    ];
    for (range, value) in counts {
        if let Some(v) = value {
            range
                .check(v)
                .map_err(|reason| invalid(range.key, reason))?;
        }
    }
    let spans = [
        (&limits::IDLE_TIMEOUT, config.idle_timeout),
        (&limits::ACTIVE_TIMEOUT, config.active_timeout),
        (&limits::EVENT_RATE_INTERVAL, config.event_rate_interval),
        (&limits::LEARN, config.learn),
    ];
    for (range, value) in spans {
        if let Some(d) = value {
            range
                .check(d)
                .map_err(|reason| invalid(range.key, reason))?;
        }
    }
    if config.events.as_deref() == Some("") {
        return Err(invalid("events", "must be \"-\" or a file path".into()));
    }
    let tables = std::mem::take(&mut config.rule_tables);
    config.rules = rules::read(&tables).map_err(|err| match err {
        RuleError::TooMany { count } => ConfigError::TooManyRules {
            path: path.to_owned(),
            count,
        },
        RuleError::Invalid { rule, problem } => ConfigError::Rule {
            path: path.to_owned(),
            rule,
            source: problem,
        },
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::detect::rules::WindowKind;

    const EXAMPLE: &str = include_str!("../../deploy/packetguard.toml");

    fn parse_str(text: &str) -> Result<RunConfig, ConfigError> {
        parse(text, Path::new("/etc/packetguard/packetguard.toml"))
    }

    #[test]
    fn shipped_example_parses_with_every_key_set() {
        let c = parse_str(EXAMPLE).unwrap();
        assert_eq!(c.iface.as_deref(), Some("eth0"));
        assert_eq!(c.model, None, "the example leaves the model search on");
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9617".parse().unwrap()));
        assert_eq!(
            c.events.as_deref(),
            Some("/var/log/packetguard/events.jsonl")
        );
        assert_eq!(c.xdp_mode, Some(AttachMode::Auto));
        assert_eq!(c.direction, Some(Direction::Both));
        assert_eq!(c.tc_mode, Some(TcMode::Auto));
        assert_eq!(c.flow_entries, Some(262_144));
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(15)));
        assert_eq!(c.active_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.learn, None, "learning is commented out in the example");
        assert_eq!(c.event_rate_limit, Some(5));
        assert_eq!(c.event_rate_interval, Some(Duration::from_secs(10)));
        assert_eq!(c.event_rate_hosts, Some(4096));
        assert_eq!(c.event_budget_per_s, Some(100));
        assert!(c.rules.is_empty(), "rules are off by default");
    }

    #[test]
    fn every_example_key_is_a_known_key_when_uncommented() {
        // The commented-out keys and rule tables in the example must parse too once
        // enabled.
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = ") || *l == "[[rules]]")
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = parse_str(&uncommented).unwrap();
        assert_eq!(c.learn, Some(Duration::from_secs(3600)));
        assert_eq!(
            c.event_rate_hosts,
            Some(4096),
            "keys before the rules stay top-level"
        );
        let rule = |name: &str, window, cidr: Option<&str>, feature: &str, above| RuleConfig {
            name: name.into(),
            window,
            cidr: cidr.map(|c| c.parse().unwrap()),
            feature: feature.into(),
            above,
        };
        assert_eq!(
            c.rules,
            [
                rule(
                    "web-syn-flood",
                    WindowKind::Destination,
                    Some("198.51.100.0/24"),
                    "new_flows_per_s",
                    2000.0
                ),
                rule(
                    "dst-packets",
                    WindowKind::Destination,
                    None,
                    "packets_per_s",
                    100_000.0
                ),
                rule(
                    "outbound-scan",
                    WindowKind::Source,
                    None,
                    "distinct_destinations",
                    100.0
                ),
            ]
        );
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(parse_str("").unwrap(), RunConfig::default());
    }

    #[test]
    fn unknown_key_is_rejected_naming_file_line_and_key() {
        let err = parse_str("iface = \"eth0\"\nidle_timout = \"15s\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid config file /etc/packetguard/packetguard.toml:"),
            "{msg}"
        );
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("unknown field `idle_timout`"), "{msg}");
    }

    #[test]
    fn a_syntax_error_is_one_line_with_its_line_and_column() {
        let msg = parse_str("iface = \"eth0\"\nflow_entries = \"lots\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "invalid config file /etc/packetguard/packetguard.toml: line 2, column 21 \
             (`flow_entries = \"lots`): invalid basic string"
        );
        let msg = parse_str("flow_entries = \"x\"\n").unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid config file /etc/packetguard/packetguard.toml: line 1, column 16 \
             (`flow_entries = \"x\"`): invalid type: string \"x\", expected u32"
        );
    }

    #[test]
    fn bad_duration_names_the_line_and_the_expected_form() {
        let msg = parse_str("idle_timeout = \"fifteen\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 1"), "{msg}");
        assert!(msg.contains("invalid duration \"fifteen\""), "{msg}");
    }

    #[test]
    fn bad_xdp_mode_and_address_are_rejected() {
        let msg = parse_str("xdp_mode = \"turbo\"\n").unwrap_err().to_string();
        assert!(msg.contains("turbo") && msg.contains("skb"), "{msg}");
        let msg = parse_str("direction = \"sideways\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sideways") && msg.contains("ingress"), "{msg}");
        let msg = parse_str("metrics_addr = \"localhost\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("metrics_addr") || msg.contains("line 1"),
            "{msg}"
        );
    }

    #[test]
    fn zero_and_absurd_values_are_rejected_with_the_flags_ranges() {
        for (text, key, says) in [
            (
                "flow_entries = 0",
                "flow_entries",
                "between 1 and 16777216 (got 0)",
            ),
            (
                "flow_entries = 4000000000",
                "flow_entries",
                "(got 4000000000)",
            ),
            (
                "idle_timeout = \"0s\"",
                "idle_timeout",
                "between 1ms and 1day (got 0s)",
            ),
            (
                "active_timeout = \"30days\"",
                "active_timeout",
                "between 1ms and 1day",
            ),
            ("learn = \"1ms\"", "learn", "between 1s and 30days"),
            ("event_rate_limit = 0", "event_rate_limit", "(got 0)"),
            ("event_rate_hosts = 0", "event_rate_hosts", "(got 0)"),
        ] {
            let msg = parse_str(text).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("`{key}` must be {says}")) || msg.contains(says),
                "{msg}"
            );
            assert!(msg.contains(&format!("`{key}`")), "{msg}");
            assert_eq!(msg.lines().count(), 1, "{msg}");
        }
        // A negative count is a TOML type error, also one line naming the key.
        let msg = parse_str("flow_entries = -1").unwrap_err().to_string();
        assert!(msg.contains("flow_entries"), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }

    #[test]
    fn missing_file_error_names_the_file() {
        let err = load(Path::new("/nonexistent/packetguard.toml")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read config file /nonexistent/packetguard.toml"));
    }
}
