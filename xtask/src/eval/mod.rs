//! `cargo xtask eval`: detection measured on real captures that are not the project's
//! (`../shared/captures`, see its README): `packetguard evaluate` on each attack file
//! against the folder's `labels.csv`, and on each benign file with each of `simulate`'s
//! attacks injected at its default rate. It prints one table, then the same rows scored
//! by isotree and scikit-learn ([`peers`]). It is an evaluation, not a test: its figures
//! never fail the run, but a command that crashes does.

mod peers;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// `simulate`'s attacks, each injected on its own into every benign file.
const ATTACKS: [&str; 6] = [
    "syn-flood",
    "udp-flood",
    "vertical-scan",
    "horizontal-scan",
    "brute-force",
    "exfiltration",
];

/// Runs the evaluation of the folder `captures` with the `packetguard` binary that
/// `agent` builds (only when the folder is there), its files in `scratch`; `root` and
/// `target` are the workspace and its cargo target directory (for the peers' virtualenv).
pub fn run(
    root: &Path,
    target: &Path,
    captures: &Path,
    scratch: &Path,
    agent: impl FnOnce() -> Result<PathBuf>,
) -> Result<()> {
    if !captures.join("labels.csv").is_file() {
        println!(
            "eval: no evaluation captures at {} (no labels.csv); nothing to evaluate",
            captures.display()
        );
        return Ok(());
    }
    let agent = &agent()?;
    let rows = scratch.join("rows");
    // Rows of an earlier evaluation would be scored again with this one's.
    if rows.exists() {
        std::fs::remove_dir_all(&rows)
            .with_context(|| format!("cannot empty {}", rows.display()))?;
    }
    std::fs::create_dir_all(scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let mut runs = 0;
    let mut next_run = |name: &str| {
        runs += 1;
        peers::run_dir(&rows, runs, name)
    };
    let mut out = String::new();
    writeln!(out, "Detection on real captures (shipped models)")?;
    writeln!(
        out,
        "{:<44} {:<18} {:<9} {:<16} per detector P/R/F1/AUC",
        "file", "attack", "detected", "first delay"
    )?;
    let labels = captures.join("labels.csv");
    let text = std::fs::read_to_string(&labels)
        .with_context(|| format!("cannot read {}", labels.display()))?;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let file = line.split(',').next().unwrap_or_default();
        let json = evaluate(agent, &captures.join(file), &labels, &next_run(file))?;
        table_rows(&mut out, file, &json)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Simulated attacks (default rates) in benign captures; FP/hour over the benign part of all six runs"
    )?;
    writeln!(
        out,
        "{:<44} {:<18} {:<9} {:<16} per detector P/R/F1/AUC",
        "file", "attack", "detected", "first delay"
    )?;
    let mut benign: Vec<PathBuf> = std::fs::read_dir(captures.join("benign"))
        .context("cannot list the benign captures")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    benign.sort();
    for path in &benign {
        let name = format!(
            "benign/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let (mut fps, mut seconds) = (BTreeMap::<String, u64>::new(), 0.0);
        for attack in ATTACKS {
            let (labelled, labels) = (scratch.join("labelled.pcap"), scratch.join("labels.csv"));
            let sim = Command::new(agent)
                .arg("simulate")
                .arg("--input")
                .arg(path)
                .args(["--attack", attack, "--out"])
                .arg(&labelled)
                .arg("--labels")
                .arg(&labels)
                .output()
                .context("running packetguard simulate")?;
            if !sim.status.success() {
                let why = String::from_utf8_lossy(&sim.stderr);
                writeln!(out, "{name:<44} {attack:<18} not simulated: {}", why.trim())?;
                continue;
            }
            let run = next_run(&format!("{name}-{attack}"));
            let json = evaluate(agent, &labelled, &labels, &run)?;
            table_rows(&mut out, &name, &json)?;
            seconds += json["benign_seconds"].as_f64().unwrap_or(0.0);
            for d in json["detectors"].as_array().into_iter().flatten() {
                let name = d["detector"].as_str().unwrap_or("?").to_string();
                *fps.entry(name).or_default() += d["benign_false_positives"].as_u64().unwrap_or(0);
            }
        }
        let per_hour = |n: u64| {
            if seconds > 0.0 {
                format!("{:.1}", n as f64 * 3600.0 / seconds)
            } else {
                "-".into()
            }
        };
        writeln!(
            out,
            "{name:<44} FP/hour over {seconds:.0} benign s: {}",
            fps.iter()
                .map(|(d, n)| format!("{d} {}", per_hour(*n)))
                .collect::<Vec<_>>()
                .join("  ")
        )?;
    }
    print!("{out}");
    println!();
    peers::print(root, target, agent, &rows, scratch)
}

/// `packetguard evaluate --json` of `input`, its scored rows written into `rows`; a failure
/// is an error naming the file.
fn evaluate(agent: &Path, input: &Path, labels: &Path, rows: &Path) -> Result<Value> {
    let out = Command::new(agent)
        .arg("evaluate")
        .arg("--input")
        .arg(input)
        .arg("--labels")
        .arg(labels)
        .arg("--json")
        .arg("--rows")
        .arg(rows)
        .output()
        .context("running packetguard evaluate")?;
    if !out.status.success() {
        bail!(
            "packetguard evaluate --input {} failed: {}",
            input.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("evaluate's JSON for {}", input.display()))
}

/// One table row per attack of an evaluation.
fn table_rows(out: &mut String, file: &str, json: &Value) -> Result<()> {
    let detectors: Vec<String> = json["detectors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let f = |k: &str| d[k].as_f64().map_or("-".into(), |v| format!("{v:.2}"));
            format!(
                "{} {}/{}/{}/{}",
                d["detector"].as_str().unwrap_or("?"),
                f("precision"),
                f("recall"),
                f("f1"),
                f("roc_auc")
            )
        })
        .collect();
    for a in json["attacks"].as_array().into_iter().flatten() {
        let first = a["delays"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d["delay_s"].as_f64()?, d["detector"].as_str()?)))
            .min_by(|x, y| x.0.total_cmp(&y.0));
        let (detected, delay) = match first {
            Some((s, d)) => ("yes", format!("{s:.3} s ({d})")),
            None => ("no", "missed".into()),
        };
        let attack: String = a["attack"]
            .as_str()
            .unwrap_or("?")
            .chars()
            .take(18)
            .collect();
        let file: String = file.chars().take(44).collect();
        writeln!(
            out,
            "{file:<44} {attack:<18} {detected:<9} {delay:<16} {}",
            detectors.join("  ")
        )?;
    }
    Ok(())
}
