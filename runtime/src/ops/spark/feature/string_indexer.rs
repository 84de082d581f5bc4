//! `spark.string_indexer`: Spark ML's `StringIndexerModel.transform`, single- or multi-column.
//!
//! Ports: `X` (one scalar column per indexed column: utf8, or integers, which Spark casts to
//! their decimal text before looking them up) -> `Y` (one f64 column per input column: the
//! label's index). Attributes: `labels` (a list with one `strs` per column: the fitted
//! `labelsArray`, whose order already encodes `stringOrderType`), `handle_invalid` (`error` or
//! `keep`; Spark's `skip` drops rows and is refused by the exporter).
//!
//! A value's index is its position in the column's labels. A `NULL` or a value that is not a
//! label gets index `labels.len()` under `keep`; under `error` a `NULL` is
//! [`Error::Missing`] and an unseen value [`Error::UnknownCategory`], naming the column, row
//! and value, as Spark's "Unseen label" error.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::categories::{Categories, Lookup};
use crate::ops::spark::common::{f64_column, per_column_outputs, scalar_inputs};
use crate::value::{ColInfo, ColType, Feature, Value, features};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_schema::DataType;
use keel_bundle::{Attr, DType};

#[derive(Debug)]
enum Index {
    /// Strings, through the shared category lookup.
    Str(Categories),
    /// Integers, sorted for a binary search: `(value, index)`.
    Int(Vec<(i64, usize)>),
}

#[derive(Debug)]
struct Column {
    name: String,
    index: Index,
    n_labels: usize,
}

#[derive(Debug)]
struct StringIndexer {
    columns: Vec<Column>,
    keep: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = scalar_inputs(ctx, false)?;
    let labels = ctx.list("labels")?;
    if labels.len() != inputs.len() {
        return Err(ctx.err(format!(
            "`labels` has {} entries for {} input columns",
            labels.len(),
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
    for (i, ((name, dtype), l)) in inputs.iter().zip(labels).enumerate() {
        let Attr::Strs(strs) = l else {
            return Err(ctx.err(format!("`labels[{i}]` should be strs, found {}", l.kind())));
        };
        let index = match dtype {
            DType::Utf8 => Index::Str(Categories::from_attr(
                ctx,
                i,
                name,
                &ColType::Scalar(DType::Utf8),
                l,
                -1,
                -1,
            )?),
            DType::I64 | DType::I32 => {
                let mut v = Vec::with_capacity(strs.len());
                for (k, s) in strs.iter().enumerate() {
                    // Spark casts an integer to its plain decimal text, so a label of an integer
                    // column that does not read back the same way can never match.
                    match s.parse::<i64>() {
                        Ok(x) if x.to_string() == *s => v.push((x, k)),
                        _ => {
                            return Err(ctx.err(format!(
                                "column `{name}` holds integers, but label {s:?} is not one"
                            )));
                        }
                    }
                }
                v.sort_unstable();
                if v.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(ctx.err(format!("column `{name}`: duplicate labels")));
                }
                Index::Int(v)
            }
            other => {
                return Err(ctx.err(format!(
                    "column `{name}` is {other}; the op indexes strings and integers"
                )));
            }
        };
        columns.push(Column {
            name: name.clone(),
            index,
            n_labels: strs.len(),
        });
    }
    Ok(Built {
        outputs: outs
            .iter()
            .map(|c| ColInfo::scalar(c, DType::F64))
            .collect(),
        kernel: Box::new(StringIndexer { columns, keep }),
    })
}

/// The integer at `row` of an integer column (`None` for a null).
fn int_at(a: &dyn Array, row: usize) -> Option<i64> {
    if a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(row)),
        DataType::Int32 => Some(i64::from(a.as_primitive::<Int32Type>().value(row))),
        _ => None,
    }
}

impl Column {
    /// Looks up the value at `row`: `(is_null, Some(label index))`, or `None` as the index
    /// for a null or an unseen value.
    fn lookup(
        &self,
        v: &Value,
        f: &Feature<'_>,
        row: usize,
    ) -> Result<(bool, Option<usize>), Error> {
        match &self.index {
            Index::Str(c) => {
                if f.str(row).is_none() {
                    return Ok((true, None));
                }
                Ok(match c.lookup(f, row, &self.name)? {
                    Lookup::Known(k) => (false, Some(k)),
                    Lookup::Unknown => (false, None),
                })
            }
            Index::Int(pairs) => {
                let Value::Array(a) = v else {
                    return Ok((true, None));
                };
                match int_at(a.as_ref(), row) {
                    None => Ok((true, None)),
                    Some(x) => Ok((
                        false,
                        pairs
                            .binary_search_by_key(&x, |p| p.0)
                            .ok()
                            .and_then(|p| pairs.get(p))
                            .map(|p| p.1),
                    )),
                }
            }
        }
    }

    fn describe(&self, v: &Value, f: &Feature<'_>, row: usize) -> String {
        match (&self.index, v) {
            (Index::Int(_), Value::Array(a)) => {
                int_at(a.as_ref(), row).map_or_else(String::new, |x| x.to_string())
            }
            _ => f.str(row).unwrap_or_default().to_string(),
        }
    }
}

impl Kernel for StringIndexer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let fs = features(inputs);
        let mut out = Vec::with_capacity(self.columns.len());
        for ((col, f), v) in self.columns.iter().zip(&fs).zip(inputs) {
            let mut idx = Vec::with_capacity(rows);
            for row in 0..rows {
                let (null, k) = col.lookup(v, f, row)?;
                let k = match (k, self.keep) {
                    (Some(k), _) => k,
                    (None, true) => col.n_labels,
                    (None, false) if null => {
                        return Err(Error::Missing {
                            column: col.name.clone(),
                            row,
                            node: String::new(),
                        });
                    }
                    (None, false) => {
                        return Err(Error::UnknownCategory {
                            column: col.name.clone(),
                            row,
                            value: col.describe(v, f, row),
                            node: String::new(),
                        });
                    }
                };
                idx.push(Some(k as f64));
            }
            out.push(Value::Array(f64_column(idx)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{run, strs};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{ArrayRef, Int64Array};
    use keel_bundle::{Attr, DType, Field};
    use std::sync::Arc;

    fn index(mode: &str, city: ArrayRef, n: ArrayRef) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "spark.string_indexer",
            vec![
                (
                    "labels",
                    Attr::List(vec![
                        Attr::Strs(vec!["paris".into(), "rome".into()]),
                        Attr::Strs(vec!["10".into(), "3".into()]),
                    ]),
                ),
                ("handle_invalid", Attr::Str(mode.into())),
            ],
            &[("city", city), ("n", n)],
            &[(
                "Y",
                vec![
                    Field::scalar("city_idx", DType::F64, false),
                    Field::scalar("n_idx", DType::F64, false),
                ],
            )],
        )?;
        Ok((0..2)
            .map(|c| {
                out.column(c)
                    .as_primitive::<Float64Type>()
                    .values()
                    .to_vec()
            })
            .collect())
    }

    #[test]
    fn keep_gives_unseen_and_null_the_last_index() {
        let r = index(
            "keep",
            strs(&[Some("rome"), Some("oslo"), None]),
            Arc::new(Int64Array::from(vec![Some(3), Some(10), None])),
        )
        .unwrap();
        assert_eq!(r[0], vec![1.0, 2.0, 2.0]);
        assert_eq!(r[1], vec![1.0, 0.0, 2.0]);
    }

    #[test]
    fn error_names_column_row_and_value() {
        let e = index(
            "error",
            strs(&[Some("rome"), Some("oslo")]),
            Arc::new(Int64Array::from(vec![3, 10])),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::UnknownCategory { column, row: 1, value, .. } if column == "city" && value == "oslo"),
            "{e}"
        );
        let e = index(
            "error",
            strs(&[Some("rome"), Some("paris")]),
            Arc::new(Int64Array::from(vec![Some(3), None])),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Missing { column, row: 1, .. } if column == "n"),
            "{e}"
        );
        let e = index(
            "error",
            strs(&[Some("rome"), Some("paris")]),
            Arc::new(Int64Array::from(vec![3, 4])),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::UnknownCategory { column, row: 1, value, .. } if column == "n" && value == "4"),
            "{e}"
        );
    }
}
