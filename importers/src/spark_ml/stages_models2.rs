//! GeneralizedLinearRegressionModel, MultilayerPerceptronClassificationModel,
//! FMClassificationModel / FMRegressionModel and IsotonicRegressionModel, each to the op and
//! attributes that exporters/keel/spark/_models2.py gives it (`spark.glm`, `spark.mlp`,
//! `spark.fm`, `spark.isotonic`), so a saved model and a live one give equivalent bundles.

use super::{
    Attr, Col, Ctx, DType, Error, Stage, Want, as_f64, f64_list, field, matrix, predictor_outputs,
    thresholds, vector,
};
use std::collections::BTreeMap;

/// The links `spark.glm` computes by name.
const LINKS: &[&str] = &[
    "identity", "log", "inverse", "logit", "probit", "cloglog", "sqrt",
];

/// Spark's default link of each named family.
fn default_link(family: &str) -> &'static str {
    match family {
        "binomial" => "logit",
        "poisson" => "log",
        "gamma" => "inverse",
        _ => "identity",
    }
}

/// Spark's `FamilyAndLink(params)`: the family (which decides how a prediction is projected
/// into its domain), the link, and the link's power when the link is `power`.
pub(super) fn glm_family_and_link(st: &Stage) -> Result<(String, String, f64), Error> {
    let family = st
        .str_param("family")?
        .unwrap_or_else(|| "gaussian".into())
        .to_ascii_lowercase();
    if !matches!(
        family.as_str(),
        "gaussian" | "binomial" | "poisson" | "gamma" | "tweedie"
    ) {
        return Err(st.unsupported(format!(
            "GeneralizedLinearRegression family='{family}' is not supported"
        )));
    }
    if family == "tweedie" {
        let vp = st.f64_param("variancePower")?.unwrap_or(0.0);
        // Family.fromParams maps these powers to the named families (with their projections).
        let fam = match vp {
            0.0 => "gaussian",
            1.0 => "poisson",
            2.0 => "gamma",
            _ => "tweedie",
        };
        if st.is_set("linkPower") {
            let lp = st
                .f64_param("linkPower")?
                .ok_or_else(|| st.malformed("param `linkPower` is null"))?;
            let link = match lp {
                0.0 => "log",
                1.0 => "identity",
                -1.0 => "inverse",
                0.5 => "sqrt",
                _ => "power",
            };
            return Ok((fam.into(), link.into(), lp));
        }
        if fam != "tweedie" {
            return Ok((fam.into(), default_link(fam).into(), 0.0));
        }
        // Tweedie's default link: Power(1 - variancePower).
        return Ok((fam.into(), "power".into(), 1.0 - vp));
    }
    if st.is_set("link") {
        let link = st
            .str_param("link")?
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !LINKS.contains(&link.as_str()) {
            return Err(st.unsupported(format!(
                "GeneralizedLinearRegression link='{link}' is not supported"
            )));
        }
        return Ok((family, link, 0.0));
    }
    let link = default_link(&family).to_string();
    Ok((family, link, 0.0))
}

/// GeneralizedLinearRegressionModel: writes its link prediction and prediction columns (each
/// when named); an `offsetCol` binds the op's `offset` port.
pub(super) fn glm(ctx: &mut Ctx<'_>, st: &Stage, node: String, read: &str) -> Result<(), Error> {
    let (family, link, power) = glm_family_and_link(st)?;
    let row = st.one_row()?;
    let (coef, _) = vector(field(&row, "coefficients", st)?, "coefficients", st)?;
    let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
    let x = super::features(ctx, st, &[read.to_string()], coef.len())?;
    let offset = match st.col_param("offsetCol")? {
        None => None,
        Some(name) => {
            let o = ctx.get(&name, Want::Scalar(DType::F64), st)?;
            if o.width.is_some() || !matches!(o.dtype, DType::F64 | DType::F32 | DType::I64) {
                return Err(st.unsupported(format!(
                    "offsetCol `{name}` must be a numeric column, found {}{}",
                    o.dtype,
                    if o.width.is_some() { " vector" } else { "" }
                )));
            }
            Some(name)
        }
    };
    // Spark writes NULL for a NULL offset.
    let nullable = offset.is_some();
    let mut attrs = BTreeMap::new();
    attrs.insert("coef".into(), ctx.f64s(&format!("{node}/coef"), coef));
    attrs.insert("intercept".into(), Attr::F64(intercept));
    attrs.insert("family".into(), Attr::Str(family));
    if link == "power" {
        attrs.insert("link_power".into(), Attr::F64(power));
    }
    attrs.insert("link".into(), Attr::Str(link));
    let mut ports = Vec::new();
    if let Some(c) = st.col_param("linkPredictionCol")? {
        ports.push(("link_prediction", vec![c.clone()]));
        ctx.put(Col::scalar(&c, DType::F64), nullable);
    }
    if let Some(c) = st.col_param("predictionCol")? {
        ports.push(("prediction", vec![c.clone()]));
        ctx.put(Col::scalar(&c, DType::F64), nullable);
    }
    if ports.is_empty() {
        return Err(st.unsupported("the model writes no column"));
    }
    ctx.stage("spark.glm", node, &[x], ports, attrs, st);
    if let Some(name) = offset {
        // `Ctx::stage` binds port `X` only; the offset is the op's second input port.
        if !ctx.writes.contains(&name) && !ctx.reads.contains(&name) {
            ctx.reads.push(name.clone());
        }
        if let Some(n) = ctx.children.last_mut() {
            n.inputs.push(keel_bundle::Binding::new("offset", [name]));
        }
    }
    Ok(())
}

/// MultilayerPerceptronClassificationModel: `layers` from the params, `weights` from the data.
pub(super) fn mlp(ctx: &mut Ctx<'_>, st: &Stage, node: String, read: &str) -> Result<(), Error> {
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
    let x = super::features(ctx, st, &[read.to_string()], first)?;
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

/// FMClassificationModel (always binary) and FMRegressionModel.
pub(super) fn fm(ctx: &mut Ctx<'_>, st: &Stage, node: String, read: &str) -> Result<(), Error> {
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
    let x = super::features(ctx, st, &[read.to_string()], n)?;
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
pub(super) fn isotonic(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    read: &str,
) -> Result<(), Error> {
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
