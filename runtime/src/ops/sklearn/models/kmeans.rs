//! `sklearn.kmeans`: scikit-learn's `KMeans` (and `MiniBatchKMeans`, which shares its
//! `predict` and `transform`), with the arithmetic of each method kept apart because
//! scikit-learn computes them differently:
//!
//! - `label` (`predict`) follows the Cython `_labels_inertia` -> `lloyd_iter_chunked_dense`
//!   -> `_update_chunk_dense` path: the score of center `j` is `||c_j||^2 + (-2 x . c_j)`
//!   (a GEMM with `alpha = -2`, `beta = 1` onto the precomputed squared norms; `||x||^2` is
//!   left out because it does not change the argmin) and the label is the first center with
//!   the smallest score (a strict `<` scan from center 0).
//! - `distances` (`transform`) is `euclidean_distances(X, cluster_centers_)`:
//!   `((-2 x . c_j) + ||x||^2) + ||c_j||^2`, clipped at 0, then the square root.
//!
//! Ports: `X` (numeric) -> `label` (i64 scalar; scikit-learn returns int32 cluster indices)
//! and/or `distances` (vector, one element per cluster), bound in that order.
//! Attributes: `centers` (tensor `[k, n]`, `cluster_centers_`).
//!
//! The dot products are straight left-to-right sums while numpy uses BLAS and `einsum` for the
//! norms: a few ulps apart, so `distances` is compared under `F64_LINEAR`. scikit-learn rejects
//! NaN and infinities in X, and so does this op.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Matrix, Value, check_finite, gather};
use arrow_array::Int64Array;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct KMeans {
    /// `k` rows of `n` coordinates.
    centers: Vec<f64>,
    /// `||c_j||^2`, as `row_norms(centers, squared=True)`.
    norms: Vec<f64>,
    n: usize,
    k: usize,
    names: Vec<String>,
    label: bool,
    distances: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    if n == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let (k, cols, centers) = ctx.matrix("centers", Some(n))?;
    if cols != n || k == 0 || centers.len() != k * n {
        return Err(ctx.err(format!(
            "`centers` is {k}x{cols}, expected at least one center of {n} features"
        )));
    }
    let norms = centers
        .chunks_exact(n)
        .map(|c| c.iter().map(|v| v * v).sum())
        .collect();
    let ports: Vec<&str> = ctx.node.outputs.iter().map(|b| b.port.as_str()).collect();
    let (label, distances) = match ports.as_slice() {
        ["label"] => (true, false),
        ["distances"] => (false, true),
        ["label", "distances"] => (true, true),
        other => {
            return Err(ctx.err(format!(
                "outputs must be `label` and/or `distances`, in that order; found {other:?}"
            )));
        }
    };
    let mut outputs = Vec::with_capacity(2);
    if label {
        outputs.push(ctx.scalar_out("label", DType::I64)?);
    }
    if distances {
        outputs.push(ctx.vector_out("distances", (0..k).map(|j| j.to_string()).collect())?);
    }
    Ok(Built {
        kernel: Box::new(KMeans {
            centers,
            norms,
            n,
            k,
            names,
            label,
            distances,
        }),
        outputs,
    })
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}

impl Kernel for KMeans {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        // The planner guarantees the width; checked anyway so that a mismatch is an error,
        // never a silently misaligned dot product.
        if x.cols != self.n {
            return Err(Error::Plan {
                node: String::new(),
                op: "sklearn.kmeans".into(),
                message: format!("received {} features, expected {}", x.cols, self.n),
            });
        }
        let mut labels = Vec::with_capacity(if self.label { x.rows } else { 0 });
        let mut dist = Vec::with_capacity(if self.distances { x.rows * self.k } else { 0 });
        for row in x.data.chunks_exact(self.n) {
            let xx = if self.distances { dot(row, row) } else { 0.0 };
            let mut best = (0usize, f64::INFINITY);
            for (j, (c, cc)) in self
                .centers
                .chunks_exact(self.n)
                .zip(&self.norms)
                .enumerate()
            {
                let m2 = -2.0 * dot(row, c);
                if self.label {
                    let score = cc + m2;
                    // Center 0 always initialises the minimum, as in `_update_chunk_dense`.
                    if j == 0 || score < best.1 {
                        best = (j, score);
                    }
                }
                if self.distances {
                    let d = (m2 + xx) + cc;
                    // `np.maximum(d, 0)` (which would keep a NaN), then `np.sqrt`.
                    dist.push(if d < 0.0 { 0.0 } else { d }.sqrt());
                }
            }
            if self.label {
                labels.push(best.0 as i64);
            }
        }
        let mut out = Vec::with_capacity(2);
        if self.label {
            out.push(Value::Array(Arc::new(Int64Array::from(labels))));
        }
        if self.distances {
            out.push(Value::Matrix(Matrix::from_vec(x.rows, self.k, dist)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{model, node, score, tref};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use keel_bundle::{Attr, Field, TensorWriter};
    use std::collections::BTreeMap;

    fn kmeans(
        centers: &[f64],
        k: usize,
        outs: &[(&str, &str)],
        fields: Vec<Field>,
    ) -> Result<crate::Model, Error> {
        let n = centers.len() / k;
        let mut t = TensorWriter::new();
        t.f64("c", &[k, n], centers);
        let attrs: BTreeMap<String, Attr> = [("centers".to_string(), tref("c"))].into();
        model(
            n,
            node("sklearn.kmeans", n, outs, attrs),
            fields,
            Some(t.finish().unwrap()),
        )
    }

    fn both(centers: &[f64], k: usize) -> crate::Model {
        kmeans(
            centers,
            k,
            &[("label", "label"), ("distances", "distances")],
            vec![
                Field::scalar("label", DType::I64, false),
                Field::vector("distances", DType::F64, k as u64),
            ],
        )
        .unwrap()
    }

    #[test]
    fn equidistant_centers_take_the_first() {
        // x = 0 is at distance 1 from both centers: the strict `<` keeps center 0.
        let m = both(&[1.0, -1.0], 2);
        let out = score(&m, &[vec![Some(0.0)], vec![Some(-0.9)], vec![Some(3.0)]]).unwrap();
        assert_eq!(
            out.column(0).as_primitive::<Int64Type>().values().to_vec(),
            vec![0, 1, 0]
        );
        let d = out.column(1).as_fixed_size_list();
        let v = d.values().as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(v[..2], [1.0, 1.0]);
        assert_eq!(v[4..], [2.0, 4.0]);
    }

    #[test]
    fn distance_to_a_center_is_clipped_at_zero() {
        // x = c: -2 x.c + ||x||^2 + ||c||^2 can round below 0; it is clipped, never NaN.
        let c = [0.1, 0.7, 1e-3];
        let m = both(&c, 1);
        let out = score(&m, &[c.iter().map(|v| Some(*v)).collect()]).unwrap();
        let d = out.column(1).as_fixed_size_list();
        let v = d.values().as_primitive::<Float64Type>().value(0);
        assert!((0.0..1e-7).contains(&v), "{v}");
    }

    #[test]
    fn label_only_or_distances_only() {
        let m = kmeans(
            &[0.0, 0.0, 5.0, 5.0],
            2,
            &[("label", "label")],
            vec![Field::scalar("label", DType::I64, false)],
        )
        .unwrap();
        let out = score(&m, &[vec![Some(4.0), Some(4.0)]]).unwrap();
        assert_eq!(out.column(0).as_primitive::<Int64Type>().value(0), 1);
        let e = kmeans(
            &[0.0, 0.0, 5.0, 5.0],
            2,
            &[("distances", "distances"), ("label", "label")],
            vec![
                Field::vector("distances", DType::F64, 2),
                Field::scalar("label", DType::I64, false),
            ],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }

    #[test]
    fn nan_and_infinity_name_feature_and_row() {
        let m = both(&[0.0, 0.0, 5.0, 5.0], 2);
        let e = score(
            &m,
            &[
                vec![Some(1.0), Some(1.0)],
                vec![Some(1.0), Some(1.0)],
                vec![None, Some(1.0)],
            ],
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::Missing {
                column: "x0".into(),
                row: 2,
                node: "m".into()
            }
        );
        let e = score(&m, &[vec![Some(1.0), Some(f64::NEG_INFINITY)]]).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { ref column, row: 0, .. } if column == "x1"),
            "{e}"
        );
    }

    #[test]
    fn center_width_mismatch_is_refused_at_load() {
        let mut t = TensorWriter::new();
        t.f64("c", &[2, 3], &[0.0; 6]);
        let attrs: BTreeMap<String, Attr> = [("centers".to_string(), tref("c"))].into();
        let e = model(
            2,
            node("sklearn.kmeans", 2, &[("label", "label")], attrs),
            vec![Field::scalar("label", DType::I64, false)],
            Some(t.finish().unwrap()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("3 columns, expected 2")),
            "{e}"
        );
    }
}
