//! The one error type of the crate.
//!
//! Every variant about a model file carries the path, so a message read in a log says which
//! file is at fault without the caller adding context. Messages are lowercase and have no
//! trailing period so they compose with `anyhow` context chains.

use std::path::PathBuf;

/// What can go wrong while training, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    /// The file could not be opened, read, written or renamed.
    #[error("model file {}: {op}: {source}", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The file is larger than any model file may be ([`crate::MAX_FILE_BYTES`]): refused
    /// from its size, before it is read.
    #[error("model file {}: too large: {size} bytes, more than the {limit} bytes ({} MiB) a model file may hold", .path.display(), .limit >> 20)]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    /// The file exists but holds no bytes (a crashed copy, a `touch`).
    #[error("model file {}: file is empty", .path.display())]
    Empty { path: PathBuf },

    /// The first eight bytes are not the model magic: not a model file at all.
    #[error("model file {}: not a packetguard model (bad magic bytes)", .path.display())]
    BadMagic { path: PathBuf },

    /// A model written by a newer (or unknown) format version.
    #[error("model file {}: unsupported format version {found} (this build reads version {supported})", .path.display())]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The file ends before the length its header declares, or before the header itself.
    #[error("model file {}: truncated: {actual} bytes, expected {expected}", .path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    /// The bytes do not match the stored CRC32: the file was damaged after it was written.
    #[error("model file {}: checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupt", .path.display())]
    ChecksumMismatch {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },

    /// The checksum is right but the content is not a valid model (a count over its cap, a
    /// child index outside its tree, bad UTF-8 in a name, ...).
    #[error("model file {}: malformed: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },

    /// The model was trained on other features than the caller will feed it.
    #[error("model file {}: wrong feature schema: missing {missing:?}, unexpected {extra:?}{}", .path.display(), order_note(.order_differs))]
    WrongSchema {
        path: PathBuf,
        /// Expected by the caller but absent from the model.
        missing: Vec<String>,
        /// In the model but not expected by the caller.
        extra: Vec<String>,
        /// Same names, different order.
        order_differs: bool,
    },

    /// A training parameter is out of range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },

    /// Training data holds NaN or an infinity, which no split can place.
    #[error("training row {row}, feature {feature}: value {value} is not finite")]
    NonFinite {
        row: usize,
        feature: usize,
        value: f64,
    },

    /// The data's column count does not match the schema.
    #[error("data has {got} columns but the schema has {expected} features")]
    ColumnCount { expected: usize, got: usize },
}

impl ForestError {
    pub(crate) fn io(path: &std::path::Path, op: &'static str, source: std::io::Error) -> Self {
        ForestError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

/// Suffix for [`ForestError::WrongSchema`] when only the order is wrong.
fn order_note(order_differs: &bool) -> &'static str {
    if *order_differs {
        ", same features in another order"
    } else {
        ""
    }
}
