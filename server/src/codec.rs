//! Request and answer bodies of `POST /v1/models/{name}/predict`.
//!
//! This module holds the HTTP half: media types, `Content-Type` and `Accept` negotiation, and
//! the choice of codec. The documents themselves are keel-io's: JSON rows or columns
//! ([`keel_io::json_doc`], read and written) and Arrow IPC streams or files
//! ([`keel_io::input`], [`keel_io::output`]), so every front end over keel-io (the command line,
//! the server) reads the same conventions and answers the same errors, naming row and column.
//!
//! Answers: the request's form (rows for rows, columns for columns, Arrow for Arrow) unless
//! `Accept` asks for `application/json` (rows for an Arrow request) or the Arrow stream type.

use crate::error::AppError;
use crate::registry::Served;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use axum::http::{HeaderMap, StatusCode, header};
use keel_bundle::Field;
use keel_io::format::Format;
use keel_io::input::{self, Extra};
use keel_io::json_doc::{self, Layout};
use keel_io::output::Sink;
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
        Media::Json => {
            let doc = json_doc::parse(body, fields, extra)?;
            Ok(Parsed {
                batches: vec![doc.batch],
                form: Answer::Json(doc.layout),
            })
        }
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

/// Scores every batch; runtime errors name rows within the whole request.
pub fn score(model: &Served, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, AppError> {
    let mut out = Vec::with_capacity(batches.len());
    let mut offset = 0u64;
    for b in batches {
        out.push(model.score(b, offset)?);
        offset += to_u64(b.num_rows());
    }
    if out.is_empty() {
        return Err(keel_runtime::Error::EmptyFrame.into());
    }
    Ok(out)
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
