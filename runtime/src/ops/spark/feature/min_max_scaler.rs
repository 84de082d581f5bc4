//! `spark.min_max_scaler`: Spark ML's `MinMaxScalerModel.transform`.
//!
//! Ports: `X` (a vector) -> `Y` (a vector). Attributes: `original_min`, `original_max` (f64s,
//! the fitted column minima and maxima), `min`, `max` (f64, the target range, default 0 and 1).
//!
//! Spark's arithmetic, kept to the bit: `scale[i] = (max - min) / (original_max[i] -
//! original_min[i])` is precomputed (0 for a constant feature), and a value becomes
//! `(x - original_min[i]) * scale[i] + min`; a constant feature becomes `(min + max) / 2`;
//! `NaN` is left as it is.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::f64s_of_len;
use crate::value::{Value, gather};

#[derive(Debug)]
struct MinMaxScaler {
    original_min: Vec<f64>,
    scale: Vec<f64>,
    min: f64,
    constant: f64,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let original_min = f64s_of_len(ctx, "original_min", n)?;
    let original_max = f64s_of_len(ctx, "original_max", n)?;
    let (min, max) = (ctx.f64("min")?, ctx.f64("max")?);
    if min.is_nan() || max.is_nan() || min >= max {
        return Err(ctx.err(format!("`min` ({min}) must be below `max` ({max})")));
    }
    let range = max - min;
    let scale = original_min
        .iter()
        .zip(&original_max)
        .map(|(lo, hi)| {
            let r = hi - lo;
            if r != 0.0 { range / r } else { 0.0 }
        })
        .collect();
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names)?],
        kernel: Box::new(MinMaxScaler {
            original_min,
            scale,
            min,
            constant: (min + max) / 2.0,
        }),
    })
}

impl Kernel for MinMaxScaler {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            for ((v, lo), s) in row.iter_mut().zip(&self.original_min).zip(&self.scale) {
                if v.is_nan() {
                    continue;
                }
                *v = if *s != 0.0 {
                    (*v - lo) * s + self.min
                } else {
                    self.constant
                };
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
    fn scales_keeps_nan_and_centres_constants() {
        let out = run(
            "spark.min_max_scaler",
            vec![
                ("original_min", Attr::F64s(vec![0.0, 2.0])),
                ("original_max", Attr::F64s(vec![4.0, 2.0])),
                ("min", Attr::F64(-1.0)),
                ("max", Attr::F64(1.0)),
            ],
            &[("a", f64s(&[1.0, f64::NAN])), ("b", f64s(&[9.0, 2.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap();
        let r = rows(&out, "y");
        assert_eq!(r[0], vec![(1.0 - 0.0) * (2.0 / 4.0) - 1.0, 0.0]);
        assert!(r[1][0].is_nan());
        assert_eq!(r[1][1], 0.0);
    }
}
