//! The fuzz corpus (`fuzz/corpus/model/`), replayed through the function the fuzz target
//! runs, so the test suite checks on stable, without cargo-fuzz, every input the fuzzer
//! starts from or once crashed on.
//!
//! Files named `valid-*` must load, `bad-*` must be refused; any other name (inputs the
//! fuzzer found) must only pass the checks. `write_fuzz_corpus` regenerates the `valid-` and
//! `bad-` files:
//!
//! ```sh
//! cargo test -p packetguard-forest --test forest -- --ignored write_fuzz_corpus
//! ```

use std::path::PathBuf;

use ndarray::Array2;
use packetguard_forest::check::{
    check_model_bytes, decode_peak_bound, fuzz_one, sealed, CHECK_PATH,
};
use packetguard_forest::synth::clusters_with_noise;
use packetguard_forest::{Contamination, ForestParams, Model, Schema, Transform};

use crate::support::alloc::measure;
use crate::support::craft::{chain, patched, single_leaf, RawModel};

/// Decoding `bytes` peaks within the bound the fuzz target holds it to.
fn check_peak(name: &str, bytes: &[u8]) {
    let (result, usage) = measure(|| Model::from_bytes(bytes, std::path::Path::new(CHECK_PATH)));
    let bound = decode_peak_bound(bytes.len(), result.is_err());
    assert!(
        usage.peak <= bound,
        "{name}: {usage:?} for {} bytes",
        bytes.len()
    );
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/model")
}

#[test]
fn the_fuzz_corpus_replays_through_every_check() {
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("the corpus directory exists")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let (mut valid, mut bad, mut found) = (0, 0, 0);
    let mut total_bytes = 0;
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        total_bytes += bytes.len();
        if name.starts_with("valid-") {
            if let Err(e) = check_model_bytes(&bytes) {
                panic!("{name} is refused: {e}");
            }
            valid += 1;
        } else if name.starts_with("bad-") {
            assert!(check_model_bytes(&bytes).is_err(), "{name} loads");
            bad += 1;
        } else {
            found += 1;
        }
        fuzz_one(&bytes);
        check_peak(&name, &bytes);
        if let Some(sealed) = sealed(&bytes) {
            check_peak(&name, &sealed);
        }
    }
    assert!(
        valid >= 12 && bad >= 25,
        "{valid} valid, {bad} bad, {found} found"
    );
    assert!(
        total_bytes < 400 * 1024,
        "the corpus is {total_bytes} bytes"
    );
}

/// A trained model, reproducible to the byte.
fn trained(
    data: &Array2<f64>,
    transforms: &[Transform],
    trees: usize,
    psi: usize,
    contamination: Contamination,
) -> Vec<u8> {
    let names: Vec<String> = (0..data.ncols()).map(|i| format!("f{i}")).collect();
    let schema = Schema::new(
        names
            .iter()
            .zip(transforms)
            .map(|(n, &t)| packetguard_forest::Feature {
                name: n.clone(),
                transform: t,
            })
            .collect(),
    );
    let params = ForestParams {
        trees,
        sample_size: psi,
        contamination,
        seed: 7,
        trained_unix: Some(1_700_000_000),
        ..ForestParams::default()
    };
    Model::fit(data.view(), schema, &params).unwrap().to_bytes()
}

/// The seed files: valid models of every shape the walks treat differently, then damaged
/// and hostile variants.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let none = |d| vec![Transform::None; d];
    let data = |rows, d| clusters_with_noise(rows, d, 0.05, d as u64).0;
    let auto = Contamination::Auto;
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("valid-1f-psi4", trained(&data(50, 1), &none(1), 2, 4, auto)),
        (
            "valid-3f-auto",
            trained(&data(200, 3), &none(3), 5, 16, auto),
        ),
        (
            "valid-3f-fraction",
            trained(&data(200, 3), &none(3), 5, 16, Contamination::Fraction(0.1)),
        ),
        (
            "valid-4f-log1p",
            trained(
                &data(300, 4).mapv(|x| x * 1000.0),
                &[
                    Transform::Log1p,
                    Transform::None,
                    Transform::Log1p,
                    Transform::Log1p,
                ],
                6,
                32,
                auto,
            ),
        ),
        (
            "valid-32f-17trees",
            trained(&data(100, 32), &none(32), 17, 8, auto),
        ),
        ("valid-33f", trained(&data(100, 33), &none(33), 3, 8, auto)),
        (
            "valid-constant",
            trained(&Array2::from_elem((20, 2), 1.5), &none(2), 20, 8, auto),
        ),
        (
            "valid-psi2",
            trained(
                &ndarray::array![[0.0, 1.0], [1.0, 0.0]],
                &none(2),
                3,
                2,
                auto,
            ),
        ),
        (
            "valid-2f-psi64",
            trained(&data(400, 2), &none(2), 20, 64, auto),
        ),
    ];
    let mut deep = RawModel::new(1, 32_768);
    deep.trees.push(chain(15, 32_768));
    deep.trees.extend((0..100).map(|_| single_leaf(32_768)));
    files.push(("valid-deep-among-leaves", deep.bytes()));
    let mut chains = RawModel::new(2, 32_768);
    chains.trees = vec![chain(15, 32_768); 16];
    files.push(("valid-deep-chains", chains.bytes()));
    for (name, t) in [("valid-threshold-0", 0.0), ("valid-threshold-1", 1.0)] {
        let mut m = RawModel::new(2, 8);
        m.contamination = (1, 0.01);
        m.threshold = t;
        m.trees = vec![chain(3, 8), single_leaf(8)];
        files.push((name, m.bytes()));
    }

    let base = files[1].1.clone();
    let n = base.len();
    let mut bad: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [0, 7, 12, 19, 20, 30, n / 2, n - 1] {
        bad.push((format!("bad-truncated-{cut}"), base[..cut].to_vec()));
    }
    for at in [0, 9, 25, n / 2, n - 2] {
        let mut b = base.clone();
        b[at] ^= 0x40;
        bad.push((format!("bad-flipped-{at}"), b));
    }
    let mut trailing = base.clone();
    trailing.extend_from_slice(b"extra");
    bad.push(("bad-trailing".into(), trailing));
    // Valid checksums over values that would disable or distort detection. The model has 3
    // features named f0..f2 and kind "flow": the threshold is at 68, the contamination at
    // 59, the tree count at 43, the first node right after the five tree sizes.
    let threshold_at = 68;
    for (name, t) in [
        ("minus", -0.1),
        ("above-1", 1.5),
        ("nan", f64::NAN),
        ("auto-0.7", 0.7),
    ] {
        bad.push((
            format!("bad-threshold-{name}"),
            patched(&base, threshold_at, &f64::to_le_bytes(t)),
        ));
    }
    bad.push((
        "bad-auto-contamination".into(),
        patched(&base, 60, &0.25f64.to_le_bytes()),
    ));
    bad.push((
        "bad-tree-count".into(),
        patched(&base, 43, &100_000u32.to_le_bytes()),
    ));
    bad.push((
        "bad-feature-count".into(),
        patched(&base, 26, &256u16.to_le_bytes()),
    ));
    let nodes_at = 92 + 5 * 4;
    bad.push((
        "bad-nan-split".into(),
        patched(&base, nodes_at, &f32::NAN.to_le_bytes()),
    ));
    bad.push((
        "bad-split-feature".into(),
        patched(&base, nodes_at + 4, &3u16.to_le_bytes()),
    ));
    let mut leaves = RawModel::new(2, 8);
    leaves.trees = vec![chain(3, 8), single_leaf(8)];
    leaves.trees[0][1].value = 255.0;
    bad.push(("bad-leaf-value".into(), leaves.bytes()));
    let mut name = RawModel::new(2, 8);
    name.trees = vec![single_leaf(8)];
    name.features[0].0 = "a\nb".into();
    bad.push(("bad-name-newline".into(), name.bytes()));
    let mut contamination = RawModel::new(2, 8);
    contamination.trees = vec![single_leaf(8)];
    contamination.contamination = (1, 0.6);
    bad.push(("bad-contamination".into(), contamination.bytes()));

    let mut out: Vec<(String, Vec<u8>)> =
        files.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
    out.extend(bad);
    out.into_iter()
        .map(|(n, b)| (format!("{n}.pgm"), b))
        .collect()
}

#[test]
#[ignore = "writes fuzz/corpus/model; run by hand after a format change"]
fn write_fuzz_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in corpus() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn the_offsets_the_corpus_patches_are_the_fields_named() {
    // `corpus` edits fields of `valid-3f-auto` by offset; check each offset holds what
    // the name says, so a format change cannot silently turn the edits into noise.
    let files = corpus();
    let base = &files
        .iter()
        .find(|(n, _)| n == "valid-3f-auto.pgm")
        .unwrap()
        .1;
    let model = Model::from_bytes(base, std::path::Path::new("base")).unwrap();
    assert_eq!(&base[22..26], b"flow");
    assert_eq!(&base[26..28], &3u16.to_le_bytes());
    assert_eq!(&base[43..47], &5u32.to_le_bytes());
    assert_eq!(base[59], 0);
    assert_eq!(&base[60..68], &0f64.to_le_bytes());
    assert_eq!(&base[68..76], &0.5f64.to_le_bytes());
    assert_eq!(
        model.info().rows,
        u64::from_le_bytes(base[76..84].try_into().unwrap())
    );
    // The first node is the root of tree 0: a split of 16 rows.
    let root = &base[112..122];
    assert_eq!(&root[8..10], &16u16.to_le_bytes());
    assert_ne!(&root[4..6], &u16::MAX.to_le_bytes());
}
