//! `spark.binarizer`: Spark ML's `Binarizer.transform`, single- or multi-column.
//!
//! Ports: `X` (one column per binarized column: an f64 scalar or a vector) -> `Y` (one column
//! per input: an f64 scalar for a scalar, a vector of the same width for a vector).
//! Attribute: `thresholds` (f64s, one per column; Spark's `threshold` repeated when a single
//! threshold serves every column).
//!
//! Spark's rules differ by column kind and keep its quirks:
//! - a double column becomes `when(!isnan(x) AND x > t, 1.0).otherwise(0.0)`: `NaN` and
//!   `NULL` give 0.0;
//! - a vector with `t >= 0` lights the non-zero elements above `t` (`NaN` gives 0.0);
//! - a vector with `t < 0` starts from all ones and clears the non-zero elements `<= t`, so a
//!   `NaN` element gives **1.0** there (and zeros stay 1.0).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{f64_column, f64s_of_len, per_column_outputs, scalar_at};
use crate::value::{ColInfo, ColType, Value};
use keel_bundle::DType;

#[derive(Debug)]
struct Binarizer {
    /// Per column: its name, threshold, and whether it is a vector.
    columns: Vec<(String, f64, bool)>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = ctx.input("X")?;
    if inputs.is_empty() {
        return Err(ctx.err("port `X` binds no columns"));
    }
    let thresholds = f64s_of_len(ctx, "thresholds", inputs.len())?;
    if thresholds.iter().any(|t| t.is_nan()) {
        return Err(ctx.err("`thresholds` holds NaN"));
    }
    let outs = per_column_outputs(ctx, inputs.len())?;
    let mut columns = Vec::with_capacity(inputs.len());
    let mut infos = Vec::with_capacity(inputs.len());
    for (((col, info), &t), out) in inputs.iter().zip(&thresholds).zip(outs) {
        match info.ty {
            // Spark's Binarizer takes doubles only, not integers.
            ColType::Scalar(DType::F64) => {
                infos.push(ColInfo::scalar(out, DType::F64));
                columns.push((col.clone(), t, false));
            }
            ColType::Vector(_) => {
                infos.push(ColInfo::vector(info.names.clone()));
                columns.push((col.clone(), t, true));
            }
            ref other => {
                return Err(ctx.err(format!(
                    "column `{col}` is {other:?}; Spark's Binarizer takes f64 or vector columns"
                )));
            }
        }
    }
    Ok(Built {
        outputs: infos,
        kernel: Box::new(Binarizer { columns }),
    })
}

impl Kernel for Binarizer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(self.columns.len());
        for ((_, t, _), v) in self.columns.iter().zip(inputs) {
            let t = *t;
            out.push(match v {
                Value::Array(a) => Value::Array(f64_column(
                    (0..rows)
                        .map(|r| {
                            Some(match scalar_at(a.as_ref(), r) {
                                Some(x) if !x.is_nan() && x > t => 1.0,
                                _ => 0.0,
                            })
                        })
                        .collect(),
                )),
                Value::Matrix(m) => {
                    let mut m = m.clone();
                    for x in &mut m.data {
                        *x = if t >= 0.0 {
                            if *x > t { 1.0 } else { 0.0 }
                        } else if *x != 0.0 && *x <= t {
                            0.0
                        } else {
                            1.0
                        };
                    }
                    Value::Matrix(m)
                }
                // The planner densifies sparse blocks and flattens tensors for this op.
                Value::Sparse(_) | Value::Tensor(_) => {
                    return Err(Error::Plan {
                        node: String::new(),
                        op: "spark.binarizer".into(),
                        message: "received a sparse block or a tensor (planner bug)".into(),
                    });
                }
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::Binarizer;
    use crate::op::Kernel;
    use crate::ops::testing::run;
    use crate::value::{Matrix, Value};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{ArrayRef, Float64Array};
    use keel_bundle::{Attr, DType, Field};
    use std::sync::Arc;

    #[test]
    fn scalar_nan_and_null_give_zero() {
        let x: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(2.0),
            Some(1.5),
            None,
            Some(f64::NAN),
        ]));
        let out = run(
            "spark.binarizer",
            vec![("thresholds", Attr::F64s(vec![1.5]))],
            &[("x", x)],
            &[("Y", vec![Field::scalar("b", DType::F64, false)])],
        )
        .unwrap();
        assert_eq!(
            out.column(0)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec(),
            vec![1.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn vector_thresholds_follow_spark_for_nan_and_zero() {
        let eval = |t: f64| {
            let k = Binarizer {
                columns: vec![("v".into(), t, true)],
            };
            let m = Matrix::from_vec(1, 4, vec![0.0, f64::NAN, -2.0, 3.0]);
            match k.eval(&[&Value::Matrix(m)], 1).unwrap().remove(0) {
                Value::Matrix(m) => m.data,
                _ => panic!("vector expected"),
            }
        };
        assert_eq!(eval(-1.0), vec![1.0, 1.0, 0.0, 1.0]);
        assert_eq!(eval(0.0), vec![0.0, 0.0, 0.0, 1.0]);
    }
}
