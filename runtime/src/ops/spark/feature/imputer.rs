//! `spark.imputer`: Spark ML's `ImputerModel.transform` (every strategy: mean, median and mode
//! only decide the fitted surrogates).
//!
//! Ports: `X` (one numeric scalar column per imputed column: f64, or integers) -> `Y` (one
//! scalar column per input column, of the input's type, as Spark casts the result back to the
//! input type). Attributes: `surrogates` (f64s, one per column), `missing_value` (f64, Spark's
//! `missingValue`, `NaN` by default).
//!
//! Spark's expression per column: `when(x IS NULL, s).when(x == missingValue, s).otherwise(x)`
//! then `cast(input type)`. SQL's `NaN = NaN` is true, so with the default marker both `NULL`
//! and `NaN` are replaced. On an integer column the surrogate (a mean, say 2.33) is cast to the
//! integer type, which truncates toward zero (2).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{f64s_of_len, per_column_outputs, scalar_at, scalar_inputs};
use crate::value::{ColInfo, Value};
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array};
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct Column {
    name: String,
    dtype: DType,
    surrogate: f64,
}

#[derive(Debug)]
struct Imputer {
    columns: Vec<Column>,
    missing: f64,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = scalar_inputs(ctx, true)?;
    let surrogates = f64s_of_len(ctx, "surrogates", inputs.len())?;
    let missing = ctx.f64("missing_value")?;
    let outs = per_column_outputs(ctx, inputs.len())?;
    let mut columns = Vec::with_capacity(inputs.len());
    for ((name, dtype), s) in inputs.into_iter().zip(surrogates) {
        match dtype {
            DType::F64 => {}
            DType::I64 | DType::I32 => {
                // The cast back to an integer type: the surrogate must fit it.
                let t = s.trunc();
                let fits = match dtype {
                    DType::I32 => t >= f64::from(i32::MIN) && t <= f64::from(i32::MAX),
                    // 2^63: i64's range is [-2^63, 2^63).
                    _ => (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&t),
                };
                if !fits {
                    return Err(ctx.err(format!(
                        "column `{name}`: surrogate {s} does not fit the column's integer type"
                    )));
                }
            }
            other => {
                return Err(ctx.err(format!(
                    "column `{name}` is {other}; the op imputes f64 and integer columns"
                )));
            }
        }
        columns.push(Column {
            name,
            dtype,
            surrogate: s,
        });
    }
    Ok(Built {
        outputs: outs
            .iter()
            .zip(&columns)
            .map(|(o, c)| ColInfo::scalar(o, c.dtype))
            .collect(),
        kernel: Box::new(Imputer { columns, missing }),
    })
}

impl Imputer {
    /// The imputed value of `x` (`None` = null), before the cast to the column's type.
    #[inline]
    fn impute(&self, x: Option<f64>, surrogate: f64) -> f64 {
        match x {
            None => surrogate,
            // SQL equality: NaN equals NaN.
            Some(v) if v == self.missing || (v.is_nan() && self.missing.is_nan()) => surrogate,
            Some(v) => v,
        }
    }
}

impl Kernel for Imputer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(self.columns.len());
        for (col, v) in self.columns.iter().zip(inputs) {
            let Value::Array(a) = v else {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "spark.imputer".into(),
                    message: format!("column `{}` is not a scalar column", col.name),
                });
            };
            let vals = (0..rows).map(|r| self.impute(scalar_at(a.as_ref(), r), col.surrogate));
            // Integers read as f64 are exact below 2^53, and every value is either an input
            // integer or the surrogate checked at load, so the casts below are exact or the
            // truncation Spark's cast performs.
            let arr: ArrayRef = match col.dtype {
                DType::I64 => Arc::new(vals.map(|x| x.trunc() as i64).collect::<Int64Array>()),
                DType::I32 => Arc::new(vals.map(|x| x.trunc() as i32).collect::<Int32Array>()),
                _ => Arc::new(vals.collect::<Float64Array>()),
            };
            out.push(Value::Array(arr));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::run;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{ArrayRef, Float64Array, Int64Array};
    use keel_bundle::{Attr, DType, Field};
    use std::sync::Arc;

    #[test]
    fn null_and_nan_take_the_surrogate_and_integers_truncate_it() {
        let d: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None, Some(f64::NAN)]));
        let i: ArrayRef = Arc::new(Int64Array::from(vec![Some(4), None, Some(-2)]));
        let out = run(
            "spark.imputer",
            vec![
                ("surrogates", Attr::F64s(vec![3.5, 2.75])),
                ("missing_value", Attr::F64(f64::NAN)),
            ],
            &[("d", d), ("i", i)],
            &[(
                "Y",
                vec![
                    Field::scalar("d_out", DType::F64, false),
                    Field::scalar("i_out", DType::I64, false),
                ],
            )],
        )
        .unwrap();
        assert_eq!(
            out.column(0)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec(),
            vec![1.0, 3.5, 3.5]
        );
        assert_eq!(
            out.column(1).as_primitive::<Int64Type>().values().to_vec(),
            vec![4, 2, -2]
        );
    }

    #[test]
    fn a_numeric_marker_leaves_nan_alone() {
        let d: ArrayRef = Arc::new(Float64Array::from(vec![Some(-1.0), None, Some(f64::NAN)]));
        let out = run(
            "spark.imputer",
            vec![
                ("surrogates", Attr::F64s(vec![0.5])),
                ("missing_value", Attr::F64(-1.0)),
            ],
            &[("d", d)],
            &[("Y", vec![Field::scalar("o", DType::F64, false)])],
        )
        .unwrap();
        let v = out
            .column(0)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec();
        assert_eq!(&v[..2], &[0.5, 0.5]);
        assert!(v[2].is_nan());
    }
}
