//! Request and answer bodies of `POST /v1/models/{name}/predict`.
//!
//! Requests: JSON rows `{"rows": [{"col": value, ...}, ...]}`, JSON columns
//! `{"columns": {"col": [value, ...], ...}}`, or an Arrow IPC stream (or file) body. Values are
//! parsed by the bundle's input schema with the command line's readers (`keel_io::input`,
//! `keel_io::columns`): the same conventions (an absent key or `null` is a null; `"NaN"`,
//! `"Infinity"`, `"-Infinity"` for non-finite floats; vectors as arrays) and the same errors,
//! naming the row and column.
//!
//! Answers: the request's form (rows for rows, columns for columns, Arrow for Arrow) unless
//! `Accept` asks for `application/json` (rows) or the Arrow stream type. JSON answers carry
//! `"model"` and `"version"`; vector outputs are arrays; NaN and infinities are `null` (JSON
//! has no literal for them), as `keel score` writes them.

use crate::error::AppError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use axum::http::{HeaderMap, StatusCode, header};
use keel_bundle::Field;
use keel_io::format::Format;
use keel_io::input::{self, Extra, JsonRows};
use keel_io::offset_rows;
use keel_io::output::Sink;
use keel_runtime::Model;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::Cursor;

/// The Arrow IPC stream media type.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// The Arrow IPC file media type (accepted in requests; answers are streams).
pub const ARROW_FILE: &str = "application/vnd.apache.arrow.file";
/// JSON.
pub const JSON: &str = "application/json";

/// What a request body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// A JSON document.
    Json,
    /// An Arrow IPC stream or file.
    Arrow,
}

/// How JSON rows are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"rows": [{...}, ...]}`.
    Rows,
    /// `{"columns": {"col": [...], ...}}`.
    Columns,
}

/// What the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// JSON in a layout.
    Json(Layout),
    /// An Arrow IPC stream.
    Arrow,
}

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The request's media type from `Content-Type` (415 when it is absent or not one we read).
pub fn request_media(headers: &HeaderMap, arrow_ok: bool) -> Result<Media, AppError> {
    let found = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type);
    let expected = if arrow_ok {
        format!("{JSON} or {ARROW_STREAM}")
    } else {
        JSON.to_string()
    };
    match found.as_deref() {
        Some(JSON) => Ok(Media::Json),
        Some(ARROW_STREAM | ARROW_FILE) if arrow_ok => Ok(Media::Arrow),
        Some(other) => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("cannot read a `{other}` body; send {expected}"),
        )),
        None => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the request has no Content-Type; send {expected}"),
        )),
    }
}

/// What `Accept` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Nothing in particular (no `Accept`, or a wildcard): answer in the request's form.
    Same,
    /// JSON: the request's layout for a JSON request, rows for an Arrow one.
    Json,
    /// An Arrow IPC stream.
    Arrow,
}

impl Want {
    /// The answer's form for a request that came in as `form`.
    pub fn answer(self, form: Answer) -> Answer {
        match (self, form) {
            (Want::Same, f) => f,
            (Want::Json, Answer::Json(layout)) => Answer::Json(layout),
            (Want::Json, Answer::Arrow) => Answer::Json(Layout::Rows),
            (Want::Arrow, _) => Answer::Arrow,
        }
    }
}

/// Reads `Accept`: the first listed type we can write wins (q-values are not weighed). 406 when
/// it names only types we cannot write.
pub fn wanted(headers: &HeaderMap, arrow_ok: bool) -> Result<Want, AppError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Want::Same);
    };
    if accept.trim().is_empty() {
        return Ok(Want::Same);
    }
    for item in accept.split(',') {
        match media_type(item).as_str() {
            "*/*" | "application/*" => return Ok(Want::Same),
            JSON => return Ok(Want::Json),
            ARROW_STREAM if arrow_ok => return Ok(Want::Arrow),
            _ => {}
        }
    }
    Err(AppError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not_acceptable",
        format!(
            "cannot answer as `{accept}`; accept {JSON}{}",
            if arrow_ok {
                format!(" or {ARROW_STREAM}")
            } else {
                String::new()
            }
        ),
    ))
}

/// A parsed request: input batches typed by the bundle's schema.
#[derive(Debug)]
pub struct Parsed {
    /// The batches (one for JSON; as sent for Arrow).
    pub batches: Vec<RecordBatch>,
    /// The form the request came in (the default answer).
    pub form: Answer,
}

impl Parsed {
    /// Rows in all batches.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictDoc<'a> {
    #[serde(borrow, default)]
    rows: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    columns: Option<BTreeMap<String, Vec<&'a RawValue>>>,
}

/// The answer to a body that is not JSON at all.
pub fn malformed_json(e: &serde_json::Error) -> AppError {
    AppError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Parses a request body of `media` for a bundle with input `fields`.
pub fn parse(
    media: Media,
    body: &[u8],
    fields: &[Field],
    extra: Extra,
) -> Result<Parsed, AppError> {
    match media {
        Media::Json => parse_json(body, fields, extra),
        Media::Arrow => {
            let mut source = input::open(
                Format::Arrows,
                Box::new(Cursor::new(body)),
                fields,
                1,
                extra,
            )?;
            let mut batches = Vec::new();
            while let Some(b) = source.next_batch()? {
                if b.num_rows() > 0 {
                    batches.push(b);
                }
            }
            Ok(Parsed {
                batches,
                form: Answer::Arrow,
            })
        }
    }
}

fn parse_json(body: &[u8], fields: &[Field], extra: Extra) -> Result<Parsed, AppError> {
    let doc: PredictDoc<'_> = serde_json::from_slice(body).map_err(|e| malformed_json(&e))?;
    match (doc.rows, doc.columns) {
        (Some(rows), None) => {
            let mut parser = JsonRows::new(fields, extra)?;
            for (i, row) in rows.iter().enumerate() {
                parser.push(row.get(), to_u64(i))?;
            }
            if !rows.is_empty() {
                parser.check_seen(rows.len())?;
            }
            Ok(Parsed {
                batches: vec![parser.finish(rows.len())?],
                form: Answer::Json(Layout::Rows),
            })
        }
        (None, Some(columns)) => Ok(Parsed {
            batches: vec![parse_columns(&columns, fields, extra)?],
            form: Answer::Json(Layout::Columns),
        }),
        _ => Err(AppError::bad_request(
            "malformed_request",
            "expected a JSON object with either \"rows\" (an array of objects) or \"columns\" \
             (an object of arrays)",
        )),
    }
}

fn parse_columns(
    columns: &BTreeMap<String, Vec<&RawValue>>,
    fields: &[Field],
    extra: Extra,
) -> Result<RecordBatch, AppError> {
    if extra == Extra::Reject
        && let Some(name) = columns
            .keys()
            .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        return Err(keel_runtime::Error::ExtraColumn {
            column: name.clone(),
        }
        .into());
    }
    let mut builder = keel_io::columns::BatchBuilder::new(fields).map_err(keel_io::Error::Input)?;
    let mut rows: Option<(usize, &str)> = None;
    for (field, col) in fields.iter().zip(builder.columns.iter_mut()) {
        let values = columns.get(&field.name).ok_or_else(|| {
            AppError::unprocessable(
                "missing_column",
                format!("input column `{}` is missing", field.name),
            )
            .at_column(field.name.clone())
        })?;
        match rows {
            None => rows = Some((values.len(), &field.name)),
            Some((n, first)) if n != values.len() => {
                return Err(AppError::unprocessable(
                    "row_count",
                    format!(
                        "column `{}` has {} values but column `{first}` has {n}",
                        field.name,
                        values.len()
                    ),
                )
                .at_column(field.name.clone()));
            }
            Some(_) => {}
        }
        for (i, raw) in values.iter().enumerate() {
            col.append_json(Some(raw))
                .map_err(|message| keel_io::Error::Value {
                    row: to_u64(i),
                    column: field.name.clone(),
                    message,
                })?;
        }
    }
    Ok(builder
        .finish(rows.map_or(0, |(n, _)| n))
        .map_err(keel_io::Error::Input)?)
}

/// Scores every batch; runtime errors name rows within the whole request.
pub fn score(model: &Model, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, AppError> {
    let mut out = Vec::with_capacity(batches.len());
    let mut offset = 0u64;
    for b in batches {
        out.push(
            model
                .score(b)
                .map_err(|e| AppError::from(offset_rows(e, offset)))?,
        );
        offset += to_u64(b.num_rows());
    }
    if out.is_empty() {
        return Err(keel_runtime::Error::EmptyFrame.into());
    }
    Ok(out)
}

/// How vectors are written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorStyle {
    /// A plain array of numbers.
    Array,
    /// An MLeap dense tensor: `{"values": [...], "dimensions": [n]}`.
    MleapTensor,
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &v);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Writes the value at row `i` of `col` as JSON.
pub fn write_cell(out: &mut Vec<u8>, col: &ArrayRef, i: usize, vectors: VectorStyle) {
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
        DataType::Boolean => {
            let v = col.as_boolean().value(i);
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        DataType::Utf8 => {
            let _ = serde_json::to_writer(&mut *out, col.as_string::<i32>().value(i));
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
        // The runtime's outputs are only the types above; anything else is written as null
        // rather than failing an answer that was computed.
        _ => out.extend_from_slice(b"null"),
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Encodes scored batches as a JSON answer.
pub fn encode_json(
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
                        write_cell(&mut out, col, i, VectorStyle::Array);
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
                        write_cell(&mut out, col, i, VectorStyle::Array);
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

/// Encodes scored batches as an Arrow IPC stream (one batch per input batch).
pub fn encode_arrow(
    schema: &SchemaRef,
    fields: &[Field],
    batches: &[RecordBatch],
) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    let mut sink = Sink::new(Format::Arrows, &mut out, schema, fields)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_picks_the_first_writable_type() {
        let mut h = HeaderMap::new();
        let rows = Answer::Json(Layout::Rows);
        let cols = Answer::Json(Layout::Columns);
        assert_eq!(
            wanted(&h, true).unwrap().answer(Answer::Arrow),
            Answer::Arrow
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html, application/json;q=0.9"),
        );
        assert_eq!(wanted(&h, true).unwrap().answer(Answer::Arrow), rows);
        assert_eq!(wanted(&h, true).unwrap().answer(cols), cols);
        h.insert(header::ACCEPT, HeaderValue::from_static(ARROW_STREAM));
        assert_eq!(wanted(&h, true).unwrap().answer(rows), Answer::Arrow);
        assert_eq!(wanted(&h, false).unwrap_err().code, "not_acceptable");
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(wanted(&h, true).unwrap().answer(cols), cols);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(request_media(&h, true).unwrap(), Media::Json);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        assert_eq!(
            request_media(&h, true).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
