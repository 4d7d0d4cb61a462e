//! Decoding the checksummed body of a model file (layout in `models/README.md`) into a
//! [`Model`], refusing anything training could not have written.
//!
//! A valid CRC only says the bytes are the ones written; the writer may be careless or
//! hostile. So every count is capped and checked against the bytes that actually remain
//! before anything sized from it is allocated, every tree is validated node by node, and the
//! values that decide verdicts (threshold, contamination, leaf path lengths) must be ones
//! training produces: a threshold of 1.5 or NaN would silently switch a detector off.
//! Together with the layout rule of `layout`, a loaded model holds at most
//! [`MEMORY_FACTOR`](crate::MEMORY_FACTOR) bytes per byte of its file.

use crate::build::height_limit;
use crate::forest::{validate_tree, Forest, Node, TreeSpan};
use crate::model::{
    scale, Contamination, Model, TrainingInfo, AUTO_THRESHOLD, MAX_SAMPLE_SIZE, MAX_TREES,
    SAMPLE_SIZES, TREE_COUNTS,
};
use crate::path_length::PathLengths;
use crate::schema::{check_name, Feature, Schema, Transform, MAX_FEATURES, MAX_NAME_LEN};
use crate::walk::Compiled;

/// Bytes of one stored node: f32 value, u16 feature, u16 right offset, u16 size.
pub(crate) const NODE_BYTES: usize = 10;

/// Leaf marker in the feature field of a stored node.
pub(crate) const LEAF_FEATURE: u16 = u16::MAX;

/// Fewest bytes a feature takes: a one-byte name with its length, and the transform.
const MIN_FEATURE_BYTES: usize = 2 + 1 + 1;

/// Fewest bytes a tree takes: its size field and one node.
const MIN_TREE_BYTES: usize = 4 + NODE_BYTES;

/// Bounds-checked reads over the checksummed body.
pub(crate) struct Cursor<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

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

    /// A u16-length-prefixed name: 1 to `MAX_NAME_LEN` bytes of UTF-8 without control
    /// characters (names end up in one-line errors, metrics labels and events).
    fn name(&mut self, what: &str) -> Result<String, String> {
        let len = usize::from(self.u16(what)?);
        if len == 0 || len > MAX_NAME_LEN {
            return Err(format!(
                "{what} has length {len} (1 to {MAX_NAME_LEN} allowed)"
            ));
        }
        let raw = self.take(len, what)?;
        let s = std::str::from_utf8(raw).map_err(|_| format!("{what} is not UTF-8"))?;
        check_name(s).map_err(|e| format!("{what} {e}"))?;
        Ok(s.to_owned())
    }
}

/// The model the body at `c` (just past the file header) describes.
pub(crate) fn decode_body(c: &mut Cursor) -> Result<Model, String> {
    let kind = c.name("kind")?;
    let schema = decode_schema(c)?;
    let n_features = schema.len();
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
    let contamination = decode_contamination(c.u8("contamination kind")?, c.f64("contamination")?)?;
    let threshold = c.f64("threshold")?;
    check_threshold(threshold, contamination)?;
    let rows = c.u64("rows")?;
    if rows < psi as u64 {
        return Err(format!(
            "trained on {rows} rows, fewer than its sample size {psi}"
        ));
    }
    let trained_unix = c.u64("training time")?;

    // Sizes are read twice, to check them against the bytes left and then to cut the node
    // array, so nothing is allocated from the tree count before the file is known to hold
    // that many trees.
    if trees > c.remaining() / MIN_TREE_BYTES {
        return Err(format!(
            "{trees} trees need at least {} bytes, {} remain",
            trees * MIN_TREE_BYTES,
            c.remaining()
        ));
    }
    let max_nodes = 2 * psi - 1;
    let sizes_at = c.pos;
    let mut total = 0usize;
    for t in 0..trees {
        let len = c.u32("tree size")? as usize;
        if len == 0 || len > max_nodes {
            return Err(format!(
                "tree {t} has {len} nodes (1 to {max_nodes} allowed)"
            ));
        }
        total += len;
    }
    let remaining = c.remaining();
    if total.checked_mul(NODE_BYTES) != Some(remaining) {
        return Err(format!(
            "{total} nodes need {} bytes, {remaining} remain",
            total * NODE_BYTES
        ));
    }
    let forest = decode_trees(c, sizes_at, trees, total, n_features, psi)?;
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

/// The feature count and features.
fn decode_schema(c: &mut Cursor) -> Result<Schema, String> {
    let n = usize::from(c.u16("feature count")?);
    if n == 0 || n > MAX_FEATURES {
        return Err(format!("feature count {n} (1 to {MAX_FEATURES} allowed)"));
    }
    if n > c.remaining() / MIN_FEATURE_BYTES {
        return Err(format!(
            "{n} features need at least {} bytes, {} remain",
            n * MIN_FEATURE_BYTES,
            c.remaining()
        ));
    }
    let mut features = Vec::with_capacity(n);
    for i in 0..n {
        let name = c.name("feature name")?;
        let code = c.u8("transform")?;
        let transform = Transform::from_code(code)
            .ok_or_else(|| format!("feature {i} ({name}) has unknown transform code {code}"))?;
        features.push(Feature { name, transform });
    }
    let schema = Schema::new(features);
    schema.validate()?;
    Ok(schema)
}

/// The contamination from its kind and value: auto stores exactly 0, a fraction lies in
/// (0, 0.5].
fn decode_contamination(tag: u8, value: f64) -> Result<Contamination, String> {
    match tag {
        0 if value.to_bits() == 0 => Ok(Contamination::Auto),
        0 => Err(format!(
            "contamination kind 0 (auto) with value {value} (0 expected)"
        )),
        1 if Contamination::is_valid_fraction(value) => Ok(Contamination::Fraction(value)),
        1 => Err(format!("contamination {value} is outside (0, 0.5]")),
        _ => Err(format!("unknown contamination kind {tag}")),
    }
}

/// Scores lie in (0, 1): a threshold of 1 or more flags nothing, one below 0 everything, and
/// NaN compares false with every score, so any of them would silently turn a detector off
/// or into noise. Auto models use 0.5, as training writes.
fn check_threshold(threshold: f64, contamination: Contamination) -> Result<(), String> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(format!(
            "threshold {threshold} is outside [0, 1], the range of scores"
        ));
    }
    if contamination == Contamination::Auto && threshold != AUTO_THRESHOLD {
        return Err(format!(
            "threshold {threshold} with contamination auto ({AUTO_THRESHOLD} expected)"
        ));
    }
    Ok(())
}

/// Reads `total` nodes of `trees` trees (sizes at `sizes_at`, already checked) and validates
/// every tree.
fn decode_trees(
    c: &mut Cursor,
    sizes_at: usize,
    trees: usize,
    total: usize,
    n_features: usize,
    psi: usize,
) -> Result<Forest, String> {
    let mut forest = Forest {
        nodes: Vec::with_capacity(total),
        trees: Vec::with_capacity(trees),
    };
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
    let limit = height_limit(psi);
    let lengths = PathLengths::new();
    let mut sizes = Cursor {
        bytes: c.bytes,
        pos: sizes_at,
    };
    let mut start = 0;
    for t in 0..trees {
        let len = sizes.u32("tree size")? as usize;
        let nodes = &forest.nodes[start..start + len];
        let depth = validate_tree(nodes, n_features, limit, &lengths)
            .map_err(|e| format!("tree {t}: {e}"))?;
        // Every tree is grown from a sub-sample of exactly psi rows.
        if usize::from(nodes[0].size) != psi {
            return Err(format!(
                "tree {t}: root holds {} rows, the sample size is {psi}",
                nodes[0].size
            ));
        }
        forest.trees.push(TreeSpan {
            start: start as u32,
            len: len as u32,
            depth,
        });
        start += len;
    }
    Ok(forest)
}
