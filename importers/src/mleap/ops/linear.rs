//! The linear models: `linear_regression`, `logistic_regression` (binomial or multinomial) and
//! `linear_svc`, all to `spark.linear`.

use super::{classifier_outputs, column_major_to_rows, opt_f64, push_thresholds, vector_in};
use crate::mleap::ImportError;
use crate::mleap::context::{Kind, OpNode, State};
use keel_bundle::Attr;

/// `linear_regression`.
pub(super) fn linear_regression(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let coef = n.model.f64s("coefficients")?;
    let intercept = n.model.f64("intercept")?;
    let input = n.shape.input("features", n.dir)?;
    vector_in(st, n.dir, &input, coef.len())?;
    let out = n.shape.output("prediction", n.dir)?;
    let coef = st.f64_tensor(&[1, coef.len()], &coef);
    st.stage(
        n,
        "spark.linear",
        vec![input],
        vec![("prediction", out, Kind::F64)],
        vec![
            ("coef", coef),
            ("intercept", Attr::F64s(vec![intercept])),
            ("model", Attr::Str("regression".into())),
        ],
    )
}

/// `linear_svc`: a binary linear model with Spark's raw-margin threshold (0 by default) and
/// no probability.
pub(super) fn linear_svc(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let coef = n.model.f64s("coefficients")?;
    let intercept = n.model.f64("intercept")?;
    let threshold = opt_f64(n.model, "threshold", 0.0)?;
    if n.shape.output_opt("probability").is_some() {
        return Err(ImportError::unsupported(
            n.dir,
            "linear_svc binds a `probability` output (Spark's LinearSVC writes none)",
        ));
    }
    let input = n.shape.input("features", n.dir)?;
    let linear = BinaryLinear {
        model: "svc",
        coef,
        intercept,
        threshold,
    };
    linear.stage(n, st, input)
}

/// `logistic_regression`, binomial (`coefficients`, `intercept`) or multinomial
/// (`coefficient_matrix`, `intercept_vector`).
pub(super) fn logistic_regression(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let model = n.model;
    let malformed = |m: String| ImportError::malformed(&model.entry, m);
    let input = n.shape.input("features", n.dir)?;
    if model.has("coefficient_matrix") {
        let (k, features, data) = model.matrix("coefficient_matrix")?;
        let intercept = model.f64s("intercept_vector")?;
        if intercept.len() != k || k < 2 {
            return Err(malformed(format!(
                "{} intercepts for {k} coefficient rows",
                intercept.len()
            )));
        }
        if model.has("num_classes") && model.i64("num_classes")? != k as i64 {
            return Err(malformed(format!("num_classes differs from the {k} rows")));
        }
        let coef = column_major_to_rows(k, features, &data);
        vector_in(st, n.dir, &input, features)?;
        let mut attrs = vec![
            ("coef", st.f64_tensor(&[k, features], &coef)),
            ("intercept", Attr::F64s(intercept)),
            ("model", Attr::Str("multinomial".into())),
        ];
        push_thresholds(model, k, &mut attrs)?;
        let outputs = classifier_outputs(n.shape, n.dir, k)?;
        return st.stage(n, "spark.linear", vec![input], outputs, attrs);
    }
    if model.has("num_classes") && model.i64("num_classes")? != 2 {
        return Err(malformed(
            "a binomial model (`coefficients`) with num_classes other than 2".into(),
        ));
    }
    let coef = model.f64s("coefficients")?;
    let intercept = model.f64("intercept")?;
    // Spark's getThreshold: from `thresholds` when given (t = 1 / (1 + t0 / t1)), else
    // `threshold`, else 0.5.
    let threshold = if model.has("thresholds") {
        match model.f64s("thresholds")?.as_slice() {
            [t0, t1] => 1.0 / (1.0 + t0 / t1),
            t => {
                return Err(malformed(format!(
                    "a binomial model's thresholds need 2 values, not {}",
                    t.len()
                )));
            }
        }
    } else {
        opt_f64(model, "threshold", 0.5)?
    };
    let linear = BinaryLinear {
        model: "binomial",
        coef,
        intercept,
        threshold,
    };
    linear.stage(n, st, input)
}

/// A two-class `spark.linear` model (binomial logistic regression or linear SVC): one row of
/// coefficients, an intercept and Spark's decision threshold.
struct BinaryLinear {
    /// The op's `model` attribute: `binomial` or `svc`.
    model: &'static str,
    coef: Vec<f64>,
    intercept: f64,
    threshold: f64,
}

impl BinaryLinear {
    /// Emits the model reading the features column `input`.
    fn stage(self, n: &OpNode<'_>, st: &mut State, input: String) -> Result<(), ImportError> {
        vector_in(st, n.dir, &input, self.coef.len())?;
        let outputs = classifier_outputs(n.shape, n.dir, 2)?;
        let coef = st.f64_tensor(&[1, self.coef.len()], &self.coef);
        st.stage(
            n,
            "spark.linear",
            vec![input],
            outputs,
            vec![
                ("coef", coef),
                ("intercept", Attr::F64s(vec![self.intercept])),
                ("model", Attr::Str(self.model.into())),
                ("threshold", Attr::F64(self.threshold)),
            ],
        )
    }
}
