//! keel's browser build: a bundle loaded and scored inside WebAssembly, exported through
//! wasm-bindgen to the ES module in `wasm/js/` (which is what users import).
//!
//! Everything crosses the boundary as bytes or strings: a bundle's bytes in; JSON documents
//! (`{"rows": ...}` / `{"columns": ...}`, keel-io's [`json_doc`], the REST server's bodies) or
//! CSV / JSON lines / Arrow IPC streams (the [`keel_io::stream`] loop `keel score` runs) in and
//! out. So the browser reads and refuses exactly what the native front ends do, with the same
//! error codes, and the module needs no js-sys or web-sys.
//!
//! Errors are thrown as the text of a JSON object `{"code", "message", "column", "row"}`,
//! which the ES module turns into a `KeelError`. The work is done by [`Scorer`]'s plain Rust
//! methods (tested on the host); the `#[wasm_bindgen]` wrappers only convert errors.

use keel_io::input::Extra;
use keel_io::json_doc;
use keel_io::stream::{StreamOptions, score_stream};
use keel_io::{Format, describe};
use keel_runtime::{Model, Options};
use serde_json::json;
use wasm_bindgen::prelude::*;

/// An error as the ES module receives it: a code shared with every front end, a message for
/// people, and the input column and row when they apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The runtime's or keel-io's error code (`missing_column`, `bundle`, ...).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// The input column involved, if any.
    pub column: Option<String>,
    /// The row involved (from 0, within the call's input), if any.
    pub row: Option<u64>,
}

impl Failure {
    /// The JSON text thrown to JavaScript.
    pub fn to_json(&self) -> String {
        json!({
            "code": self.code,
            "message": self.message,
            "column": self.column,
            "row": self.row,
        })
        .to_string()
    }

    fn usage(message: String) -> Failure {
        Failure {
            code: "usage",
            message,
            column: None,
            row: None,
        }
    }
}

impl From<keel_runtime::Error> for Failure {
    fn from(e: keel_runtime::Error) -> Self {
        // keel-io's error keeps the runtime's code, column and row for a scoring error.
        keel_io::Error::Score(e).into()
    }
}

impl From<keel_io::Error> for Failure {
    fn from(e: keel_io::Error) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
            column: e.column().map(str::to_string),
            row: e.row(),
        }
    }
}

fn thrown(f: Failure) -> JsValue {
    JsValue::from_str(&f.to_json())
}

fn extra(ignore_extra_columns: bool) -> Extra {
    if ignore_extra_columns {
        Extra::Ignore
    } else {
        Extra::Reject
    }
}

fn format(name: &str) -> Result<Format, Failure> {
    Format::from_name(name).ok_or_else(|| {
        Failure::usage(format!(
            "unknown format `{name}`: expected csv, jsonl, arrow (IPC file) or arrows (IPC stream)"
        ))
    })
}

/// A bundle read, verified and planned once; scored any number of times.
#[wasm_bindgen]
pub struct Scorer {
    model: Model,
    description: String,
}

impl Scorer {
    /// Reads, verifies and plans a bundle. `max_bytes` caps the bundle's uncompressed size
    /// (the browser's memory is smaller than a server's); 0 keeps the native default.
    pub fn from_bytes(bytes: &[u8], max_bytes: u64) -> Result<Scorer, Failure> {
        let mut options = Options::default();
        if max_bytes > 0 {
            options.limits.max_total_bytes = max_bytes;
        }
        let bundle = keel_bundle::Bundle::from_bytes_with(bytes, &options.limits)
            .map_err(|e| Failure::from(keel_runtime::Error::from(e)))?;
        let planned = Model::from_bundle(&bundle, &options);
        // The description (schema, metadata, graph) is made once: the page shows it and
        // `bundle.schema` reads it, neither on the scoring path.
        let description = describe::to_json(&bundle, &planned).to_string();
        let model = planned?;
        Ok(Scorer { model, description })
    }

    /// Scores a `{"rows": [...]}` or `{"columns": {...}}` document, answering in its layout.
    pub fn document(&self, body: &[u8], ignore_extra_columns: bool) -> Result<Vec<u8>, Failure> {
        let manifest = self.model.manifest();
        let doc = json_doc::parse(body, &manifest.inputs, extra(ignore_extra_columns))?;
        let schema = self.model.output_schema();
        let scored = if doc.batch.num_rows() == 0 {
            Vec::new()
        } else {
            vec![self.model.score(&doc.batch)?]
        };
        Ok(json_doc::encode(
            doc.layout,
            &manifest.name,
            1,
            &schema,
            &scored,
        ))
    }

    /// Scores a CSV, JSON lines or Arrow IPC input (`input` names its format) into `output`'s
    /// format, batch by batch.
    pub fn stream(
        &self,
        body: &[u8],
        input: &str,
        output: &str,
        batch_size: usize,
        ignore_extra_columns: bool,
    ) -> Result<Vec<u8>, Failure> {
        // The whole input is in memory, so a text input's row count is bounded by its lines:
        // the CSV decoder sizes its buffers by the batch size, which for a one-line input
        // would be most of the call's cost.
        let lines = body
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            .saturating_add(1);
        let options = StreamOptions {
            input: format(input)?,
            output: format(output)?,
            batch_size: batch_size.min(lines).max(1),
            extra: extra(ignore_extra_columns),
        };
        let mut out = Vec::with_capacity(body.len());
        score_stream(&self.model, Box::new(body), &mut out, &options, |batch| {
            self.model.score(batch)
        })?;
        Ok(out)
    }
}

#[wasm_bindgen]
impl Scorer {
    /// `new Scorer(bytes, maxBytes)`: reads, verifies and plans a bundle.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], max_bytes: f64) -> Result<Scorer, JsValue> {
        // A JS number; negative, NaN or fractional sizes mean "the default".
        let max = if max_bytes.is_finite() && max_bytes >= 1.0 {
            max_bytes as u64
        } else {
            0
        };
        Scorer::from_bytes(bytes, max).map_err(thrown)
    }

    /// The bundle's description as JSON text: `format_version`, `name`, `uid`, `producer`,
    /// `inputs`, `outputs`, `metadata`, `graph`, `plan` (keel-io's `describe` report, as
    /// `keel inspect --json` prints it).
    #[wasm_bindgen(js_name = describe)]
    pub fn describe_json(&self) -> String {
        self.description.clone()
    }

    /// Scores a JSON document (rows or columns); answers with the document's bytes.
    #[wasm_bindgen(js_name = scoreDocument)]
    pub fn score_document(
        &self,
        body: &[u8],
        ignore_extra_columns: bool,
    ) -> Result<Vec<u8>, JsValue> {
        self.document(body, ignore_extra_columns).map_err(thrown)
    }

    /// Scores a CSV / JSON lines / Arrow IPC input into a format of the same family.
    #[wasm_bindgen(js_name = scoreStream)]
    pub fn score_stream(
        &self,
        body: &[u8],
        input: &str,
        output: &str,
        batch_size: usize,
        ignore_extra_columns: bool,
    ) -> Result<Vec<u8>, JsValue> {
        self.stream(body, input, output, batch_size, ignore_extra_columns)
            .map_err(thrown)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        std::fs::read(root.join(path)).unwrap()
    }

    #[test]
    fn refusals_keep_the_native_codes() {
        let err = Scorer::from_bytes(b"not a zip", 0).err().unwrap();
        assert_eq!(err.code, "bundle");
        let bundle = fixture("demo/airbnb_linear.keel");
        let whole = Scorer::from_bytes(&bundle, 0).unwrap();
        let truncated = Scorer::from_bytes(&bundle[..bundle.len() / 2], 0)
            .err()
            .unwrap();
        assert_eq!(truncated.code, "bundle");
        let small = Scorer::from_bytes(&bundle, 1024).err().unwrap();
        assert_eq!(small.code, "bundle", "{}", small.message);
        let missing = whole.document(br#"{"rows": [{}]}"#, false).unwrap_err();
        assert_eq!(missing.code, "missing_column");
        assert!(missing.column.is_some());
        let not_doc = whole.document(br#"{"rowz": []}"#, false).unwrap_err();
        assert_eq!(not_doc.code, "malformed_json");
        let bad_format = whole.stream(b"", "xml", "jsonl", 10, false).unwrap_err();
        assert_eq!(bad_format.code, "usage");
        let thrown: serde_json::Value = serde_json::from_str(&missing.to_json()).unwrap();
        assert_eq!(thrown["code"], "missing_column");
    }
}
