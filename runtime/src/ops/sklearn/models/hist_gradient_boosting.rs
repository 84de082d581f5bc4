//! `sklearn.hist_gradient_boosting`: scikit-learn's HistGradientBoostingClassifier and
//! HistGradientBoostingRegressor, predicting from raw (non-binned) data as
//! `_predictor.pyx::_predict_from_raw_data` does, with the model's own categorical
//! preprocessing folded in.
//!
//! Ports: `X` (the columns the estimator receives; string columns allowed where the model
//! encodes categories) -> regression: `prediction` (f64 scalar); classification: `label`,
//! `probability` (see `classes.rs`).
//!
//! Attributes (trees flattened in `_predictors` order: iteration by iteration, then class by
//! class; node arrays indexed by global node number, children local to their tree):
//!
//! | attribute | kind | meaning |
//! |---|---|---|
//! | `n_features` | i64 | features the model reads (`n_features_in_`) |
//! | `input_index` | i64s \[F\] | the model's feature `j` is input feature `input_index\[j\]` (scikit-learn's `_preprocessor` moves categorical columns first) |
//! | `encoded` | i64s, optional | model features that go through a category map |
//! | `categories` | list of strs/f64s, optional | one per `encoded` entry: the `OrdinalEncoder`'s `categories_` (missing value removed); category `i` becomes code `i`, anything else NaN |
//! | `tree_nodes` | i64s \[T\] | nodes per tree |
//! | `tree_target` | i64s \[T\] | raw column each tree adds to |
//! | `feature`, `threshold`, `left`, `right`, `is_leaf`, `missing_go_to_left`, `is_categorical`, `bitset_idx`, `value` | \[N\] | the predictor nodes' fields (`bitset_idx` already offset into the concatenated bitsets) |
//! | `raw_left_cat_bitsets` | ints \[B*8\] | every tree's `raw_left_cat_bitsets`, concatenated |
//! | `known_cat_bitsets` | ints \[C*8\] | `_bin_mapper.make_known_categories_bitsets()` |
//! | `f_idx_map` | ints \[F\] | idem, feature -> row of `known_cat_bitsets` |
//! | `n_targets` | i64 | `n_trees_per_iteration_` |
//! | `baseline` | f64s \[K\] | `_baseline_prediction` |
//! | `task`, `link` | str | regression: `identity` or `exp` (`loss.link.inverse`); classification: `logistic` (binary, label = `raw > 0`) or `softmax` |
//! | `classes` | | classification only |
//!
//! Semantics kept from scikit-learn:
//! - Numbers are float64 and not checked (`ensure_all_finite=False`): NaN is missing,
//!   infinities compare like any number.
//! - Categorical values are first encoded as `OrdinalEncoder(handle_unknown=
//!   "use_encoded_value", unknown_value=nan, encoded_missing_value=nan)` would (exact match of
//!   strings, or of numbers), so raw strings score directly; unknown and missing become NaN.
//! - At a categorical split NaN, a negative code and a code outside `known_cat_bitsets` follow
//!   `missing_go_to_left`; a code in the node's left bitset goes left, any other known code
//!   right. (A code of 256 or more, impossible after encoding, is treated as unknown instead of
//!   C's undefined cast to `uint8`.)
//! - Raw values are `0 + baseline`, then each tree's leaf value added in `_predictors` order.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::sklearn::models::classes::{Classes, argmax_rows, expit, softmax_rows};
use crate::ops::sklearn::models::tree_ensemble::{
    BLOCK, binary_proba, check_len, layout, tree_sizes,
};
use crate::value::{ColType, Matrix, Value, features, gather};
use arrow_array::Float64Array;
use keel_bundle::{Attr, DType};
use std::collections::HashMap;
use std::sync::Arc;

const MISS_LEFT: u32 = 1 << 31;
const CATEGORICAL: u32 = 1 << 30;
const LEAF: u32 = 1 << 29;
const FEATURE: u32 = LEAF - 1;

/// One node, 24 bytes. Leaves carry the `LEAF` flag; their value is `leaf_values[node]`.
#[derive(Debug, Clone, Copy)]
struct Node {
    thr: f64,
    /// Feature index, with the `MISS_LEFT` and `CATEGORICAL` flags.
    feat: u32,
    left: u32,
    right: u32,
    /// Categorical nodes: the row of `raw_left` holding the left categories.
    bitset: u32,
}

/// How one model feature is read from the input.
#[derive(Debug)]
enum Source {
    /// A number, as is.
    Num(usize),
    /// A string mapped to its category code.
    Str(usize, HashMap<String, f64>),
    /// A number mapped to its category code (`cats` sorted ascending, NaN-free).
    NumCat(usize, Vec<f64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Identity,
    Exp,
    Logistic,
    Softmax,
}

#[derive(Debug)]
struct Hgb {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    targets: Vec<usize>,
    leaf_values: Vec<f64>,
    raw_left: Vec<[u32; 8]>,
    known: Vec<[u32; 8]>,
    /// Per model feature, its row of `known` (only read at categorical nodes).
    f_idx_map: Vec<usize>,
    k: usize,
    init: Vec<f64>,
    /// `None` when the model reads the input as is (no categories, no reordering).
    sources: Option<Vec<Source>>,
    classes: Option<Classes>,
    link: Link,
    label: bool,
    probability: bool,
}

fn bitsets(ctx: &BuildCtx<'_>, key: &str) -> Result<Vec<[u32; 8]>, Error> {
    let flat = match ctx.opt_attr(key) {
        None => Vec::new(),
        Some(_) => ctx.i64s(key)?,
    };
    if flat.len() % 8 != 0 {
        return Err(ctx.err(format!("`{key}` has {} values, not rows of 8", flat.len())));
    }
    flat.chunks_exact(8)
        .map(|c| {
            let mut row = [0u32; 8];
            for (r, &v) in row.iter_mut().zip(c) {
                *r = u32::try_from(v)
                    .map_err(|_| ctx.err(format!("`{key}` holds {v}, not a 32-bit word")))?;
            }
            Ok(row)
        })
        .collect()
}

/// Reads the feature sources and checks them against the input's column types.
fn sources(ctx: &BuildCtx<'_>, n: usize) -> Result<Option<Vec<Source>>, Error> {
    // Per input feature: whether it holds strings.
    let mut is_str = Vec::new();
    for (col, info) in ctx.input("X")? {
        match &info.ty {
            ColType::Scalar(DType::Utf8) => is_str.push(true),
            ColType::Scalar(d) if d.is_numeric() || *d == DType::Bool => is_str.push(false),
            ColType::Vector(w) => is_str.extend(std::iter::repeat_n(false, *w)),
            other => {
                return Err(ctx.err(format!(
                    "column `{col}` has type {other:?}, which this op cannot read"
                )));
            }
        }
    }
    if is_str.len() != n {
        return Err(ctx.err(format!(
            "port `X` stacks {} features, but the model was fitted on {n}",
            is_str.len()
        )));
    }
    let input_index = ctx.i64s("input_index")?;
    check_len(ctx, "input_index", input_index.len(), n)?;
    let mut used = vec![false; n];
    let mut src = Vec::with_capacity(n);
    for &i in &input_index {
        let i = usize::try_from(i)
            .ok()
            .filter(|&i| i < n && !used[i])
            .ok_or_else(|| {
                ctx.err(format!(
                    "`input_index` holds {i}, not a permutation of 0..{n}"
                ))
            })?;
        used[i] = true;
        src.push(Source::Num(i));
    }
    if ctx.opt_attr("encoded").is_some() {
        let encoded = ctx.i64s("encoded")?;
        let cats = ctx.list("categories")?;
        check_len(ctx, "categories", cats.len(), encoded.len())?;
        for (&j, c) in encoded.iter().zip(cats) {
            let j = usize::try_from(j)
                .ok()
                .filter(|&j| j < n)
                .ok_or_else(|| ctx.err(format!("`encoded` holds {j}, outside the {n} features")))?;
            let Source::Num(i) = src[j] else {
                return Err(ctx.err(format!("`encoded` names feature {j} twice")));
            };
            src[j] = match c {
                Attr::Strs(v) => {
                    if !is_str[i] {
                        return Err(ctx.err(format!(
                            "feature {j} has string categories but its input column holds numbers"
                        )));
                    }
                    Source::Str(
                        i,
                        v.iter()
                            .enumerate()
                            .map(|(code, s)| (s.clone(), code as f64))
                            .collect(),
                    )
                }
                Attr::F64s(_) | Attr::I64s(_) | Attr::Tensor(_) => {
                    let v = ctx.attr_f64s("categories", c)?;
                    if v.windows(2)
                        .any(|p| p[0].partial_cmp(&p[1]) != Some(std::cmp::Ordering::Less))
                    {
                        return Err(ctx.err(format!(
                            "categories of feature {j} are not sorted, unique numbers"
                        )));
                    }
                    Source::NumCat(i, v)
                }
                other => {
                    return Err(ctx.err(format!("categories of feature {j} are {}", other.kind())));
                }
            };
        }
    }
    for s in &src {
        if let Source::Num(i) = s
            && is_str[*i]
        {
            return Err(ctx.err(format!(
                "input feature {i} holds strings, but the model reads it as a number"
            )));
        }
    }
    let identity = src
        .iter()
        .enumerate()
        .all(|(j, s)| matches!(s, Source::Num(i) if *i == j));
    Ok(if identity { None } else { Some(src) })
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let n_features = ctx.usize("n_features")?;
    if n_features == 0 {
        return Err(ctx.err("`n_features` is 0"));
    }
    let sources = sources(ctx, n_features)?;
    let feature = ctx.i64s("feature")?;
    let n = feature.len();
    let threshold = ctx.f64s("threshold")?;
    let left = ctx.i64s("left")?;
    let right = ctx.i64s("right")?;
    let is_leaf = ctx.i64s("is_leaf")?;
    let missing = ctx.i64s("missing_go_to_left")?;
    let is_cat = ctx.i64s("is_categorical")?;
    let bitset_idx = ctx.i64s("bitset_idx")?;
    let value = ctx.f64s("value")?;
    for (key, len) in [
        ("threshold", threshold.len()),
        ("left", left.len()),
        ("right", right.len()),
        ("is_leaf", is_leaf.len()),
        ("missing_go_to_left", missing.len()),
        ("is_categorical", is_cat.len()),
        ("bitset_idx", bitset_idx.len()),
        ("value", value.len()),
    ] {
        check_len(ctx, key, len, n)?;
    }
    let sizes = tree_sizes(ctx, n)?;
    let k = ctx.usize("n_targets")?;
    if k == 0 {
        return Err(ctx.err("`n_targets` is 0"));
    }
    let targets = ctx
        .i64s("tree_target")?
        .iter()
        .map(|&t| {
            usize::try_from(t)
                .ok()
                .filter(|&t| t < k)
                .ok_or_else(|| ctx.err(format!("`tree_target` {t} is outside the {k} targets")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_len(ctx, "tree_target", targets.len(), sizes.len())?;
    let init: Vec<f64> = ctx.f64s("baseline")?.iter().map(|b| 0.0 + b).collect();
    check_len(ctx, "baseline", init.len(), k)?;

    let raw_left = bitsets(ctx, "raw_left_cat_bitsets")?;
    let known = bitsets(ctx, "known_cat_bitsets")?;
    let f_idx_map = match ctx.opt_attr("f_idx_map") {
        None => vec![0; n_features],
        Some(_) => ctx
            .i64s("f_idx_map")?
            .iter()
            .map(|&v| usize::try_from(v).unwrap_or(usize::MAX))
            .collect(),
    };
    check_len(ctx, "f_idx_map", f_idx_map.len(), n_features)?;

    let flag = |key: &str, g: usize, v: i64| -> Result<bool, Error> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(ctx.err(format!("node {g}: `{key}` = {other}"))),
        }
    };
    for (g, &l) in is_leaf.iter().enumerate() {
        flag("is_leaf", g, l)?;
    }
    let lay = layout(ctx, &sizes, &left, &right, &|g| is_leaf[g] == 1)?;
    let mut nodes = Vec::with_capacity(lay.nodes.len());
    for (id, &(g, children)) in lay.nodes.iter().enumerate() {
        let Some((l, r)) = children else {
            let me = u32::try_from(id).map_err(|_| ctx.err("too many nodes"))?;
            nodes.push(Node {
                thr: 0.0,
                feat: LEAF,
                left: me,
                right: me,
                bitset: 0,
            });
            continue;
        };
        let f = usize::try_from(feature[g])
            .ok()
            .filter(|&f| f < n_features)
            .ok_or_else(|| {
                ctx.err(format!(
                    "node {g}: `feature` = {} is outside the {n_features} features",
                    feature[g]
                ))
            })?;
        let mut feat = u32::try_from(f)
            .ok()
            .filter(|&f| f <= FEATURE)
            .ok_or_else(|| ctx.err("feature index too large"))?;
        if flag("missing_go_to_left", g, missing[g])? {
            feat |= MISS_LEFT;
        }
        let mut bitset = 0;
        if flag("is_categorical", g, is_cat[g])? {
            feat |= CATEGORICAL;
            bitset = usize::try_from(bitset_idx[g])
                .ok()
                .filter(|&b| b < raw_left.len())
                .and_then(|b| u32::try_from(b).ok())
                .ok_or_else(|| {
                    ctx.err(format!(
                        "node {g}: `bitset_idx` = {} is outside the {} bitsets",
                        bitset_idx[g],
                        raw_left.len()
                    ))
                })?;
            if f_idx_map[f] >= known.len() {
                return Err(ctx.err(format!(
                    "node {g}: categorical feature {f} has no row in `known_cat_bitsets`"
                )));
            }
        }
        nodes.push(Node {
            thr: threshold[g],
            feat,
            left: l,
            right: r,
            bitset,
        });
    }
    let leaf_values = lay.nodes.iter().map(|&(g, _)| value[g]).collect();

    let (outputs, classes, link, label, probability) = match ctx.str("task")? {
        "regression" => {
            let link = match ctx.str("link")? {
                "identity" => Link::Identity,
                "exp" => Link::Exp,
                other => return Err(ctx.err(format!("unknown regression link `{other}`"))),
            };
            if k != 1 {
                return Err(ctx.err(format!("a regressor has 1 target, not {k}")));
            }
            (
                vec![ctx.scalar_out("prediction", DType::F64)?],
                None,
                link,
                false,
                false,
            )
        }
        "classification" => {
            let classes = Classes::from_ctx(ctx)?;
            let c = classes.len();
            let link = match ctx.str("link")? {
                "logistic" if k == 1 && c == 2 => Link::Logistic,
                "softmax" if k == c && c > 2 => Link::Softmax,
                other => {
                    return Err(ctx.err(format!(
                        "link `{other}` does not fit {c} classes and {k} targets"
                    )));
                }
            };
            let (outputs, ports) = classes.outputs(ctx, k)?;
            if ports.decision {
                return Err(ctx.err("this op writes no `decision` output"));
            }
            (outputs, Some(classes), link, ports.label, ports.probability)
        }
        other => return Err(ctx.err(format!("unknown task `{other}`"))),
    };

    Ok(Built {
        kernel: Box::new(Hgb {
            nodes,
            roots: lay.roots,
            targets,
            leaf_values,
            raw_left,
            known,
            f_idx_map,
            k,
            init,
            sources,
            classes,
            link,
            label,
            probability,
        }),
        outputs,
    })
}

#[inline(always)]
fn in_bitset(b: &[u32; 8], code: usize) -> bool {
    (b[code / 32] >> (code % 32)) & 1 == 1
}

impl Hgb {
    /// `_predict_one_from_raw_data` for one tree.
    #[inline(always)]
    fn walk(&self, root: u32, x: &[f64]) -> usize {
        let mut r = root;
        loop {
            let nd = &self.nodes[r as usize];
            if nd.feat & LEAF != 0 {
                return r as usize;
            }
            let f = (nd.feat & FEATURE) as usize;
            let v = x[f];
            let miss_left = nd.feat & MISS_LEFT != 0;
            let go_left = if v.is_nan() {
                miss_left
            } else if nd.feat & CATEGORICAL != 0 {
                if !(0.0..256.0).contains(&v) {
                    miss_left
                } else {
                    // C's cast to uint8 truncates toward zero.
                    let code = v as usize;
                    if in_bitset(&self.raw_left[nd.bitset as usize], code) {
                        true
                    } else if in_bitset(&self.known[self.f_idx_map[f]], code) {
                        false
                    } else {
                        miss_left
                    }
                }
            } else {
                v <= nd.thr
            };
            r = if go_left { nd.left } else { nd.right };
        }
    }

    /// The model's feature matrix: inputs reordered and categories encoded.
    fn prepare(&self, sources: &[Source], inputs: &[&Value], rows: usize) -> Matrix {
        let feats = features(inputs);
        let n = sources.len();
        let mut m = Matrix::zeros(rows, n);
        for (j, s) in sources.iter().enumerate() {
            match s {
                Source::Num(i) => {
                    let f = feats[*i];
                    for r in 0..rows {
                        m.data[r * n + j] = f.num(r).unwrap_or(f64::NAN);
                    }
                }
                Source::Str(i, map) => {
                    let f = feats[*i];
                    for r in 0..rows {
                        m.data[r * n + j] = f
                            .str(r)
                            .and_then(|s| map.get(s))
                            .copied()
                            .unwrap_or(f64::NAN);
                    }
                }
                Source::NumCat(i, cats) => {
                    let f = feats[*i];
                    for r in 0..rows {
                        let v = f.num(r).unwrap_or(f64::NAN);
                        m.data[r * n + j] = if v.is_nan() {
                            f64::NAN
                        } else {
                            // Exact equality, as `np.searchsorted` + `isin` match (-0.0 == 0.0).
                            cats.binary_search_by(|c| {
                                c.partial_cmp(&v).unwrap_or(std::cmp::Ordering::Less)
                            })
                            .map_or(f64::NAN, |code| code as f64)
                        };
                    }
                }
            }
        }
        m
    }

    fn raw(&self, x: &Matrix) -> Matrix {
        let (rows, n, k) = (x.rows, x.cols, self.k);
        let mut acc = Matrix::zeros(rows, k);
        for row in acc.data.chunks_exact_mut(k) {
            row.copy_from_slice(&self.init);
        }
        let mut start = 0;
        while start < rows {
            let end = (start + BLOCK).min(rows);
            let xs = &x.data[start * n..end * n];
            let accs = &mut acc.data[start * k..end * k];
            for (&root, &target) in self.roots.iter().zip(&self.targets) {
                for (xr, ar) in xs.chunks_exact(n).zip(accs.chunks_exact_mut(k)) {
                    ar[target] += self.leaf_values[self.walk(root, xr)];
                }
            }
            start = end;
        }
        acc
    }
}

impl Kernel for Hgb {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let raw = match &self.sources {
            None => self.raw(&gather(inputs)),
            Some(s) => self.raw(&self.prepare(s, inputs, rows)),
        };
        let Some(classes) = &self.classes else {
            let mut p = raw.data;
            if self.link == Link::Exp {
                p.iter_mut().for_each(|v| *v = v.exp());
            }
            return Ok(vec![Value::Array(Arc::new(Float64Array::from(p)))]);
        };
        let idx: Vec<usize> = if self.link == Link::Logistic {
            // np.argmax([0.5, 0.5]) is 0, so scikit-learn uses a strict `> 0` here.
            raw.data.iter().map(|&v| usize::from(v > 0.0)).collect()
        } else {
            argmax_rows(&raw)
        };
        let mut out = Vec::with_capacity(2);
        if self.label {
            out.push(Value::Array(classes.labels(&idx)));
        }
        if self.probability {
            out.push(Value::Matrix(if self.link == Link::Logistic {
                binary_proba(raw.data.iter().map(|&v| expit(v)), raw.rows)
            } else {
                let mut p = raw;
                softmax_rows(&mut p);
                p
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_reads_bits_like_scikit_learn() {
        let mut b = [0u32; 8];
        b[0] = 0b1010;
        b[7] = 1 << 31;
        assert!(in_bitset(&b, 1) && in_bitset(&b, 3) && in_bitset(&b, 255));
        assert!(!in_bitset(&b, 0) && !in_bitset(&b, 2) && !in_bitset(&b, 254));
    }
}
