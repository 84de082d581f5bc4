//! Bad input through real preprocessing bundles (exported by keel from fitted scikit-learn
//! pipelines, `fixtures/sklearn/*`): every refusal must name what a user can act on, the
//! column (feature) and the row, and come at the earliest moment scikit-learn would refuse.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use keel_bundle::{Bundle, DType};
use keel_runtime::{Error, Model, Options};
use std::path::Path;
use std::sync::Arc;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sklearn")
        .join(name)
        .join("model.keel");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A frame for `mixed_ohe_error_linreg` (inputs `age`, `income`, `room`, `plan`).
fn mixed_frame(model: &Model, age: &[f64], room: &[&str]) -> RecordBatch {
    let n = age.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(age.to_vec())),
        Arc::new(Float64Array::from(vec![20_000.0; n])),
        Arc::new(StringArray::from(room.to_vec())),
        Arc::new(StringArray::from(vec!["basic"; n])),
    ];
    RecordBatch::try_new(model.input_schema(), cols).unwrap()
}

#[test]
fn unknown_category_with_handle_unknown_error_names_column_row_and_value() {
    let model = Model::from_bytes(&fixture("mixed_ohe_error_linreg")).unwrap();
    let ok = mixed_frame(
        &model,
        &[30.0, 40.0, 50.0],
        &["entire", "private", "shared"],
    );
    assert!(model.score(&ok).is_ok());
    let bad = mixed_frame(
        &model,
        &[30.0, 40.0, 50.0],
        &["entire", "private", "castle"],
    );
    match model.score(&bad).unwrap_err() {
        Error::UnknownCategory {
            column,
            row,
            value,
            node,
        } => {
            assert_eq!(column, "room");
            assert_eq!(row, 2);
            assert_eq!(value, "castle");
            assert!(node.starts_with("one_hot_encoder"), "node {node}");
        }
        other => panic!("expected UnknownCategory, got {other}"),
    }
}

#[test]
fn nan_into_a_stage_that_refuses_it_names_feature_and_row() {
    // StandardScaler lets NaN through (as scikit-learn does); the Ridge after it refuses it.
    let model = Model::from_bytes(&fixture("mixed_ohe_error_linreg")).unwrap();
    let bad = mixed_frame(&model, &[30.0, f64::NAN], &["entire", "private"]);
    let e = model.score(&bad).unwrap_err();
    match &e {
        Error::Missing { column, row, node } => {
            assert_eq!((column.as_str(), *row), ("age", 1));
            assert!(node.starts_with("ridge"), "node {node}");
        }
        other => panic!("expected Missing, got {other}"),
    }
    assert!(e.to_string().contains("row 1, column `age`"), "{e}");
}

#[test]
fn nan_into_pca_is_refused_at_the_pca() {
    let bytes = fixture("digits_pca_logreg");
    let model = Model::from_bytes(&bytes).unwrap();
    let n = model.manifest().inputs.len();
    let mut cols: Vec<ArrayRef> = (0..n)
        .map(|_| Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef)
        .collect();
    cols[9] = Arc::new(Float64Array::from(vec![Some(1.0), None]));
    let batch = RecordBatch::try_new(model.input_schema(), cols).unwrap();
    match model.score(&batch).unwrap_err() {
        Error::Missing { column, row, node } => {
            assert_eq!(column, model.manifest().inputs[9].name);
            assert_eq!(row, 1);
            assert!(node.starts_with("pca"), "node {node}");
        }
        other => panic!("expected Missing, got {other}"),
    }
}

#[test]
fn a_string_where_a_number_is_needed_is_refused_at_plan_time() {
    let mut bundle = Bundle::from_bytes(&fixture("mixed_ohe_error_linreg")).unwrap();
    let age = bundle
        .manifest
        .inputs
        .iter_mut()
        .find(|f| f.name == "age")
        .unwrap();
    age.dtype = DType::Utf8;
    let e = Model::from_bundle(&bundle, &Options::default()).unwrap_err();
    assert!(matches!(e, Error::Plan { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("needs numbers") && msg.contains("`age`"),
        "{msg}"
    );
}

#[test]
fn numbers_where_strings_were_fitted_are_refused_at_plan_time() {
    let mut bundle = Bundle::from_bytes(&fixture("mixed_ohe_error_linreg")).unwrap();
    let room = bundle
        .manifest
        .inputs
        .iter_mut()
        .find(|f| f.name == "room")
        .unwrap();
    room.dtype = DType::F64;
    let e = Model::from_bundle(&bundle, &Options::default()).unwrap_err();
    assert!(matches!(e, Error::Plan { .. }), "{e}");
    assert!(
        e.to_string().contains("`room` was fitted on strings"),
        "{e}"
    );
}
