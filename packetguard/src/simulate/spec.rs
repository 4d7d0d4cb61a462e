//! What the user asked for: attack kinds, their options (`--attack KIND[:key=value,...]`
//! over the global flags), and the plan each resolves to against a capture.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::SimulateError;

/// The attacks simulate can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttackKind {
    SynFlood,
    UdpFlood,
    VerticalScan,
    HorizontalScan,
    BruteForce,
    Exfiltration,
}

impl AttackKind {
    pub const ALL: [AttackKind; 6] = [
        AttackKind::SynFlood,
        AttackKind::UdpFlood,
        AttackKind::VerticalScan,
        AttackKind::HorizontalScan,
        AttackKind::BruteForce,
        AttackKind::Exfiltration,
    ];

    /// The name on the command line and in the labels file.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttackKind::SynFlood => "syn-flood",
            AttackKind::UdpFlood => "udp-flood",
            AttackKind::VerticalScan => "vertical-scan",
            AttackKind::HorizontalScan => "horizontal-scan",
            AttackKind::BruteForce => "brute-force",
            AttackKind::Exfiltration => "exfiltration",
        }
    }

    /// The default rate, in the unit of [`AttackKind::rate_unit`]: high enough that the
    /// destination and source windows stand far outside normal traffic, low enough to be
    /// what one real host sends.
    pub const fn default_rate(self) -> f64 {
        match self {
            AttackKind::SynFlood => 2000.0,
            AttackKind::UdpFlood => 2000.0,
            AttackKind::VerticalScan => 500.0,
            AttackKind::HorizontalScan => 200.0,
            AttackKind::BruteForce => 10.0,
            AttackKind::Exfiltration => 10000.0,
        }
    }

    /// What one unit of rate is.
    pub const fn rate_unit(self) -> &'static str {
        match self {
            AttackKind::SynFlood => "SYNs/s",
            AttackKind::UdpFlood => "datagrams/s",
            AttackKind::VerticalScan | AttackKind::HorizontalScan => "probes/s",
            AttackKind::BruteForce => "connections/s",
            AttackKind::Exfiltration => "data segments/s",
        }
    }

    /// The victim port when none is given; `None` for the UDP flood, which picks a random
    /// port per datagram, and the vertical scan, which probes ports 1, 2, ...
    pub const fn default_port(self) -> Option<u16> {
        match self {
            AttackKind::SynFlood | AttackKind::HorizontalScan => Some(80),
            AttackKind::BruteForce => Some(22),
            AttackKind::Exfiltration => Some(443),
            AttackKind::UdpFlood | AttackKind::VerticalScan => None,
        }
    }

    /// What the attack sends, for `--help` (its rate and port come from the defaults).
    pub const fn summary(self) -> &'static str {
        match self {
            AttackKind::SynFlood => "bare SYNs to one port of the victim; may spoof",
            AttackKind::UdpFlood => "512-byte datagrams to random ports (or port=N); may spoof",
            AttackKind::VerticalScan => "SYNs to ports 1..N of the victim in random order; RST-ACK back, or SYN-ACK and the scanner's RST on ports the victim answered in the capture",
            AttackKind::HorizontalScan => "SYNs to one port of every address of the victim's /24 (IPv6 /120); only the victim answers",
            AttackKind::BruteForce => "SSH connections: handshake, banners, key exchange, one failed password, close (12 packets)",
            AttackKind::Exfiltration => "one TCP transfer of 1448-byte segments from the victim to the attacker, ACKed every 2nd segment",
        }
    }

    /// Floods need no answer, so their sources may be forged; the others need replies.
    pub const fn may_spoof(self) -> bool {
        matches!(self, AttackKind::SynFlood | AttackKind::UdpFlood)
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttackKind {
    type Err = SimulateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttackKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| SimulateError::UnknownAttack(s.to_string()))
    }
}

/// When an attack starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StartAt {
    /// Seconds after the capture's first packet (`12.5`).
    Offset(f64),
    /// A share of the capture's span (`30%`).
    Percent(f64),
    /// Seconds since the Unix epoch (`@1617292545.5`).
    Epoch(f64),
}

impl FromStr for StartAt {
    type Err = SimulateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || SimulateError::BadOption(format!("start '{s}': expected SECONDS, N% or @EPOCH"));
        let num = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(bad)
        };
        if let Some(p) = s.strip_suffix('%') {
            Ok(StartAt::Percent(num(p)?))
        } else if let Some(e) = s.strip_prefix('@') {
            Ok(StartAt::Epoch(num(e)?))
        } else {
            Ok(StartAt::Offset(num(s)?))
        }
    }
}

/// Options of one attack; unset ones come from the global flags, then the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttackOptions {
    pub rate: Option<f64>,
    pub start: Option<StartAt>,
    /// Seconds.
    pub duration: Option<f64>,
    pub victim: Option<IpAddr>,
    pub attacker: Option<IpAddr>,
    pub spoofed: Option<bool>,
    pub port: Option<u16>,
}

impl AttackOptions {
    /// Each option of `self`, or `other`'s where `self` has none.
    pub fn or(self, other: AttackOptions) -> AttackOptions {
        AttackOptions {
            rate: self.rate.or(other.rate),
            start: self.start.or(other.start),
            duration: self.duration.or(other.duration),
            victim: self.victim.or(other.victim),
            attacker: self.attacker.or(other.attacker),
            spoofed: self.spoofed.or(other.spoofed),
            port: self.port.or(other.port),
        }
    }
}

/// One `--attack` value: `KIND` or `KIND:key=value,...` with keys `rate`, `start`,
/// `duration`, `victim`, `attacker`, `port` and the bare word `spoofed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttackSpec {
    pub kind: AttackKind,
    pub options: AttackOptions,
}

impl FromStr for AttackSpec {
    type Err = SimulateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        let kind: AttackKind = kind.parse()?;
        let mut o = AttackOptions::default();
        for item in rest.split(',').filter(|i| !i.is_empty()) {
            if item == "spoofed" {
                o.spoofed = Some(true);
                continue;
            }
            let (key, value) = item.split_once('=').ok_or_else(|| {
                SimulateError::BadOption(format!("'{item}' in '{s}': expected key=value"))
            })?;
            let bad = |what: &str| SimulateError::BadOption(format!("{key} '{value}': {what}"));
            match key {
                "rate" => o.rate = Some(value.parse().map_err(|_| bad("not a number"))?),
                "start" => o.start = Some(value.parse()?),
                "duration" => o.duration = Some(value.parse().map_err(|_| bad("not seconds"))?),
                "victim" => o.victim = Some(value.parse().map_err(|_| bad("not an address"))?),
                "attacker" => o.attacker = Some(value.parse().map_err(|_| bad("not an address"))?),
                "port" => o.port = Some(value.parse().map_err(|_| bad("not a port"))?),
                _ => {
                    return Err(SimulateError::BadOption(format!(
                        "unknown key '{key}' in '{s}' (rate, start, duration, victim, attacker, port, spoofed)"
                    )))
                }
            }
        }
        Ok(AttackSpec { kind, options: o })
    }
}

/// Who sends an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attacker {
    Host(IpAddr),
    /// Random forged sources: 198.18.0.0/15 for IPv4, 2001:db8:5900::/40 for IPv6.
    Spoofed,
}

/// What the capture tells the plan: its span and its busiest destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureFacts {
    pub first_ns: u64,
    pub last_ns: u64,
    pub busiest_destination: Option<IpAddr>,
}

/// The default duration of an attack, seconds.
pub const DEFAULT_DURATION_S: f64 = 10.0;
/// The default start, as a share of the capture's span.
pub const DEFAULT_START_PERCENT: f64 = 30.0;
/// The most packets one attack may plan, so a typo in a rate cannot fill a disk.
pub const MAX_ATTACK_PACKETS: f64 = 20_000_000.0;

/// One attack, every option decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub kind: AttackKind,
    pub attacker: Attacker,
    pub victim: IpAddr,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// In the unit of [`AttackKind::rate_unit`].
    pub rate: f64,
    pub port: Option<u16>,
}

impl Plan {
    /// Decides every option of `spec` (its own, then `global`, then the defaults), as
    /// attack number `index` (which picks its default attacker address).
    pub fn resolve(
        spec: &AttackSpec,
        global: AttackOptions,
        facts: &CaptureFacts,
        index: usize,
    ) -> Result<Plan, SimulateError> {
        let kind = spec.kind;
        let o = spec.options.or(global);
        let bad = |what: String| SimulateError::BadOption(format!("{kind}: {what}"));
        let victim = o
            .victim
            .or(facts.busiest_destination)
            .ok_or(SimulateError::NoVictim)?;
        let spoofed = o.spoofed.unwrap_or(false);
        if spoofed && !kind.may_spoof() {
            return Err(bad(
                "spoofed sources only for syn-flood and udp-flood".into()
            ));
        }
        if spoofed && spec.options.attacker.is_some() {
            return Err(bad("both an attacker and spoofed sources given".into()));
        }
        let attacker = if spoofed {
            Attacker::Spoofed
        } else {
            let a = o
                .attacker
                .unwrap_or_else(|| default_attacker(victim, index));
            if a.is_ipv4() != victim.is_ipv4() {
                return Err(bad(format!(
                    "attacker {a} and victim {victim} are of different address families"
                )));
            }
            if a == victim {
                return Err(bad(format!("attacker and victim are both {a}")));
            }
            Attacker::Host(a)
        };
        let rate = o.rate.unwrap_or(kind.default_rate());
        let duration = o.duration.unwrap_or(DEFAULT_DURATION_S);
        if !(rate.is_finite() && rate > 0.0) {
            return Err(bad(format!("rate {rate} must be above 0")));
        }
        if !(duration.is_finite() && duration > 0.0) {
            return Err(bad(format!("duration {duration} must be above 0 s")));
        }
        if rate * duration > MAX_ATTACK_PACKETS {
            return Err(bad(format!(
                "rate {rate} for {duration} s is more than {MAX_ATTACK_PACKETS} packets"
            )));
        }
        let span = facts.last_ns.saturating_sub(facts.first_ns) as f64;
        let start_ns = match o.start.unwrap_or(StartAt::Percent(DEFAULT_START_PERCENT)) {
            StartAt::Offset(s) => facts.first_ns.saturating_add((s * 1e9) as u64),
            StartAt::Percent(p) => facts.first_ns.saturating_add((span * p / 100.0) as u64),
            StartAt::Epoch(e) => (e * 1e9) as u64,
        };
        Ok(Plan {
            kind,
            attacker,
            victim,
            start_ns,
            duration_ns: (duration * 1e9) as u64,
            rate,
            port: o.port.or(kind.default_port()),
        })
    }

    /// How many rate units the attack sends: `floor(rate × duration)`, at least one.
    pub fn units(&self) -> u64 {
        ((self.rate * self.duration_ns as f64 / 1e9).floor() as u64).max(1)
    }
}

/// A documentation address per attack: 203.0.113.66, .67, ... or 2001:db8:bad::66, ...
fn default_attacker(victim: IpAddr, index: usize) -> IpAddr {
    let n = 66 + (index % 180) as u8;
    match victim {
        IpAddr::V4(_) => Ipv4Addr::new(203, 0, 113, n).into(),
        // Hexadecimal 0x66 + n, so the address reads like its IPv4 twin: 2001:db8:bad::66.
        IpAddr::V6(_) => Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xbad,
            0,
            0,
            0,
            0,
            0x66 + (index % 180) as u16,
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTS: CaptureFacts = CaptureFacts {
        first_ns: 1_000_000_000_000,
        last_ns: 1_100_000_000_000,
        busiest_destination: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
    };

    #[test]
    fn per_attack_options_override_the_global_flags() {
        let spec: AttackSpec = "syn-flood:rate=50,start=20%,spoofed,port=443"
            .parse()
            .unwrap();
        let global = AttackOptions {
            rate: Some(9.0),
            duration: Some(2.0),
            ..Default::default()
        };
        let p = Plan::resolve(&spec, global, &FACTS, 0).unwrap();
        assert_eq!(p.rate, 50.0);
        assert_eq!(p.duration_ns, 2_000_000_000);
        assert_eq!(p.start_ns, 1_020_000_000_000);
        assert_eq!(p.attacker, Attacker::Spoofed);
        assert_eq!(p.port, Some(443));
        assert_eq!(p.units(), 100);
        assert_eq!(p.victim, FACTS.busiest_destination.unwrap());
    }

    #[test]
    fn defaults_start_at_thirty_percent_from_a_documentation_address() {
        let spec: AttackSpec = "brute-force".parse().unwrap();
        let p = Plan::resolve(&spec, AttackOptions::default(), &FACTS, 1).unwrap();
        assert_eq!(p.start_ns, 1_030_000_000_000);
        assert_eq!(p.attacker, Attacker::Host("203.0.113.67".parse().unwrap()));
        assert_eq!((p.rate, p.port, p.units()), (10.0, Some(22), 100));
    }

    #[test]
    fn bad_options_are_errors_naming_them() {
        let e = |s: &str| {
            s.parse::<AttackSpec>()
                .and_then(|spec| Plan::resolve(&spec, AttackOptions::default(), &FACTS, 0))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(e("ping-flood"), "unknown attack 'ping-flood' (syn-flood, udp-flood, vertical-scan, horizontal-scan, brute-force, exfiltration)");
        assert_eq!(
            e("brute-force:spoofed"),
            "brute-force: spoofed sources only for syn-flood and udp-flood"
        );
        assert_eq!(e("udp-flood:rate=0"), "udp-flood: rate 0 must be above 0");
        assert_eq!(e("udp-flood:speed=3"), "unknown key 'speed' in 'udp-flood:speed=3' (rate, start, duration, victim, attacker, port, spoofed)");
        assert_eq!(
            e("syn-flood:victim=2001:db8::1,attacker=203.0.113.1"),
            "syn-flood: attacker 203.0.113.1 and victim 2001:db8::1 are of different address families"
        );
        assert_eq!(
            e("syn-flood:start=x"),
            "start 'x': expected SECONDS, N% or @EPOCH"
        );
    }
}
