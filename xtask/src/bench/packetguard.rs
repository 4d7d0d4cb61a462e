//! PacketGuard in the capacity bench: `packetguard collect` with XDP on the victim's
//! interface, packets accounted from its exit summary, CPU from its process and, for the
//! XDP program itself, from the kernel's BPF statistics (`run_time_ns`).
//!
//! It runs twice: in native mode, the default on a NIC whose driver has XDP, and in skb
//! (generic) mode. On a veth, native XDP switches the peer's receive to the veth driver's
//! own NAPI ring, whose cost the sender's core pays beside the program's; in skb mode the
//! program runs on the kernel's ordinary receive path, where AF_PACKET's tap is too.

use std::{path::PathBuf, process::Command, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    capacity::{Measured, Peer},
    generator::{self, Traffic},
    lab::{Lab, VICTIM_IF},
    meter::Meter,
};

/// Turns on `kernel.bpf_stats_enabled` (programs' `run_time_ns`/`run_cnt`) for the life of
/// the guard and puts back the value it found.
pub struct BpfStats {
    previous: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    pub fn enable() -> Result<BpfStats> {
        let previous =
            std::fs::read_to_string(BPF_STATS).with_context(|| format!("reading {BPF_STATS}"))?;
        std::fs::write(BPF_STATS, "1").with_context(|| format!("writing {BPF_STATS}"))?;
        Ok(BpfStats {
            previous: previous.trim().to_string(),
        })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.previous);
    }
}

/// Total kernel nanoseconds program `id` has run so far (`bpftool prog show`).
pub fn prog_run_time_ns(id: u32) -> Result<u64> {
    let out = Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string(), "--json"])
        .output()
        .context("cannot run bpftool")?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("bpftool prog show --json")?;
    // bpftool leaves the field out while it is zero (a program that has not run yet).
    Ok(v["run_time_ns"].as_u64().unwrap_or(0))
}

pub struct PacketGuard {
    pub bin: PathBuf,
    /// `--xdp-mode`: `native` or `skb`.
    pub mode: &'static str,
}

/// The packet count of `packetguard collect`'s summary line (`summary: packets N (...`).
fn summary_packets(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("summary: packets "))?;
    line["summary: packets ".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Peer for PacketGuard {
    fn name(&self) -> &'static str {
        match self.mode {
            "skb" => "PacketGuard (XDP skb)",
            _ => "PacketGuard (XDP)",
        }
    }

    fn missing(&self) -> Option<String> {
        (!self.bin.is_file()).then(|| format!("no agent at {}", self.bin.display()))
    }

    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured> {
        let csv = lab.dir.join("flows.csv");
        let bin = self.bin.to_string_lossy();
        let mut agent = lab.spawn(
            &lab.victim,
            "packetguard",
            &[
                &bin,
                "collect",
                "-i",
                VICTIM_IF,
                "--direction",
                "ingress",
                "--xdp-mode",
                self.mode,
                "-o",
                &csv.to_string_lossy(),
            ],
        )?;
        agent.wait_for_output("attached:", Duration::from_secs(60))?;
        let prog = lab
            .victim_xdp_prog()?
            .context("no XDP program on the victim's interface after `attached:`")?;
        let meter = Meter::start()?;
        let (cpu0, k0) = (agent.cpu_seconds()?, prog_run_time_ns(prog)?);
        let sent = generator::send(lab, Traffic::Mix, count, rate)?;
        agent.wait_idle(Duration::from_secs(10))?;
        let (cpu1, k1) = (agent.cpu_seconds()?, prog_run_time_ns(prog)?);
        let window = meter.stop()?;
        let status = agent.stop(libc::SIGINT, Duration::from_secs(60))?;
        let stderr = agent.stderr_text();
        let Some(accounted) = summary_packets(&stderr) else {
            bail!(
                "collect exited ({status}) without a summary: {}",
                super::proc::last_line(&stderr)
            );
        };
        let _ = std::fs::remove_file(&csv);
        Ok(Measured {
            sent,
            accounted,
            cpu_s: cpu1 - cpu0,
            kernel_s: Some((k1 - k0) as f64 / 1e9),
            window,
            note: None,
        })
    }
}
