//! `spark.idf`: Spark ML's `IDFModel`.
//!
//! Ports: `X` (one vector column, sparse or dense) -> `Y` (the same kind and width).
//! Attribute: `idf` (f64s, one weight per feature, dense or "filled" as
//! `spark::common::filled_matrix` reads a one-row matrix; `minDocFreq` is already applied: a
//! term seen in fewer documents has weight 0).
//!
//! Spark multiplies each value by its feature's weight; a sparse vector keeps its stored
//! indices (a weight of 0 stores a 0), so a sparse block stays sparse.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::filled_matrix;
use crate::value::{Matrix, Value, gather};

#[derive(Debug)]
struct Idf {
    idf: Vec<f64>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (width, out) = match ctx.sparse_input("X")? {
        Some(w) => (w, ctx.sparse_out("Y", w)?),
        None => {
            let names = ctx.numeric_input("X")?;
            (names.len(), ctx.vector_out("Y", names)?)
        }
    };
    let (rows, idf) = filled_matrix(ctx, "idf", width)?;
    if rows != 1 || idf.len() != width {
        return Err(ctx.err(format!(
            "`idf` holds {} weights for {width} features",
            idf.len()
        )));
    }
    Ok(Built {
        outputs: vec![out],
        kernel: Box::new(Idf { idf }),
    })
}

impl Kernel for Idf {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        if let [Value::Sparse(s)] = inputs {
            let mut s = s.clone();
            for (v, &j) in s.values.iter_mut().zip(&s.indices) {
                *v *= self.idf[j as usize];
            }
            return Ok(vec![Value::Sparse(s)]);
        }
        let x = gather(inputs);
        let mut m: Matrix = x.into_owned();
        for row in m.data.chunks_exact_mut(self.idf.len().max(1)) {
            for (v, w) in row.iter_mut().zip(&self.idf) {
                *v *= w;
            }
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
        // IDFModel.transform: tf * idf, element by element; a weight of 0 (a term under
        // minDocFreq) zeroes the feature.
        let out = run(
            "spark.idf",
            vec![("idf", Attr::F64s(vec![0.5, 2.0, 0.0]))],
            &[
                ("a", f64s(&[2.0, 0.0])),
                ("b", f64s(&[3.0, 1.0])),
                ("c", f64s(&[7.0, 7.0])),
            ],
            &[("Y", vec![vec_field("y", 3)])],
        )
        .unwrap();
        assert_eq!(rows(&out, "y"), [[1.0, 6.0, 0.0], [0.0, 2.0, 0.0]]);
    }

    #[test]
    fn weights_of_another_width_are_refused() {
        let e = plan(
            "spark.idf",
            vec![("idf", Attr::F64s(vec![0.5, 2.0, 1.0]))],
            &[("a", f64s(&[1.0])), ("b", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 2)])],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }
}
