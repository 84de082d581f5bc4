//! `sklearn.linear`: every linear model of scikit-learn (LinearRegression, Ridge, Lasso,
//! ElasticNet, LinearSVR, LogisticRegression, LinearSVC, ...), which all compute
//! `decision = X @ coef.T + intercept` and differ only in how they read the decision.
//!
//! Ports: `X` (numeric) -> regression: `prediction` (f64 scalar when there is one target,
//! else a vector); classification: `label`, `probability`, `decision` (see `classes.rs`).
//!
//! Attributes: `coef` (tensor `[k, n]` or f64s of length `k * n`), `intercept` (f64s, length
//! `k`), `task` (`"regression"` or `"classification"`), and for classification `classes` and
//! `link`: `"logistic"` (binary: `k = 1`, probability `[1 - p, p]` with `p = expit(d)`),
//! `"softmax"` (multinomial), `"ovr"` (one-vs-rest: expit per class, then normalised), or
//! `"none"` (no probability; binding `probability` is then an error).
//!
//! scikit-learn rejects NaN and infinities in X for all of these, and so does this op.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::classes::{Classes, Ports, argmax_rows, expit, softmax_rows};
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
    Regression,
    Classification { classes: Classes, link: Link, ports: Ports },
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
    let intercept = ctx.f64s("intercept")?;
    let k = intercept.len();
    let (rows, cols, coef) = ctx.matrix("coef", Some(n))?;
    if rows != k || cols != n {
        return Err(ctx.err(format!(
            "`coef` is {rows}x{cols}, expected {k}x{n} ({k} intercepts, {n} input features)"
        )));
    }
    let (task, outputs) = match ctx.str("task")? {
        "regression" => {
            let out = if k == 1 {
                ctx.scalar_out("prediction", DType::F64)?
            } else {
                ctx.vector_out("prediction", (0..k).map(|i| format!("prediction[{i}]")).collect())?
            };
            (Task::Regression, vec![out])
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
            if (link == Link::Logistic) != binary && link != Link::None {
                return Err(ctx.err("link `logistic` is for binary models, `softmax`/`ovr` for multiclass"));
            }
            let (outputs, ports) = classes.outputs(ctx, k)?;
            if ports.probability && link == Link::None {
                return Err(ctx.err("this model has no probabilities (link `none`)"));
            }
            (Task::Classification { classes, link, ports }, outputs)
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
    fn decision(&self, x: &Matrix) -> Matrix {
        let mut d = Matrix::zeros(x.rows, self.k);
        for i in 0..x.rows {
            let row = x.row(i);
            let out = d.row_mut(i);
            for (c, o) in out.iter_mut().enumerate() {
                let w = &self.coef[c * self.n..(c + 1) * self.n];
                let dot: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
                *o = dot + self.intercept[c];
            }
        }
        d
    }
}

impl Kernel for Linear {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        let d = self.decision(&x);
        match &self.task {
            Task::Regression => Ok(vec![if self.k == 1 {
                Value::Array(Arc::new(Float64Array::from(d.data)))
            } else {
                Value::Matrix(d)
            }]),
            Task::Classification { classes, link, ports } => {
                let mut out = Vec::with_capacity(3);
                let label_idx: Vec<usize> = if self.k == 1 {
                    d.data.iter().map(|&v| usize::from(v > 0.0)).collect()
                } else {
                    argmax_rows(&d)
                };
                if ports.label {
                    out.push(Value::Array(classes.labels(&label_idx)));
                }
                if ports.probability {
                    let p = match link {
                        Link::Logistic => {
                            let mut p = Matrix::zeros(d.rows, 2);
                            for (i, &v) in d.data.iter().enumerate() {
                                let e = expit(v);
                                p.data[2 * i] = 1.0 - e;
                                p.data[2 * i + 1] = e;
                            }
                            p
                        }
                        Link::Softmax => {
                            let mut p = d.clone();
                            softmax_rows(&mut p);
                            p
                        }
                        Link::Ovr => {
                            let mut p = d.clone();
                            for i in 0..p.rows {
                                let r = p.row_mut(i);
                                r.iter_mut().for_each(|v| *v = expit(*v));
                                let s: f64 = r.iter().sum();
                                r.iter_mut().for_each(|v| *v /= s);
                            }
                            p
                        }
                        Link::None => d.clone(),
                    };
                    out.push(Value::Matrix(p));
                }
                if ports.decision {
                    out.push(Value::Matrix(d));
                }
                Ok(out)
            }
        }
    }
}
