//! `spark.linear`: Spark ML's linear models: `LinearRegressionModel`, `LogisticRegressionModel`
//! (binomial and multinomial) and `LinearSVCModel`.
//!
//! Ports: `X` (a vector) -> `prediction` (f64) and, for classifiers, `probability` and
//! `raw_prediction` (vectors; see `spark/common.rs`). Attributes: `coef` (`[k, n]`),
//! `intercept` (f64s, `k`), `model`:
//!
//! | `model` | `k` | rawPrediction | probability | prediction |
//! |---|---|---|---|---|
//! | `regression` | 1 | | | `m = x·w + b` |
//! | `binomial` | 1 | `[-m, m]` | `1 / (1 + exp(-r))` per element | `r[1] > ln(t / (1 - t))` (`-inf` at t = 0, `+inf` at t = 1) |
//! | `multinomial` | classes | margins `x·w_c + b_c` | see below | argmax of raw, or of `p / thresholds` |
//! | `svc` | 1 | `[-m, m]` | none | `r[1] > t` |
//!
//! `threshold` (f64) is the binomial model's `getThreshold` (which Spark derives from
//! `thresholds` when those are set) or LinearSVC's raw threshold; `thresholds` (f64s, optional)
//! are a multinomial model's.
//!
//! Spark's multinomial probability keeps its overflow guard literally: with `M` the largest
//! margin, each element is `exp(r - M)` if `M > 0` but `exp(r)` otherwise, then the vector is
//! multiplied by `1 / sum` (not divided by the sum); `M = +inf` gives a one-hot vector.
//!
//! Spark computes `x·w` with BLAS `ddot`/`dgemv`, whose summation order may differ from the
//! left-to-right dot product here by a few ulps (fixtures compare under `F64_LINEAR`). `NaN`
//! features are not refused: they propagate into the margin as in Spark, *except* through a
//! zero coefficient of a model whose coefficients Spark stores sparse (an L1 penalty often
//! makes it choose that storage): its sparse BLAS only visits the stored coefficients, so a
//! `NaN` feature times a zero coefficient never happens and the margin stays finite. `sparse`
//! (bool, optional) marks such a model, and then zero coefficients are skipped here too.
//!
//! `X` may also be one sparse block (hashed or counted terms; see `value::SparseMatrix`): the
//! margin is then the sum over the row's stored entries, in index order, as Spark's sparse
//! `dot`/`gemv` visit them, and the block's width must be the model's `numFeatures`. `coef`
//! may be given dense or "filled" (`spark::common::filled_matrix`), which keeps a model over
//! 2^18 hashed features small.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{
    Out, argmax, filled_matrix, model_width, predictor_outputs, threshold_argmax, thresholds,
};
use crate::value::{Matrix, Value, gather};
use arrow_array::Float64Array;
use std::borrow::Cow;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regression,
    Binomial,
    Multinomial,
    Svc,
}

#[derive(Debug)]
struct Linear {
    coef: Vec<f64>,
    /// For sparse models: per row of coefficients, the stored (non-zero) `(index, value)`.
    stored: Option<Vec<Vec<(usize, f64)>>>,
    intercept: Vec<f64>,
    n: usize,
    k: usize,
    kind: Kind,
    /// Binomial: the raw-margin threshold; LinearSVC: the threshold.
    raw_threshold: f64,
    thresholds: Option<Vec<f64>>,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (n, _) = model_width(ctx)?;
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let intercept = ctx.f64s("intercept")?;
    let k = intercept.len();
    let (rows, coef) = filled_matrix(ctx, "coef", n)?;
    if rows != k || coef.len() != k * n {
        return Err(ctx.err(format!(
            "`coef` has {rows} rows for {k} intercepts and {n} features"
        )));
    }
    let kind = match ctx.str("model")? {
        "regression" => Kind::Regression,
        "binomial" => Kind::Binomial,
        "multinomial" => Kind::Multinomial,
        "svc" => Kind::Svc,
        other => return Err(ctx.err(format!("unknown model `{other}`"))),
    };
    match kind {
        Kind::Multinomial if k < 2 => {
            return Err(ctx.err("a multinomial model needs one row of coefficients per class"));
        }
        Kind::Regression | Kind::Binomial | Kind::Svc if k != 1 => {
            return Err(ctx.err(format!("this model needs 1 row of coefficients, has {k}")));
        }
        _ => {}
    }
    let raw_threshold = match kind {
        Kind::Binomial => {
            let t = ctx.f64("threshold")?;
            if !(0.0..=1.0).contains(&t) {
                return Err(ctx.err(format!("`threshold` {t} is outside [0, 1]")));
            }
            if t == 0.0 {
                f64::NEG_INFINITY
            } else if t == 1.0 {
                f64::INFINITY
            } else {
                (t / (1.0 - t)).ln()
            }
        }
        Kind::Svc => ctx.f64("threshold")?,
        _ => 0.0,
    };
    let (classes, probability) = match kind {
        Kind::Regression => (None, false),
        Kind::Binomial => (Some(2), true),
        Kind::Svc => (Some(2), false),
        Kind::Multinomial => (Some(k), true),
    };
    let thresholds = match kind {
        Kind::Multinomial => thresholds(ctx, k)?,
        _ => None,
    };
    let (outputs, outs) = predictor_outputs(ctx, classes, probability)?;
    let sparse = ctx.opt_attr("sparse").is_some() && ctx.bool("sparse")?;
    let stored = sparse.then(|| {
        coef.chunks_exact(n)
            .map(|w| {
                w.iter()
                    .enumerate()
                    .filter(|(_, c)| **c != 0.0)
                    .map(|(j, c)| (j, *c))
                    .collect()
            })
            .collect()
    });
    Ok(Built {
        kernel: Box::new(Linear {
            coef,
            stored,
            intercept,
            n,
            k,
            kind,
            raw_threshold,
            thresholds,
            outs,
        }),
        outputs,
    })
}

/// Spark's multinomial `raw2probabilityInPlace`, in place.
fn multinomial_probability(v: &mut [f64]) {
    let m = v[argmax(v)];
    if m == f64::INFINITY {
        let at = argmax(v);
        v.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = if i == at { 1.0 } else { 0.0 });
        return;
    }
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = if m > 0.0 { (*x - m).exp() } else { x.exp() };
        sum += *x;
    }
    let inv = 1.0 / sum;
    v.iter_mut().for_each(|x| *x *= inv);
}

impl Kernel for Linear {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        if inputs.iter().map(|v| v.width()).sum::<usize>() != self.n {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.linear".into(),
                message: format!("received features of another width than {}", self.n),
            });
        }
        let mut margins = Vec::with_capacity(rows * self.k);
        if let [Value::Sparse(s)] = inputs {
            for i in 0..s.rows {
                let (idx, val) = s.row(i);
                for (w, b) in self.coef.chunks_exact(self.n).zip(&self.intercept) {
                    let dot = idx
                        .iter()
                        .zip(val)
                        .fold(0.0, |acc, (&j, &v)| acc + v * w[j as usize]);
                    margins.push(dot + b);
                }
            }
        }
        let x = match inputs {
            [Value::Sparse(_)] => Cow::Owned(Matrix::zeros(0, self.n)),
            _ => gather(inputs),
        };
        for row in x.data.chunks_exact(self.n) {
            match &self.stored {
                None => {
                    for (w, b) in self.coef.chunks_exact(self.n).zip(&self.intercept) {
                        let dot = row.iter().zip(w).fold(0.0, |s, (a, c)| s + a * c);
                        margins.push(dot + b);
                    }
                }
                Some(stored) => {
                    for (w, b) in stored.iter().zip(&self.intercept) {
                        let dot = w.iter().fold(0.0, |s, &(j, c)| s + c * row[j]);
                        margins.push(dot + b);
                    }
                }
            }
        }
        if self.kind == Kind::Regression {
            return Ok(vec![Value::Array(Arc::new(Float64Array::from(margins)))]);
        }
        let c = if self.kind == Kind::Multinomial {
            self.k
        } else {
            2
        };
        let mut raw = Matrix::zeros(rows, c);
        for (r, m) in raw
            .data
            .chunks_exact_mut(c)
            .zip(margins.chunks_exact(self.k))
        {
            if self.kind == Kind::Multinomial {
                r.copy_from_slice(m);
            } else {
                r[0] = -m[0];
                r[1] = m[0];
            }
        }
        let mut prob = None;
        if self.kind != Kind::Svc
            && (self.outs.contains(&Out::Probability) || self.thresholds.is_some())
        {
            let mut p = raw.clone();
            for r in p.data.chunks_exact_mut(c) {
                if self.kind == Kind::Multinomial {
                    multinomial_probability(r);
                } else {
                    r.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
                }
            }
            prob = Some(p);
        }
        let mut scratch = Vec::new();
        let prediction: Vec<f64> = (0..rows)
            .map(|i| match (self.kind, &self.thresholds, &prob) {
                (Kind::Multinomial, Some(t), Some(p)) => {
                    threshold_argmax(p.row(i), t, &mut scratch) as f64
                }
                (Kind::Multinomial, _, _) => argmax(raw.row(i)) as f64,
                _ => f64::from(u8::from(raw.row(i)[1] > self.raw_threshold)),
            })
            .collect();
        let mut prediction = Some(prediction);
        let mut raw = Some(raw);
        let mut out = Vec::with_capacity(self.outs.len());
        for o in &self.outs {
            let v = match o {
                Out::Prediction => prediction
                    .take()
                    .map(|p| Value::Array(Arc::new(Float64Array::from(p)))),
                Out::Probability => prob.take().map(Value::Matrix),
                Out::Raw => raw.take().map(Value::Matrix),
            };
            out.push(v.ok_or_else(|| Error::Plan {
                node: String::new(),
                op: "spark.linear".into(),
                message: format!("output {o:?} is not available"),
            })?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multinomial_guard_differs_by_sign_of_the_largest_margin() {
        let mut v = [1.0, 2.0, 3.0];
        multinomial_probability(&mut v);
        let e = [(-2.0f64).exp(), (-1.0f64).exp(), 1.0];
        let s = e.iter().sum::<f64>();
        assert_eq!(v, [e[0] * (1.0 / s), e[1] * (1.0 / s), e[2] * (1.0 / s)]);
        let mut v = [-1.0, -2.0];
        multinomial_probability(&mut v);
        let e = [(-1.0f64).exp(), (-2.0f64).exp()];
        let s = e[0] + e[1];
        assert_eq!(v, [e[0] * (1.0 / s), e[1] * (1.0 / s)]);
        let mut v = [0.0, f64::INFINITY, 1.0];
        multinomial_probability(&mut v);
        assert_eq!(v, [0.0, 1.0, 0.0]);
    }
}
