//! `sklearn.binarizer`: scikit-learn's `Binarizer.transform`.
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attribute: `threshold` (f64).
//!
//! A value becomes 1 when it is strictly greater than the threshold, else 0 (so a value equal
//! to the threshold gives 0). `Binarizer` validates with `check_array` defaults: NaN and
//! infinities are refused, naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, check_finite, gather};

#[derive(Debug)]
struct Binarizer {
    threshold: f64,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let threshold = ctx.f64("threshold")?;
    if threshold.is_nan() {
        return Err(ctx.err("`threshold` is NaN"));
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(Binarizer { threshold, names }),
    })
}

impl Kernel for Binarizer {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        check_finite(&m, &self.names, false)?;
        for v in &mut m.data {
            *v = if *v > self.threshold { 1.0 } else { 0.0 };
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn binarize(x: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "sklearn.binarizer",
            vec![("threshold", Attr::F64(0.5))],
            &[("a", f64s(x))],
            &[("Y", vec![vec_field("y", 1)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn strictly_greater() {
        let r = binarize(&[0.4, 0.5, 0.5000001, -3.0]).unwrap();
        assert_eq!(r.concat(), vec![0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn refuses_nan() {
        let e = binarize(&[0.0, f64::NAN]).unwrap_err();
        assert!(
            matches!(e, Error::Missing { ref column, row: 1, .. } if column == "a"),
            "{e}"
        );
    }
}
