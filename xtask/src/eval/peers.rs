//! The peer forests on the evaluation's rows: every run's scored rows (`evaluate --rows`)
//! scored again by isotree and scikit-learn, trained on the shipped models' own generated
//! baseline (`packetguard-forest/bench/eval_peers.py`), and the ROC AUCs side by side.
//!
//! Like the rest of the evaluation it prints figures and judges none; when Python or its
//! packages cannot be had, it says so in one line and the evaluation goes on.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};

/// Where run `n` (named `name`) of the evaluation writes its rows.
pub fn run_dir(rows: &Path, n: usize, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    rows.join(format!("{n:04}-{safe}"))
}

/// Trains the peers on the recipe's baseline (generated with `agent` into `scratch`) and
/// prints their AUCs beside ours over the runs in `rows`.
pub fn print(root: &Path, target: &Path, agent: &Path, rows: &Path, scratch: &Path) -> Result<()> {
    let venv = Command::new("bash")
        .arg(root.join("packetguard-forest/bench/venv.sh"))
        .arg(target)
        .output()
        .context("running packetguard-forest/bench/venv.sh")?;
    if !venv.status.success() {
        let why = String::from_utf8_lossy(&venv.stderr);
        println!(
            "Peer forests: not run (no Python virtualenv with isotree and scikit-learn: {})",
            why.trim().lines().last().unwrap_or("no reason given")
        );
        return Ok(());
    }
    let python = String::from_utf8_lossy(&venv.stdout).trim().to_string();
    let training = crate::models::generate(agent, &scratch.join("training"))?;
    let mut cmd = Command::new(python);
    cmd.arg(root.join("packetguard-forest/bench/eval_peers.py"))
        .arg(rows)
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1");
    for t in &training {
        cmd.arg("--train")
            .arg(format!("{}={}:{}", t.kind, t.csv.display(), t.sample_size));
    }
    crate::toolchain::run(&mut cmd).context("scoring the evaluation's rows with the peer forests")
}
