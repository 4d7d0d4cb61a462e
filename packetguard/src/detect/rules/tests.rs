//! Unit tests of rule matching and prefixes.

use super::*;

fn rule(
    name: &str,
    window: WindowKind,
    cidr: Option<&str>,
    feature: &str,
    above: f64,
) -> RuleConfig {
    RuleConfig {
        name: name.into(),
        window,
        cidr: cidr.map(|c| c.parse().unwrap()),
        feature: feature.into(),
        above,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A destination row with every feature 0 but `feature`.
fn dst_row(feature: &str, value: f64) -> [f64; 7] {
    let mut row = [0.0; 7];
    row[HOST_FEATURES.iter().position(|f| *f == feature).unwrap()] = value;
    row
}

/// A source row with every feature 0 but `feature`.
fn src_row(feature: &str, value: f64) -> [f64; 7] {
    let mut row = [0.0; 7];
    row[SOURCE_FEATURES.iter().position(|f| *f == feature).unwrap()] = value;
    row
}

/// Every match of one row, owned.
fn matched(
    rules: &Rules,
    window: WindowKind,
    addr: &str,
    row: &[f64],
) -> Vec<(usize, String, &'static str, f64, f64)> {
    let mut out = Vec::new();
    rules
        .matches(window, ip(addr), row, &mut |m| {
            out.push((m.index, m.rule.to_owned(), m.feature, m.value, m.limit));
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
    out
}

/// The names of the rules that match one row.
fn names(rules: &Rules, window: WindowKind, addr: &str, row: &[f64]) -> Vec<String> {
    matched(rules, window, addr, row)
        .into_iter()
        .map(|m| m.1)
        .collect()
}

#[test]
fn fires_strictly_above_the_limit_and_not_at_or_below_it() {
    let rules = Rules::new(&[rule(
        "syn",
        WindowKind::Destination,
        None,
        "new_flows_per_s",
        2000.0,
    )])
    .unwrap();
    let d = WindowKind::Destination;
    assert_eq!(
        matched(
            &rules,
            d,
            "198.51.100.1",
            &dst_row("new_flows_per_s", 2000.5)
        ),
        [(0, "syn".to_owned(), "new_flows_per_s", 2000.5, 2000.0)]
    );
    assert_eq!(
        names(
            &rules,
            d,
            "198.51.100.1",
            &dst_row("new_flows_per_s", 2000.0)
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &rules,
            d,
            "198.51.100.1",
            &dst_row("new_flows_per_s", 1999.0)
        ),
        Vec::<String>::new()
    );
    // Another feature above the limit does not fire a rule on new flows.
    assert_eq!(
        names(&rules, d, "198.51.100.1", &dst_row("packets_per_s", 1e9)),
        Vec::<String>::new()
    );
}

#[test]
fn a_zero_limit_means_any_at_all() {
    let rules = Rules::new(&[rule(
        "any",
        WindowKind::Source,
        None,
        "failed_attempt_ratio",
        0.0,
    )])
    .unwrap();
    let s = WindowKind::Source;
    assert_eq!(
        names(
            &rules,
            s,
            "192.0.2.1",
            &src_row("failed_attempt_ratio", 0.0)
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &rules,
            s,
            "192.0.2.1",
            &src_row("failed_attempt_ratio", 1e-9)
        ),
        ["any"]
    );
}

#[test]
fn nan_and_short_rows_never_match() {
    let rules = Rules::new(&[rule(
        "m",
        WindowKind::Destination,
        None,
        "mean_packet_size",
        10.0,
    )])
    .unwrap();
    let d = WindowKind::Destination;
    assert_eq!(
        names(
            &rules,
            d,
            "192.0.2.1",
            &dst_row("mean_packet_size", f64::NAN)
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&rules, d, "192.0.2.1", &[1e9; 6]),
        Vec::<String>::new()
    );
    assert_eq!(names(&rules, d, "192.0.2.1", &[1e9; 7]), ["m"]);
}

#[test]
fn cidr_membership_v4_and_v6_and_the_other_family_never_matches() {
    let d = WindowKind::Destination;
    let rules = Rules::new(&[
        rule("v4", d, Some("198.51.100.0/24"), "packets_per_s", 10.0),
        rule("v6", d, Some("2001:db8:1::/48"), "packets_per_s", 10.0),
        rule("any", d, None, "packets_per_s", 10.0),
    ])
    .unwrap();
    let row = dst_row("packets_per_s", 11.0);
    assert_eq!(names(&rules, d, "198.51.100.0", &row), ["v4", "any"]);
    assert_eq!(names(&rules, d, "198.51.100.255", &row), ["v4", "any"]);
    assert_eq!(names(&rules, d, "198.51.101.0", &row), ["any"]);
    assert_eq!(names(&rules, d, "198.51.99.255", &row), ["any"]);
    assert_eq!(names(&rules, d, "2001:db8:1::1", &row), ["v6", "any"]);
    assert_eq!(
        names(&rules, d, "2001:db8:1:ffff:ffff:ffff:ffff:ffff", &row),
        ["v6", "any"]
    );
    assert_eq!(names(&rules, d, "2001:db8:2::1", &row), ["any"]);
    // The IPv4-mapped form of an address in the IPv4 prefix is IPv6: no match.
    assert_eq!(names(&rules, d, "::ffff:198.51.100.7", &row), ["any"]);
}

#[test]
fn prefixes_clear_host_bits_and_cover_the_edges() {
    let c: Cidr = "198.51.100.77/24".parse().unwrap();
    assert_eq!(c, "198.51.100.0/24".parse().unwrap());
    assert_eq!((c.network(), c.prefix_len()), (ip("198.51.100.0"), 24));
    let all4: Cidr = "203.0.113.9/0".parse().unwrap();
    assert_eq!(all4.to_string(), "0.0.0.0/0");
    assert!(all4.contains(ip("255.255.255.255")) && all4.contains(ip("0.0.0.0")));
    assert!(!all4.contains(ip("::")), "/0 of IPv4 holds IPv4 only");
    let host: Cidr = "192.0.2.7/32".parse().unwrap();
    assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.6")));
    let all6: Cidr = "2001:db8::1/0".parse().unwrap();
    assert_eq!(all6.to_string(), "::/0");
    assert!(all6.contains(ip("2001:db8::1")) && !all6.contains(ip("192.0.2.1")));
    let host6: Cidr = "2001:db8::1/128".parse().unwrap();
    assert!(host6.contains(ip("2001:db8::1")) && !host6.contains(ip("2001:db8::2")));
    let odd: Cidr = "2001:db8:abcd::/35".parse().unwrap();
    assert_eq!(odd.to_string(), "2001:db8:a000::/35");
    assert!(odd.contains(ip("2001:db8:bfff::1")) && !odd.contains(ip("2001:db8:c000::")));
}

#[test]
fn rules_read_only_their_window_kind() {
    let rules = Rules::new(&[
        rule("dst", WindowKind::Destination, None, "packets_per_s", 100.0),
        rule("src", WindowKind::Source, None, "packets_per_s", 100.0),
        rule(
            "scan",
            WindowKind::Source,
            None,
            "distinct_destinations",
            100.0,
        ),
    ])
    .unwrap();
    let busy = [1000.0; 7];
    assert_eq!(
        names(&rules, WindowKind::Destination, "192.0.2.1", &busy),
        ["dst"]
    );
    assert_eq!(
        names(&rules, WindowKind::Source, "192.0.2.1", &busy),
        ["src", "scan"]
    );
    // Indices are configuration positions, across window kinds.
    let idx: Vec<usize> = matched(&rules, WindowKind::Source, "192.0.2.1", &busy)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(idx, [1, 2]);
    assert_eq!(
        matched(
            &rules,
            WindowKind::Source,
            "192.0.2.1",
            &src_row("distinct_destinations", 101.0)
        ),
        [(2, "scan".to_owned(), "distinct_destinations", 101.0, 100.0)]
    );
    assert!(rules.reads(WindowKind::Source) && rules.reads(WindowKind::Destination));
    assert_eq!(rules.names().collect::<Vec<_>>(), ["dst", "src", "scan"]);
    assert_eq!(rules.len(), 3);
}

#[test]
fn no_rules_match_nothing() {
    let rules = Rules::new(&[]).unwrap();
    assert!(rules.is_empty() && !rules.reads(WindowKind::Destination));
    assert_eq!(
        names(&rules, WindowKind::Destination, "192.0.2.1", &[1e12; 7]),
        Vec::<String>::new()
    );
}

#[test]
fn new_refuses_what_the_config_would() {
    let d = WindowKind::Destination;
    let msg = |configs: &[RuleConfig]| Rules::new(configs).unwrap_err().to_string();
    assert_eq!(
        msg(&[rule("a", d, None, "packets_per_s", -1.0)]),
        "rule 1 \"a\": `above` must be a finite number at least 0, not -1"
    );
    assert_eq!(
        msg(&[
            rule("a", d, None, "packets_per_s", 1.0),
            rule("a", d, None, "bytes_per_s", 1.0)
        ]),
        "rule 2 \"a\": the name is already used by rule 1"
    );
    let many: Vec<RuleConfig> = (0..=MAX_RULES)
        .map(|i| rule(&format!("r{i}"), d, None, "packets_per_s", 1.0))
        .collect();
    assert_eq!(msg(&many), "257 rules given; at most 256 are allowed");
    assert!(!valid_name("a/b") && valid_name("A-z_0.9"));
}

#[test]
fn window_kind_reads_lowercase_names() {
    let kind = |s: &str| toml::Value::String(s.into()).try_into::<WindowKind>().ok();
    assert_eq!(kind("destination"), Some(WindowKind::Destination));
    assert_eq!(kind("source"), Some(WindowKind::Source));
    assert_eq!(kind("Source"), None);
    assert_eq!(WindowKind::default(), WindowKind::Destination);
    assert_eq!(WindowKind::Source.to_string(), "source");
}
