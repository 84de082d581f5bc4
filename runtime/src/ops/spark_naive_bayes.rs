//! `spark.naive_bayes`: Spark ML's `NaiveBayesModel` with `modelType` `multinomial` (the
//! default) or `bernoulli`.
//!
//! Ports: `X` (a vector) -> `prediction`, `probability`, `raw_prediction` (see
//! `spark_common.rs`). Attributes: `model_type`, `pi` (f64s, `k` log class priors), `theta`
//! (`[k, n]` log conditional probabilities), `thresholds` (optional).
//!
//! Spark's arithmetic:
//! - multinomial: every feature must be `>= 0` (else Spark fails; here [`Error::BadValue`]
//!   naming the feature and row, `NaN` included); `raw = pi + theta · x`;
//! - bernoulli: every feature must be 0 or 1; `raw = (theta - log1p(-exp(theta))) · x + pi +
//!   sum(log1p(-exp(theta)))`, the two matrices derived at load as Spark derives them;
//! - `probability = exp(raw - max(raw)) / sum` (a division, unlike logistic regression);
//! - `prediction` = argmax of `raw`, or of `probability / thresholds`.
//!
//! Spark's BLAS may add the terms in another order (an ulp; fixtures compare under
//! `F64_LINEAR`).
//!
//! `X` may also be one sparse block (term frequencies): only its stored values are checked
//! and multiplied, in index order, as Spark's sparse `gemv` does. `theta` may then be given
//! "filled" (`spark_common::filled_matrix`): over hashed features it is one smoothed constant
//! per class except at the terms seen in training.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark_common::{
    Out, classifier_values, filled_matrix, model_width, predictor_outputs, thresholds,
};
use crate::value::{Matrix, SparseMatrix, Value, gather};

#[derive(Debug)]
struct NaiveBayes {
    /// Per class, the weights applied to `x`.
    weights: Vec<f64>,
    /// Per class, the constant added (`pi`, plus the negated-theta sum for bernoulli).
    bias: Vec<f64>,
    bernoulli: bool,
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
    let bernoulli = match ctx.str("model_type")? {
        "multinomial" => false,
        "bernoulli" => true,
        other => return Err(ctx.err(format!("unsupported model_type `{other}`"))),
    };
    let (weights, bias) = if bernoulli {
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
            bernoulli,
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
            for ((v, w), b) in r
                .iter_mut()
                .zip(self.weights.chunks_exact(self.n))
                .zip(&self.bias)
            {
                *v = xr.iter().zip(w).fold(0.0, |s, (a, c)| s + c * a) + b;
            }
        }
        self.finish(raw)
    }
}

impl NaiveBayes {
    /// Spark's `requireNonnegativeValues` / `requireZeroOneBernoulliValues`.
    fn check(&self, v: f64, row: usize, col: usize) -> Result<(), Error> {
        let ok = if self.bernoulli {
            v == 0.0 || v == 1.0
        } else {
            v >= 0.0
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
                    if self.bernoulli {
                        "bernoulli"
                    } else {
                        "multinomial"
                    },
                    if self.bernoulli {
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
        for i in 0..s.rows {
            let (idx, val) = s.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                self.check(v, i, j as usize)?;
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
                    + b;
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
