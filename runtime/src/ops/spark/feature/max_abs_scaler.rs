//! `spark.max_abs_scaler`: Spark ML's `MaxAbsScalerModel.transform`.
//!
//! Ports: `X` (a vector) -> `Y` (a vector). Attribute: `max_abs` (f64s, the fitted maximum
//! absolute value per feature).
//!
//! Spark precomputes `scale = 1 / max_abs` (1 where `max_abs == 0`) and multiplies, where
//! scikit-learn divides; the two differ in the last bit, hence a separate op. `NaN` passes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::f64s_of_len;
use crate::value::{Value, gather};

#[derive(Debug)]
struct MaxAbsScaler {
    scale: Vec<f64>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let scale = f64s_of_len(ctx, "max_abs", names.len())?
        .into_iter()
        .map(|v| if v == 0.0 { 1.0 } else { 1.0 / v })
        .collect();
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names)?],
        kernel: Box::new(MaxAbsScaler { scale }),
    })
}

impl Kernel for MaxAbsScaler {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            row.iter_mut().zip(&self.scale).for_each(|(v, s)| *v *= s);
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    #[test]
    fn multiplies_by_the_reciprocal() {
        let out = run(
            "spark.max_abs_scaler",
            vec![("max_abs", Attr::F64s(vec![3.0, 0.0]))],
            &[("a", f64s(&[1.0])), ("b", f64s(&[7.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap();
        assert_eq!(rows(&out, "y")[0], vec![1.0 * (1.0 / 3.0), 7.0]);
    }
}
