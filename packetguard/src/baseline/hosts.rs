//! Generated one-second windows of a destination host under normal traffic.

use packetguard_common::{features::N_HOST_FEATURES, HostStats};
use rand::{rngs::SmallRng, Rng};

use super::{log_uniform, logins};
use crate::detect::window::{destination_features, StartCounts};

/// Ingress traffic of one window, before it becomes features.
pub(super) struct Window {
    pub(super) packets: f64,
    pub(super) mean_size: f64,
    /// Share of the packets that are TCP.
    pub(super) tcp_share: f64,
    /// Connection attempts (TCP SYN without ACK) among the TCP packets.
    pub(super) syns: f64,
    /// Flows started toward the host (TCP SYNs plus UDP/ICMP flows).
    pub(super) new_flows: f64,
    pub(super) sources: f64,
    pub(super) ports: f64,
    /// Of the flows started, TCP connections to a login service port.
    pub(super) logins: f64,
    /// Of those, the ones from a source that had already made one in the window.
    pub(super) repeated_logins: f64,
}

/// One window of a host drawn from the normal profiles.
pub fn generate(rng: &mut SmallRng) -> [f64; N_HOST_FEATURES] {
    let w = match rng.random_range(0..100) {
        // Connection attempts alone in a window: a SYN whose handshake the window boundary
        // cut off, or a client retrying a closed or filtered port a few times.
        0..=3 => {
            let syns = rng.random_range(1.0..=5.0f64).round();
            let packets = syns + rng.random_range(0.0..=2.0f64).round();
            Window {
                packets,
                mean_size: rng.random_range(60.0..=90.0),
                tcp_share: syns / packets,
                syns,
                new_flows: syns,
                sources: rng.random_range(1.0..=syns.min(2.0)).round(),
                ports: rng.random_range(1.0..=syns.min(2.0)).round(),
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
        // Mostly idle: a few packets of background chatter, maybe a connection or two.
        4..=25 => {
            let packets = log_uniform(rng, 1.0, 50.0).round();
            let new_flows = rng.random_range(0.0..=packets.min(3.0)).round();
            let tcp = rng.random_bool(0.6);
            let syns = if tcp { new_flows } else { 0.0 };
            let tcp_packets = if tcp {
                (packets * rng.random_range(0.3..=1.0)).max(syns * rng.random_range(3.0..=10.0))
            } else {
                0.0
            };
            let packets = packets.max(tcp_packets);
            Window {
                packets,
                mean_size: log_uniform(rng, 60.0, 1514.0),
                tcp_share: tcp_packets / packets,
                syns,
                new_flows,
                sources: new_flows.min(rng.random_range(1.0..=3.0f64).round()),
                ports: new_flows.min(rng.random_range(1.0..=3.0f64).round()),
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
        // A web or API server: each connection is a handful of packets or more.
        26..=48 => {
            let packets = log_uniform(rng, 5.0, 5000.0).round();
            let per_conn = log_uniform(rng, 6.0, 60.0);
            let conns = (packets / per_conn).round().max(1.0);
            Window {
                packets,
                mean_size: log_uniform(rng, 60.0, 900.0),
                tcp_share: 1.0,
                syns: conns,
                new_flows: conns,
                sources: log_uniform(rng, 1.0, conns.clamp(1.0, 300.0)).round(),
                ports: rng.random_range(1.0..=conns.min(3.0)).round(),
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
        // A DNS or other UDP service: one flow per query.
        49..=58 => {
            let packets = log_uniform(rng, 1.0, 1000.0).round();
            let flows = (packets * rng.random_range(0.3..=1.0)).round().max(1.0);
            Window {
                packets,
                mean_size: log_uniform(rng, 70.0, 600.0),
                tcp_share: 0.0,
                syns: 0.0,
                new_flows: flows,
                sources: log_uniform(rng, 1.0, flows.clamp(1.0, 200.0)).round(),
                ports: rng.random_range(1.0..=2.0f64).round(),
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
        // Receiving a bulk transfer (download, backup, iperf): large frames, few flows.
        59..=73 => {
            let new_flows = rng.random_range(0.0..=2.0f64).round();
            let tcp_share = if rng.random_bool(0.7) { 1.0 } else { 0.0 };
            Window {
                packets: log_uniform(rng, 100.0, 100_000.0).round(),
                mean_size: log_uniform(rng, 600.0, 9000.0),
                tcp_share,
                syns: if tcp_share > 0.0 { new_flows } else { 0.0 },
                new_flows,
                sources: new_flows.min(1.0),
                ports: new_flows.min(2.0),
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
        // Sending a bulk transfer: the host receives a stream of ACKs.
        74..=83 => {
            let new_flows = rng.random_range(0.0..=2.0f64).round();
            Window {
                packets: log_uniform(rng, 50.0, 50_000.0).round(),
                mean_size: rng.random_range(54.0..=90.0),
                tcp_share: 1.0,
                syns: new_flows,
                new_flows,
                sources: new_flows.min(1.0),
                ports: new_flows.min(2.0),
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
        // The server side of a login: an SSH session, a copy or an Ansible task arriving,
        // one or two connections from one client; one in fifty of these is a script's
        // loop, 3 to 10 a second.
        84..=86 if rng.random_bool(logins::LOOPED_TARGETS) => logins::looped_target(rng),
        84..=86 => logins::target(rng),
        // A server many users log in to (IMAP, an SSH bastion): each opens one or two.
        87..=89 => logins::login_server(rng),
        // A database server: a client's pool connecting (not a login port).
        90..=91 => logins::database(rng),
        // Pinged, or answering ICMP: no TCP, no ports.
        _ => {
            let packets = log_uniform(rng, 1.0, 20.0).round();
            Window {
                packets,
                mean_size: if rng.random_bool(0.5) { 98.0 } else { 118.0 },
                tcp_share: 0.0,
                syns: 0.0,
                new_flows: rng.random_range(0.0..=1.0f64).round(),
                sources: rng.random_range(0.0..=1.0f64).round(),
                ports: 0.0,
                logins: 0.0,
                repeated_logins: 0.0,
            }
        }
    };
    let tcp_packets = (w.packets * w.tcp_share).round().max(w.syns);
    let d = HostStats {
        packets: w.packets as u64,
        bytes: (w.packets * w.mean_size).round() as u64,
        tcp_packets: tcp_packets as u64,
        syn_without_ack: w.syns as u64,
        answered: 0,
    };
    let window = std::time::Duration::from_millis(rng.random_range(950..=1050));
    let starts = StartCounts::new(w.new_flows as u64, w.sources as u64, w.ports as u64)
        .with_logins(w.logins as u64, w.repeated_logins as u64);
    destination_features(&d, &starts, window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::features::host_feature_index;
    use rand::SeedableRng;

    #[test]
    fn generated_windows_are_consistent_and_reproducible() {
        let mut a = SmallRng::seed_from_u64(9);
        let mut b = SmallRng::seed_from_u64(9);
        let ratio = host_feature_index("syn_without_ack_ratio").unwrap();
        for _ in 0..5000 {
            let row = generate(&mut a);
            assert_eq!(row, generate(&mut b));
            assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0), "{row:?}");
            assert!(row[ratio] <= 1.0, "{row:?}");
        }
    }
}
