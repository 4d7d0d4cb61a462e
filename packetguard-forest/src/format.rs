//! The model file format (version 1), documented byte by byte in `models/README.md`.
//!
//! Little-endian throughout. The header carries the total file length so truncation is told
//! apart from corruption: a short file is reported as truncated, a file of the right length
//! whose CRC32 disagrees as corrupt. This file handles the envelope (size cap, magic,
//! version, length, checksum) and writing; `decode` checks the content. No file, however
//! damaged or crafted, makes loading or scoring panic, and none makes them use more than
//! [`MEMORY_FACTOR`] bytes of memory per byte of the file.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::decode::{decode_body, Cursor, LEAF_FEATURE, NODE_BYTES};
use crate::error::ForestError;
use crate::model::{Contamination, Model};

/// First eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"PGIFM\0\0\0";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Largest model file loading reads, 256 MiB; a larger one is refused before it is read.
///
/// The shipped models are a few hundred KiB and 100 trees of the largest sample size
/// (32,768) at most 65 MB; training refuses to make a model whose file would exceed this.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Most bytes a loaded model keeps in memory per byte of its file.
///
/// Nodes take 12 bytes in memory for 10 in the file, tree records 12 for at least 14, and
/// the padded scoring layout at most `layout::PADDING_FACTOR` (4) times the bytes of the
/// trees it holds; the rest is a few fixed-size records. The bound is worst for a file of
/// 256 one-byte feature names, whose schema records (32 bytes each) outweigh their 4 file
/// bytes.
pub const MEMORY_FACTOR: usize = 8;

/// Most bytes live at once while loading, per byte of the file: the model, the file's own
/// bytes and what laying out the trees needs for a moment (under a byte per file byte).
/// An error allocates its message, a few hundred bytes, whatever the file's size.
pub const LOAD_PEAK_FACTOR: usize = MEMORY_FACTOR + 2;

/// Magic, version and file length.
const HEADER_LEN: usize = 8 + 4 + 8;

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

    /// Bytes of the model's file.
    pub fn file_len(&self) -> usize {
        let names: usize = self.schema.names().map(|n| 2 + n.len() + 1).sum();
        let fixed = HEADER_LEN + 2 + self.info.kind.len() + 2 + 4 + 4 + 8 + 1 + 8 + 8 + 8 + 8;
        fixed + names + 4 * self.forest.trees.len() + self.body_len()
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
    /// half of one, even across a crash. The temporary file is created new (`O_EXCL`,
    /// `O_NOFOLLOW`, mode 0600): a symlink planted where it would go is never followed.
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
        let (tmp, mut f) = create_temporary(&dir, &name.to_string_lossy())
            .map_err(|e| ForestError::io(path, "create temporary file", e))?;
        let result = (|| {
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
    /// wrong, in one line: missing, too large, empty, bad magic, unsupported version,
    /// truncated, checksum mismatch, or malformed content.
    ///
    /// A file over [`MAX_FILE_BYTES`] is refused from its size alone, and reading stops past
    /// the cap (a file that grows meanwhile, or a device), so no file is read whole first.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ForestError> {
        let path = path.as_ref();
        let read_err = |e| ForestError::io(path, "cannot read", e);
        let file = fs::File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        if size > MAX_FILE_BYTES {
            return Err(ForestError::TooLarge {
                path: path.to_path_buf(),
                size,
                limit: MAX_FILE_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
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

    /// Decodes file bytes (at most [`MAX_FILE_BYTES`]); `path` only names the source in
    /// errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model, ForestError> {
        let path_buf = || path.to_path_buf();
        let truncated = |expected: usize| ForestError::Truncated {
            path: path_buf(),
            expected: expected as u64,
            actual: bytes.len() as u64,
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ForestError::TooLarge {
                path: path_buf(),
                size: bytes.len() as u64,
                limit: MAX_FILE_BYTES,
            });
        }
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

/// Creates `.NAME.tmp.PID.N` in `dir` for the first `N` (up to 100) not taken, without
/// following a symlink that is there.
fn create_temporary(dir: &Path, name: &str) -> std::io::Result<(PathBuf, fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut last = None;
    for n in 0..100 {
        let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::ErrorKind::AlreadyExists.into()))
}
