//! Parity with the training frameworks: scores every checked-in fixture (`fixtures/sklearn/*`,
//! `fixtures/spark/*`) and compares each output with what scikit-learn or Spark itself
//! produced, under the fixture's named tolerance (`keel_runtime::tolerance`). Prints the
//! largest observed error per output, which is the table the closing notes report.
//!
//! Spark fixtures tell a SQL NULL (`null`) from a NaN (`"NaN"`), in inputs and outputs; the
//! scikit-learn ones record both as `null`, which the comparison then accepts for a NaN.

// Test helpers: a panic here is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field};
use keel_bundle::DType;
use keel_runtime::Model;
use keel_runtime::tolerance::Tolerance;
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixtures_dir(framework: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(framework)
}

fn num(v: &J) -> Option<f64> {
    match v {
        J::Null => None,
        J::Number(n) => n.as_f64(),
        J::String(s) if s == "Infinity" => Some(f64::INFINITY),
        J::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        J::String(s) if s == "NaN" => Some(f64::NAN),
        J::Bool(b) => Some(f64::from(u8::from(*b))),
        other => panic!("not a number: {other}"),
    }
}

/// Builds the input batch from a fixture's columnar JSON, typed by the bundle's schema.
fn input_batch(model: &Model, inputs: &serde_json::Map<String, J>) -> RecordBatch {
    let mut cols: Vec<ArrayRef> = Vec::new();
    for f in &model.manifest().inputs {
        let vals = inputs[&f.name].as_array().expect("column values");
        let arr: ArrayRef = match f.dtype {
            DType::F64 if f.shape.len() == 1 => {
                let width = i32::try_from(f.shape[0]).unwrap();
                let flat: Vec<Option<f64>> = vals
                    .iter()
                    .flat_map(|row| row.as_array().expect("vector row").iter().map(num))
                    .collect();
                Arc::new(FixedSizeListArray::new(
                    Arc::new(Field::new("item", DataType::Float64, false)),
                    width,
                    Arc::new(Float64Array::from(flat)),
                    None,
                ))
            }
            DType::F64 => Arc::new(Float64Array::from(vals.iter().map(num).collect::<Vec<_>>())),
            DType::F32 => Arc::new(Float32Array::from(
                vals.iter()
                    .map(|v| num(v).map(|x| x as f32))
                    .collect::<Vec<_>>(),
            )),
            DType::I64 | DType::I32 => Arc::new(Int64Array::from(
                vals.iter().map(|v| v.as_i64()).collect::<Vec<_>>(),
            )),
            DType::Bool => Arc::new(BooleanArray::from(
                vals.iter().map(|v| v.as_bool()).collect::<Vec<_>>(),
            )),
            DType::Utf8 => Arc::new(StringArray::from(
                vals.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
            )),
            DType::ListUtf8 => {
                // A JSON array of strings (or nulls) per row; a null row as null.
                let mut b = ListBuilder::new(StringBuilder::new());
                for row in vals {
                    match row {
                        J::Null => b.append_null(),
                        J::Array(items) => {
                            for item in items {
                                match item {
                                    J::Null => b.values().append_null(),
                                    J::String(s) => b.values().append_value(s),
                                    other => panic!("`{}`: not a string: {other}", f.name),
                                }
                            }
                            b.append(true);
                        }
                        other => panic!("`{}`: not a list: {other}", f.name),
                    }
                }
                Arc::new(b.finish())
            }
        };
        cols.push(arr);
    }
    RecordBatch::try_new(model.input_schema(), cols).expect("input batch")
}

/// Flattens one output column to (f64 values, string values) for comparison.
fn flatten(a: &ArrayRef) -> Vec<J> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return s
            .iter()
            .map(|v| v.map_or(J::Null, |x| J::String(x.into())))
            .collect();
    }
    if let Some(l) = a.as_list_opt::<i32>() {
        // Token lists: each row a JSON array of strings (null tokens as null), compared
        // element by element exactly (`compare` checks the lengths).
        return (0..l.len())
            .map(|i| {
                if l.is_null(i) {
                    return J::Null;
                }
                let v = l.value(i);
                J::Array(
                    v.as_string::<i32>()
                        .iter()
                        .map(|x| x.map_or(J::Null, |s| J::String(s.into())))
                        .collect(),
                )
            })
            .collect();
    }
    if let Some(l) = a.as_fixed_size_list_opt() {
        return (0..l.len())
            .map(|i| {
                let v = l.value(i);
                let p = v.as_primitive::<Float64Type>();
                J::Array(p.values().iter().map(|x| float_json(*x)).collect())
            })
            .collect();
    }
    if let Some(b) = a.as_boolean_opt() {
        return b.iter().map(|v| v.map_or(J::Null, J::Bool)).collect();
    }
    if let Some(p) = a.as_primitive_opt::<arrow_array::types::Int64Type>() {
        return p.iter().map(|v| v.map_or(J::Null, J::from)).collect();
    }
    if let Some(p) = a.as_primitive_opt::<arrow_array::types::Int32Type>() {
        return p.iter().map(|v| v.map_or(J::Null, J::from)).collect();
    }
    let p = a.as_primitive::<Float64Type>();
    p.iter().map(|v| v.map_or(J::Null, float_json)).collect()
}

/// A float as the fixtures write it: non-finite values as strings.
fn float_json(x: f64) -> J {
    if x.is_nan() {
        J::String("NaN".into())
    } else if x.is_infinite() {
        J::String(if x > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::json!(x)
    }
}

/// Compares one value; returns the absolute error for numbers (0 for equal labels). With
/// `strict_null`, a null matches only a null (Spark's NULL is not NaN).
fn compare(got: &J, want: &J, tol: Tolerance, ctx: &str, strict_null: bool) -> f64 {
    if strict_null {
        assert_eq!(got.is_null(), want.is_null(), "{ctx}: keel {got} vs {want}");
    }
    match (got, want) {
        (J::Array(g), J::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{ctx}: vector width (list length)");
            g.iter()
                .zip(w)
                .enumerate()
                .map(|(j, (a, b))| compare(a, b, tol, &format!("{ctx}[{j}]"), strict_null))
                .fold(0.0, f64::max)
        }
        (J::String(a), J::String(b)) if a != "NaN" || tol == Tolerance::Exact => {
            assert_eq!(a, b, "{ctx}");
            0.0
        }
        (J::Bool(a), J::Bool(b)) => {
            assert_eq!(a, b, "{ctx}");
            0.0
        }
        _ => {
            let (a, b) = (num(got).unwrap_or(f64::NAN), num(want).unwrap_or(f64::NAN));
            assert!(
                tol.accepts(a, b),
                "{ctx}: keel {a:e} vs reference {b:e} ({tol:?})"
            );
            if a.is_nan() && b.is_nan() {
                0.0
            } else {
                (a - b).abs()
            }
        }
    }
}

/// Scores every fixture under `fixtures/<framework>` and prints the table of largest errors.
fn check_folder(framework: &str, strict_null: bool) {
    let dir = fixtures_dir(framework);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("io.json").exists())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures found in {}", dir.display());
    println!(
        "{:<34} {:<14} {:>6} {:>12}  tolerance",
        "fixture", "output", "rows", "max |err|"
    );
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(case.join("model.keel")).expect("bundle");
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let io: J = serde_json::from_slice(&std::fs::read(case.join("io.json")).unwrap()).unwrap();
        let batch = input_batch(&model, io["inputs"].as_object().unwrap());
        let out = model
            .score(&batch)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = io["outputs"].as_object().unwrap();
        assert!(!expected.is_empty(), "{name}: no reference outputs");
        for (col, want) in expected {
            let tol_name = io["tolerance"][col]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no tolerance for {col}"));
            let tol = Tolerance::by_name(tol_name)
                .unwrap_or_else(|| panic!("unknown tolerance {tol_name}"));
            let got = out
                .column_by_name(col)
                .unwrap_or_else(|| panic!("{name}: keel has no output `{col}`"));
            let got = flatten(got);
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name}.{col}: rows");
            let mut max = 0.0f64;
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                max = max.max(compare(
                    g,
                    w,
                    tol,
                    &format!("{name}.{col} row {i}"),
                    strict_null,
                ));
            }
            println!(
                "{name:<34} {col:<14} {:>6} {max:>12.3e}  {tol_name}",
                got.len()
            );
        }
    }
}

#[test]
fn every_fixture_matches_scikit_learn() {
    check_folder("sklearn", false);
}

#[test]
fn every_spark_fixture_matches_spark() {
    check_folder("spark", true);
}
