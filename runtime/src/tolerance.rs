//! Named numeric tolerances for parity with the source frameworks.
//!
//! The names, numbers and the reason for each threshold live in one data file,
//! `fixtures/tolerances.json`, which the Python tests read too, so the two test suites cannot
//! hold different bars. The file is compiled in (`include_str!`: the runtime reads no files, and
//! builds for `wasm32-unknown-unknown`) and parsed once, at first use, into an immutable table.

use std::sync::OnceLock;

/// The table, as compiled in.
const SOURCE: &str = include_str!("../../fixtures/tolerances.json");

/// How close a keel output must be to the framework's reference output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Bit-for-bit equal (labels, category codes, tree leaf indices).
    Exact,
    /// `|a - b| <= abs + rel * |b|`.
    Close {
        /// Absolute part.
        abs: f64,
        /// Relative part.
        rel: f64,
    },
}

/// A tolerance named in code (`Tolerance::F64_LINEAR`), looked up in the table when used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named(&'static str);

impl Named {
    /// The name, as fixtures record it.
    pub const fn name(self) -> &'static str {
        self.0
    }

    /// The tolerance this name stands for (`None` only if the table lacks the name, which a
    /// unit test rules out).
    pub fn tolerance(self) -> Option<Tolerance> {
        Tolerance::by_name(self.0)
    }

    /// Whether `a` (keel) matches `b` (reference) under this tolerance. A name missing from
    /// the table accepts nothing, so a mistake fails the comparison rather than passing it.
    pub fn accepts(self, a: f64, b: f64) -> bool {
        self.tolerance().is_some_and(|t| t.accepts(a, b))
    }
}

/// One named tolerance of the table.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    name: String,
    tolerance: Tolerance,
    reason: String,
}

impl Tolerance {
    /// f64 linear algebra and scaling (`f64_linear`).
    pub const F64_LINEAR: Named = Named("f64_linear");

    /// Probabilities: softmax, expit, averaged tree leaves (`probability`).
    pub const PROBABILITY: Named = Named("probability");

    /// Sums over many trees or layers (`f64_accumulated`).
    pub const F64_ACCUMULATED: Named = Named("f64_accumulated");

    /// f32 networks against ONNX Runtime and PyTorch (`onnx_f32`).
    pub const ONNX_F32: Named = Named("onnx_f32");

    /// `image.to_tensor` against Pillow and torchvision's float arithmetic (`image_f32`).
    pub const IMAGE_F32: Named = Named("image_f32");

    /// Decoded JPEG pixels against Pillow's decoder, in grey levels (`image_jpeg_decode`).
    pub const IMAGE_JPEG_DECODE: Named = Named("image_jpeg_decode");

    /// Whether `a` (keel) matches `b` (reference). NaN matches NaN.
    pub fn accepts(&self, a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        match *self {
            Tolerance::Exact => a == b,
            Tolerance::Close { abs, rel } => (a - b).abs() <= abs + rel * b.abs() || a == b,
        }
    }

    /// A tolerance by name, as fixtures record it (`exact`, `f64_linear`, `probability`,
    /// `f64_accumulated`).
    pub fn by_name(name: &str) -> Option<Tolerance> {
        table().iter().find(|e| e.name == name).map(|e| e.tolerance)
    }

    /// What sets the threshold of tolerance `name`.
    pub fn reason(name: &str) -> Option<&'static str> {
        table()
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.reason.as_str())
    }

    /// The names of all tolerances, in the table's order.
    pub fn names() -> Vec<&'static str> {
        table().iter().map(|e| e.name.as_str()).collect()
    }
}

/// The parsed table. A table that does not parse is empty (every look-up then fails, and so
/// does the unit test that parses it), rather than a panic in whatever test first compares.
fn table() -> &'static [Entry] {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| parse(SOURCE).unwrap_or_default())
}

/// Reads `{"tolerances": {name: {"kind": "exact" | "close", "abs", "rel", "reason"}}}`.
fn parse(source: &str) -> Result<Vec<Entry>, String> {
    use serde_json::Value;
    let doc: Value = serde_json::from_str(source).map_err(|e| e.to_string())?;
    let entries = doc
        .get("tolerances")
        .and_then(Value::as_object)
        .ok_or("no `tolerances` object")?;
    let number = |name: &str, v: &Value, key: &str| -> Result<f64, String> {
        v.get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or(format!("`{name}`: `{key}` must be a non-negative number"))
    };
    entries
        .iter()
        .map(|(name, v)| {
            let tolerance = match v.get("kind").and_then(Value::as_str) {
                Some("exact") => Tolerance::Exact,
                Some("close") => Tolerance::Close {
                    abs: number(name, v, "abs")?,
                    rel: number(name, v, "rel")?,
                },
                other => return Err(format!("`{name}`: unknown kind {other:?}")),
            };
            let reason = v
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.trim().is_empty())
                .ok_or(format!("`{name}`: every tolerance states its reason"))?;
            Ok(Entry {
                name: name.clone(),
                tolerance,
                reason: reason.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_every_name_in_code_is_in_it() {
        let entries = parse(SOURCE).expect("fixtures/tolerances.json");
        assert_eq!(entries.len(), Tolerance::names().len());
        assert_eq!(Tolerance::by_name("exact"), Some(Tolerance::Exact));
        for named in [
            Tolerance::F64_LINEAR,
            Tolerance::PROBABILITY,
            Tolerance::F64_ACCUMULATED,
            Tolerance::ONNX_F32,
            Tolerance::IMAGE_F32,
            Tolerance::IMAGE_JPEG_DECODE,
        ] {
            assert!(
                matches!(named.tolerance(), Some(Tolerance::Close { .. })),
                "{}",
                named.name()
            );
            assert!(Tolerance::reason(named.name()).is_some());
        }
        assert_eq!(Tolerance::by_name("loose"), None);
        assert!(!Named("loose").accepts(1.0, 1.0));
    }

    #[test]
    fn close_bounds_absolute_plus_relative_and_nan_matches_only_nan() {
        let t = Tolerance::Close { abs: 0.5, rel: 0.1 };
        // 0.5 + 0.1 * 10 = 1.5 around 10.
        assert!(t.accepts(11.5, 10.0) && t.accepts(8.5, 10.0));
        assert!(!t.accepts(11.6, 10.0));
        assert!(t.accepts(f64::INFINITY, f64::INFINITY));
        assert!(t.accepts(f64::NAN, f64::NAN) && !t.accepts(f64::NAN, 1.0));
        assert!(
            Tolerance::Exact.accepts(1.0, 1.0) && !Tolerance::Exact.accepts(1.0, 1.0 + 1e-16 * 4.0)
        );
    }

    #[test]
    fn a_malformed_table_is_refused_with_the_entry_named() {
        let err = |s: &str| parse(s).expect_err(s);
        assert!(err("{}").contains("tolerances"));
        assert!(err(r#"{"tolerances": {"t": {"kind": "loose", "reason": "r"}}}"#).contains("`t`"));
        assert!(
            err(r#"{"tolerances": {"t": {"kind": "close", "abs": -1, "rel": 0, "reason": "r"}}}"#)
                .contains("`abs`")
        );
        assert!(err(r#"{"tolerances": {"t": {"kind": "exact"}}}"#).contains("reason"));
    }
}
