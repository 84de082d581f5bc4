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
