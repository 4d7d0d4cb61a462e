//! The feature schema stored in every model: names, order and per-feature transform.
//!
//! Callers pass raw values (counts, bytes, nanoseconds) in schema order; the model applies
//! the transforms itself, so a model file alone says how to read the numbers it was trained
//! on and a caller cannot forget a `log1p` on one side only.

use std::fmt;
use std::str::FromStr;

/// Upper bound on the number of features in one model.
///
/// Scoring keeps a row block's transformed values on the stack; this bounds that buffer
/// (and what a corrupt file can claim). Flow records have 26 features.
pub const MAX_FEATURES: usize = 256;

/// Upper bound on a feature name's length in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// How a raw value is mapped before it is compared with split thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// Used as is.
    None,
    /// `ln(1 + x)`, for heavy-tailed non-negative counts, bytes and durations, so a split
    /// drawn uniformly between min and max lands across orders of magnitude instead of
    /// almost always in the top one. Negative inputs map to `-ln(1 + |x|)` (the function
    /// stays monotonic and finite instead of returning NaN).
    Log1p,
}

impl Transform {
    /// The code stored in model files.
    pub fn code(self) -> u8 {
        match self {
            Transform::None => 0,
            Transform::Log1p => 1,
        }
    }

    /// Inverse of [`Transform::code`].
    pub fn from_code(code: u8) -> Option<Transform> {
        match code {
            0 => Some(Transform::None),
            1 => Some(Transform::Log1p),
            _ => None,
        }
    }

    /// Name used on the command line and by `model inspect`.
    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Log1p => "log1p",
        }
    }

    /// Applies the transform and narrows to `f32`, the precision thresholds are stored in.
    ///
    /// Training and scoring both go through this one function, so a value lands on the same
    /// side of a threshold in both.
    #[inline]
    pub fn apply(self, x: f64) -> f32 {
        match self {
            Transform::None => x as f32,
            Transform::Log1p => {
                if x >= 0.0 {
                    x.ln_1p() as f32
                } else {
                    -((-x).ln_1p() as f32)
                }
            }
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Transform::None),
            "log1p" => Ok(Transform::Log1p),
            _ => Err(format!("unknown transform {s:?} (expected none or log1p)")),
        }
    }
}

/// One input feature of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Feature {
    pub name: String,
    pub transform: Transform,
}

/// The ordered features of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Schema {
    features: Vec<Feature>,
}

impl Schema {
    /// A schema from explicit features. Use [`Schema::validate`] (done by training) to check
    /// counts and names.
    pub fn new(features: Vec<Feature>) -> Self {
        Schema { features }
    }

    /// Every name with the same transform.
    pub fn uniform<S: AsRef<str>>(names: &[S], transform: Transform) -> Self {
        Schema {
            features: names
                .iter()
                .map(|n| Feature {
                    name: n.as_ref().to_owned(),
                    transform,
                })
                .collect(),
        }
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Features the schema has room for without reallocating (memory accounting).
    pub(crate) fn capacity(&self) -> usize {
        self.features.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Feature names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Position of a feature by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// For each model feature, its position in `columns` (for example a CSV header or
    /// `FLOW_FEATURES`), so a caller can gather rows in schema order. `Err` lists the model
    /// features absent from `columns`.
    pub fn positions_in<S: AsRef<str>>(&self, columns: &[S]) -> Result<Vec<usize>, Vec<String>> {
        let mut out = Vec::with_capacity(self.features.len());
        let mut missing = Vec::new();
        for f in &self.features {
            match columns.iter().position(|c| c.as_ref() == f.name) {
                Some(i) => out.push(i),
                None => missing.push(f.name.clone()),
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }

    /// Checks the count, names (length, no control characters) and uniqueness; the message
    /// says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.features.is_empty() {
            return Err("the schema has no features".into());
        }
        if self.features.len() > MAX_FEATURES {
            return Err(format!(
                "{} features, at most {MAX_FEATURES} are supported",
                self.features.len()
            ));
        }
        for (i, f) in self.features.iter().enumerate() {
            if f.name.is_empty() || f.name.len() > MAX_NAME_LEN {
                return Err(format!(
                    "feature {i} has a name of {} bytes (1 to {MAX_NAME_LEN} allowed)",
                    f.name.len()
                ));
            }
            check_name(&f.name).map_err(|e| format!("feature {i} {e}"))?;
            if self.features[..i].iter().any(|g| g.name == f.name) {
                return Err(format!("feature {:?} appears twice", f.name));
            }
        }
        Ok(())
    }
}

/// Refuses a name (of a feature or a model kind) holding a control character: names are
/// printed in one-line errors, `model inspect` tables, metrics labels and JSON events, where
/// a newline or an escape sequence would forge or garble output.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    match name.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("{name:?} holds the control character {c:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log1p_is_monotonic_through_zero() {
        let t = Transform::Log1p;
        assert_eq!(t.apply(0.0), 0.0);
        assert!(t.apply(-2.0) < t.apply(-1.0));
        assert!(t.apply(-1.0) < t.apply(0.0));
        assert!((t.apply(1.0) - 2f32.ln()).abs() < 1e-7);
        assert!(t.apply(-5.0).is_finite());
    }

    #[test]
    fn positions_and_validation() {
        let s = Schema::uniform(&["b", "a"], Transform::None);
        assert_eq!(s.positions_in(&["a", "b", "c"]).unwrap(), vec![1, 0]);
        assert_eq!(s.positions_in(&["a"]).unwrap_err(), vec!["b".to_string()]);
        assert!(s.validate().is_ok());
        assert!(Schema::uniform(&["a", "a"], Transform::None)
            .validate()
            .is_err());
        assert!(Schema::default().validate().is_err());
        assert_eq!(
            Schema::uniform(&["a", "b\nc"], Transform::None).validate(),
            Err(r#"feature 1 "b\nc" holds the control character '\n'"#.into())
        );
    }
}
