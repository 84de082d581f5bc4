//! MLeap's LeapFrame, the JSON frame MLeap's serving endpoints take and give (the REST
//! server's `transform`):
//!
//! ```json
//! {"schema": {"fields": [{"name": "bathrooms", "type": "double"}, ...]},
//!  "rows": [[2.0, ...], ...]}
//! ```
//!
//! As MLeap's `transform` does, the answer is the input frame (its fields and values exactly as
//! sent, including columns the model does not read) with the model's outputs appended as new
//! columns, so [`parse`] keeps the frame's fields and rows as raw slices of the body for
//! [`encode`]. Input columns are matched to the bundle's inputs by name and their values parsed
//! by the bundle's schema (the frame's declared types are not needed to read them). Vector
//! inputs take MLeap tensors, dense (`{"values": [...], "dimensions": [n]}`) or sparse (with
//! `"indices"`), or plain arrays.
//!
//! Output types are written as MLeap writes them: a nullable scalar by its name (`"double"`,
//! `"string"`, `"long"`, `"integer"`, `"float"`, `"boolean"`), a non-nullable one as
//! `{"type": "basic", "base": "double", "isNullable": false}`, and a vector as
//! `{"type": "tensor", "base": "double", "dimensions": [n]}` (with `"isNullable": false` when
//! not nullable), its values as dense tensors. An output whose name is already a column of the
//! frame is refused, as MLeap refuses to overwrite a column.

use crate::columns::{BatchBuilder, ColumnBuilder};
use crate::error::Error;
use crate::json_doc::{VectorStyle, write_cell};
use arrow_array::RecordBatch;
use keel_bundle::{DType, Field};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    schema: FrameSchema<'a>,
    #[serde(borrow)]
    rows: Vec<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct FrameSchema<'a> {
    #[serde(borrow)]
    fields: Vec<FrameField<'a>>,
}

#[derive(Debug, Deserialize)]
struct FrameField<'a> {
    name: String,
    #[serde(rename = "type", borrow)]
    ty: &'a RawValue,
}

/// An MLeap tensor value.
#[derive(Deserialize)]
struct Tensor<'a> {
    #[serde(borrow)]
    values: Vec<&'a RawValue>,
    #[serde(default)]
    indices: Option<Vec<Vec<usize>>>,
    #[serde(default)]
    dimensions: Option<Vec<usize>>,
}

/// A parsed LeapFrame, kept as sent so the answer can echo it.
#[derive(Debug)]
pub struct LeapFrame<'a> {
    fields: Vec<FrameField<'a>>,
    rows: Vec<Vec<&'a RawValue>>,
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Reads a LeapFrame: the frame as sent (for [`encode`]) and the batch of the bundle's
/// `inputs` taken from it. `outputs` are the columns the model writes, none of which may be a
/// column of the frame already.
pub fn parse<'a>(
    body: &'a [u8],
    inputs: &[Field],
    outputs: &[Field],
) -> Result<(LeapFrame<'a>, RecordBatch), Error> {
    let frame: Frame<'a> =
        serde_json::from_slice(body).map_err(|source| Error::MalformedFrame { source })?;
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, f) in frame.schema.fields.iter().enumerate() {
        if position.insert(f.name.as_str(), i).is_some() {
            return Err(Error::DuplicateFrameColumn {
                column: f.name.clone(),
            });
        }
    }
    if let Some(out) = outputs
        .iter()
        .find(|o| position.contains_key(o.name.as_str()))
    {
        return Err(Error::OutputColumnExists {
            column: out.name.clone(),
        });
    }
    let width = frame.schema.fields.len();
    for (r, row) in frame.rows.iter().enumerate() {
        if row.len() != width {
            return Err(Error::FrameRowWidth {
                row: to_u64(r),
                found: row.len(),
                expected: width,
            });
        }
    }
    let mut builder = BatchBuilder::new(inputs).map_err(Error::Input)?;
    for (field, col) in inputs.iter().zip(builder.columns.iter_mut()) {
        let k = *position
            .get(field.name.as_str())
            .ok_or_else(|| Error::MissingColumn {
                column: field.name.clone(),
                message: format!("input column `{}` is not in the frame", field.name),
            })?;
        let vector = field.shape.len() == 1 && field.dtype == DType::F64;
        for (r, row) in frame.rows.iter().enumerate() {
            let raw = row.get(k).copied();
            let result = match raw {
                Some(v) if vector && v.get().starts_with('{') => append_tensor(col, v, field),
                other => col.append_json(other),
            };
            result.map_err(|message| Error::Value {
                row: to_u64(r),
                column: field.name.clone(),
                message,
            })?;
        }
    }
    let batch = builder.finish(frame.rows.len()).map_err(Error::Input)?;
    Ok((
        LeapFrame {
            fields: frame.schema.fields,
            rows: frame.rows,
        },
        batch,
    ))
}

fn append_tensor(col: &mut ColumnBuilder, raw: &RawValue, field: &Field) -> Result<(), String> {
    let t: Tensor<'_> = serde_json::from_str(raw.get())
        .map_err(|e| format!("expected an MLeap tensor {{\"values\": [...], ...}}: {e}"))?;
    let width = field
        .shape
        .first()
        .and_then(|w| usize::try_from(*w).ok())
        .unwrap_or(0);
    if let Some(dims) = &t.dimensions
        && dims.as_slice() != [width]
    {
        return Err(format!(
            "expected a tensor of dimensions [{width}], found {dims:?}"
        ));
    }
    match t.indices {
        None => col.append_json_vector(&t.values),
        Some(indices) => {
            if indices.len() != t.values.len() {
                return Err(format!(
                    "a sparse tensor has {} indices for {} values",
                    indices.len(),
                    t.values.len()
                ));
            }
            // Sparse means zeros where no value is given, not missing values.
            let mut dense = vec![0.0; width];
            for (index, value) in indices.iter().zip(&t.values) {
                let slot = match index.as_slice() {
                    [i] => dense.get_mut(*i),
                    _ => None,
                }
                .ok_or_else(|| format!("sparse index {index:?} is out of [0, {width})"))?;
                *slot = serde_json::from_str::<f64>(value.get())
                    .map_err(|_| format!("sparse value {} is not a number", value.get()))?;
            }
            col.append_f64_vector(&dense)
        }
    }
}

fn mleap_type(f: &Field) -> String {
    let base = match f.dtype {
        DType::F64 => "double",
        DType::F32 => "float",
        DType::I64 => "long",
        DType::I32 => "integer",
        DType::Bool => "boolean",
        DType::Utf8 => "string",
        // MLeap's tensor base types for the 1.1 tensor elements (bf16 has none: it travels as
        // f32 in Arrow and as float here).
        DType::F16 | DType::Bf16 => "float",
        DType::I8 => "byte",
        DType::U8 => "short",
        // MLeap's `BasicType.ByteString`; the cells are base64 strings, as keel's JSON readers
        // take bytes.
        DType::Binary => "byte_string",
        // MLeap's list type of strings (its `ListType(BasicType.String)`).
        DType::ListUtf8 => {
            return if f.nullable {
                r#"{"type":"list","base":"string"}"#.to_string()
            } else {
                r#"{"type":"list","base":"string","isNullable":false}"#.to_string()
            };
        }
    };
    match (f.shape.as_slice(), f.nullable) {
        ([], true) => format!("\"{base}\""),
        ([], false) => format!("{{\"type\":\"basic\",\"base\":\"{base}\",\"isNullable\":false}}"),
        (dims, nullable) => format!(
            "{{\"type\":\"tensor\",\"base\":\"{base}\",{}\"dimensions\":{}}}",
            if nullable {
                ""
            } else {
                "\"isNullable\":false,"
            },
            serde_json::to_string(dims).unwrap_or_else(|_| "[]".into())
        ),
    }
}

/// The answer: the frame as sent with the scored outputs (batches of the bundle's `outputs`, in
/// the frame's row order) appended.
pub fn encode(frame: &LeapFrame<'_>, outputs: &[Field], scored: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + frame.rows.len() * 128);
    out.extend_from_slice(b"{\"schema\":{\"fields\":[");
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, name: &str, ty: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(b"{\"name\":");
        let _ = serde_json::to_writer(&mut *out, name);
        out.extend_from_slice(b",\"type\":");
        out.extend_from_slice(ty.as_bytes());
        out.push(b'}');
    };
    for f in &frame.fields {
        field(&mut out, &f.name, f.ty.get());
    }
    for f in outputs {
        field(&mut out, &f.name, &mleap_type(f));
    }
    out.extend_from_slice(b"]},\"rows\":[");
    let mut r = 0;
    for batch in scored {
        for i in 0..batch.num_rows() {
            if r > 0 {
                out.push(b',');
            }
            out.push(b'[');
            let mut c = 0;
            for v in frame.rows.get(r).map(Vec::as_slice).unwrap_or(&[]) {
                if c > 0 {
                    out.push(b',');
                }
                c += 1;
                out.extend_from_slice(v.get().as_bytes());
            }
            for col in batch.columns() {
                if c > 0 {
                    out.push(b',');
                }
                c += 1;
                write_cell(&mut out, col, i, VectorStyle::MleapTensor);
            }
            out.push(b']');
            r += 1;
        }
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_written_as_mleap_writes_them() {
        assert_eq!(
            mleap_type(&Field::scalar("p", DType::F64, true)),
            "\"double\""
        );
        assert_eq!(
            mleap_type(&Field::scalar("l", DType::Utf8, false)),
            r#"{"type":"basic","base":"string","isNullable":false}"#
        );
        let v = Field {
            nullable: false,
            ..Field::vector("p", DType::F64, 3)
        };
        assert_eq!(
            mleap_type(&v),
            r#"{"type":"tensor","base":"double","isNullable":false,"dimensions":[3]}"#
        );
    }

    fn inputs() -> Vec<Field> {
        vec![
            Field::scalar("a", DType::F64, true),
            Field::vector("v", DType::F64, 2),
        ]
    }

    fn outputs() -> Vec<Field> {
        vec![Field::scalar("p", DType::F64, true)]
    }

    fn parse_err(frame: &str) -> Error {
        parse(frame.as_bytes(), &inputs(), &outputs()).unwrap_err()
    }

    const FIELDS: &str = r#"{"fields": [{"name": "a", "type": "double"},
        {"name": "v", "type": {"type": "tensor", "base": "double"}},
        {"name": "id", "type": "long"}]}"#;

    #[test]
    fn a_frame_is_read_by_the_bundle_and_echoed_with_the_outputs() {
        let body = format!(
            r#"{{"schema": {FIELDS}, "rows": [[1.5, {{"values": [1, 2], "dimensions": [2]}}, 7],
               [null, {{"indices": [[1]], "values": [3], "dimensions": [2]}}, 8]]}}"#
        );
        let (frame, batch) = parse(body.as_bytes(), &inputs(), &outputs()).unwrap();
        assert_eq!((batch.num_rows(), batch.num_columns()), (2, 2));
        assert!(batch.column(0).is_null(1));
        let scored = RecordBatch::try_new(
            keel_runtime::arrow_schema(&outputs()),
            vec![std::sync::Arc::new(arrow_array::Float64Array::from(vec![
                0.25, 0.75,
            ]))],
        )
        .unwrap();
        let answer = String::from_utf8(encode(&frame, &outputs(), &[scored])).unwrap();
        assert!(
            answer.ends_with(
                r#"{"name":"p","type":"double"}]},"rows":[[1.5,{"values": [1, 2], "dimensions": [2]},7,0.25],[null,{"indices": [[1]], "values": [3], "dimensions": [2]},8,0.75]]}"#
            ),
            "{answer}"
        );
    }

    #[test]
    fn a_body_that_is_not_a_frame_is_malformed() {
        let e = parse_err(r#"{"schema": 1}"#);
        assert!(matches!(e, Error::MalformedFrame { .. }), "{e}");
        assert!(
            e.to_string().starts_with("the body is not a LeapFrame"),
            "{e}"
        );
    }

    #[test]
    fn a_column_named_twice_is_named() {
        let e = parse_err(
            r#"{"schema": {"fields": [{"name": "a", "type": "double"},
                {"name": "a", "type": "double"}]}, "rows": []}"#,
        );
        assert!(
            matches!(e, Error::DuplicateFrameColumn { ref column } if column == "a"),
            "{e}"
        );
    }

    #[test]
    fn a_row_of_the_wrong_width_is_named() {
        let e = parse_err(&format!(
            r#"{{"schema": {FIELDS}, "rows": [[1, [1, 2], 7], [1, [1, 2]]]}}"#
        ));
        assert_eq!(
            e.to_string(),
            "row 1 has 2 values but the schema has 3 fields"
        );
        assert!(matches!(
            e,
            Error::FrameRowWidth {
                row: 1,
                found: 2,
                expected: 3
            }
        ));
    }

    #[test]
    fn an_output_that_is_already_a_column_is_refused() {
        let e =
            parse_err(r#"{"schema": {"fields": [{"name": "p", "type": "double"}]}, "rows": []}"#);
        assert!(
            matches!(e, Error::OutputColumnExists { ref column } if column == "p"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_input_and_a_bad_value_are_named() {
        let e =
            parse_err(r#"{"schema": {"fields": [{"name": "a", "type": "double"}]}, "rows": []}"#);
        match e {
            Error::MissingColumn { column, message } => {
                assert_eq!(column, "v");
                assert_eq!(message, "input column `v` is not in the frame");
            }
            other => panic!("{other}"),
        }
        let e = parse_err(&format!(
            r#"{{"schema": {FIELDS}, "rows": [[1, [1, 2], 7],
               [2, {{"indices": [[5]], "values": [1], "dimensions": [2]}}, 8]]}}"#
        ));
        assert!(
            matches!(e, Error::Value { row: 1, ref column, .. } if column == "v"),
            "{e}"
        );
    }
}
