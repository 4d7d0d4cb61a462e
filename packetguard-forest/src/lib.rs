//! Isolation Forest for PacketGuard (Liu, Ting and Zhou, ICDM 2008), written for scoring
//! flows at line rate.
//!
//! - Training: [`Model::fit`] over an `ndarray` matrix of raw values, with a [`Schema`]
//!   naming each column and its [`Transform`].
//! - Scoring: [`Model::score_one`] and [`Model::score_batch`], which walk [`LANES`] trees
//!   together (AVX-512 or AVX2 gathers per level where the CPU has them, chosen at run time). Scores equal scikit-learn's
//!   `-score_samples`; [`Model::verdict`] compares with the threshold chosen by
//!   [`Contamination`].
//! - Explanations: [`Model::explain_into`] says which features isolated a point.
//! - Files: [`Model::save`] (atomic) and [`Model::load`] / [`Model::load_expecting`], in the
//!   versioned, checksummed format of `models/README.md`.
//! - Command-line logic: [`cli`], for the agent's `train`, `score` and `model inspect`.
//!
//! # Layout
//!
//! - [`path_length`] gives `c(n)`.
//! - `rng`, `build`: seeded random draws and tree growing; `build_avx512`: the growing scans
//!   with AVX-512 gathers, giving the same trees.
//! - `forest`: the compact preorder node array (files, explanations); `walk`: the
//!   branch-free breadth-first layout scoring uses, with its scalar walk; `walk_avx512` and
//!   `walk_avx2`: the same walk with AVX-512 or AVX2 gathers, bit-identical; `fill`:
//!   writing trees into that layout; `layout`: which trees are worth padding (the memory bound); `sparse`: the preorder walk of the
//!   others.
//! - `model`, `score`, `explain`: the [`Model`] type and what it does; `format`: the file
//!   envelope and writing; `decode`: the content checks of loading.
//! - [`check`] holds every promise about model files in one function, which the fuzz target
//!   and the corpus replay test run.
//! - [`csv`] is the small CSV reader the command-line functions use.
//! - [`synth`] makes seeded synthetic data and computes ROC AUC for tests and benchmarks.

pub mod check;
pub mod cli;
pub mod csv;
pub mod path_length;
pub mod synth;

mod build;
#[cfg(target_arch = "x86_64")]
mod build_avx512;
mod decode;
mod error;
mod explain;
mod fill;
mod forest;
mod format;
mod layout;
mod model;
mod rng;
mod schema;
mod score;
mod sparse;
mod walk;
#[cfg(target_arch = "x86_64")]
mod walk_avx2;
#[cfg(target_arch = "x86_64")]
mod walk_avx512;

pub use build::height_limit;
pub use error::ForestError;
pub use explain::Attribution;
pub use format::{FORMAT_VERSION, LOAD_PEAK_FACTOR, MAGIC, MAX_FILE_BYTES, MEMORY_FACTOR};
pub use model::{
    quantile, Contamination, ForestParams, Model, TrainingInfo, Verdict, AUTO_THRESHOLD,
    MAX_SAMPLE_SIZE, MAX_TREES,
};
pub use schema::{Feature, Schema, Transform, MAX_FEATURES, MAX_NAME_LEN};
pub use score::LANES;

/// Checked at compile time: models are shared between scoring threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Model>();
};
