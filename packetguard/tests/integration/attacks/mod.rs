//! The attack lab for common attacks: one test per attack, each with the agent running the
//! shipped models in `both` mode on one interface of the lab.
//!
//! Every test follows the same script ([`Scenario`]): start the agent, run a quiet phase of
//! ordinary traffic (ping, curl against a small HTTP server, a short iperf3 TCP transfer,
//! and SSH logins where an SSH server runs) and require that it raised no event at all;
//! then start tcpdump, note the time, run the attack, and require an event naming the
//! right address within [`DEADLINE`] of that time, by the event's own `time` field. The
//! right address is the victim in a `"host"` field (destination-side detection) or the
//! attacker in a `"source"` field (source-side detection); which of them an attack
//! accepts is the test's choice, and any detector that names one counts. The capture
//! proves that the attack ran at the rate the test is about; a test whose attack fell
//! short of it fails instead of passing on weaker traffic.
//!
//! Every test prints what ran (the quiet phase's replies and bytes, the attack's measured
//! rate) and every event the agent wrote (detector, address, time relative to the attack's
//! start, top features), so a failing run shows what fired and what did not.
//!
//! - `floods`: UDP flood, SYN flood from spoofed sources;
//! - `scans`: vertical SYN scan, horizontal scan, outbound scan from the agent's host;
//! - `ssh`: SSH password brute force against a real sshd.

mod events;
mod floods;
mod rate;
mod scans;
mod ssh;

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde_json::Value;

use self::events::{assert_no_events_before, describe, event_time, first_detection, offset};
pub use self::{
    events::{attacker, victim, Named},
    rate::{Capture, Rate, Unit},
};
use crate::{
    capture::read_events,
    collect_agent::BIN,
    lab::{Lab, Proc, SERVER_V4},
    sshd::Sshd,
};

/// The agent's metrics address, on the loopback of the namespace it runs in.
const METRICS_ADDR: &str = "127.0.0.1:9617";
/// Metric families printed at the end of each test: what the agent counted and scored.
const REPORTED_METRICS: [&str; 4] = [
    "packetguard_packets_total",
    "packetguard_flows_total",
    "packetguard_host_windows_total",
    "packetguard_anomalies_total",
];

/// An attack must be reported within this time of its start.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// The agent's idle timeout in these tests. Flows are scored when they end or go idle;
/// with the default 15 s, the quiet phase's ping flow would be scored in the middle of the
/// attack. With 2 s, everything the quiet phase started has been scored before it.
const IDLE_TIMEOUT: &str = "2s";
/// After the quiet phase: the idle timeout, the agent's one-second expiry tick and the
/// last one-second window closing.
const SETTLE: Duration = Duration::from_millis(3500);
/// How long after an attack's start the events file is watched for the detection.
const WATCH: Duration = Duration::from_secs(5);
const WEB_PORT: &str = "8080";
const IPERF_PORT: &str = "5201";
const PINGS: usize = 20;
const CURLS: usize = 10;
const SSH_LOGINS: usize = 2;

/// The shipped default models (`cargo xtask models`).
fn default_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// One test's agent, servers and findings. Failures are collected, not raised at once, so
/// a test that fails its quiet phase still runs and reports its attack.
pub struct Scenario<'a> {
    pub lab: &'a Lab,
    name: &'static str,
    /// The namespace the agent runs in.
    ns: String,
    agent: Proc,
    events: PathBuf,
    failures: Vec<String>,
    _servers: [Proc; 2],
}

impl<'a> Scenario<'a> {
    /// Starts the agent with the shipped models, both directions, on `dev` in `ns`, then
    /// the quiet phase's HTTP and iperf3 servers in the server namespace.
    pub fn start(lab: &'a Lab, name: &'static str, ns: &str, dev: &str) -> Scenario<'a> {
        let events = lab.dir.join("events.jsonl");
        let models = default_models();
        let mut agent = lab.spawn(
            ns,
            &[
                BIN,
                "run",
                "-i",
                dev,
                "--direction",
                "both",
                "--model",
                models.to_str().unwrap(),
                "--events",
                events.to_str().unwrap(),
                "--idle-timeout",
                IDLE_TIMEOUT,
                "--metrics-addr",
                METRICS_ADDR,
            ],
        );
        agent.wait_for_stderr("attached:", 1, Duration::from_secs(30));
        for line in agent
            .stderr()
            .lines()
            .filter(|l| l.contains("detector: ") || l.starts_with("attached:"))
        {
            eprintln!("[{name}] agent on {dev}: {line}");
        }
        let web = lab.spawn(
            &lab.server,
            &[
                "python3",
                "-m",
                "http.server",
                WEB_PORT,
                "--bind",
                SERVER_V4,
                "--directory",
                lab.dir.to_str().unwrap(),
            ],
        );
        let iperf = lab.spawn(&lab.server, &["iperf3", "-s", "-1", "-p", IPERF_PORT]);
        lab.wait_listening(&lab.server, WEB_PORT);
        lab.wait_listening(&lab.server, IPERF_PORT);
        Scenario {
            lab,
            name,
            ns: ns.to_string(),
            agent,
            events,
            failures: Vec::new(),
            _servers: [web, iperf],
        }
    }

    /// Records a failure unless `ok`: a test's own check that its traffic was what it
    /// claims to be.
    pub fn check(&mut self, ok: bool, why: impl FnOnce() -> String) {
        if !ok {
            self.fail(why());
        }
    }

    fn fail(&mut self, why: String) {
        eprintln!("[{}] FAIL: {why}", self.name);
        self.failures.push(why);
    }

    /// Ordinary traffic from the client to the server for about four seconds, checked to
    /// have really happened, then [`SETTLE`] for the agent to score all of it.
    pub fn quiet_phase(&mut self, sshd: Option<&Sshd>) {
        let lab = self.lab;
        let url = format!("http://{SERVER_V4}:{WEB_PORT}/");
        let (ping, http, iperf, ssh) = std::thread::scope(|s| {
            let ping = s.spawn(|| {
                let out = lab.exec(
                    &lab.client,
                    &[
                        "ping",
                        "-q",
                        "-c",
                        &PINGS.to_string(),
                        "-i",
                        "0.2",
                        SERVER_V4,
                    ],
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            });
            let http = s.spawn(|| {
                (0..CURLS)
                    .filter(|_| {
                        let out = lab.output(
                            &lab.client,
                            &[
                                "curl",
                                "-sS",
                                "-o",
                                "/dev/null",
                                "-w",
                                "%{http_code}",
                                "--max-time",
                                "5",
                                &url,
                            ],
                        );
                        std::thread::sleep(Duration::from_millis(300));
                        out.stdout == b"200"
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
            let out = lab.exec(
                &lab.client,
                &[
                    "iperf3", "-c", SERVER_V4, "-p", IPERF_PORT, "-t", "2", "-b", "20M", "--json",
                ],
            );
            let json: Value = serde_json::from_slice(&out.stdout).expect("iperf3 --json output");
            let got = &json["end"]["sum_received"];
            let iperf = (
                got["bytes"].as_f64().unwrap_or(0.0),
                got["seconds"].as_f64().unwrap_or(0.0),
            );
            let join = |t: std::thread::ScopedJoinHandle<'_, usize>| {
                t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            };
            let ping = ping.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (ping, join(http), iperf, join(ssh))
        });
        let replies = format!("{PINGS} packets transmitted, {PINGS} received");
        let mut ran = vec![
            format!(
                "ping {}",
                if ping.contains(&replies) {
                    "all replies"
                } else {
                    "lost replies"
                }
            ),
            format!("curl {http}/{CURLS} HTTP 200"),
            format!(
                "iperf3 TCP {:.1} MB received in {:.1} s",
                iperf.0 / 1e6,
                iperf.1
            ),
        ];
        let mut ok = ping.contains(&replies) && http == CURLS && iperf.0 > 1e6;
        if let Some(sshd) = sshd {
            let accepted = sshd.logged("Accepted password");
            ran.push(format!(
                "ssh {ssh}/{SSH_LOGINS} logins ({accepted} accepted by sshd)"
            ));
            ok &= ssh == SSH_LOGINS && accepted == SSH_LOGINS;
        }
        eprintln!("[{}] quiet phase: {}", self.name, ran.join(", "));
        if !ok {
            self.fail(format!(
                "the quiet phase did not run as intended: {}\n{ping}",
                ran.join(", ")
            ));
        }
        std::thread::sleep(SETTLE);
    }

    /// Prints [`REPORTED_METRICS`] as the agent serves them now.
    fn print_metrics(&self) {
        let url = format!("http://{METRICS_ADDR}/metrics");
        let out = self
            .lab
            .output(&self.ns, &["curl", "-sS", "--max-time", "5", &url]);
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| REPORTED_METRICS.iter().any(|m| l.starts_with(m)))
            .collect();
        eprintln!("[{}] agent metrics: {}", self.name, lines.join("; "));
    }

    /// Judges the run and panics with every failure: the attack's `rate` must reach
    /// `min_rate` (`what` names its unit), the quiet phase (everything before `start`)
    /// must have raised nothing, and an event naming one of `names` must carry a time
    /// within [`DEADLINE`] of `start`.
    pub fn finish(
        mut self,
        start: SystemTime,
        names: &[Named],
        rate: Rate,
        min_rate: f64,
        what: &str,
    ) {
        let name = self.name;
        eprintln!(
            "[{name}] attack: {} {what} in {:.2} s = {:.0} {what}/s (required: {min_rate}); first packet {} ms after the start; tcpdump dropped {}",
            rate.count,
            rate.span.as_secs_f64(),
            rate.per_s,
            rate.first_after.as_millis(),
            rate.dropped.map_or("?".into(), |d| d.to_string()),
        );
        if rate.per_s < min_rate {
            self.fail(format!(
                "the attack ran at {:.1} {what}/s, below the {min_rate} it must test",
                rate.per_s
            ));
        }
        let deadline = start + WATCH;
        let mut events = read_events(&self.events);
        while first_detection(&events, start, names).is_none() && SystemTime::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            events = read_events(&self.events);
        }
        self.print_metrics();
        let status = self.agent.stop(libc::SIGTERM, Duration::from_secs(30));
        if !status.success() {
            let stderr = self.agent.stderr();
            self.fail(format!("the agent exited {status}: {stderr}"));
        }
        events = read_events(&self.events);
        eprintln!(
            "[{name}] events (time relative to the attack's start):\n{}",
            describe(&events, start)
        );
        if let Err(e) = assert_no_events_before(&events, start, "the quiet phase") {
            self.fail(e);
        }
        let wanted: Vec<String> = names
            .iter()
            .map(|n| format!("\"{}\": \"{}\"", n.field, n.addr))
            .collect();
        let detectors: Vec<&str> = {
            let mut d: Vec<&str> = events
                .iter()
                .filter(|e| event_time(e) >= start && names.iter().any(|n| n.matches(e)))
                .filter_map(|e| e["detector"].as_str())
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        };
        match first_detection(&events, start, names) {
            Some(e) => {
                let delay = offset(event_time(e), start);
                eprintln!(
                    "[{name}] detected: first by {} after {delay:.3} s; detectors naming {}: {}",
                    e["detector"].as_str().unwrap_or("?"),
                    wanted.join(" or "),
                    detectors.join(", ")
                );
                if delay > DEADLINE.as_secs_f64() {
                    self.fail(format!("first event naming {} came {delay:.3} s after the start, later than {DEADLINE:?}", wanted.join(" or ")));
                }
            }
            None => self.fail(format!(
                "no event naming {} within {WATCH:?} of the attack's start",
                wanted.join(" or ")
            )),
        }
        assert!(
            self.failures.is_empty(),
            "{name}: {}",
            self.failures.join("\n")
        );
    }
}

/// The last non-empty line of a tool's standard output, for the report.
pub fn last_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}
