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
