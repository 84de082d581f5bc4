//! Bad input frames against real Spark bundles (`fixtures/spark/*`). A value a Spark stage
//! refuses (an unseen label under `handleInvalid='error'`, a NULL or NaN into a
//! `VectorAssembler` in `error` mode, a value outside a `Bucketizer`'s splits) gives its typed
//! [`Error`] naming the column, the row and the value, where Spark fails the job; values Spark
//! lets through (NaN into trees, NULL/NaN into `keep` stages) are covered by the fixtures'
//! recorded Spark outputs, checked by the conformance suite (`fixtures/conformance`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use keel_bundle::DType;
use keel_runtime::{Error, Model};
use serde_json::Value as J;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/spark")
        .join(case)
}

fn load(case: &str) -> (Model, serde_json::Map<String, J>) {
    let bytes = std::fs::read(fixture(case).join("model.keel")).unwrap();
    let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
    let io: J =
        serde_json::from_slice(&std::fs::read(fixture(case).join("io.json")).unwrap()).unwrap();
    (model, io["inputs"].as_object().unwrap().clone())
}

fn num(v: &J) -> Option<f64> {
    match v {
        J::Number(n) => n.as_f64(),
        J::String(s) if s == "NaN" => Some(f64::NAN),
        J::String(s) if s == "Infinity" => Some(f64::INFINITY),
        J::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The fixture's inputs, with `edit` applied to the JSON columns first.
fn batch(
    model: &Model,
    inputs: &serde_json::Map<String, J>,
    edit: &[(&str, usize, J)],
) -> RecordBatch {
    let mut inputs = inputs.clone();
    for (col, row, v) in edit {
        inputs[*col].as_array_mut().unwrap()[*row] = v.clone();
    }
    let cols: Vec<ArrayRef> = model
        .manifest()
        .inputs
        .iter()
        .map(|f| {
            let vals = inputs[&f.name].as_array().unwrap();
            let a: ArrayRef = match f.dtype {
                DType::Utf8 => Arc::new(StringArray::from(
                    vals.iter().map(J::as_str).collect::<Vec<_>>(),
                )),
                DType::I64 => Arc::new(Int64Array::from(
                    vals.iter().map(J::as_i64).collect::<Vec<_>>(),
                )),
                _ => Arc::new(Float64Array::from(vals.iter().map(num).collect::<Vec<_>>())),
            };
            a
        })
        .collect();
    RecordBatch::try_new(model.input_schema(), cols).unwrap()
}

#[test]
fn unseen_label_under_handle_invalid_error_names_column_row_and_value() {
    // StringIndexer(room) was fitted with the default handleInvalid='error'.
    let (model, inputs) = load("mixed_onehot_droplast_error");
    assert!(model.score(&batch(&model, &inputs, &[])).is_ok());
    let e = model
        .score(&batch(&model, &inputs, &[("room", 2, J::from("castle"))]))
        .unwrap_err();
    match &e {
        Error::UnknownCategory {
            column,
            row,
            value,
            node,
        } => {
            assert_eq!(
                (column.as_str(), *row, value.as_str()),
                ("room", 2, "castle")
            );
            assert!(node.starts_with("stringindexermodel"), "node {node}");
        }
        other => panic!("expected UnknownCategory, got {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("row 2, column `room`") && msg.contains("castle"),
        "{msg}"
    );
}

#[test]
fn null_label_under_handle_invalid_error_is_missing() {
    let (model, inputs) = load("mixed_onehot_droplast_error");
    let e = model
        .score(&batch(&model, &inputs, &[("plan", 4, J::Null)]))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Missing { column, row: 4, .. } if column == "plan"),
        "{e}"
    );
}

#[test]
fn the_keep_indexer_gives_unseen_and_null_labels_the_same_index() {
    // StringIndexer(city, handleInvalid='keep'): Spark indexes both as numLabels, so the
    // model cannot tell them apart; a known city gives a different answer.
    let (model, inputs) = load("mixed_onehot_logreg");
    let raw = |city: J| {
        let out = model
            .score(&batch(&model, &inputs, &[("city", 0, city)]))
            .unwrap();
        format!(
            "{:?}",
            out.column_by_name("rawPrediction").unwrap().slice(0, 1)
        )
    };
    let unseen = raw(J::from("atlantis"));
    assert_eq!(unseen, raw(J::Null));
    assert_eq!(unseen, raw(J::from("lyon")));
    assert_ne!(unseen, raw(J::from("paris")));
}

#[test]
fn nan_and_null_into_an_error_mode_assembler_name_column_and_row() {
    // VectorAssembler with Spark's default handleInvalid='error'.
    let (model, inputs) = load("cancer_logreg_binomial");
    let first = model.manifest().inputs[0].name.clone();
    for v in [J::from("NaN"), J::Null] {
        let e = model
            .score(&batch(&model, &inputs, &[(first.as_str(), 3, v)]))
            .unwrap_err();
        match &e {
            Error::Missing { column, row, node } => {
                assert_eq!((column.as_str(), *row), (first.as_str(), 3));
                assert!(node.starts_with("vectorassembler"), "node {node}");
            }
            other => panic!("expected Missing, got {other}"),
        }
    }
}

#[test]
fn a_value_outside_the_bucketizer_splits_is_refused_even_with_keep() {
    // Bucketizer(score: splits [0, 0.25, 0.5, 0.75, 1], handleInvalid='keep'): Spark keeps NaN
    // but fails on 1.5.
    let (model, inputs) = load("mixed_transforms");
    let ok = batch(&model, &inputs, &[("score", 0, J::from("NaN"))]);
    assert!(model.score(&ok).is_ok());
    let e = model
        .score(&batch(&model, &inputs, &[("score", 5, J::from(1.5))]))
        .unwrap_err();
    assert!(
        matches!(&e, Error::BadValue { column, row: 5, message } if column == "score" && message.contains("1.5")),
        "{e}"
    );
}
