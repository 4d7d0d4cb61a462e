//! The model file format (version 1), documented byte by byte in `models/README.md`.
//!
//! Little-endian throughout. The header carries the total file length so truncation is told
//! apart from corruption: a short file is reported as truncated, a file of the right length
//! whose CRC32 disagrees as corrupt. Every count read is capped and checked against the bytes
//! that remain before anything is allocated, and every tree is validated structurally, so no
//! file, however damaged or crafted, makes loading or scoring panic.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::build::height_limit;
use crate::error::ForestError;
use crate::forest::{validate_tree, Forest, Node};
use crate::model::{
    scale, Contamination, Model, TrainingInfo, MAX_SAMPLE_SIZE, MAX_TREES, SAMPLE_SIZES,
    TREE_COUNTS,
};
use crate::schema::{Feature, Schema, Transform, MAX_FEATURES, MAX_NAME_LEN};
use crate::walk::Compiled;

/// First eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"PGIFM\0\0\0";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Magic, version and file length.
const HEADER_LEN: usize = 8 + 4 + 8;

/// Bytes of one stored node: f32 value, u16 feature, u16 right offset, u16 size.
const NODE_BYTES: usize = 10;

/// Leaf marker in the feature field of a stored node.
const LEAF_FEATURE: u16 = u16::MAX;

impl Model {
    /// The file bytes and their CRC32 (also the last four bytes).
    pub(crate) fn encode(&self) -> (Vec<u8>, u32) {
        let mut b = self.header();
        b.reserve_exact(self.body_len());
        self.emit_nodes(&mut |bytes| b.extend_from_slice(bytes));
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        (b, crc)
    }

    /// The CRC32 of the file bytes, without building them: training needs only the
    /// checksum, for the model id.
    pub(crate) fn file_checksum(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.header());
        self.emit_nodes(&mut |bytes| h.update(bytes));
        h.finalize()
    }

    /// Bytes after the header: the node records and the checksum.
    fn body_len(&self) -> usize {
        self.forest.nodes.len() * NODE_BYTES + 4
    }

    /// Feeds the node records to `out`, in blocks of a few KiB.
    fn emit_nodes(&self, out: &mut impl FnMut(&[u8])) {
        let mut block = [0u8; 400 * NODE_BYTES];
        for nodes in self.forest.nodes.chunks(400) {
            for (n, record) in nodes.iter().zip(block.chunks_exact_mut(NODE_BYTES)) {
                let feature = if n.is_leaf() { LEAF_FEATURE } else { n.feature };
                record[..4].copy_from_slice(&n.value.to_le_bytes());
                record[4..6].copy_from_slice(&feature.to_le_bytes());
                record[6..8].copy_from_slice(&n.right.to_le_bytes());
                record[8..].copy_from_slice(&n.size.to_le_bytes());
            }
            out(&block[..nodes.len() * NODE_BYTES]);
        }
    }

    /// Everything before the node records.
    fn header(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(256 + self.forest.trees.len() * 4);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes()); // file length, set below
        put_str(&mut b, &self.info.kind);
        b.extend_from_slice(&(self.schema.len() as u16).to_le_bytes());
        for f in self.schema.features() {
            put_str(&mut b, &f.name);
            b.push(f.transform.code());
        }
        let i = &self.info;
        b.extend_from_slice(&i.trees.to_le_bytes());
        b.extend_from_slice(&i.sample_size.to_le_bytes());
        b.extend_from_slice(&i.seed.to_le_bytes());
        let (tag, frac) = match i.contamination {
            Contamination::Auto => (0u8, 0.0f64),
            Contamination::Fraction(c) => (1, c),
        };
        b.push(tag);
        b.extend_from_slice(&frac.to_le_bytes());
        b.extend_from_slice(&i.threshold.to_le_bytes());
        b.extend_from_slice(&i.rows.to_le_bytes());
        b.extend_from_slice(&i.trained_unix.to_le_bytes());
        for t in &self.forest.trees {
            b.extend_from_slice(&t.len.to_le_bytes());
        }
        let total = (b.len() + self.body_len()) as u64;
        b[12..20].copy_from_slice(&total.to_le_bytes());
        b
    }

    /// The bytes [`Model::save`] writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode().0
    }

    /// Writes the model atomically: a temporary file in the same directory, fsync, rename
    /// over `path`, fsync of the directory. A reader sees the old file or the new one, never
    /// half of one, even across a crash.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ForestError> {
        let path = path.as_ref();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| {
            ForestError::io(
                path,
                "bad file name",
                std::io::ErrorKind::InvalidInput.into(),
            )
        })?;
        let tmp = dir.join(format!(
            ".{}.tmp.{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let result = (|| {
            let mut f = fs::File::create(&tmp)
                .map_err(|e| ForestError::io(path, "create temporary file", e))?;
            f.write_all(&self.to_bytes())
                .map_err(|e| ForestError::io(path, "write", e))?;
            f.sync_all()
                .map_err(|e| ForestError::io(path, "fsync", e))?;
            fs::rename(&tmp, path).map_err(|e| ForestError::io(path, "rename into place", e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        // Persist the rename itself; not every filesystem lets a directory be opened.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Reads and validates a model file. Every failure names the file and says what is
    /// wrong: missing, empty, bad magic, unsupported version, truncated, checksum mismatch,
    /// or malformed content.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ForestError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| ForestError::io(path, "cannot read", e))?;
        Model::from_bytes(&bytes, path)
    }

    /// [`Model::load`], then checks that the model's features are exactly `expected`, in
    /// that order; otherwise [`ForestError::WrongSchema`] lists the missing and unexpected
    /// names.
    pub fn load_expecting<S: AsRef<str>>(
        path: impl AsRef<Path>,
        expected: &[S],
    ) -> Result<Model, ForestError> {
        let path = path.as_ref();
        let model = Model::load(path)?;
        let have: Vec<&str> = model.schema.names().collect();
        let want: Vec<&str> = expected.iter().map(|s| s.as_ref()).collect();
        if have != want {
            return Err(ForestError::WrongSchema {
                path: path.to_path_buf(),
                missing: want
                    .iter()
                    .filter(|w| !have.contains(w))
                    .map(|s| s.to_string())
                    .collect(),
                extra: have
                    .iter()
                    .filter(|h| !want.contains(h))
                    .map(|s| s.to_string())
                    .collect(),
                order_differs: have.len() == want.len() && have.iter().all(|h| want.contains(h)),
            });
        }
        Ok(model)
    }

    /// Decodes file bytes; `path` only names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model, ForestError> {
        let path_buf = || path.to_path_buf();
        let truncated = |expected: usize| ForestError::Truncated {
            path: path_buf(),
            expected: expected as u64,
            actual: bytes.len() as u64,
        };
        if bytes.is_empty() {
            return Err(ForestError::Empty { path: path_buf() });
        }
        let m = bytes.len().min(MAGIC.len());
        if bytes[..m] != MAGIC[..m] {
            return Err(ForestError::BadMagic { path: path_buf() });
        }
        if bytes.len() < 12 {
            return Err(truncated(HEADER_LEN));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(ForestError::UnsupportedVersion {
                path: path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN));
        }
        let declared = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        if declared > bytes.len() as u64 {
            return Err(ForestError::Truncated {
                path: path_buf(),
                expected: declared,
                actual: bytes.len() as u64,
            });
        }
        let malformed = |reason: String| ForestError::Malformed {
            path: path_buf(),
            reason,
        };
        if declared < bytes.len() as u64 {
            return Err(malformed(format!(
                "{} bytes after the declared end at {declared}",
                bytes.len() as u64 - declared
            )));
        }
        if bytes.len() < HEADER_LEN + 4 {
            return Err(malformed("no room for the checksum".into()));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(ForestError::ChecksumMismatch {
                path: path_buf(),
                stored,
                computed,
            });
        }
        let mut model = decode_body(&mut Cursor {
            bytes: body,
            pos: HEADER_LEN,
        })
        .map_err(malformed)?;
        model.checksum = stored;
        Ok(model)
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u16).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Bounds-checked reads over the checksummed body.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!("{what} at offset {} runs past the end", self.pos));
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        Ok(self.take(N, what)?.try_into().expect("length checked"))
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        self.array(what).map(u16::from_le_bytes)
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }
    fn f64(&mut self, what: &str) -> Result<f64, String> {
        self.array(what).map(f64::from_le_bytes)
    }

    /// A u16-length-prefixed UTF-8 string of 1 to `MAX_NAME_LEN` bytes.
    fn str(&mut self, what: &str) -> Result<String, String> {
        let len = usize::from(self.u16(what)?);
        if len == 0 || len > MAX_NAME_LEN {
            return Err(format!(
                "{what} has length {len} (1 to {MAX_NAME_LEN} allowed)"
            ));
        }
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
}

fn decode_body(c: &mut Cursor) -> Result<Model, String> {
    let kind = c.str("kind")?;
    let n_features = usize::from(c.u16("feature count")?);
    if n_features == 0 || n_features > MAX_FEATURES {
        return Err(format!(
            "feature count {n_features} (1 to {MAX_FEATURES} allowed)"
        ));
    }
    let mut features = Vec::with_capacity(n_features);
    for i in 0..n_features {
        let name = c.str("feature name")?;
        let code = c.u8("transform")?;
        let transform = Transform::from_code(code)
            .ok_or_else(|| format!("feature {i} ({name}) has unknown transform code {code}"))?;
        features.push(Feature { name, transform });
    }
    let schema = Schema::new(features);
    schema.validate()?;
    let trees = c.u32("tree count")? as usize;
    if !TREE_COUNTS.contains(&trees) {
        return Err(format!("tree count {trees} (1 to {MAX_TREES} allowed)"));
    }
    let psi = c.u32("sample size")? as usize;
    if !SAMPLE_SIZES.contains(&psi) {
        return Err(format!(
            "sample size {psi} (2 to {MAX_SAMPLE_SIZE} allowed)"
        ));
    }
    let seed = c.u64("seed")?;
    let tag = c.u8("contamination kind")?;
    let frac = c.f64("contamination")?;
    let contamination = match tag {
        0 => Contamination::Auto,
        1 if Contamination::is_valid_fraction(frac) => Contamination::Fraction(frac),
        _ => return Err(format!("contamination kind {tag} with value {frac}")),
    };
    let threshold = c.f64("threshold")?;
    if !threshold.is_finite() {
        return Err(format!("threshold {threshold}"));
    }
    let rows = c.u64("rows")?;
    let trained_unix = c.u64("training time")?;

    let limit = height_limit(psi);
    let max_nodes = 2 * psi - 1;
    let mut forest = Forest::default();
    let mut lens = Vec::with_capacity(trees);
    let mut total = 0usize;
    for t in 0..trees {
        let len = c.u32("tree size")? as usize;
        if len == 0 || len > max_nodes {
            return Err(format!(
                "tree {t} has {len} nodes (1 to {max_nodes} allowed)"
            ));
        }
        total += len;
        lens.push(len);
    }
    let remaining = c.bytes.len() - c.pos;
    if total.checked_mul(NODE_BYTES) != Some(remaining) {
        return Err(format!(
            "{total} nodes need {} bytes, {remaining} remain",
            total * NODE_BYTES
        ));
    }
    forest.nodes.reserve_exact(total);
    for _ in 0..total {
        let value = f32::from_le_bytes(c.array("node")?);
        let feature = c.u16("node")?;
        let right = c.u16("node")?;
        let size = c.u16("node")?;
        let is_leaf = right == 0;
        if is_leaf != (feature == LEAF_FEATURE) {
            return Err(format!(
                "node {} mixes leaf and split fields",
                forest.nodes.len()
            ));
        }
        forest.nodes.push(Node {
            value,
            // Leaves point at the row buffer's NaN slot; see `forest`.
            feature: if is_leaf { n_features as u16 } else { feature },
            right,
            size,
        });
    }
    let mut start = 0;
    for (t, len) in lens.into_iter().enumerate() {
        let depth = validate_tree(&forest.nodes[start..start + len], n_features, limit)
            .map_err(|e| format!("tree {t}: {e}"))?;
        forest.trees.push(crate::forest::TreeSpan {
            start: start as u32,
            len: len as u32,
            depth,
        });
        start += len;
    }
    Ok(Model {
        schema,
        info: TrainingInfo {
            kind,
            trees: trees as u32,
            sample_size: psi as u32,
            seed,
            contamination,
            threshold,
            rows,
            trained_unix,
        },
        compiled: Compiled::new(&forest, n_features),
        forest,
        scale: scale(trees, psi),
        checksum: 0,
    })
}
