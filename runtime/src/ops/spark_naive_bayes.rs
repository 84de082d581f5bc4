//! `spark.naive_bayes`: Spark ML's `NaiveBayesModel` with `modelType` `multinomial` (the
//! default), `bernoulli`, `complement` or `gaussian`.
//!
//! Ports: `X` (a vector) -> `prediction`, `probability`, `raw_prediction` (see
//! `spark_common.rs`). Attributes: `model_type`, `pi` (f64s, `k` log class priors), `theta`
//! (`[k, n]` log conditional probabilities; the class means for gaussian), `sigma` (`[k, n]`
//! variances, gaussian only), `thresholds` (optional).
//!
//! Spark's arithmetic:
//! - multinomial: every feature must be `>= 0` (else Spark fails; here [`Error::BadValue`]
//!   naming the feature and row, `NaN` included); `raw = pi + theta · x`;
//! - bernoulli: every feature must be 0 or 1; `raw = (theta - log1p(-exp(theta))) · x + pi +
//!   sum(log1p(-exp(theta)))`, the two matrices derived at load as Spark derives them;
//! - complement: every feature must be `>= 0`; `m = theta · x` (no prior), then
//!   `raw = m - (ln(sum exp(m - max m)) + max m)`, Spark's log-sum-exp in its order;
//! - gaussian: no check on the features; per class `s = sum_j (x_j - theta_j)² / sigma_j`
//!   left to right, then `raw = pi - (s + sum_j ln sigma_j) / 2`;
//! - `probability = exp(raw - max(raw)) / sum` (a division, unlike logistic regression);
//! - `prediction` = argmax of `raw`, or of `probability / thresholds`.
//!
//! Spark's BLAS may add the terms in another order (an ulp; fixtures compare under
//! `F64_LINEAR`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark_common::{Out, classifier_values, predictor_outputs, thresholds};
use crate::value::{Matrix, Value, gather};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Multinomial,
    Bernoulli,
    Complement,
    Gaussian,
}

#[derive(Debug)]
struct NaiveBayes {
    /// Per class, the weights applied to `x` (the means for gaussian).
    weights: Vec<f64>,
    /// Per class, the constant added (`pi`, plus the negated-theta sum for bernoulli; `pi`
    /// for gaussian, unused for complement).
    bias: Vec<f64>,
    /// Gaussian only: the variances `[k, n]` and, per class, the sum of their logs.
    sigma: Vec<f64>,
    log_var_sum: Vec<f64>,
    kind: Kind,
    n: usize,
    k: usize,
    names: Vec<String>,
    thresholds: Option<Vec<f64>>,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let pi = ctx.f64s("pi")?;
    let k = pi.len();
    if k < 2 || n == 0 {
        return Err(ctx.err("a naive Bayes model needs 2 classes or more and 1 feature or more"));
    }
    let (rows, _, theta) = ctx.matrix("theta", Some(n))?;
    if rows != k || theta.len() != k * n {
        return Err(ctx.err(format!("`theta` has {rows} rows for {k} classes")));
    }
    let kind = match ctx.str("model_type")? {
        "multinomial" => Kind::Multinomial,
        "bernoulli" => Kind::Bernoulli,
        "complement" => Kind::Complement,
        "gaussian" => Kind::Gaussian,
        other => return Err(ctx.err(format!("unsupported model_type `{other}`"))),
    };
    let (sigma, log_var_sum) = if kind == Kind::Gaussian {
        let (rows, _, sigma) = ctx.matrix("sigma", Some(n))?;
        if rows != k || sigma.len() != k * n {
            return Err(ctx.err(format!("`sigma` has {rows} rows for {k} classes")));
        }
        // Spark's `logVarSum`: an iterator sum, left to right from 0.
        let lvs = sigma
            .chunks_exact(n)
            .map(|s| s.iter().fold(0.0, |a, v| a + v.ln()))
            .collect();
        (sigma, lvs)
    } else {
        (Vec::new(), Vec::new())
    };
    let (weights, bias) = if kind == Kind::Bernoulli {
        let neg: Vec<f64> = theta.iter().map(|t| (-t.exp()).ln_1p()).collect();
        let weights = theta.iter().zip(&neg).map(|(t, g)| t - g).collect();
        let bias = pi
            .iter()
            .zip(neg.chunks_exact(n))
            .map(|(p, g)| p + g.iter().fold(0.0, |s, v| s + v))
            .collect();
        (weights, bias)
    } else {
        (theta, pi)
    };
    let thresholds = thresholds(ctx, k)?;
    let (outputs, outs) = predictor_outputs(ctx, Some(k), true)?;
    Ok(Built {
        kernel: Box::new(NaiveBayes {
            weights,
            bias,
            sigma,
            log_var_sum,
            kind,
            n,
            k,
            names,
            thresholds,
            outs,
        }),
        outputs,
    })
}

impl Kernel for NaiveBayes {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        let bernoulli = self.kind == Kind::Bernoulli;
        for (i, v) in x.data.iter().enumerate() {
            let ok = match self.kind {
                Kind::Bernoulli => *v == 0.0 || *v == 1.0,
                Kind::Multinomial | Kind::Complement => *v >= 0.0,
                Kind::Gaussian => true,
            };
            if !ok {
                let (row, col) = (i / self.n, i % self.n);
                return Err(Error::BadValue {
                    column: self.names.get(col).cloned().unwrap_or_default(),
                    row,
                    message: format!(
                        "naive Bayes ({}) needs {} feature values, found {v}",
                        match self.kind {
                            Kind::Bernoulli => "bernoulli",
                            Kind::Complement => "complement",
                            _ => "multinomial",
                        },
                        if bernoulli { "0/1" } else { "non-negative" }
                    ),
                });
            }
        }
        let mut raw = Matrix::zeros(rows, self.k);
        for (xr, r) in x
            .data
            .chunks_exact(self.n)
            .zip(raw.data.chunks_exact_mut(self.k))
        {
            match self.kind {
                Kind::Multinomial | Kind::Bernoulli => {
                    for ((v, w), b) in r
                        .iter_mut()
                        .zip(self.weights.chunks_exact(self.n))
                        .zip(&self.bias)
                    {
                        *v = xr.iter().zip(w).fold(0.0, |s, (a, c)| s + c * a) + b;
                    }
                }
                Kind::Complement => {
                    for (v, w) in r.iter_mut().zip(self.weights.chunks_exact(self.n)) {
                        *v = xr.iter().zip(w).fold(0.0, |s, (a, c)| s + c * a);
                    }
                    let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum_exp = r.iter().fold(0.0, |s, v| s + (v - max).exp());
                    let lse = sum_exp.ln() + max;
                    r.iter_mut().for_each(|v| *v -= lse);
                }
                Kind::Gaussian => {
                    for (((v, mean), var), (p, lvs)) in r
                        .iter_mut()
                        .zip(self.weights.chunks_exact(self.n))
                        .zip(self.sigma.chunks_exact(self.n))
                        .zip(self.bias.iter().zip(&self.log_var_sum))
                    {
                        let mut s = 0.0;
                        for ((xv, m), sg) in xr.iter().zip(mean).zip(var) {
                            let d = xv - m;
                            s += d * d / sg;
                        }
                        *v = p - (s + lvs) / 2.0;
                    }
                }
            }
        }
        let mut prob = raw.clone();
        for r in prob.data.chunks_exact_mut(self.k) {
            let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            r.iter_mut().for_each(|v| *v = (*v - max).exp());
            let sum: f64 = r.iter().sum();
            r.iter_mut().for_each(|v| *v /= sum);
        }
        classifier_values(
            raw,
            prob,
            self.thresholds.as_deref(),
            &self.outs,
            "spark.naive_bayes",
        )
    }
}
