#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The MLeap fixtures (`fixtures/mleap/<case>/{bundle.zip,io.json}`): pipelines fitted by real
//! Spark, their MLeap bundles written by `fixtures/generate_mleap.py` in MLeap's Bundle.ML
//! layout (not by MLeap) from the fitted parameters, and Spark's own `transform` outputs. Each
//! bundle is imported, scored and compared with Spark's outputs under the case's tolerance;
//! then re-encoded into the protobuf format (`support::to_protobuf`) and checked to score
//! bit-for-bit the same. Prints the largest error per output.

mod support;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use keel_bundle::DType;
use keel_import::mleap;
use keel_runtime::tolerance::Tolerance;
use keel_runtime::{Model, Options};
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn num(v: &J) -> Option<f64> {
    match v {
        J::Null => None,
        J::Number(n) => n.as_f64(),
        J::String(s) if s == "Infinity" => Some(f64::INFINITY),
        J::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        J::String(s) if s == "NaN" => Some(f64::NAN),
        other => panic!("not a number: {other}"),
    }
}

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
                    Arc::new(arrow_schema::Field::new(
                        "item",
                        arrow_schema::DataType::Float64,
                        false,
                    )),
                    width,
                    Arc::new(Float64Array::from(flat)),
                    None,
                ))
            }
            DType::F64 => Arc::new(Float64Array::from(vals.iter().map(num).collect::<Vec<_>>())),
            DType::I64 | DType::I32 => Arc::new(Int64Array::from(
                vals.iter().map(|v| v.as_i64()).collect::<Vec<_>>(),
            )),
            DType::Utf8 => Arc::new(StringArray::from(
                vals.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
            )),
            other => panic!("input dtype {other:?}"),
        };
        cols.push(arr);
    }
    RecordBatch::try_new(model.input_schema(), cols).expect("input batch")
}

fn flatten(a: &ArrayRef) -> Vec<J> {
    let float = |x: f64| {
        if x.is_nan() {
            J::String("NaN".into())
        } else {
            serde_json::json!(x)
        }
    };
    if let Some(s) = a.as_string_opt::<i32>() {
        return s
            .iter()
            .map(|v| v.map_or(J::Null, |x| J::String(x.into())))
            .collect();
    }
    if let Some(l) = a.as_fixed_size_list_opt() {
        return (0..l.len())
            .map(|i| {
                let v = l.value(i);
                J::Array(
                    v.as_primitive::<Float64Type>()
                        .values()
                        .iter()
                        .map(|x| float(*x))
                        .collect(),
                )
            })
            .collect();
    }
    if let Some(p) = a.as_primitive_opt::<Int32Type>() {
        return p.iter().map(|v| v.map_or(J::Null, J::from)).collect();
    }
    if let Some(p) = a.as_primitive_opt::<Int64Type>() {
        return p.iter().map(|v| v.map_or(J::Null, J::from)).collect();
    }
    a.as_primitive::<Float64Type>()
        .iter()
        .map(|v| v.map_or(J::Null, float))
        .collect()
}

fn compare(got: &J, want: &J, tol: Tolerance, ctx: &str) -> f64 {
    assert_eq!(got.is_null(), want.is_null(), "{ctx}: keel {got} vs {want}");
    match (got, want) {
        (J::Array(g), J::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{ctx}: vector width");
            g.iter()
                .zip(w)
                .enumerate()
                .map(|(j, (a, b))| compare(a, b, tol, &format!("{ctx}[{j}]")))
                .fold(0.0, f64::max)
        }
        (J::String(a), J::String(b)) if a != "NaN" => {
            assert_eq!(a, b, "{ctx}");
            0.0
        }
        (J::Null, J::Null) => 0.0,
        _ => {
            let (a, b) = (num(got).unwrap(), num(want).unwrap());
            assert!(
                tol.accepts(a, b),
                "{ctx}: keel {a:e} vs Spark {b:e} ({tol:?})"
            );
            if a.is_nan() && b.is_nan() {
                0.0
            } else {
                (a - b).abs()
            }
        }
    }
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/mleap");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("io.json").exists())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {}", dir.display());
    cases
}

fn score(bytes: &[u8], io: &J, name: &str) -> RecordBatch {
    let bundle = mleap::read(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let model =
        Model::from_bundle(&bundle, &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let batch = input_batch(&model, io["inputs"].as_object().unwrap());
    model
        .score(&batch)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_mleap_fixture_matches_spark_in_json_and_protobuf() {
    println!(
        "{:<34} {:<18} {:>6} {:>12}  tolerance",
        "fixture", "output", "rows", "max |err|"
    );
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(case.join("bundle.zip")).unwrap();
        let io: J = serde_json::from_slice(&std::fs::read(case.join("io.json")).unwrap()).unwrap();
        let out = score(&bytes, &io, &name);
        let out_pb = score(
            &support::to_protobuf(&bytes),
            &io,
            &format!("{name} (protobuf)"),
        );
        let expected = io["outputs"].as_object().unwrap();
        assert!(!expected.is_empty(), "{name}: no reference outputs");
        for (col, want) in expected {
            let tol_name = io["tolerance"][col].as_str().unwrap();
            let tol = Tolerance::by_name(tol_name).unwrap();
            let got = flatten(
                out.column_by_name(col)
                    .unwrap_or_else(|| panic!("{name}: keel has no output `{col}`")),
            );
            let got_pb = flatten(out_pb.column_by_name(col).unwrap());
            assert_eq!(
                got, got_pb,
                "{name}.{col}: protobuf and JSON bundles differ"
            );
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name}.{col}: rows");
            let mut max = 0.0f64;
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                max = max.max(compare(g, w, tol, &format!("{name}.{col} row {i}")));
            }
            println!(
                "{name:<34} {col:<18} {:>6} {max:>12.3e}  {tol_name}",
                got.len()
            );
        }
    }
}
