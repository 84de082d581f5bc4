//! Column encoders and assemblers: VectorAssembler, StringIndexerModel, IndexToString,
//! OneHotEncoderModel, VectorIndexerModel, Bucketizer, Binarizer and ImputerModel, each to the
//! op and attributes the Python exporter gives it (exporters/keel/spark/_categorical.py,
//! _feature.py), so a saved model and a live one give equivalent bundles.

use super::{describe, first};
use crate::spark_ml::Error;
use crate::spark_ml::columns::{Col, Ctx, Want};
use crate::spark_ml::data::{as_f64, as_i64, as_list, field, strings, usize_of};
use crate::spark_ml::read::V;
use crate::spark_ml::stage::{Stage, json_f64};
use keel_bundle::{Attr, DType};
use serde_json::Value;
use std::collections::BTreeMap;

/// VectorAssembler: scalars and vectors concatenated; a sparse block in makes a sparse block
/// out.
pub(super) fn vector_assembler(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let mode = st.handle_invalid()?;
    let mut x = Vec::new();
    let mut names = Vec::new();
    for c in reads {
        let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
        if !col.is_numeric() {
            return Err(st.unsupported(format!(
                "column `{c}` holds strings; VectorAssembler takes numbers"
            )));
        }
        names.extend(col.names.iter().cloned());
        x.push(col);
    }
    attrs.insert("handle_invalid".into(), Attr::Str(mode));
    let out = first(st, writes)?;
    // A sparse block in makes the op write a sparse block (as `keel.spark._text` wraps the assembler).
    let sparse = x
        .iter()
        .any(|c| c.sparse)
        .then(|| x.iter().map(|c| c.width.unwrap_or(1)).sum::<u64>());
    if x.iter().all(|c| c.width.is_none()) {
        ctx.scalar_assembled.insert(out.to_string());
    }
    ctx.stage(
        "spark.vector_assembler",
        node,
        &x,
        vec![("Y", vec![out.to_string()])],
        attrs,
        st,
    );
    match sparse {
        Some(w) => ctx.put(Col::sparse(out, w), false),
        None => ctx.put(Col::vector(out, names), false),
    }
    Ok(())
}

/// StringIndexerModel over one or several string (or integer) columns.
pub(super) fn string_indexer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let mode = st.handle_invalid()?;
    let row = st.one_row()?;
    let all: Vec<Vec<String>> = match row.get("labelsArray").or_else(|| row.get("labels")) {
        Some(V::L(items)) if row.contains_key("labelsArray") => items
            .iter()
            .map(|l| strings(l, st))
            .collect::<Result<_, _>>()?,
        Some(l @ V::L(_)) => vec![strings(l, st)?],
        _ => return Err(st.malformed("data has no `labelsArray`")),
    };
    let (ins, _) = st.in_out()?;
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for c in reads {
        let k = ins
            .iter()
            .position(|i| i == c)
            .ok_or_else(|| st.malformed("column mismatch"))?;
        let l = all.get(k).ok_or_else(|| {
            st.malformed(format!(
                "{} label lists for {} columns",
                all.len(),
                ins.len()
            ))
        })?;
        let col = ctx.get(c, Want::Scalar(DType::Utf8), st)?;
        if col.width.is_some() || !matches!(col.dtype, DType::Utf8 | DType::I64) {
            return Err(st.unsupported(format!(
                "column `{c}` is {}; keel indexes string and integer columns (Spark casts other types to text with its own number formatting)",
                col.dtype
            )));
        }
        labels.push(Attr::Strs(l.clone()));
        x.push(col);
    }
    attrs.insert("labels".into(), Attr::List(labels));
    attrs.insert("handle_invalid".into(), Attr::Str(mode));
    ctx.stage(
        "spark.string_indexer",
        node,
        &x,
        vec![("Y", writes.to_vec())],
        attrs,
        st,
    );
    for o in writes {
        ctx.put(Col::scalar(o, DType::F64), false);
    }
    Ok(())
}

/// IndexToString with explicit `labels` (a saved model does not carry the input column's
/// nominal attribute, which Spark reads when `labels` is empty).
pub(super) fn index_to_string(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let x = ctx.get(read, Want::Scalar(DType::F64), st)?;
    if x.width.is_some() || !x.is_numeric() {
        return Err(st.unsupported(format!("column `{read}` must hold numbers (indices)")));
    }
    let labels = st.strs_param("labels")?.unwrap_or_default();
    if labels.is_empty() {
        return Err(st.unsupported(format!(
            "labels are not set: Spark would read them from the metadata of column `{read}`, which a saved model does not carry (set `labels`)"
        )));
    }
    let mut attrs = BTreeMap::new();
    attrs.insert("labels".into(), Attr::List(vec![Attr::Strs(labels)]));
    // An index outside the labels gives NULL.
    let y = Col::scalar(out, DType::Utf8);
    ctx.unary_stage("spark.index_to_string", node, &x, y, true, attrs, st);
    Ok(())
}

/// OneHotEncoderModel over one or several index columns.
pub(super) fn one_hot_encoder(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let mode = st.handle_invalid()?;
    let drop_last = st.bool_param("dropLast")?.unwrap_or(true);
    let row = st.one_row()?;
    let sizes: Vec<i64> = as_list(field(&row, "categorySizes", st)?, "categorySizes", st)?
        .iter()
        .map(|v| as_i64(v, "categorySizes", st))
        .collect::<Result<_, _>>()?;
    if sizes.len() != reads.len() {
        return Err(st.malformed(format!(
            "{} category sizes for {} columns",
            sizes.len(),
            reads.len()
        )));
    }
    let mut x = Vec::new();
    for c in reads {
        let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
        if col.width.is_some() || !col.is_numeric() {
            return Err(
                st.unsupported(format!("column `{c}` must hold numbers (category indices)"))
            );
        }
        x.push(col);
    }
    let keep = mode == "keep";
    attrs.insert(
        "sizes".into(),
        ctx.i64s(&format!("{node}/sizes"), sizes.clone()),
    );
    attrs.insert("drop_last".into(), Attr::Bool(drop_last));
    attrs.insert("handle_invalid".into(), Attr::Str(mode));
    ctx.stage(
        "spark.one_hot_encoder",
        node,
        &x,
        vec![("Y", writes.to_vec())],
        attrs,
        st,
    );
    for ((i, o), size) in reads.iter().zip(writes).zip(sizes) {
        let size = usize_of(size, "categorySizes", st)?;
        let width = if drop_last && !keep {
            size.saturating_sub(1)
        } else if keep && !drop_last {
            size + 1
        } else {
            size
        };
        ctx.put(
            Col::vector(o, (0..width).map(|k| format!("{o}[{i}={k}]")).collect()),
            false,
        );
    }
    Ok(())
}

/// VectorIndexerModel: `numFeatures` and `categoryMaps` (feature -> value -> index) from its
/// data, to `spark.vector_indexer` as `keel.spark._categorical` builds it.
pub(super) fn vector_indexer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mode = st.handle_invalid()?;
    let row = st.one_row()?;
    let n = usize_of(
        as_i64(field(&row, "numFeatures", st)?, "numFeatures", st)?,
        "numFeatures",
        st,
    )?;
    let V::M(maps) = field(&row, "categoryMaps", st)? else {
        return Err(st.malformed("`categoryMaps` is not a map"));
    };
    let mut by_feature: Vec<(i64, Vec<f64>)> = Vec::with_capacity(maps.len());
    for (f, m) in maps {
        let f = as_i64(f, "categoryMaps key", st)?;
        if !(0..n as i64).contains(&f) {
            return Err(st.malformed(format!(
                "categoryMaps names feature {f}, outside the {n} features"
            )));
        }
        let V::M(m) = m else {
            return Err(st.malformed(format!("categoryMaps[{f}] is not a map")));
        };
        let mut by_index: Vec<(i64, f64)> = m
            .iter()
            .map(|(v, i)| {
                Ok((
                    as_i64(i, "category index", st)?,
                    as_f64(v, "category value", st)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        by_index.sort_by_key(|a| a.0);
        if by_index
            .iter()
            .enumerate()
            .any(|(k, (i, _))| *i != k as i64)
        {
            return Err(st.malformed(format!(
                "the category indices of feature {f} are not 0..{}",
                m.len().saturating_sub(1)
            )));
        }
        // Spark's sparse path never looks zeros up and keeps them at index 0: any other index
        // for 0.0 would make its answer depend on vector storage.
        let zero: Vec<i64> = by_index
            .iter()
            .filter(|(_, v)| *v == 0.0)
            .map(|(i, _)| *i)
            .collect();
        if !zero.is_empty() && zero != [0] {
            return Err(st.unsupported(format!(
                "feature {f} maps 0.0 to index {zero:?}, not 0: Spark's answer would depend on vector storage"
            )));
        }
        by_feature.push((f, by_index.into_iter().map(|(_, v)| v).collect()));
    }
    by_feature.sort_by_key(|(f, _)| *f);
    if by_feature.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(st.malformed("categoryMaps names a feature twice"));
    }
    let x = ctx.get(read, Want::Vector(n), st)?;
    if x.width != Some(n as u64) || x.tokens {
        return Err(st.unsupported(format!(
            "fitted on {n} features, input `{read}` is {}",
            describe(&x)
        )));
    }
    let (features, categories): (Vec<i64>, Vec<Vec<f64>>) = by_feature.into_iter().unzip();
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "features".into(),
        ctx.i64s(&format!("{node}/features"), features),
    );
    attrs.insert(
        "categories".into(),
        Attr::List(categories.into_iter().map(Attr::F64s).collect()),
    );
    attrs.insert("handle_invalid".into(), Attr::Str(mode));
    ctx.same_shape_stage("spark.vector_indexer", node, x, out, attrs, st);
    Ok(())
}

/// Bucketizer over one or several numeric columns (`splits` or `splitsArray`).
pub(super) fn bucketizer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let mode = st.handle_invalid()?;
    let splits: Vec<Vec<f64>> = match st.f64s_param("splits")? {
        Some(s) if reads.len() == 1 && !st.is_set("splitsArray") => vec![s],
        _ => match st.param("splitsArray") {
            Some(Value::Array(rows)) => rows
                .iter()
                .map(|r| {
                    r.as_array()
                        .ok_or_else(|| st.malformed("splitsArray holds a non-list"))?
                        .iter()
                        .map(|v| {
                            json_f64(v)
                                .ok_or_else(|| st.malformed(format!("splitsArray holds {v}")))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(st.malformed("no `splits` or `splitsArray`")),
        },
    };
    if splits.len() != reads.len() {
        return Err(st.unsupported("splits do not match the input columns"));
    }
    let mut x = Vec::new();
    for c in reads {
        let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
        if col.width.is_some() || !col.is_numeric() || col.dtype == DType::Bool {
            return Err(st.unsupported(format!("column `{c}` must hold numbers")));
        }
        x.push(col);
    }
    attrs.insert(
        "splits".into(),
        Attr::List(splits.into_iter().map(Attr::F64s).collect()),
    );
    attrs.insert("handle_invalid".into(), Attr::Str(mode));
    ctx.stage(
        "spark.bucketizer",
        node,
        &x,
        vec![("Y", writes.to_vec())],
        attrs,
        st,
    );
    for o in writes {
        // A NULL input gives a NULL bucket.
        ctx.put(Col::scalar(o, DType::F64), true);
    }
    Ok(())
}

/// Binarizer over one or several double or vector columns.
pub(super) fn binarizer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    // Spark's transform: with `inputCols` set, `thresholds` when set, else `threshold` for
    // every column; with `inputCol`, `threshold`.
    let t = st.f64_param("threshold")?.unwrap_or(0.0);
    let ts = match st.f64s_param("thresholds")? {
        Some(ts) if st.is_set("inputCols") && st.is_set("thresholds") => ts,
        _ => vec![t; reads.len()],
    };
    if ts.len() != reads.len() {
        return Err(st.malformed(format!(
            "{} thresholds for {} columns",
            ts.len(),
            reads.len()
        )));
    }
    let mut x = Vec::new();
    for c in reads {
        let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
        if col.width.is_none() && col.dtype != DType::F64 {
            return Err(st.unsupported(format!(
                "column `{c}` is {}; Spark's Binarizer takes double or vector columns",
                col.dtype
            )));
        }
        x.push(col);
    }
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "thresholds".into(),
        ctx.f64s(&format!("{node}/thresholds"), ts),
    );
    ctx.stage(
        "spark.binarizer",
        node,
        &x,
        vec![("Y", writes.to_vec())],
        attrs,
        st,
    );
    for (c, o) in x.into_iter().zip(writes) {
        let col = if c.width.is_some() {
            Col {
                name: o.clone(),
                ..c
            }
        } else {
            Col::scalar(o, DType::F64)
        };
        ctx.put(col, false);
    }
    Ok(())
}

/// ImputerModel over one or several double or integer columns.
pub(super) fn imputer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let row = st.one_row()?;
    let mut x = Vec::new();
    let mut surrogates = Vec::new();
    for c in reads {
        let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
        if col.width.is_some() || !matches!(col.dtype, DType::F64 | DType::I64) {
            return Err(st.unsupported(format!(
                "column `{c}` is {}; keel imputes double and integer columns",
                col.dtype
            )));
        }
        let s = match row.get(c) {
            Some(v @ (V::F(_) | V::I(_))) => as_f64(v, c, st)?,
            _ => f64::NAN,
        };
        if s.is_nan() {
            return Err(st.unsupported(format!(
                "column `{c}` has no surrogate (all missing at fit)"
            )));
        }
        surrogates.push(s);
        x.push(col);
    }
    attrs.insert(
        "surrogates".into(),
        ctx.f64s(&format!("{node}/surrogates"), surrogates),
    );
    attrs.insert(
        "missing_value".into(),
        Attr::F64(st.f64_param("missingValue")?.unwrap_or(f64::NAN)),
    );
    ctx.stage(
        "spark.imputer",
        node,
        &x,
        vec![("Y", writes.to_vec())],
        attrs,
        st,
    );
    for (c, o) in x.iter().zip(writes) {
        ctx.put(Col::scalar(o, c.dtype), false);
    }
    Ok(())
}
