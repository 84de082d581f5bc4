//! The trainer's Spark + PyTorch fixture (`fixtures/train/export/io.json`, written by
//! `fixtures/train/export/generate.py`) as Arrow batches and typed references, shared by the
//! feature and export tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use keel_train::features::FeatureSpec;
use keel_train::net::Task;
use serde_json::Value;
use std::sync::Arc;

/// The parsed `io.json`.
pub fn io() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/train/export/io.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture io.json (run its generator)");
    serde_json::from_str(&text).expect("io.json parses")
}

/// A float column as written by the generator: `null` for NULL, `"NaN"` for NaN.
pub fn f64s(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .expect("a column")
        .iter()
        .map(|x| match x {
            Value::Null => None,
            Value::String(s) if s == "NaN" => Some(f64::NAN),
            x => Some(x.as_f64().expect("a number")),
        })
        .collect()
}

fn i64s(v: &Value) -> Vec<Option<i64>> {
    v.as_array()
        .expect("a column")
        .iter()
        .map(Value::as_i64)
        .collect()
}

fn strs(v: &Value) -> Vec<Option<String>> {
    v.as_array()
        .expect("a column")
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// The rows of `part` (`train` or `test`) as a batch with the generator's Arrow types:
/// `age`, `income` f64 (nulls and NaNs), `visits` i64, `city` utf8, `plan` i64 (categorical),
/// and for `train` the labels `label` (utf8 classes) and `count` (f64 target).
pub fn batch(io: &Value, part: &str) -> RecordBatch {
    let p = &io[part];
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("age", Arc::new(Float64Array::from(f64s(&p["age"])))),
        ("income", Arc::new(Float64Array::from(f64s(&p["income"])))),
        ("visits", Arc::new(Int64Array::from(i64s(&p["visits"])))),
        ("city", Arc::new(StringArray::from(strs(&p["city"])))),
        ("plan", Arc::new(Int64Array::from(i64s(&p["plan"])))),
    ];
    if part == "train" {
        cols.push(("label", Arc::new(StringArray::from(strs(&p["label"])))));
        cols.push(("count", Arc::new(Float64Array::from(f64s(&p["count"])))));
    }
    RecordBatch::try_from_iter(cols).expect("a batch")
}

/// The spec of the fixture's columns (every numeric and categorical column), for `task`.
pub fn spec(io: &Value, task: Task) -> FeatureSpec {
    let names = |k: &str| -> Vec<String> {
        io[k]
            .as_array()
            .expect("names")
            .iter()
            .map(|v| v.as_str().expect("a name").to_string())
            .collect()
    };
    FeatureSpec {
        numeric_cols: names("numeric_cols"),
        categorical_cols: names("categorical_cols"),
        label_col: match task {
            Task::Classification => "label".into(),
            Task::Regression => "count".into(),
        },
        task,
        max_categories: None,
        min_frequency: 0,
    }
}
