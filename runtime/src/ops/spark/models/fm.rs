//! `spark.fm`: Spark ML's factorization machines, `FMRegressionModel` and
//! `FMClassificationModel`.
//!
//! Ports: `X` (a vector) -> `prediction` (regression), or `prediction`, `probability`,
//! `raw_prediction` (classification; see `spark/common.rs`). Attributes: `intercept` (f64),
//! `linear` (f64s, `n`), `factors` (`[n, f]`), `task` (`regression`/`classification`),
//! `thresholds` (optional, classification).
//!
//! Spark's `getRawPrediction`, in its order: `m = intercept + dot(x, linear)`; then for each
//! factor column `f`, over the non-zero features only (`foreachNonZero`, so a `NaN` feature
//! counts), `v = factors[j, f] * x_j`, `sum += v`, `sumSquare += v * v`, and
//! `m += 0.5 * (sum * sum - sumSquare)`. Without `fitIntercept`/`fitLinear` Spark stores a
//! zero intercept / zero linear vector and still adds them, so the bundle does too.
//! The regressor predicts `m`. The classifier's `rawPrediction` is `[-m, m]`, its probability
//! `p1 = 1 / (1 + exp(-m))`, `p0 = 1 - p1`, and `prediction` the argmax of `rawPrediction`
//! (or of `probability / thresholds`). `dot` is BLAS `ddot` in Spark (`F64_LINEAR`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{Out, classifier_values, predictor_outputs, thresholds};
use crate::value::{Matrix, Value, gather};
use arrow_array::Float64Array;
use std::sync::Arc;

#[derive(Debug)]
struct Fm {
    intercept: f64,
    linear: Vec<f64>,
    /// Column-major per factor: `factors_t[f * n + j] = factors[j, f]`.
    factors_t: Vec<f64>,
    n: usize,
    f: usize,
    classification: bool,
    thresholds: Option<Vec<f64>>,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let intercept = ctx.f64("intercept")?;
    let linear = ctx.f64s("linear")?;
    if linear.len() != n {
        return Err(ctx.err(format!(
            "`linear` has {} values for {n} features",
            linear.len()
        )));
    }
    let t = ctx.tensor("factors")?;
    let f = match t.shape {
        [r, c] if *r == n => *c,
        s => {
            return Err(ctx.err(format!(
                "`factors` must be [{n}, factorSize], has shape {s:?}"
            )));
        }
    };
    let (_, _, factors) = ctx.matrix("factors", Some(f))?;
    let mut factors_t = vec![0.0; n * f];
    for j in 0..n {
        for k in 0..f {
            factors_t[k * n + j] = factors[j * f + k];
        }
    }
    let classification = match ctx.str("task")? {
        "regression" => false,
        "classification" => true,
        other => return Err(ctx.err(format!("unknown task `{other}`"))),
    };
    let thresholds = if classification {
        thresholds(ctx, 2)?
    } else {
        None
    };
    let (outputs, outs) = predictor_outputs(ctx, classification.then_some(2), true)?;
    Ok(Built {
        kernel: Box::new(Fm {
            intercept,
            linear,
            factors_t,
            n,
            f,
            classification,
            thresholds,
            outs,
        }),
        outputs,
    })
}

impl Fm {
    fn raw(&self, x: &[f64]) -> f64 {
        let dot = x.iter().zip(&self.linear).fold(0.0, |s, (a, b)| s + a * b);
        let mut m = self.intercept + dot;
        for col in self.factors_t.chunks_exact(self.n).take(self.f) {
            let (mut sum_sq, mut sum) = (0.0, 0.0);
            for (&v, c) in x.iter().zip(col) {
                if v != 0.0 {
                    let vx = c * v;
                    sum_sq += vx * vx;
                    sum += vx;
                }
            }
            m += 0.5 * (sum * sum - sum_sq);
        }
        m
    }
}

impl Kernel for Fm {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        if x.cols != self.n {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.fm".into(),
                message: format!("received {} features, expected {}", x.cols, self.n),
            });
        }
        let m: Vec<f64> = x.data.chunks_exact(self.n).map(|r| self.raw(r)).collect();
        if !self.classification {
            return Ok(vec![Value::Array(Arc::new(Float64Array::from(m)))]);
        }
        let mut raw = Matrix::zeros(rows, 2);
        let mut prob = Matrix::zeros(rows, 2);
        for ((r, p), v) in raw
            .data
            .chunks_exact_mut(2)
            .zip(prob.data.chunks_exact_mut(2))
            .zip(m)
        {
            r[0] = -v;
            r[1] = v;
            p[1] = 1.0 / (1.0 + (-v).exp());
            p[0] = 1.0 - p[1];
        }
        classifier_values(
            raw,
            prob,
            self.thresholds.as_deref(),
            &self.outs,
            "spark.fm",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{floats, model, node, rows, score, tref};
    use keel_bundle::{Attr, DType, Field, TensorWriter};
    use std::collections::BTreeMap;

    /// intercept 0.5, linear (1, 2), one factor column (1, 2).
    fn fm(
        task: &str,
        intercept: f64,
        linear: Vec<f64>,
        outputs: Vec<Field>,
    ) -> Result<crate::Model, Error> {
        let mut t = TensorWriter::new();
        t.f64("factors", &[2, 1], &[1.0, 2.0]);
        let ports: Vec<(&str, &str)> = outputs
            .iter()
            .map(|f| match f.name.as_str() {
                "raw" => ("raw_prediction", "raw"),
                other => (other, other),
            })
            .collect();
        let attrs: BTreeMap<String, Attr> = [
            ("intercept", Attr::F64(intercept)),
            ("linear", Attr::F64s(linear)),
            ("factors", tref("factors")),
            ("task", Attr::Str(task.into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        model(
            2,
            node("spark.fm", 2, &ports, attrs),
            outputs,
            Some(t.finish().expect("tensors")),
        )
    }

    #[test]
    fn regression_adds_the_pairwise_factor_term() {
        let m = fm(
            "regression",
            0.5,
            vec![1.0, 2.0],
            vec![Field::scalar("prediction", DType::F64, false)],
        )
        .unwrap();
        let out = score(
            &m,
            &[vec![Some(1.0), Some(1.0)], vec![Some(0.0), Some(2.0)]],
        )
        .unwrap();
        // (1, 1): 0.5 + 1 + 2 = 3.5, then v = (1 * 1, 2 * 1), 0.5 * ((1 + 2)² - (1² + 2²)) = 2.
        // (0, 2): 0.5 + 4 = 4.5; one non-zero feature has no pair: 0.5 * (4² - 4²) = 0.
        assert_eq!(floats(&out, "prediction"), [5.5, 4.5]);
    }

    #[test]
    fn classification_is_the_sigmoid_of_the_raw_score() {
        let m = fm(
            "classification",
            -1.0,
            vec![1.0, 2.0],
            vec![
                Field::scalar("prediction", DType::F64, false),
                Field::vector("probability", DType::F64, 2),
                Field::vector("raw", DType::F64, 2),
            ],
        )
        .unwrap();
        let out = score(
            &m,
            &[vec![Some(0.0), Some(0.0)], vec![Some(1.0), Some(1.0)]],
        )
        .unwrap();
        // Row 0: m = -1; row 1: m = -1 + 3 + 2 = 4. rawPrediction = (-m, m),
        // p1 = 1 / (1 + e^-m), prediction the larger raw score's index.
        assert_eq!(rows(&out, "raw"), [[1.0, -1.0], [-4.0, 4.0]]);
        let p = rows(&out, "probability");
        let p1 = 1.0 / (1.0 + 1f64.exp());
        assert_eq!(p[0], [1.0 - p1, p1]);
        assert_eq!(floats(&out, "prediction"), [0.0, 1.0]);
    }

    #[test]
    fn a_linear_vector_of_another_width_is_refused() {
        let e = fm(
            "regression",
            0.0,
            vec![1.0, 2.0, 3.0],
            vec![Field::scalar("prediction", DType::F64, false)],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("3 values for 2")),
            "{e}"
        );
    }
}
