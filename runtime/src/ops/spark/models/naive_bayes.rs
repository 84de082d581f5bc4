//! `spark.naive_bayes`: Spark ML's `NaiveBayesModel` with `modelType` `multinomial` (the
//! default), `bernoulli`, `complement` or `gaussian`.
//!
//! Ports: `X` (a vector) -> `prediction`, `probability`, `raw_prediction` (see
//! `spark/common.rs`). Attributes: `model_type`, `pi` (f64s, `k` log class priors), `theta`
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
//!
//! `X` may also be one sparse block (term frequencies): only its stored values are checked
//! and multiplied, in index order, as Spark's sparse `gemv` does. `theta` may then be given
//! "filled" (`spark::common::filled_matrix`): over hashed features it is one smoothed constant
//! per class except at the terms seen in training.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{
    Out, classifier_values, filled_matrix, model_width, predictor_outputs, thresholds,
};
use crate::value::{Matrix, SparseMatrix, Value, gather};

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
    /// Feature names for dense input (empty for a sparse block: then `x[j]`).
    names: Vec<String>,
    /// The name of the sparse input column, for errors.
    column: String,
    thresholds: Option<Vec<f64>>,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (n, sparse) = model_width(ctx)?;
    // A sparse block's feature names are generated on error instead (it may be 2^18 wide).
    let names = if sparse {
        Vec::new()
    } else {
        ctx.numeric_input("X")?
    };
    let pi = ctx.f64s("pi")?;
    let k = pi.len();
    if k < 2 || n == 0 {
        return Err(ctx.err("a naive Bayes model needs 2 classes or more and 1 feature or more"));
    }
    let (rows, theta) = filled_matrix(ctx, "theta", n)?;
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
            column: ctx
                .input("X")?
                .first()
                .map(|(c, _)| c.clone())
                .unwrap_or_default(),
            thresholds,
            outs,
        }),
        outputs,
    })
}

impl Kernel for NaiveBayes {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        if let [Value::Sparse(s)] = inputs {
            return self.eval_sparse(s, rows);
        }
        let x = gather(inputs);
        for (i, v) in x.data.iter().enumerate() {
            let (row, col) = (i / self.n, i % self.n);
            self.check(*v, row, col)?;
        }
        let mut raw = Matrix::zeros(rows, self.k);
        for (xr, r) in x
            .data
            .chunks_exact(self.n)
            .zip(raw.data.chunks_exact_mut(self.k))
        {
            self.score_row(xr, r);
        }
        self.finish(raw)
    }
}

/// Complement naive Bayes's raw prediction: the scores minus their log-sum-exp.
fn log_normalize(r: &mut [f64]) {
    let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum_exp = r.iter().fold(0.0, |s, v| s + (v - max).exp());
    let lse = sum_exp.ln() + max;
    r.iter_mut().for_each(|v| *v -= lse);
}

impl NaiveBayes {
    /// The raw prediction `r` of one dense row `xr`.
    fn score_row(&self, xr: &[f64], r: &mut [f64]) {
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
                log_normalize(r);
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

    /// Spark's `requireNonnegativeValues` / `requireZeroOneBernoulliValues` (gaussian takes any
    /// value).
    fn check(&self, v: f64, row: usize, col: usize) -> Result<(), Error> {
        let ok = match self.kind {
            Kind::Bernoulli => v == 0.0 || v == 1.0,
            Kind::Multinomial | Kind::Complement => v >= 0.0,
            Kind::Gaussian => true,
        };
        if !ok {
            return Err(Error::BadValue {
                column: self
                    .names
                    .get(col)
                    .cloned()
                    .unwrap_or_else(|| format!("{}[{col}]", self.column)),
                row,
                message: format!(
                    "naive Bayes ({}) needs {} feature values, found {v}",
                    match self.kind {
                        Kind::Bernoulli => "bernoulli",
                        Kind::Complement => "complement",
                        _ => "multinomial",
                    },
                    if self.kind == Kind::Bernoulli {
                        "0/1"
                    } else {
                        "non-negative"
                    }
                ),
            });
        }
        Ok(())
    }

    fn eval_sparse(&self, s: &SparseMatrix, rows: usize) -> Result<Vec<Value>, Error> {
        if s.cols != self.n {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.naive_bayes".into(),
                message: format!("received {} features, expected {}", s.cols, self.n),
            });
        }
        let mut raw = Matrix::zeros(rows, self.k);
        // Gaussian needs every feature (absent ones are 0, not skipped): it scores a dense copy
        // of each row, one row at a time (the planner's width bound applies to whole chunks).
        let mut dense = if self.kind == Kind::Gaussian {
            vec![0.0; self.n]
        } else {
            Vec::new()
        };
        for i in 0..s.rows {
            let (idx, val) = s.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                self.check(v, i, j as usize)?;
            }
            if self.kind == Kind::Gaussian {
                dense.iter_mut().for_each(|d| *d = 0.0);
                for (&j, &v) in idx.iter().zip(val) {
                    dense[j as usize] = v;
                }
                self.score_row(&dense, raw.row_mut(i));
                continue;
            }
            for ((r, w), b) in raw
                .row_mut(i)
                .iter_mut()
                .zip(self.weights.chunks_exact(self.n))
                .zip(&self.bias)
            {
                *r = idx
                    .iter()
                    .zip(val)
                    .fold(0.0, |acc, (&j, &v)| acc + w[j as usize] * v)
                    + if self.kind == Kind::Complement {
                        0.0
                    } else {
                        *b
                    };
            }
            if self.kind == Kind::Complement {
                log_normalize(raw.row_mut(i));
            }
        }
        self.finish(raw)
    }

    fn finish(&self, raw: Matrix) -> Result<Vec<Value>, Error> {
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

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, floats, rows, run, vec_field};
    use arrow_array::RecordBatch;
    use keel_bundle::{Attr, DType, Field};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    /// A two-class, two-feature model: priors 0.4 / 0.6, P(feature | class) 0.2, 0.8 / 0.5,
    /// 0.5, all as logs as Spark stores them.
    fn score(kind: &str, a: &[f64], b: &[f64]) -> Result<RecordBatch, Error> {
        run(
            "spark.naive_bayes",
            vec![
                ("model_type", Attr::Str(kind.into())),
                ("pi", Attr::F64s(vec![0.4f64.ln(), 0.6f64.ln()])),
                (
                    "theta",
                    Attr::F64s(vec![0.2f64.ln(), 0.8f64.ln(), 0.5f64.ln(), 0.5f64.ln()]),
                ),
            ],
            &[("a", f64s(a)), ("b", f64s(b))],
            &[
                (
                    "prediction",
                    vec![Field::scalar("prediction", DType::F64, false)],
                ),
                ("probability", vec![vec_field("probability", 2)]),
                ("raw_prediction", vec![vec_field("raw", 2)]),
            ],
        )
    }

    #[test]
    fn multinomial_adds_the_log_prior_to_theta_times_x() {
        let out = score("multinomial", &[1.0], &[2.0]).unwrap();
        // raw_c = log pi_c + sum_j x_j log theta_cj: log(0.4 * 0.2 * 0.8²) = log 0.0512 and
        // log(0.6 * 0.5 * 0.5²) = log 0.075.
        let raw = &rows(&out, "raw")[0];
        assert!(
            close(raw[0], 0.0512f64.ln()) && close(raw[1], 0.075f64.ln()),
            "{raw:?}"
        );
        // probability = exp(raw) normalised: 0.0512 / 0.1262 and 0.075 / 0.1262.
        let p = &rows(&out, "probability")[0];
        assert!(
            close(p[0], 0.0512 / 0.1262) && close(p[1], 0.075 / 0.1262),
            "{p:?}"
        );
        assert_eq!(floats(&out, "prediction"), [1.0]);
    }

    #[test]
    fn bernoulli_scores_absent_features_with_one_minus_theta() {
        let out = score("bernoulli", &[1.0], &[0.0]).unwrap();
        // raw_c = log pi_c + log theta_c0 + log(1 - theta_c1): log(0.4 * 0.2 * 0.2) = log
        // 0.016 and log(0.6 * 0.5 * 0.5) = log 0.15.
        let raw = &rows(&out, "raw")[0];
        assert!(
            close(raw[0], 0.016f64.ln()) && close(raw[1], 0.15f64.ln()),
            "{raw:?}"
        );
        assert_eq!(floats(&out, "prediction"), [1.0]);
    }

    #[test]
    fn values_the_model_type_cannot_take_name_feature_and_row() {
        // Spark's requireNonnegativeValues (multinomial) and requireZeroOneBernoulliValues.
        let e = score("multinomial", &[1.0, -1.0], &[0.0, 0.0]).unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, row: 1, .. } if column == "a"),
            "{e}"
        );
        let e = score("bernoulli", &[1.0], &[0.5]).unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, row: 0, .. } if column == "b"),
            "{e}"
        );
        let e = score("poisson", &[1.0], &[0.0]).unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }
}
