//! `spark.pca`: Spark ML's `PCAModel.transform`: the projection `pcᵀ · x`.
//!
//! Ports: `X` (a vector of `n` elements) -> `Y` (a vector of `k` elements). Attribute:
//! `components` (`[k, n]`: row `j` is principal component `j`, Spark's `pc` column `j`).
//!
//! Unlike scikit-learn, Spark does not subtract the mean at transform (nor whiten): output `j`
//! is `sum_i pc[i, j] * x[i]`, summed left to right here and by BLAS `dgemv` in Spark (so an
//! ulp may differ: fixtures compare under `F64_LINEAR`). `NaN` is not refused.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Matrix, Value, gather};

#[derive(Debug)]
struct Pca {
    components: Vec<f64>,
    n: usize,
    k: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let (k, _, components) = ctx.matrix("components", Some(n))?;
    if k == 0 || components.len() != k * n {
        return Err(ctx.err(format!("`components` must be [k, {n}] with k >= 1")));
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", (0..k).map(|j| format!("pc[{j}]")).collect())?],
        kernel: Box::new(Pca { components, n, k }),
    })
}

impl Kernel for Pca {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        let mut out = Matrix::zeros(rows, self.k);
        for (xr, yr) in x
            .data
            .chunks_exact(self.n)
            .zip(out.data.chunks_exact_mut(self.k))
        {
            for (y, c) in yr.iter_mut().zip(self.components.chunks_exact(self.n)) {
                *y = xr.iter().zip(c).fold(0.0, |s, (a, b)| s + b * a);
            }
        }
        Ok(vec![Value::Matrix(out)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, vec_field};
    use keel_bundle::Attr;

    #[test]
    fn projects_on_the_components_without_centring() {
        // pc = [[0.6, -0.8], [0.8, 0.6]] (columns are components): y = pcᵀ x.
        let out = run(
            "spark.pca",
            vec![("components", Attr::F64s(vec![0.6, 0.8, -0.8, 0.6]))],
            &[("a", f64s(&[3.0, 1.0])), ("b", f64s(&[4.0, 0.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap();
        let y = rows(&out, "y");
        // (0.6 * 3 + 0.8 * 4, -0.8 * 3 + 0.6 * 4) = (5, 0); no mean is subtracted, so
        // (1, 0) gives the first row of pc.
        assert_eq!(y[0], [0.6 * 3.0 + 0.8 * 4.0, -0.8 * 3.0 + 0.6 * 4.0]);
        assert_eq!(y[1], [0.6, -0.8]);
    }

    #[test]
    fn components_that_do_not_fit_the_input_are_refused() {
        let e = plan(
            "spark.pca",
            vec![("components", Attr::F64s(vec![0.6, 0.8, 1.0]))],
            &[("a", f64s(&[1.0])), ("b", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }
}
