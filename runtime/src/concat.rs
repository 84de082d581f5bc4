//! Joining the outputs of a batch scored in chunks (or slices on several threads) back into
//! one batch, column by column.
//!
//! arrow-select's `concat_batches` does the same, but its dispatcher also merges dictionaries
//! (interleaving and comparing values), which the runtime's outputs never are; in the browser
//! build that code was a fifth of the module. `MutableArrayData` copies the buffers of any type
//! without it.

use arrow_array::{ArrayRef, RecordBatch, make_array};
use arrow_data::transform::MutableArrayData;
use arrow_schema::{ArrowError, SchemaRef};

/// The rows of `parts`, in order, as one batch of `schema`.
pub(crate) fn concat_batches(
    schema: &SchemaRef,
    parts: &[RecordBatch],
) -> Result<RecordBatch, ArrowError> {
    let rows: usize = parts.iter().map(RecordBatch::num_rows).sum();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let datas: Vec<arrow_data::ArrayData> = parts
            .iter()
            .map(|p| {
                p.columns().get(c).map(|a| a.to_data()).ok_or_else(|| {
                    ArrowError::InvalidArgumentError(format!("a part lacks column {c}"))
                })
            })
            .collect::<Result<_, _>>()?;
        let refs: Vec<&arrow_data::ArrayData> = datas.iter().collect();
        let mut joined = MutableArrayData::new(refs, false, rows);
        for (i, d) in datas.iter().enumerate() {
            joined.try_extend(i, 0, d.len())?;
        }
        columns.push(make_array(joined.freeze()));
    }
    RecordBatch::try_new(schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow_array::{Float64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn parts_join_in_order_with_their_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let part = |x: Vec<Option<f64>>, s: Vec<Option<&str>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Float64Array::from(x)) as ArrayRef,
                    Arc::new(StringArray::from(s)) as ArrayRef,
                ],
            )
            .unwrap()
        };
        let a = part(vec![Some(1.0), None], vec![Some("a"), Some("b")]);
        let b = part(vec![Some(3.0)], vec![None]);
        let joined = concat_batches(&schema, &[a.slice(1, 1), b]).unwrap();
        let x = joined
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let s = joined
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(x.iter().collect::<Vec<_>>(), vec![None, Some(3.0)]);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Some("b"), None]);
    }
}
