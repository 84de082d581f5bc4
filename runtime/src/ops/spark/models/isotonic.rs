//! `spark.isotonic`: Spark ML's `IsotonicRegressionModel.transform`.
//!
//! Ports: `X` (one column: an f64 scalar column, or a vector with `feature_index`) ->
//! `prediction` (f64, `NULL` where a scalar input is `NULL`, as Spark's UDF on a primitive
//! double returns `NULL`). Attributes: `boundaries`, `predictions` (f64s, equal length >= 1,
//! boundaries non-decreasing), `feature_index` (i64, read only for a vector input).
//!
//! Spark's `predict(x)`: `i = java.util.Arrays.binarySearch(boundaries, x)`, reproduced here
//! step for step (its midpoints decide which of several equal boundaries a tie hits, and it
//! orders `-0.0 < 0.0` and `NaN` above everything by `doubleToLongBits`); then, with
//! `ins = -i - 1`: `ins == 0` gives the first prediction, `ins == len` the last (so `NaN`
//! gets the last), a miss between two boundaries interpolates
//! `y1 + (y2 - y1) * (x - x1) / (x2 - x1)` in that order, and a hit gives `predictions[i]`.
//! The `isotonic` flag only decided the fit: prediction does not read it.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::scalar_at;
use crate::value::{ColType, Value};
use arrow_array::Float64Array;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct Isotonic {
    boundaries: Vec<f64>,
    predictions: Vec<f64>,
    /// For a vector input: the element read.
    index: Option<usize>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let index = match ctx.input("X")? {
        [(_, info)] => match info.ty {
            ColType::Scalar(DType::F64) => None,
            ColType::Vector(w) => {
                let i = ctx.usize("feature_index")?;
                if i >= w {
                    return Err(
                        ctx.err(format!("`feature_index` {i} is outside the vector of {w}"))
                    );
                }
                Some(i)
            }
            ref t => {
                return Err(ctx.err(format!(
                    "port `X` must bind an f64 or a vector column, binds {t:?}"
                )));
            }
        },
        _ => return Err(ctx.err("port `X` must bind exactly one column")),
    };
    let boundaries = ctx.f64s("boundaries")?;
    let predictions = ctx.f64s("predictions")?;
    if boundaries.is_empty() || boundaries.len() != predictions.len() {
        return Err(ctx.err(format!(
            "`boundaries` ({}) and `predictions` ({}) must have the same length >= 1",
            boundaries.len(),
            predictions.len()
        )));
    }
    if boundaries.iter().any(|v| v.is_nan()) || boundaries.windows(2).any(|w| w[0] > w[1]) {
        return Err(ctx.err("`boundaries` must be non-decreasing numbers"));
    }
    Ok(Built {
        outputs: vec![ctx.scalar_out("prediction", DType::F64)?],
        kernel: Box::new(Isotonic {
            boundaries,
            predictions,
            index,
        }),
    })
}

/// Java's `Double.doubleToLongBits` as a signed key (all NaNs canonical).
fn bits(v: f64) -> i64 {
    if v.is_nan() {
        0x7ff8_0000_0000_0000
    } else {
        v.to_bits() as i64
    }
}

/// `java.util.Arrays.binarySearch(double[], double)`.
fn binary_search(a: &[f64], key: f64) -> isize {
    let (mut low, mut high) = (0isize, a.len() as isize - 1);
    while low <= high {
        let mid = (low + high) / 2;
        let v = a[mid as usize];
        if v < key {
            low = mid + 1;
        } else if v > key {
            high = mid - 1;
        } else {
            let (mb, kb) = (bits(v), bits(key));
            if mb == kb {
                return mid;
            } else if mb < kb {
                low = mid + 1;
            } else {
                high = mid - 1;
            }
        }
    }
    -(low + 1)
}

impl Isotonic {
    fn predict(&self, x: f64) -> f64 {
        let (b, p) = (&self.boundaries, &self.predictions);
        let found = binary_search(b, x);
        let ins = -found - 1;
        let last = b.len() - 1;
        if ins == 0 {
            p[0]
        } else if ins as usize == b.len() && ins > 0 {
            p[last]
        } else if found < 0 {
            let i = ins as usize;
            let (x1, y1, x2, y2) = (b[i - 1], p[i - 1], b[i], p[i]);
            y1 + (y2 - y1) * (x - x1) / (x2 - x1)
        } else {
            p[found as usize]
        }
    }
}

impl Kernel for Isotonic {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let out: Float64Array = match (inputs, self.index) {
            ([Value::Matrix(m)], Some(j)) if j < m.cols => {
                (0..rows).map(|i| Some(self.predict(m.row(i)[j]))).collect()
            }
            ([Value::Array(a)], None) => (0..rows)
                .map(|i| scalar_at(a.as_ref(), i).map(|x| self.predict(x)))
                .collect(),
            _ => {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "spark.isotonic".into(),
                    message: "the input does not match the planned column".into(),
                });
            }
        };
        Ok(vec![Value::Array(Arc::new(out))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_search_is_java_s() {
        let a = [1.0, 2.0, 2.0, 2.0, 3.0];
        // Java returns the first midpoint that hits: (0 + 4) / 2 = 2.
        assert_eq!(binary_search(&a, 2.0), 2);
        assert_eq!(binary_search(&a, 0.5), -1);
        assert_eq!(binary_search(&a, 9.0), -6);
        assert_eq!(binary_search(&a, f64::NAN), -6);
        assert_eq!(binary_search(&[-0.0, 1.0], 0.0), -2);
    }

    #[test]
    fn interpolates_and_clamps() {
        let m = Isotonic {
            boundaries: vec![1.0, 3.0],
            predictions: vec![10.0, 20.0],
            index: None,
        };
        assert_eq!(m.predict(0.0), 10.0);
        assert_eq!(m.predict(2.0), 15.0);
        assert_eq!(m.predict(5.0), 20.0);
        assert_eq!(m.predict(3.0), 20.0);
    }
}
