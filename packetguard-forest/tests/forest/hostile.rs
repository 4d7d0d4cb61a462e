//! Files crafted to hurt: small files that ask for huge memory, and files whose CRC is right
//! but whose values would switch a detector off. Each is refused with one line naming the
//! file, or loads within the documented memory bound, measured by the counting allocator.

use std::path::{Path, PathBuf};

use packetguard_forest::path_length::average_path_length;
use packetguard_forest::{
    check, ForestError, Model, LOAD_PEAK_FACTOR, MAX_FILE_BYTES, MEMORY_FACTOR,
};

use crate::support::alloc::measure;
use crate::support::craft::{chain, one_split, patched, single_leaf, RawModel};
use crate::{small_model, temp_dir};

/// Lines of one group of sixteen trees padded to `depth`, 64 bytes each.
fn group_bytes(depth: u32) -> u64 {
    64 * (3 * (1u64 << depth) - 2)
}

/// Writes `bytes` to a fresh file for `test`.
fn file(test: &str, bytes: &[u8]) -> PathBuf {
    let path = temp_dir(test).join("model.pgm");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Loads `bytes` from a file, expecting a refusal: returns the message after checking it is
/// one line that names the file.
fn refused(test: &str, bytes: &[u8]) -> String {
    let path = file(test, bytes);
    let err = Model::load(&path).expect_err("the file must be refused");
    let msg = err.to_string();
    let prefix = format!("model file {}: ", path.display());
    assert!(msg.starts_with(&prefix), "{msg}");
    assert!(!msg.contains('\n'), "{msg:?}");
    msg[prefix.len()..].to_string()
}

/// Loads `bytes` from a file, measuring what loading allocates, and checks the bounds: the
/// model keeps at most `MEMORY_FACTOR` bytes per file byte (exactly what `heap_bytes`
/// reports), and loading peaks at most `LOAD_PEAK_FACTOR` bytes per file byte.
fn load_measured(test: &str, bytes: &[u8]) -> Model {
    let path = file(test, bytes);
    let (model, usage) = measure(|| Model::load(&path).expect("the file loads"));
    let len = bytes.len();
    assert_eq!(usage.retained, model.heap_bytes());
    assert!(
        usage.retained <= MEMORY_FACTOR * len,
        "{usage:?} for {len} bytes"
    );
    assert!(
        usage.peak <= LOAD_PEAK_FACTOR * len,
        "{usage:?} for {len} bytes"
    );
    model
}

/// One chain of the full height (15 levels at psi 32,768) and `leaves` single-leaf trees.
fn deep_among_leaves(leaves: usize) -> RawModel {
    let mut m = RawModel::new(1, 32_768);
    m.trees.push(chain(15, 32_768));
    m.trees.extend((0..leaves).map(|_| single_leaf(32_768)));
    m
}

#[test]
fn one_deep_tree_among_single_leaves_loads_within_the_memory_bound() {
    let m = deep_among_leaves(1_999);
    let bytes = m.bytes();
    assert_eq!(bytes.len(), 28_386);
    // Padding every tree to the deepest, 125 groups of depth 15 would take 786 MB.
    assert_eq!(125 * group_bytes(15), 786_416_000);
    let model = load_measured("deep-among-leaves", &bytes);
    // Every row takes the chain's last leaf or one of its single-row leaves; NaN goes right
    // at every split, to depth 15 with the 32,753 rows left.
    let c = |n| average_path_length(n);
    let leaf = (c(32_768) as f32) as f64;
    let last = ((15.0 + c(32_753)) as f32) as f64;
    let scale = -1.0 / (2_000.0 * c(32_768));
    let want = ((1_999.0 * leaf + last) * scale).exp2();
    assert_eq!(model.score_one(&[f64::NAN]).to_bits(), want.to_bits());
    check::check_model_bytes(&bytes).unwrap();
}

#[test]
fn the_largest_such_file_loads_within_the_memory_bound() {
    // 100,000 trees, the most a file may hold: 1.4 MB that, padded to the deepest tree would
    // ask for 6,250 groups of 6.3 MB, 39 GB.
    let bytes = deep_among_leaves(99_999).bytes();
    assert_eq!(bytes.len(), 1_400_386);
    assert_eq!(6_250 * group_bytes(15), 39_320_800_000);
    load_measured("largest-deep-among-leaves", &bytes);
}

#[test]
fn deep_chains_alone_load_within_the_memory_bound() {
    // Sixteen chains: 5 KB that one padded group would turn into 6.3 MB.
    let mut m = RawModel::new(2, 32_768);
    m.trees = vec![chain(15, 32_768); 16];
    let bytes = m.bytes();
    assert_eq!(bytes.len(), 5_115);
    let model = load_measured("deep-chains", &bytes);
    assert!(model.scoring_bytes() < bytes.len());
    check::check_model_bytes(&bytes).unwrap();
}

#[test]
fn the_most_features_with_the_shortest_names_stay_within_the_memory_bound() {
    // Schema records (32 bytes each) against 4 or 5 file bytes per feature: the least file
    // per byte of memory a model can have. The 95 printable one-byte names, then two-byte
    // ones.
    let mut m = RawModel::new(0, 8);
    let one = (b' '..=b'~').map(|c| char::from(c).to_string());
    let two = (b'a'..=b'z')
        .flat_map(|a| (b'a'..=b'z').map(move |b| format!("{}{}", a as char, b as char)));
    m.features = one.chain(two).take(256).map(|n| (n, 0)).collect();
    m.trees = vec![single_leaf(8)];
    let bytes = m.bytes();
    assert_eq!(bytes.len(), 1_280);
    let model = load_measured("short-names", &bytes);
    assert_eq!(model.n_features(), 256);
    check::check_model_bytes(&bytes).unwrap();
}

#[test]
fn a_tree_count_the_file_cannot_hold_is_refused_before_anything_is_sized_from_it() {
    let mut m = RawModel::new(1, 8);
    m.trees = vec![single_leaf(8)];
    m.tree_count = Some(100_000);
    let path = file("tree-count", &m.bytes());
    let (err, usage) = measure(|| Model::load(&path).unwrap_err());
    assert_eq!(
        err.to_string(),
        format!(
            "model file {}: malformed: 100000 trees need at least 1400000 bytes, 14 remain",
            path.display()
        )
    );
    // Sizing a list of tree records from the count would take 800 KB or more.
    assert!(usage.peak < 8 * 1024, "{usage:?}");
}

#[test]
fn a_feature_count_the_file_cannot_hold_is_refused() {
    let mut m = RawModel::new(1, 8);
    m.trees = vec![single_leaf(8)];
    let mut bytes = m.bytes();
    // Feature count (after the 4-byte kind "flow") claims 256; the file holds one.
    bytes = patched(&bytes, 26, &256u16.to_le_bytes());
    assert_eq!(
        refused("feature-count", &bytes),
        "malformed: 256 features need at least 1024 bytes, 68 remain"
    );
}

#[test]
fn a_file_over_the_size_cap_is_refused_unread() {
    let path = temp_dir("oversized").join("model.pgm");
    let f = std::fs::File::create(&path).unwrap();
    // Sparse on disk: nothing is written.
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let (err, usage) = measure(|| Model::load(&path).unwrap_err());
    assert!(matches!(err, ForestError::TooLarge { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "model file {}: too large: 268435457 bytes, more than the 268435456 bytes (256 MiB) a model file may hold",
            path.display()
        )
    );
    assert!(usage.peak < 8 * 1024, "{usage:?}");
    std::fs::remove_file(&path).unwrap();
}

/// Offset of the threshold in the file of `model`: after the kind, the features, tree count,
/// sample size, seed, contamination kind and value.
fn threshold_offset(model: &Model) -> usize {
    let names: usize = model.schema().names().map(|n| 2 + n.len() + 1).sum();
    20 + 2 + model.info().kind.len() + 2 + names + 4 + 4 + 8 + 1 + 8
}

#[test]
fn thresholds_outside_the_range_of_scores_are_refused() {
    let (model, _) = small_model(3, 1);
    let bytes = model.to_bytes();
    let at = threshold_offset(&model);
    assert_eq!(&bytes[at..at + 8], &0.5f64.to_le_bytes());
    for (t, shown) in [
        (-0.1, "-0.1"),
        (1.5, "1.5"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let edited = patched(&bytes, at, &t.to_le_bytes());
        assert_eq!(
            refused("threshold", &edited),
            format!("malformed: threshold {shown} is outside [0, 1], the range of scores")
        );
    }
    // Inside the range, an auto model still must use 0.5.
    let edited = patched(&bytes, at, &0.7f64.to_le_bytes());
    assert_eq!(
        refused("threshold-auto", &edited),
        "malformed: threshold 0.7 with contamination auto (0.5 expected)"
    );
}

/// A valid model with a contamination fraction, built by hand.
fn fraction_model(threshold: f64) -> RawModel {
    let mut m = RawModel::new(2, 8);
    m.contamination = (1, 0.01);
    m.threshold = threshold;
    m.trees = vec![one_split(8), single_leaf(8), one_split(8)];
    m
}

#[test]
fn thresholds_at_the_ends_of_the_range_load() {
    for t in [0.0, 0.625, 1.0] {
        let bytes = fraction_model(t).bytes();
        let model = load_measured("threshold-ends", &bytes);
        assert_eq!(model.threshold(), t);
    }
}

#[test]
fn contamination_outside_its_range_is_refused() {
    for (kind, value, want) in [
        (1, 0.0, "contamination 0 is outside (0, 0.5]"),
        (1, 0.6, "contamination 0.6 is outside (0, 0.5]"),
        (1, -0.1, "contamination -0.1 is outside (0, 0.5]"),
        (1, f64::NAN, "contamination NaN is outside (0, 0.5]"),
        (
            0,
            0.1,
            "contamination kind 0 (auto) with value 0.1 (0 expected)",
        ),
        (
            0,
            -0.0,
            "contamination kind 0 (auto) with value -0 (0 expected)",
        ),
        (2, 0.1, "unknown contamination kind 2"),
    ] {
        let mut m = fraction_model(0.6);
        m.contamination = (kind, value);
        assert_eq!(
            refused("contamination", &m.bytes()),
            format!("malformed: {want}")
        );
    }
}

#[test]
fn values_that_distort_the_trees_are_refused() {
    type Edit = fn(&mut RawModel);
    let cases: [(Edit, &str); 9] = [
        (
            |m| m.trees[0][0].value = f32::NAN,
            "tree 0: node 0 has split threshold NaN",
        ),
        (
            |m| m.trees[0][0].feature = 2,
            "tree 0: node 0 splits on feature 2 of 2",
        ),
        (
            |m| m.trees[2][1].value = 255.0,
            "tree 2: leaf 1 has path length 255, training gives 1 at depth 1 with 1 rows",
        ),
        (
            |m| m.trees[1][0].value = 0.0,
            "tree 1: leaf 0 has path length 0, training gives 3.4357142 at depth 0 with 8 rows",
        ),
        (
            |m| {
                m.trees[0] = one_split(6);
            },
            "tree 0: root holds 6 rows, the sample size is 8",
        ),
        (
            |m| m.rows = 7,
            "trained on 7 rows, fewer than its sample size 8",
        ),
        (
            |m| m.tree_count = Some(2),
            "4 nodes need 40 bytes, 74 remain",
        ),
        (
            |m| m.tree_sizes = Some(vec![3, 1, 2]),
            "6 nodes need 60 bytes, 70 remain",
        ),
        (
            |m| m.tree_sizes = Some(vec![2, 2, 3]),
            "tree 0: node 0 has a child past the end of the tree",
        ),
    ];
    for (edit, want) in cases {
        let mut m = fraction_model(0.6);
        edit(&mut m);
        assert_eq!(
            refused("distorted", &m.bytes()),
            format!("malformed: {want}")
        );
    }
}

#[test]
fn names_with_control_characters_are_refused_in_one_line() {
    let mut m = fraction_model(0.6);
    m.features[1].0 = "syn\ncount".into();
    assert_eq!(
        refused("name", &m.bytes()),
        r#"malformed: feature name "syn\ncount" holds the control character '\n'"#
    );
    let mut m = fraction_model(0.6);
    m.kind = "flow\u{1b}[2J".into();
    assert_eq!(
        refused("kind", &m.bytes()),
        r#"malformed: kind "flow\u{1b}[2J" holds the control character '\u{1b}'"#
    );
}

#[test]
fn shipped_models_pass_every_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    for name in ["flow.pgm", "host.pgm"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        check::check_model_bytes(&bytes).unwrap();
        load_measured("shipped", &bytes);
    }
}
