//! The seed-style pipeline (`bench/seed_pipeline.py`: a Scapy sniffer feeding scikit-learn's
//! IsolationForest) on the victim's interface. It runs in a virtualenv under the target
//! directory that sees Debian's python3-scapy and has scikit-learn from pip, created on
//! first use.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use super::{
    capacity::{Measured, Peer},
    generator::{self, Traffic},
    lab::{Lab, VICTIM_IF},
    meter::Meter,
};

pub struct Seed {
    pub script: PathBuf,
    pub venv: PathBuf,
    /// Why the virtualenv could not be made, if it could not.
    pub unavailable: Option<String>,
}

fn python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn imports_work(venv: &Path) -> bool {
    Command::new(python(venv))
        .args(["-c", "import scapy.all, sklearn, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn checked(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            super::proc::last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(())
}

/// Creates the virtualenv (Debian's python3 with its site packages, for scapy; scikit-learn
/// and numpy from pip) unless it already imports everything.
fn prepare(venv: &Path) -> Result<()> {
    if imports_work(venv) {
        return Ok(());
    }
    eprintln!(
        "creating {} (python3 with Debian's scapy; scikit-learn from pip)",
        venv.display()
    );
    checked(Command::new("/usr/bin/python3").args([
        "-m",
        "venv",
        "--system-site-packages",
        &venv.to_string_lossy(),
    ]))?;
    checked(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "scikit-learn",
        "numpy",
    ]))?;
    if !imports_work(venv) {
        bail!("the virtualenv cannot import scapy, sklearn and numpy");
    }
    Ok(())
}

impl Seed {
    pub fn new(root: &Path, target: &Path) -> Seed {
        let venv = target.join("seed-bench-venv");
        let unavailable = prepare(&venv).err().map(|e| format!("{e:#}"));
        Seed {
            script: root.join("bench").join("seed_pipeline.py"),
            venv,
            unavailable,
        }
    }
}

/// The `packets` field of the pipeline's JSON summary line.
fn summary_packets(stdout: &str) -> Option<u64> {
    let line = stdout.lines().rev().find(|l| l.starts_with('{'))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["packets"].as_u64()
}

impl Peer for Seed {
    fn name(&self) -> &'static str {
        "Scapy+sklearn seed"
    }

    fn missing(&self) -> Option<String> {
        self.unavailable.clone()
    }

    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured> {
        let py = python(&self.venv);
        let mut seed = lab.spawn(
            &lab.victim,
            "seed",
            &[
                &py.to_string_lossy(),
                &self.script.to_string_lossy(),
                VICTIM_IF,
            ],
        )?;
        seed.wait_for_output("ready", Duration::from_secs(120))?;
        let meter = Meter::start()?;
        let cpu0 = seed.cpu_seconds()?;
        let sent = generator::send(lab, Traffic::Mix, count, rate)?;
        seed.wait_idle(Duration::from_secs(60))?;
        let cpu1 = seed.cpu_seconds()?;
        let window = meter.stop()?;
        let status = seed.stop(libc::SIGTERM, Duration::from_secs(60))?;
        let Some(accounted) = summary_packets(&seed.stdout_text()) else {
            bail!(
                "the pipeline exited ({status}) without its summary: {}",
                super::proc::last_line(&seed.stderr_text())
            );
        };
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
