//! One vector in, one vector out: StandardScalerModel, MinMaxScalerModel, RobustScalerModel,
//! MaxAbsScalerModel, ElementwiseProduct, Normalizer, PolynomialExpansion and PCAModel, each to
//! the op and attributes the Python exporter gives it (exporters/keel/spark/_scalers.py,
//! _feature.py).

use super::{any_vector, exact_vector, first, width_of};
use crate::spark_ml::Error;
use crate::spark_ml::columns::{Col, Ctx};
use crate::spark_ml::data::{MAX_ELEMENTS, field, matrix, vector};
use crate::spark_ml::stage::{Stage, json_f64};
use keel_bundle::Attr;
use serde_json::Value;
use std::collections::BTreeMap;

/// Largest PolynomialExpansion output the exporter accepts (as `_feature.py`).
const MAX_POLY_TERMS: u64 = 1 << 24;

/// StandardScalerModel: `mean` when `withMean`, `std` when `withStd`.
pub(super) fn standard_scaler(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (mean, std) = fitted_pair(st, "mean", "std")?;
    let x = exact_vector(ctx, st, first(st, reads)?, std.len())?;
    let mut attrs = BTreeMap::new();
    if st.bool_param("withMean")?.unwrap_or(false) {
        attrs.insert("mean".into(), ctx.f64s(&format!("{node}/mean"), mean));
    }
    if st.bool_param("withStd")?.unwrap_or(true) {
        attrs.insert("std".into(), ctx.f64s(&format!("{node}/std"), std));
    }
    let out = first(st, writes)?;
    ctx.same_shape_stage("spark.standard_scaler", node, x, out, attrs, st);
    Ok(())
}

/// MinMaxScalerModel: the fitted `originalMin`/`originalMax` and the target `min`/`max`.
pub(super) fn min_max_scaler(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (lo, hi) = fitted_pair(st, "originalMin", "originalMax")?;
    let x = exact_vector(ctx, st, first(st, reads)?, hi.len())?;
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "original_min".into(),
        ctx.f64s(&format!("{node}/original_min"), lo),
    );
    attrs.insert(
        "original_max".into(),
        ctx.f64s(&format!("{node}/original_max"), hi),
    );
    attrs.insert("min".into(), Attr::F64(st.f64_param("min")?.unwrap_or(0.0)));
    attrs.insert("max".into(), Attr::F64(st.f64_param("max")?.unwrap_or(1.0)));
    let out = first(st, writes)?;
    ctx.same_shape_stage("spark.min_max_scaler", node, x, out, attrs, st);
    Ok(())
}

/// The two fitted vectors `a` and `b` of a scaler's one data row, of one length.
fn fitted_pair(st: &Stage, a: &str, b: &str) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let row = st.one_row()?;
    let (va, _) = vector(field(&row, a, st)?, a, st)?;
    let (vb, _) = vector(field(&row, b, st)?, b, st)?;
    if va.len() != vb.len() {
        return Err(st.malformed(format!("`{a}` and `{b}` differ in length")));
    }
    Ok((va, vb))
}

/// RobustScalerModel: `(x - median) * (1/range)`, which is `spark.standard_scaler` with `mean`
/// = median and `std` = range.
pub(super) fn robust_scaler(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (median, range) = fitted_pair(st, "median", "range")?;
    let width = median.len();
    let mut attrs = BTreeMap::new();
    if st.bool_param("withCentering")?.unwrap_or(false) {
        if median.iter().any(|v| !v.is_finite()) {
            return Err(st.unsupported("a fitted median is not finite"));
        }
        attrs.insert(
            "mean".into(),
            ctx.f64s(&format!("{node}/median"), median.clone()),
        );
    }
    if st.bool_param("withScaling")?.unwrap_or(true) {
        // 1/range overflowing would make Spark's answer depend on vector storage.
        if range
            .iter()
            .any(|&v| !v.is_finite() || (v != 0.0 && !(1.0 / v).is_finite()))
        {
            return Err(st.unsupported("a fitted range is not finite or 1/range overflows"));
        }
        attrs.insert("std".into(), ctx.f64s(&format!("{node}/range"), range));
    }
    let x = exact_vector(ctx, st, first(st, reads)?, width)?;
    let out = first(st, writes)?;
    ctx.same_shape_stage("spark.standard_scaler", node, x, out, attrs, st);
    Ok(())
}

/// ElementwiseProduct: the `scalingVec` param, finite values only.
pub(super) fn elementwise_product(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let w = match st.param("scalingVec") {
        Some(v @ Value::Object(_)) => {
            json_vector(v).ok_or_else(|| st.malformed(format!("param `scalingVec` is {v}")))?
        }
        _ => return Err(st.unsupported("scalingVec is not set")),
    };
    if w.iter().any(|v| !v.is_finite()) {
        return Err(st.unsupported(
            "scalingVec holds a non-finite value (the result would depend on vector storage)",
        ));
    }
    let width = w.len();
    let mut attrs = BTreeMap::new();
    attrs.insert("scaling".into(), ctx.f64s(&format!("{node}/scaling"), w));
    let x = exact_vector(ctx, st, first(st, reads)?, width)?;
    let out = first(st, writes)?;
    ctx.same_shape_stage("spark.elementwise_product", node, x, out, attrs, st);
    Ok(())
}

/// A vector param as Spark writes it in metadata JSON: `{"type": 1, "values": [...]}`
/// (dense) or `{"type": 0, "size": n, "indices": [...], "values": [...]}` (sparse).
fn json_vector(v: &Value) -> Option<Vec<f64>> {
    let values: Vec<f64> = v
        .get("values")?
        .as_array()?
        .iter()
        .map(json_f64)
        .collect::<Option<_>>()?;
    match v.get("type")?.as_i64()? {
        1 => Some(values),
        0 => {
            let size = usize::try_from(v.get("size")?.as_i64()?).ok()?;
            if size > MAX_ELEMENTS {
                return None;
            }
            let mut out = vec![0.0; size];
            let idx = v.get("indices")?.as_array()?;
            if idx.len() != values.len() {
                return None;
            }
            for (i, x) in idx.iter().zip(values) {
                *out.get_mut(usize::try_from(i.as_i64()?).ok()?)? = x;
            }
            Some(out)
        }
        _ => None,
    }
}

/// MaxAbsScalerModel: the fitted `maxAbs`.
pub(super) fn max_abs_scaler(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let row = st.one_row()?;
    let (m, _) = vector(field(&row, "maxAbs", st)?, "maxAbs", st)?;
    let x = any_vector(ctx, st, read, m.len())?;
    if width_of(&x) != m.len() {
        return Err(st.unsupported(format!(
            "fitted on {} features, input has {:?}",
            m.len(),
            x.width
        )));
    }
    let mut attrs = BTreeMap::new();
    attrs.insert("max_abs".into(), ctx.f64s(&format!("{node}/max_abs"), m));
    ctx.same_shape_stage(
        "spark.max_abs_scaler",
        node,
        x,
        first(st, writes)?,
        attrs,
        st,
    );
    Ok(())
}

/// Normalizer to unit `p`-norm.
pub(super) fn normalizer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let x = any_vector(ctx, st, first(st, reads)?, 0)?;
    let p = st.f64_param("p")?.unwrap_or(2.0);
    let mut attrs = BTreeMap::new();
    attrs.insert("p".into(), Attr::F64(p));
    ctx.same_shape_stage("spark.normalizer", node, x, first(st, writes)?, attrs, st);
    Ok(())
}

/// PolynomialExpansion of `degree`; its width is the number of monomials, bounded.
pub(super) fn polynomial_expansion(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let x = any_vector(ctx, st, first(st, reads)?, 0)?;
    let degree = match st.param("degree") {
        None => 2,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| st.malformed(format!("param `degree` is {v}")))?,
    };
    if degree < 1 {
        return Err(st.malformed(format!("degree {degree} is below 1")));
    }
    let n = width_of(&x) as u64;
    let terms = binomial(n + degree as u64, degree as u64)
        .map(|c| c - 1)
        .filter(|t| *t <= MAX_POLY_TERMS)
        .ok_or_else(|| {
            st.unsupported(format!(
                "{n} features at degree {degree} give more than {MAX_POLY_TERMS} terms"
            ))
        })?;
    let mut attrs = BTreeMap::new();
    attrs.insert("degree".into(), Attr::I64(degree));
    let names = (0..terms).map(|i| format!("poly[{i}]")).collect();
    let y = Col::vector(first(st, writes)?, names);
    ctx.unary_stage("spark.polynomial_expansion", node, &x, y, false, attrs, st);
    Ok(())
}

/// PCAModel: `pc` is [n features, k components]; the op takes [k, n].
pub(super) fn pca(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let row = st.one_row()?;
    let (n, k, pc, _) = matrix(field(&row, "pc", st)?, "pc", st)?;
    let x = any_vector(ctx, st, read, n)?;
    if width_of(&x) != n {
        return Err(st.unsupported(format!("fitted on {n} features, input has {:?}", x.width)));
    }
    let mut t = vec![0.0; n * k];
    for i in 0..n {
        for j in 0..k {
            t[j * n + i] = pc[i * k + j];
        }
    }
    let mut attrs = BTreeMap::new();
    let a = ctx.tensor_f64(&format!("{node}/components"), &[k, n], &t);
    attrs.insert("components".into(), a);
    let names = (0..k).map(|j| format!("pc[{j}]")).collect();
    let y = Col::vector(first(st, writes)?, names);
    ctx.unary_stage("spark.pca", node, &x, y, false, attrs, st);
    Ok(())
}

/// `n choose k`, `None` on overflow.
fn binomial(n: u64, k: u64) -> Option<u64> {
    let k = k.min(n.saturating_sub(k));
    let mut c: u64 = 1;
    for i in 0..k {
        // Exact at every step: c * (n - i) is divisible by (i + 1).
        c = c.checked_mul(n - i)? / (i + 1);
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::binomial;

    #[test]
    fn binomial_counts() {
        assert_eq!(binomial(5, 2), Some(10));
        assert_eq!(binomial(7, 3), Some(35));
        assert_eq!(binomial(3, 0), Some(1));
        assert_eq!(binomial(u64::MAX, 3), None);
    }
}
