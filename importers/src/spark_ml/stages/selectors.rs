//! Feature selection, a copy of some elements of a vector through the generic `select` op:
//! VectorSlicer (by `indices`, or by `names` where the saved model tells them) and the fitted
//! selectors ChiSqSelectorModel, UnivariateFeatureSelectorModel and
//! VarianceThresholdSelectorModel (exporters/keel/spark/_selectors.py).

use super::{any_vector, first, width_of};
use crate::spark_ml::Error;
use crate::spark_ml::columns::{Col, Ctx, Want};
use crate::spark_ml::data::{as_i64, as_list, field};
use crate::spark_ml::read::V;
use crate::spark_ml::stage::Stage;
use std::collections::BTreeMap;

/// VectorSlicer by `indices` and `names` (the names resolved only for a vector assembled from
/// scalar columns, whose features are named after them).
pub(super) fn vector_slicer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let mut indices: Vec<i64> = match st.param("indices") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| st.malformed(format!("param `indices` holds {v}")))
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(st.malformed(format!("param `indices` is {v}"))),
    };
    let x = any_vector(ctx, st, read, 0)?;
    if let Some(names) = st.strs_param("names")?.filter(|n| !n.is_empty()) {
        // Spark resolves names through the input column's attribute metadata, which a
        // saved model does not carry; it is known only for a vector assembled from
        // scalar columns (each feature named after its column).
        if !ctx.scalar_assembled.contains(read) {
            return Err(st.unsupported(format!(
                "names={names:?}: the feature names of column `{read}` are not known from the saved model (slice by `indices`, or assemble `{read}` from scalar columns)"
            )));
        }
        for n in &names {
            let i = x.names.iter().position(|m| m == n).ok_or_else(|| {
                st.unsupported(format!(
                    "feature name `{n}` is not a feature of column `{read}`"
                ))
            })?;
            indices.push(i as i64);
        }
    }
    if indices.is_empty() {
        return Err(st.unsupported("VectorSlicer selects no feature"));
    }
    let w = width_of(&x) as i64;
    if indices.iter().any(|&i| i < 0 || i >= w) {
        return Err(st.unsupported(format!("indices {indices:?} fall outside the {w} features")));
    }
    let names = indices
        .iter()
        .map(|&i| x.names.get(i as usize).cloned().unwrap_or_default())
        .collect();
    // Selection is a copy, so the generic `select` op serves (as the exporter).
    attrs.insert(
        "indices".into(),
        ctx.i64s(&format!("{node}/indices"), indices),
    );
    ctx.unary_stage(
        "select",
        node,
        &x,
        Col::vector(out, names),
        false,
        attrs,
        st,
    );
    Ok(())
}

/// A fitted selector: `selectedFeatures` (strictly increasing, as Spark requires) of the
/// features vector, through the generic `select` op.
pub(super) fn selector(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let row = st.one_row()?;
    let sel: Vec<i64> = as_list(field(&row, "selectedFeatures", st)?, "selectedFeatures", st)?
        .iter()
        .map(|v: &V| as_i64(v, "selectedFeatures", st))
        .collect::<Result<_, _>>()?;
    if sel.is_empty() {
        return Err(st.unsupported("the selector selected no feature (keel has no empty vectors)"));
    }
    if sel.windows(2).any(|w| w[0] >= w[1]) || sel[0] < 0 {
        return Err(st.malformed("selectedFeatures are not strictly increasing"));
    }
    let x = ctx.get(read, Want::Vector(0), st)?;
    let width = x.width.unwrap_or(0);
    if sel.iter().any(|&i| i as u64 >= width) {
        return Err(st.unsupported(format!(
            "selectedFeatures {sel:?} fall outside the {width} features of `{read}`"
        )));
    }
    let names = sel
        .iter()
        .map(|&i| x.names.get(i as usize).cloned().unwrap_or_default())
        .collect();
    attrs.insert("indices".into(), ctx.i64s(&format!("{node}/indices"), sel));
    ctx.unary_stage(
        "select",
        node,
        &x,
        Col::vector(out, names),
        false,
        attrs,
        st,
    );
    Ok(())
}
