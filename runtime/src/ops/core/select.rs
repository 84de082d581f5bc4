//! `select`: picks feature positions of a stacked numeric input (how a `ColumnTransformer`
//! that follows another step takes its columns out of that step's feature block).
//!
//! Ports: `X` (any numeric columns, stacked) -> `Y` (one vector). Attribute: `indices` (i64s,
//! or an integer tensor): the positions, in output order, within the stacked features of `X`.
//! Positions may repeat (scikit-learn allows a column in several transformers). Values are
//! copied as they are, NaN included: selecting is not validating.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Feature, Matrix, Value, features};

#[derive(Debug)]
struct Select {
    indices: Vec<usize>,
    width: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let raw = ctx.i64s("indices")?;
    let mut indices = Vec::with_capacity(raw.len());
    let mut out_names = Vec::with_capacity(raw.len());
    for &i in &raw {
        let name = usize::try_from(i)
            .ok()
            .and_then(|u| names.get(u).map(|n| (u, n)));
        let Some((u, n)) = name else {
            return Err(ctx.err(format!(
                "`indices` holds {i}, outside the {} stacked features of `X`",
                names.len()
            )));
        };
        indices.push(u);
        out_names.push(n.clone());
    }
    if indices.is_empty() {
        return Err(ctx.err("`indices` is empty"));
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", out_names)?],
        kernel: Box::new(Select {
            indices,
            width: names.len(),
        }),
    })
}

impl Kernel for Select {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let k = self.indices.len();
        let mut out = Matrix::zeros(rows, k);
        // The common case inside a pipeline: one feature block. Copy row by row.
        if let [Value::Matrix(m)] = inputs
            && m.cols == self.width
        {
            for (src, dst) in m
                .data
                .chunks_exact(m.cols.max(1))
                .zip(out.data.chunks_exact_mut(k))
            {
                for (d, &j) in dst.iter_mut().zip(&self.indices) {
                    *d = src.get(j).copied().unwrap_or(f64::NAN);
                }
            }
            return Ok(vec![Value::Matrix(out)]);
        }
        let fs: Vec<Feature<'_>> = features(inputs);
        for (c, &j) in self.indices.iter().enumerate() {
            let Some(f) = fs.get(j) else {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "select".into(),
                    message: format!("input has {} features, index {j} is out of range", fs.len()),
                });
            };
            for r in 0..rows {
                out.data[r * k + c] = f.num(r).unwrap_or(f64::NAN);
            }
        }
        Ok(vec![Value::Matrix(out)])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{f64s, plan, rows, run, strs, vec_field};
    use keel_bundle::Attr;

    #[test]
    fn picks_and_repeats_positions() {
        let out = run(
            "select",
            vec![("indices", Attr::I64s(vec![2, 0, 2]))],
            &[
                ("a", f64s(&[1.0, 4.0])),
                ("b", f64s(&[2.0, 5.0])),
                ("c", f64s(&[3.0, f64::NAN])),
            ],
            &[("Y", vec![vec_field("y", 3)])],
        )
        .unwrap();
        let r = rows(&out, "y");
        assert_eq!(r[0], vec![3.0, 1.0, 3.0]);
        assert!(r[1][0].is_nan() && r[1][1] == 4.0);
    }

    #[test]
    fn refuses_out_of_range_and_strings() {
        let e = plan(
            "select",
            vec![("indices", Attr::I64s(vec![5]))],
            &[("a", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let e = plan(
            "select",
            vec![("indices", Attr::I64s(vec![0]))],
            &[("s", strs(&[Some("x")]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs numbers"), "{e}");
    }
}
