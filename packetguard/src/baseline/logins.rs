//! Generated login activity, both ends: what ordinary clients of login services
//! (`packetguard_common::login::LOGIN_PORTS`) send in one second, and what their servers
//! receive.
//!
//! What these profiles teach the default models is where ordinary logins stop: one
//! client opens one login connection a second to a server, now and then two (one
//! repeated), and more only when each goes to a different server (Ansible's forks); a
//! server receives many only from many clients, each opening one or two. A database pool is here too, as the
//! counterpart on a port left out of the list: several connections a second from one
//! client to one server, none of them a login attempt.
//!
//! A thin tail goes further: one window in about 1700 is a script running ssh or scp in a
//! loop against one server, 3 to 10 connections a second, each after the first a repeated
//! login attempt. Such scripts exist, and nothing in a window tells them from a password
//! guesser. They are what lets the forest place a boundary just above one repeated login
//! a second: a point beyond everything the trees were grown on shares its leaves with the
//! most extreme rows, so without rows beyond one repeated login a guesser at 3/s (two)
//! would score like a user opening a second terminal. With them, it scores like these
//! rare scripts, which are above the threshold (and flagged, like the guesser: see
//! models/README.md).

use rand::{rngs::SmallRng, Rng};

use super::hosts::Window;
use super::log_uniform;
use super::sources::{bulk_frame, count, log_count, Sent};

/// Share of the interactive SSH windows (6% of source activities) that are a script's
/// loop instead: 0.06% of the activities.
pub(super) const LOOPS: f64 = 0.01;
/// Share of the windows of one client's logins arriving (3% of destination windows) that
/// are the server side of such a loop: 0.06% of the windows.
pub(super) const LOOPED_TARGETS: f64 = 0.02;

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
            .logins(n, 1.0)
    } else {
        Sent::traffic(
            log_uniform(rng, 1.0, 60.0),
            rng.random_range(66.0..=200.0),
            1.0,
        )
    }
}

/// A script running ssh or scp in a loop against one server without connection sharing
/// (a CI job fetching repositories over SSH): 3 to 10 connections a second, all but the
/// first repeated login attempts.
pub(super) fn looped(rng: &mut SmallRng) -> Sent {
    let n = log_count(rng, 3.0, 10.0);
    Sent::traffic(
        n * log_uniform(rng, 10.0, 40.0),
        rng.random_range(100.0..=400.0),
        1.0,
    )
    .opened(n, n, 0.0, 1.0, 1.0)
    .logins(n, 1.0)
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
    sent.opened(n, n, 0.0, 1.0, 1.0).logins(n, 1.0)
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
    .logins(hosts, hosts)
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
    .logins(n, 1.0)
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
        repeated_logins: n - 1.0,
    }
}

/// The server of a script's loop: 3 to 10 connections a second from one client.
pub(super) fn looped_target(rng: &mut SmallRng) -> Window {
    let n = log_count(rng, 3.0, 10.0);
    Window {
        packets: (n * log_uniform(rng, 10.0, 40.0)).round(),
        mean_size: rng.random_range(100.0..=400.0),
        tcp_share: 1.0,
        syns: n,
        new_flows: n,
        sources: 1.0,
        ports: 1.0,
        logins: n,
        repeated_logins: n - 1.0,
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
        repeated_logins: logins - users,
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
        repeated_logins: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use packetguard_common::features::{host_feature_index, source_feature_index};
    use rand::SeedableRng;

    use super::super::{hosts, sources};
    use super::*;

    /// Windows last 0.95 to 1.05 s, so a rate above 1.5/s is 2 or more in the window, and
    /// one below it 1 or none.
    const TWO_OR_MORE: f64 = 1.5;

    /// Counts, over 20,000 generated windows: rows with logins, and rows with two
    /// repeated logins or more; checks that a first login is never repeated.
    fn count(
        mut generate: impl FnMut() -> Vec<f64>,
        at: impl Fn(&str) -> usize,
        one_peer: &str,
    ) -> (usize, usize) {
        let (logins, repeated, flows, peers) = (
            at("login_attempts_per_s"),
            at("repeated_login_attempts_per_s"),
            at("new_flows_per_s"),
            at(one_peer),
        );
        let (mut with_logins, mut guessing_like) = (0, 0);
        for _ in 0..20_000 {
            let row = generate();
            assert!(row[logins] <= row[flows], "{row:?}");
            assert!(row[repeated] < row[logins] || row[logins] == 0.0, "{row:?}");
            with_logins += (row[logins] > 0.0) as usize;
            if row[repeated] > TWO_OR_MORE && row[peers] == 1.0 {
                guessing_like += 1;
            }
        }
        (with_logins, guessing_like)
    }

    #[test]
    fn clients_repeat_logins_to_one_server_only_in_a_scripts_loop() {
        let mut rng = SmallRng::seed_from_u64(5);
        let (with_logins, loops) = count(
            || sources::generate(&mut rng).to_vec(),
            |n| source_feature_index(n).unwrap(),
            "distinct_destinations",
        );
        // Activities with logins are 7.2% of the draws (a fifth of the 6% of SSH
        // windows, 2% each of copies, Ansible and mail), and a quarter of the windows
        // hold two draws: logins in about 8.9% of the windows. Two repeated logins or
        // more to one server: the loops, 0.06% of the draws, about 15 windows.
        assert!((1600..=2000).contains(&with_logins), "{with_logins}");
        assert!((5..=30).contains(&loops), "{loops}");
    }

    #[test]
    fn servers_receive_repeated_logins_from_one_client_only_in_a_scripts_loop() {
        let mut rng = SmallRng::seed_from_u64(5);
        let (with_logins, loops) = count(
            || hosts::generate(&mut rng).to_vec(),
            |n| host_feature_index(n).unwrap(),
            "distinct_sources",
        );
        // 3% of windows are one client's logins arriving, 3% a login server's; the loops
        // are 0.06%, about 12 windows.
        assert!((1050..=1350).contains(&with_logins), "{with_logins}");
        assert!((3..=25).contains(&loops), "{loops}");
    }
}
