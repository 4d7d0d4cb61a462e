//! The traffic generator: trafgen (netsniff-ng) in the generator namespace, sending fixed
//! counts of frames built from the packet configurations below into `g0`, at a fixed rate
//! or as fast as it can.
//!
//! Every address is documentation or benchmarking space: sources in 198.19.0.0/16 (and
//! 192.0.2.1 for markers), the victim 198.18.0.2; the frames go to the victim's MAC, so
//! nothing else can receive them.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::lab::{Lab, GEN_IF};

/// The mix: TCP SYN to port 80, TCP ACK to 443, UDP to 53 and ICMP echo, round robin, 54
/// to 60 bytes each. Each kind has 256 sources (198.19.K.0/24, random last byte) and 16
/// source ports or ICMP ids, so the mix holds up to 4 x 4096 flows.
/// Checksums are computed by trafgen for every packet (`csumip`, `csumtcp`, ...).
const MIX: &str = r#"
/* TCP SYN */
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, c16(0x0800),
  0x45, 0, c16(40), drnd(2), c16(0x4000), 64, 6, csumip(14, 33),
  198, 19, 0, drnd(1), 198, 18, 0, 2,
  0x9c, dinc(0, 15), c16(80), drnd(4), c32(0), c16(0x5002), c16(512), csumtcp(14, 34), c16(0) }
/* TCP ACK */
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, c16(0x0800),
  0x45, 0, c16(40), drnd(2), c16(0x4000), 64, 6, csumip(14, 33),
  198, 19, 1, drnd(1), 198, 18, 0, 2,
  0x9d, dinc(0, 15), c16(443), drnd(4), drnd(4), c16(0x5010), c16(512), csumtcp(14, 34), c16(0) }
/* UDP */
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, c16(0x0800),
  0x45, 0, c16(46), drnd(2), c16(0x4000), 64, 17, csumip(14, 33),
  198, 19, 2, drnd(1), 198, 18, 0, 2,
  0x9e, dinc(0, 15), c16(53), c16(26), csumudp(14, 34), fill(0x61, 18) }
/* ICMP echo */
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, c16(0x0800),
  0x45, 0, c16(44), drnd(2), c16(0x4000), 64, 1, csumip(14, 33),
  198, 19, 3, drnd(1), 198, 18, 0, 2,
  8, 0, csumicmp(34, 57), 0, dinc(0, 15), c16(1), fill(0x62, 16) }
"#;

/// A spoofed SYN flood at the victim's port 80: sources anywhere in 198.19.0.0/16, random
/// source ports, so every packet is a new flow from a new-looking host.
const SYN_FLOOD: &str = r#"
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, c16(0x0800),
  0x45, 0, c16(40), drnd(2), c16(0x4000), 64, 6, csumip(14, 33),
  198, 19, drnd(2), 198, 18, 0, 2,
  drnd(2), c16(80), drnd(4), c32(0), c16(0x5002), c16(512), csumtcp(14, 34), c16(0) }
"#;

/// UDP from 192.0.2.1 to the victim's port 9 (discard): frames the libpcap peer can be
/// pushed with and that its counts leave out by their port. The victim has no route to
/// 192.0.2.1, so its port-unreachable answers are never sent (from the generator's own
/// address they would be, and counted as the victim's outgoing traffic).
const MARKER: &str = r#"
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, c16(0x0800),
  0x45, 0, c16(46), drnd(2), c16(0x4000), 64, 17, csumip(14, 33),
  192, 0, 2, 1, 198, 18, 0, 2,
  c16(9), c16(9), c16(26), csumudp(14, 34), fill(0x6d, 18) }
"#;

/// How the generator runs, for the bench's headings.
pub const DESCRIPTION: &str =
    "trafgen, one process pinned to one core, its TX ring straight to the veth (no qdisc)";

/// The port of [`MARKER`] frames.
pub const MARKER_PORT: u16 = 9;

#[derive(Clone, Copy)]
pub enum Traffic {
    Mix,
    SynFlood,
    Marker,
}

/// What one send did: frames the generator's interface transmitted, how long it took, and
/// the generator's CPU (trafgen's processes, user + system, which with tick-based
/// accounting includes the veth's receive softirq work that ran on its CPU in its stead).
pub struct Sent {
    pub packets: u64,
    pub elapsed: Duration,
    pub cpu_s: f64,
}

impl Sent {
    pub fn rate(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Writes the configuration for `traffic` into the lab's directory.
fn config(lab: &Lab, traffic: Traffic) -> Result<PathBuf> {
    let (name, text) = match traffic {
        Traffic::Mix => ("mix.trafgen", MIX),
        Traffic::SynFlood => ("syn-flood.trafgen", SYN_FLOOD),
        Traffic::Marker => ("marker.trafgen", MARKER),
    };
    let path = lab.dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// trafgen's arguments: one process (one CPU, which trafgen pins it to), `count` frames,
/// `rate` per second or as fast as it can (0), the same random sequence every run
/// (`--seed`). trafgen bypasses the qdisc by default (`-q` would put it back), and with no
/// rate it sends from its memory-mapped TX ring; a larger ring (`-S 64MiB`) measured no
/// faster, nor did a second process (`--cpus 2`, both into the one veth), which would also
/// take the core the tools run on.
fn args(cfg: &str, count: u64, rate: u64) -> Vec<String> {
    let mut a: Vec<String> = [
        "trafgen",
        "--dev",
        GEN_IF,
        "--conf",
        cfg,
        "--cpus",
        "1",
        "--seed",
        "1",
        "--no-cpu-stats",
        "--num",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(count.to_string());
    if rate > 0 {
        a.push("--rate".into());
        a.push(format!("{rate}pps"));
    }
    a
}

/// Sends `count` frames of `traffic` at `rate` per second (0: as fast as possible) and
/// waits for the generator to finish (bounded: three times the nominal duration, or one
/// second per 10,000 frames when that is longer or there is no rate, plus 20 s).
pub fn send(lab: &Lab, traffic: Traffic, count: u64, rate: u64) -> Result<Sent> {
    let cfg = config(lab, traffic)?;
    let a = args(&cfg.to_string_lossy(), count, rate);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let before = lab.link_counter(&lab.gen, GEN_IF, "tx_packets")?;
    let start = Instant::now();
    // Nothing else is reaped between these two readings: the difference is trafgen's.
    let reaped = super::proc::reaped_children_cpu_seconds();
    let mut gen = lab.spawn(&lab.gen, "trafgen", &a)?;
    let nominal = if rate > 0 {
        count as f64 / rate as f64
    } else {
        0.0
    };
    let limit = Duration::from_secs_f64((3.0 * nominal).max(count as f64 / 1e4) + 20.0);
    let status = gen.wait(limit)?;
    let elapsed = start.elapsed();
    let cpu_s = super::proc::reaped_children_cpu_seconds() - reaped;
    if !status.success() {
        bail!(
            "trafgen failed ({status}): {}",
            super::proc::last_line(&gen.stderr_text())
        );
    }
    let packets = lab.link_counter(&lab.gen, GEN_IF, "tx_packets")? - before;
    Ok(Sent {
        packets,
        elapsed,
        cpu_s,
    })
}

/// Starts `count` frames of `traffic` at `rate` per second in the background; the flood
/// stops when the returned guard drops or when the count is sent.
pub fn start(lab: &Lab, traffic: Traffic, count: u64, rate: u64) -> Result<super::proc::Proc> {
    let cfg = config(lab, traffic)?;
    let a = args(&cfg.to_string_lossy(), count, rate);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    lab.spawn(&lab.gen, "flood", &a)
}
