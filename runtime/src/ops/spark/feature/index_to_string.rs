//! `spark.index_to_string`: Spark ML's `IndexToString.transform` (indices back to labels).
//!
//! Ports: `X` (one numeric scalar column per input) -> `Y` (one utf8 column per input).
//! Attribute: `labels` (a list with one `strs` per column: the `labels` parameter, or the
//! input column's nominal values).
//!
//! Spark truncates the index to an `Int` (`index.toInt`: toward zero, `NaN` to 0, saturating)
//! and looks it up; an index outside the labels is an error ([`Error::BadValue`] naming the
//! column, row and index, as Spark's "Unseen index"). A `NULL` index gives a `NULL` label.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{per_column_outputs, scalar_at, scalar_inputs};
use crate::value::{ColInfo, Value};
use arrow_array::StringArray;
use keel_bundle::{Attr, DType};
use std::sync::Arc;

#[derive(Debug)]
struct IndexToString {
    columns: Vec<(String, Vec<String>)>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = scalar_inputs(ctx, true)?;
    let labels = ctx.list("labels")?;
    if labels.len() != inputs.len() {
        return Err(ctx.err(format!(
            "`labels` has {} entries for {} input columns",
            labels.len(),
            inputs.len()
        )));
    }
    let outs = per_column_outputs(ctx, inputs.len())?;
    let mut columns = Vec::with_capacity(inputs.len());
    for (i, ((name, _), l)) in inputs.into_iter().zip(labels).enumerate() {
        let Attr::Strs(v) = l else {
            return Err(ctx.err(format!("`labels[{i}]` should be strs, found {}", l.kind())));
        };
        columns.push((name, v.clone()));
    }
    Ok(Built {
        outputs: outs
            .iter()
            .map(|o| ColInfo::scalar(o, DType::Utf8))
            .collect(),
        kernel: Box::new(IndexToString { columns }),
    })
}

impl Kernel for IndexToString {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(self.columns.len());
        for ((name, labels), v) in self.columns.iter().zip(inputs) {
            let Value::Array(a) = v else {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "spark.index_to_string".into(),
                    message: format!("column `{name}` is not a scalar column"),
                });
            };
            let mut vals: Vec<Option<&str>> = Vec::with_capacity(rows);
            for row in 0..rows {
                let Some(x) = scalar_at(a.as_ref(), row) else {
                    vals.push(None);
                    continue;
                };
                // Scala's Double.toInt: truncation, NaN to 0, saturation, as Rust's `as`.
                let idx = x as i32;
                match usize::try_from(idx).ok().and_then(|i| labels.get(i)) {
                    Some(l) => vals.push(Some(l)),
                    None => {
                        return Err(Error::BadValue {
                            column: name.clone(),
                            row,
                            message: format!(
                                "unseen index {x:?} (IndexToString has {} labels)",
                                labels.len()
                            ),
                        });
                    }
                }
            }
            out.push(Value::Array(Arc::new(StringArray::from(vals))));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{run, texts};
    use arrow_array::{ArrayRef, Float64Array};
    use keel_bundle::{Attr, DType, Field};
    use std::sync::Arc;

    fn labels(x: Vec<Option<f64>>) -> Result<Vec<Option<String>>, Error> {
        let a: ArrayRef = Arc::new(Float64Array::from(x));
        let out = run(
            "spark.index_to_string",
            vec![(
                "labels",
                Attr::List(vec![Attr::Strs(vec!["a".into(), "b".into()])]),
            )],
            &[("i", a)],
            &[("Y", vec![Field::scalar("s", DType::Utf8, true)])],
        )?;
        Ok(texts(&out, "s"))
    }

    #[test]
    fn truncates_and_maps_nan_to_the_first_label() {
        let r = labels(vec![Some(1.9), Some(f64::NAN), None, Some(-0.5)]).unwrap();
        assert_eq!(
            r,
            vec![Some("b".into()), Some("a".into()), None, Some("a".into())]
        );
        let e = labels(vec![Some(2.0)]).unwrap_err();
        assert!(matches!(e, Error::BadValue { row: 0, .. }), "{e}");
    }
}
