//! Per-destination one-second windows: the rows of the host detector.
//!
//! Two sources feed a window:
//! - the kernel's per-destination totals (packets, bytes, TCP packets, SYN-without-ACK
//!   packets), read once per window; the window gets the difference from the last reading,
//!   plus what flows the agent removed had counted without crediting it to the kernel's
//!   totals (a flow direction credits at most a tenth of a second late, see
//!   `packetguard_common::entry`);
//! - flow-start events from the ring buffer, for new flows, distinct sources and distinct
//!   destination ports. Only flows *toward* the host count: a TCP flow whose first packet
//!   is a SYN without ACK, or any UDP or ICMP flow. A TCP flow first seen at its SYN-ACK
//!   was opened by the host itself (XDP sees ingress only), and one first seen mid-stream
//!   predates the agent; neither is a connection attempt against the host.
//!
//! Memory stays bounded under a flood of spoofed sources: at most [`MAX_PAIRS`] distinct
//! (host, source) and (host, port) pairs are remembered per window; past that, every
//! further flow start counts as new (an upper bound, reported by [`Closed::saturated`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use packetguard_common::{
    features::N_HOST_FEATURES,
    host::syn_without_ack,
    key::{IPPROTO_TCP, IPPROTO_UDP},
    FlowStart, HostKey, HostStats,
};

/// Distinct (host, source) and (host, port) pairs remembered per window.
pub const MAX_PAIRS: usize = 1 << 18;

/// What flow starts added to one host in the current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StartCounts {
    new_flows: u64,
    sources: u64,
    ports: u64,
}

/// What one host received in the current window, from all sources.
#[derive(Clone, Copy, Debug, Default)]
struct Received {
    /// Kernel totals since the last reading, plus late credits of removed flows.
    traffic: HostStats,
    starts: StartCounts,
}

/// Accumulates the current window and keeps the last kernel reading per host.
#[derive(Default)]
pub struct HostWindows {
    window: HashMap<HostKey, Received>,
    source_pairs: HashSet<(HostKey, HostKey)>,
    port_pairs: HashSet<(HostKey, u16)>,
    saturated: bool,
    /// Kernel totals at the previous reading, and the one being taken.
    previous: HashMap<HostKey, HostStats>,
    current: HashMap<HostKey, HostStats>,
}

/// Summary of a closed window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Closed {
    /// Host rows produced.
    pub hosts: usize,
    /// The pair limit was reached: distinct counts are upper bounds.
    pub saturated: bool,
}

/// The host features of one window, in [`packetguard_common::features::HOST_FEATURES`]
/// order: packets/s, bytes/s, new flows/s, distinct sources, distinct destination ports,
/// SYN-without-ACK share of TCP packets, mean frame size.
pub fn host_features(
    d: &HostStats,
    new_flows: u64,
    sources: u64,
    ports: u64,
    window: Duration,
) -> [f64; N_HOST_FEATURES] {
    let secs = window.as_secs_f64().max(1e-3);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    [
        d.packets as f64 / secs,
        d.bytes as f64 / secs,
        new_flows as f64 / secs,
        sources as f64,
        ports as f64,
        ratio(d.syn_without_ack, d.tcp_packets),
        ratio(d.bytes, d.packets),
    ]
}

impl HostWindows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a flow start toward its destination, if it is a flow toward the host.
    pub fn observe_start(&mut self, ev: &FlowStart) {
        let src_is_a = ev.fwd_is_a != 0;
        let k = &ev.key;
        let toward_host = k.protocol != IPPROTO_TCP || syn_without_ack(true, ev.tcp_flags);
        if !toward_host {
            return;
        }
        let dst = HostKey::destination(k, src_is_a);
        let src = HostKey::source(k, src_is_a);
        let dst_port = if src_is_a { k.port_b } else { k.port_a };
        let has_ports = matches!(k.protocol, IPPROTO_TCP | IPPROTO_UDP);
        let counts = &mut self.window.entry(dst).or_default().starts;
        counts.new_flows += 1;
        let room = self.source_pairs.len() + self.port_pairs.len() < MAX_PAIRS;
        self.saturated |= !room;
        if !room || self.source_pairs.insert((dst, src)) {
            counts.sources += 1;
        }
        if has_ports && (!room || self.port_pairs.insert((dst, dst_port))) {
            counts.ports += 1;
        }
    }

    /// Adds what a removed flow counted toward `host` without crediting the kernel's totals.
    pub fn credit_late(&mut self, host: HostKey, d: &HostStats) {
        if d.packets != 0 {
            self.add_traffic(host, d);
        }
    }

    /// Records one host's kernel totals (summed over CPUs) for the window being closed: the
    /// window gets the difference from the previous reading. Call once per host and window.
    pub fn reading(&mut self, host: HostKey, totals: HostStats) {
        let d = match self.previous.get(&host) {
            Some(before) => totals.since(before),
            None => totals,
        };
        self.add_traffic(host, &d);
        self.current.insert(host, totals);
    }

    fn add_traffic(&mut self, host: HostKey, d: &HostStats) {
        let r = self.window.entry(host).or_default();
        r.traffic = r.traffic.plus(d);
    }

    /// Closes the window that lasted `window`: calls `row` for every host that received
    /// packets or flows in it, then starts the next window. Call after the readings.
    pub fn close(
        &mut self,
        window: Duration,
        mut row: impl FnMut(HostKey, &[f64; N_HOST_FEATURES]),
    ) -> Closed {
        let mut hosts = 0;
        // A host the kernel map no longer holds (evicted between an event and the reading)
        // still gets a row for its flow starts and late credits: the window saw them.
        for (host, r) in self.window.drain() {
            let (d, s) = (r.traffic, r.starts);
            if d.packets == 0 && s.new_flows == 0 {
                continue;
            }
            row(
                host,
                &host_features(&d, s.new_flows, s.sources, s.ports, window),
            );
            hosts += 1;
        }
        // Hosts missing from this reading were evicted from the kernel map; forget them.
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
        self.source_pairs.clear();
        self.port_pairs.clear();
        let saturated = std::mem::take(&mut self.saturated);
        Closed { hosts, saturated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::{
        record::{RecordKind, TCP_ACK, TCP_SYN},
        FlowKey,
    };

    const VICTIM: [u32; 4] = [0x0a00_0001, 0, 0, 0];

    fn start(src: u32, sport: u16, dport: u16, proto: u8, flags: u8) -> FlowStart {
        let (key, src_is_a) = FlowKey::canonical(4, proto, [src, 0, 0, 0], sport, VICTIM, dport);
        FlowStart {
            kind: RecordKind::FlowStart as u32,
            len: 60,
            ts_ns: 0,
            key,
            tcp_flags: flags,
            fwd_is_a: src_is_a as u8,
            _pad: [0; 6],
        }
    }

    fn victim() -> HostKey {
        HostKey {
            addr: VICTIM,
            ip_version: 4,
            _pad: [0; 3],
        }
    }

    fn close(w: &mut HostWindows, secs: u64) -> Vec<(HostKey, [f64; N_HOST_FEATURES])> {
        let mut rows = Vec::new();
        w.close(Duration::from_secs(secs), |h, r| rows.push((h, *r)));
        rows.sort_by_key(|(h, _)| *h);
        rows
    }

    #[test]
    fn a_window_is_the_difference_between_readings_with_start_counts() {
        let mut w = HostWindows::new();
        let mut totals = HostStats::default();
        for _ in 0..10 {
            totals.add(100, 1, TCP_ACK);
        }
        w.reading(victim(), totals);
        assert_eq!(close(&mut w, 1).len(), 1);

        // Next window: 4 SYNs from 2 sources to 3 ports, plus 4 ACKs.
        for (src, sport, dport) in [(1, 1000, 22), (1, 1001, 80), (2, 1000, 80), (2, 1001, 443)] {
            w.observe_start(&start(src, sport, dport, IPPROTO_TCP, TCP_SYN));
            totals.add(60, 1, TCP_SYN);
            totals.add(140, 1, TCP_ACK);
        }
        w.reading(victim(), totals);
        let rows = close(&mut w, 2);
        assert_eq!(
            rows,
            vec![(victim(), [4.0, 400.0, 2.0, 2.0, 3.0, 0.5, 100.0])]
        );
    }

    #[test]
    fn flows_the_host_opened_itself_do_not_count_as_new_flows_toward_it() {
        let mut w = HostWindows::new();
        w.observe_start(&start(1, 443, 50000, IPPROTO_TCP, TCP_SYN | TCP_ACK));
        w.observe_start(&start(1, 443, 50001, IPPROTO_TCP, TCP_ACK));
        assert!(close(&mut w, 1).is_empty());
        w.observe_start(&start(1, 53, 50002, IPPROTO_UDP, 0));
        w.observe_start(&start(1, 7, 7, 1, 0));
        let rows = close(&mut w, 1);
        // Two flows from one source; only the UDP one has a port.
        assert_eq!(rows, vec![(victim(), [0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 0.0])]);
    }

    #[test]
    fn a_host_without_traffic_in_the_window_gives_no_row_and_evicted_hosts_are_forgotten() {
        let mut w = HostWindows::new();
        let t = HostStats::first(1500, 0, 0);
        w.reading(victim(), t);
        assert_eq!(close(&mut w, 1).len(), 1);
        w.reading(victim(), t);
        assert!(close(&mut w, 1).is_empty());
        // Not read this time: evicted. When it comes back its totals count whole.
        assert!(close(&mut w, 1).is_empty());
        w.reading(victim(), t);
        assert_eq!(close(&mut w, 1)[0].1[0], 1.0);
    }

    #[test]
    fn late_credits_of_removed_flows_join_the_window_once() {
        let mut w = HostWindows::new();
        let mut totals = HostStats::first(100, 1, TCP_SYN);
        w.reading(victim(), totals);
        assert_eq!(close(&mut w, 1).len(), 1);

        // The kernel credited one more packet; a removed flow had two more uncredited.
        totals.add(100, 1, TCP_ACK);
        w.reading(victim(), totals);
        let mut late = HostStats::first(60, 1, TCP_ACK);
        late.add(60, 1, TCP_ACK);
        w.credit_late(victim(), &late);
        w.credit_late(victim(), &HostStats::default());
        assert_eq!(
            close(&mut w, 1),
            vec![(victim(), [3.0, 220.0, 0.0, 0.0, 0.0, 0.0, 220.0 / 3.0])]
        );

        // Nothing new: no row. A late credit for a host the kernel map no longer holds
        // still makes one.
        w.reading(victim(), totals);
        assert!(close(&mut w, 1).is_empty());
        w.credit_late(victim(), &late);
        assert_eq!(close(&mut w, 1)[0].1[..2], [2.0, 120.0]);
    }

    #[test]
    fn distinct_counts_saturate_at_the_pair_limit_and_say_so() {
        let mut w = HostWindows::new();
        let distinct = MAX_PAIRS as u32 - 1;
        for src in 0..distinct {
            w.observe_start(&start(src + 100, 1000, 80, IPPROTO_TCP, TCP_SYN));
        }
        // The sets are full (distinct sources + one port). Ten more starts from a source
        // already seen, to the same port: each counts as new, an upper bound.
        for _ in 0..10 {
            w.observe_start(&start(100, 1000, 80, IPPROTO_TCP, TCP_SYN));
        }
        let mut rows = Vec::new();
        let closed = w.close(Duration::from_secs(1), |h, r| rows.push((h, *r)));
        assert!(closed.saturated);
        let r = rows[0].1;
        assert_eq!(r[2], (distinct + 10) as f64);
        assert_eq!(r[3], (distinct + 10) as f64);
        assert_eq!(r[4], 11.0);
        // The next window starts empty and unsaturated.
        w.observe_start(&start(100, 1000, 80, IPPROTO_TCP, TCP_SYN));
        let mut rows = Vec::new();
        assert!(
            !w.close(Duration::from_secs(1), |h, r| rows.push((h, *r)))
                .saturated
        );
        assert_eq!(rows[0].1[3], 1.0);
    }
}
