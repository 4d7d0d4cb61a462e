//! Everything a model file is held to, as one function: the fuzz target
//! (`fuzz/fuzz_targets/model.rs`) runs it on arbitrary bytes, and the test suite replays the
//! fuzz corpus through it, so `cargo test` checks on stable what the fuzzer checks.
//!
//! Bytes either fail to load with a one-line error naming the file, or load into a model that
//! holds at most [`MEMORY_FACTOR`] bytes per file byte, writes back the same bytes, and scores
//! hostile rows (NaN, infinities, huge values, exact split thresholds) to the same score in
//! (0, 1] through every walk this CPU runs, equal to a plain `f64` sum over the preorder trees,
//! and explains them with shares that sum to 1.

use std::path::Path;

use ndarray::Array2;

use crate::cli::inspect_report;
use crate::format::{LOAD_PEAK_FACTOR, MEMORY_FACTOR};
use crate::schema::MAX_FEATURES;
use crate::walk::{Compiled, Kernel};
use crate::{Attribution, ForestError, Model, Verdict};

/// The name checked bytes are loaded under, which every error must carry.
pub const CHECK_PATH: &str = "checked-input.pgm";

/// Raw values every feature is probed with: both zeros, NaN, infinities, values beyond `f32`
/// (which become infinities), the extremes of `f64`, the smallest normal and subnormal.
const SPECIALS: [f64; 14] = [
    0.0,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e300,
    -1e300,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    5e-324,
    1.0,
    -1.0,
    3.4e38,
];

/// Split thresholds (the first ones in the file) whose exact values are probed, and the
/// values on either side of them.
const THRESHOLD_PROBES: usize = 8;

/// Most bytes an error allocates for its message and path, beyond what decoding had
/// allocated when it stopped.
pub const ERROR_BYTES: usize = 4096;

/// Most bytes decoding `len` bytes may have live at once: [`LOAD_PEAK_FACTOR`] per byte, and
/// for a refused file the message on top (a refusal late in decoding has allocated much of
/// the model). The fuzz target and the corpus replay count allocations against it.
pub fn decode_peak_bound(len: usize, refused: bool) -> usize {
    LOAD_PEAK_FACTOR * len + if refused { ERROR_BYTES } else { 0 }
}

/// What the fuzz target runs on each input: the bytes as they are, then sealed (their true
/// length and checksum written in), so that mutations also reach the content checks behind
/// the CRC.
pub fn fuzz_one(bytes: &[u8]) {
    let _ = check_model_bytes(bytes);
    if let Some(sealed) = sealed(bytes) {
        let _ = check_model_bytes(&sealed);
    }
}

/// `bytes` with the header's length field and the trailing CRC-32 rewritten to match them,
/// when they are long enough to hold a header and a checksum.
pub fn sealed(bytes: &[u8]) -> Option<Vec<u8>> {
    let n = bytes.len();
    if n < 24 {
        return None;
    }
    let mut b = bytes.to_vec();
    b[12..20].copy_from_slice(&(n as u64).to_le_bytes());
    let crc = crc32fast::hash(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    Some(b)
}

/// Loads `bytes` as a model file and checks every promise of loading, scoring and
/// explaining; panics on a broken one. Returns what loading returned.
pub fn check_model_bytes(bytes: &[u8]) -> Result<Model, ForestError> {
    let model = match Model::from_bytes(bytes, Path::new(CHECK_PATH)) {
        Ok(model) => model,
        Err(err) => {
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "error spans lines: {msg:?}");
            assert!(
                msg.contains(CHECK_PATH),
                "error does not name the file: {msg}"
            );
            return Err(err);
        }
    };
    let d = model.n_features();
    assert!(
        model.heap_bytes() <= MEMORY_FACTOR * bytes.len(),
        "{} heap bytes for a {}-byte file",
        model.heap_bytes(),
        bytes.len()
    );
    assert!(
        model.to_bytes() == bytes,
        "the model does not write back its file"
    );
    assert_eq!(model.file_len(), bytes.len());
    assert!((0.0..=1.0).contains(&model.threshold()));
    let report = inspect_report(&model, Path::new(CHECK_PATH));
    assert_eq!(report.lines().count(), 14 + d, "{report}");

    let rows = probe_rows(&model);
    let scalar = Compiled::with_kernel(&model.forest, d, Kernel::Scalar);
    let simd: Vec<Compiled> = Kernel::available(d)[1..]
        .iter()
        .map(|&k| Compiled::with_kernel(&model.forest, d, k))
        .collect();
    let mut want = Vec::with_capacity(rows.nrows());
    for row in rows.rows() {
        let row = row.to_vec();
        let mut buf = [0f32; MAX_FEATURES];
        let walk_row = model.transform_row(&row, &mut buf);
        let sum = reference_sum(&model, walk_row);
        assert_eq!(scalar.walk_one(walk_row).to_bits(), sum.to_bits());
        assert_eq!(model.compiled.walk_one(walk_row).to_bits(), sum.to_bits());
        for simd in &simd {
            let got = simd.walk_one(walk_row);
            assert_eq!(got.to_bits(), sum.to_bits(), "{:?}", simd.kernel());
        }
        let score = model.score_one(&row);
        assert_eq!(score.to_bits(), model.to_score(sum).to_bits());
        assert!(score > 0.0 && score <= 1.0, "score {score}");
        let anomaly = score > model.threshold();
        assert_eq!(model.predict(&row) == Verdict::Anomaly, anomaly);
        check_explanation(&model, &row);
        want.push(score);
    }
    let mut batch = vec![f64::NAN; rows.nrows()];
    model.score_batch(rows.view(), &mut batch);
    assert_eq!(bits(&batch), bits(&want));
    for layout in std::iter::once(&scalar).chain(&simd) {
        let kernel = layout.kernel();
        let mut sums = vec![f64::NAN; rows.nrows()];
        layout.walk_batch(
            rows.nrows(),
            |i, buf| {
                let mut full = [0f32; MAX_FEATURES];
                let r = model.transform_row(&rows.row(i).to_vec(), &mut full);
                buf.copy_from_slice(r);
            },
            |i, s| sums[i] = model.to_score(s),
        );
        assert_eq!(bits(&sums), bits(&want), "{kernel:?}");
    }
    Ok(model)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Rows of specials (all features alike, then mixed) and of split thresholds.
fn probe_rows(model: &Model) -> Array2<f64> {
    let d = model.n_features();
    let mut values: Vec<f64> = SPECIALS.to_vec();
    let splits = model.forest.nodes.iter().filter(|n| !n.is_leaf());
    for n in splits.take(THRESHOLD_PROBES) {
        let t = f64::from(n.value);
        values.extend([
            t,
            f64::from(n.value.next_down()),
            f64::from(n.value.next_up()),
        ]);
    }
    let uniform = values.len();
    let mixed = SPECIALS.len();
    Array2::from_shape_fn((uniform + mixed, d), |(i, j)| {
        if i < uniform {
            values[i]
        } else {
            values[(i + j) % values.len()]
        }
    })
}

/// The sum of the leaf path lengths `row` (transformed) reaches, walking each preorder tree
/// in file order and adding in `f64`: independent of both scoring layouts.
fn reference_sum(model: &Model, row: &[f32]) -> f64 {
    let forest = &model.forest;
    let mut sum = 0.0;
    for t in &forest.trees {
        let nodes = forest.tree(t);
        let mut p = 0;
        while !nodes[p].is_leaf() {
            let n = nodes[p];
            p += if row[usize::from(n.feature)] < n.value {
                1
            } else {
                usize::from(n.right)
            };
        }
        sum += f64::from(nodes[p].value);
    }
    sum
}

/// Shares are in (0, 1], sum to 1, come highest first with distinct features, and the
/// top three are the first three of the full list.
fn check_explanation(model: &Model, row: &[f64]) {
    let d = model.n_features();
    let mut all = vec![Attribution::default(); d];
    let n = model.explain_into(row, &mut all);
    let all = &all[..n];
    for (k, a) in all.iter().enumerate() {
        assert!(a.feature < d && a.weight > 0.0 && a.weight <= 1.0, "{a:?}");
        assert!(all[..k].iter().all(|b| b.feature != a.feature));
        if k > 0 {
            let prev = all[k - 1];
            assert!(
                prev.weight > a.weight || (prev.weight == a.weight && prev.feature < a.feature),
                "{all:?}"
            );
        }
    }
    if n > 0 {
        let total: f64 = all.iter().map(|a| a.weight).sum();
        assert!((total - 1.0).abs() < 1e-9, "shares sum to {total}");
    }
    assert_eq!(model.explain(row, 3), all[..n.min(3)]);
}
