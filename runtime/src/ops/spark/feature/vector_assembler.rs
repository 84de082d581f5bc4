//! `spark.vector_assembler`: Spark ML's `VectorAssembler.transform`.
//!
//! Ports: `X` (any numeric columns: scalars, read as Spark casts them to double, and vectors,
//! stacked in order) -> `Y` (one vector). Attribute: `handle_invalid` (`error` or `keep`;
//! Spark's `skip` drops rows, which a scorer that returns one answer per row cannot do, so the
//! exporter refuses it).
//!
//! Spark's `assemble`: a scalar that is `NULL` or `NaN` raises an error under `error` (naming
//! the column and row here, as [`Error::Missing`]); under `keep` a `NULL` scalar becomes `NaN`
//! and a `NaN` stays. Values inside vector columns are copied as they are, `NaN` included, in
//! both modes: Spark only inspects scalar doubles.
//!
//! When an input is a sparse block (hashed or counted terms) the output is a sparse block too
//! (Spark's assembled vector is sparse whenever that is smaller): the row's non-zero scalars
//! and the vectors' non-zero elements, at their offsets. Zeros are not stored, which changes no
//! value downstream.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::scalar_at;
use crate::value::{ColType, SparseMatrix, Value, gather};

#[derive(Debug)]
struct VectorAssembler {
    keep: bool,
    /// Whether an input is sparse (then the output is a sparse block of this width).
    sparse: Option<usize>,
    /// Per input column: its name and whether it is a scalar (checked in `error` mode).
    columns: Vec<(String, bool)>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = ctx.input("X")?;
    let sparse = inputs
        .iter()
        .any(|(_, i)| matches!(i.ty, ColType::Sparse(_)));
    // A sparse block's names are not materialised (it may be 2^18 wide).
    let names = if sparse {
        for (col, info) in inputs {
            if !info.ty.is_numeric() {
                return Err(ctx.err(format!(
                    "port `X` needs numbers, but column `{col}` is {:?}",
                    info.ty
                )));
            }
        }
        Vec::new()
    } else {
        ctx.numeric_input("X")?
    };
    let width: usize = inputs.iter().map(|(_, i)| i.ty.width()).sum();
    if width == 0 {
        return Err(ctx.err("port `X` binds no features"));
    }
    let keep = match ctx.str("handle_invalid")? {
        "error" => false,
        "keep" => true,
        other => {
            return Err(ctx.err(format!(
                "unknown handle_invalid `{other}` (expected `error` or `keep`)"
            )));
        }
    };
    let columns = ctx
        .input("X")?
        .iter()
        .map(|(c, info)| (c.clone(), matches!(info.ty, ColType::Scalar(_))))
        .collect();
    Ok(Built {
        outputs: vec![if sparse {
            ctx.sparse_out("Y", width)?
        } else {
            ctx.vector_out("Y", names)?
        }],
        kernel: Box::new(VectorAssembler {
            keep,
            sparse: sparse.then_some(width),
            columns,
        }),
    })
}

impl Kernel for VectorAssembler {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        if !self.keep {
            for (v, (name, scalar)) in inputs.iter().zip(&self.columns) {
                if let (Value::Array(a), true) = (v, scalar) {
                    for row in 0..rows {
                        if scalar_at(a.as_ref(), row).is_none_or(f64::is_nan) {
                            return Err(Error::Missing {
                                column: name.clone(),
                                row,
                                node: String::new(),
                            });
                        }
                    }
                }
            }
        }
        if let Some(width) = self.sparse {
            return Ok(vec![Value::Sparse(assemble_sparse(inputs, rows, width))]);
        }
        // `gather` writes a null as NaN, which is what `keep` asks for.
        Ok(vec![Value::Matrix(gather(inputs).into_owned())])
    }
}

/// The non-zero features of every input, at their offsets, row by row (a null scalar, which
/// only `keep` lets through, is NaN).
fn assemble_sparse(inputs: &[&Value], rows: usize, width: usize) -> SparseMatrix {
    let mut out = SparseMatrix::with_capacity(rows, width, rows * inputs.len());
    let mut entries: Vec<(u32, f64)> = Vec::new();
    for row in 0..rows {
        entries.clear();
        let mut off = 0usize;
        for v in inputs {
            let mut put = |j: usize, x: f64| {
                if x != 0.0 {
                    entries.push(((off + j) as u32, x));
                }
            };
            match v {
                Value::Array(a) => put(0, scalar_at(a.as_ref(), row).unwrap_or(f64::NAN)),
                Value::Matrix(m) => m.row(row).iter().enumerate().for_each(|(j, &x)| put(j, x)),
                Value::Sparse(s) => {
                    let (idx, val) = s.row(row);
                    idx.iter().zip(val).for_each(|(&j, &x)| put(j as usize, x));
                }
                // The planner gives this op tensors flattened to feature blocks.
                Value::Tensor(_) => {}
            }
            off += v.width();
        }
        out.push_row(&mut entries);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use arrow_array::{ArrayRef, Float64Array, Int64Array};
    use keel_bundle::Attr;
    use std::sync::Arc;

    fn assemble(mode: &str, a: ArrayRef, b: ArrayRef) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "spark.vector_assembler",
            vec![("handle_invalid", Attr::Str(mode.into()))],
            &[("a", a), ("b", b)],
            &[("Y", vec![vec_field("f", 2)])],
        )?;
        Ok(rows(&out, "f"))
    }

    #[test]
    fn keep_turns_null_into_nan() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN, 2.5]));
        let r = assemble("keep", a, b).unwrap();
        assert_eq!(r[0][0], 1.0);
        assert!(r[0][1].is_nan() && r[1][0].is_nan());
        assert_eq!(r[1][1], 2.5);
    }

    #[test]
    fn error_names_column_and_row() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let e = assemble("error", a, f64s(&[1.0, 2.0])).unwrap_err();
        assert!(
            matches!(&e, Error::Missing { column, row: 1, .. } if column == "a"),
            "{e}"
        );
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let e = assemble("error", a, f64s(&[1.0, f64::NAN])).unwrap_err();
        assert!(
            matches!(&e, Error::Missing { column, row: 1, .. } if column == "b"),
            "{e}"
        );
    }
}
