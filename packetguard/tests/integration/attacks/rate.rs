//! An attack's rate, measured from what tcpdump captured of it.

use std::{
    collections::HashSet,
    path::PathBuf,
    time::{Duration, SystemTime},
};

use crate::{
    capture::{ipv4_fields, pcap_packets, tcpdump, tcpdump_dropped},
    lab::{Lab, Proc},
};

/// What the capture counts to measure an attack's rate.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Every captured packet.
    Packets,
    /// Distinct destination ports (a vertical scan).
    Ports,
    /// Distinct destination addresses (a horizontal scan).
    Addresses,
}

/// An attack's rate as the capture saw it.
#[derive(Debug)]
pub struct Rate {
    /// Distinct units (packets, ports, addresses) captured.
    pub count: usize,
    /// From the first unit's first packet to the last new unit's.
    pub span: Duration,
    /// `count - 1` units over `span`.
    pub per_s: f64,
    /// From the attack's start to the first captured packet (the tool's start-up).
    pub first_after: Duration,
    pub dropped: Option<u64>,
}

/// tcpdump capturing an attack's packets.
pub struct Capture {
    proc: Proc,
    path: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `dev` in `ns` for the packets `filter` selects, and waits until it
    /// listens. Start it before noting the attack's start time.
    pub fn start(lab: &Lab, ns: &str, dev: &str, filter: &str) -> Capture {
        let (proc, path) = tcpdump(lab, ns, dev, filter, "attack.pcap");
        Capture { proc, path }
    }

    /// Stops the capture and measures the attack that started at `start` in `unit`s per
    /// second: from the first unit's first packet to the last new unit's first packet.
    pub fn measure(mut self, start: SystemTime, unit: Unit) -> Rate {
        // What the tool sent last is on the interface well within this.
        std::thread::sleep(Duration::from_millis(300));
        self.proc.stop(libc::SIGINT, Duration::from_secs(10));
        let mut seen = HashSet::new();
        let mut times = Vec::new();
        for (i, p) in pcap_packets(&self.path).iter().enumerate() {
            let Some(f) = ipv4_fields(&p.data) else {
                continue;
            };
            let key = match unit {
                Unit::Packets => i as u64,
                Unit::Ports => u64::from(f.dst_port),
                Unit::Addresses => u64::from(u32::from(f.dst)),
            };
            if seen.insert(key) {
                times.push(p.time);
            }
        }
        let span = match (times.first(), times.last()) {
            (Some(a), Some(b)) => b.duration_since(*a).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let per_s = if times.len() > 1 && !span.is_zero() {
            (times.len() - 1) as f64 / span.as_secs_f64()
        } else {
            0.0
        };
        Rate {
            count: times.len(),
            span,
            per_s,
            first_after: times
                .first()
                .and_then(|t| t.duration_since(start).ok())
                .unwrap_or_default(),
            dropped: tcpdump_dropped(&self.proc.stderr()),
        }
    }
}
