//! `spark.glm`: Spark ML's `GeneralizedLinearRegressionModel.transform`.
//!
//! Ports: `X` (a vector) and, when the model has an `offsetCol`, `offset` (one numeric scalar
//! column) -> `prediction` and/or `link_prediction` (f64 scalars). Attributes: `coef` (f64s,
//! `n`), `intercept` (f64), `family` (`gaussian`, `binomial`, `poisson`, `gamma`, `tweedie`:
//! the family object Spark resolves, which only decides the final `project` step), `link`
//! (`identity`, `log`, `inverse`, `logit`, `probit`, `cloglog`, `sqrt`, `power`) and
//! `link_power` (f64, for `power`).
//!
//! Spark's arithmetic, per row:
//! - `eta = dot(x, coef) + intercept + offset` (`offset` is the literal `0.0` without an
//!   offset column, so a `-0.0` margin becomes `+0.0` as in Spark);
//! - `mu = project(unlink(eta))` with the inverse links `eta`, `exp(eta)`, `1 / eta`,
//!   `1 / (1 + exp(-eta))`, `Phi(eta)`, `1 - exp(-exp(eta))`, `eta * eta` and
//!   `pow(eta, 1 / p)` (`exp(eta)` when `p = 0`), and `project` clamping `binomial` to
//!   `[1e-16, 1 - 1e-16]`, `poisson`/`gamma`/`tweedie` to `>= 1e-16` with `+inf` as
//!   `f64::MAX`, and `gaussian` mapping `±inf` to `±f64::MAX`.
//! - A `NULL` offset makes both outputs `NULL` (Spark's UDF on a primitive double returns
//!   `NULL` for a `NULL` argument).
//!
//! `Phi` is breeze's `Gaussian(0, 1).cdf`, `0.5 * (1 + erf(eta / sqrt(2)))`, with Apache
//! Commons Math's `erf`: the regularized gamma function `P(1/2, x²)` by its series below
//! `x² < 1.5` and by the continued fraction of `Q` above, which is what `erf` evaluates
//! (same algorithm and stopping rule, so the same digits up to an ulp of `exp`/`ln`).
//! `dot` is BLAS `ddot` in Spark, whose summation order may differ by an ulp (`F64_LINEAR`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::scalar_at;
use crate::value::{ColInfo, ColType, Value, gather};
use arrow_array::Float64Array;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    Identity,
    Log,
    Inverse,
    Logit,
    Probit,
    CLogLog,
    Sqrt,
    Power(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Project {
    Gaussian,
    Binomial,
    /// Poisson, gamma and tweedie.
    Positive,
}

/// Spark's `Family.epsilon`.
const EPSILON: f64 = 1e-16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Prediction,
    Link,
}

#[derive(Debug)]
struct Glm {
    coef: Vec<f64>,
    intercept: f64,
    link: Link,
    project: Project,
    /// Index of the offset column among the inputs (after the `X` columns), if bound.
    offset: Option<usize>,
    x_inputs: usize,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let coef = ctx.f64s("coef")?;
    if coef.len() != n {
        return Err(ctx.err(format!("`coef` has {} values for {n} features", coef.len())));
    }
    let intercept = ctx.f64("intercept")?;
    let link = match ctx.str("link")? {
        "identity" => Link::Identity,
        "log" => Link::Log,
        "inverse" => Link::Inverse,
        "logit" => Link::Logit,
        "probit" => Link::Probit,
        "cloglog" => Link::CLogLog,
        "sqrt" => Link::Sqrt,
        "power" => Link::Power(ctx.f64("link_power")?),
        other => return Err(ctx.err(format!("unknown link `{other}`"))),
    };
    let project = match ctx.str("family")? {
        "gaussian" => Project::Gaussian,
        "binomial" => Project::Binomial,
        "poisson" | "gamma" | "tweedie" => Project::Positive,
        other => return Err(ctx.err(format!("unknown family `{other}`"))),
    };
    let x_inputs = ctx.input("X")?.len();
    let offset = if ctx.node.inputs.iter().any(|b| b.port == "offset") {
        match ctx.input("offset")? {
            [(_, info)] if matches!(info.ty, ColType::Scalar(_)) && info.ty.is_numeric() => {
                Some(x_inputs)
            }
            _ => return Err(ctx.err("port `offset` must bind one numeric scalar column")),
        }
    } else {
        None
    };
    let mut outputs: Vec<ColInfo> = Vec::new();
    let mut outs = Vec::new();
    for b in &ctx.node.outputs {
        let o = match b.port.as_str() {
            "prediction" => Out::Prediction,
            "link_prediction" => Out::Link,
            p => return Err(ctx.err(format!("this model has no output port `{p}`"))),
        };
        if outs.contains(&o) {
            return Err(ctx.err(format!("output port `{}` is bound twice", b.port)));
        }
        outputs.push(ctx.scalar_out(&b.port, DType::F64)?);
        outs.push(o);
    }
    if outs.is_empty() {
        return Err(ctx.err("no output port is bound"));
    }
    Ok(Built {
        kernel: Box::new(Glm {
            coef,
            intercept,
            link,
            project,
            offset,
            x_inputs,
            outs,
        }),
        outputs,
    })
}

impl Link {
    fn unlink(self, eta: f64) -> f64 {
        match self {
            Link::Identity => eta,
            Link::Log => eta.exp(),
            Link::Inverse => 1.0 / eta,
            Link::Logit => 1.0 / (1.0 + (-eta).exp()),
            // breeze's `(x - mu) / (sqrt(2) * sigma)` with mu = 0, sigma = 1.
            Link::Probit => 0.5 * (1.0 + erf(eta / std::f64::consts::SQRT_2)),
            Link::CLogLog => 1.0 - (-(eta.exp())).exp(),
            Link::Sqrt => eta * eta,
            Link::Power(p) => {
                if p == 0.0 {
                    eta.exp()
                } else {
                    eta.powf(1.0 / p)
                }
            }
        }
    }
}

impl Project {
    fn apply(self, mu: f64) -> f64 {
        match self {
            Project::Gaussian => {
                if mu == f64::NEG_INFINITY {
                    f64::MIN
                } else if mu == f64::INFINITY {
                    f64::MAX
                } else {
                    mu
                }
            }
            // Spark's `if (mu < eps) eps else if (mu > 1 - eps) 1 - eps else mu`; NaN stays NaN.
            Project::Binomial => mu.clamp(EPSILON, 1.0 - EPSILON),
            Project::Positive => {
                if mu < EPSILON {
                    EPSILON
                } else if mu.is_infinite() {
                    f64::MAX
                } else {
                    mu
                }
            }
        }
    }
}

/// `ln Γ(1/2) = ln √π`.
const LN_GAMMA_HALF: f64 = 0.572_364_942_924_700_1;

/// Apache Commons Math's `Erf.erf`: `±1` beyond `|x| > 40`, else `±P(1/2, x²)` computed with
/// `epsilon = 1e-15` as `Gamma.regularizedGammaP` does.
fn erf(x: f64) -> f64 {
    if x.abs() > 40.0 {
        return if x > 0.0 { 1.0 } else { -1.0 };
    }
    let r = regularized_gamma_p_half(x * x);
    if x < 0.0 { -r } else { r }
}

/// `Gamma.regularizedGammaP(0.5, x, 1e-15, 10000)`.
fn regularized_gamma_p_half(x: f64) -> f64 {
    const A: f64 = 0.5;
    const EPS: f64 = 1e-15;
    const MAX_ITER: f64 = 10000.0;
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 0.0;
    }
    if x >= A + 1.0 {
        return 1.0 - regularized_gamma_q_half(x);
    }
    // The series sum of x^n / (a (a+1) ... (a+n)).
    let mut n = 0.0;
    let mut an = 1.0 / A;
    let mut sum = an;
    while (an / sum).abs() > EPS && n < MAX_ITER && sum < f64::INFINITY {
        n += 1.0;
        an *= x / (A + n);
        sum += an;
    }
    if sum.is_infinite() {
        1.0
    } else {
        (-x + (A * x.ln()) - LN_GAMMA_HALF).exp() * sum
    }
}

/// `Gamma.regularizedGammaQ(0.5, x, 1e-15, 10000)` for `x >= 1.5`: the continued fraction
/// evaluated by Commons Math's `ContinuedFraction.evaluate` (modified Lentz).
fn regularized_gamma_q_half(x: f64) -> f64 {
    const A: f64 = 0.5;
    const EPS: f64 = 1e-15;
    const SMALL: f64 = 1e-50;
    let get_a = |n: f64| ((2.0 * n) + 1.0) - A + x;
    let get_b = |n: f64| n * (A - n);
    let mut h_prev = get_a(0.0);
    if h_prev.abs() <= SMALL {
        h_prev = SMALL;
    }
    let mut d_prev = 0.0;
    let mut c_prev = h_prev;
    let mut h_n = h_prev;
    let mut n = 1.0;
    while n < 10000.0 {
        let a = get_a(n);
        let b = get_b(n);
        let mut d_n = a + b * d_prev;
        if d_n.abs() <= SMALL {
            d_n = SMALL;
        }
        let mut c_n = a + b / c_prev;
        if c_n.abs() <= SMALL {
            c_n = SMALL;
        }
        d_n = 1.0 / d_n;
        let delta = c_n * d_n;
        h_n = h_prev * delta;
        if !h_n.is_finite() {
            // Commons Math throws here; it cannot happen for a = 1/2 and finite x >= 1.5.
            return f64::NAN;
        }
        if (delta - 1.0).abs() < EPS {
            break;
        }
        d_prev = d_n;
        c_prev = c_n;
        h_prev = h_n;
        n += 1.0;
    }
    let ret = 1.0 / h_n;
    (-x + (A * x.ln()) - LN_GAMMA_HALF).exp() * ret
}

impl Kernel for Glm {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let xs = inputs.get(..self.x_inputs).unwrap_or(inputs);
        let x = gather(xs);
        let n = self.coef.len();
        if x.cols != n {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.glm".into(),
                message: format!("received {} features, expected {n}", x.cols),
            });
        }
        let offset = match self.offset.and_then(|i| inputs.get(i)) {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        };
        let mut eta = Vec::with_capacity(rows);
        for (i, row) in x.data.chunks_exact(n).enumerate() {
            let off = match offset {
                Some(a) => scalar_at(a.as_ref(), i),
                None => Some(0.0),
            };
            eta.push(off.map(|o| {
                let dot = row.iter().zip(&self.coef).fold(0.0, |s, (a, c)| s + a * c);
                dot + self.intercept + o
            }));
        }
        let mut out = Vec::with_capacity(self.outs.len());
        for o in &self.outs {
            let col: Float64Array = match o {
                Out::Link => eta.iter().copied().collect(),
                Out::Prediction => eta
                    .iter()
                    .map(|e| e.map(|e| self.project.apply(self.link.unlink(e))))
                    .collect(),
            };
            out.push(Value::Array(Arc::new(col)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Reference digits of erf from the definition (not from Spark).
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (-1.0, -0.842_700_792_949_714_9),
            (3.5, 0.999_999_256_901_627_7),
        ];
        for (x, want) in cases {
            assert!((erf(x) - want).abs() < 1e-15, "erf({x}) = {}", erf(x));
        }
        assert_eq!(erf(41.0), 1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn projections_clamp_as_spark() {
        assert_eq!(Project::Binomial.apply(0.0), EPSILON);
        assert_eq!(Project::Binomial.apply(1.0), 1.0 - EPSILON);
        assert_eq!(Project::Positive.apply(f64::INFINITY), f64::MAX);
        assert_eq!(Project::Positive.apply(-3.0), EPSILON);
        assert_eq!(Project::Gaussian.apply(f64::NEG_INFINITY), f64::MIN);
        assert!(Project::Positive.apply(f64::NAN).is_nan());
    }

    #[test]
    fn power_link_zero_is_exp() {
        assert_eq!(Link::Power(0.0).unlink(1.0), 1f64.exp());
        assert_eq!(Link::Power(0.5).unlink(3.0), 9.0);
    }
}
