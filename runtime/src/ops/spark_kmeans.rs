//! `spark.kmeans`: Spark ML's `KMeansModel.transform` with the Euclidean distance.
//!
//! Ports: `X` (a vector) -> `prediction` (i32: the index of the closest center, as Spark's
//! integer `prediction` column). Attribute: `centers` (`[k, n]`).
//!
//! Spark's `findClosest` keeps the first center whose squared distance is strictly smaller
//! than the best so far; its norm-based shortcuts only skip centers that cannot be closer, and
//! for dense vectors its distance is `Vectors.sqdist`, the sum of `(x - c)²` left to right,
//! which is what this op computes. (For a *sparse* feature vector Spark may use the
//! approximation `|x|² + |c|² - 2 x·c` when its error bound allows, which can only matter
//! for a row almost equidistant from two centers.) `NaN` features make every distance `NaN`,
//! so the first center (index 0) wins, as in Spark.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, gather};
use arrow_array::Int32Array;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct KMeans {
    centers: Vec<f64>,
    n: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let (k, _, centers) = ctx.matrix("centers", Some(n))?;
    if k == 0 || k > i32::MAX as usize || centers.len() != k * n {
        return Err(ctx.err(format!("`centers` must be [k, {n}] with k >= 1")));
    }
    Ok(Built {
        outputs: vec![ctx.scalar_out("prediction", DType::I32)?],
        kernel: Box::new(KMeans { centers, n }),
    })
}

impl Kernel for KMeans {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        let pred: Int32Array = x
            .data
            .chunks_exact(self.n)
            .map(|row| {
                let mut best = f64::INFINITY;
                let mut at = 0usize;
                for (i, c) in self.centers.chunks_exact(self.n).enumerate() {
                    let d = row.iter().zip(c).fold(0.0, |s, (a, b)| {
                        let t = a - b;
                        s + t * t
                    });
                    if d < best {
                        best = d;
                        at = i;
                    }
                }
                // `build` bounded k by i32::MAX.
                at as i32
            })
            .collect();
        Ok(vec![Value::Array(Arc::new(pred))])
    }
}
