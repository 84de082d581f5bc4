//! `spark.standard_scaler`: Spark ML's `StandardScalerModel.transform`.
//!
//! Ports: `X` (a vector) -> `Y` (a vector). Attributes: `mean` (f64s, present when the model
//! has `withMean=true`; Spark's default is `false`), `std` (f64s, present when `withStd=true`,
//! the default; Spark fits the *unbiased* sample standard deviation, so this op must not be
//! fed scikit-learn's `scale_`).
//!
//! Spark precomputes `scale = 1 / std` (0 where `std == 0`, so a constant feature becomes 0)
//! and then computes `(x - mean) * scale`: a multiplication by the reciprocal, not a division,
//! which is why this op is not `sklearn.standard_scaler` (whose `x / scale` differs in the
//! last bit). `NaN` passes through the arithmetic, as in Spark.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::f64s_of_len;
use crate::value::{Value, gather};

#[derive(Debug)]
struct StandardScaler {
    shift: Option<Vec<f64>>,
    scale: Option<Vec<f64>>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let shift = match ctx.opt_attr("mean") {
        None => None,
        Some(_) => Some(f64s_of_len(ctx, "mean", n)?),
    };
    let scale = match ctx.opt_attr("std") {
        None => None,
        Some(_) => Some(
            f64s_of_len(ctx, "std", n)?
                .into_iter()
                .map(|v| if v == 0.0 { 0.0 } else { 1.0 / v })
                .collect(),
        ),
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names)?],
        kernel: Box::new(StandardScaler { shift, scale }),
    })
}

impl Kernel for StandardScaler {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            if let Some(shift) = &self.shift {
                row.iter_mut().zip(shift).for_each(|(v, s)| *v -= s);
            }
            if let Some(scale) = &self.scale {
                row.iter_mut().zip(scale).for_each(|(v, s)| *v *= s);
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    #[test]
    fn multiplies_by_the_reciprocal_and_zeroes_constant_features() {
        let out = run(
            "spark.standard_scaler",
            vec![
                ("mean", Attr::F64s(vec![1.0, 5.0])),
                ("std", Attr::F64s(vec![3.0, 0.0])),
            ],
            &[("a", f64s(&[2.0, f64::NAN])), ("b", f64s(&[7.0, 5.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap();
        let r = rows(&out, "y");
        assert_eq!(r[0], vec![(2.0 - 1.0) * (1.0 / 3.0), 0.0]);
        assert!(r[1][0].is_nan());
    }
}
