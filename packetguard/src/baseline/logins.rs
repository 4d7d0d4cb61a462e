//! Generated login activity, both ends: what ordinary clients of login services
//! (`packetguard_common::login::LOGIN_PORTS`) send in one second, and what their servers
//! receive.
//!
//! What these profiles teach the default models is where ordinary logins stop: one
//! client opens one or two login connections a second to one server, and more only when
//! each goes to a different server (Ansible's forks); a server receives many only from as
//! many clients. A database pool is here too, as the counterpart on a port left out of
//! the list: several connections a second from one client to one server, none of them a
//! login attempt.

use rand::{rngs::SmallRng, Rng};

use super::hosts::Window;
use super::log_uniform;
use super::sources::{bulk_frame, count, log_count, Sent};

/// One login connection or two: two in one window in `p2` of them.
fn one_or_two(rng: &mut SmallRng, p2: f64) -> f64 {
    if rng.random_bool(p2) {
        2.0
    } else {
        1.0
    }
}

/// An interactive SSH session: keystrokes and echoes, or (one window in five) the login
/// itself, rarely two of them (a second terminal to the same server).
pub(super) fn session(rng: &mut SmallRng) -> Sent {
    if rng.random_bool(0.2) {
        let n = one_or_two(rng, 0.1);
        Sent::traffic(n * count(rng, 10, 30), rng.random_range(100.0..=300.0), 1.0)
            .opened(n, n, 0.0, 1.0, 1.0)
            .logins(n)
    } else {
        Sent::traffic(
            log_uniform(rng, 1.0, 60.0),
            rng.random_range(66.0..=200.0),
            1.0,
        )
    }
}

/// Copying files over SSH (scp, rsync, sftp): one or two connections to one server, then
/// either the handshake alone or the copy at bulk rate.
pub(super) fn copy(rng: &mut SmallRng) -> Sent {
    let n = one_or_two(rng, 0.3);
    let sent = if rng.random_bool(0.5) {
        Sent::traffic(
            n * log_uniform(rng, 10.0, 40.0),
            rng.random_range(100.0..=400.0),
            1.0,
        )
    } else {
        Sent::traffic(log_uniform(rng, 100.0, 100_000.0), bulk_frame(rng), 1.0)
    };
    sent.opened(n, n, 0.0, 1.0, 1.0).logins(n)
}

/// An Ansible-like run: one SSH connection to each of 2 to 50 hosts (its forks), the odd
/// host unreachable.
pub(super) fn fan_out(rng: &mut SmallRng) -> Sent {
    let hosts = log_count(rng, 2.0, 50.0);
    let failed = if rng.random_bool(0.1) {
        count(rng, 1, 2)
    } else {
        0.0
    };
    Sent::traffic(
        hosts * log_uniform(rng, 10.0, 40.0),
        rng.random_range(100.0..=400.0),
        1.0,
    )
    .opened(hosts, hosts, failed, hosts, 1.0)
    .logins(hosts)
}

/// A mail client checking a mailbox (IMAP or POP3, with or without TLS): one or two
/// connections to its server, half the time after a DNS lookup.
pub(super) fn mail_check(rng: &mut SmallRng) -> Sent {
    let n = one_or_two(rng, 0.3);
    let lookup = if rng.random_bool(0.5) { 1.0 } else { 0.0 };
    let tcp = n * log_uniform(rng, 10.0, 40.0);
    Sent::traffic(
        tcp + lookup,
        rng.random_range(80.0..=600.0),
        tcp / (tcp + lookup),
    )
    .opened(n + lookup, n, 0.0, 1.0 + lookup, 1.0 + lookup)
    .logins(n)
}

/// A database client's connection pool filling at start: 2 to 20 connections to one
/// server and port, a few packets each. Database ports are not login ports, so none
/// counts as a login attempt.
pub(super) fn pool(rng: &mut SmallRng) -> Sent {
    let n = log_count(rng, 2.0, 20.0);
    Sent::traffic(
        n * log_uniform(rng, 6.0, 20.0),
        rng.random_range(70.0..=400.0),
        1.0,
    )
    .opened(n, n, 0.0, 1.0, 1.0)
}

/// The server side of one client's logins: an SSH session, a copy or an Ansible task
/// arriving, one or two connections from one client; the copy may bring bulk data.
pub(super) fn target(rng: &mut SmallRng) -> Window {
    let n = one_or_two(rng, 0.25);
    let (packets, mean_size) = if rng.random_bool(0.8) {
        (
            (n * log_uniform(rng, 10.0, 40.0)).round(),
            rng.random_range(100.0..=400.0),
        )
    } else {
        (
            log_uniform(rng, 100.0, 100_000.0).round(),
            log_uniform(rng, 600.0, 9000.0),
        )
    };
    Window {
        packets,
        mean_size,
        tcp_share: 1.0,
        syns: n,
        new_flows: n,
        sources: 1.0,
        ports: 1.0,
        logins: n,
    }
}

/// A server many users log in to (an IMAP server, an SSH bastion): 1 to 200 logins a
/// second, each user opening one or two, over the traffic of the sessions already open;
/// half the time other connections too (mail arriving over SMTP).
pub(super) fn login_server(rng: &mut SmallRng) -> Window {
    let logins = log_count(rng, 1.0, 200.0);
    let users = (logins / rng.random_range(1.0..=2.0)).round().max(1.0);
    let others = if rng.random_bool(0.5) {
        log_count(rng, 1.0, 50.0)
    } else {
        0.0
    };
    let packets =
        ((logins + others) * log_uniform(rng, 10.0, 40.0) + log_uniform(rng, 1.0, 5000.0)).round();
    Window {
        packets,
        mean_size: log_uniform(rng, 80.0, 900.0),
        tcp_share: 1.0,
        syns: logins + others,
        new_flows: logins + others,
        sources: users + (others * rng.random_range(0.0..=1.0)).round(),
        ports: count(rng, 1, 2) + (others > 0.0) as u32 as f64,
        logins,
    }
}

/// A database server while a client's pool connects: 2 to 20 connections from one to
/// three clients to one port, over the queries of connections already open.
pub(super) fn database(rng: &mut SmallRng) -> Window {
    let n = log_count(rng, 2.0, 20.0);
    let packets = (n * log_uniform(rng, 6.0, 20.0) + log_uniform(rng, 1.0, 2000.0)).round();
    Window {
        packets,
        mean_size: log_uniform(rng, 70.0, 600.0),
        tcp_share: 1.0,
        syns: n,
        new_flows: n,
        sources: count(rng, 1, 3).min(n),
        ports: 1.0,
        logins: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use packetguard_common::features::{host_feature_index, source_feature_index};
    use rand::SeedableRng;

    use super::super::{hosts, sources};
    use super::*;

    /// Windows last 0.95 to 1.05 s, so a rate above 2.5/s is 3 or more in the window,
    /// and one below it 2 or fewer.
    const THREE_OR_MORE: f64 = 2.5;

    #[test]
    fn no_ordinary_client_makes_three_logins_a_second_to_one_server() {
        let mut rng = SmallRng::seed_from_u64(5);
        let at = |n| source_feature_index(n).unwrap();
        let (logins, flows, destinations) = (
            at("login_attempts_per_s"),
            at("new_flows_per_s"),
            at("distinct_destinations"),
        );
        let (mut with_logins, mut fanned_out) = (0, 0);
        for _ in 0..20_000 {
            let row = sources::generate(&mut rng);
            assert!(row[logins] <= row[flows], "{row:?}");
            if row[logins] > 0.0 {
                with_logins += 1;
            }
            if row[logins] > THREE_OR_MORE {
                assert!(row[destinations] >= 2.0, "{row:?}");
                fanned_out += 1;
            }
        }
        // Activities with logins are 7.2% of the draws (a fifth of the 6% of SSH
        // sessions, 2% each of copies, Ansible and mail), and a quarter of the windows
        // hold two draws: logins in about 8.9% of the windows. Three or more, to as many
        // servers, in about 2.3% (Ansible to 3 hosts or more).
        assert!((1600..=2000).contains(&with_logins), "{with_logins}");
        assert!((350..=600).contains(&fanned_out), "{fanned_out}");
    }

    #[test]
    fn no_ordinary_server_receives_three_logins_a_second_from_one_client() {
        let mut rng = SmallRng::seed_from_u64(5);
        let at = |n| host_feature_index(n).unwrap();
        let (logins, flows, sources) = (
            at("login_attempts_per_s"),
            at("new_flows_per_s"),
            at("distinct_sources"),
        );
        let mut with_logins = 0;
        for _ in 0..20_000 {
            let row = hosts::generate(&mut rng);
            assert!(row[logins] <= row[flows], "{row:?}");
            if row[logins] > 0.0 {
                with_logins += 1;
            }
            if row[logins] > THREE_OR_MORE {
                assert!(row[sources] >= 2.0, "{row:?}");
            }
        }
        // 3% of windows are one client's logins arriving, 3% a login server's.
        assert!((1050..=1350).contains(&with_logins), "{with_logins}");
    }
}
