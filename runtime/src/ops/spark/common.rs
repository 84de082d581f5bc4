//! Shared pieces of the Spark ML ops (`spark.*`): reading Spark's scalar columns, the per-column
//! output bindings of Spark's multi-column transformers, and the three output columns of a
//! Spark predictor with the arithmetic Spark uses to derive one from another.
//!
//! Spark ML scores a row at a time in JVM doubles. Its column values differ from scikit-learn's
//! in two ways the ops must keep:
//! - A scalar column may hold a SQL `NULL` distinct from `NaN`; several transformers treat the
//!   two differently (a `Bucketizer` writes `NULL` for `NULL` but a bucket or an error for
//!   `NaN`). keel carries `NULL` as an Arrow null in scalar columns; vector columns (feature
//!   blocks) have no nulls, as Spark vectors have none.
//! - A predictor writes `prediction` (a double: the class *index* for classifiers),
//!   `probability` and `rawPrediction` (vectors, one element per class). Which columns a model
//!   writes is decided by its column parameters; a bundle binds the matching ports
//!   `prediction`, `probability` and `raw_prediction`, in any order.
//!
//! Spark's `Vector.argmax` keeps the first maximum and compares with `>`, so a `NaN` never
//! displaces the running maximum (unlike numpy's `argmax`, which returns the first NaN).

use crate::error::Error;
use crate::op::BuildCtx;
use crate::value::{ColInfo, ColType, Matrix, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array};
use arrow_schema::DataType;
use keel_bundle::{Attr, DType};
use std::sync::Arc;

/// The value at `row` of a scalar column as Spark's `cast(... as double)` reads it: `None` for
/// a null; integers and booleans (1.0/0.0) widened exactly.
#[inline]
pub fn scalar_at(a: &dyn Array, row: usize) -> Option<f64> {
    if a.is_null(row) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Float64 => a.as_primitive::<Float64Type>().value(row),
        DataType::Float32 => f64::from(a.as_primitive::<Float32Type>().value(row)),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(row) as f64,
        DataType::Int32 => f64::from(a.as_primitive::<Int32Type>().value(row)),
        DataType::Boolean => f64::from(u8::from(a.as_boolean().value(row))),
        // Strings never reach a numeric port: the planner refuses them at load.
        _ => f64::NAN,
    })
}

/// An f64 column from optional values (`None` = null).
pub fn f64_column(values: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

/// The columns bound to port `X`, each a scalar column (Spark's multi-column transformers read
/// scalar columns one by one); `numeric` additionally refuses strings.
pub fn scalar_inputs(ctx: &BuildCtx<'_>, numeric: bool) -> Result<Vec<(String, DType)>, Error> {
    let mut out = Vec::new();
    for (col, info) in ctx.input("X")? {
        match info.ty {
            ColType::Scalar(d) if !numeric || info.ty.is_numeric() => out.push((col.clone(), d)),
            ColType::Scalar(d) => {
                return Err(ctx.err(format!("column `{col}` is {d}, but this op reads numbers")));
            }
            ColType::Vector(_) | ColType::Sparse(_) | ColType::StrList | ColType::Tensor(_) => {
                return Err(ctx.err(format!(
                    "column `{col}` is {:?}, but this op reads scalar columns",
                    info.ty
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(ctx.err("port `X` binds no columns"));
    }
    Ok(out)
}

/// The columns bound to output port `Y`, which must be one per input column.
pub fn per_column_outputs<'a>(ctx: &BuildCtx<'a>, n: usize) -> Result<&'a [String], Error> {
    let y = ctx.output("Y")?;
    if y.len() != n {
        return Err(ctx.err(format!(
            "output port `Y` must bind one column per input column ({n}), binds {}",
            y.len()
        )));
    }
    Ok(y)
}

/// A width `n` attribute list read as f64s, one per input feature.
pub fn f64s_of_len(ctx: &BuildCtx<'_>, key: &str, n: usize) -> Result<Vec<f64>, Error> {
    let v = ctx.f64s(key)?;
    if v.len() != n {
        return Err(ctx.err(format!("`{key}` has {} values for {n} features", v.len())));
    }
    Ok(v)
}

/// The most elements a "filled" matrix attribute (see [`filled_matrix`]) may expand to: what
/// a dense f64 tensor could hold under the reader's 2 GiB total-size limit.
pub const MAX_FILLED_ELEMENTS: usize = 1 << 28;

/// A `[rows, cols]` f64 matrix attribute `key`, in either encoding:
/// - dense: a tensor or inline list, as [`BuildCtx::matrix`] reads it;
/// - filled: a `list` of three attributes `[fill, index, values]`: `fill` (f64s, one per
///   row) is the value of every element not listed, `index` (i64s, flat positions
///   `r * cols + j`, strictly increasing) and `values` (f64s) the others. Models over
///   hashed features (2^18 columns by default) are mostly one value per row (0 for a linear
///   model's unseen features, a smoothed constant for naive Bayes), which a dense tensor would
///   spend megabytes on.
///
/// Returns the row count and the dense row-major values.
pub fn filled_matrix(
    ctx: &BuildCtx<'_>,
    key: &str,
    cols: usize,
) -> Result<(usize, Vec<f64>), Error> {
    let parts = match ctx.attr(key)? {
        Attr::List(parts) => parts,
        _ => {
            let (rows, _, data) = ctx.matrix(key, Some(cols))?;
            return Ok((rows, data));
        }
    };
    let [fill, index, values] = parts.as_slice() else {
        return Err(ctx.err(format!(
            "`{key}` is a list of {} attributes; the filled encoding has 3 (fill, index, values)",
            parts.len()
        )));
    };
    let fill = ctx.attr_f64s(key, fill)?;
    let index = match index {
        Attr::I64s(v) => v.clone(),
        Attr::Tensor(t) => ctx.bundle.tensor(t)?.to_i64_any()?,
        other => {
            return Err(ctx.err(format!(
                "`{key}` index should be an integer array, found {}",
                other.kind()
            )));
        }
    };
    let values = ctx.attr_f64s(key, values)?;
    let rows = fill.len();
    let total = rows
        .checked_mul(cols)
        .filter(|t| *t <= MAX_FILLED_ELEMENTS)
        .ok_or_else(|| {
            ctx.err(format!(
                "`{key}` is {rows} x {cols}, over the limit of {MAX_FILLED_ELEMENTS} elements"
            ))
        })?;
    if index.len() != values.len() {
        return Err(ctx.err(format!(
            "`{key}` has {} indices for {} values",
            index.len(),
            values.len()
        )));
    }
    let mut data = Vec::with_capacity(total);
    for f in &fill {
        data.extend(std::iter::repeat_n(*f, cols));
    }
    let mut last = None;
    for (&i, &v) in index.iter().zip(&values) {
        let pos = usize::try_from(i)
            .ok()
            .filter(|p| *p < total && last.is_none_or(|l| *p > l))
            .ok_or_else(|| {
                ctx.err(format!(
                    "`{key}` index {i} is out of range or not increasing ({total} elements)"
                ))
            })?;
        data[pos] = v;
        last = Some(pos);
    }
    Ok((rows, data))
}

/// The width of port `X` for a model that reads either one sparse block or dense features,
/// and whether it is that sparse block (whose feature names are not materialised: it may be
/// 2^18 wide).
pub fn model_width(ctx: &BuildCtx<'_>) -> Result<(usize, bool), Error> {
    Ok(match ctx.sparse_input("X")? {
        Some(w) => (w, true),
        None => (ctx.numeric_input("X")?.len(), false),
    })
}

/// Spark's `Vector.argmax`: the first index of the largest value, comparing with `>`.
#[inline]
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    let mut max = match v.first() {
        Some(&x) => x,
        None => return 0,
    };
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > max {
            best = i;
            max = x;
        }
    }
    best
}

/// Spark's `normalizeToProbabilitiesInPlace`: divides by the sum unless the sum is 0 (an
/// all-zero vector stays all zero).
#[inline]
pub fn normalize(v: &mut [f64]) {
    let sum: f64 = v.iter().sum();
    if sum != 0.0 {
        v.iter_mut().for_each(|x| *x /= sum);
    }
}

/// Spark's `probability2prediction` with `thresholds` set: the argmax of `p / t`, where a
/// zero threshold makes its class win outright (`+Infinity`).
#[inline]
pub fn threshold_argmax(p: &[f64], thresholds: &[f64], scratch: &mut Vec<f64>) -> usize {
    scratch.clear();
    scratch.extend(
        p.iter()
            .zip(thresholds)
            .map(|(&p, &t)| if t == 0.0 { f64::INFINITY } else { p / t }),
    );
    argmax(scratch)
}

/// Reads the optional `thresholds` attribute of a classifier with `n` classes; Spark requires
/// non-negative values with at most one zero.
pub fn thresholds(ctx: &BuildCtx<'_>, n: usize) -> Result<Option<Vec<f64>>, Error> {
    if ctx.opt_attr("thresholds").is_none() {
        return Ok(None);
    }
    let t = f64s_of_len(ctx, "thresholds", n)?;
    if t.iter().any(|v| v.is_nan() || *v < 0.0 || v.is_infinite()) {
        return Err(ctx.err("`thresholds` must hold finite non-negative numbers"));
    }
    if t.iter().filter(|v| **v == 0.0).count() > 1 {
        return Err(ctx.err("`thresholds` holds more than one zero"));
    }
    Ok(Some(t))
}

/// One of a Spark predictor's output columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// `prediction`: a double (the class index for a classifier).
    Prediction,
    /// `probability`: one element per class.
    Probability,
    /// `rawPrediction`: one element per class.
    Raw,
}

/// The bound output ports of a predictor, in binding order, with their planned types.
/// `classes` is the number of classes (`None` for a regressor, which writes only
/// `prediction`); `probability` says whether the model has a probability column.
pub fn predictor_outputs(
    ctx: &BuildCtx<'_>,
    classes: Option<usize>,
    probability: bool,
) -> Result<(Vec<ColInfo>, Vec<Out>), Error> {
    let mut infos = Vec::new();
    let mut order = Vec::new();
    for b in &ctx.node.outputs {
        let (out, info) = match (b.port.as_str(), classes) {
            ("prediction", _) => (Out::Prediction, ctx.scalar_out("prediction", DType::F64)?),
            ("probability", Some(k)) if probability => (
                Out::Probability,
                ctx.vector_out("probability", (0..k).map(|i| i.to_string()).collect())?,
            ),
            ("raw_prediction", Some(k)) => (
                Out::Raw,
                ctx.vector_out("raw_prediction", (0..k).map(|i| i.to_string()).collect())?,
            ),
            (p, _) => {
                return Err(ctx.err(format!("this model has no output port `{p}`")));
            }
        };
        if order.contains(&out) {
            return Err(ctx.err(format!("output port `{}` is bound twice", b.port)));
        }
        order.push(out);
        infos.push(info);
    }
    if order.is_empty() {
        return Err(ctx.err("no output port is bound"));
    }
    Ok((infos, order))
}

/// A classifier's values for its bound outputs, in binding order: Spark's prediction (the
/// thresholded argmax of the probabilities when `thresholds` are set, else the argmax of the
/// raw scores), then the probability and raw blocks themselves. `op` names the op in errors.
pub fn classifier_values(
    raw: Matrix,
    prob: Matrix,
    thresholds: Option<&[f64]>,
    outs: &[Out],
    op: &str,
) -> Result<Vec<Value>, Error> {
    let mut scratch = Vec::new();
    let prediction: Vec<f64> = (0..raw.rows)
        .map(|i| match thresholds {
            Some(t) => threshold_argmax(prob.row(i), t, &mut scratch) as f64,
            None => argmax(raw.row(i)) as f64,
        })
        .collect();
    let (mut prediction, mut prob, mut raw) = (Some(prediction), Some(prob), Some(raw));
    let mut out = Vec::with_capacity(outs.len());
    for o in outs {
        let v = match o {
            Out::Prediction => prediction
                .take()
                .map(|p| Value::Array(Arc::new(Float64Array::from(p)))),
            Out::Probability => prob.take().map(Value::Matrix),
            Out::Raw => raw.take().map(Value::Matrix),
        };
        out.push(v.ok_or_else(|| Error::Plan {
            node: String::new(),
            op: op.into(),
            message: format!("output {o:?} is not available"),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_keeps_first_and_ignores_later_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[1.0, f64::NAN, 2.0]), 2);
        assert_eq!(argmax(&[f64::NAN, 5.0]), 0);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn normalize_leaves_zero_vectors() {
        let mut v = [0.0, 0.0];
        normalize(&mut v);
        assert_eq!(v, [0.0, 0.0]);
        let mut v = [1.0, 3.0];
        normalize(&mut v);
        assert_eq!(v, [0.25, 0.75]);
    }

    #[test]
    fn zero_threshold_wins() {
        let mut s = Vec::new();
        assert_eq!(threshold_argmax(&[0.9, 0.1], &[0.5, 0.0], &mut s), 1);
        assert_eq!(threshold_argmax(&[0.4, 0.6], &[0.2, 0.5], &mut s), 0);
    }
}
