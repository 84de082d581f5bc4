//! `spark.feature_hasher`: Spark ML's `FeatureHasher`.
//!
//! Ports: `X` (scalar columns: numbers, booleans, strings) -> `Y` (a sparse block of
//! `num_features` columns). Attributes: `num_features` (i64), `names` (strs: the Spark column
//! names, which are hashed), `categorical` (i64s, 1 for a column hashed as `name=value`, 0
//! for a numeric column hashed by its name alone).
//!
//! Spark, per row and column in order, skipping nulls: a numeric column (not listed in
//! `categoricalCols`) adds its value, cast to double, at the index of its name; any other
//! column (string, boolean, or a number listed as categorical) adds 1.0 at the index of
//! `name=value`, with the value as Java's `toString` writes it. Indices are MurmurHash3
//! (seed 42) of the UTF-8 bytes modulo `num_features`, as `HashingTF`'s; values landing on
//! the same index are summed in column order. Categorical columns of floating-point type are
//! refused at load (Java's `Double.toString` spelling is not reproduced).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::scalar_at;
use crate::ops::spark::text::hash::term_index;
use crate::ops::spark::text::hashing_tf::num_features;
use crate::value::{ColType, SparseMatrix, Value};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_schema::DataType;
use keel_bundle::DType;

#[derive(Debug)]
enum Col {
    /// A numeric column: its value goes to this index.
    Real(u32),
    /// A categorical column hashed as `prefix` + value (`prefix` is `name=`).
    Categorical(String),
}

#[derive(Debug)]
struct FeatureHasher {
    n: i32,
    cols: Vec<Col>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let n = num_features(ctx)?;
    let inputs = ctx.input("X")?;
    let names = ctx.strs("names")?;
    let categorical = ctx.i64s("categorical")?;
    if inputs.is_empty() || names.len() != inputs.len() || categorical.len() != inputs.len() {
        return Err(ctx.err(format!(
            "port `X` binds {} columns, `names` has {} and `categorical` {}",
            inputs.len(),
            names.len(),
            categorical.len()
        )));
    }
    let mut cols = Vec::with_capacity(inputs.len());
    for (((col, info), name), &cat) in inputs.iter().zip(names).zip(&categorical) {
        let ColType::Scalar(d) = info.ty else {
            return Err(ctx.err(format!(
                "column `{col}` is {:?}; FeatureHasher reads scalar columns",
                info.ty
            )));
        };
        let numeric = matches!(d, DType::F64 | DType::F32 | DType::I64 | DType::I32);
        cols.push(match (cat, d) {
            (0, _) if numeric => Col::Real(term_index(name, n)),
            (0 | 1, DType::F64 | DType::F32) => {
                return Err(ctx.err(format!(
                    "column `{col}`: a categorical floating-point column is not supported"
                )));
            }
            (0 | 1, _) => Col::Categorical(format!("{name}=")),
            (other, _) => {
                return Err(ctx.err(format!("`categorical` holds {other}, expected 0 or 1")));
            }
        });
    }
    Ok(Built {
        outputs: vec![ctx.sparse_out("Y", n as usize)?],
        kernel: Box::new(FeatureHasher { n, cols }),
    })
}

/// Java's `toString` of a categorical value at `row`, appended to `buf`; `false` for null.
fn push_value(a: &dyn Array, row: usize, buf: &mut String) -> bool {
    if a.is_null(row) {
        return false;
    }
    match a.data_type() {
        DataType::Utf8 => buf.push_str(a.as_string::<i32>().value(row)),
        DataType::Boolean => buf.push_str(if a.as_boolean().value(row) {
            "true"
        } else {
            "false"
        }),
        DataType::Int64 => buf.push_str(&a.as_primitive::<Int64Type>().value(row).to_string()),
        DataType::Int32 => buf.push_str(&a.as_primitive::<Int32Type>().value(row).to_string()),
        // Floating-point categoricals are refused at load.
        _ => return false,
    }
    true
}

impl Kernel for FeatureHasher {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let mut arrays = Vec::with_capacity(inputs.len());
        for v in inputs {
            match v {
                Value::Array(a) => arrays.push(a.as_ref()),
                _ => {
                    return Err(Error::Plan {
                        node: String::new(),
                        op: "spark.feature_hasher".into(),
                        message: "received a feature block (planner bug)".into(),
                    });
                }
            }
        }
        let mut out = SparseMatrix::with_capacity(rows, self.n as usize, rows * self.cols.len());
        let mut entries: Vec<(u32, f64)> = Vec::new();
        let mut buf = String::new();
        for row in 0..rows {
            entries.clear();
            for (a, col) in arrays.iter().zip(&self.cols) {
                let (i, v) = match col {
                    Col::Real(i) => match scalar_at(*a, row) {
                        Some(v) => (*i, v),
                        None => continue,
                    },
                    Col::Categorical(prefix) => {
                        buf.clear();
                        buf.push_str(prefix);
                        if !push_value(*a, row, &mut buf) {
                            continue;
                        }
                        (term_index(&buf, self.n), 1.0)
                    }
                };
                match entries.iter_mut().find(|e| e.0 == i) {
                    Some(e) => e.1 += v,
                    None => entries.push((i, v)),
                }
            }
            out.push_row(&mut entries);
        }
        Ok(vec![Value::Sparse(out)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, strs, vec_field};
    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array};
    use keel_bundle::Attr;
    use std::sync::Arc;

    fn attrs(n: i64, names: &[&str], categorical: &[i64]) -> Vec<(&'static str, Attr)> {
        vec![
            ("num_features", Attr::I64(n)),
            (
                "names",
                Attr::Strs(names.iter().map(|s| s.to_string()).collect()),
            ),
            ("categorical", Attr::I64s(categorical.to_vec())),
        ]
    }

    #[test]
    fn numbers_add_their_value_categories_add_one_nulls_nothing() {
        // With one feature every index is 0, so the value is the sum of the row's
        // contributions: a real column adds its value, a string, boolean or listed integer
        // column adds 1.0, a null adds nothing.
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None]));
        let counts: ArrayRef = Arc::new(Int64Array::from(vec![3, 4]));
        let codes: ArrayRef = Arc::new(Int64Array::from(vec![3, 4]));
        let real: ArrayRef = Arc::new(Float64Array::from(vec![Some(2.5), None]));
        let out = run(
            "spark.feature_hasher",
            attrs(1, &["real", "s", "flag", "count", "code"], &[0, 0, 0, 0, 1]),
            &[
                ("real", real),
                ("s", strs(&[Some("x"), None])),
                ("flag", flags),
                ("count", counts),
                ("code", codes),
            ],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap();
        let y = rows(&out, "y");
        // Row 0: 2.5 + 1 (s) + 1 (flag) + 3 (count) + 1 (code).
        assert_eq!(y[0], [8.5]);
        // Row 1: the three nulls are skipped; 4 (count) + 1 (code).
        assert_eq!(y[1], [5.0]);
    }

    #[test]
    fn categorical_doubles_and_misfitted_names_are_refused() {
        let e = plan(
            "spark.feature_hasher",
            attrs(8, &["real"], &[1]),
            &[("real", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 8)])],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("categorical")),
            "{e}"
        );
        let e = plan(
            "spark.feature_hasher",
            attrs(8, &["a", "b"], &[0, 0]),
            &[("real", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 8)])],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
    }
}
