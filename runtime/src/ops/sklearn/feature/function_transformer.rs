//! `sklearn.function_transformer`: scikit-learn's `FunctionTransformer` with one of a few
//! numpy ufuncs as `func`.
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attributes: `func` (`"identity"` for `func=None`,
//! `"log1p"`, `"exp"`, `"sqrt"`: `np.log1p`, `np.exp`, `np.sqrt`) and `validate` (bool).
//!
//! Elementwise, like the ufunc: `ln_1p`, `exp` and `sqrt` of the platform's libm (`sqrt` is
//! exact; `log1p`/`exp` may differ from numpy's own SIMD loops by an ulp, which the fixtures'
//! `f64_linear` tolerance states).
//!
//! Values outside the function's domain behave as in numpy: `log1p(-1) = -inf`,
//! `log1p(x < -1) = NaN`, `sqrt(x < 0) = NaN`, `exp(x > 709.78) = inf`; NaN stays NaN. keel
//! lets those results flow on exactly as scikit-learn does; the next stage that needs finite
//! numbers (a linear model, PCA, ...) then refuses them, naming the feature and row, where
//! scikit-learn would raise "Input contains NaN/infinity".
//!
//! With `validate=True` scikit-learn first runs `check_array`, which refuses NaN and
//! infinities in the input; so does this op. With `validate=False` (the default) nothing is
//! checked.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, check_finite, gather};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Identity,
    Log1p,
    Exp,
    Sqrt,
}

#[derive(Debug)]
struct FunctionTransformer {
    func: Func,
    validate: bool,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let func = match ctx.str("func")? {
        "identity" => Func::Identity,
        "log1p" => Func::Log1p,
        "exp" => Func::Exp,
        "sqrt" => Func::Sqrt,
        other => {
            return Err(ctx.err(format!(
                "unknown function `{other}` (expected identity, log1p, exp or sqrt)"
            )));
        }
    };
    let validate = match ctx.opt_attr("validate") {
        None => false,
        Some(_) => ctx.bool("validate")?,
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(FunctionTransformer {
            func,
            validate,
            names,
        }),
    })
}

impl Kernel for FunctionTransformer {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        if self.validate {
            check_finite(&m, &self.names, false)?;
        }
        let f: fn(f64) -> f64 = match self.func {
            Func::Identity => return Ok(vec![Value::Matrix(m)]),
            Func::Log1p => f64::ln_1p,
            Func::Exp => f64::exp,
            Func::Sqrt => f64::sqrt,
        };
        for v in &mut m.data {
            *v = f(*v);
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn apply(func: &str, validate: bool, x: &[f64]) -> Result<Vec<f64>, Error> {
        let out = run(
            "sklearn.function_transformer",
            vec![
                ("func", Attr::Str(func.into())),
                ("validate", Attr::Bool(validate)),
            ],
            &[("a", f64s(x))],
            &[("Y", vec![vec_field("y", 1)])],
        )?;
        Ok(rows(&out, "y").concat())
    }

    #[test]
    fn domain_edges_follow_numpy() {
        let r = apply("log1p", false, &[0.0, -1.0, -2.0, f64::NAN]).unwrap();
        assert_eq!(r[0], 0.0);
        assert_eq!(r[1], f64::NEG_INFINITY);
        assert!(r[2].is_nan() && r[3].is_nan());
        let r = apply("sqrt", false, &[4.0, -1.0]).unwrap();
        assert_eq!(r[0], 2.0);
        assert!(r[1].is_nan());
        let r = apply("exp", false, &[0.0, 1000.0]).unwrap();
        assert_eq!(r, vec![1.0, f64::INFINITY]);
        let r = apply("identity", false, &[f64::INFINITY]).unwrap();
        assert_eq!(r, vec![f64::INFINITY]);
    }

    #[test]
    fn validate_refuses_nan_and_inf() {
        let e = apply("identity", true, &[1.0, f64::NAN]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 1, .. }), "{e}");
        let e = apply("log1p", true, &[f64::INFINITY]).unwrap_err();
        assert!(matches!(e, Error::NonFinite { row: 0, .. }), "{e}");
    }

    #[test]
    fn unknown_function_is_a_plan_error() {
        let e = apply("log", false, &[1.0]).unwrap_err();
        assert!(e.to_string().contains("unknown function `log`"), "{e}");
    }
}
