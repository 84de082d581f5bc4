//! `sklearn.standard_scaler`: scikit-learn's `StandardScaler.transform`.
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attributes: `mean` (f64s or absent when
//! `with_mean=False`), `scale` (f64s or absent when `with_std=False`). scikit-learn computes
//! `(x - mean) / scale` in that order (subtract, then divide), and lets NaN pass through; the
//! same order is kept here so results match to the last bit.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, check_finite, gather};

#[derive(Debug)]
struct StandardScaler {
    mean: Option<Vec<f64>>,
    scale: Option<Vec<f64>>,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let read = |key: &str| -> Result<Option<Vec<f64>>, Error> {
        match ctx.opt_attr(key) {
            None => Ok(None),
            Some(_) => {
                let v = ctx.f64s(key)?;
                if v.len() != n {
                    return Err(ctx.err(format!("`{key}` has {} values for {n} features", v.len())));
                }
                Ok(Some(v))
            }
        }
    };
    let mean = read("mean")?;
    let scale = read("scale")?;
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(StandardScaler { mean, scale, names }),
    })
}

impl Kernel for StandardScaler {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        check_finite(&m, &self.names, true)?;
        let cols = m.cols;
        for row in m.data.chunks_exact_mut(cols) {
            if let Some(mean) = &self.mean {
                for (v, mu) in row.iter_mut().zip(mean) {
                    *v -= mu;
                }
            }
            if let Some(scale) = &self.scale {
                for (v, s) in row.iter_mut().zip(scale) {
                    *v /= s;
                }
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, vec_field};
    use keel_bundle::Attr;

    fn scale(attrs: Vec<(&str, Attr)>, a: &[f64], b: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "sklearn.standard_scaler",
            attrs,
            &[("a", f64s(a)), ("b", f64s(b))],
            &[("Y", vec![vec_field("y", 2)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn subtracts_the_mean_then_divides_by_the_scale() {
        // z = (x - mean_) / scale_: (3 - 1) / 2 = 1 and (20 - 10) / 5 = 2.
        let y = scale(
            vec![
                ("mean", Attr::F64s(vec![1.0, 10.0])),
                ("scale", Attr::F64s(vec![2.0, 5.0])),
            ],
            &[3.0, f64::NAN],
            &[20.0, 0.0],
        )
        .unwrap();
        assert_eq!(y[0], [1.0, 2.0]);
        // NaN is let through (scikit-learn ignores NaN in fit and keeps it in transform).
        assert!(y[1][0].is_nan());
        assert_eq!(y[1][1], -2.0);
    }

    #[test]
    fn with_mean_false_or_with_std_false_leave_out_that_step() {
        let mean_only = scale(vec![("mean", Attr::F64s(vec![1.0, 10.0]))], &[3.0], &[20.0]);
        assert_eq!(mean_only.unwrap()[0], [2.0, 10.0]);
        let std_only = scale(vec![("scale", Attr::F64s(vec![2.0, 5.0]))], &[3.0], &[20.0]);
        assert_eq!(std_only.unwrap()[0], [1.5, 4.0]);
    }

    #[test]
    fn infinities_and_misfitted_attributes_are_refused() {
        let e = scale(
            vec![("scale", Attr::F64s(vec![2.0, 5.0]))],
            &[1.0],
            &[f64::INFINITY],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::NonFinite { column, row: 0, .. } if column == "b"),
            "{e}"
        );
        let e = plan(
            "sklearn.standard_scaler",
            vec![("mean", Attr::F64s(vec![1.0]))],
            &[("a", f64s(&[1.0])), ("b", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }
}
