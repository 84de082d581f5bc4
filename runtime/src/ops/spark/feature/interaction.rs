//! `spark.interaction`: Spark ML's `Interaction.transform`: the products of one value from
//! each input column, over all combinations, with nominal scalar columns one-hot encoded on the
//! fly.
//!
//! Ports: `X` (numeric scalar columns and vector columns, in Spark's `inputCols` order) -> `Y`
//! (one vector of width `prod(width of each column)`). Attributes, one entry per input column:
//! - `cardinalities` (i64s): `1` for a numeric column (the value itself), `k >= 2` for a
//!   nominal scalar column with `k` values (its ML attribute: a `StringIndexer` output), which
//!   contributes `1.0` at position `value` of a block of `k`. Vector columns take `1`: Spark
//!   encodes a nominal element of a vector only when it is stored, so a category `0` would
//!   depend on the vector's storage, and the exporter refuses such vectors.
//! - `storage` (strs): `scalar` for a scalar column; `sparse` for a vector Spark always stores
//!   sparse with only its non-zero values (a `OneHotEncoder` output), whose zeros take part in
//!   no product; `any` for a vector Spark may store either way (its zeros do take part when
//!   stored densely).
//!
//! Spark's `FeatureEncoder` / `interactFunc`, to the letter:
//! - output position: the first column is the most significant digit (`i0 * (w1 * w2 ...) +
//!   i1 * (w2 ...) + ...`);
//! - value: built from the last column to the first, `((1.0 * a_last) * ... ) * a_first`;
//! - a scalar takes part even when it is `0` or `NaN`; a `NULL` scalar is an error (`Values to
//!   interact cannot be null`); a nominal value that is not an integer in `[0, k)` is an error;
//! - Spark iterates a vector's *stored* values: zeros of a sparse vector take no part, zeros of
//!   a dense one do. The two agree unless a zero meets a non-finite factor (`0 * NaN`), so for
//!   `any` vectors such a row is refused ([`Error::BadValue`]) rather than guessed.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::scalar_at;
use crate::value::{ColType, Value};
use keel_bundle::DType;

/// Largest output width accepted (Spark's sizes are `Int`; a product this large is a mistake).
const MAX_WIDTH: usize = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A numeric scalar: the value itself at position 0.
    Numeric,
    /// A nominal scalar with this many values: `1.0` at the value's position.
    Nominal(usize),
    /// A vector stored sparse (zeros skipped).
    Sparse,
    /// A vector stored either way (zeros kept; a zero meeting a non-finite value is refused).
    Any,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    width: usize,
}

#[derive(Debug)]
struct Interaction {
    columns: Vec<Column>,
    width: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    ctx.numeric_input("X")?;
    let inputs = ctx.input("X")?;
    if inputs.is_empty() {
        return Err(ctx.err("port `X` binds no columns"));
    }
    let cards = ctx.i64s("cardinalities")?;
    let storage = ctx.strs("storage")?;
    if cards.len() != inputs.len() || storage.len() != inputs.len() {
        return Err(ctx.err(format!(
            "`cardinalities` ({}) and `storage` ({}) need one entry per input column ({})",
            cards.len(),
            storage.len(),
            inputs.len()
        )));
    }
    let mut columns = Vec::with_capacity(inputs.len());
    let mut blocks: Vec<Vec<String>> = Vec::with_capacity(inputs.len());
    for (((col, info), &card), st) in inputs.iter().zip(&cards).zip(storage) {
        let (kind, names) = match (&info.ty, st.as_str(), card) {
            (ColType::Scalar(d), "scalar", 1) if *d != DType::Utf8 => {
                (Kind::Numeric, vec![col.clone()])
            }
            (ColType::Scalar(d), "scalar", k) if *d != DType::Utf8 && k >= 2 => {
                let k = usize::try_from(k)
                    .ok()
                    .filter(|&k| k <= MAX_WIDTH)
                    .ok_or_else(|| ctx.err(format!("column `{col}`: cardinality {k} too large")))?;
                (
                    Kind::Nominal(k),
                    (0..k).map(|v| format!("{col}_{v}")).collect(),
                )
            }
            (ColType::Vector(_), "sparse", 1) => (Kind::Sparse, info.names.clone()),
            (ColType::Vector(_), "any", 1) => (Kind::Any, info.names.clone()),
            (ty, st, card) => {
                return Err(ctx.err(format!(
                    "column `{col}` ({ty:?}) cannot have storage `{st}` and cardinality {card}"
                )));
            }
        };
        if names.is_empty() {
            return Err(ctx.err(format!("column `{col}` has no features")));
        }
        columns.push(Column {
            name: col.clone(),
            kind,
            width: names.len(),
        });
        blocks.push(names);
    }
    let width = columns
        .iter()
        .try_fold(1usize, |acc, c| {
            acc.checked_mul(c.width).filter(|&w| w <= MAX_WIDTH)
        })
        .ok_or_else(|| ctx.err(format!("the output would exceed {MAX_WIDTH} features")))?;
    // Output names: Spark's `a:b` form, first column most significant.
    let mut names = vec![String::new()];
    for (k, block) in blocks.iter().enumerate() {
        let mut next = Vec::with_capacity(names.len() * block.len());
        for head in &names {
            for n in block {
                next.push(if k == 0 {
                    n.clone()
                } else {
                    format!("{head}:{n}")
                });
            }
        }
        names = next;
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names)?],
        kernel: Box::new(Interaction { columns, width }),
    })
}

impl Interaction {
    /// The (position, value) pairs column `c` contributes at `row`, appended to `out`.
    fn encode(
        &self,
        c: &Column,
        v: &Value,
        row: usize,
        out: &mut Vec<(usize, f64)>,
    ) -> Result<(), Error> {
        out.clear();
        match (v, c.kind) {
            (Value::Array(a), Kind::Numeric) => match scalar_at(a.as_ref(), row) {
                Some(x) => out.push((0, x)),
                None => return Err(self.null(c, row)),
            },
            (Value::Array(a), Kind::Nominal(k)) => match scalar_at(a.as_ref(), row) {
                // Spark: `d >= 0.0 && d == d.toInt && d < numOutputCols`.
                Some(x) if x >= 0.0 && x == x.trunc() && x < k as f64 => {
                    out.push((x as usize, 1.0));
                }
                Some(x) => {
                    return Err(Error::BadValue {
                        column: c.name.clone(),
                        row,
                        message: format!(
                            "value {x:?} is not a category index in [0, {k}) (Interaction)"
                        ),
                    });
                }
                None => return Err(self.null(c, row)),
            },
            (Value::Matrix(m), Kind::Sparse | Kind::Any) if m.cols == c.width => {
                let vals = m.row(row);
                let skip_zeros = c.kind == Kind::Sparse;
                out.extend(
                    vals.iter()
                        .copied()
                        .enumerate()
                        .filter(|&(_, x)| !(skip_zeros && x == 0.0)),
                );
            }
            _ => {
                return Err(Error::Plan {
                    node: String::new(),
                    op: "spark.interaction".into(),
                    message: format!("column `{}` does not have its planned type", c.name),
                });
            }
        }
        Ok(())
    }

    fn null(&self, c: &Column, row: usize) -> Error {
        Error::Missing {
            column: c.name.clone(),
            row,
            node: String::new(),
        }
    }
}

impl Kernel for Interaction {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        if inputs.len() != self.columns.len() {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.interaction".into(),
                message: format!(
                    "{} input values for {} columns",
                    inputs.len(),
                    self.columns.len()
                ),
            });
        }
        let mut data = vec![0.0; rows * self.width];
        let mut entries: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.columns.len()];
        let mut cur: Vec<(usize, f64)> = Vec::new();
        let mut next: Vec<(usize, f64)> = Vec::new();
        for row in 0..rows {
            for ((c, v), e) in self.columns.iter().zip(inputs).zip(entries.iter_mut()) {
                self.encode(c, v, row, e)?;
            }
            self.check_storage(&entries, row)?;
            cur.clear();
            cur.push((0, 1.0));
            let mut size = 1usize;
            for (c, e) in self.columns.iter().zip(&entries).rev() {
                next.clear();
                for &(i, a) in e {
                    for &(idx, val) in &cur {
                        next.push((idx + i * size, val * a));
                    }
                }
                size *= c.width;
                std::mem::swap(&mut cur, &mut next);
            }
            let out = &mut data[row * self.width..(row + 1) * self.width];
            for &(idx, val) in &cur {
                if let Some(slot) = out.get_mut(idx) {
                    *slot = val;
                }
            }
        }
        Ok(vec![Value::Matrix(crate::value::Matrix::from_vec(
            rows, self.width, data,
        ))])
    }
}

impl Interaction {
    /// Refuses a row where a zero of an `any` vector would be multiplied by a non-finite value
    /// of another column: Spark gives `NaN` if it stored the vector densely and `0` if sparse.
    fn check_storage(&self, entries: &[Vec<(usize, f64)>], row: usize) -> Result<(), Error> {
        for (k, (c, e)) in self.columns.iter().zip(entries).enumerate() {
            if c.kind != Kind::Any || !e.iter().any(|&(_, x)| x == 0.0) {
                continue;
            }
            let other = entries
                .iter()
                .enumerate()
                .find(|&(j, o)| j != k && o.iter().any(|&(_, x)| !x.is_finite()));
            if let Some((j, _)) = other {
                return Err(Error::BadValue {
                    column: self.columns[j].name.clone(),
                    row,
                    message: format!(
                        "a non-finite value meets a zero of vector `{}`; Spark's Interaction \
                         gives NaN or 0 there depending on how it stored that vector",
                        c.name
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Model, Options};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float64Array, RecordBatch};
    use arrow_schema::{DataType, Field as ArrowField};
    use keel_bundle::{Attr, Bundle, DType, Field, Manifest, Node};
    use std::sync::Arc;

    /// A vector input column from rows.
    fn vectors(rows: &[&[f64]]) -> ArrayRef {
        let w = rows.first().map_or(0, |r| r.len());
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Arc::new(FixedSizeListArray::new(
            Arc::new(ArrowField::new("item", DataType::Float64, false)),
            i32::try_from(w).unwrap(),
            Arc::new(Float64Array::from(flat)),
            None,
        ))
    }

    /// Plans one `spark.interaction` node over scalar (f64) and vector inputs and scores them.
    fn interact(
        cards: Vec<i64>,
        storage: &[&str],
        inputs: &[(&str, ArrayRef)],
    ) -> Result<Vec<Vec<f64>>, Error> {
        let fields: Vec<Field> = inputs
            .iter()
            .map(|(n, a)| match a.data_type() {
                DataType::FixedSizeList(_, w) => Field::vector(*n, DType::F64, *w as u64),
                _ => Field::scalar(*n, DType::F64, true),
            })
            .collect();
        let width: i64 = inputs
            .iter()
            .zip(&cards)
            .map(|((_, a), &c)| match a.data_type() {
                DataType::FixedSizeList(_, w) => i64::from(*w),
                _ => c,
            })
            .product();
        let child = Node::new("stage", "spark.interaction")
            .with_input("X", inputs.iter().map(|(n, _)| *n))
            .with_output("Y", ["y"])
            .with_attr("cardinalities", Attr::I64s(cards))
            .with_attr(
                "storage",
                Attr::Strs(storage.iter().map(|s| s.to_string()).collect()),
            );
        let root = Node::pipeline("root", vec![child]);
        let manifest = Manifest::new(
            "test",
            "root",
            fields,
            vec![Field::vector("y", DType::F64, width as u64)],
        );
        let model = Model::from_bundle(
            &Bundle::new(manifest, root, Vec::new())?,
            &Options::default(),
        )?;
        let batch = RecordBatch::try_new(
            model.input_schema(),
            inputs.iter().map(|(_, a)| a.clone()).collect(),
        )
        .map_err(|e| Error::Interface(e.to_string()))?;
        let out = model.score(&batch)?;
        let l = out.column(0).as_fixed_size_list();
        Ok((0..l.len())
            .map(|i| l.value(i).as_primitive::<Float64Type>().values().to_vec())
            .collect())
    }

    fn f(v: &[Option<f64>]) -> ArrayRef {
        Arc::new(Float64Array::from(v.to_vec()))
    }

    #[test]
    fn first_column_is_most_significant_and_nominal_is_one_hot() {
        // x (numeric) * c (nominal, 3 values) * v (vector of 2).
        let r = interact(
            vec![1, 3, 1],
            &["scalar", "scalar", "any"],
            &[
                ("x", f(&[Some(2.0)])),
                ("c", f(&[Some(1.0)])),
                ("v", vectors(&[&[5.0, 7.0]])),
            ],
        )
        .unwrap();
        assert_eq!(r[0], vec![0.0, 0.0, 10.0, 14.0, 0.0, 0.0]);
    }

    #[test]
    fn nulls_and_bad_indices_are_errors() {
        let e = interact(vec![1], &["scalar"], &[("x", f(&[Some(1.0), None]))]).unwrap_err();
        assert!(matches!(&e, Error::Missing { row: 1, .. }), "{e}");
        for bad in [3.0, 1.5, -1.0, f64::NAN] {
            let e = interact(vec![3], &["scalar"], &[("c", f(&[Some(bad)]))]).unwrap_err();
            assert!(matches!(&e, Error::BadValue { row: 0, .. }), "{e}");
        }
    }

    #[test]
    fn sparse_zeros_take_no_part_and_ambiguous_rows_are_refused() {
        // A NaN scalar times a one-hot (sparse) vector: NaN only where the 1 is.
        let r = interact(
            vec![1, 1],
            &["scalar", "sparse"],
            &[("x", f(&[Some(f64::NAN)])), ("v", vectors(&[&[0.0, 1.0]]))],
        )
        .unwrap();
        assert_eq!(r[0][0], 0.0);
        assert!(r[0][1].is_nan());
        // The same with a vector of unknown storage: Spark's answer depends on it.
        let e = interact(
            vec![1, 1],
            &["scalar", "any"],
            &[("x", f(&[Some(f64::NAN)])), ("v", vectors(&[&[0.0, 1.0]]))],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, .. } if column == "x"),
            "{e}"
        );
        // A scalar zero always takes part.
        let r = interact(
            vec![1, 1],
            &["scalar", "sparse"],
            &[
                ("x", f(&[Some(0.0)])),
                ("v", vectors(&[&[f64::INFINITY, 0.0]])),
            ],
        )
        .unwrap();
        assert!(r[0][0].is_nan());
        assert_eq!(r[0][1], 0.0);
    }
}
