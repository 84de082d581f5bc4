//! `spark.elementwise_product`: Spark ML's `ElementwiseProduct.transform` (the Hadamard
//! product with a fixed `scalingVec`).
//!
//! Ports: `X` (a vector of width `n`) -> `Y` (a vector of width `n`). Attribute: `scaling`
//! (f64s, `scalingVec`, one finite number per feature).
//!
//! Spark checks the vector's size against `scalingVec` for every row and fails the job on a
//! mismatch; keel checks the planned width once, at load. Each value is multiplied by its
//! weight (`x * w`, one rounding), NaN and infinities passing through the arithmetic. Spark
//! multiplies only the *stored* values of a sparse vector, so with a non-finite weight an
//! implicit zero would stay `0` where a stored zero gives `NaN`: the answer would depend on how
//! Spark happened to store the vector, so non-finite weights are refused at load.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::f64s_of_len;
use crate::value::{Value, gather};

#[derive(Debug)]
struct ElementwiseProduct {
    scaling: Vec<f64>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    if names.is_empty() {
        return Err(ctx.err("port `X` binds no features"));
    }
    let scaling = f64s_of_len(ctx, "scaling", names.len())?;
    if let Some(i) = scaling.iter().position(|v| !v.is_finite()) {
        return Err(ctx.err(format!(
            "`scaling[{i}]` is not finite; Spark's result would depend on vector storage"
        )));
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names)?],
        kernel: Box::new(ElementwiseProduct { scaling }),
    })
}

impl Kernel for ElementwiseProduct {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            row.iter_mut().zip(&self.scaling).for_each(|(v, w)| *v *= w);
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, vec_field};
    use keel_bundle::Attr;

    #[test]
    fn multiplies_each_feature_by_its_weight() {
        let out = run(
            "spark.elementwise_product",
            vec![("scaling", Attr::F64s(vec![2.0, -0.5]))],
            &[("a", f64s(&[3.0, f64::NAN])), ("b", f64s(&[4.0, 0.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap();
        let r = rows(&out, "y");
        assert_eq!(r[0], vec![6.0, -2.0]);
        assert!(r[1][0].is_nan());
        assert_eq!(r[1][1], 0.0);
    }

    #[test]
    fn width_mismatch_and_non_finite_weights_are_refused_at_load() {
        let e = plan(
            "spark.elementwise_product",
            vec![("scaling", Attr::F64s(vec![2.0]))],
            &[("a", f64s(&[3.0])), ("b", f64s(&[4.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
        let e = plan(
            "spark.elementwise_product",
            vec![("scaling", Attr::F64s(vec![2.0, f64::INFINITY]))],
            &[("a", f64s(&[3.0])), ("b", f64s(&[4.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("scaling[1]"), "{e}");
    }
}
