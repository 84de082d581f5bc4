//! Category lookups shared by the encoders (`sklearn.one_hot_encoder`,
//! `sklearn.ordinal_encoder`).
//!
//! scikit-learn's encoders map each value of a feature to its position in `categories_[i]`
//! (the "raw index"), then derive the output from that index (a one-hot column, an ordinal
//! code, an infrequent group, a dropped column). The derivation is precomputed by the
//! exporter into per-index tables; this module owns the first step, value -> raw index, done
//! once per cell at score time without allocating.
//!
//! Attribute layout (per feature `i`): `categories[i]` is `strs` (a string feature) or `f64s`
//! (a numeric or boolean feature) holding the non-missing categories in scikit-learn's order,
//! and `missing[i]` is the raw index of the missing category (`None` or `NaN` in
//! `categories_[i]`), or -1 when there is none. The non-missing categories fill the other raw
//! indices in order.
//!
//! `unmatched[i]` (optional; absent means -1 for every feature) is the raw index of a missing
//! category that no value reaches, or -1: scikit-learn tells `None` from `NaN` in object
//! columns and may learn both (`categories_ = ['a', 'b', None, nan]`), while keel columns carry
//! one kind of missing value (an Arrow null; NaN in a float column). The exporter decides which
//! of the two a null stands for at that input (SPEC.md, "Missing strings"), gives that one's
//! index as `missing[i]` and the other's as `unmatched[i]`, so the raw indices (and the output
//! columns derived from them) stay scikit-learn's. A null reaches the `missing` category, or is
//! unknown when there is none. Numeric categories compare with `==` as numpy does (so
//! `-0.0` matches `0.0`); infinities are refused like `check_array(allow-nan)` does.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::value::{ColType, Feature};
use arrow_array::Array;
use keel_bundle::{Attr, DType};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Below this many string categories a linear scan (length check, then bytes) beats hashing.
const LINEAR_MAX: usize = 8;

/// A small, fast, non-cryptographic hasher (the multiply-rotate scheme of rustc's FxHash). The
/// keys are fixed by the bundle, so an attacker choosing query strings cannot lengthen probe
/// sequences the way they could with keys of their own.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // The length first, so zero bytes padding the last word cannot alias a shorter key.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for [`FxHasher`].
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// Packs a string of at most 15 bytes into a `u128`: the bytes, then the length in the top
/// byte, so two strings have equal keys exactly when they are equal. `None` when too long
/// (then no `Short` category can match it).
#[inline]
fn short_key(s: &str) -> Option<u128> {
    // Built in registers: writing bytes to a stack buffer and reloading it as one u128 stalls
    // on store forwarding, which showed up as the hottest instruction of batch encoding.
    fn pack(b: &[u8]) -> u64 {
        b.iter()
            .enumerate()
            .fold(0u64, |k, (i, &c)| k | (u64::from(c) << (8 * i)))
    }
    let b = s.as_bytes();
    let (lo, hi) = match b.len() {
        0..=7 => (pack(b), 0),
        8..=15 => {
            let (head, tail) = b.split_at(8);
            let mut w = [0u8; 8];
            w.copy_from_slice(head);
            (u64::from_le_bytes(w), pack(tail))
        }
        _ => return None,
    };
    Some(u128::from(lo) | (u128::from(hi) << 64) | ((b.len() as u128) << 120))
}

/// The key of the string at `row` of `a`, read as one 16-byte load from Arrow's value buffer
/// and masked to the string's length: no loop whose trip count depends on the data (string
/// lengths vary row to row, and a mispredicted loop exit costs more than the whole lookup).
#[inline]
fn short_key_at(a: &arrow_array::StringArray, row: usize) -> Option<u128> {
    let offsets = a.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let len = end - start;
    if len > 15 {
        return None;
    }
    let data = a.value_data();
    match data.get(start..start + 16) {
        Some(window) => {
            let mut w = [0u8; 16];
            w.copy_from_slice(window);
            let mask = (1u128 << (8 * len)) - 1;
            Some((u128::from_le_bytes(w) & mask) | ((len as u128) << 120))
        }
        // The last strings of the buffer: too close to its end for a 16-byte window.
        None => short_key(a.value(row)),
    }
}

/// Finds `key` among at most a handful of short categories without an early exit: every
/// candidate is compared and the hit kept with a conditional move, so the cost does not depend
/// on which category the row holds (random categories made the early exit mispredict).
#[inline]
fn short_find(v: &[(u128, usize)], key: u128) -> Option<usize> {
    // Categories are unique, so at most one term is non-zero; written as arithmetic because
    // the compiler turns an `if` here back into the data-dependent branch we are avoiding.
    let mut acc = 0usize;
    for (c, i) in v {
        acc += usize::from(*c == key) * (i + 1);
    }
    acc.checked_sub(1)
}

/// String category -> raw index.
#[derive(Debug)]
enum StrIndex {
    /// Few categories, all shorter than 16 bytes (the common case: "NY", "entire", "yes"):
    /// `(packed key, raw index)` scanned in order. Comparing one `u128` per candidate beats a
    /// `memcmp` call per candidate by a wide margin on the batch hot path.
    Short(Vec<(u128, usize)>),
    /// Few categories: `(category, raw index)`, scanned in order.
    Linear(Vec<(Box<str>, usize)>),
    /// Many categories.
    Hash(HashMap<Box<str>, usize, FxBuild>),
}

impl StrIndex {
    #[inline]
    fn get(&self, s: &str) -> Option<usize> {
        match self {
            StrIndex::Short(v) => short_find(v, short_key(s)?),
            StrIndex::Linear(v) => v
                .iter()
                .find(|(c, _)| c.len() == s.len() && **c == *s)
                .map(|(_, i)| *i),
            StrIndex::Hash(m) => m.get(s).copied(),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Str(StrIndex),
    /// `(category, raw index)` sorted by category, for a binary search.
    Num(Vec<(f64, usize)>),
}

/// The categories of one feature, ready for lookups.
#[derive(Debug)]
pub struct Categories {
    kind: Kind,
    missing: Option<usize>,
    len: usize,
}

/// The outcome of a lookup that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The raw index of the value's category.
    Known(usize),
    /// A value that is not a category (including a missing value when no missing category
    /// was seen at fit).
    Unknown,
}

impl Categories {
    /// Reads feature `i`'s categories from `categories` (the attribute's element) and
    /// `missing` (the raw index of its missing category, or -1), checking them against the
    /// planned type of the feature's column.
    pub fn from_attr(
        ctx: &BuildCtx<'_>,
        i: usize,
        feature: &str,
        ty: &ColType,
        categories: &Attr,
        missing: i64,
        unmatched: i64,
    ) -> Result<Categories, Error> {
        let is_str = matches!(ty, ColType::Scalar(DType::Utf8));
        // The categories in raw order, the missing one left out.
        enum Parsed<'a> {
            Str(&'a [String]),
            Num(Vec<f64>),
        }
        let parsed = match categories {
            Attr::Strs(v) if is_str => Parsed::Str(v),
            Attr::Strs(_) => {
                return Err(ctx.err(format!(
                    "feature `{feature}` was fitted on strings, but its column is {ty:?}"
                )));
            }
            Attr::F64s(_) | Attr::I64s(_) | Attr::Tensor(_) if is_str => {
                return Err(ctx.err(format!(
                    "feature `{feature}` was fitted on numbers, but its column holds strings"
                )));
            }
            other @ (Attr::F64s(_) | Attr::I64s(_) | Attr::Tensor(_)) => {
                Parsed::Num(ctx.attr_f64s("categories", other)?)
            }
            other => {
                return Err(ctx.err(format!(
                    "`categories[{i}]` should be strs or f64s, found {}",
                    other.kind()
                )));
            }
        };
        let n = match &parsed {
            Parsed::Str(v) => v.len(),
            Parsed::Num(v) => v.len(),
        };
        let len = n + usize::from(missing >= 0) + usize::from(unmatched >= 0);
        let unmatched = match usize::try_from(unmatched) {
            Ok(u) if u < len && i64::try_from(u).ok() != Some(missing) => Some(u),
            Err(_) if unmatched == -1 => None,
            _ => {
                return Err(ctx.err(format!(
                    "feature `{feature}`: bad unmatched category index {unmatched} ({len} categories, missing {missing})"
                )));
            }
        };
        let missing = match usize::try_from(missing) {
            Ok(m) if m < len => Some(m),
            Ok(m) => {
                return Err(ctx.err(format!(
                    "feature `{feature}`: missing category index {m} is out of range ({len} categories)"
                )));
            }
            Err(_) if missing == -1 => None,
            Err(_) => {
                return Err(ctx.err(format!("feature `{feature}`: bad missing index {missing}")));
            }
        };
        // Raw indices of the non-missing categories skip the missing and unmatched ones.
        let mut skipped: Vec<usize> = missing.into_iter().chain(unmatched).collect();
        skipped.sort_unstable();
        let raw = |k: usize| {
            skipped
                .iter()
                .fold(k, |r, &s| if r >= s { r + 1 } else { r })
        };
        let kind = match parsed {
            Parsed::Str(v) => {
                let mut map: HashMap<Box<str>, usize, FxBuild> = HashMap::default();
                for (k, s) in v.iter().enumerate() {
                    if map.insert(s.as_str().into(), raw(k)).is_some() {
                        return Err(ctx.err(format!(
                            "feature `{feature}`: duplicate string category {s:?}"
                        )));
                    }
                }
                if map.len() <= LINEAR_MAX && map.keys().all(|k| k.len() <= 15) {
                    let mut v: Vec<(u128, usize)> = map
                        .iter()
                        .filter_map(|(c, k)| short_key(c).map(|key| (key, *k)))
                        .collect();
                    v.sort_by_key(|(_, k)| *k);
                    Kind::Str(StrIndex::Short(v))
                } else if map.len() <= LINEAR_MAX {
                    let mut v: Vec<(Box<str>, usize)> = map.into_iter().collect();
                    v.sort_by_key(|(_, k)| *k);
                    Kind::Str(StrIndex::Linear(v))
                } else {
                    Kind::Str(StrIndex::Hash(map))
                }
            }
            Parsed::Num(v) => {
                if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
                    return Err(ctx.err(format!(
                        "feature `{feature}`: category {bad} is not finite (a missing category is given by `missing`)"
                    )));
                }
                let mut pairs: Vec<(f64, usize)> =
                    v.iter().enumerate().map(|(k, x)| (*x, raw(k))).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                // `==` also catches -0.0 next to 0.0, which numpy counts as one category.
                if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(
                        ctx.err(format!("feature `{feature}`: duplicate numeric categories"))
                    );
                }
                Kind::Num(pairs)
            }
        };
        Ok(Categories { kind, missing, len })
    }

    /// Number of raw categories (the missing one included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// The raw index of the value at `row` of `f`. Fails only on an infinite number, which
    /// scikit-learn refuses before encoding (`column` names the feature in the error).
    #[inline]
    pub fn lookup(&self, f: &Feature<'_>, row: usize, column: &str) -> Result<Lookup, Error> {
        let hit = match &self.kind {
            Kind::Str(StrIndex::Short(v)) => match f {
                Feature::Str(a) if !a.is_null(row) => {
                    short_key_at(a, row).and_then(|k| short_find(v, k))
                }
                _ => match f.str(row) {
                    Some(s) => short_key(s).and_then(|k| short_find(v, k)),
                    None => self.missing,
                },
            },
            Kind::Str(index) => match f.str(row) {
                Some(s) => index.get(s),
                None => self.missing,
            },
            Kind::Num(pairs) => {
                let x = f.num(row).unwrap_or(f64::NAN);
                if x.is_nan() {
                    self.missing
                } else if x.is_infinite() {
                    return Err(Error::NonFinite {
                        column: column.to_string(),
                        row,
                        value: x.to_string(),
                        node: String::new(),
                    });
                } else {
                    // `partial_cmp` treats -0.0 and 0.0 as equal, as numpy's `==` does.
                    pairs
                        .binary_search_by(|(c, _)| {
                            c.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Less)
                        })
                        .ok()
                        .and_then(|p| pairs.get(p))
                        .map(|(_, k)| *k)
                }
            }
        };
        Ok(hit.map_or(Lookup::Unknown, Lookup::Known))
    }
}

/// The value at `row` as text, for an error message: the string, `None` for a missing string,
/// or the number (`NaN` for a missing number).
pub fn describe(f: &Feature<'_>, row: usize) -> String {
    match f {
        Feature::Str(_) => f
            .str(row)
            .map_or_else(|| "None".to_string(), str::to_string),
        _ => f.num(row).map_or_else(String::new, |x| x.to_string()),
    }
}

/// Reads the per-feature `categories` (list) and `missing` (i64s) attributes, one entry per
/// input feature of port `X`, and returns the lookups with the feature names.
pub fn read_all(ctx: &BuildCtx<'_>) -> Result<(Vec<Categories>, Vec<String>), Error> {
    let cols = ctx.input("X")?;
    let mut names = Vec::new();
    let mut types = Vec::new();
    for (_, info) in cols {
        for n in &info.names {
            names.push(n.clone());
            // A feature block contributes numeric features.
            types.push(match &info.ty {
                ColType::Vector(_) => ColType::Scalar(DType::F64),
                t => t.clone(),
            });
        }
    }
    let cats = ctx.list("categories")?;
    let missing = ctx.i64s("missing")?;
    let unmatched = match ctx.opt_attr("unmatched") {
        None => vec![-1; names.len()],
        Some(_) => ctx.i64s("unmatched")?,
    };
    if unmatched.len() != names.len() {
        return Err(ctx.err(format!(
            "port `X` stacks {} features, but `unmatched` has {} entries",
            names.len(),
            unmatched.len()
        )));
    }
    if cats.len() != names.len() || missing.len() != names.len() {
        return Err(ctx.err(format!(
            "port `X` stacks {} features, but `categories` has {} entries and `missing` {}",
            names.len(),
            cats.len(),
            missing.len()
        )));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, (((name, ty), (c, &m)), &u)) in names
        .iter()
        .zip(&types)
        .zip(cats.iter().zip(&missing))
        .zip(&unmatched)
        .enumerate()
    {
        out.push(Categories::from_attr(ctx, i, name, ty, c, m, u)?);
    }
    Ok((out, names))
}

/// Helpers for the ops' unit tests: a one-node bundle built in memory and scored.
#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn fx_hash_separates_short_keys() {
        let b = FxBuild::default();
        let h = |s: &str| b.hash_one(s);
        assert_ne!(h("a"), h("b"));
        assert_ne!(h(""), h("\0"));
        assert_eq!(h("paris"), h("paris"));
    }

    #[test]
    fn str_index_linear_and_hash_agree() {
        let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let lin = StrIndex::Linear(
            keys.iter()
                .take(5)
                .enumerate()
                .map(|(i, k)| (k.as_str().into(), i))
                .collect(),
        );
        let hash = StrIndex::Hash(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.as_str().into(), i))
                .collect(),
        );
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(hash.get(k), Some(i));
            assert_eq!(lin.get(k), (i < 5).then_some(i));
        }
        assert_eq!(hash.get("k"), None);
        assert_eq!(lin.get("k00"), None);
    }

    #[test]
    fn short_keys_distinguish_length_and_bytes() {
        // Strings that agree on their padded bytes must still differ by length, and a string
        // longer than 15 bytes can never match a short category.
        let cats = ["", "a", "a\0", "ab", "fifteen_bytes__", "NY"];
        let short = StrIndex::Short(
            cats.iter()
                .enumerate()
                .map(|(i, c)| (short_key(c).expect("short"), i))
                .collect(),
        );
        for (i, c) in cats.iter().enumerate() {
            assert_eq!(short.get(c), Some(i), "{c:?}");
        }
        for miss in ["b", "a\0\0", "fifteen_bytes___", "ny", "NY "] {
            assert_eq!(short.get(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn short_keys_read_from_arrow_match_keys_of_strs() {
        // The windowed read must agree with the plain key for every row, including the last
        // rows whose 16-byte window would run past the value buffer, and slices with offsets.
        let values = [
            "NY",
            "",
            "entire",
            "super_strict",
            "fifteen_bytes__",
            "x",
            "much longer than fifteen",
            "CA",
        ];
        let a = arrow_array::StringArray::from(values.to_vec());
        for (row, v) in values.iter().enumerate() {
            assert_eq!(short_key_at(&a, row), short_key(v), "row {row} {v:?}");
        }
        let sliced = a.slice(3, 4);
        for row in 0..4 {
            assert_eq!(
                short_key_at(&sliced, row),
                short_key(values[row + 3]),
                "sliced row {row}"
            );
        }
    }
}
