//! `packetguard evaluate`: the verdicts of a capture's analysis against its labels, as a
//! table or JSON.
//!
//! [`run`] takes the analysis as a function: the binary passes
//! [`crate::commands::analyze::analysis`], the tests a fixed one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::evaluate::{evaluate, labels_of, read_labels, table, write_rows, DEFAULT_LINGER_NS};
use crate::events::Detector;
use crate::verdict::Verdict;

/// Evaluate detection on a labelled capture: precision, recall, F1, ROC AUC, delays.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The capture (or flow CSV) to analyse.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Ground truth: `simulate`'s labels, or the evaluation captures' labels.csv.
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    /// Directory of the models to analyse with [default: the shipped models].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Print the evaluation as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seconds after an attack's last packet that a verdict may still be about it (flow
    /// records are judged when the flow ends).
    #[arg(long, default_value_t = DEFAULT_LINGER_NS as f64 / 1e9)]
    pub linger: f64,
    /// Also write, into this directory, each model detector's scored rows as
    /// `<detector>.csv` (attack label, score, the model's feature values), for scoring by
    /// another forest [default: not written].
    #[arg(long, value_name = "DIR")]
    pub rows: Option<PathBuf>,
}

/// What the analysis of a capture gives the evaluation.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Every verdict, normal and anomalous.
    pub verdicts: Vec<Verdict>,
    /// The capture's first and last packet, nanoseconds since the epoch.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Each model's feature names per detector, the order of [`Verdict::values`].
    pub features: Vec<(Detector, Vec<String>)>,
}

/// Runs the evaluation, printing to stdout. `analyze(input, model, values)` is the
/// analysis of the capture (with `values`, each verdict carries its row's feature values):
/// the integration point with `analyze`.
pub fn run(
    args: EvaluateArgs,
    analyze: impl FnOnce(&Path, Option<&Path>, bool) -> Result<Analysis>,
) -> Result<()> {
    let stdout = std::io::stdout();
    run_to(&args, analyze, &mut stdout.lock())
}

/// [`run`], writing to `out`. Labels are read first, so a wrong labels file fails before
/// a long analysis.
pub fn run_to(
    args: &EvaluateArgs,
    analyze: impl FnOnce(&Path, Option<&Path>, bool) -> Result<Analysis>,
    out: &mut impl Write,
) -> Result<()> {
    if !(args.linger.is_finite() && args.linger >= 0.0) {
        anyhow::bail!("--linger {} must be 0 s or more", args.linger);
    }
    let labels = labels_of(read_labels(&args.labels)?, &args.input, &args.labels)?;
    if let Some(dir) = &args.rows {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the rows directory {}", dir.display()))?;
    }
    let analysis = analyze(&args.input, args.model.as_deref(), args.rows.is_some())?;
    let linger_ns = (args.linger * 1e9) as u64;
    let e = evaluate(
        &labels,
        &analysis.verdicts,
        analysis.first_ns,
        analysis.last_ns,
        linger_ns,
    );
    if let Some(dir) = &args.rows {
        for (path, n) in write_rows(
            dir,
            &labels,
            linger_ns,
            &analysis.verdicts,
            &analysis.features,
        )? {
            eprintln!("rows: {n} in {}", path.display());
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &e)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", table(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Detector, Subject};

    fn args(labels: &Path, json: bool) -> EvaluateArgs {
        EvaluateArgs {
            input: "lab.pcap".into(),
            labels: labels.to_path_buf(),
            model: None,
            json,
            linger: 0.0,
            rows: None,
        }
    }

    #[test]
    fn the_analysis_is_judged_against_the_labels() {
        let dir = std::env::temp_dir().join(format!("pg-evaluate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let labels = dir.join("labels.csv");
        std::fs::write(
            &labels,
            "attack,attacker,victim,start,end\nsyn-flood,203.0.113.66,192.0.2.10,10,20\n",
        )
        .unwrap();
        let verdict = |ts_s: u64, anomaly| Verdict {
            ts_ns: ts_s * 1_000_000_000,
            detector: Detector::Host,
            rule: None,
            subject: Subject::Host("192.0.2.10".parse().unwrap()),
            score: if anomaly { 0.9 } else { 0.1 },
            threshold: 0.6,
            anomaly,
            top_features: Vec::new(),
            values: Vec::new(),
        };
        let analyze = |input: &Path, model: Option<&Path>, values| {
            assert_eq!((input, model, values), (Path::new("lab.pcap"), None, false));
            Ok(Analysis {
                verdicts: vec![verdict(12, true), verdict(30, false)],
                first_ns: 0,
                last_ns: 100_000_000_000,
                features: Vec::new(),
            })
        };
        let mut out = Vec::new();
        run_to(&args(&labels, true), analyze, &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["detectors"][0]["precision"], 1.0);
        assert_eq!(json["detectors"][0]["roc_auc"], 1.0);
        assert_eq!(json["attacks"][0]["delays"][0]["delay_s"], 2.0);
        assert_eq!(json["benign_seconds"], 90.0);

        std::fs::write(&labels, "when,who\n").unwrap();
        let never =
            |_: &Path, _: Option<&Path>, _| -> Result<Analysis> { unreachable!("labels first") };
        let err = run_to(&args(&labels, false), never, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("wrong header 'when,who'"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
