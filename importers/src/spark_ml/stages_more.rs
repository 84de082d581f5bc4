//! MaxAbsScalerModel, Binarizer, Normalizer, PolynomialExpansion, VectorSlicer, IndexToString,
//! PCAModel, LinearSVCModel, NaiveBayesModel and KMeansModel, each to the op and attributes that
//! exporters/keel/spark/_feature.py and _models.py give it, so a saved model and a live one
//! give equivalent bundles.

use super::{
    Attr, Col, Ctx, DType, Error, Stage, Want, as_f64, as_i64, field, matrix, predictor_outputs,
    thresholds, usize_of, vector,
};
use std::collections::BTreeMap;

/// Largest PolynomialExpansion output the exporter accepts (as `_feature.py`).
const MAX_POLY_TERMS: u64 = 1 << 24;

/// A vector column `name`, refusing a scalar one.
fn vector_input(ctx: &mut Ctx<'_>, st: &Stage, name: &str, width: usize) -> Result<Col, Error> {
    let x = ctx.get(name, Want::Vector(width), st)?;
    if x.width.is_none() {
        return Err(st.unsupported(format!(
            "input column `{name}` must be a vector, found {}",
            x.dtype
        )));
    }
    Ok(x)
}

fn width_of(x: &Col) -> usize {
    x.width.unwrap_or(0) as usize
}

/// One vector in, one vector out: MaxAbsScalerModel, Normalizer, PolynomialExpansion,
/// VectorSlicer and PCAModel.
pub(super) fn vector_stage(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    read: &str,
    out: &str,
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let (op, col) = match st.short() {
        "MaxAbsScalerModel" => {
            let row = st.one_row()?;
            let (m, _) = vector(field(&row, "maxAbs", st)?, "maxAbs", st)?;
            let x = vector_input(ctx, st, read, m.len())?;
            if width_of(&x) != m.len() {
                return Err(st.unsupported(format!(
                    "fitted on {} features, input has {:?}",
                    m.len(),
                    x.width
                )));
            }
            attrs.insert("max_abs".into(), ctx.f64s(&format!("{node}/max_abs"), m));
            ("spark.max_abs_scaler", x)
        }
        "Normalizer" => {
            let x = vector_input(ctx, st, read, 0)?;
            let p = st.f64_param("p")?.unwrap_or(2.0);
            attrs.insert("p".into(), Attr::F64(p));
            ("spark.normalizer", x)
        }
        "PolynomialExpansion" => {
            let x = vector_input(ctx, st, read, 0)?;
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
            attrs.insert("degree".into(), Attr::I64(degree));
            let names = (0..terms).map(|i| format!("poly[{i}]")).collect();
            let y = Col::vector(out, names);
            ctx.unary_stage("spark.polynomial_expansion", node, &x, y, false, attrs, st);
            return Ok(());
        }
        "VectorSlicer" => {
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
            let x = vector_input(ctx, st, read, 0)?;
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
                return Err(
                    st.unsupported(format!("indices {indices:?} fall outside the {w} features"))
                );
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
            return Ok(());
        }
        _ => {
            // PCAModel: `pc` is [n features, k components]; the op takes [k, n].
            let row = st.one_row()?;
            let (n, k, pc, _) = matrix(field(&row, "pc", st)?, "pc", st)?;
            let x = vector_input(ctx, st, read, n)?;
            if width_of(&x) != n {
                return Err(
                    st.unsupported(format!("fitted on {n} features, input has {:?}", x.width))
                );
            }
            let mut t = vec![0.0; n * k];
            for i in 0..n {
                for j in 0..k {
                    t[j * n + i] = pc[i * k + j];
                }
            }
            let a = ctx.tensor_f64(&format!("{node}/components"), &[k, n], &t);
            attrs.insert("components".into(), a);
            let names = (0..k).map(|j| format!("pc[{j}]")).collect();
            ctx.unary_stage(
                "spark.pca",
                node,
                &x,
                Col::vector(out, names),
                false,
                attrs,
                st,
            );
            return Ok(());
        }
    };
    ctx.same_shape_stage(op, node, col, out, attrs, st);
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

/// IndexToString with explicit `labels` (a saved model does not carry the input column's
/// nominal attribute, which Spark reads when `labels` is empty).
pub(super) fn index_to_string(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    read: &str,
    out: &str,
) -> Result<(), Error> {
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

/// LinearSVCModel: `spark.linear` with model `svc`.
pub(super) fn svc(ctx: &mut Ctx<'_>, st: &Stage, node: String, read: &str) -> Result<(), Error> {
    let row = st.one_row()?;
    let (coef, sparse) = vector(field(&row, "coefficients", st)?, "coefficients", st)?;
    let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
    let n = coef.len();
    let x = super::features(ctx, st, &[read.to_string()], n)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("model".into(), Attr::Str("svc".into()));
    attrs.insert(
        "threshold".into(),
        Attr::F64(st.f64_param("threshold")?.unwrap_or(0.0)),
    );
    if sparse {
        // `vector` refused explicit zeros in sparse storage, so the runtime's skipping of zero
        // coefficients visits the same set as Spark's sparse BLAS.
        attrs.insert("sparse".into(), Attr::Bool(true));
    }
    let c = ctx.tensor_f64(&format!("{node}/coef"), &[1, n], &coef);
    attrs.insert("coef".into(), c);
    let b = ctx.f64s(&format!("{node}/intercept"), vec![intercept]);
    attrs.insert("intercept".into(), b);
    let ports = predictor_outputs(ctx, st, Some(2), false)?;
    ctx.stage("spark.linear", node, &[x], ports, attrs, st);
    Ok(())
}

/// NaiveBayesModel, every modelType.
pub(super) fn naive_bayes(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    read: &str,
) -> Result<(), Error> {
    let kind = st
        .str_param("modelType")?
        .unwrap_or_else(|| "multinomial".into());
    if !matches!(
        kind.as_str(),
        "multinomial" | "bernoulli" | "complement" | "gaussian"
    ) {
        return Err(st.unsupported(format!(
            "NaiveBayes modelType='{kind}' is not supported (supported: multinomial, bernoulli, complement, gaussian)"
        )));
    }
    let row = st.one_row()?;
    let (pi, _) = vector(field(&row, "pi", st)?, "pi", st)?;
    let (k, n, theta, _) = matrix(field(&row, "theta", st)?, "theta", st)?;
    if k != pi.len() {
        return Err(st.malformed(format!(
            "pi/theta do not match: {} classes, {k} theta rows",
            pi.len()
        )));
    }
    let x = super::features(ctx, st, &[read.to_string()], n)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("model_type".into(), Attr::Str(kind.clone()));
    attrs.insert("pi".into(), ctx.f64s(&format!("{node}/pi"), pi));
    let t = ctx.tensor_f64(&format!("{node}/theta"), &[k, n], &theta);
    attrs.insert("theta".into(), t);
    if kind == "gaussian" {
        let (sk, sn, sigma, _) = matrix(field(&row, "sigma", st)?, "sigma", st)?;
        if (sk, sn) != (k, n) {
            return Err(st.malformed(format!("sigma of shape ({sk}, {sn}) for theta ({k}, {n})")));
        }
        let s = ctx.tensor_f64(&format!("{node}/sigma"), &[k, n], &sigma);
        attrs.insert("sigma".into(), s);
    }
    thresholds(ctx, st, &node, &mut attrs)?;
    let ports = predictor_outputs(ctx, st, Some(k), true)?;
    ctx.stage("spark.naive_bayes", node, &[x], ports, attrs, st);
    Ok(())
}

/// KMeansModel with the euclidean or cosine distance; one data row per cluster.
pub(super) fn kmeans(ctx: &mut Ctx<'_>, st: &Stage, node: String, read: &str) -> Result<(), Error> {
    let measure = st
        .str_param("distanceMeasure")?
        .unwrap_or_else(|| "euclidean".into());
    if measure != "euclidean" && measure != "cosine" {
        return Err(st.unsupported(format!(
            "KMeans distanceMeasure='{measure}' is not supported"
        )));
    }
    let pred = st
        .col_param("predictionCol")?
        .ok_or_else(|| st.unsupported("predictionCol='' leaves the model nothing to write"))?;
    let mut centers: Vec<(i64, Vec<f64>)> = st
        .data()?
        .iter()
        .map(|r| {
            Ok((
                as_i64(field(r, "clusterIdx", st)?, "clusterIdx", st)?,
                vector(field(r, "clusterCenter", st)?, "clusterCenter", st)?.0,
            ))
        })
        .collect::<Result<_, Error>>()?;
    centers.sort_by_key(|c| c.0);
    if centers.is_empty() || centers.iter().enumerate().any(|(i, c)| c.0 != i as i64) {
        return Err(st.malformed("cluster indices are not 0..k"));
    }
    let n = centers[0].1.len();
    if centers.iter().any(|c| c.1.len() != n) {
        return Err(st.malformed("cluster centers differ in length"));
    }
    let k = centers.len();
    usize_of((k * n) as i64, "centers", st)?;
    let flat: Vec<f64> = centers.into_iter().flat_map(|c| c.1).collect();
    let x = super::features(ctx, st, &[read.to_string()], n)?;
    let mut attrs = BTreeMap::new();
    let c = ctx.tensor_f64(&format!("{node}/centers"), &[k, n], &flat);
    attrs.insert("centers".into(), c);
    attrs.insert("distance".into(), Attr::Str(measure));
    ctx.stage(
        "spark.kmeans",
        node,
        &[x],
        vec![("prediction", vec![pred.clone()])],
        attrs,
        st,
    );
    // Spark's k-means prediction is an integer column.
    ctx.put(Col::scalar(&pred, DType::I32), false);
    Ok(())
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
