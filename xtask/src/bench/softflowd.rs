//! softflowd (libpcap) on the victim's interface, exporting NetFlow v9 to nfcapd on the
//! victim's loopback; packets accounted are the packets of the flows nfdump reads back.
//!
//! libpcap's memory-mapped ring hands softflowd whole blocks; on this kernel the last,
//! partly filled block of a burst stays in the ring until more packets arrive. After the
//! burst the bench therefore sends marker frames (UDP port 9 from 192.0.2.1, which the mix
//! never uses), in bounded steps, until softflowd has processed at least as many packets
//! as libpcap had received before them; the markers' flows are left out of the count, and
//! their CPU (a small share) is in the figure.

use std::{path::Path, process::Command, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    capacity::{Measured, Peer},
    generator::{self, Traffic, MARKER_PORT},
    lab::{Lab, VICTIM_IF},
    meter::Meter,
};

/// Marker frames per step and the most steps.
const MARKER_STEP: u64 = 1000;
const MARKER_STEPS: usize = 10;

pub struct Softflowd;

/// `softflowctl statistics`: packets processed, received by libpcap, dropped by libpcap
/// (its ring was full: the kernel could not hand them over).
fn statistics(ctl: &Path) -> Result<(u64, u64, u64)> {
    let out = Command::new("softflowctl")
        .args(["-c", &ctl.to_string_lossy(), "statistics"])
        .output()
        .context("cannot run softflowctl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {name:?} in softflowctl statistics: {text}"))
    };
    Ok((
        field("Packets processed:")?,
        field("Packets received by libpcap:")?,
        field("Packets dropped by libpcap:")?,
    ))
}

/// The packets of every flow nfdump reads from `dir`, leaving out the marker frames'.
fn nfdump_packets(dir: &Path) -> Result<u64> {
    let filter = format!("not port {MARKER_PORT}");
    let out = Command::new("nfdump")
        .args([
            "-R",
            &dir.to_string_lossy(),
            "-q",
            "-N",
            "-o",
            "fmt:%pkt",
            &filter,
        ])
        .output()
        .context("cannot run nfdump")?;
    if !out.status.success() {
        bail!(
            "nfdump failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut total = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        total += line
            .parse::<u64>()
            .with_context(|| format!("nfdump printed {line:?} for a packet count"))?;
    }
    Ok(total)
}

impl Peer for Softflowd {
    fn name(&self) -> &'static str {
        "softflowd+nfcapd"
    }

    fn missing(&self) -> Option<String> {
        super::install::missing_program(&["softflowd", "softflowctl", "nfcapd", "nfdump"])
    }

    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured> {
        let flows = lab.dir.join("nfcapd");
        let _ = std::fs::remove_dir_all(&flows);
        std::fs::create_dir_all(&flows)?;
        let ctl = lab.dir.join("softflowd.ctl");
        let d = |p: &Path| p.to_string_lossy().into_owned();
        let mut nfcapd = lab.spawn(
            &lab.victim,
            "nfcapd",
            &[
                "nfcapd",
                "-w",
                &d(&flows),
                "-b",
                "127.0.0.1",
                "-p",
                "9995",
                "-B",
                "8388608",
                "-P",
                &d(&lab.dir.join("nfcapd.pid")),
            ],
        )?;
        nfcapd.wait_for_output("Startup nfcapd", Duration::from_secs(20))?;
        let mut sf = lab.spawn(
            &lab.victim,
            "softflowd",
            &[
                "softflowd",
                "-i",
                VICTIM_IF,
                "-n",
                "127.0.0.1:9995",
                "-v",
                "9",
                "-d",
                "-m",
                "65536",
                "-p",
                &d(&lab.dir.join("softflowd.pid")),
                "-c",
                &d(&ctl),
            ],
        )?;
        sf.wait_for_output("starting data collection", Duration::from_secs(20))?;
        let meter = Meter::start()?;
        let cpu0 = sf.cpu_seconds()? + nfcapd.cpu_seconds()?;
        let sent = generator::send(lab, Traffic::Mix, count, rate)?;
        sf.wait_idle(Duration::from_secs(10))?;
        let (_, received, _) = statistics(&ctl)?;
        for _ in 0..MARKER_STEPS {
            if statistics(&ctl)?.0 >= received {
                break;
            }
            generator::send(lab, Traffic::Marker, MARKER_STEP, 20_000)?;
            sf.wait_idle(Duration::from_secs(5))?;
        }
        let cpu1 = sf.cpu_seconds()? + nfcapd.cpu_seconds()?;
        let window = meter.stop()?;
        let (processed, received, dropped) = statistics(&ctl)?;
        // Exports every flow still in its table, then exits.
        Command::new("softflowctl")
            .args(["-c", &d(&ctl), "shutdown"])
            .output()
            .context("cannot run softflowctl")?;
        sf.wait(Duration::from_secs(20))?;
        nfcapd.wait_idle(Duration::from_secs(5))?;
        nfcapd.stop(libc::SIGTERM, Duration::from_secs(20))?;
        let accounted = nfdump_packets(&flows)?;
        Ok(Measured {
            sent,
            accounted,
            cpu_s: cpu1 - cpu0,
            kernel_s: None,
            window,
            note: Some(format!(
                "libpcap received {received} and dropped {dropped} (ring full), softflowd \
                 processed {processed}, markers included"
            )),
        })
    }
}
