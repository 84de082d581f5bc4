//! `spark.normalizer`: Spark ML's `Normalizer.transform` (each vector divided by its p-norm).
//!
//! Ports: `X` (a vector) -> `Y` (a vector). Attribute: `p` (f64, at least 1; `Infinity` for the
//! max norm).
//!
//! Spark's `Vectors.norm`, summed left to right: `p = 1` is `sum |x|`, `p = 2` is
//! `sqrt(sum x * x)`, `p = inf` is the largest `|x|` (compared with `>`, so a `NaN` element is
//! skipped), any other `p` is `pow(sum pow(|x|, p), 1 / p)`. A vector whose norm is exactly 0
//! comes out unchanged; others are divided element by element. `NaN` is not refused.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, gather};

#[derive(Debug)]
struct Normalizer {
    p: f64,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let p = ctx.f64("p")?;
    if p.is_nan() || p < 1.0 {
        return Err(ctx.err(format!("`p` must be at least 1, is {p}")));
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names)?],
        kernel: Box::new(Normalizer { p }),
    })
}

/// Spark's `Vectors.norm(v, p)`.
fn norm(v: &[f64], p: f64) -> f64 {
    if p == 1.0 {
        v.iter().fold(0.0, |s, x| s + x.abs())
    } else if p == 2.0 {
        v.iter().fold(0.0, |s, x| s + x * x).sqrt()
    } else if p == f64::INFINITY {
        v.iter()
            .fold(0.0, |m, x| if x.abs() > m { x.abs() } else { m })
    } else {
        v.iter().fold(0.0, |s, x| s + x.abs().powf(p)).powf(1.0 / p)
    }
}

impl Kernel for Normalizer {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            let n = norm(row, self.p);
            if n != 0.0 {
                row.iter_mut().for_each(|x| *x /= n);
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use super::norm;

    #[test]
    fn norms_follow_spark() {
        let v = [3.0, -4.0, f64::NAN];
        assert_eq!(norm(&v[..2], 2.0), 5.0);
        assert_eq!(norm(&v[..2], 1.0), 7.0);
        assert_eq!(norm(&v, f64::INFINITY), 4.0);
        assert!(norm(&v, 1.0).is_nan());
    }
}
