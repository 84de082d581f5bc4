//! JSON documents of whole requests and answers: what the REST server's `predict` takes and
//! gives, kept free of HTTP so a front end without the server (the browser build) reads and
//! writes the same documents.
//!
//! Requests are rows, `{"rows": [{"col": value, ...}, ...]}`, or columns,
//! `{"columns": {"col": [value, ...], ...}}`. Values are parsed by the bundle's input schema with
//! the readers `keel score` uses ([`crate::input::JsonRows`], [`crate::columns`]): an absent key
//! or `null` is a null; `"NaN"`, `"Infinity"`, `"-Infinity"` are the non-finite floats; vectors
//! and lists are arrays; errors name the row and column.
//!
//! Answers carry `"model"` and `"version"` and the scored columns in either layout. JSON has no
//! literal for NaN or the infinities, so they are written as `null`, as `keel score` writes
//! them; vectors are arrays ([`VectorStyle::Array`]) or, for MLeap's frames, dense tensors
//! ([`VectorStyle::MleapTensor`]).

use crate::error::Error;
use crate::input::{Extra, JsonRows, extra_column};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use keel_bundle::Field;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// How the rows of a JSON document are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"rows": [{...}, ...]}`.
    Rows,
    /// `{"columns": {"col": [...], ...}}`.
    Columns,
}

/// A parsed request document: one batch typed by the bundle's inputs, and the layout it came
/// in (the layout of its answer by default).
#[derive(Debug)]
pub struct Document {
    /// The rows, one column per input field in the bundle's order.
    pub batch: RecordBatch,
    /// The layout of the document.
    pub layout: Layout,
}

/// The shape of a request document. Values stay raw slices of the body, so each is parsed
/// once, from its text, straight to its column's declared type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument<'a> {
    #[serde(borrow, default)]
    rows: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    columns: Option<BTreeMap<String, Vec<&'a RawValue>>>,
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Parses a rows or columns document for a bundle with input `fields`; `extra` says whether a
/// column the bundle does not declare is refused or dropped.
pub fn parse(body: &[u8], fields: &[Field], extra: Extra) -> Result<Document, Error> {
    let doc: RawDocument<'_> =
        serde_json::from_slice(body).map_err(|source| Error::MalformedJson { source })?;
    match (doc.rows, doc.columns) {
        (Some(rows), None) => {
            let mut parser = JsonRows::with_capacity(fields, extra, rows.len())?;
            for (i, row) in rows.iter().enumerate() {
                parser.push(row.get(), to_u64(i))?;
            }
            // With no rows there is nothing to have seen: the runtime answers an empty frame.
            if !rows.is_empty() {
                parser.check_seen(rows.len())?;
            }
            Ok(Document {
                batch: parser.finish(rows.len())?,
                layout: Layout::Rows,
            })
        }
        (None, Some(columns)) => Ok(Document {
            batch: parse_columns(&columns, fields, extra)?,
            layout: Layout::Columns,
        }),
        _ => Err(Error::NotRowsOrColumns),
    }
}

fn parse_columns(
    columns: &BTreeMap<String, Vec<&RawValue>>,
    fields: &[Field],
    extra: Extra,
) -> Result<RecordBatch, Error> {
    if extra == Extra::Reject
        && let Some(name) = columns
            .keys()
            .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        return Err(extra_column(name));
    }
    let rows_hint = columns.values().map(Vec::len).max().unwrap_or(0);
    let mut builder =
        crate::columns::BatchBuilder::with_capacity(fields, rows_hint).map_err(Error::Input)?;
    let mut rows: Option<(usize, &str)> = None;
    for (field, col) in fields.iter().zip(builder.columns.iter_mut()) {
        let values = columns
            .get(&field.name)
            .ok_or_else(|| Error::MissingColumn {
                column: field.name.clone(),
                message: format!("input column `{}` is missing", field.name),
            })?;
        match rows {
            None => rows = Some((values.len(), &field.name)),
            Some((n, first)) if n != values.len() => {
                return Err(Error::ColumnLengths {
                    column: field.name.clone(),
                    found: values.len(),
                    first: first.to_string(),
                    expected: n,
                });
            }
            Some(_) => {}
        }
        for (i, raw) in values.iter().enumerate() {
            col.append_json(Some(raw)).map_err(|message| Error::Value {
                row: to_u64(i),
                column: field.name.clone(),
                message,
            })?;
        }
    }
    builder
        .finish(rows.map_or(0, |(n, _)| n))
        .map_err(Error::Input)
}

/// How vectors are written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorStyle {
    /// A plain array of numbers.
    Array,
    /// An MLeap dense tensor: `{"values": [...], "dimensions": [n]}`.
    MleapTensor,
}

// Writing JSON into a `Vec` cannot fail, so the `Result`s of `serde_json::to_writer` below
// are dropped.

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &v);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes bytes as a JSON string of their base64 (standard alphabet, padded).
fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    use base64::Engine;
    out.push(b'"');
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .as_bytes(),
    );
    out.push(b'"');
}

/// Writes the value at row `i` of `col` as JSON.
pub fn write_cell(out: &mut Vec<u8>, col: &ArrayRef, i: usize, vectors: VectorStyle) {
    write_cell_shaped(out, col, i, vectors, None);
}

/// The per-row shape of a column of Arrow's fixed-shape tensor type (from its field metadata,
/// as the runtime writes tensor outputs), or `None` for any other column.
pub fn tensor_shape(field: &arrow_schema::Field) -> Option<Vec<usize>> {
    let md = field.metadata();
    if md.get("ARROW:extension:name").map(String::as_str) != Some("arrow.fixed_shape_tensor") {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_str(md.get("ARROW:extension:metadata")?).ok()?;
    meta.get("shape")?
        .as_array()?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect()
}

/// Writes elements `start..start + prod(shape)` of `values` as nested JSON arrays of `shape`.
fn write_nested(out: &mut Vec<u8>, values: &ArrayRef, start: usize, shape: &[usize]) {
    let Some((&n, rest)) = shape.split_first() else {
        write_cell(out, values, start, VectorStyle::Array);
        return;
    };
    let inner: usize = rest.iter().product();
    out.push(b'[');
    for j in 0..n {
        if j > 0 {
            out.push(b',');
        }
        write_nested(out, values, start + j * inner, rest);
    }
    out.push(b']');
}

/// [`write_cell`] for a column whose rows are tensors of `shape` (see [`tensor_shape`]):
/// written as nested arrays rather than flat.
pub fn write_cell_shaped(
    out: &mut Vec<u8>,
    col: &ArrayRef,
    i: usize,
    vectors: VectorStyle,
    shape: Option<&[usize]>,
) {
    if col.is_null(i) {
        out.extend_from_slice(b"null");
        return;
    }
    match col.data_type() {
        DataType::Float64 => write_f64(out, col.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => {
            let v = col.as_primitive::<Float32Type>().value(i);
            if v.is_finite() {
                let _ = serde_json::to_writer(&mut *out, &v);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        DataType::Int64 => {
            let _ = serde_json::to_writer(&mut *out, &col.as_primitive::<Int64Type>().value(i));
        }
        DataType::Int32 => {
            let _ = serde_json::to_writer(&mut *out, &col.as_primitive::<Int32Type>().value(i));
        }
        DataType::Int8 => {
            let v = col.as_primitive::<arrow_array::types::Int8Type>().value(i);
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        DataType::UInt8 => {
            let v = col.as_primitive::<arrow_array::types::UInt8Type>().value(i);
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        DataType::Float16 => {
            let v = col
                .as_primitive::<arrow_array::types::Float16Type>()
                .value(i)
                .to_f64();
            write_f64(out, v);
        }
        DataType::Boolean => {
            let v = col.as_boolean().value(i);
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        DataType::Utf8 => write_str(out, col.as_string::<i32>().value(i)),
        DataType::FixedSizeList(_, w)
            if shape.is_some()
                || !matches!(
                    col.as_fixed_size_list().values().data_type(),
                    DataType::Float64
                ) =>
        {
            // A tensor: nested in its shape when known, else flat; elements of any type.
            let list = col.as_fixed_size_list();
            let start = list.value_offset_at(i);
            let width = usize::try_from(*w).unwrap_or(0);
            let flat = [width];
            let shape = shape
                .filter(|s| s.iter().product::<usize>() == width)
                .unwrap_or(&flat);
            write_nested(out, list.values(), start, shape);
        }
        DataType::FixedSizeList(_, w) => {
            let list = col.as_fixed_size_list();
            let start = list.value_offset_at(i);
            let width = usize::try_from(*w).unwrap_or(0);
            let values = list.values().as_primitive_opt::<Float64Type>();
            if vectors == VectorStyle::MleapTensor {
                out.extend_from_slice(b"{\"values\":");
            }
            out.push(b'[');
            for j in 0..width {
                if j > 0 {
                    out.push(b',');
                }
                match values {
                    Some(v) if v.is_valid(start + j) => write_f64(out, v.value(start + j)),
                    _ => out.extend_from_slice(b"null"),
                }
            }
            out.push(b']');
            if vectors == VectorStyle::MleapTensor {
                out.extend_from_slice(format!(",\"dimensions\":[{width}]}}").as_bytes());
            }
        }
        DataType::List(f) if !matches!(f.data_type(), DataType::Utf8) => {
            // Nested lists (a tensor with a symbolic dimension): arrays of arrays.
            let value = col.as_list::<i32>().value(i);
            out.push(b'[');
            for j in 0..value.len() {
                if j > 0 {
                    out.push(b',');
                }
                write_cell(out, &value, j, VectorStyle::Array);
            }
            out.push(b']');
        }
        DataType::List(_) => {
            // A list of strings (`list<utf8>`): a JSON array, null elements as `null`.
            let value = col.as_list::<i32>().value(i);
            out.push(b'[');
            if let Some(items) = value.as_string_opt::<i32>() {
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    match item {
                        Some(s) => write_str(out, s),
                        None => out.extend_from_slice(b"null"),
                    }
                }
            }
            out.push(b']');
        }
        // Bytes as base64 text, as the readers take them.
        DataType::Binary => write_base64(out, col.as_binary::<i32>().value(i)),
        DataType::LargeBinary => write_base64(out, col.as_binary::<i64>().value(i)),
        // The runtime's outputs are only the types above; anything else is written as null
        // rather than failing an answer that was computed.
        _ => out.extend_from_slice(b"null"),
    }
}

/// Encodes scored batches (all of `schema`) as an answer document of `model` at `version`, in
/// `layout`.
pub fn encode(
    layout: Layout,
    model: &str,
    version: u32,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Vec<u8> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let cols = schema.fields().len();
    let mut out = Vec::with_capacity(64 + rows * cols * 24);
    out.extend_from_slice(b"{\"model\":");
    write_str(&mut out, model);
    out.extend_from_slice(format!(",\"version\":{version},").as_bytes());
    // Each name is escaped once, not once per row.
    let names: Vec<Vec<u8>> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut n = Vec::new();
            write_str(&mut n, f.name());
            n.push(b':');
            n
        })
        .collect();
    let shapes: Vec<Option<Vec<usize>>> = schema.fields().iter().map(|f| tensor_shape(f)).collect();
    match layout {
        Layout::Rows => {
            out.extend_from_slice(b"\"rows\":[");
            let mut first = true;
            for b in batches {
                for i in 0..b.num_rows() {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.push(b'{');
                    for (c, (col, name)) in b.columns().iter().zip(&names).enumerate() {
                        if c > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(name);
                        let shape = shapes.get(c).and_then(Option::as_deref);
                        write_cell_shaped(&mut out, col, i, VectorStyle::Array, shape);
                    }
                    out.push(b'}');
                }
            }
            out.push(b']');
        }
        Layout::Columns => {
            out.extend_from_slice(b"\"columns\":{");
            for (c, name) in names.iter().enumerate() {
                if c > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(name);
                out.push(b'[');
                let mut first = true;
                for b in batches {
                    let Some(col) = b.columns().get(c) else {
                        continue;
                    };
                    for i in 0..b.num_rows() {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        let shape = shapes.get(c).and_then(Option::as_deref);
                        write_cell_shaped(&mut out, col, i, VectorStyle::Array, shape);
                    }
                }
                out.push(b']');
            }
            out.push(b'}');
        }
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{FixedSizeListArray, Float64Array};
    use arrow_schema::{Field as ArrowField, Schema};
    use keel_bundle::DType;
    use std::sync::Arc;

    fn fields() -> Vec<Field> {
        vec![
            Field::scalar("a", DType::F64, true),
            Field::scalar("b", DType::Utf8, true),
        ]
    }

    fn parse_err(doc: &str) -> Error {
        parse(doc.as_bytes(), &fields(), Extra::Reject).unwrap_err()
    }

    #[test]
    fn rows_and_columns_parse_to_the_same_batch() {
        let rows = parse(
            br#"{"rows": [{"a": 1, "b": "x"}, {"a": "NaN"}]}"#,
            &fields(),
            Extra::Reject,
        )
        .unwrap();
        let cols = parse(
            br#"{"columns": {"a": [1, "NaN"], "b": ["x", null]}}"#,
            &fields(),
            Extra::Reject,
        )
        .unwrap();
        assert_eq!((rows.layout, cols.layout), (Layout::Rows, Layout::Columns));
        assert_eq!(rows.batch, cols.batch);
        assert_eq!(rows.batch.num_rows(), 2);
        assert!(rows.batch.column(1).is_null(1));
    }

    #[test]
    fn extra_columns_are_refused_or_dropped() {
        let doc = br#"{"columns": {"a": [1], "b": ["x"], "id": [7]}}"#;
        let e = parse(doc, &fields(), Extra::Reject).unwrap_err();
        assert!(
            matches!(e, Error::ExtraColumn { ref column, .. } if column == "id"),
            "{e}"
        );
        let d = parse(doc, &fields(), Extra::Ignore).unwrap();
        assert_eq!(d.batch.num_columns(), 2);
    }

    #[test]
    fn invalid_json_and_unknown_keys_are_malformed_json() {
        for doc in ["{\"rows\": [", "", r#"{"data": []}"#, r#"{"columns": [1]}"#] {
            let e = parse_err(doc);
            assert!(matches!(e, Error::MalformedJson { .. }), "{doc}: {e}");
            assert!(
                e.to_string().starts_with("the body is not valid JSON: "),
                "{e}"
            );
        }
    }

    #[test]
    fn a_document_with_neither_or_both_layouts_is_refused() {
        for doc in ["{}", r#"{"rows": [], "columns": {}}"#] {
            assert!(matches!(parse_err(doc), Error::NotRowsOrColumns), "{doc}");
        }
    }

    #[test]
    fn a_column_missing_from_a_columns_document_is_named() {
        let e = parse_err(r#"{"columns": {"a": [1]}}"#);
        match e {
            Error::MissingColumn { column, message } => {
                assert_eq!(column, "b");
                assert_eq!(message, "input column `b` is missing");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn columns_of_different_lengths_name_both_columns() {
        let e = parse_err(r#"{"columns": {"a": [1, 2], "b": ["x"]}}"#);
        assert_eq!(
            e.to_string(),
            "column `b` has 1 values but column `a` has 2"
        );
        assert!(matches!(
            e,
            Error::ColumnLengths { ref column, found: 1, ref first, expected: 2 }
                if column == "b" && first == "a"
        ));
    }

    #[test]
    fn bad_values_name_their_row_and_column() {
        let e = parse_err(r#"{"columns": {"a": [1, "wide"], "b": ["x", "y"]}}"#);
        assert!(
            matches!(e, Error::Value { row: 1, ref column, .. } if column == "a"),
            "{e}"
        );
        let e = parse_err(r#"{"rows": [{"a": 1, "b": "x"}, [1, 2]]}"#);
        assert!(matches!(e, Error::Row { row: 1, .. }), "{e}");
    }

    #[test]
    fn answers_write_nulls_for_non_finite_values_in_both_layouts() {
        let item = Arc::new(ArrowField::new("item", DataType::Float64, false));
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new("p", DataType::Float64, true),
            ArrowField::new("v", DataType::FixedSizeList(item.clone(), 2), true),
        ]));
        let p = Arc::new(Float64Array::from(vec![Some(0.5), Some(f64::NAN)])) as ArrayRef;
        let v = Arc::new(FixedSizeListArray::new(
            item,
            2,
            Arc::new(Float64Array::from(vec![1.0, 2.0, f64::INFINITY, 4.0])),
            None,
        )) as ArrayRef;
        let batch = RecordBatch::try_new(schema.clone(), vec![p, v.clone()]).unwrap();
        let rows = encode(Layout::Rows, "m", 3, &schema, std::slice::from_ref(&batch));
        assert_eq!(
            String::from_utf8(rows).unwrap(),
            r#"{"model":"m","version":3,"rows":[{"p":0.5,"v":[1.0,2.0]},{"p":null,"v":[null,4.0]}]}"#
        );
        let cols = encode(Layout::Columns, "m", 3, &schema, &[batch]);
        assert_eq!(
            String::from_utf8(cols).unwrap(),
            r#"{"model":"m","version":3,"columns":{"p":[0.5,null],"v":[[1.0,2.0],[null,4.0]]}}"#
        );
        let mut cell = Vec::new();
        write_cell(&mut cell, &v, 0, VectorStyle::MleapTensor);
        assert_eq!(cell, br#"{"values":[1.0,2.0],"dimensions":[2]}"#);
    }

    #[test]
    fn tensor_columns_go_in_and_come_out_as_nested_arrays() {
        let f = Field::tensor("img", DType::F32, vec![2, 2]);
        let doc = parse(
            br#"{"rows": [{"img": [[1, 2], [3, 4]]}, {"img": [[5, 6], [7, 8.5]]}]}"#,
            std::slice::from_ref(&f),
            Extra::Reject,
        )
        .unwrap();
        let schema = keel_runtime::arrow_schema(std::slice::from_ref(&f));
        assert_eq!(tensor_shape(schema.field(0)), Some(vec![2, 2]));
        let batch = RecordBatch::try_new(schema.clone(), doc.batch.columns().to_vec()).unwrap();
        let rows = encode(Layout::Rows, "m", 1, &schema, &[batch]);
        assert_eq!(
            String::from_utf8(rows).unwrap(),
            r#"{"model":"m","version":1,"rows":[{"img":[[1.0,2.0],[3.0,4.0]]},{"img":[[5.0,6.0],[7.0,8.5]]}]}"#
        );
        let e = parse(
            br#"{"rows": [{"img": [[1, 2], [3]]}]}"#,
            std::slice::from_ref(&f),
            Extra::Reject,
        )
        .unwrap_err();
        assert!(e.to_string().contains("element [1]"), "{e}");
    }

    #[test]
    fn bytes_go_in_and_come_out_as_base64() {
        let fields = vec![Field::scalar("img", DType::Binary, true)];
        let doc = parse(
            br#"{"rows": [{"img": "AAEC/w=="}, {"img": null}]}"#,
            &fields,
            Extra::Reject,
        )
        .unwrap();
        let col = doc.batch.column(0).as_binary::<i32>();
        assert_eq!(col.value(0), &[0, 1, 2, 255]);
        assert!(col.is_null(1));
        let mut out = Vec::new();
        write_cell(&mut out, doc.batch.column(0), 0, VectorStyle::Array);
        assert_eq!(out, br#""AAEC/w==""#);
        let e = parse(
            br#"{"columns": {"img": ["aGk=", "a!=="]}}"#,
            &fields,
            Extra::Reject,
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Value { row: 1, ref column, .. } if column == "img"),
            "{e}"
        );
    }
}
