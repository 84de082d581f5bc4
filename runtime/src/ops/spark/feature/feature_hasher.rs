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
use crate::ops::spark::text::hashing_tf::num_features;
use crate::ops::spark::text::tokens::term_index;
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
