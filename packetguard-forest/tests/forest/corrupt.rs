//! Every way a model file can be damaged gives a clear error naming the file, never a panic.

use std::path::{Path, PathBuf};

use packetguard_forest::{ForestError, Model, FORMAT_VERSION};

use crate::support::craft::crc32;
use crate::{small_model, temp_dir};

/// Saves a small model and returns its path and bytes.
fn saved(test: &str) -> (PathBuf, Vec<u8>) {
    let dir = temp_dir(test);
    let path = dir.join("flow.pgm");
    let (model, _) = small_model(3, 1);
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn load_bytes(path: &Path, bytes: &[u8]) -> ForestError {
    std::fs::write(path, bytes).unwrap();
    let err = Model::load(path).expect_err("damaged file must not load");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    err
}

#[test]
fn round_trip_keeps_everything() {
    let (path, bytes) = saved("round-trip");
    let (model, data) = small_model(3, 1);
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.to_bytes(), bytes);
    assert_eq!(loaded.id(), model.id());
    assert_eq!(loaded.info(), model.info());
    assert_eq!(loaded.schema(), model.schema());
    let row = data.row(3).to_vec();
    assert_eq!(loaded.score_one(&row), model.score_one(&row));
    assert!(
        model.id().starts_with("flow-") && model.id().len() == 13,
        "{}",
        model.id()
    );
    // No temporary file is left beside the model.
    let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn truncated_at_any_offset_is_reported_as_truncated() {
    let (path, bytes) = saved("truncated");
    let n = bytes.len();
    for cut in [1, 7, 8, 11, 12, 19, 20, 21, 40, n / 2, n - 5, n - 1] {
        match load_bytes(&path, &bytes[..cut]) {
            ForestError::Truncated {
                expected, actual, ..
            } => {
                assert_eq!(actual, cut as u64);
                assert!(expected > actual);
            }
            other => panic!("cut at {cut}: {other}"),
        }
    }
}

#[test]
fn flipped_byte_fails_the_checksum() {
    let (path, bytes) = saved("flipped");
    // Anywhere past the header: kind, schema, metadata, a node, the checksum itself.
    for at in [
        21,
        30,
        60,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 2,
    ] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        match load_bytes(&path, &b) {
            ForestError::ChecksumMismatch {
                stored, computed, ..
            } => assert_ne!(stored, computed),
            other => panic!("flip at {at}: {other}"),
        }
    }
}

#[test]
fn wrong_magic_is_not_a_model() {
    let (path, mut bytes) = saved("magic");
    bytes[0] = b'X';
    let err = load_bytes(&path, &bytes);
    assert!(matches!(err, ForestError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("not a packetguard model"));
    let err = load_bytes(&path, b"col_a,col_b\n1,2\n");
    assert!(matches!(err, ForestError::BadMagic { .. }), "{err}");
}

#[test]
fn other_version_is_unsupported() {
    let (path, mut bytes) = saved("version");
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match load_bytes(&path, &bytes) {
        ForestError::UnsupportedVersion {
            found, supported, ..
        } => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn empty_file_is_reported_as_empty() {
    let (path, _) = saved("empty");
    let err = load_bytes(&path, &[]);
    assert!(matches!(err, ForestError::Empty { .. }), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = temp_dir("missing");
    let path = dir.join("nope.pgm");
    let err = Model::load(&path).unwrap_err();
    assert!(
        matches!(&err, ForestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn trailing_bytes_are_malformed() {
    let (path, mut bytes) = saved("trailing");
    bytes.extend_from_slice(b"extra");
    let err = load_bytes(&path, &bytes);
    assert!(matches!(err, ForestError::Malformed { .. }), "{err}");
}

#[test]
fn valid_checksum_over_bad_content_is_malformed() {
    // A crafted file: huge feature count with a correct CRC must fail cleanly, not allocate.
    let (path, bytes) = saved("crafted");
    let body_end = bytes.len() - 4;
    let mut b = bytes[..body_end].to_vec();
    // Kind "flow" is at 20..26 (u16 length + 4 bytes); the feature count follows.
    assert_eq!(&b[22..26], b"flow");
    b[26..28].copy_from_slice(&u16::MAX.to_le_bytes());
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let err = load_bytes(&path, &b);
    assert!(matches!(err, ForestError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("feature count"), "{err}");
}

#[test]
fn wrong_schema_names_missing_and_extra_features() {
    let (path, _) = saved("schema");
    assert!(Model::load_expecting(&path, &["f0", "f1", "f2"]).is_ok());
    match Model::load_expecting(&path, &["f0", "f1", "syn_count"]) {
        Err(ForestError::WrongSchema {
            missing,
            extra,
            order_differs,
            ..
        }) => {
            assert_eq!(missing, ["syn_count"]);
            assert_eq!(extra, ["f2"]);
            assert!(!order_differs);
        }
        other => panic!("{other:?}"),
    }
    let err = Model::load_expecting(&path, &["f2", "f1", "f0"]).unwrap_err();
    assert!(matches!(
        err,
        ForestError::WrongSchema {
            order_differs: true,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("order"),
        "{msg}"
    );
}

#[test]
fn stored_checksum_is_standard_crc32() {
    let (_, bytes) = saved("crc");
    let n = bytes.len();
    let stored = u32::from_le_bytes(bytes[n - 4..].try_into().unwrap());
    assert_eq!(stored, crc32(&bytes[..n - 4]));
}

#[test]
fn saving_never_follows_a_symlink_planted_at_the_temporary_name() {
    let dir = temp_dir("symlink-save");
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // Where the first temporary file of this process would go.
    let planted = dir.join(format!(".flow.pgm.tmp.{}.0", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let (model, _) = small_model(3, 1);
    let path = dir.join("flow.pgm");
    model.save(&path).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(Model::load(&path).unwrap().to_bytes(), model.to_bytes());
    assert!(std::fs::symlink_metadata(&planted)
        .unwrap()
        .file_type()
        .is_symlink());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a model file is the agent's own");
}
