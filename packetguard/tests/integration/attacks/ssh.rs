//! SSH password guessing against a real OpenSSH server in the server namespace.
//!
//! The guesses are sshpass runs with one wrong password each, so every guess is one TCP
//! connection, one key exchange and one refused password, as a brute-force tool that does
//! not reuse connections makes them. (hydra keeps a connection for several passwords and,
//! here, waited about a minute for its last task after the list was done.) Four workers
//! each guess on their own schedule of 1.5 guesses/s: 6 connection attempts/s in all.

use std::time::{Duration, Instant, SystemTime};

use super::{attacker, victim, Capture, Scenario, Unit, FLOW_AUC};
use crate::{
    lab::{Lab, CLIENT_V4, SERVER_V4},
    sshd::Sshd,
};

const WORKERS: u32 = 4;
const GUESSES_PER_WORKER: u32 = 6;
const GUESS_INTERVAL: Duration = Duration::from_millis(666);
/// A worker makes no further guess after this long.
const LIMIT: Duration = Duration::from_secs(10);

/// Runs the workers; returns how many guesses the server refused ("Permission denied").
fn guess_passwords(lab: &Lab, sshd: &Sshd) -> usize {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                s.spawn(move || {
                    let start = Instant::now();
                    (0..GUESSES_PER_WORKER)
                        .take_while(|_| start.elapsed() < LIMIT)
                        .filter(|g| {
                            let due = start + GUESS_INTERVAL * *g;
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            let wrong = format!("wrong-{w}-{g}");
                            let out = sshd.login(lab, &wrong, "true");
                            String::from_utf8_lossy(&out.stderr).contains("Permission denied")
                        })
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .sum()
    })
}

/// 24 wrong passwords at 6 connection attempts/s (the detectors must catch 3/s and
/// more), after a quiet phase that includes correct SSH logins; the agent on `s0`. The
/// flow model must rank the guesses' flows above the quiet phase's (each guess comes
/// after others to the same server's SSH port: `prior_login_attempts`).
#[test]
fn ssh_brute_force_is_reported_within_2s() {
    const MIN_RATE: f64 = 3.0;
    let lab = Lab::new();
    let sshd = lab.start_sshd();
    let mut s = Scenario::start(&lab, "ssh_brute_force", &lab.server, "s0");
    s.quiet_phase(Some(&sshd));
    s.require_flow_auc(FLOW_AUC);
    let filter = format!(
        "tcp and src host {CLIENT_V4} and dst host {SERVER_V4} and dst port 22 \
         and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
    );
    let cap = Capture::start(&lab, &lab.server, "s0", &filter);
    let failed_before = sshd.logged("Failed password");
    let start = SystemTime::now();
    let refused = guess_passwords(&lab, &sshd);
    let failed = sshd.logged("Failed password") - failed_before;
    eprintln!(
        "[ssh_brute_force] {refused} of {} guesses refused, sshd logged {failed} failed passwords",
        WORKERS * GUESSES_PER_WORKER
    );
    let guesses = (WORKERS * GUESSES_PER_WORKER) as usize;
    s.check(refused == guesses && failed == guesses, || {
        format!("only {refused} guesses refused and {failed} failed passwords logged of {guesses}")
    });
    let rate = cap.measure(start, Unit::Packets);
    s.finish(
        start,
        &[victim(SERVER_V4), attacker(CLIENT_V4)],
        rate,
        MIN_RATE,
        "connection attempts",
    );
}
