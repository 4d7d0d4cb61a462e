//! Running the `packetguard` binary in a lab: `collect` in the router namespace, `run` on
//! any interface, and the checks that nothing is left attached.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Output},
    time::Duration,
};

use crate::{
    capture::read_csv,
    lab::{Lab, Proc},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_packetguard");

/// Where the lab's agents serve metrics: the loopback of the namespace they run in, which
/// no other listener holds.
pub const METRICS_ADDR: &str = "127.0.0.1:9617";

/// The shipped default models (`cargo xtask models`).
pub fn default_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// Starts `packetguard run -i dev` in namespace `ns`, serving metrics on [`METRICS_ADDR`]
/// and writing events to `events`, with `extra` arguments after those; waits (bounded)
/// until it has attached.
pub fn start_run(lab: &Lab, ns: &str, dev: &str, events: &Path, extra: &[&str]) -> Proc {
    let events = events.to_str().unwrap();
    let mut args = vec![
        BIN,
        "run",
        "-i",
        dev,
        "--metrics-addr",
        METRICS_ADDR,
        "--events",
        events,
    ];
    args.extend_from_slice(extra);
    let mut agent = lab.spawn(ns, &args);
    agent.wait_for_stderr("attached:", 1, Duration::from_secs(30));
    agent
}

/// Runs the `packetguard` binary in the test's own namespace.
pub fn packetguard(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("packetguard runs")
}

/// Asserts a command succeeded, showing its stderr when it did not.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the command failed with exactly one line on stderr, and returns that line.
pub fn one_line_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!out.status.success(), "must fail: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

pub struct Collector {
    proc: Proc,
    pub out: PathBuf,
}

pub struct Collected {
    pub rows: Vec<HashMap<String, String>>,
    pub stderr: String,
}

impl Collector {
    /// Starts the collector on both router interfaces, ingress only (each forwarded packet
    /// arrives on one of them), and waits until both are attached.
    pub fn start(lab: &Lab, extra: &[&str]) -> Collector {
        let mut args = vec!["-i", "rc", "-i", "rs", "--direction", "ingress"];
        args.extend_from_slice(extra);
        Self::start_in(lab, &lab.router, &args, 2)
    }

    /// Starts the collector in namespace `ns` with `args` (interfaces, direction, ...) and
    /// waits until it printed `attached:` once per interface (`interfaces`).
    pub fn start_in(lab: &Lab, ns: &str, args: &[&str], interfaces: usize) -> Collector {
        let out = lab.dir.join("flows.csv");
        let out_s = out.to_str().unwrap().to_string();
        let mut all = vec![BIN, "collect", "--out", &out_s];
        all.extend_from_slice(args);
        let mut proc = lab.spawn(ns, &all);
        proc.wait_for_stderr("attached:", interfaces, Duration::from_secs(30));
        Collector { proc, out }
    }

    /// Stops it with `signal` and reads what it wrote.
    pub fn stop(mut self, signal: i32) -> Collected {
        let status = self.proc.stop(signal, Duration::from_secs(30));
        self.collected(status)
    }

    /// Kills it with SIGKILL: nothing of its own shutdown runs.
    pub fn kill(mut self) {
        let status = self.proc.stop(libc::SIGKILL, Duration::from_secs(10));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
    }

    /// Waits for it to stop by itself (`--duration`).
    pub fn wait(mut self) -> Collected {
        let status = self.proc.wait(Duration::from_secs(60));
        self.collected(status)
    }

    fn collected(&self, status: ExitStatus) -> Collected {
        let stderr = self.proc.stderr();
        assert!(status.success(), "collect failed ({status}): {stderr}");
        Collected {
            rows: read_csv(&self.out),
            stderr,
        }
    }
}

/// Asserts nothing is attached to the router's interfaces any more.
pub fn assert_detached(lab: &Lab) {
    for dev in ["rc", "rs"] {
        assert_detached_in(lab, &lab.router, dev);
    }
}

/// Asserts nothing is attached to interface `dev` of namespace `ns` any more: no XDP
/// program (`ip link`), no TCX program on either hook and no tc filter on egress (the
/// kernel's own lists, through `packetguard status`), and no clsact qdisc the agent added.
pub fn assert_detached_in(lab: &Lab, ns: &str, dev: &str) {
    let link = lab.link(ns, dev);
    assert!(!link.contains("xdp"), "XDP still attached to {dev}: {link}");
    let status = attached_in(lab, ns, dev);
    for hook in ["xdp", "tcx ingress", "tcx egress", "tc egress filters"] {
        assert!(
            status.contains(&format!("{dev} {hook}: none")),
            "{hook} of {dev} still holds a program: {status}"
        );
    }
    let qdiscs = lab.exec(ns, &["tc", "qdisc", "show", "dev", dev]);
    let qdiscs = String::from_utf8_lossy(&qdiscs.stdout);
    assert!(!qdiscs.contains("clsact"), "clsact left on {dev}: {qdiscs}");
}

/// `packetguard status` of interface `dev` in namespace `ns`.
pub fn attached_in(lab: &Lab, ns: &str, dev: &str) -> String {
    let out = lab.exec(ns, &[BIN, "status", "-i", dev]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}
