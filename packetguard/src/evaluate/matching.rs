//! Which verdicts are about which attack.
//!
//! A verdict is about an attack when it falls in the attack's window, from its first
//! packet to its last plus a linger (a flow record is judged when the flow ends, up to an
//! idle timeout after its last packet; a window closes a second after it opens), and its
//! subject is one of the attack's parties:
//!
//! - a flow whose endpoints are the attacker and the victim, either way round; when the
//!   attacker is forged or unknown, a flow to the victim;
//! - a destination or source window of the victim, or of the attacker when it is a real
//!   address (an exfiltrating host is the source of its transfer, a scanner the
//!   destination of its answers).

use std::net::IpAddr;

use crate::events::Subject;
use crate::verdict::Verdict;

use super::labels::AttackLabel;

/// The flow idle timeout of `run` and `analyze` (15 s) plus one window (1 s).
pub const DEFAULT_LINGER_NS: u64 = 16_000_000_000;

/// The part of the capture an attack's verdicts may fall in, `[start, end]` inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Window {
    pub fn of(label: &AttackLabel, linger_ns: u64) -> Self {
        Self {
            start_ns: label.start_ns,
            end_ns: label.end_ns.saturating_add(linger_ns),
        }
    }

    pub fn contains(&self, ts_ns: u64) -> bool {
        (self.start_ns..=self.end_ns).contains(&ts_ns)
    }
}

/// True when `subject` is a party of the attack `label` describes.
pub fn involves(label: &AttackLabel, subject: &Subject) -> bool {
    let attacker = label.attacker.filter(|_| !label.spoofed);
    let is_attacker = |ip: IpAddr| attacker.is_some_and(|a| a.contains(ip));
    let is_victim = |ip: IpAddr| label.victim.contains(ip);
    match *subject {
        Subject::Flow { src_ip, dst_ip, .. } => match attacker {
            Some(_) => {
                (is_attacker(src_ip) && is_victim(dst_ip))
                    || (is_victim(src_ip) && is_attacker(dst_ip))
            }
            None => is_victim(dst_ip),
        },
        Subject::Host(ip) | Subject::Source(ip) => is_victim(ip) || is_attacker(ip),
    }
}

/// The index of the first attack `v` is about, if any.
pub fn attack_of(labels: &[AttackLabel], windows: &[Window], v: &Verdict) -> Option<usize> {
    labels
        .iter()
        .zip(windows)
        .position(|(l, w)| w.contains(v.ts_ns) && involves(l, &v.subject))
}

/// Nanoseconds of `[first_ns, last_ns]` outside every window: the benign part.
pub fn benign_ns(first_ns: u64, last_ns: u64, windows: &[Window]) -> u64 {
    let mut spans: Vec<(u64, u64)> = windows
        .iter()
        .map(|w| (w.start_ns.max(first_ns), w.end_ns.min(last_ns)))
        .filter(|(s, e)| s < e)
        .collect();
    spans.sort_unstable();
    let mut covered = 0;
    let mut reach = first_ns;
    for (s, e) in spans {
        let s = s.max(reach);
        if e > s {
            covered += e - s;
            reach = e;
        }
    }
    last_ns.saturating_sub(first_ns) - covered
}
