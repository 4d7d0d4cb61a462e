//! The agent confined as the shipped unit (`deploy/packetguard.service`) confines it, as
//! far as that can be done without systemd: exactly the unit's capabilities (bounding,
//! inheritable and ambient sets, through `setpriv`), `NoNewPrivileges=`, `LimitNOFILE=`
//! (through `prlimit`), and in a private mount namespace (`PrivateMounts=`) a read-only
//! `/sys` (`ProtectKernelTunables=`) and a `/proc` mounted with `ProcSubset=` and
//! `ProtectProc=`. Every value comes from the unit file, so the test follows it.
//!
//! The agent must load, attach to `s0` in the lab's server namespace, count the lab's
//! traffic and serve it as metrics, and detach on SIGTERM; and with any one of the unit's
//! capabilities taken away it must fail to start, so each one is needed.

use std::{path::Path, time::Duration};

use crate::{
    collect_agent::{assert_detached_in, default_models, BIN, METRICS_ADDR},
    lab::{Lab, SERVER_V4},
    prometheus_scrape::wait_for,
};

/// Capability names by bit number (`linux/capability.h`), as `setpriv` spells them.
const CAPABILITIES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// The shipped unit file's `[Service]` settings.
struct Unit {
    settings: Vec<(String, String)>,
}

impl Unit {
    fn shipped() -> Unit {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/packetguard.service");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut section = String::new();
        let mut settings = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
            } else if let Some((key, value)) = line.split_once('=') {
                if section == "Service" {
                    settings.push((key.trim().to_string(), value.trim().to_string()));
                }
            }
        }
        Unit { settings }
    }

    /// The value of `key` (the last assignment wins, as in systemd), if set.
    fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn yes(&self, key: &str) -> bool {
        matches!(self.get(key), Some("yes" | "true" | "on" | "1"))
    }

    /// `CapabilityBoundingSet=` as `setpriv` names (`CAP_BPF` is `bpf`), checked against
    /// `AmbientCapabilities=`, which must grant the same set.
    fn capabilities(&self) -> Vec<String> {
        let names = |key| -> Vec<String> {
            let value = self
                .get(key)
                .unwrap_or_else(|| panic!("the unit sets no {key}"));
            let mut caps: Vec<String> = value
                .split_whitespace()
                .map(|c| {
                    let name = c.to_ascii_lowercase();
                    let name = name.strip_prefix("cap_").unwrap_or(&name).to_string();
                    assert!(
                        CAPABILITIES.contains(&name.as_str()),
                        "unknown {c} in {key}"
                    );
                    name
                })
                .collect();
            caps.sort();
            caps
        };
        let bounding = names("CapabilityBoundingSet");
        assert_eq!(bounding, names("AmbientCapabilities"));
        bounding
    }

    /// `LimitNOFILE=` as `prlimit`'s `soft:hard`.
    fn nofile(&self) -> String {
        let value = self.get("LimitNOFILE").expect("the unit sets LimitNOFILE");
        match value.split_once(':') {
            Some((soft, hard)) => format!("{soft}:{hard}"),
            None => format!("{value}:{value}"),
        }
    }

    /// The shell commands that set up the mount namespace as the unit would.
    fn mounts(&self) -> Vec<String> {
        let mut script = Vec::new();
        let subset = self.get("ProcSubset").filter(|v| *v != "all");
        let hidepid = self.get("ProtectProc").filter(|v| *v != "default");
        if subset.is_some() || hidepid.is_some() {
            let opts: Vec<String> = [
                subset.map(|s| format!("subset={s}")),
                hidepid.map(|h| format!("hidepid={h}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            script.push(format!("mount -t proc -o {} proc /proc", opts.join(",")));
        }
        if self.yes("ProtectKernelTunables") {
            script.push("mount -o remount,bind,ro /sys".to_string());
            // Hidden already when ProcSubset=pid.
            script.push(
                "if [ -d /proc/sys ]; then mount --bind /proc/sys /proc/sys && \
                 mount -o remount,bind,ro /proc/sys; fi"
                    .to_string(),
            );
        }
        script
    }
}

/// The argument list that runs `agent` confined as the unit would, with `caps` as its
/// capabilities.
fn confined(unit: &Unit, caps: &[String], agent: &[&str]) -> Vec<String> {
    let set: String = std::iter::once("-all".to_string())
        .chain(caps.iter().map(|c| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    assert!(unit.yes("PrivateMounts"), "the unit sets PrivateMounts=yes");
    let mut args: Vec<String> = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
        .map(String::from)
        .into();
    // The agent's arguments reach it as "$@"; every step before it must succeed.
    let no_new_privs = if unit.yes("NoNewPrivileges") {
        "--no-new-privs"
    } else {
        ""
    };
    let script: Vec<String> = std::iter::once("set -e".to_string())
        .chain(unit.mounts())
        .chain([format!(
            "exec prlimit --nofile={} setpriv --bounding-set={set} --inh-caps={set} \
             --ambient-caps={set} {no_new_privs} \"$@\"",
            unit.nofile()
        )])
        .collect();
    args.push(script.join("; "));
    args.push("sh".to_string());
    args.extend(agent.iter().map(|a| a.to_string()));
    args
}

/// The mask of capability names, as `/proc/PID/status` shows it.
fn mask(caps: &[String]) -> u64 {
    caps.iter()
        .map(|c| 1u64 << CAPABILITIES.iter().position(|k| k == c).unwrap())
        .fold(0, |m, b| m | b)
}

/// The `Cap*:` line `field` of `/proc/PID/status`, as a mask.
fn cap_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn agent_args<'a>(models: &'a str, events: &'a str) -> Vec<&'a str> {
    vec![
        BIN,
        "run",
        "-i",
        "s0",
        "--model",
        models,
        "--events",
        events,
        "--metrics-addr",
        METRICS_ADDR,
    ]
}

#[test]
fn agent_loads_attaches_and_serves_metrics_confined_as_the_unit_confines_it() {
    let unit = Unit::shipped();
    let caps = unit.capabilities();
    let lab = Lab::new();
    let models = default_models();
    let events = lab.dir.join("events.jsonl");
    let agent_args = agent_args(models.to_str().unwrap(), events.to_str().unwrap());
    let args = confined(&unit, &caps, &agent_args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = lab.spawn(&lab.server, &args);
    agent.wait_for_stderr("attached:", 1, Duration::from_secs(30));

    // The process that attached is the agent, with exactly the unit's capabilities.
    let pid = agent.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.starts_with("Name:\tpacketguard"), "{status}");
    let want = mask(&caps);
    for field in ["CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"] {
        assert_eq!(
            cap_field(&status, field),
            want,
            "{field} is not exactly {caps:?}: {status}"
        );
    }
    assert!(status.contains("\nNoNewPrivs:\t1\n"), "{status}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let (soft, hard) = unit
        .nofile()
        .split_once(':')
        .map(|(s, h)| (s.to_string(), h.to_string()))
        .unwrap();
    assert!(
        limits.lines().any(|l| l.starts_with("Max open files")
            && l.split_whitespace()
                .skip(3)
                .take(2)
                .eq([soft.as_str(), hard.as_str()])),
        "{limits}"
    );

    // ... and it runs in the mount namespace set up for it.
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let mount = |point: &str| -> (Vec<String>, Vec<String>) {
        // "ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS] - TYPE SOURCE SUPER_OPTIONS"
        let line = mounts
            .lines()
            .rfind(|l| l.split_whitespace().nth(4) == Some(point))
            .unwrap_or_else(|| panic!("no mount on {point}: {mounts}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        let split = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        (split(fields[5]), split(fields.last().unwrap()))
    };
    if unit.yes("ProtectKernelTunables") {
        assert!(mount("/sys").0.contains(&"ro".to_string()), "{mounts}");
    }
    if let Some(subset) = unit.get("ProcSubset") {
        let (_, proc_opts) = mount("/proc");
        assert!(
            proc_opts.contains(&format!("subset={subset}")),
            "{proc_opts:?}"
        );
    }

    // It counts the lab's traffic to s0 and serves the counts.
    const PINGS: u64 = 5;
    lab.exec(
        &lab.client,
        &[
            "ping",
            "-q",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.05",
            SERVER_V4,
        ],
    );
    let url = format!("http://{METRICS_ADDR}/metrics");
    let packets = wait_for(
        "the pings in packetguard_packets_total",
        Duration::from_secs(10),
        || {
            let out = lab.output(&lab.server, &["curl", "-sS", "--max-time", "5", &url]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("packetguard_packets_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|&v| v >= PINGS as f64)
        },
    );
    eprintln!("confined agent: {packets} packets counted; capabilities {caps:?}");

    let status = agent.stop(libc::SIGTERM, Duration::from_secs(30));
    assert!(
        status.success(),
        "agent exited {status}: {}",
        agent.stderr()
    );
    assert!(
        !agent.stderr().contains("ermission denied"),
        "{}",
        agent.stderr()
    );
    assert_detached_in(&lab, &lab.server, "s0");
}

#[test]
fn without_any_one_of_the_units_capabilities_the_agent_does_not_start() {
    let unit = Unit::shipped();
    let caps = unit.capabilities();
    let lab = Lab::new();
    let models = default_models();
    let events = lab.dir.join("events.jsonl");
    let mut agent_args = agent_args(models.to_str().unwrap(), events.to_str().unwrap());
    // Bounds the run should the agent start after all.
    agent_args.extend(["--duration", "2s"]);
    for dropped in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != dropped).cloned().collect();
        let args = confined(&unit, &fewer, &agent_args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lab.output(&lab.server, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The detectors announce their models first; then one error line.
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "without {dropped}: {stderr}");
        let err = errors[0];
        assert_eq!(out.status.code(), Some(1), "without {dropped}: {stderr}");
        assert!(
            err.contains("permission denied"),
            "without {dropped}: {err}"
        );
        eprintln!("without {dropped}: {err}");
        assert_detached_in(&lab, &lab.server, "s0");
    }
}
