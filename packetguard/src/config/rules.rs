//! The `[[rules]]` tables of the config file.
//!
//! Rule tables are read key by key rather than through serde's derive, so that every
//! mistake in a rule is one line that names the rule by position and name; serde's TOML
//! errors quote the offending line over several. The shape of each table (keys, value
//! types, window, prefix) is checked here, the values themselves (name, feature, limit,
//! duplicates, count) by [`Rules::new`], the one place that also builds the rules.

use toml::{Table, Value};

use crate::detect::rules::{
    Cidr, RuleError, RuleProblem, RuleRef, Rules, WindowKind, MAX_RULES, RULE_KEYS,
};

/// One threshold rule as configured: the rule matches a window row of kind `window`
/// whose address lies in `cidr` (any address when unset) and whose `feature` is strictly
/// above `above`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    /// 1 to 64 characters of `[A-Za-z0-9_.-]`, unique among the rules.
    pub name: String,
    /// Default: destination.
    pub window: WindowKind,
    /// Host bits already cleared.
    pub cidr: Option<Cidr>,
    /// A feature of `window`'s rows ([`WindowKind::features`]).
    pub feature: String,
    /// Finite and at least 0.
    pub above: f64,
}

/// Reads and checks the rule tables, in file order.
pub(super) fn read(tables: &[Table]) -> Result<Vec<RuleConfig>, RuleError> {
    if tables.len() > MAX_RULES {
        return Err(RuleError::TooMany {
            count: tables.len(),
        });
    }
    let configs = tables
        .iter()
        .enumerate()
        .map(|(index, table)| {
            let name = table.get("name").and_then(Value::as_str).map(str::to_owned);
            read_one(table).map_err(|problem| RuleError::Invalid {
                rule: RuleRef { index, name },
                problem,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Rules::new(&configs)?;
    Ok(configs)
}

/// Reads one table into a rule whose values are still unchecked.
fn read_one(table: &Table) -> Result<RuleConfig, RuleProblem> {
    if let Some(key) = table.keys().find(|k| !RULE_KEYS.0.contains(&k.as_str())) {
        return Err(RuleProblem::UnknownKey { key: key.clone() });
    }
    let string = |key: &'static str| match table.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(RuleProblem::WrongType {
            key,
            expected: "a string",
        }),
    };
    let required = |key: &'static str| string(key)?.ok_or(RuleProblem::Missing { key });
    let name = required("name")?.to_owned();
    let window = match string("window")? {
        None => WindowKind::default(),
        Some(w) => {
            Value::String(w.to_owned())
                .try_into()
                .map_err(|_| RuleProblem::UnknownWindow {
                    window: w.to_owned(),
                })?
        }
    };
    let cidr = match string("cidr")? {
        None => None,
        Some(c) => Some(c.parse().map_err(|source| RuleProblem::BadCidr {
            cidr: c.to_owned(),
            source,
        })?),
    };
    let feature = required("feature")?.to_owned();
    let above = match table.get("above") {
        None => return Err(RuleProblem::Missing { key: "above" }),
        Some(Value::Integer(i)) => *i as f64,
        Some(Value::Float(f)) => *f,
        Some(_) => {
            return Err(RuleProblem::WrongType {
                key: "above",
                expected: "a number",
            })
        }
    };
    Ok(RuleConfig {
        name,
        window,
        cidr,
        feature,
        above,
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::path::Path;

    use super::*;
    use crate::config::{parse, ConfigError, RunConfig};

    const FILE: &str = "/etc/packetguard/packetguard.toml";

    fn parse_str(text: &str) -> Result<RunConfig, ConfigError> {
        parse(text, Path::new(FILE))
    }

    /// The error message of `text`, checked to be one line naming the file.
    fn error(text: &str) -> String {
        let msg = parse_str(text).unwrap_err().to_string();
        assert!(!msg.contains('\n'), "not one line: {msg}");
        msg.strip_prefix(&format!("invalid config file {FILE}: "))
            .unwrap_or_else(|| panic!("does not name the file: {msg}"))
            .to_owned()
    }

    #[test]
    fn full_rule_parses_and_its_prefix_is_normalised() {
        let c = parse_str(
            r#"
            [[rules]]
            name = "web-syn"
            window = "destination"
            cidr = "198.51.100.77/24"
            feature = "new_flows_per_s"
            above = 2000

            [[rules]]
            name = "v6.scan_1"
            window = "source"
            cidr = "2001:db8::1/32"
            feature = "failed_attempt_ratio"
            above = 0.5
            "#,
        )
        .unwrap();
        assert_eq!(
            c.rules,
            [
                RuleConfig {
                    name: "web-syn".into(),
                    window: WindowKind::Destination,
                    cidr: Some("198.51.100.0/24".parse().unwrap()),
                    feature: "new_flows_per_s".into(),
                    above: 2000.0,
                },
                RuleConfig {
                    name: "v6.scan_1".into(),
                    window: WindowKind::Source,
                    cidr: Some("2001:db8::/32".parse().unwrap()),
                    feature: "failed_attempt_ratio".into(),
                    above: 0.5,
                },
            ]
        );
        let cidr = c.rules[0].cidr.unwrap();
        assert_eq!(cidr.to_string(), "198.51.100.0/24");
        assert_eq!(c.rules[1].cidr.unwrap().to_string(), "2001:db8::/32");
    }

    #[test]
    fn window_defaults_to_destination_and_cidr_to_any_address() {
        let c = parse_str("[[rules]]\nname = \"pps\"\nfeature = \"packets_per_s\"\nabove = 0\n")
            .unwrap();
        assert_eq!(
            c.rules,
            [RuleConfig {
                name: "pps".into(),
                window: WindowKind::Destination,
                cidr: None,
                feature: "packets_per_s".into(),
                above: 0.0,
            }]
        );
        assert!(parse_str("rules = []\n").unwrap().rules.is_empty());
    }

    /// A rule table with `name`, `feature` and `above` and the extra lines given.
    fn rule(name: &str, feature: &str, above: &str, extra: &str) -> String {
        format!("[[rules]]\nname = {name:?}\nfeature = {feature:?}\nabove = {above}\n{extra}\n")
    }

    #[test]
    fn unknown_feature_lists_the_features_of_that_window() {
        use packetguard_common::features::{HOST_FEATURES, SOURCE_FEATURES};
        assert_eq!(
            error(&rule("a", "pps", "1", "")),
            format!(
                "rule 1 \"a\": unknown feature \"pps\" for a destination window; use one of {}",
                HOST_FEATURES.join(", ")
            )
        );
        // A source feature is not a destination feature, and the other way round.
        let text = rule("ok", "packets_per_s", "1", "")
            + &rule("b", "mean_packet_size", "1", "window = \"source\"");
        assert_eq!(
            error(&text),
            format!(
                "rule 2 \"b\": unknown feature \"mean_packet_size\" for a source window; use one of {}",
                SOURCE_FEATURES.join(", ")
            )
        );
        assert!(!SOURCE_FEATURES.contains(&"mean_packet_size"));
        assert!(error(&rule("c", "distinct_destinations", "1", ""))
            .contains("unknown feature \"distinct_destinations\" for a destination window"));
    }

    #[test]
    fn bad_cidr_is_named_with_the_reason_and_keeps_its_source() {
        for (cidr, reason) in [
            (
                "198.51.100.0/33",
                "the prefix length must be a whole number from 0 to 32",
            ),
            (
                "2001:db8::/129",
                "the prefix length must be a whole number from 0 to 128",
            ),
            (
                "198.51.100.0/+24",
                "the prefix length must be a whole number from 0 to 32",
            ),
            (
                "198.51.100.0/",
                "the prefix length must be a whole number from 0 to 32",
            ),
            (
                "198.51.100.0",
                "expected an address and a prefix length such as 198.51.100.0/24 \
                 (one address: /32 or /128)",
            ),
            ("web/24", "invalid IP address syntax"),
            ("198.51.100.256/24", "invalid IP address syntax"),
        ] {
            let extra = format!("cidr = {cidr:?}");
            assert_eq!(
                error(&rule("web", "packets_per_s", "1", &extra)),
                format!("rule 1 \"web\": invalid `cidr` {cidr:?}: {reason}"),
            );
        }
        let err = parse_str(&rule("web", "packets_per_s", "1", "cidr = \"x/8\"")).unwrap_err();
        let problem = err.source().expect("the rule problem is the source");
        let cidr = problem.source().expect("the CIDR error is kept");
        assert!(cidr.source().unwrap().is::<std::net::AddrParseError>());
    }

    #[test]
    fn duplicate_name_names_both_rules() {
        let text = rule("a", "packets_per_s", "1", "")
            + &rule("b", "packets_per_s", "1", "")
            + &rule("a", "bytes_per_s", "1", "");
        assert_eq!(
            error(&text),
            "rule 3 \"a\": the name is already used by rule 1"
        );
    }

    #[test]
    fn negative_nan_and_infinite_limits_are_refused() {
        for (above, shown) in [
            ("-1", "-1"),
            ("-0.5", "-0.5"),
            ("nan", "NaN"),
            ("inf", "inf"),
            ("-inf", "-inf"),
        ] {
            assert_eq!(
                error(&rule("a", "packets_per_s", above, "")),
                format!("rule 1 \"a\": `above` must be a finite number at least 0, not {shown}")
            );
        }
        assert_eq!(
            error(&rule("a", "packets_per_s", "\"2000\"", "")),
            "rule 1 \"a\": `above` must be a number"
        );
    }

    #[test]
    fn unknown_window_is_refused() {
        assert_eq!(
            error(&rule("a", "packets_per_s", "1", "window = \"both\"")),
            "rule 1 \"a\": unknown window \"both\"; use \"destination\" or \"source\""
        );
        assert_eq!(
            error(&rule("a", "packets_per_s", "1", "window = \"Source\"")),
            "rule 1 \"a\": unknown window \"Source\"; use \"destination\" or \"source\""
        );
    }

    #[test]
    fn missing_and_unknown_keys_are_named() {
        assert_eq!(
            error("[[rules]]\nfeature = \"packets_per_s\"\nabove = 1\n"),
            "rule 1: `name` is missing"
        );
        assert_eq!(
            error("[[rules]]\nname = \"a\"\nabove = 1\n"),
            "rule 1 \"a\": `feature` is missing"
        );
        assert_eq!(
            error("[[rules]]\nname = \"a\"\nfeature = \"packets_per_s\"\n"),
            "rule 1 \"a\": `above` is missing"
        );
        assert_eq!(
            error(&rule("a", "packets_per_s", "1", "abvoe = 2")),
            "rule 1 \"a\": unknown key \"abvoe\"; a rule has name, window, cidr, feature, above"
        );
        assert_eq!(
            error("[[rules]]\nname = 7\nfeature = \"packets_per_s\"\nabove = 1\n"),
            "rule 1: `name` must be a string"
        );
    }

    #[test]
    fn names_must_be_short_and_plain() {
        let long = "n".repeat(64);
        assert_eq!(
            parse_str(&rule(&long, "packets_per_s", "1", ""))
                .unwrap()
                .rules[0]
                .name,
            long
        );
        let reason = "`name` must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'";
        for name in ["", "web syn", "web\nsyn", "héllo", &"n".repeat(65)] {
            assert_eq!(
                error(&rule(name, "packets_per_s", "1", "")),
                format!("rule 1 {name:?}: {reason}")
            );
        }
    }

    #[test]
    fn at_most_256_rules() {
        let rules = |n: usize| -> String {
            (0..n)
                .map(|i| rule(&format!("r{i}"), "packets_per_s", "1", ""))
                .collect()
        };
        assert_eq!(parse_str(&rules(256)).unwrap().rules.len(), 256);
        assert_eq!(
            error(&rules(257)),
            "257 [[rules]] tables; at most 256 are allowed"
        );
    }
}
