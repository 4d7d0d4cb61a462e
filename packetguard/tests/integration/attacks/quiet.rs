//! The quiet phase: ordinary traffic from the client to the server that the agent must
//! score without raising anything, checked to have really happened.

use std::{thread::ScopedJoinHandle, time::Duration};

use serde_json::Value;

use super::{Scenario, IPERF_PORT};
use crate::{
    lab::{Lab, SERVER_V4, WEB_PORT},
    sshd::Sshd,
};

const PINGS: usize = 20;
const CURLS: usize = 10;
const SSH_LOGINS: usize = 2;
/// After the traffic: the agent's idle timeout, its one-second expiry tick and the last
/// one-second window closing, so that everything the quiet phase did has been scored.
const SETTLE: Duration = Duration::from_millis(3500);
/// The traffic goes to the server for about four seconds: at least this many one-second
/// windows of it are scored.
const QUIET_WINDOWS: f64 = 3.0;

/// What the quiet phase's tools reported.
struct Ran {
    ping_replies: usize,
    http_ok: usize,
    iperf_bytes: f64,
    iperf_seconds: f64,
    ssh_logins: usize,
}

fn joined<T>(t: ScopedJoinHandle<'_, T>) -> T {
    t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// "N received" of ping's summary line.
fn ping_replies(stdout: &[u8]) -> usize {
    let text = String::from_utf8_lossy(stdout);
    text.split(", ")
        .find_map(|part| part.strip_suffix(" received")?.parse().ok())
        .unwrap_or(0)
}

/// Ping every 200 ms; curl every 300 ms; after a second, 2 s of iperf3 TCP at 20 Mbit/s;
/// with an SSH server, logins with the right password every 500 ms. All at once.
fn traffic(lab: &Lab, sshd: Option<&Sshd>) -> Ran {
    let url = format!("http://{SERVER_V4}:{WEB_PORT}/");
    std::thread::scope(|s| {
        let ping = s.spawn(|| {
            let count = PINGS.to_string();
            let out = lab.output(
                &lab.client,
                &[
                    "ping", "-q", "-c", &count, "-i", "0.2", "-w", "10", SERVER_V4,
                ],
            );
            ping_replies(&out.stdout)
        });
        let http = s.spawn(|| {
            let curl = [
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
                &url,
            ];
            (0..CURLS)
                .filter(|_| {
                    let ok = lab.output(&lab.client, &curl).stdout == b"200";
                    std::thread::sleep(Duration::from_millis(300));
                    ok
                })
                .count()
        });
        let ssh = s.spawn(|| {
            let Some(sshd) = sshd else { return 0 };
            (0..SSH_LOGINS)
                .filter(|_| {
                    let out = sshd.login(lab, &sshd.password, "echo quiet-ok");
                    std::thread::sleep(Duration::from_millis(500));
                    out.status.success() && out.stdout == b"quiet-ok\n"
                })
                .count()
        });
        std::thread::sleep(Duration::from_secs(1));
        let iperf = lab.output(
            &lab.client,
            &[
                "timeout",
                "15",
                "iperf3",
                "-c",
                SERVER_V4,
                "-p",
                IPERF_PORT,
                "-t",
                "2",
                "-b",
                "20M",
                "--connect-timeout",
                "3000",
                "--json",
            ],
        );
        let json: Value = serde_json::from_slice(&iperf.stdout).unwrap_or_default();
        let got = &json["end"]["sum_received"];
        Ran {
            ping_replies: joined(ping),
            http_ok: joined(http),
            iperf_bytes: got["bytes"].as_f64().unwrap_or(0.0),
            iperf_seconds: got["seconds"].as_f64().unwrap_or(0.0),
            ssh_logins: joined(ssh),
        }
    })
}

impl Scenario<'_> {
    /// Runs the quiet traffic, checks that it all happened and that the agent scored it,
    /// then waits [`SETTLE`]. Whether it raised anything is judged at the end (everything
    /// written before the attack's start).
    pub fn quiet_phase(&mut self, sshd: Option<&Sshd>) {
        let ran = traffic(self.lab, sshd);
        let mut report = vec![
            format!("ping {}/{PINGS} replies", ran.ping_replies),
            format!("curl {}/{CURLS} HTTP 200", ran.http_ok),
            format!(
                "iperf3 TCP {:.1} MB received in {:.1} s",
                ran.iperf_bytes / 1e6,
                ran.iperf_seconds
            ),
        ];
        let mut ok = ran.ping_replies == PINGS && ran.http_ok == CURLS && ran.iperf_bytes > 1e6;
        if let Some(sshd) = sshd {
            let accepted = sshd.logged("Accepted password");
            report.push(format!(
                "ssh {}/{SSH_LOGINS} logins ({accepted} accepted by sshd)",
                ran.ssh_logins
            ));
            ok &= ran.ssh_logins == SSH_LOGINS && accepted == SSH_LOGINS;
        }
        let report = report.join(", ");
        eprintln!("[{}] quiet phase: {report}", self.name);
        self.check(ok, || {
            format!("the quiet phase did not run as intended: {report}")
        });

        std::thread::sleep(SETTLE);
        // No event means something only if the agent scored the quiet traffic: every flow
        // it made (ping, each curl, iperf3's control and data connections, each SSH login)
        // and the windows of the seconds it lasted.
        let text = self.metrics();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0.0)
        };
        let flows = value("packetguard_flows_total");
        let windows = value("packetguard_host_windows_total");
        let want_flows = 1 + CURLS + 2 + if sshd.is_some() { SSH_LOGINS } else { 0 };
        eprintln!(
            "[{}] scored after the quiet phase: {flows} flow records, {windows} host windows",
            self.name
        );
        self.check(
            flows >= want_flows as f64 && windows >= QUIET_WINDOWS,
            || {
                format!(
                    "the agent scored {flows} flow records (at least {want_flows} expected) and \
                     {windows} host windows (at least {QUIET_WINDOWS} expected) of the quiet phase"
                )
            },
        );
    }
}
