//! `spark.kmeans`: Spark ML's `KMeansModel.transform` with the Euclidean or cosine distance.
//!
//! Ports: `X` (a vector) -> `prediction` (i32: the index of the closest center, as Spark's
//! integer `prediction` column). Attributes: `centers` (`[k, n]`), `distance` (optional:
//! `euclidean`, the default, or `cosine`).
//!
//! Cosine (`CosineDistanceMeasure`): `1 - dot(c, x) / |c| / |x|` in that order, the norms
//! `sqrt(sum v²)` left to right (each center's at load), the first strictly smallest distance
//! winning. Spark asserts `norm > 0` for both vectors: a zero feature vector, or one holding
//! `NaN` (whose norm is `NaN`), fails its job, and is an [`Error::BadValue`] here.
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
    /// Cosine distance: the centers' norms.
    cosine: Option<Vec<f64>>,
    names: Vec<String>,
}

/// Spark's `Vectors.norm(v, 2)` on a dense vector.
fn norm2(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |s, x| s + x * x).sqrt()
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
    let cosine = match ctx
        .opt_attr("distance")
        .map(|_| ctx.str("distance"))
        .transpose()?
    {
        None | Some("euclidean") => None,
        Some("cosine") => {
            let norms: Vec<f64> = centers.chunks_exact(n).map(norm2).collect();
            if norms.iter().any(|v| v.is_nan() || *v <= 0.0) {
                return Err(ctx.err("a center has norm 0, which the cosine distance refuses"));
            }
            Some(norms)
        }
        Some(other) => return Err(ctx.err(format!("unknown distance `{other}`"))),
    };
    Ok(Built {
        outputs: vec![ctx.scalar_out("prediction", DType::I32)?],
        kernel: Box::new(KMeans {
            centers,
            n,
            cosine,
            names,
        }),
    })
}

impl Kernel for KMeans {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        if let Some(norms) = &self.cosine {
            let mut pred = Vec::with_capacity(x.rows);
            for (r, row) in x.data.chunks_exact(self.n).enumerate() {
                let xn = norm2(row);
                // Spark's `assert(v1.norm > 0 && v2.norm > 0)`, which a NaN norm fails too.
                if xn.is_nan() || xn <= 0.0 {
                    return Err(Error::BadValue {
                        column: self.names.first().cloned().unwrap_or_default(),
                        row: r,
                        message: format!(
                            "the cosine distance is not defined for a feature vector of norm {xn}"
                        ),
                    });
                }
                let mut best = f64::INFINITY;
                let mut at = 0usize;
                for (i, (c, cn)) in self.centers.chunks_exact(self.n).zip(norms).enumerate() {
                    let dot = c.iter().zip(row).fold(0.0, |s, (a, b)| s + a * b);
                    let d = 1.0 - dot / cn / xn;
                    if d < best {
                        best = d;
                        at = i;
                    }
                }
                // `build` bounded k by i32::MAX.
                pred.push(at as i32);
            }
            return Ok(vec![Value::Array(Arc::new(Int32Array::from(pred)))]);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Matrix;

    fn cosine(centers: Vec<f64>, n: usize) -> KMeans {
        let norms = centers.chunks_exact(n).map(norm2).collect();
        KMeans {
            centers,
            n,
            cosine: Some(norms),
            names: vec!["f[0]".into(), "f[1]".into()],
        }
    }

    #[test]
    fn cosine_picks_the_closest_angle_not_the_closest_point() {
        let km = cosine(vec![1.0, 0.0, 0.0, 10.0], 2);
        // (0.3, 0.5) is nearer (1, 0) as a point but nearer (0, 10) in angle.
        let x = Value::Matrix(Matrix::from_vec(2, 2, vec![5.0, 1.0, 0.3, 0.5]));
        let out = km.eval(&[&x], 2).unwrap();
        let Value::Array(a) = &out[0] else {
            panic!("not an array")
        };
        let a = a.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(a.values().to_vec(), vec![0, 1]);
    }

    #[test]
    fn cosine_refuses_zero_and_nan_vectors_as_spark_s_assertion_does() {
        let km = cosine(vec![1.0, 0.0, 0.0, 1.0], 2);
        for row in [[0.0, 0.0], [f64::NAN, 1.0]] {
            let x = Value::Matrix(Matrix::from_vec(2, 2, vec![1.0, 1.0, row[0], row[1]]));
            match km.eval(&[&x], 2) {
                Err(Error::BadValue { row, .. }) => assert_eq!(row, 1),
                other => panic!("expected a BadValue, got {other:?}"),
            }
        }
    }
}
