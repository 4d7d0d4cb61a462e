//! Project chores: `cargo xtask <command>`.
//!
//! - `build-ebpf`: installs the eBPF toolchain if missing, builds the XDP object.
//! - `run`: the quick start; builds everything and runs the agent.
//! - `test`: installs what the tests need and runs every test.
//! - `bench`: prints the benchmark figures, ours and the peers' side by side.
//! - `eval`: detection figures on the real captures in ../shared/captures, if present.
//! - `models`: rebuilds the default models in models/ from generated normal traffic.
//! - `install`: installs the agent, unit, config and models, and verifies the unit.
mod bench;
mod ebpf_build;
mod eval;
mod install;
mod models;
mod toolchain;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "PacketGuard build, test and benchmark chores")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the XDP object (installs nightly rust-src and bpf-linker when missing).
    BuildEbpf,
    /// Build in release mode and run the agent; arguments after `--` go to `packetguard`
    /// (default: `run`, the detector on the default route's interface with the shipped models).
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install test tools when missing and run every test in the workspace.
    Test {
        /// Extra arguments for `cargo test` (for example a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print benchmark figures (XDP cost per packet, ring buffer drain rate, forest, and
    /// capture capacity and detection delay beside FastNetMon, softflowd and a Scapy +
    /// scikit-learn pipeline).
    Bench {
        /// Skip the Isolation Forest comparison against scikit-learn and isotree.
        #[arg(long)]
        no_forest: bool,
        /// Skip the side-by-side comparison with the peers.
        #[arg(long, conflicts_with = "peers_only")]
        no_peers: bool,
        /// Run only the side-by-side comparison with the peers.
        #[arg(long)]
        peers_only: bool,
        /// Fewer packets and rates in the peers' capacity bench (under half the time).
        #[arg(long)]
        quick: bool,
    },
    /// Build and install the agent, systemd unit, example config, default models and docs,
    /// then check the unit with `systemd-analyze verify`.
    Install(install::Args),
    /// Print detection figures (per file and attack: detected, delay, per detector
    /// P/R/F1/AUC; false positives per hour) on the real captures in ../shared/captures and
    /// on simulated attacks in its benign ones. Without that folder, says so and succeeds.
    Eval,
    /// Rebuild the default models (models/flow.pgm, host.pgm, source.pgm) from generated normal
    /// traffic, with fixed seeds.
    Models,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn build_ebpf(root: &Path) -> Result<()> {
    toolchain::ensure_ebpf_toolchain()?;
    toolchain::run(&mut ebpf_build::build_command(root)).context("building the XDP object")?;
    eprintln!("XDP object: {}", ebpf_build::object_path(root).display());
    Ok(())
}

/// Builds the XDP object and the release agent; returns the agent's path. `progress` is
/// told what is about to be built.
fn build_release(root: &Path, progress: impl Fn(&str)) -> Result<PathBuf> {
    progress("building the XDP object");
    build_ebpf(root)?;
    progress("building the release agent (cargo build --release -p packetguard)");
    toolchain::run(cargo(root).args(["build", "--release", "-p", "packetguard"]))
        .context("building the release agent")?;
    Ok(target_dir(root).join("release").join("packetguard"))
}

/// Where cargo puts its output: $CARGO_TARGET_DIR (relative to the workspace when
/// relative), else target/.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"))
}

/// The peers' side-by-side figures, with the release agent.
fn peers_bench(root: &Path, quick: bool) -> Result<()> {
    let agent = build_release(root, |what| eprintln!("{what}"))?;
    bench::run(root, &target_dir(root), &agent, &bench::Plan::new(quick))
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .env("PATH", ebpf_build::path_with_cargo_bin());
    cmd
}

/// Runs the attack labs (network namespaces, the shipped models) and prints how long after
/// each attack's start the first event naming the right address was written, and the flow
/// model's ROC AUC of attack flows against quiet-phase flows. A failed lab is reported,
/// not fatal: its line says what it saw.
fn detection_delays(root: &Path) -> Result<()> {
    eprintln!("running the attack labs for the detection delays (about 2 minutes)");
    let out = cargo(root)
        .args([
            "test",
            "--quiet",
            "-p",
            "packetguard",
            "--test",
            "integration",
            "attack",
            "--",
            "--nocapture",
            "--test-threads",
            "2",
        ])
        .output()
        .context("running the attack labs")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "Detection in the attack labs (shipped models, agent in both mode; target within 2 s)"
    );
    if let Some(line) = stderr
        .lines()
        .find(|l| l.starts_with("flood start to first host anomaly event"))
    {
        println!("  syn_flood (hping3 -i u50)     {line}");
    }
    for l in stderr.lines() {
        let Some((name, rest)) = l.strip_prefix('[').and_then(|l| l.split_once("] ")) else {
            continue;
        };
        if let Some(d) = rest.strip_prefix("detected: ") {
            println!("  {name:<28} {}", d.split(';').next().unwrap_or(d));
        } else if rest.starts_with("FAIL: no event") {
            println!("  {name:<28} not detected: {}", &rest[6..]);
        } else if let Some(a) =
            rest.strip_prefix("flow model ROC AUC, attack flows against quiet-phase flows: ")
        {
            println!("  {name:<28} flow model ROC AUC {a}");
        }
    }
    if !out.status.success() {
        println!("  (some labs failed; their lines above say what they saw)");
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Cmd::BuildEbpf => build_ebpf(&root),
        Cmd::Run { args } => {
            build_ebpf(&root)?;
            let args = if args.is_empty() {
                vec!["run".to_string()]
            } else {
                args
            };
            toolchain::run(
                cargo(&root)
                    .args(["run", "--release", "--quiet", "-p", "packetguard", "--"])
                    .args(&args),
            )
        }
        Cmd::Test { args } => {
            build_ebpf(&root)?;
            toolchain::ensure_test_tools()?;
            toolchain::run(cargo(&root).args(["test", "--workspace"]).args(&args))
        }
        Cmd::Bench {
            no_forest,
            no_peers,
            peers_only,
            quick,
        } => {
            if peers_only {
                return peers_bench(&root, quick);
            }
            build_ebpf(&root)?;
            toolchain::ensure_test_tools()?;
            toolchain::run(cargo(&root).args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "packetguard",
                "--",
                "bench",
            ]))?;
            detection_delays(&root)?;
            if !no_forest {
                let script = root.join("packetguard-forest/bench/run.sh");
                if script.is_file() {
                    toolchain::run(Command::new("bash").arg(script).current_dir(&root))?;
                }
            }
            if !no_peers {
                peers_bench(&root, quick)?;
            }
            Ok(())
        }
        Cmd::Install(args) => install::run(&root, args),
        Cmd::Models => models::run(&root),
        Cmd::Eval => {
            let target = target_dir(&root);
            eval::run(
                &root,
                &target,
                &root.join("../shared/captures"),
                &target.join("eval"),
                // A release build: the evaluation analyses a few hundred captures, where
                // the optimised binary saves far more than its build costs.
                || {
                    toolchain::run(cargo(&root).args([
                        "build",
                        "--quiet",
                        "--release",
                        "-p",
                        "packetguard",
                    ]))
                    .context("building the agent")?;
                    Ok(target.join("release").join("packetguard"))
                },
            )
        }
    }
}
