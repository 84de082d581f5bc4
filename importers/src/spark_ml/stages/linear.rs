//! The linear models: LogisticRegressionModel, LinearRegressionModel and LinearSVCModel
//! (`spark.linear`), and GeneralizedLinearRegressionModel (`spark.glm`), each with the
//! attributes the Python exporter gives it (exporters/keel/spark/_linear.py).

use super::{exact_vector, first, predictor_outputs, thresholds};
use crate::spark_ml::Error;
use crate::spark_ml::columns::{Col, Ctx, Want};
use crate::spark_ml::data::{as_f64, as_i64, field, matrix, usize_of, vector};
use crate::spark_ml::stage::Stage;
use keel_bundle::{Attr, Binding, DType};
use std::collections::BTreeMap;

/// LogisticRegressionModel (binomial or multinomial) and LinearRegressionModel: `spark.linear`
/// with one row of coefficients per class (one in all for a binomial or regression model).
pub(super) fn linear_model(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let row = st.one_row()?;
    let mut attrs = BTreeMap::new();
    let (rows, cols, coef, sparse, intercept, n_classes, probability) = if st.short()
        == "LogisticRegressionModel"
    {
        let (rows, cols, coef, sparse) = matrix(
            field(&row, "coefficientMatrix", st)?,
            "coefficientMatrix",
            st,
        )?;
        let (intercept, _) = vector(field(&row, "interceptVector", st)?, "interceptVector", st)?;
        let k = usize_of(
            as_i64(field(&row, "numClasses", st)?, "numClasses", st)?,
            "numClasses",
            st,
        )?;
        // A binomial model keeps one row of coefficients; a multinomial one a row per class.
        let binomial = rows == 1;
        if !binomial && rows != k {
            return Err(st.malformed(format!("{rows} coefficient rows for {k} classes")));
        }
        if binomial {
            attrs.insert("model".into(), Attr::Str("binomial".into()));
            // Spark's getThreshold: derived from `thresholds` when set, else `threshold`.
            let t = match st
                .f64s_param("thresholds")?
                .filter(|_| st.is_set("thresholds"))
            {
                Some(ts) => match ts.as_slice() {
                    [t0, t1] => 1.0 / (1.0 + t0 / t1),
                    _ => return Err(st.malformed("a binomial model's thresholds need 2 values")),
                },
                None => st.f64_param("threshold")?.unwrap_or(0.5),
            };
            attrs.insert("threshold".into(), Attr::F64(t));
        } else {
            attrs.insert("model".into(), Attr::Str("multinomial".into()));
            thresholds(ctx, st, &node, &mut attrs)?;
        }
        (
            rows,
            cols,
            coef,
            sparse,
            intercept,
            Some(if binomial { 2 } else { k }),
            true,
        )
    } else {
        let (coef, sparse) = vector(field(&row, "coefficients", st)?, "coefficients", st)?;
        let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
        attrs.insert("model".into(), Attr::Str("regression".into()));
        (1, coef.len(), coef, sparse, vec![intercept], None, false)
    };
    if intercept.len() != rows {
        return Err(st.malformed(format!(
            "{} intercepts for {rows} coefficient rows",
            intercept.len()
        )));
    }
    let x = exact_vector(ctx, st, first(st, reads)?, cols)?;
    if sparse {
        attrs.insert("sparse".into(), Attr::Bool(true));
    }
    let coef = ctx.tensor_f64(&format!("{node}/coef"), &[rows, cols], &coef);
    attrs.insert("coef".into(), coef);
    let intercept = ctx.f64s(&format!("{node}/intercept"), intercept);
    attrs.insert("intercept".into(), intercept);
    let ports = predictor_outputs(ctx, st, n_classes, probability)?;
    ctx.stage("spark.linear", node, &[x], ports, attrs, st);
    Ok(())
}

/// LinearSVCModel: `spark.linear` with model `svc`.
pub(super) fn linear_svc(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let row = st.one_row()?;
    let (coef, sparse) = vector(field(&row, "coefficients", st)?, "coefficients", st)?;
    let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
    let n = coef.len();
    let x = exact_vector(ctx, st, read, n)?;
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
fn glm_family_and_link(st: &Stage) -> Result<(String, String, f64), Error> {
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
pub(super) fn generalized_linear(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    let read = first(st, reads)?;
    let (family, link, power) = glm_family_and_link(st)?;
    let row = st.one_row()?;
    let (coef, _) = vector(field(&row, "coefficients", st)?, "coefficients", st)?;
    let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
    let x = exact_vector(ctx, st, read, coef.len())?;
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
    let mut inputs = vec![Binding::new("X", [x.name])];
    if let Some(name) = offset {
        // The offset is the op's second input port.
        inputs.push(Binding::new("offset", [name]));
    }
    ctx.stage_with_inputs("spark.glm", node, inputs, ports, attrs, st);
    Ok(())
}
