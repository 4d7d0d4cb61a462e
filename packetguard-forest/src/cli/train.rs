//! `train`: fit a model on a CSV of flow, host or source features and save it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use ndarray::Array2;
use packetguard_common::features::{FLOW_ROW_FEATURES, HOST_FEATURES, SOURCE_FEATURES};

use super::{open_input, parse_row, read_header, BadRows, PROGRESS_EVERY};
use crate::csv::CsvReader;
use crate::{Contamination, ForestParams, Model, Schema, Transform};

/// Which detector a model is for; picks the default feature list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// Per-flow features and their context (`FLOW_ROW_FEATURES`).
    Flow,
    /// Per-destination one-second windows (`HOST_FEATURES`).
    Host,
    /// Per-source one-second windows (`SOURCE_FEATURES`).
    Source,
}

impl ModelKind {
    /// Every kind, in the order `--kind` lists them.
    pub const ALL: [ModelKind; 3] = [ModelKind::Flow, ModelKind::Host, ModelKind::Source];

    /// The name recorded in model files and given to `--kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Flow => "flow",
            ModelKind::Host => "host",
            ModelKind::Source => "source",
        }
    }

    /// The kind a model file records, if it is one of ours.
    pub fn from_recorded(kind: &str) -> Option<ModelKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// What a model of this kind scores, for `model inspect`.
    pub fn describe(self) -> &'static str {
        match self {
            ModelKind::Flow => "flow records",
            ModelKind::Host => "per-destination one-second windows",
            ModelKind::Source => "per-source one-second windows",
        }
    }

    /// The feature names rows of this kind have, in the shared schema order.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            ModelKind::Flow => &FLOW_ROW_FEATURES,
            ModelKind::Host => &HOST_FEATURES,
            ModelKind::Source => &SOURCE_FEATURES,
        }
    }

    /// Every feature of this kind, in the shared schema order.
    pub fn default_features(self) -> Vec<String> {
        self.features().iter().map(|s| s.to_string()).collect()
    }
}

/// Arguments of `train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// CSV with a header row; columns other than the features are ignored.
    #[arg(long)]
    pub input: PathBuf,
    /// Model file to write (atomically), e.g. models/flow.pgm.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of trees.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Rows drawn for each tree (capped at the number of rows).
    #[arg(long, default_value_t = 256)]
    pub sample_size: usize,
    /// `auto` (threshold 0.5) or the expected share of anomalies in the input, in (0, 0.5].
    #[arg(long, default_value = "auto")]
    pub contamination: Contamination,
    /// Random seed; the same input and options give the same model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Feature columns, comma separated (default: every feature of --kind).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Detector the model is for.
    #[arg(long, value_enum, default_value_t = ModelKind::Flow)]
    pub kind: ModelKind,
    /// Transform applied to every feature before splitting: log1p suits counts, bytes and
    /// durations, which span orders of magnitude.
    #[arg(long, default_value = "log1p")]
    pub transform: Transform,
}

/// What `train` did, as printed.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub rows_used: usize,
    pub bad_rows: BadRows,
    pub threshold: f64,
    pub model_id: String,
    pub seconds: f64,
}

impl std::fmt::Display for TrainSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trained model {}: {} rows used, {}, threshold {:.6}, {:.2} s",
            self.model_id,
            self.rows_used,
            self.bad_rows.describe("skipped"),
            self.threshold,
            self.seconds
        )
    }
}

/// Reads the CSV, trains and saves; progress and bad-row warnings go to stderr.
pub fn train(args: &TrainArgs) -> anyhow::Result<TrainSummary> {
    let start = Instant::now();
    let names = args
        .features
        .clone()
        .unwrap_or_else(|| args.kind.default_features());
    let schema = Schema::uniform(&names, args.transform);
    schema
        .validate()
        .map_err(|e| anyhow::anyhow!("--features: {e}"))?;

    let mut reader = CsvReader::new(open_input(&args.input)?);
    let (header_len, positions) = read_header(&mut reader, &schema, &args.input)?;
    let input = args.input.display();

    let d = names.len();
    let mut values: Vec<f64> = Vec::new();
    let mut row = vec![0.0; d];
    let mut bad = BadRows::default();
    let mut rows = 0usize;
    while reader
        .next_record()
        .with_context(|| format!("reading {input}"))?
    {
        match parse_row(reader.fields(), header_len, &positions, &names, &mut row) {
            Ok(()) => {
                values.extend_from_slice(&row);
                rows += 1;
            }
            Err(reason) => {
                if bad.count == 0 {
                    eprintln!("{input}: line {}: skipping row: {reason}", reader.line_no());
                }
                bad.record(reader.line_no(), reason);
            }
        }
        let seen = rows + bad.count;
        if seen.is_multiple_of(PROGRESS_EVERY) {
            eprintln!("{input}: read {seen} rows ({} skipped)", bad.count);
        }
    }
    if bad.count > 0 {
        eprintln!("{input}: {}", bad.describe("skipped"));
    }
    if rows < 2 {
        anyhow::bail!("{input}: {rows} usable rows, at least 2 are needed to train");
    }

    let data = Array2::from_shape_vec((rows, d), values).expect("rows * features values");
    let params = ForestParams {
        trees: args.trees,
        sample_size: args.sample_size,
        contamination: args.contamination,
        seed: args.seed,
        kind: args.kind.as_str().to_string(),
        // Reproducible builds set SOURCE_DATE_EPOCH; then the file bytes repeat exactly.
        trained_unix: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.parse().ok()),
    };
    let model =
        Model::fit(data.view(), schema, &params).with_context(|| format!("training on {input}"))?;
    if let Some(dir) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    model.save(&args.out)?;
    Ok(TrainSummary {
        rows_used: rows,
        bad_rows: bad,
        threshold: model.threshold(),
        model_id: model.id(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `train` for the command line: prints the summary.
pub fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let summary = train(args)?;
    println!("{summary}");
    println!("wrote {}", args.out.display());
    Ok(())
}
