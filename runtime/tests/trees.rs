//! Tree ops beyond the shared parity table: bit-exactness against scikit-learn where the
//! arithmetic is the same (tree leaves, forest averages, gradient-boosting sums), refusal at
//! load of malformed tree bundles (children or features out of range, cycles), and the input
//! errors scikit-learn raises (infinities, values too large for float32, NaN where boosting
//! refuses it).

// Test helpers: a panic here is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use keel_bundle::{Attr, Bundle, DType, Node, TensorDType, TensorWriter};
use keel_runtime::{Error, Model, Options};
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sklearn")
        .join(name)
}

fn load(name: &str) -> (Model, J, String) {
    let bytes = std::fs::read(fixture(name).join("model.keel")).expect("bundle");
    let text = std::fs::read_to_string(fixture(name).join("io.json")).expect("io.json");
    let io: J = serde_json::from_str(&text).expect("json");
    (Model::from_bytes(&bytes).expect("model"), io, text)
}

fn num(v: &J) -> Option<f64> {
    match v {
        J::Number(n) => n.as_f64(),
        J::String(s) if s == "Infinity" => Some(f64::INFINITY),
        J::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The fixture's inputs as a batch typed by the bundle's schema. Input numbers are exactly
/// representable short decimals or were printed from f32-free data, and a 1-ulp misreading
/// would only move a row across a threshold it sits on, so serde_json's parser is fine here.
fn batch(model: &Model, io: &J) -> RecordBatch {
    let inputs = io["inputs"].as_object().expect("inputs");
    let cols: Vec<ArrayRef> = model
        .manifest()
        .inputs
        .iter()
        .map(|f| {
            let vals = inputs[&f.name].as_array().expect("values");
            let a: ArrayRef = match f.dtype {
                DType::Utf8 => Arc::new(StringArray::from(
                    vals.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
                )),
                DType::I64 | DType::I32 => Arc::new(Int64Array::from(
                    vals.iter().map(|v| v.as_i64()).collect::<Vec<_>>(),
                )),
                _ => Arc::new(Float64Array::from(vals.iter().map(num).collect::<Vec<_>>())),
            };
            a
        })
        .collect();
    RecordBatch::try_new(model.input_schema(), cols).expect("batch")
}

/// The numbers of output `col` in io.json, read from the JSON text with Rust's correctly
/// rounded parser (serde_json's default parser may land 1 ulp away on 17-digit numbers).
fn exact_reference(text: &str, col: &str) -> Vec<f64> {
    let outputs = text.find("\"outputs\":").expect("outputs");
    let key = format!("\"{col}\":[");
    let start = outputs + text[outputs..].find(&key).expect("column") + key.len() - 1;
    let mut depth = 0;
    let mut end = start;
    for (i, ch) in text[start..].char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    end = start + i;
                    break;
                }
            }
            _ => {}
        }
    }
    text[start..=end]
        .split(['[', ']', ','])
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f64>()
                .unwrap_or_else(|_| panic!("not a number: {s}"))
        })
        .collect()
}

fn flat(a: &ArrayRef) -> Vec<f64> {
    if let Some(l) = a.as_fixed_size_list_opt() {
        return l.values().as_primitive::<Float64Type>().values().to_vec();
    }
    a.as_primitive::<Float64Type>().values().to_vec()
}

/// Where keel performs scikit-learn's own operations in scikit-learn's order (a leaf's value,
/// forest sums divided by the tree count, init + learning_rate * value stage by stage, HGB
/// baseline + leaf values), the outputs are equal to the bit.
#[test]
fn tree_outputs_are_bit_exact() {
    for (name, col) in [
        ("iris_tree", "probability"),
        ("diabetes_tree_reg", "prediction"),
        ("breast_cancer_rf_nan", "probability"),
        ("breast_cancer_rf_nan_fit", "probability"),
        ("diabetes_extra_trees", "prediction"),
        ("diabetes_gb_reg", "prediction"),
        ("diabetes_gb_huber", "prediction"),
        ("int_cats_hgb_reg", "prediction"),
    ] {
        let (model, io, text) = load(name);
        let out = model.score(&batch(&model, &io)).expect("score");
        let got = flat(out.column_by_name(col).expect("output"));
        let want = exact_reference(&text, col);
        assert_eq!(got.len(), want.len(), "{name}.{col}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{name}.{col}[{i}]: keel {g:e} vs scikit-learn {w:e}"
            );
        }
    }
}

/// Batches of fewer than 8 rows take the kernel's other path (one row walks 8 trees at once);
/// every slice of a fixture must score exactly as the same rows inside the whole batch.
#[test]
fn small_batches_match_the_whole_batch() {
    for name in [
        "iris_tree",
        "breast_cancer_rf_nan",
        "breast_cancer_rf_nan_fit",
        "diabetes_extra_trees",
        "breast_cancer_gb",
        "wine_gb",
        "diabetes_gb_reg",
        "mixed_hgb_clf",
        "int_cats_hgb_reg",
    ] {
        let (model, io, _) = load(name);
        let all = batch(&model, &io);
        let whole = model.score(&all).expect("score");
        for (offset, len) in [(0, 1), (5, 1), (2, 3), (10, 7), (20, 8), (30, 9), (40, 17)] {
            let part = model.score(&all.slice(offset, len)).expect("score");
            for (i, col) in part.columns().iter().enumerate() {
                let want = whole.column(i).slice(offset, len);
                assert!(
                    col.as_ref() == want.as_ref(),
                    "{name}: rows {offset}..{}, output {i}",
                    offset + len
                );
            }
        }
    }
}

// -- malformed bundles --------------------------------------------------------------------

fn find_node<'a>(n: &'a mut Node, op: &str) -> Option<&'a mut Node> {
    if n.op == op {
        return Some(n);
    }
    n.children.iter_mut().find_map(|c| find_node(c, op))
}

/// Rebuilds fixture `name` with attribute `attr` of its `op` node (inline integers or an
/// integer tensor, which keeps its dtype) changed by `edit`, through `Bundle::new`.
fn corrupt(name: &str, op: &str, attr: &str, edit: &dyn Fn(&mut Vec<i64>)) -> Result<Model, Error> {
    let bytes = std::fs::read(fixture(name).join("model.keel")).expect("bundle");
    let b = Bundle::from_bytes(&bytes).expect("bundle");
    let mut graph = b.graph.clone();
    let node = find_node(&mut graph, op).expect("node");
    let keep = |b: &Bundle| -> Vec<(String, Vec<u8>)> {
        b.tensors
            .iter()
            .map(|(p, f)| (p.clone(), f.bytes().to_vec()))
            .collect()
    };
    let r = match node.attrs.get_mut(attr) {
        Some(Attr::I64s(v)) => {
            // Short arrays are inline in the graph.
            edit(v);
            let bundle = Bundle::new(b.manifest.clone(), graph, keep(&b)).expect("valid container");
            return Model::from_bundle(&bundle, &Options::default());
        }
        Some(Attr::Tensor(r)) => r.clone(),
        other => panic!("{attr} is {other:?}"),
    };
    let file = &b.tensors[&r.file];
    let mut w = TensorWriter::new();
    for key in file.keys() {
        let v = file.get(key).expect("tensor");
        if key != r.key {
            w.raw(key, v.dtype, v.shape, v.data.to_vec());
            continue;
        }
        let mut vals = v.to_i64_any().expect("integers");
        edit(&mut vals);
        let bytes = match v.dtype {
            TensorDType::I32 => vals
                .iter()
                .flat_map(|&x| (x as i32).to_le_bytes())
                .collect(),
            TensorDType::I64 => vals.iter().flat_map(|&x| x.to_le_bytes()).collect(),
            other => panic!("{attr}: unexpected dtype {other:?}"),
        };
        w.raw(key, v.dtype, v.shape, bytes);
    }
    let tensors = vec![(r.file.clone(), w.finish().expect("safetensors"))];
    let bundle = Bundle::new(b.manifest.clone(), graph, tensors).expect("valid container");
    Model::from_bundle(&bundle, &Options::default())
}

fn expect_plan(r: Result<Model, Error>, needle: &str) {
    match r {
        Err(Error::Plan { message, .. }) => assert!(
            message.contains(needle),
            "message `{message}` lacks `{needle}`"
        ),
        other => panic!("expected a plan error about `{needle}`, got {other:?}"),
    }
}

#[test]
fn malformed_tree_bundles_are_refused_at_load() {
    let rf = "breast_cancer_rf_nan";
    let te = "sklearn.tree_ensemble";
    // The untouched bundle loads: the refusals below come from the edits.
    assert!(corrupt(rf, te, "left", &|_| {}).is_ok());
    expect_plan(
        corrupt(rf, te, "left", &|v| v[0] = 10_000),
        "`left` = 10000 is outside",
    );
    expect_plan(
        corrupt(rf, te, "right", &|v| v[0] = -7),
        "`right` = -7 is outside",
    );
    expect_plan(
        corrupt(rf, te, "feature", &|v| v[0] = 30),
        "`feature` = 30 is outside the 30 input features",
    );
    // A child pointing back at the root: a cycle, which would walk forever.
    expect_plan(
        corrupt(rf, te, "right", &|v| {
            let i = v.iter().position(|&c| c > 0).expect("an internal node");
            v[i + 1] = 0;
        }),
        "reached twice",
    );
    // Node counts that do not add up to the node arrays.
    let gb = "diabetes_gb_reg";
    expect_plan(corrupt(gb, te, "tree_nodes", &|v| v[0] += 1), "adds up to");
    expect_plan(
        corrupt(gb, te, "tree_target", &|v| v[3] = 1),
        "`tree_target` 1 is outside",
    );

    let hgb = "mixed_hgb_clf";
    let op = "sklearn.hist_gradient_boosting";
    assert!(corrupt(hgb, op, "feature", &|_| {}).is_ok());
    expect_plan(
        corrupt(hgb, op, "feature", &|v| v[0] = 99),
        "`feature` = 99 is outside",
    );
    expect_plan(
        corrupt(hgb, op, "left", &|v| v[0] = 1 << 20),
        "is outside the tree's",
    );
    expect_plan(
        corrupt(hgb, op, "bitset_idx", &|v| {
            v.iter_mut().for_each(|b| *b = 1 << 20)
        }),
        "`bitset_idx` = 1048576 is outside",
    );
}

// -- input errors -------------------------------------------------------------------------

/// The fixture's batch with column `col`, row `row` set to `value`.
fn with_value(model: &Model, io: &J, col: &str, row: usize, value: f64) -> RecordBatch {
    let b = batch(model, io);
    let idx = b.schema().index_of(col).expect("column");
    let mut cols = b.columns().to_vec();
    let mut vals: Vec<Option<f64>> = cols[idx].as_primitive::<Float64Type>().iter().collect();
    vals[row] = Some(value);
    cols[idx] = Arc::new(Float64Array::from(vals));
    RecordBatch::try_new(b.schema(), cols).expect("batch")
}

#[test]
fn infinities_are_refused_naming_feature_and_row() {
    let (model, io, _) = load("breast_cancer_rf_nan");
    for value in [f64::INFINITY, f64::NEG_INFINITY, 1e300] {
        match model.score(&with_value(&model, &io, "mean area", 3, value)) {
            Err(Error::NonFinite {
                column, row, node, ..
            }) => {
                assert_eq!((column.as_str(), row), ("mean area", 3));
                assert!(!node.is_empty());
            }
            other => panic!("{value}: expected NonFinite, got {other:?}"),
        }
    }
    // Gradient boosting refuses NaN (its decision_function validates with allow_nan=False).
    let (model, io, _) = load("diabetes_gb_reg");
    match model.score(&with_value(&model, &io, "bmi", 5, f64::NAN)) {
        Err(Error::Missing { column, row, .. }) => assert_eq!((column.as_str(), row), ("bmi", 5)),
        other => panic!("expected Missing, got {other:?}"),
    }
}

// -- timing (not a pass/fail criterion) ---------------------------------------------------

/// Times scoring of a real forest, and checks it against scikit-learn's predictions to the bit.
/// Run in release with a directory made by the snippet below:
///
/// ```text
/// KEEL_TREE_BENCH=/tmp/treebench cargo test --release -p keel-runtime --test trees -- --ignored --nocapture
/// ```
///
/// The directory holds `rf.keel` (a regressor exported with `keel.sklearn.export`), `x.f64`
/// (its inputs, row-major little-endian f64, as wide as the bundle's inputs) and `y.f64`
/// (`est.predict` on them), e.g. from
/// `RandomForestRegressor(n_estimators=100, max_depth=10).fit(X, y)` on
/// `fixtures/data.py::airbnb_frame`'s numeric columns and
/// `X.to_numpy().tofile("x.f64"); est.predict(X).tofile("y.f64")`.
#[test]
#[ignore = "timing; needs KEEL_TREE_BENCH (see the doc comment)"]
fn forest_scoring_speed() {
    let Ok(dir) = std::env::var("KEEL_TREE_BENCH") else {
        println!("KEEL_TREE_BENCH is not set: nothing to time");
        return;
    };
    let dir = PathBuf::from(dir);
    let model =
        Model::from_bytes(&std::fs::read(dir.join("rf.keel")).expect("rf.keel")).expect("model");
    let read = |name: &str| -> Vec<f64> {
        std::fs::read(dir.join(name))
            .expect("data file")
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    };
    let (x, y) = (read("x.f64"), read("y.f64"));
    let width = model.manifest().inputs.len();
    let rows = y.len();
    assert_eq!(x.len(), rows * width);
    let make = |r0: usize, r1: usize| -> RecordBatch {
        let cols: Vec<ArrayRef> = (0..width)
            .map(|j| {
                Arc::new(Float64Array::from_iter_values(
                    (r0..r1).map(|r| x[r * width + j]),
                )) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(model.input_schema(), cols).expect("batch")
    };
    let all = make(0, rows);
    let out = model.score(&all).expect("score");
    let got = flat(out.column(0));
    assert!(
        got.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
        "predictions differ from scikit-learn"
    );

    let reps = 5;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        std::hint::black_box(model.score(&all).expect("score"));
    }
    let per_row = t.elapsed().as_secs_f64() / (reps * rows) as f64;
    println!("batch of {rows}: {:.0} ns/row", per_row * 1e9);

    let singles: Vec<RecordBatch> = (0..1000).map(|r| make(r, r + 1)).collect();
    for b in &singles {
        std::hint::black_box(model.score(b).expect("score"));
    }
    let n = 20_000;
    let t = std::time::Instant::now();
    for i in 0..n {
        std::hint::black_box(model.score(&singles[i % singles.len()]).expect("score"));
    }
    println!(
        "single row: {:.2} us/call",
        t.elapsed().as_secs_f64() / n as f64 * 1e6
    );
}
