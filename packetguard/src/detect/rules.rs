//! Deterministic threshold rules, evaluated beside the models.
//!
//! A rule compares one feature of a one-second window (the per-destination or the
//! per-source row) with a fixed limit, like the per-host packets/s, bit/s and flows/s
//! thresholds of classic DDoS detectors. The models learn what is normal for this host;
//! rules state what the operator already knows is too much ("no web server of ours takes
//! 2000 new flows a second"), fire the same way on every host, and need no training.
//!
//! [`Rules`] is built once from the validated configuration
//! ([`crate::config::RuleConfig`]): feature names are resolved to row positions and
//! prefixes to network numbers then, so [`Rules::matches`], which runs for every window
//! row every second (thousands of rows under a flood), only compares numbers and allocates
//! nothing.

use std::collections::HashMap;
use std::fmt;
use std::net::{AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use packetguard_common::features::{HOST_FEATURES, SOURCE_FEATURES};
use serde::{Deserialize, Serialize};

use crate::config::RuleConfig;

/// Most rules one configuration may hold. Each rule is one series of
/// `packetguard_rule_matches_total` and one comparison per window row, so the bound keeps
/// both the label set and the per-row work small.
pub const MAX_RULES: usize = 256;

/// Longest rule name, in characters. Names are metric label values and event fields.
pub const MAX_NAME_LEN: usize = 64;

/// Which one-second window a rule reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// The per-destination window: what one address received.
    #[default]
    Destination,
    /// The per-source window: what one address sent.
    Source,
}

impl WindowKind {
    /// Both kinds, in the order of per-kind arrays.
    pub const ALL: [WindowKind; 2] = [WindowKind::Destination, WindowKind::Source];

    /// The name written in the config file.
    pub const fn as_str(self) -> &'static str {
        match self {
            WindowKind::Destination => "destination",
            WindowKind::Source => "source",
        }
    }

    /// The features of this window's rows, in row order.
    pub const fn features(self) -> &'static [&'static str] {
        match self {
            WindowKind::Destination => &HOST_FEATURES,
            WindowKind::Source => &SOURCE_FEATURES,
        }
    }

    /// Position in [`WindowKind::ALL`].
    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IPv4 or IPv6 prefix such as `198.51.100.0/24` or `2001:db8::/32`.
///
/// Host bits are cleared when it is built, so `198.51.100.7/24` is `198.51.100.0/24`: an
/// operator who pastes a host address with the prefix length of its network means that
/// network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: Net,
    len: u8,
}

/// The network number (host bits zero) and the mask of its prefix, both computed once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

/// Why a prefix did not parse.
#[derive(Debug, thiserror::Error)]
pub enum CidrError {
    #[error("expected an address and a prefix length such as 198.51.100.0/24 (one address: /32 or /128)")]
    Syntax,
    #[error("{source}")]
    Address { source: AddrParseError },
    #[error("the prefix length must be a whole number from 0 to {max}")]
    Length { max: u8 },
}

impl Cidr {
    /// The prefix of length `len` holding `addr`; host bits of `addr` are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, CidrError> {
        let net = match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Net::V4 {
                    net: u32::from(a) & mask,
                    mask,
                }
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Net::V6 {
                    net: u128::from(a) & mask,
                    mask,
                }
            }
            IpAddr::V4(_) => return Err(CidrError::Length { max: 32 }),
            IpAddr::V6(_) => return Err(CidrError::Length { max: 128 }),
        };
        Ok(Cidr { net, len })
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        match self.net {
            Net::V4 { net, .. } => IpAddr::V4(Ipv4Addr::from(net)),
            Net::V6 { net, .. } => IpAddr::V6(Ipv6Addr::from(net)),
        }
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `addr` lies in the prefix. An IPv4 prefix never holds an IPv6 address and
    /// the other way round, IPv4-mapped IPv6 addresses included: the agent writes the
    /// addresses of IPv4 traffic as IPv4, so a mapped address is IPv6 traffic.
    #[inline]
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.net, addr) {
            (Net::V4 { net, mask }, IpAddr::V4(a)) => u32::from(a) & mask == net,
            (Net::V6 { net, mask }, IpAddr::V6(a)) => u128::from(a) & mask == net,
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let (addr, len) = text.split_once('/').ok_or(CidrError::Syntax)?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|source| CidrError::Address { source })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        // Digits only: `u8::from_str` would also take "+24".
        let len = match len.bytes().all(|b| b.is_ascii_digit()) {
            true => len.parse::<u8>().ok(),
            false => None,
        };
        Cidr::new(addr, len.ok_or(CidrError::Length { max })?)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

/// Which rule an error is about: its position among the `[[rules]]` tables (from 1, in
/// file order) and its name when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// Position from 0; displayed from 1.
    pub index: usize,
    pub name: Option<String>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}", self.index + 1)?;
        match &self.name {
            // Debug quoting keeps a name with a newline on one line.
            Some(name) => write!(f, " {name:?}"),
            None => Ok(()),
        }
    }
}

/// A comma-separated list of names, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameList(pub &'static [&'static str]);

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

/// The keys of a rule table.
pub const RULE_KEYS: NameList = NameList(&["name", "window", "cidr", "feature", "above"]);

/// What is wrong with one rule. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum RuleProblem {
    #[error("`{key}` is missing")]
    Missing { key: &'static str },
    #[error("unknown key {key:?}; a rule has {RULE_KEYS}")]
    UnknownKey { key: String },
    #[error("`{key}` must be {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("unknown window {window:?}; use \"destination\" or \"source\"")]
    UnknownWindow { window: String },
    #[error("`name` must be 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '_', '.' and '-'")]
    BadName,
    #[error("the name is already used by rule {}", first + 1)]
    Duplicate { first: usize },
    #[error("unknown feature {feature:?} for a {window} window; use one of {valid}")]
    UnknownFeature {
        feature: String,
        window: WindowKind,
        valid: NameList,
    },
    #[error("invalid `cidr` {cidr:?}: {source}")]
    BadCidr { cidr: String, source: CidrError },
    #[error("`above` must be a finite number at least 0, not {above}")]
    BadLimit { above: f64 },
}

/// Why a list of rules was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{count} rules given; at most {MAX_RULES} are allowed")]
    TooMany { count: usize },
    #[error("{rule}: {problem}")]
    Invalid {
        rule: RuleRef,
        #[source]
        problem: RuleProblem,
    },
}

/// Whether `name` is 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9_.-]`: safe as a
/// label value, in a log line and in a file name, with nothing to escape.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// One rule, resolved.
#[derive(Clone, Debug)]
struct Rule {
    /// Position in the configuration, which is also the metric child's position.
    index: usize,
    cidr: Option<Cidr>,
    /// Position of the feature in the window's row.
    feature: usize,
    feature_name: &'static str,
    above: f64,
}

/// A rule that matched one window row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuleMatch<'a> {
    /// The rule's position in the configuration, for [`crate::metrics::RuleMetrics`].
    pub index: usize,
    /// The rule's name.
    pub rule: &'a str,
    /// The feature compared.
    pub feature: &'static str,
    /// The row's value of that feature.
    pub value: f64,
    /// The rule's `above` limit; `value > limit`.
    pub limit: f64,
}

/// The configured rules, ready to evaluate.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Names in configuration order.
    names: Vec<Box<str>>,
    /// Rules of each window kind, by [`WindowKind::index`], in configuration order.
    by_window: [Vec<Rule>; 2],
}

impl Rules {
    /// Checks and resolves `configs`: at most [`MAX_RULES`], each name valid and unique,
    /// each feature one of its window's, each limit finite and not negative. The first
    /// problem, in configuration order, is the error.
    pub fn new(configs: &[RuleConfig]) -> Result<Self, RuleError> {
        if configs.len() > MAX_RULES {
            return Err(RuleError::TooMany {
                count: configs.len(),
            });
        }
        let mut rules = Rules::default();
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(configs.len());
        for (index, c) in configs.iter().enumerate() {
            let invalid = |problem| RuleError::Invalid {
                rule: RuleRef {
                    index,
                    name: Some(c.name.clone()),
                },
                problem,
            };
            if !valid_name(&c.name) {
                return Err(invalid(RuleProblem::BadName));
            }
            if let Some(&first) = seen.get(c.name.as_str()) {
                return Err(invalid(RuleProblem::Duplicate { first }));
            }
            seen.insert(&c.name, index);
            let valid = c.window.features();
            let Some(feature) = valid.iter().position(|f| *f == c.feature) else {
                return Err(invalid(RuleProblem::UnknownFeature {
                    feature: c.feature.clone(),
                    window: c.window,
                    valid: NameList(valid),
                }));
            };
            if !c.above.is_finite() || c.above < 0.0 {
                return Err(invalid(RuleProblem::BadLimit { above: c.above }));
            }
            rules.names.push(c.name.as_str().into());
            rules.by_window[c.window.index()].push(Rule {
                index,
                cidr: c.cidr,
                feature,
                feature_name: valid[feature],
                above: c.above,
            });
        }
        Ok(rules)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no rule is configured (the default): evaluation can be skipped.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether some rule reads `window`'s rows.
    pub fn reads(&self, window: WindowKind) -> bool {
        !self.by_window[window.index()].is_empty()
    }

    /// The rule names in configuration order; a rule's position is its index.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.names.iter().map(|n| &**n)
    }

    /// Calls `out` for every rule of `window` whose prefix holds `addr` (or that has no
    /// prefix) and whose feature's value in `row` is strictly above its limit, in
    /// configuration order; the first error `out` returns stops the walk and is returned.
    /// `row` holds the window's features in [`WindowKind::features`] order. Allocates
    /// nothing.
    ///
    /// The comparison is strict so that `above = 0` means "any at all". A NaN value never
    /// matches, and a row too short to hold a rule's feature does not match that rule.
    #[inline]
    pub fn matches<E>(
        &self,
        window: WindowKind,
        addr: IpAddr,
        row: &[f64],
        out: &mut impl FnMut(RuleMatch<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        for rule in &self.by_window[window.index()] {
            let Some(&value) = row.get(rule.feature) else {
                continue;
            };
            if value > rule.above && rule.cidr.is_none_or(|c| c.contains(addr)) {
                out(RuleMatch {
                    index: rule.index,
                    rule: &self.names[rule.index],
                    feature: rule.feature_name,
                    value,
                    limit: rule.above,
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
