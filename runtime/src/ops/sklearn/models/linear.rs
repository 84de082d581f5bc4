//! `sklearn.linear`: every linear model of scikit-learn (LinearRegression, Ridge(CV), Lasso(CV),
//! ElasticNet(CV), LinearSVR, SGDRegressor, LogisticRegression(CV), LinearSVC, RidgeClassifier(CV),
//! SGDClassifier, Perceptron, ...), which all compute `decision = X @ coef.T + intercept` and
//! differ only in how they read the decision.
//!
//! Ports: `X` (numeric) -> regression: `prediction` (f64 scalar when there is one target, a
//! vector of `k` targets otherwise); classification: `label`, `probability`, `decision` (see
//! `classes.rs`; a binary model's decision is one value per row, as its `decision_function`).
//!
//! Attributes: `coef` (tensor `[k, n]` or f64s of length `k * n`), `intercept` (f64s, length
//! `k`), `task` (`"regression"` or `"classification"`); for regression, `multi_output` (bool,
//! optional: the model was fitted on a 2-D target, so even one target is a vector, as
//! scikit-learn's `predict` then returns shape `(n, 1)`); for classification `classes` and
//! `link`: `"logistic"` (binary: `k = 1`, probability `[1 - p, p]` with `p = expit(d)`),
//! `"softmax"` (multinomial), `"ovr"` (one-vs-rest: expit per class, then normalised by the
//! row sum, a row summing to 0 becoming uniform, as `_predict_proba_lr`), or `"none"` (no
//! probability; binding `probability` is then an error).
//!
//! Reading the decision, as `LinearClassifierMixin.predict`: a binary model predicts
//! `classes[1]` when `decision > 0` (so exactly 0 is `classes[0]`), a multiclass model the
//! first class with the largest decision (numpy's `argmax`). LogisticRegression in
//! scikit-learn 1.9 is always `_predict_proba_lr` for two classes and `softmax` otherwise.
//!
//! scikit-learn computes the decision with BLAS (`X @ coef.T`), whose blocked summation order
//! differs from the straight left-to-right dot product here by a few ulps; fixtures compare
//! under `F64_LINEAR`. scikit-learn rejects NaN and infinities in X for all of these models, and
//! so does this op.
//!
//! The kernel is on the single-row hot path: it makes one pass over the rows with no
//! allocation per row (one buffer for the decisions of the whole batch, reused in place for
//! probabilities when the decision itself is not an output).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::sklearn::models::classes::{Classes, Ports, argmax_rows, expit, softmax_rows};
use crate::value::{Matrix, Value, check_finite, gather};
use arrow_array::Float64Array;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Logistic,
    Softmax,
    Ovr,
    None,
}

#[derive(Debug)]
enum Task {
    Regression {
        /// Write a vector even for one target.
        vector: bool,
    },
    Classification {
        classes: Classes,
        link: Link,
        ports: Ports,
    },
}

#[derive(Debug)]
struct Linear {
    /// `k` rows of `n` coefficients.
    coef: Vec<f64>,
    intercept: Vec<f64>,
    n: usize,
    k: usize,
    names: Vec<String>,
    task: Task,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let intercept = ctx.f64s("intercept")?;
    let k = intercept.len();
    if k == 0 {
        return Err(ctx.err("attribute `intercept` is empty"));
    }
    let (rows, cols, coef) = ctx.matrix("coef", Some(n))?;
    if rows != k || cols != n || coef.len() != k * n {
        return Err(ctx.err(format!(
            "`coef` is {rows}x{cols}, expected {k}x{n} ({k} intercepts, {n} input features)"
        )));
    }
    let (task, outputs) = match ctx.str("task")? {
        "regression" => {
            let vector = match ctx.opt_attr("multi_output") {
                None => false,
                Some(_) => ctx.bool("multi_output")?,
            };
            let out = if k == 1 && !vector {
                ctx.scalar_out("prediction", DType::F64)?
            } else {
                ctx.vector_out(
                    "prediction",
                    (0..k).map(|i| format!("prediction[{i}]")).collect(),
                )?
            };
            (Task::Regression { vector }, vec![out])
        }
        "classification" => {
            let classes = Classes::from_ctx(ctx)?;
            let link = match ctx.str("link")? {
                "logistic" => Link::Logistic,
                "softmax" => Link::Softmax,
                "ovr" => Link::Ovr,
                "none" => Link::None,
                other => return Err(ctx.err(format!("unknown link `{other}`"))),
            };
            let binary = k == 1;
            if binary != (classes.len() == 2) || (!binary && classes.len() != k) {
                return Err(ctx.err(format!(
                    "{} classes do not fit {k} rows of coefficients",
                    classes.len()
                )));
            }
            if link == Link::Softmax && binary {
                return Err(ctx.err("link `softmax` needs one row of coefficients per class"));
            }
            if link == Link::Logistic && !binary {
                return Err(
                    ctx.err("link `logistic` is for binary models (one row of coefficients)")
                );
            }
            let (outputs, ports) = classes.outputs(ctx, k)?;
            if ports.probability && link == Link::None {
                return Err(ctx.err("this model has no probabilities (link `none`)"));
            }
            (
                Task::Classification {
                    classes,
                    link,
                    ports,
                },
                outputs,
            )
        }
        other => return Err(ctx.err(format!("unknown task `{other}`"))),
    };
    Ok(Built {
        kernel: Box::new(Linear {
            coef,
            intercept,
            n,
            k,
            names,
            task,
        }),
        outputs,
    })
}

impl Linear {
    /// `X @ coef.T + intercept`, row-major `[rows, k]`, in one buffer.
    fn decision(&self, x: &Matrix) -> Vec<f64> {
        let mut d = Vec::with_capacity(x.rows * self.k);
        for row in x.data.chunks_exact(self.n) {
            for (w, b) in self.coef.chunks_exact(self.n).zip(&self.intercept) {
                let dot = row.iter().zip(w).fold(0.0, |s, (a, c)| s + a * c);
                d.push(dot + b);
            }
        }
        d
    }
}

/// Turns decisions into probabilities in place.
fn probabilities(link: Link, d: Matrix) -> Matrix {
    match link {
        Link::Logistic => {
            // `np.stack([1 - p, p], axis=1)` with `p = expit(decision)`.
            let data = d
                .data
                .iter()
                .flat_map(|&v| {
                    let p = expit(v);
                    [1.0 - p, p]
                })
                .collect();
            Matrix::from_vec(d.rows, 2, data)
        }
        Link::Softmax => {
            let mut p = d;
            softmax_rows(&mut p);
            p
        }
        Link::Ovr => {
            let mut p = d;
            let k = p.cols;
            for r in p.data.chunks_exact_mut(k.max(1)) {
                r.iter_mut().for_each(|v| *v = expit(*v));
                let mut s: f64 = r.iter().sum();
                if s == 0.0 {
                    // Every expit underflowed: scikit-learn makes the row uniform.
                    r.iter_mut().for_each(|v| *v = 1.0);
                    s = k as f64;
                }
                r.iter_mut().for_each(|v| *v /= s);
            }
            p
        }
        // Refused at build: a model without probabilities never binds the port.
        Link::None => d,
    }
}

impl Kernel for Linear {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        // The planner guarantees the width; checked anyway so that a mismatch is an error,
        // never a silently misaligned dot product.
        if x.cols != self.n {
            return Err(Error::Plan {
                node: String::new(),
                op: "sklearn.linear".into(),
                message: format!("received {} features, expected {}", x.cols, self.n),
            });
        }
        let d = self.decision(&x);
        match &self.task {
            Task::Regression { vector } => Ok(vec![if self.k == 1 && !vector {
                Value::Array(Arc::new(Float64Array::from(d)))
            } else {
                Value::Matrix(Matrix::from_vec(x.rows, self.k, d))
            }]),
            Task::Classification {
                classes,
                link,
                ports,
            } => {
                let d = Matrix::from_vec(x.rows, self.k, d);
                let mut out = Vec::with_capacity(3);
                if ports.label {
                    let idx: Vec<usize> = if self.k == 1 {
                        d.data.iter().map(|&v| usize::from(v > 0.0)).collect()
                    } else {
                        argmax_rows(&d)
                    };
                    out.push(Value::Array(classes.labels(&idx)));
                }
                match (ports.probability, ports.decision) {
                    (true, true) => {
                        out.push(Value::Matrix(probabilities(*link, d.clone())));
                        out.push(Value::Matrix(d));
                    }
                    (true, false) => out.push(Value::Matrix(probabilities(*link, d))),
                    (false, true) => out.push(Value::Matrix(d)),
                    (false, false) => {}
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Model;
    use crate::ops::testing::{model, node, score, tref};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{BooleanArray, StringArray};
    use keel_bundle::{Attr, Field, TensorWriter};
    use std::collections::BTreeMap;

    fn attrs(pairs: Vec<(&str, Attr)>) -> BTreeMap<String, Attr> {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn classifier(
        coef: Vec<f64>,
        intercept: Vec<f64>,
        classes: Attr,
        link: &str,
        outs: &[(&str, &str)],
        fields: Vec<Field>,
    ) -> Result<Model, Error> {
        let n = coef.len() / intercept.len();
        let a = attrs(vec![
            ("coef", Attr::F64s(coef)),
            ("intercept", Attr::F64s(intercept)),
            ("task", Attr::Str("classification".into())),
            ("classes", classes),
            ("link", Attr::Str(link.into())),
        ]);
        model(n, node("sklearn.linear", n, outs, a), fields, None)
    }

    #[test]
    fn binary_decision_exactly_zero_is_the_first_class() {
        // sklearn: `indices = scores > 0`, so a decision of exactly 0 predicts classes_[0].
        let m = classifier(
            vec![1.0, -1.0],
            vec![0.0],
            Attr::Strs(vec!["no".into(), "yes".into()]),
            "none",
            &[("label", "label"), ("decision", "decision")],
            vec![
                Field::scalar("label", DType::Utf8, false),
                Field::scalar("decision", DType::F64, false),
            ],
        )
        .unwrap();
        let out = score(
            &m,
            &[
                vec![Some(2.0), Some(2.0)],
                vec![Some(2.0), Some(1.0)],
                vec![Some(1.0), Some(2.0)],
            ],
        )
        .unwrap();
        let labels: &StringArray = out.column(0).as_string();
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            vec![Some("no"), Some("yes"), Some("no")]
        );
        let d = out.column(1).as_primitive::<Float64Type>();
        assert_eq!(d.values().to_vec(), vec![0.0, 1.0, -1.0]);
    }

    #[test]
    fn multiclass_ties_take_the_first_class() {
        let m = classifier(
            vec![1.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0],
            Attr::I64s(vec![10, 20, 30]),
            "none",
            &[("label", "label")],
            vec![Field::scalar("label", DType::I64, false)],
        )
        .unwrap();
        let out = score(&m, &[vec![Some(1.0)], vec![Some(0.0)], vec![Some(2.0)]]).unwrap();
        let labels = out
            .column(0)
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(labels.values().to_vec(), vec![10, 30, 10]);
    }

    #[test]
    fn boolean_labels_and_binary_probability() {
        let m = classifier(
            vec![2.0],
            vec![-1.0],
            Attr::I64s(vec![0, 1]),
            "logistic",
            &[("label", "label"), ("probability", "probability")],
            vec![
                Field::scalar("label", DType::Bool, false),
                Field::vector("probability", DType::F64, 2),
            ],
        );
        // Without classes_dtype the labels are integers, so a bool output field is refused.
        assert!(m.is_err());
        let n = node(
            "sklearn.linear",
            1,
            &[("label", "label"), ("probability", "probability")],
            attrs(vec![
                ("coef", Attr::F64s(vec![2.0])),
                ("intercept", Attr::F64s(vec![-1.0])),
                ("task", Attr::Str("classification".into())),
                ("classes", Attr::I64s(vec![0, 1])),
                ("classes_dtype", Attr::Str("bool".into())),
                ("link", Attr::Str("logistic".into())),
            ]),
        );
        let m = model(
            1,
            n,
            vec![
                Field::scalar("label", DType::Bool, false),
                Field::vector("probability", DType::F64, 2),
            ],
            None,
        )
        .unwrap();
        let out = score(&m, &[vec![Some(0.0)], vec![Some(1.0)]]).unwrap();
        let labels: &BooleanArray = out.column(0).as_boolean();
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            vec![Some(false), Some(true)]
        );
        let p = out.column(1).as_fixed_size_list();
        let v = p.values().as_primitive::<Float64Type>();
        let (a, b) = (expit(-1.0), expit(1.0));
        assert_eq!(v.values().to_vec(), vec![1.0 - a, a, 1.0 - b, b]);
    }

    #[test]
    fn ovr_rows_that_underflow_become_uniform() {
        let p = probabilities(Link::Ovr, Matrix::from_vec(1, 3, vec![-1e4, -2e4, -3e4]));
        assert_eq!(p.data, vec![1.0 / 3.0; 3]);
    }

    #[test]
    fn nan_and_infinity_name_feature_and_row() {
        let m = classifier(
            vec![1.0, 1.0],
            vec![0.0],
            Attr::I64s(vec![0, 1]),
            "none",
            &[("label", "label")],
            vec![Field::scalar("label", DType::I64, false)],
        )
        .unwrap();
        let e = score(&m, &[vec![Some(1.0), Some(1.0)], vec![Some(1.0), None]]).unwrap_err();
        assert_eq!(
            e,
            Error::Missing {
                column: "x1".into(),
                row: 1,
                node: "m".into()
            }
        );
        let e = score(&m, &[vec![Some(f64::NEG_INFINITY), Some(1.0)]]).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { ref column, row: 0, ref node, .. } if column == "x0" && node == "m"),
            "{e}"
        );
    }

    #[test]
    fn coef_width_mismatch_is_refused_at_load() {
        let mut t = TensorWriter::new();
        t.f64("coef", &[1, 3], &[1.0, 2.0, 3.0]);
        let n = node(
            "sklearn.linear",
            4,
            &[("prediction", "prediction")],
            attrs(vec![
                ("coef", tref("coef")),
                ("intercept", Attr::F64s(vec![0.0])),
                ("task", Attr::Str("regression".into())),
            ]),
        );
        let e = model(
            4,
            n,
            vec![Field::scalar("prediction", DType::F64, false)],
            Some(t.finish().unwrap()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("3 columns, expected 4")),
            "{e}"
        );
    }

    #[test]
    fn one_target_fitted_as_2d_is_a_vector() {
        let n = node(
            "sklearn.linear",
            2,
            &[("prediction", "prediction")],
            attrs(vec![
                ("coef", Attr::F64s(vec![1.0, 2.0])),
                ("intercept", Attr::F64s(vec![0.5])),
                ("task", Attr::Str("regression".into())),
                ("multi_output", Attr::Bool(true)),
            ]),
        );
        let m = model(2, n, vec![Field::vector("prediction", DType::F64, 1)], None).unwrap();
        let out = score(&m, &[vec![Some(1.0), Some(1.0)]]).unwrap();
        let l = out.column(0).as_fixed_size_list();
        assert_eq!(l.value_length(), 1);
        assert_eq!(l.values().as_primitive::<Float64Type>().value(0), 3.5);
    }

    #[test]
    fn logistic_link_on_multiclass_is_refused() {
        let e = classifier(
            vec![1.0, 2.0, 3.0],
            vec![0.0, 0.0, 0.0],
            Attr::I64s(vec![0, 1, 2]),
            "logistic",
            &[("label", "label")],
            vec![Field::scalar("label", DType::I64, false)],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }
}
