//! Generated one-second windows of a source address under normal traffic: what a healthy
//! address sends, with an agent that sees both directions (XDP ingress and TC egress).
//!
//! Each profile is one activity of an address; a quarter of the windows add two
//! activities together, as a busy host does (a server answering clients while it resolves
//! names). Frames sent through TC egress may be segmentation-offload super-packets of up
//! to 64 KiB, so bulk senders are drawn with frame sizes up to that.

use packetguard_common::{features::N_SOURCE_FEATURES, HostStats};
use rand::{rngs::SmallRng, Rng};

use super::{log_uniform, logins};
use crate::detect::window::{source_features, StartCounts};

/// What one address sent in one window, before it becomes features.
#[derive(Clone, Copy, Default)]
pub(super) struct Sent {
    packets: f64,
    bytes: f64,
    tcp_packets: f64,
    /// TCP SYN without ACK: connection attempts (and their retransmissions).
    syns: f64,
    /// Flows opened: TCP SYNs plus UDP and ICMP flows.
    attempts: f64,
    /// Of those, the ones answered by something other than a reset.
    answered: f64,
    destinations: f64,
    ports: f64,
    /// Of the attempts, TCP connections to a login service port.
    logins: f64,
    /// Of those, the ones to a destination already tried in the window.
    repeated_logins: f64,
}

impl Sent {
    /// `packets` frames of `mean_size` bytes on average, `tcp_share` of them TCP.
    pub(super) fn traffic(packets: f64, mean_size: f64, tcp_share: f64) -> Sent {
        let packets = packets.round().max(1.0);
        Sent {
            packets,
            bytes: (packets * mean_size).round(),
            tcp_packets: (packets * tcp_share).round(),
            ..Sent::default()
        }
    }

    /// Adds `n` opened flows to `destinations` peers on `ports` ports, of which `failed`
    /// went unanswered; `tcp` of them are TCP (one SYN each).
    pub(super) fn opened(
        mut self,
        n: f64,
        tcp: f64,
        failed: f64,
        destinations: f64,
        ports: f64,
    ) -> Sent {
        self.attempts += n;
        self.syns += tcp;
        self.answered += n - failed.min(n);
        self.destinations += destinations.min(n);
        self.ports += ports.min(n);
        // Every attempt sent at least one packet, and every SYN is a TCP packet.
        self.tcp_packets = self.tcp_packets.max(self.syns);
        self.packets = self.packets.max(self.tcp_packets + (n - tcp));
        self
    }

    /// Marks `n` of the TCP connections opened as login attempts to `servers` servers:
    /// the attempts beyond the first to each server are repeated ones.
    pub(super) fn logins(mut self, n: f64, servers: f64) -> Sent {
        let n = n.min(self.syns);
        self.logins += n;
        self.repeated_logins += n - servers.clamp(n.min(1.0), n);
        self
    }

    /// Two activities of one address in the same window.
    fn plus(self, o: Sent) -> Sent {
        Sent {
            packets: self.packets + o.packets,
            bytes: self.bytes + o.bytes,
            tcp_packets: self.tcp_packets + o.tcp_packets,
            syns: self.syns + o.syns,
            attempts: self.attempts + o.attempts,
            answered: self.answered + o.answered,
            destinations: self.destinations + o.destinations,
            ports: self.ports + o.ports,
            logins: self.logins + o.logins,
            // Two activities go to different peers.
            repeated_logins: self.repeated_logins + o.repeated_logins,
        }
    }
}

/// A whole number drawn uniformly from `lo..=hi`.
pub(super) fn count(rng: &mut SmallRng, lo: u32, hi: u32) -> f64 {
    rng.random_range(lo..=hi) as f64
}

/// A whole number drawn log-uniformly from `[lo, hi]`.
pub(super) fn log_count(rng: &mut SmallRng, lo: f64, hi: f64) -> f64 {
    log_uniform(rng, lo, hi).round()
}

/// The frame size of a bulk sender: full-size frames, or offload super-packets at egress.
pub(super) fn bulk_frame(rng: &mut SmallRng) -> f64 {
    if rng.random_bool(0.5) {
        rng.random_range(1000.0..=1514.0)
    } else {
        log_uniform(rng, 1514.0, 65_000.0)
    }
}

/// One activity of an address, drawn from the normal profiles.
fn activity(rng: &mut SmallRng) -> Sent {
    match rng.random_range(0..100) {
        // Mostly idle: keepalives, mDNS and NTP chatter, maybe a connection or a lookup;
        // multicast announcements get no unicast answer.
        0..=15 => {
            let packets = log_uniform(rng, 1.0, 50.0);
            let tcp_share = if rng.random_bool(0.6) {
                rng.random_range(0.3..=1.0)
            } else {
                0.0
            };
            let n = count(rng, 0, 3);
            let tcp = if tcp_share > 0.0 {
                count(rng, 0, n as u32)
            } else {
                0.0
            };
            let failed = count(rng, 0, (n as u32).min(2));
            Sent::traffic(packets, log_uniform(rng, 60.0, 1514.0), tcp_share).opened(
                n,
                tcp,
                failed,
                count(rng, 1, 3),
                count(rng, 1, 3),
            )
        }
        // A client retrying a closed or filtered port: connection attempts alone, reset or
        // unanswered.
        16..=19 => {
            let n = count(rng, 1, 5);
            let retransmits = count(rng, 0, 2);
            let mut s = Sent::traffic(n + retransmits, rng.random_range(54.0..=74.0), 1.0).opened(
                n,
                n,
                n,
                count(rng, 1, 2),
                count(rng, 1, 2),
            );
            s.syns += retransmits;
            s
        }
        // A web or API client: connections to a handful of servers, each a request and
        // its acknowledgements, most after a DNS lookup; now and then one fails.
        20..=35 => {
            let conns = log_count(rng, 1.0, 30.0);
            let lookups = (conns * rng.random_range(0.0..=1.0)).round();
            let per_conn = log_uniform(rng, 6.0, 60.0);
            let failed = if rng.random_bool(0.1) {
                count(rng, 1, 2)
            } else {
                0.0
            };
            let servers = log_count(rng, 1.0, conns.min(20.0));
            let ports = count(rng, 1, 2) + (lookups > 0.0) as u32 as f64;
            Sent::traffic(
                conns * per_conn + lookups,
                log_uniform(rng, 60.0, 400.0),
                conns * per_conn / (conns * per_conn + lookups),
            )
            .opened(
                conns + lookups,
                conns,
                failed,
                servers + (lookups > 0.0) as u32 as f64,
                ports,
            )
        }
        // One client polling or downloading from one server without keep-alive (scripts,
        // `curl` in a loop): a new connection per request, small or large.
        36..=43 => {
            let conns = log_count(rng, 1.0, 10.0);
            let per_conn = log_uniform(rng, 8.0, 200.0);
            Sent::traffic(conns * per_conn, log_uniform(rng, 66.0, 300.0), 1.0)
                .opened(conns, conns, 0.0, 1.0, 1.0)
        }
        // A DNS client (a mail server, a crawler): one flow per query to one to three
        // resolvers, the odd query timing out.
        44..=50 => {
            let queries = log_count(rng, 1.0, 200.0);
            let failed = (queries * rng.random_range(0.0..=0.03)).floor();
            let retries = failed + (queries * rng.random_range(0.0..=0.05)).round();
            Sent::traffic(queries + retries, rng.random_range(70.0..=120.0), 0.0).opened(
                queries,
                0.0,
                failed,
                count(rng, 1, 3),
                1.0,
            )
        }
        // NTP and other single request/response exchanges.
        51..=53 => {
            let n = count(rng, 1, 2);
            let failed = if rng.random_bool(0.1) { 1.0 } else { 0.0 };
            Sent::traffic(n + count(rng, 0, 2), 90.0, 0.0).opened(n, 0.0, failed, 1.0, 1.0)
        }
        // A backup or bulk upload (iperf3 sender, rsync, scp): one or two long TCP flows,
        // opened in this window or earlier.
        54..=62 => {
            let n = if rng.random_bool(0.2) {
                count(rng, 1, 3)
            } else {
                0.0
            };
            Sent::traffic(log_uniform(rng, 100.0, 100_000.0), bulk_frame(rng), 1.0)
                .opened(n, n, 0.0, 1.0, 1.0)
        }
        // A download (package mirror, iperf3 receiver): a stream of ACKs to one or two
        // servers, maybe a new connection and its lookup.
        63..=70 => {
            let n = count(rng, 0, 2);
            let tcp = count(rng, 0, n as u32);
            Sent::traffic(
                log_uniform(rng, 50.0, 50_000.0),
                rng.random_range(54.0..=90.0),
                1.0,
            )
            .opened(n, tcp, 0.0, n, n)
        }
        // An interactive SSH session: keystrokes and echoes, or the login itself; one in a
        // hundred of these is a script running ssh in a loop against one server.
        71..=76 if rng.random_bool(logins::LOOPS) => logins::looped(rng),
        71..=76 => logins::session(rng),
        // Copying files over SSH (scp, rsync): one or two connections to one server.
        77..=78 => logins::copy(rng),
        // An Ansible-like run: one SSH connection to each of many hosts.
        79..=80 => logins::fan_out(rng),
        // A mail client checking its mailbox over IMAP or POP3.
        81..=82 => logins::mail_check(rng),
        // A database client's connection pool filling at start (not a login port).
        83..=84 => logins::pool(rng),
        // A server's replies: web pages, files, query answers, no connections of its own
        // but the odd one to a backend; one in ten is a DNS server answering up to 1000
        // queries/s over UDP.
        85..=92 => {
            let n = if rng.random_bool(0.2) {
                count(rng, 1, 3)
            } else {
                0.0
            };
            let replies = if rng.random_bool(0.9) {
                let frame = if rng.random_bool(0.5) {
                    log_uniform(rng, 60.0, 1514.0)
                } else {
                    bulk_frame(rng)
                };
                Sent::traffic(log_uniform(rng, 5.0, 50_000.0), frame, 1.0)
            } else {
                Sent::traffic(
                    log_uniform(rng, 1.0, 1000.0),
                    rng.random_range(80.0..=500.0),
                    0.0,
                )
            };
            replies.opened(n, n, 0.0, count(rng, 1, 2), 1.0)
        }
        // Ping, or answering one: echo requests or replies, a new echo flow now and then.
        93..=96 => {
            let n = if rng.random_bool(0.2) { 1.0 } else { 0.0 };
            Sent::traffic(count(rng, 1, 10), 98.0, 0.0).opened(n, 0.0, 0.0, 1.0, 0.0)
        }
        // A call or a media stream over UDP: one or two flows of up to 400 packets/s (a
        // 1080p video call).
        _ => {
            let n = if rng.random_bool(0.2) {
                count(rng, 1, 2)
            } else {
                0.0
            };
            Sent::traffic(
                log_uniform(rng, 20.0, 400.0),
                rng.random_range(200.0..=1250.0),
                0.0,
            )
            .opened(n, 0.0, 0.0, 1.0, n)
        }
    }
}

/// One window of a source address drawn from the normal profiles.
pub fn generate(rng: &mut SmallRng) -> [f64; N_SOURCE_FEATURES] {
    let mut s = activity(rng);
    if rng.random_bool(0.25) {
        s = s.plus(activity(rng));
    }
    let d = HostStats {
        packets: s.packets as u64,
        bytes: s.bytes as u64,
        tcp_packets: s.tcp_packets as u64,
        syn_without_ack: s.syns as u64,
        answered: s.answered as u64,
    };
    let window = std::time::Duration::from_millis(rng.random_range(950..=1050));
    let starts = StartCounts::new(s.attempts as u64, s.destinations as u64, s.ports as u64)
        .with_logins(s.logins as u64, s.repeated_logins as u64);
    source_features(&d, &starts, window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::features::source_feature_index;
    use rand::SeedableRng;

    #[test]
    fn generated_windows_are_consistent_and_reproducible() {
        let mut a = SmallRng::seed_from_u64(9);
        let mut b = SmallRng::seed_from_u64(9);
        let at = |n| source_feature_index(n).unwrap();
        let (syn, failed, failed_s, flows, non_tcp, pps) = (
            at("syn_without_ack_ratio"),
            at("failed_attempt_ratio"),
            at("failed_attempts_per_s"),
            at("new_flows_per_s"),
            at("non_tcp_packets_per_s"),
            at("packets_per_s"),
        );
        for _ in 0..5000 {
            let row = generate(&mut a);
            assert_eq!(row, generate(&mut b));
            assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0), "{row:?}");
            assert!(row[syn] <= 1.0 && row[failed] <= 1.0, "{row:?}");
            assert!(row[failed_s] <= row[flows] + 1e-9, "{row:?}");
            assert!(row[non_tcp] <= row[pps] + 1e-9, "{row:?}");
            assert!(row[pps] > 0.0, "every window sent something: {row:?}");
        }
    }
}
