//! TCP applications: web fetches, bulk transfers, long-lived control connections and SSH
//! sessions, built from the mechanics in [`super::tcp`].

use rand::{rngs::SmallRng, Rng};

use super::{
    sim::{Side, Sim, View},
    tcp::{pace, Tcp},
};
use crate::baseline::log_uniform;

const CLIENT: Side = Side::Initiator;
const SERVER: Side = Side::Responder;
/// A delayed ACK waits this long for data to ride on.
const DELAYED_ACK_NS: u64 = 40_000_000;

fn ns(rng: &mut SmallRng, lo: f64, hi: f64) -> u64 {
    log_uniform(rng, lo, hi) as u64
}

/// The pause of a program answering at once: 20 us to 2 ms.
fn quick(rng: &mut SmallRng) -> u64 {
    ns(rng, 20_000.0, 2_000_000.0)
}

/// How a connection ends: the server closes (HTTP/1.0, `Connection: close`), the client
/// closes, or one of them resets.
fn end(rng: &mut SmallRng, t: &mut Tcp) {
    let linger = ns(rng, 10_000.0, 200_000_000.0);
    match rng.random_range(0..20) {
        0..=8 => t.close(rng, SERVER, linger),
        9..=18 => t.close(rng, CLIENT, linger),
        _ => {
            let from = if rng.random_bool(0.5) { CLIENT } else { SERVER };
            t.abort(rng, from);
        }
    }
}

/// HTTP over one connection: one request and its response (curl, scripts), or several
/// with keep-alive (browsers, API clients); the response's header and body often in two
/// writes (as Python's `http.server` sends them).
pub fn http(rng: &mut SmallRng, view: View) -> Sim {
    let mut t = Tcp::new(rng, view);
    t.connect();
    let rounds = if rng.random_bool(0.7) {
        1
    } else {
        log_uniform(rng, 2.0, 30.0) as u32
    };
    let pace = pace(rng);
    for round in 0..rounds {
        let idle = if round == 0 {
            ns(rng, 10_000.0, 5_000_000.0)
        } else {
            ns(rng, 1_000_000.0, 10_000_000_000.0)
        };
        let request = if rng.random_bool(0.97) {
            log_uniform(rng, 40.0, 1_400.0)
        } else {
            log_uniform(rng, 1_000.0, 1_000_000.0)
        } as u64;
        let think = ns(rng, 50_000.0, 200_000_000.0);
        // Linux acknowledges at once early in a connection (quick ACKs); otherwise the
        // reply carries the ACK unless it takes longer than a delayed ACK.
        let acked = rng.random_bool(0.6) || think > DELAYED_ACK_NS;
        t.write(CLIENT, request, idle, pace, !acked);
        let body = log_uniform(rng, 1.0, 10_000_000.0) as u64;
        let head = rng.random_range(100..=600u64);
        if rng.random_bool(0.5) {
            let answered = rng.random_bool(0.4);
            t.write(SERVER, head, think, pace, answered);
            t.write(SERVER, body, ns(rng, 5_000.0, 1_000_000.0), pace, false);
        } else {
            t.write(SERVER, head + body, think, pace, false);
        }
    }
    end(rng, &mut t);
    t.sim
}

/// A bulk transfer (iperf3, scp, backups, downloads) in either direction, written in
/// chunks that each end with a PSH, possibly over minutes (several active-timeout
/// records).
pub fn bulk(rng: &mut SmallRng, view: View) -> Sim {
    let mut t = Tcp::new(rng, view);
    t.connect();
    // What to send: a request, a cookie (iperf3), a file name.
    t.message(rng, CLIENT, (8.0, 600.0), |r| ns(r, 10_000.0, 50_000_000.0));
    let sender = if rng.random_bool(0.5) { CLIENT } else { SERVER };
    let total = log_uniform(rng, 100_000.0, 300_000_000.0);
    let chunk = log_uniform(rng, 8_192.0, 1_048_576.0);
    let chunks = (total / chunk).ceil().clamp(1.0, 2_000.0) as u32;
    let pace = pace(rng);
    for c in 0..chunks {
        let gap = if c == 0 {
            ns(rng, 10_000.0, 50_000_000.0)
        } else {
            pace
        };
        t.write(sender, chunk as u64, gap, pace, c + 1 < chunks);
    }
    end(rng, &mut t);
    t.sim
}

/// A long-lived connection carrying a few small messages with long pauses: iperf3's
/// control connection, database and message-queue sessions, API keep-alives. Pauses longer
/// than the agent's idle timeout split it into flows that start without a SYN.
pub fn control(rng: &mut SmallRng, view: View) -> Sim {
    let mut t = Tcp::new(rng, view);
    t.connect();
    let messages = log_uniform(rng, 2.0, 200.0) as u32;
    for _ in 0..messages {
        let from = if rng.random_bool(0.6) { CLIENT } else { SERVER };
        t.message(rng, from, (1.0, 1_500.0), |r| {
            ns(r, 100_000.0, 30_000_000_000.0)
        });
    }
    end(rng, &mut t);
    t.sim
}

/// The client's connection attempts to the same server's SSH port in the 2 s before an
/// SSH connection (`prior_login_attempts`): none for most (a session, a copy, a fetch);
/// one for a fifth (a second terminal, scp or git after ssh, an Ansible task's second
/// connection); two for 6%; 3 to 8 for 2% (scripts and Ansible tasks without connection
/// sharing, which open a few connections per task). Nothing ordinary opens more: a
/// password guesser at 3 attempts a second has 5 or 6 before each of its guesses.
fn prior_logins(rng: &mut SmallRng) -> u32 {
    match rng.random_range(0..1000) {
        0..=719 => 0,
        720..=919 => 1,
        920..=979 => 2,
        _ => rng.random_range(3..=8),
    }
}

/// An SSH connection: banners, key exchange, authentication (sometimes after failed
/// tries, sometimes given up), then a command and its output, an interactive session, or
/// nothing more.
pub fn ssh(rng: &mut SmallRng, view: View) -> Sim {
    let mut t = Tcp::new(rng, view);
    t.sim.prior_login_attempts = prior_logins(rng);
    t.connect();
    let rtt = t.rtt_ns;
    // Version banners, key exchange inits, the client's key share (larger with
    // post-quantum hybrids), the server's reply with host key and signature, NEWKEYS.
    t.message(rng, SERVER, (20.0, 60.0), quick);
    t.message(rng, CLIENT, (20.0, 60.0), quick);
    t.message(rng, CLIENT, (900.0, 1_700.0), quick);
    t.message(rng, SERVER, (600.0, 1_200.0), |r| rtt / 2 + quick(r));
    t.message(rng, CLIENT, (40.0, 1_300.0), quick);
    t.message(rng, SERVER, (300.0, 1_700.0), |r| {
        rtt / 2 + ns(r, 100_000.0, 20_000_000.0)
    });
    t.message(rng, CLIENT, (16.0, 150.0), quick);
    t.message(rng, SERVER, (40.0, 100.0), |r| rtt / 2 + quick(r));
    // Authentication: a person types a password in seconds, a program at once; a server
    // answers a failure after a delay.
    let typing = |r: &mut SmallRng, human: bool| {
        if human {
            ns(r, 500_000_000.0, 10_000_000_000.0)
        } else {
            quick(r)
        }
    };
    let human = rng.random_bool(0.5);
    let failures = match rng.random_range(0..20) {
        0..=14 => 0,
        15..=17 => 1,
        _ => rng.random_range(2..=3),
    };
    for _ in 0..failures {
        t.message(rng, CLIENT, (80.0, 700.0), |r| typing(r, human));
        t.message(rng, SERVER, (40.0, 100.0), |r| {
            ns(r, 5_000_000.0, 3_000_000_000.0)
        });
    }
    if rng.random_bool(0.08) {
        // Out of tries or out of patience.
        end(rng, &mut t);
        return t.sim;
    }
    t.message(rng, CLIENT, (80.0, 700.0), |r| typing(r, human));
    t.message(rng, SERVER, (30.0, 100.0), |r| {
        ns(r, 1_000_000.0, 100_000_000.0)
    });
    if rng.random_bool(0.7) {
        // The server's host keys (OpenSSH 6.8 and later).
        t.message(rng, SERVER, (500.0, 1_600.0), quick);
    }
    // Channel open and its confirmation, then a command or a shell.
    t.message(rng, CLIENT, (60.0, 400.0), quick);
    t.message(rng, SERVER, (40.0, 100.0), |r| rtt / 2 + quick(r));
    match rng.random_range(0..10) {
        0..=5 => {
            let run = ns(rng, 1_000_000.0, 10_000_000_000.0);
            let output = log_uniform(rng, 1.0, 1_000_000.0) as u64;
            t.write(SERVER, output, run, pace(rng), rng.random_bool(0.5));
            // exit-status, EOF and close.
            t.message(rng, SERVER, (60.0, 250.0), quick);
        }
        6..=8 => {
            let keys = log_uniform(rng, 5.0, 3_000.0) as u32;
            for _ in 0..keys {
                t.message(rng, CLIENT, (36.0, 100.0), |r| {
                    ns(r, 30_000_000.0, 5_000_000_000.0)
                });
                if rng.random_bool(0.1) {
                    t.message(rng, SERVER, (100.0, 50_000.0), |r| rtt / 2 + quick(r));
                } else {
                    t.message(rng, SERVER, (36.0, 150.0), |r| rtt / 2 + quick(r));
                }
            }
        }
        _ => {}
    }
    t.message(rng, CLIENT, (36.0, 100.0), quick);
    end(rng, &mut t);
    t.sim
}
