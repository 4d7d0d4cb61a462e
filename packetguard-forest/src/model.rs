//! A trained model: schema, training metadata, threshold and trees; and training itself.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use ndarray::ArrayView2;

use crate::build::{grow_forest, height_limit};
use crate::error::ForestError;
use crate::forest::Forest;
use crate::format::MAX_FILE_BYTES;
use crate::path_length::average_path_length;
use crate::schema::Schema;
use crate::walk::{Compiled, Kernel};

/// Most trees a model may have (also caps what a corrupt file can claim).
pub const MAX_TREES: usize = 100_000;

/// Largest sub-sample size: trees then stay under 65,536 nodes, what 16-bit child offsets
/// address.
pub const MAX_SAMPLE_SIZE: usize = 32_768;

/// Tree counts training accepts and loading reads.
pub(crate) const TREE_COUNTS: RangeInclusive<usize> = 1..=MAX_TREES;

/// Sub-sample sizes training accepts and loading reads.
pub(crate) const SAMPLE_SIZES: RangeInclusive<usize> = 2..=MAX_SAMPLE_SIZE;

/// Score threshold of `contamination = auto`, as scikit-learn: a point whose expected path
/// length is exactly `c(psi)` scores 0.5.
pub const AUTO_THRESHOLD: f64 = 0.5;

/// How the anomaly threshold is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Contamination {
    /// Threshold 0.5, independent of the training data.
    #[default]
    Auto,
    /// Expected share of anomalies in the training data, in (0, 0.5]: the threshold is the
    /// `1 - fraction` quantile of the training rows' scores (linear interpolation, as
    /// numpy's default percentile, which scikit-learn uses).
    Fraction(f64),
}

impl Contamination {
    /// Whether `c` is a valid contamination fraction: in (0, 0.5], so not NaN.
    pub(crate) fn is_valid_fraction(c: f64) -> bool {
        c > 0.0 && c <= 0.5
    }
}

impl fmt::Display for Contamination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contamination::Auto => f.write_str("auto"),
            Contamination::Fraction(c) => write!(f, "{c}"),
        }
    }
}

impl FromStr for Contamination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Contamination::Auto);
        }
        let c: f64 = s
            .parse()
            .map_err(|_| format!("contamination {s:?} is neither auto nor a number"))?;
        if Contamination::is_valid_fraction(c) {
            Ok(Contamination::Fraction(c))
        } else {
            Err(format!("contamination {c} is outside (0, 0.5]"))
        }
    }
}

/// Training parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    /// Number of trees `t` (default 100).
    pub trees: usize,
    /// Sub-sample size `psi` (default 256), capped at the number of rows.
    pub sample_size: usize,
    pub contamination: Contamination,
    /// Seed of the ChaCha8 generator; the same data, parameters and seed give the same model.
    pub seed: u64,
    /// Which detector the model is for ("flow", "host"): stored, shown and used in the id.
    pub kind: String,
    /// Training time stored in the file; `None` takes the clock. Fixing it makes the file
    /// bytes reproducible.
    pub trained_unix: Option<u64>,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 100,
            sample_size: 256,
            contamination: Contamination::Auto,
            seed: 0,
            kind: "flow".into(),
            trained_unix: None,
        }
    }
}

/// What a model file records about its training.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingInfo {
    pub kind: String,
    pub trees: u32,
    /// The sub-sample size actually used (`min(psi, rows)`).
    pub sample_size: u32,
    pub seed: u64,
    pub contamination: Contamination,
    /// Scores strictly above this are anomalies.
    pub threshold: f64,
    /// Rows in the training data.
    pub rows: u64,
    /// Seconds since the Unix epoch.
    pub trained_unix: u64,
}

/// Normal or anomaly, from a score and the model threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Normal,
    Anomaly,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Normal => "normal",
            Verdict::Anomaly => "anomaly",
        }
    }
}

/// A trained Isolation Forest. Immutable after training or loading, so `Send + Sync`:
/// share one behind an `Arc` and score from any number of threads.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) schema: Schema,
    pub(crate) info: TrainingInfo,
    pub(crate) forest: Forest,
    /// The same trees in the branch-free scoring layout.
    pub(crate) compiled: Compiled,
    /// `-1 / (trees * c(psi))`: turns a sum of leaf path lengths into a `log2` score.
    pub(crate) scale: f64,
    /// CRC32 of the encoded file (everything before the checksum field).
    pub(crate) checksum: u32,
}

impl Model {
    /// Trains on `data` (rows x features, raw values in schema order).
    ///
    /// Fails on a bad schema or parameter, fewer than two rows, a column count that differs
    /// from the schema, or a NaN or infinity (reported with its row and column) in a row
    /// drawn into a tree, or in any row when a contamination fraction is set. With
    /// `contamination = auto`, rows never drawn are not read, which keeps training on a large
    /// matrix at the cost of the sub-samples; filter non-finite rows before training.
    pub fn fit(
        data: ArrayView2<f64>,
        schema: Schema,
        params: &ForestParams,
    ) -> Result<Model, ForestError> {
        let invalid = |name, reason: String| ForestError::InvalidParameter { name, reason };
        schema.validate().map_err(|r| invalid("schema", r))?;
        if !TREE_COUNTS.contains(&params.trees) {
            return Err(invalid(
                "trees",
                format!("{} is outside 1..={MAX_TREES}", params.trees),
            ));
        }
        if !SAMPLE_SIZES.contains(&params.sample_size) {
            return Err(invalid(
                "sample_size",
                format!("{} is outside 2..={MAX_SAMPLE_SIZE}", params.sample_size),
            ));
        }
        if params.kind.is_empty() || params.kind.len() > crate::schema::MAX_NAME_LEN {
            return Err(invalid(
                "kind",
                format!("{:?} is empty or too long", params.kind),
            ));
        }
        crate::schema::check_name(&params.kind).map_err(|e| invalid("kind", e))?;
        if let Contamination::Fraction(c) = params.contamination {
            if !Contamination::is_valid_fraction(c) {
                return Err(invalid("contamination", format!("{c} is outside (0, 0.5]")));
            }
        }
        if data.ncols() != schema.len() {
            return Err(ForestError::ColumnCount {
                expected: schema.len(),
                got: data.ncols(),
            });
        }
        let n = data.nrows();
        if n < 2 || n > u32::MAX as usize {
            return Err(invalid("data", format!("{n} rows (2 to 2^32 - 1 needed)")));
        }
        let non_finite = |(row, feature, value)| ForestError::NonFinite {
            row,
            feature,
            value,
        };
        // With a contamination fraction every row shapes the threshold, so every row must be
        // finite; otherwise only the rows drawn into trees matter, and growing checks those.
        if let Contamination::Fraction(_) = params.contamination {
            if let Some(bad) = first_non_finite(data) {
                return Err(non_finite(bad));
            }
        }

        let psi = params.sample_size.min(n);
        let d = schema.len();
        let transforms: Vec<_> = schema.features().iter().map(|f| f.transform).collect();
        let forest =
            grow_forest(data, &transforms, params.trees, psi, params.seed).map_err(non_finite)?;
        let trained_unix = params.trained_unix.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
        let mut model = Model {
            schema,
            info: TrainingInfo {
                kind: params.kind.clone(),
                trees: params.trees as u32,
                sample_size: psi as u32,
                seed: params.seed,
                contamination: params.contamination,
                threshold: AUTO_THRESHOLD,
                rows: n as u64,
                trained_unix,
            },
            scale: scale(params.trees, psi),
            compiled: Compiled::new(&forest, d),
            forest,
            checksum: 0,
        };
        // What could be written must load.
        let file_len = model.file_len() as u64;
        if file_len > MAX_FILE_BYTES {
            return Err(invalid(
                "trees",
                format!(
                    "the model would take {file_len} bytes, more than the {MAX_FILE_BYTES} a \
                     model file may hold: use fewer trees or a smaller sample size"
                ),
            ));
        }
        if let Contamination::Fraction(c) = params.contamination {
            let mut scores = vec![0.0; n];
            model.score_batch(data, &mut scores);
            model.info.threshold = quantile(&mut scores, 1.0 - c);
        }
        model.checksum = model.file_checksum();
        Ok(model)
    }

    /// The feature schema: raw values passed to scoring follow this order.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn info(&self) -> &TrainingInfo {
        &self.info
    }

    /// Scores strictly above this are anomalies; a score equal to it is normal.
    pub fn threshold(&self) -> f64 {
        self.info.threshold
    }

    pub fn n_features(&self) -> usize {
        self.schema.len()
    }

    /// Short stable name for metrics labels and events: `<kind>-<crc32 of the file>`, for
    /// example `flow-1a2b3c4d`. Two different models practically never share it, and the
    /// same file always gives the same one.
    pub fn id(&self) -> String {
        format!("{}-{:08x}", self.info.kind, self.checksum)
    }

    /// CRC32 of the model's file bytes (the value stored at the end of the file).
    pub fn checksum(&self) -> u32 {
        self.checksum
    }

    /// Total nodes over all trees.
    pub fn node_count(&self) -> usize {
        self.forest.nodes.len()
    }

    /// Bytes of the compact trees in memory (12 per node; 10 in the file).
    pub fn node_bytes(&self) -> usize {
        self.forest.nodes.len() * std::mem::size_of::<crate::forest::Node>()
    }

    /// Which scoring walk this CPU runs for the model: `avx512`, `avx2` or `scalar`
    /// (benchmarks print it; every walk gives the same scores).
    pub fn scoring_kernel(&self) -> &'static str {
        self.compiled.kernel().name()
    }

    /// Lays the trees out again for the scoring walk named `name` (as
    /// [`Model::scoring_kernel`] prints it), so benchmarks can time each walk this CPU runs;
    /// scores do not change. Fails, changing nothing, for a walk this CPU or model cannot run.
    pub fn use_scoring_kernel(&mut self, name: &str) -> Result<(), String> {
        let d = self.n_features();
        let available = Kernel::available(d);
        let Some(&kernel) = available.iter().find(|k| k.name() == name) else {
            let names: Vec<_> = available.iter().map(|k| k.name()).collect();
            return Err(format!(
                "not a walk this CPU runs for {d} features (these are: {})",
                names.join(", ")
            ));
        };
        self.compiled = Compiled::with_kernel(&self.forest, d, kernel);
        Ok(())
    }

    /// Bytes of the scoring layout kept beside the compact trees.
    pub fn scoring_bytes(&self) -> usize {
        self.compiled.bytes()
    }

    /// Heap bytes the model holds: schema, trees and scoring layout. For a loaded model at
    /// most [`MEMORY_FACTOR`](crate::MEMORY_FACTOR) times its file's length.
    pub fn heap_bytes(&self) -> usize {
        let schema: usize = self
            .schema
            .features()
            .iter()
            .map(|f| f.name.capacity())
            .sum::<usize>()
            + self.schema.capacity() * std::mem::size_of::<crate::schema::Feature>();
        let forest = self.forest.nodes.capacity() * std::mem::size_of::<crate::forest::Node>()
            + self.forest.trees.capacity() * std::mem::size_of::<crate::forest::TreeSpan>();
        self.info.kind.capacity() + schema + forest + self.compiled.bytes()
    }

    /// Mean and maximum leaf depth over all leaves.
    pub fn leaf_depths(&self) -> (f64, u32) {
        self.forest.leaf_depths()
    }

    /// Height limit the trees were grown with.
    pub fn height_limit(&self) -> u32 {
        height_limit(self.info.sample_size as usize)
    }
}

/// Row, column and value of the first NaN or infinity in `data`, if any.
fn first_non_finite(data: ArrayView2<f64>) -> Option<(usize, usize, f64)> {
    // Fast path without early exit, which the compiler vectorises.
    let all_finite = match data.as_slice() {
        Some(s) => s.iter().fold(true, |ok, v| ok & v.is_finite()),
        None => data.iter().all(|v| v.is_finite()),
    };
    if all_finite {
        return None;
    }
    data.indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|((r, c), v)| (r, c, *v))
}

/// Score scale for `trees` trees of sub-sample size `psi`.
pub(crate) fn scale(trees: usize, psi: usize) -> f64 {
    -1.0 / (trees as f64 * average_path_length(psi as u64))
}

/// The `q` quantile of `values` with linear interpolation between order statistics
/// (numpy's default). Sorts `values`.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    let frac = pos - lo as f64;
    values[lo] + (values[hi] - values[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        // np.percentile([1, 2, 3, 4], 90) == 3.7
        assert!((quantile(&mut [4.0, 1.0, 3.0, 2.0], 0.9) - 3.7).abs() < 1e-12);
        assert_eq!(quantile(&mut [5.0], 0.9), 5.0);
    }

    #[test]
    fn contamination_parses() {
        assert_eq!("auto".parse(), Ok(Contamination::Auto));
        assert_eq!("0.01".parse(), Ok(Contamination::Fraction(0.01)));
        assert!("0.6".parse::<Contamination>().is_err());
        assert!("0".parse::<Contamination>().is_err());
        assert!("x".parse::<Contamination>().is_err());
    }

    #[test]
    fn every_scoring_walk_this_cpu_runs_can_be_picked_and_scores_the_same() {
        let (data, _) = crate::synth::clusters_with_noise(500, 4, 0.05, 3);
        let schema = Schema::uniform(&["a", "b", "c", "d"], crate::Transform::None);
        let mut model = Model::fit(data.view(), schema, &ForestParams::default()).unwrap();
        let want: Vec<u64> = data
            .rows()
            .into_iter()
            .map(|r| model.score_one(&r.to_vec()).to_bits())
            .collect();
        for kernel in Kernel::available(4) {
            model.use_scoring_kernel(kernel.name()).unwrap();
            assert_eq!(model.scoring_kernel(), kernel.name());
            let mut got = vec![0.0; data.nrows()];
            model.score_batch(data.view(), &mut got);
            let got: Vec<u64> = got.iter().map(|s| s.to_bits()).collect();
            assert_eq!(got, want, "{kernel:?}");
        }
        let err = model.use_scoring_kernel("avx1024").unwrap_err();
        assert!(
            err.starts_with("not a walk this CPU runs for 4 features"),
            "{err}"
        );
        assert_eq!(
            model.scoring_kernel(),
            Kernel::available(4).last().unwrap().name()
        );
    }
}
