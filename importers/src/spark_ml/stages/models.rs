//! The other predictors: NaiveBayesModel, KMeansModel, MultilayerPerceptronClassificationModel,
//! FMClassificationModel / FMRegressionModel and IsotonicRegressionModel (`spark.naive_bayes`,
//! `spark.kmeans`, `spark.mlp`, `spark.fm`, `spark.isotonic`), each with the attributes the
//! Python exporter gives it (exporters/keel/spark/_models.py).

use super::{exact_vector, first, predictor_outputs, thresholds};
use crate::spark_ml::Error;
use crate::spark_ml::columns::{Col, Ctx, Want};
use crate::spark_ml::data::{as_f64, as_i64, f64_list, field, matrix, usize_of, vector};
use crate::spark_ml::stage::Stage;
use keel_bundle::{Attr, DType};
use std::collections::BTreeMap;

/// NaiveBayesModel, every modelType.
pub(super) fn naive_bayes(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
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
    let x = exact_vector(ctx, st, read, n)?;
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
pub(super) fn kmeans(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
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
    let x = exact_vector(ctx, st, read, n)?;
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

/// MultilayerPerceptronClassificationModel: `layers` from the params, `weights` from the data.
pub(super) fn multilayer_perceptron(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let layers: Vec<i64> = match st.param("layers") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_i64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| st.malformed(format!("param `layers` holds {v}")))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(st.malformed(format!("param `layers` is {other:?}"))),
    };
    let (first, k) = match (layers.first(), layers.last()) {
        (Some(&f), Some(&l)) if layers.len() >= 2 => (f as usize, l as usize),
        _ => {
            return Err(st.unsupported(format!(
                "layers={layers:?} needs an input and an output layer"
            )));
        }
    };
    if k < 2 {
        return Err(st.unsupported(format!(
            "an output layer of {k} unit (2 classes or more are needed)"
        )));
    }
    let need = layers
        .windows(2)
        .try_fold(0i64, |acc, p| {
            p[0].checked_mul(p[1])
                .and_then(|m| m.checked_add(p[1]))
                .and_then(|m| m.checked_add(acc))
        })
        .ok_or_else(|| st.malformed(format!("layers {layers:?} overflow")))?;
    let row = st.one_row()?;
    let (weights, _) = vector(field(&row, "weights", st)?, "weights", st)?;
    if weights.len() as i64 != need {
        return Err(st.malformed(format!(
            "{} weights for layers {layers:?} (need {need})",
            weights.len()
        )));
    }
    let x = exact_vector(ctx, st, read, first)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("layers".into(), ctx.i64s(&format!("{node}/layers"), layers));
    attrs.insert(
        "weights".into(),
        ctx.f64s(&format!("{node}/weights"), weights),
    );
    thresholds(ctx, st, &node, &mut attrs)?;
    let ports = predictor_outputs(ctx, st, Some(k), true)?;
    ctx.stage("spark.mlp", node, &[x], ports, attrs, st);
    Ok(())
}

/// FMClassificationModel (always binary) and FMRegressionModel: `spark.fm`.
pub(super) fn factorization_machine(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let classification = st.short() == "FMClassificationModel";
    let row = st.one_row()?;
    let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
    let (linear, _) = vector(field(&row, "linear", st)?, "linear", st)?;
    let (n, f, factors, _) = matrix(field(&row, "factors", st)?, "factors", st)?;
    if n != linear.len() {
        return Err(st.malformed(format!(
            "factors of shape ({n}, {f}) for {} features",
            linear.len()
        )));
    }
    let x = exact_vector(ctx, st, read, n)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("intercept".into(), Attr::F64(intercept));
    attrs.insert("linear".into(), ctx.f64s(&format!("{node}/linear"), linear));
    let t = ctx.tensor_f64(&format!("{node}/factors"), &[n, f], &factors);
    attrs.insert("factors".into(), t);
    attrs.insert(
        "task".into(),
        Attr::Str(
            if classification {
                "classification"
            } else {
                "regression"
            }
            .into(),
        ),
    );
    if classification {
        thresholds(ctx, st, &node, &mut attrs)?;
    }
    let ports = predictor_outputs(ctx, st, classification.then_some(2), classification)?;
    ctx.stage("spark.fm", node, &[x], ports, attrs, st);
    Ok(())
}

/// IsotonicRegressionModel on a double column or on one feature of a vector column.
pub(super) fn isotonic_regression(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let row = st.one_row()?;
    let boundaries = f64_list(field(&row, "boundaries", st)?, "boundaries", st)?;
    let predictions = f64_list(field(&row, "predictions", st)?, "predictions", st)?;
    if boundaries.is_empty() || boundaries.len() != predictions.len() {
        return Err(st.malformed(format!(
            "{} boundaries for {} predictions",
            boundaries.len(),
            predictions.len()
        )));
    }
    let pred = st
        .col_param("predictionCol")?
        .ok_or_else(|| st.unsupported("predictionCol='' leaves the model nothing to write"))?;
    // A pipeline input is taken as Spark's double column (its vector width is not known).
    let x = ctx.get(read, Want::Scalar(DType::F64), st)?;
    if x.width.is_none() && x.dtype != DType::F64 {
        return Err(st.unsupported(format!(
            "featuresCol `{read}` must be a double or a vector column, found {}",
            x.dtype
        )));
    }
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "boundaries".into(),
        ctx.f64s(&format!("{node}/boundaries"), boundaries),
    );
    attrs.insert(
        "predictions".into(),
        ctx.f64s(&format!("{node}/predictions"), predictions),
    );
    if let Some(w) = x.width {
        let index = match st.param("featureIndex") {
            None => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| st.malformed(format!("param `featureIndex` is {v}")))?,
        };
        if index < 0 || index as u64 >= w {
            return Err(
                st.unsupported(format!("featureIndex={index} is outside the vector of {w}"))
            );
        }
        attrs.insert("feature_index".into(), Attr::I64(index));
    }
    let nullable = x.width.is_none();
    ctx.stage(
        "spark.isotonic",
        node,
        &[x],
        vec![("prediction", vec![pred.clone()])],
        attrs,
        st,
    );
    // A NULL double input gives a NULL prediction.
    ctx.put(Col::scalar(&pred, DType::F64), nullable);
    Ok(())
}
