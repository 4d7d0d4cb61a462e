//! Login services: the TCP ports whose connections the `login_attempts_per_s` and
//! `repeated_login_attempts_per_s` window features count (see [`crate::features`]).
//!
//! A password guesser opens one short connection per guess, or per few guesses, so its
//! connection rate to one server is its guessing rate. On these ports an ordinary client
//! opens one connection per session (an SSH login, an `scp`, a mail check) and rarely two
//! in a second; three or more a second from one client to one server is what a guesser
//! does (or a script looping over ssh). On other ports it is what ordinary software does all day (a web client without
//! keep-alive, a database connection pool), so those ports are left out even where they
//! ask for a password:
//!
//! - SMTP (25, 465, 587): mail servers relay to each other on 25 without logging in, and
//!   a server handing mail to a relay on 465 or 587 opens many connections at once
//!   (Postfix allows 20 per destination);
//! - databases and caches (MySQL 3306, PostgreSQL 5432, MSSQL 1433, Redis 6379):
//!   connection pools open several connections at start, and applications without a pool
//!   open one per request;
//! - web logins (80, 443): the port carries every other request too.
//!
//! Only TCP counts: every service here logs in over TCP, and a UDP flow to one of these
//! ports (RDP's UDP transport on 3389) belongs to a session already opened over TCP.

/// The login service ports, in ascending order: FTP control, SSH, Telnet, POP3, IMAP,
/// IMAPS, POP3S, RDP, VNC (display :0).
pub const LOGIN_PORTS: [u16; 9] = [21, 22, 23, 110, 143, 993, 995, 3389, 5900];

/// How far back `prior_login_attempts` ([`crate::features::FLOW_CONTEXT_FEATURES`])
/// looks from a login connection's first packet: two seconds, the span of the
/// "same service" counts of classic connection-record features. An ordinary client makes
/// one or two connections to a server's login service in that time; a guesser at 3
/// attempts a second, five or six.
pub const PRIOR_LOGIN_WINDOW_NS: u64 = 2_000_000_000;

/// Whether a TCP connection to `port` is an attempt to log in to a service.
pub const fn is_login_port(port: u16) -> bool {
    let mut i = 0;
    while i < LOGIN_PORTS.len() {
        if LOGIN_PORTS[i] == port {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique_and_only_its_ports_are_login_ports() {
        assert!(LOGIN_PORTS.windows(2).all(|w| w[0] < w[1]));
        let listed = (0..=u16::MAX).filter(|p| is_login_port(*p)).count();
        assert_eq!(listed, LOGIN_PORTS.len());
        for port in [22, 3389, 993] {
            assert!(is_login_port(port));
        }
        for port in [0, 20, 25, 80, 443, 465, 587, 3306, 5432, 5901, 6379, 2222] {
            assert!(!is_login_port(port), "{port}");
        }
    }
}
