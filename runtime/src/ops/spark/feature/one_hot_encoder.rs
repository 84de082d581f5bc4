//! `spark.one_hot_encoder`: Spark ML's `OneHotEncoderModel.transform` (Spark 3+, one or more
//! columns).
//!
//! Ports: `X` (one numeric scalar column per encoded column: category indices, usually from a
//! `StringIndexer`) -> `Y` (one vector column per input column). Attributes: `sizes` (i64s, the
//! fitted `categorySizes`), `drop_last` (bool), `handle_invalid` (`error` or `keep`).
//!
//! Spark's encoder, per value `v` of a column fitted with `size` categories: a valid value is
//! `0 <= v < size`; an invalid one (`NaN` included) is the extra category `size` under `keep`
//! and an error under `error` ([`Error::BadValue`] naming column, row and value: "negative" or
//! "unseen", as Spark's two messages). The vector has `size - 1` elements with `drop_last` and
//! `error`, `size + 1` without `drop_last` and with `keep`, `size` otherwise; position
//! `v.toInt` (truncated, so `1.5` lights element 1, as Spark does) is 1.0 when it is inside
//! the vector, and nothing is lit otherwise (the dropped last category).
//!
//! A `NULL` input makes Spark write a `NULL` vector; keel's vectors have no nulls, so a `NULL`
//! is refused here as [`Error::Missing`] (a `StringIndexer` in front never writes one).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{per_column_outputs, scalar_at, scalar_inputs};
use crate::value::{ColInfo, Matrix, Value};

#[derive(Debug)]
struct Column {
    name: String,
    size: f64,
    width: usize,
}

#[derive(Debug)]
struct OneHotEncoder {
    columns: Vec<Column>,
    keep: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = scalar_inputs(ctx, true)?;
    let sizes = ctx.i64s("sizes")?;
    if sizes.len() != inputs.len() {
        return Err(ctx.err(format!(
            "`sizes` has {} values for {} input columns",
            sizes.len(),
            inputs.len()
        )));
    }
    let drop_last = ctx.bool("drop_last")?;
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
    let mut infos = Vec::with_capacity(inputs.len());
    for (((name, _), &size), out) in inputs.iter().zip(&sizes).zip(outs) {
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s > 0 && s < (1 << 24))
            .ok_or_else(|| ctx.err(format!("column `{name}`: category size {size}")))?;
        let width = match (drop_last, keep) {
            (true, false) => size - 1,
            (false, true) => size + 1,
            _ => size,
        };
        infos.push(ColInfo::vector(
            (0..width).map(|i| format!("{out}[{name}={i}]")).collect(),
        ));
        columns.push(Column {
            name: name.clone(),
            size: size as f64,
            width,
        });
    }
    Ok(Built {
        outputs: infos,
        kernel: Box::new(OneHotEncoder { columns, keep }),
    })
}

impl Kernel for OneHotEncoder {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(self.columns.len());
        for (col, v) in self.columns.iter().zip(inputs) {
            let Value::Array(a) = v else {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "spark.one_hot_encoder".into(),
                    message: format!("column `{}` is not a scalar column", col.name),
                });
            };
            let mut m = Matrix::zeros(rows, col.width);
            for row in 0..rows {
                let Some(x) = scalar_at(a.as_ref(), row) else {
                    return Err(Error::Missing {
                        column: col.name.clone(),
                        row,
                        node: String::new(),
                    });
                };
                let idx = if x >= 0.0 && x < col.size {
                    x
                } else if self.keep {
                    col.size
                } else {
                    let what = if x < 0.0 { "negative" } else { "unseen" };
                    return Err(Error::BadValue {
                        column: col.name.clone(),
                        row,
                        message: format!(
                            "{what} category index {x} (OneHotEncoder fitted on {} categories with handleInvalid='error')",
                            col.size
                        ),
                    });
                };
                // `idx.toInt` truncates; idx is in [0, size], so the cast is exact.
                let pos = idx as usize;
                if pos < col.width {
                    m.data[row * col.width + pos] = 1.0;
                }
            }
            out.push(Value::Matrix(m));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn encode(drop_last: bool, mode: &str, x: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let width = match (drop_last, mode) {
            (true, "error") => 2,
            (false, "keep") => 4,
            _ => 3,
        };
        let out = run(
            "spark.one_hot_encoder",
            vec![
                ("sizes", Attr::I64s(vec![3])),
                ("drop_last", Attr::Bool(drop_last)),
                ("handle_invalid", Attr::Str(mode.into())),
            ],
            &[("c", f64s(x))],
            &[("Y", vec![vec_field("v", width)])],
        )?;
        Ok(rows(&out, "v"))
    }

    #[test]
    fn widths_and_truncation() {
        assert_eq!(
            encode(true, "error", &[0.0, 1.5, 2.0]).unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.0, 0.0]]
        );
        assert_eq!(
            encode(false, "keep", &[2.0, 7.0, f64::NAN]).unwrap(),
            vec![
                vec![0.0, 0.0, 1.0, 0.0],
                vec![0.0, 0.0, 0.0, 1.0],
                vec![0.0, 0.0, 0.0, 1.0]
            ]
        );
        // drop_last with keep: the invalid category is the dropped one.
        assert_eq!(
            encode(true, "keep", &[-1.0, 2.0]).unwrap(),
            vec![vec![0.0, 0.0, 0.0], vec![0.0, 0.0, 1.0]]
        );
    }

    #[test]
    fn error_mode_names_the_value() {
        let e = encode(true, "error", &[0.0, 3.0]).unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, row: 1, message } if column == "c" && message.contains("unseen")),
            "{e}"
        );
        let e = encode(false, "error", &[-1.0]).unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { message, .. } if message.contains("negative")),
            "{e}"
        );
    }
}
