//! Model files written byte by byte after `models/README.md`, independent of the crate's
//! encoder, so tests can make files training never would: hostile shapes, edited
//! thresholds, claims the bytes do not back.

use packetguard_forest::path_length::average_path_length;

/// A stored node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawNode {
    pub value: f32,
    pub feature: u16,
    pub right: u16,
    pub size: u16,
}

/// The feature field of a stored leaf.
pub const LEAF: u16 = u16::MAX;

/// The path length training credits a leaf of `size` rows at `depth`.
pub fn leaf_value(depth: u32, size: u16) -> f32 {
    (f64::from(depth) + average_path_length(u64::from(size))) as f32
}

/// A leaf of `size` rows at `depth`, worth what training gives it.
pub fn leaf(depth: u32, size: u16) -> RawNode {
    RawNode {
        value: leaf_value(depth, size),
        feature: LEAF,
        right: 0,
        size,
    }
}

/// A split on `feature` at `threshold` whose right child is `right` nodes on.
pub fn split(feature: u16, threshold: f32, right: u16, size: u16) -> RawNode {
    RawNode {
        value: threshold,
        feature,
        right,
        size,
    }
}

/// A tree of one leaf holding the whole sample.
pub fn single_leaf(psi: u16) -> Vec<RawNode> {
    vec![leaf(0, psi)]
}

/// One split on feature 0 at 0.5, two leaves: the tree of a sample of two rows.
pub fn one_split(psi: u16) -> Vec<RawNode> {
    vec![split(0, 0.5, 2, psi), leaf(1, 1), leaf(1, psi - 1)]
}

/// The thinnest tree of `depth` levels over `psi` rows: each split on feature 0 (at its
/// depth) cuts one row off to the left, the last leaf keeps the rest. `2 depth + 1` nodes
/// whose padded form takes `3 * 2^depth - 2` lines.
pub fn chain(depth: u32, psi: u16) -> Vec<RawNode> {
    let mut nodes = Vec::new();
    for d in 0..depth {
        nodes.push(split(0, d as f32, 2, psi - d as u16));
        nodes.push(leaf(d + 1, 1));
    }
    nodes.push(leaf(depth, psi - depth as u16));
    nodes
}

/// Every field of a model file, free to be set to anything.
#[derive(Debug, Clone)]
pub struct RawModel {
    pub kind: String,
    /// Names and transform codes.
    pub features: Vec<(String, u8)>,
    /// The tree count written; `None` writes `trees.len()`.
    pub tree_count: Option<u32>,
    pub psi: u32,
    pub seed: u64,
    pub contamination: (u8, f64),
    pub threshold: f64,
    pub rows: u64,
    pub trained_unix: u64,
    /// The tree sizes written; `None` writes each tree's length.
    pub tree_sizes: Option<Vec<u32>>,
    pub trees: Vec<Vec<RawNode>>,
}

impl RawModel {
    /// A valid auto model over `features` features named `f0`, `f1`, ... with sample size
    /// `psi` and no trees yet.
    pub fn new(features: usize, psi: u32) -> RawModel {
        RawModel {
            kind: "flow".into(),
            features: (0..features).map(|i| (format!("f{i}"), 0)).collect(),
            tree_count: None,
            psi,
            seed: 1,
            contamination: (0, 0.0),
            threshold: 0.5,
            rows: u64::from(psi),
            trained_unix: 1_700_000_000,
            tree_sizes: None,
            trees: Vec::new(),
        }
    }

    /// The file: header, body and CRC-32, with the true length in the header.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"PGIFM\0\0\0");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        put_str(&mut b, &self.kind);
        b.extend_from_slice(&(self.features.len() as u16).to_le_bytes());
        for (name, code) in &self.features {
            put_str(&mut b, name);
            b.push(*code);
        }
        let count = self.tree_count.unwrap_or(self.trees.len() as u32);
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&self.psi.to_le_bytes());
        b.extend_from_slice(&self.seed.to_le_bytes());
        b.push(self.contamination.0);
        b.extend_from_slice(&self.contamination.1.to_le_bytes());
        b.extend_from_slice(&self.threshold.to_le_bytes());
        b.extend_from_slice(&self.rows.to_le_bytes());
        b.extend_from_slice(&self.trained_unix.to_le_bytes());
        let sizes = match &self.tree_sizes {
            Some(s) => s.clone(),
            None => self.trees.iter().map(|t| t.len() as u32).collect(),
        };
        for s in sizes {
            b.extend_from_slice(&s.to_le_bytes());
        }
        for n in self.trees.iter().flatten() {
            b.extend_from_slice(&n.value.to_le_bytes());
            b.extend_from_slice(&n.feature.to_le_bytes());
            b.extend_from_slice(&n.right.to_le_bytes());
            b.extend_from_slice(&n.size.to_le_bytes());
        }
        seal(&mut b);
        b
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u16).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Appends the CRC-32 to `b` after writing the final length into its header.
pub fn seal(b: &mut Vec<u8>) {
    let len = (b.len() + 4) as u64;
    b[12..20].copy_from_slice(&len.to_le_bytes());
    let crc = crc32(b);
    b.extend_from_slice(&crc.to_le_bytes());
}

/// `file` with the bytes at `at` replaced by `with` and the checksum recomputed: an edit a
/// CRC cannot catch.
pub fn patched(file: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    let mut b = file[..file.len() - 4].to_vec();
    b[at..at + with.len()].copy_from_slice(with);
    seal(&mut b);
    b
}

/// CRC-32 (IEEE), bit by bit: independent of the crate's implementation.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
