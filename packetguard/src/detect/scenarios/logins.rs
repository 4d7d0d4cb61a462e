//! Login traffic of the lab: SSH password guessing, and the ordinary logins that must stay
//! normal beside it (an interactive session, copies over SSH, an Ansible-like run, a mail
//! client, a database pool, and the servers of each).
//!
//! Frame sizes as in the parent module. An SSH connection's first second, from the client:
//! its SYN, then about 15 packets of about 195 bytes (version, key exchange, one password
//! or the session's start); the server sends about as many.

use super::{destination, opened, page_requests, source, Expect, Traffic, Window, NO_FLOWS};

/// The role that must catch password guessing from 3 attempts a second: the guesser's
/// source window, by its repeated logins to one server.
const ATTACKER: Expect = Expect::Anomaly;
/// The server's destination window: printed, not promised. Servers many users log in to
/// receive repeated logins all the time, so the host model does not read them.
const SERVER: Expect = Expect::Shown;

/// `n` login connections' first second from the client: SYN, key exchange, password.
fn logins(n: u64) -> Traffic {
    Traffic::default().syn(n, 74).tcp(15 * n, 195).answered(n)
}

/// Password guessing, one guess per connection as sshpass makes them (the lab's 4
/// workers guess about 6.8 times a second), from the lowest rate promised up.
pub fn attacks() -> Vec<Window> {
    let mut w = Vec::new();
    for rate in [3, 5, 7, 10, 20, 50, 100] {
        let guesses = logins(rate);
        let starts = opened(rate, 1, 1).with_logins(rate, rate - 1);
        let name = format!("SSH brute force {rate}/s");
        w.push(source(
            &format!("{name}, attacker"),
            ATTACKER,
            guesses,
            starts,
        ));
        w.push(destination(
            &format!("{name}, server"),
            SERVER,
            guesses,
            starts,
        ));
    }
    // The guesser also fetching pages: its logins still stand out.
    let busy = logins(3).plus(page_requests(3));
    w.push(source(
        "SSH brute force 3/s from a host also fetching 3 pages/s, attacker",
        ATTACKER,
        busy,
        opened(6, 2, 2).with_logins(3, 2),
    ));
    w
}

/// Ordinary logins, each in both roles. The second terminal, the scp over two
/// connections and the mail check each make one repeated login: the most an ordinary
/// client makes to one server in a second.
pub fn normal() -> Vec<Window> {
    use Expect::Normal;
    let mut w = Vec::new();
    // An interactive session: the login, typing; a second terminal to the same server.
    let login = logins(1).plus(Traffic::default().tcp(9, 170));
    let banner = Traffic::default().tcp(20, 300);
    let keys = Traffic::default().tcp(10, 110);
    let echoes = Traffic::default().tcp(10, 150);
    let one = opened(1, 1, 1).with_logins(1, 0);
    let two = opened(2, 1, 1).with_logins(2, 1);
    w.extend([
        source("SSH session, client login", Normal, login, one),
        source("SSH session, client typing", Normal, keys, NO_FLOWS),
        source("SSH session, server login", Normal, banner, NO_FLOWS),
        source("SSH session, server echoing", Normal, echoes, NO_FLOWS),
        destination("SSH session, server at login", Normal, login, one),
        destination("SSH session, server while typing", Normal, keys, NO_FLOWS),
        destination("SSH session, client at login", Normal, banner, NO_FLOWS),
        destination("SSH session, client while typing", Normal, echoes, NO_FLOWS),
        source(
            "SSH, a second terminal in the same second, client",
            Normal,
            logins(2),
            two,
        ),
        destination(
            "SSH, a second terminal in the same second, server",
            Normal,
            logins(2),
            two,
        ),
    ]);
    // scp or rsync over SSH: one or two connections, then 20,000 full frames a second.
    for n in [1, 2] {
        let copy = logins(n).plus(Traffic::default().tcp(20_000, 1514));
        let acks = Traffic::default().tcp(10_000, 66);
        let starts = opened(n, 1, 1).with_logins(n, n - 1);
        let name = |what: &str| format!("scp over {n} connection(s), {what}");
        w.push(source(&name("sender"), Normal, copy, starts));
        w.push(destination(&name("receiver"), Normal, copy, starts));
        w.push(source(&name("receiver's ACKs"), Normal, acks, NO_FLOWS));
        w.push(destination(&name("sender's ACKs"), Normal, acks, NO_FLOWS));
    }
    // An Ansible-like run: one connection to each of its forks' hosts (5 by default).
    for hosts in [5, 20] {
        let name = |what: &str| format!("Ansible to {hosts} hosts, {what}");
        let starts = opened(hosts, hosts, 1).with_logins(hosts, 0);
        w.push(source(&name("controller"), Normal, logins(hosts), starts));
        w.push(destination(&name("each host"), Normal, logins(1), one));
        w.push(source(
            &name("each host's replies"),
            Normal,
            banner,
            NO_FLOWS,
        ));
    }
    // A mail client checking over IMAP: two connections (INBOX and IDLE), after a lookup.
    let lookup = Traffic::default().other(1, 80).answered(1);
    let check = opened(3, 2, 2).with_logins(2, 1);
    w.extend([
        source(
            "mail client checking IMAP",
            Normal,
            logins(2).plus(lookup),
            check,
        ),
        destination("mail client checking IMAP, server", Normal, logins(2), two),
        destination(
            "IMAP server, 40 users checking in a second",
            Normal,
            logins(60),
            opened(60, 40, 2).with_logins(60, 20),
        ),
    ]);
    // A database client's pool of 10 connections at start: not a login port.
    let pool = Traffic::default().syn(10, 74).tcp(80, 150).answered(10);
    w.extend([
        source(
            "database pool of 10 at start, client",
            Normal,
            pool,
            opened(10, 1, 1),
        ),
        destination(
            "database pool of 10 at start, server",
            Normal,
            pool,
            opened(10, 1, 1),
        ),
    ]);
    w
}

/// Guessing where the defaults stop catching it: slower than promised, or against a port
/// that is not a login port (the row of any client of one server).
pub fn boundaries() -> Vec<Window> {
    use Expect::Shown;
    let mut w = Vec::new();
    for rate in [1, 2] {
        let name = format!("SSH brute force {rate}/s");
        let starts = opened(rate, 1, 1).with_logins(rate, rate - 1);
        w.push(source(
            &format!("{name}, attacker"),
            Shown,
            logins(rate),
            starts,
        ));
        w.push(destination(
            &format!("{name}, server"),
            Shown,
            logins(rate),
            starts,
        ));
    }
    let starts = opened(10, 1, 1);
    w.push(source(
        "brute force 10/s on a port not in the list, attacker",
        Shown,
        logins(10),
        starts,
    ));
    w.push(destination(
        "brute force 10/s on a port not in the list, server",
        Shown,
        logins(10),
        starts,
    ));
    w
}
