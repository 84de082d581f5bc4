//! `spark.bucketizer`: Spark ML's `Bucketizer.transform`, single- or multi-column.
//!
//! Ports: `X` (one numeric scalar column per input column) -> `Y` (one f64 column per input:
//! the bucket index, `NULL` where the input is `NULL`). Attributes: `splits` (a list with one
//! `f64s` per column: Spark's `splits`/`splitsArray`, strictly increasing, infinities allowed),
//! `handle_invalid` (`error` or `keep`; `skip` drops rows and is refused by the exporter).
//!
//! Spark's `binarySearchForBuckets`, to the letter:
//! - `NaN` is bucket `splits.len() - 1` under `keep` and an error under `error`;
//! - a value equal to the last split (numeric `==`) is in the last bucket;
//! - otherwise Java's `Arrays.binarySearch`, which orders doubles by `Double.compare`: `-0.0`
//!   sorts *below* `0.0`, so with splits starting at `0.0` a `-0.0` is out of bounds, and with a
//!   split at `0.0` inside the range `-0.0` falls in the bucket below it;
//! - a value below the first or above the last split is an error in *both* modes
//!   ([`Error::BadValue`] naming column, row and value), as in Spark.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{f64_column, per_column_outputs, scalar_at, scalar_inputs};
use crate::value::{ColInfo, Value};
use keel_bundle::{Attr, DType};

#[derive(Debug)]
struct Column {
    name: String,
    splits: Vec<f64>,
}

#[derive(Debug)]
struct Bucketizer {
    columns: Vec<Column>,
    keep: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = scalar_inputs(ctx, true)?;
    let splits = ctx.list("splits")?;
    if splits.len() != inputs.len() {
        return Err(ctx.err(format!(
            "`splits` has {} entries for {} input columns",
            splits.len(),
            inputs.len()
        )));
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
    let outs = per_column_outputs(ctx, inputs.len())?;
    let mut columns = Vec::with_capacity(inputs.len());
    for (i, ((name, _), s)) in inputs.into_iter().zip(splits).enumerate() {
        let s = match s {
            Attr::F64s(_) | Attr::I64s(_) | Attr::Tensor(_) => ctx.attr_f64s("splits", s)?,
            other => {
                return Err(ctx.err(format!(
                    "`splits[{i}]` should be f64s, found {}",
                    other.kind()
                )));
            }
        };
        if s.len() < 3 || s.iter().any(|v| v.is_nan()) || s.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ctx.err(format!(
                "`splits[{i}]` must hold at least 3 strictly increasing numbers"
            )));
        }
        columns.push(Column { name, splits: s });
    }
    Ok(Built {
        outputs: outs
            .iter()
            .map(|o| ColInfo::scalar(o, DType::F64))
            .collect(),
        kernel: Box::new(Bucketizer { columns, keep }),
    })
}

impl Column {
    /// The bucket of `x` (not NaN), or an error for a value out of bounds.
    fn bucket(&self, x: f64, row: usize) -> Result<f64, Error> {
        let s = &self.splits;
        let n = s.len();
        if s.last().is_some_and(|&l| x == l) {
            return Ok((n - 2) as f64);
        }
        match s.binary_search_by(|v| v.total_cmp(&x)) {
            Ok(i) => Ok(i as f64),
            Err(pos) if pos == 0 || pos == n => Err(Error::BadValue {
                column: self.name.clone(),
                row,
                message: format!(
                    "value {x:?} is out of the Bucketizer's bounds [{:?}, {:?}]",
                    s.first().copied().unwrap_or(f64::NAN),
                    s.last().copied().unwrap_or(f64::NAN)
                ),
            }),
            Err(pos) => Ok((pos - 1) as f64),
        }
    }
}

impl Kernel for Bucketizer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(self.columns.len());
        for (col, v) in self.columns.iter().zip(inputs) {
            let Value::Array(a) = v else {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "spark.bucketizer".into(),
                    message: format!("column `{}` is not a scalar column", col.name),
                });
            };
            let mut vals = Vec::with_capacity(rows);
            for row in 0..rows {
                vals.push(match scalar_at(a.as_ref(), row) {
                    None => None,
                    Some(x) if x.is_nan() && self.keep => Some((col.splits.len() - 1) as f64),
                    Some(x) if x.is_nan() => {
                        return Err(Error::Missing {
                            column: col.name.clone(),
                            row,
                            node: String::new(),
                        });
                    }
                    Some(x) => Some(col.bucket(x, row)?),
                });
            }
            out.push(Value::Array(f64_column(vals)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, run};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{Array, ArrayRef, Float64Array};
    use keel_bundle::{Attr, DType, Field};
    use std::sync::Arc;

    fn bucketize(splits: Vec<f64>, mode: &str, x: ArrayRef) -> Result<Vec<Option<f64>>, Error> {
        let out = run(
            "spark.bucketizer",
            vec![
                ("splits", Attr::List(vec![Attr::F64s(splits)])),
                ("handle_invalid", Attr::Str(mode.into())),
            ],
            &[("x", x)],
            &[("Y", vec![Field::scalar("b", DType::F64, true)])],
        )?;
        let c = out.column(0).as_primitive::<Float64Type>();
        Ok((0..c.len())
            .map(|i| (!c.is_null(i)).then(|| c.value(i)))
            .collect())
    }

    #[test]
    fn edges_signed_zero_null_and_nan() {
        let inf = f64::INFINITY;
        let x: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(-0.0),
            Some(0.0),
            Some(2.0),
            Some(inf),
            None,
            Some(f64::NAN),
        ]));
        let r = bucketize(vec![-inf, 0.0, 2.0, inf], "keep", x).unwrap();
        assert_eq!(
            r,
            vec![Some(0.0), Some(1.0), Some(2.0), Some(2.0), None, Some(3.0)]
        );
    }

    #[test]
    fn out_of_bounds_is_an_error_even_with_keep() {
        let e = bucketize(vec![0.0, 2.0, 4.0], "keep", f64s(&[1.0, -0.0])).unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, row: 1, .. } if column == "x"),
            "{e}"
        );
        assert_eq!(
            bucketize(vec![0.0, 2.0, 4.0], "error", f64s(&[4.0, 0.0])).unwrap(),
            vec![Some(1.0), Some(0.0)]
        );
        let e = bucketize(vec![0.0, 2.0, 4.0], "error", f64s(&[f64::NAN])).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
    }
}
