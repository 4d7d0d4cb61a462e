//! FastNetMon (community edition, Debian's `fastnetmon`) on the victim's interface with its
//! AF_PACKET capture. Its configuration is the installed `/etc/fastnetmon.conf` with the
//! settings below replaced; every path it writes is in the lab's directory. Packets
//! accounted are its `fastnetmon_total_simple_packets_processed` counter, read from its
//! Prometheus endpoint inside the victim's namespace.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    capacity::{Measured, Peer},
    generator::{self, Traffic},
    lab::{Lab, VICTIM_IF},
    meter::Meter,
    proc::Proc,
};

const TEMPLATE: &str = "/etc/fastnetmon.conf";
const METRICS: &str = "http://127.0.0.1:9209/metrics";

/// Writes FastNetMon's configuration into the lab's directory. With `threshold_pps`, it
/// bans (logs an attack on) any host of 198.18.0.0/24 receiving more packets per second
/// than that; without, banning is off.
pub fn write_config(lab: &Lab, threshold_pps: Option<u64>) -> Result<PathBuf> {
    let template = std::fs::read_to_string(TEMPLATE)
        .with_context(|| format!("reading {TEMPLATE} (the fastnetmon package's)"))?;
    let d = |name: &str| lab.dir.join(name).to_string_lossy().into_owned();
    std::fs::write(d("fastnetmon.networks"), "198.18.0.0/24\n")?;
    std::fs::write(d("fastnetmon.whitelist"), "")?;
    let threshold = threshold_pps.unwrap_or(0).to_string();
    let ban = if threshold_pps.is_some() { "on" } else { "off" };
    let settings: Vec<(&str, String)> = vec![
        ("mirror_afpacket", "on".into()),
        ("interfaces", VICTIM_IF.into()),
        ("networks_list_path", d("fastnetmon.networks")),
        ("white_list_path", d("fastnetmon.whitelist")),
        ("pid_path", d("fastnetmon.pid")),
        ("cli_stats_file_path", d("fastnetmon.dat")),
        ("cli_stats_ipv6_file_path", d("fastnetmon_ipv6.dat")),
        ("notify_script_path", d("fastnetmon-notify.sh")),
        ("enable_api", "off".into()),
        ("disable_usage_report", "on".into()),
        ("monitor_local_ip_addresses", "off".into()),
        ("prometheus", "on".into()),
        ("prometheus_host", "127.0.0.1".into()),
        ("prometheus_port", "9209".into()),
        ("enable_ban", ban.into()),
        ("ban_for_pps", ban.into()),
        ("ban_for_bandwidth", "off".into()),
        ("ban_for_flows", "off".into()),
        ("threshold_pps", threshold),
    ];
    let mut out = String::new();
    for line in template.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match settings.iter().find(|(k, _)| *k == key) {
            Some((k, v)) if !line.trim_start().starts_with('#') => {
                out.push_str(&format!("{k} = {v}\n"))
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (k, v) in &settings {
        if !out.lines().any(|l| l.starts_with(&format!("{k} ="))) {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    let path = lab.dir.join("fastnetmon.conf");
    std::fs::write(&path, out)?;
    Ok(path)
}

/// The log file FastNetMon is started with.
pub fn log_path(lab: &Lab) -> PathBuf {
    lab.dir.join("fastnetmon.log")
}

/// Starts FastNetMon with `config` and waits (bounded) until its endpoint answers and its
/// AF_PACKET workers are started.
pub fn start(lab: &Lab, config: &Path) -> Result<Proc> {
    let log = log_path(lab);
    let _ = std::fs::remove_file(&log);
    let mut fnm = lab.spawn(
        &lab.victim,
        "fastnetmon",
        &[
            "fastnetmon",
            "--configuration_file",
            &config.to_string_lossy(),
            "--log_file",
            &log.to_string_lossy(),
            "--disable_pid_logic",
        ],
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        super::signals::check()?;
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        if log_text.contains("Start AF_PACKET worker") && processed(lab).is_ok() {
            // Its workers open their sockets and join one fanout group after that line; a
            // socket not in the group yet gets every packet, so a packet sent then can be
            // counted twice (seen: 60 of 50000). A second is long enough for the joins.
            std::thread::sleep(Duration::from_secs(1));
            return Ok(fnm);
        }
        if Instant::now() > deadline {
            let _ = fnm.stop(libc::SIGTERM, Duration::from_secs(5));
            bail!(
                "FastNetMon did not start its capture within 30 s: {}",
                super::proc::last_line(&log_text)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// FastNetMon's total of packets processed, from its Prometheus endpoint.
pub fn processed(lab: &Lab) -> Result<u64> {
    let out = lab.exec(&lab.victim, &["curl", "-sS", "--max-time", "2", METRICS])?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("fastnetmon_total_simple_packets_processed "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .context("no fastnetmon_total_simple_packets_processed on its endpoint")
}

pub struct FastNetMon;

impl Peer for FastNetMon {
    fn name(&self) -> &'static str {
        "FastNetMon (AF_PACKET)"
    }

    fn missing(&self) -> Option<String> {
        super::install::missing_program(&["fastnetmon", "curl"])
            .or_else(|| (!Path::new(TEMPLATE).is_file()).then(|| format!("no {TEMPLATE}")))
    }

    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured> {
        let config = write_config(lab, None)?;
        let mut fnm = start(lab, &config)?;
        let meter = Meter::start()?;
        let (cpu0, before) = (fnm.cpu_seconds()?, processed(lab)?);
        let sent = generator::send(lab, Traffic::Mix, count, rate)?;
        fnm.wait_idle(Duration::from_secs(10))?;
        let cpu1 = fnm.cpu_seconds()?;
        let window = meter.stop()?;
        let accounted = processed(lab)? - before;
        // Killed past the limit; the count is already taken.
        let _ = fnm.stop(libc::SIGTERM, Duration::from_secs(20));
        Ok(Measured {
            sent,
            accounted,
            cpu_s: cpu1 - cpu0,
            kernel_s: None,
            window,
            note: None,
        })
    }
}
