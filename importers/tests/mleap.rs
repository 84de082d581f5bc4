#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! MLeap importer tests: the real AirBnB bundles from the shared compatibility corpus scored by
//! keel against predictions computed here, independently, from the bundles' own JSON
//! parameters (MLeap bundles ship no reference outputs); the same bundles re-encoded into the
//! protobuf format (by `support::to_protobuf`, as the corpus has no protobuf bundle) scored
//! identically; and malformed bundles refused by name.

mod support;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use keel_bundle::Limits;
use keel_import::mleap::{self, ImportError};
use keel_runtime::tolerance::Tolerance;
use keel_runtime::{Model, Options};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn corpus() -> Option<PathBuf> {
    // `shared/` sits beside the repository (and one level higher for a worktree in `wt/`).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        root.join("../../shared/compat/mleap"),
        root.join("../../../shared/compat/mleap"),
    ];
    let found = dirs.iter().find(|d| d.join("airbnb.model.lr.zip").exists());
    if found.is_none() {
        eprintln!("SKIP: the MLeap corpus is absent (looked in {dirs:?})");
    }
    found.cloned()
}

fn zip_json(bytes: &[u8], path: &str) -> Value {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut s = String::new();
    z.by_name(path).unwrap().read_to_string(&mut s).unwrap();
    serde_json::from_str(&s).unwrap()
}

fn zip_text(bytes: &[u8], path: &str) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut s = String::new();
    z.by_name(path).unwrap().read_to_string(&mut s).unwrap();
    s
}

/// The AirBnB LeapFrame's one row as (column, value).
fn frame(dir: &Path) -> Vec<(String, Value)> {
    let f: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("frame.airbnb.json")).unwrap())
            .unwrap();
    let fields = f["schema"]["fields"].as_array().unwrap();
    let row = f["rows"][0].as_array().unwrap();
    fields
        .iter()
        .zip(row)
        .map(|(fl, v)| (fl["name"].as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// Scores the row with the converted bundle, feeding the columns the bundle declares.
fn score(bundle: &keel_bundle::Bundle, row: &[(String, Value)]) -> f64 {
    let model = Model::from_bundle(bundle, &Options::default()).unwrap();
    let cols: Vec<(String, ArrayRef)> = bundle
        .manifest
        .inputs
        .iter()
        .map(|f| {
            let v = &row.iter().find(|(n, _)| *n == f.name).unwrap().1;
            let a: ArrayRef = match v {
                Value::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
                v => Arc::new(Float64Array::from(vec![v.as_f64().unwrap()])),
            };
            (f.name.clone(), a)
        })
        .collect();
    let out = model
        .score(&RecordBatch::try_from_iter(cols).unwrap())
        .unwrap();
    let col = out.column_by_name("price_prediction").unwrap();
    col.as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0)
}

const CONTINUOUS: [&str; 8] = [
    "bathrooms",
    "bedrooms",
    "security_deposit",
    "cleaning_fee",
    "extra_people",
    "number_of_reviews",
    "square_feet",
    "review_scores_rating",
];
const STRINGS: [&str; 5] = [
    "room_type",
    "host_is_superhost",
    "cancellation_policy",
    "instant_bookable",
    "state",
];

fn num(row: &[(String, Value)], c: &str) -> f64 {
    row.iter()
        .find(|(n, _)| n == c)
        .unwrap()
        .1
        .as_f64()
        .unwrap()
}

fn index(bytes: &[u8], row: &[(String, Value)], c: &str) -> usize {
    let m = zip_json(
        bytes,
        &format!("root/feature_pipeline.node/string_indexer_{c}.node/model.json"),
    );
    let v = row
        .iter()
        .find(|(n, _)| n == c)
        .unwrap()
        .1
        .as_str()
        .unwrap();
    m["attributes"]["labels"]["string"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l.as_str() == Some(v))
        .unwrap()
}

fn scaled(bytes: &[u8], row: &[(String, Value)]) -> Vec<f64> {
    let m = zip_json(
        bytes,
        "root/feature_pipeline.node/continuous_feature_scaler.node/model.json",
    );
    let std = m["attributes"]["std"]["double"].as_array().unwrap();
    CONTINUOUS
        .iter()
        .zip(std)
        .map(|(c, s)| num(row, c) / s.as_f64().unwrap())
        .collect()
}

#[test]
fn airbnb_linear_regression_matches_hand_computation() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("airbnb.model.lr.zip")).unwrap();
    let row = frame(&dir);
    // Features: one-hot of each indexed string (MLeap's `size` wide, index >= size empty),
    // then the scaled continuous block, in the assembler's order.
    let mut x = Vec::new();
    for c in STRINGS {
        let m = zip_json(
            &bytes,
            &format!("root/feature_pipeline.node/oh_encoder_{c}_index.node/model.json"),
        );
        let size = m["attributes"]["size"]["long"].as_u64().unwrap() as usize;
        let i = index(&bytes, &row, c);
        x.extend((0..size).map(|k| if k == i { 1.0 } else { 0.0 }));
    }
    x.extend(scaled(&bytes, &row));
    let lr = zip_json(&bytes, "root/linear_regression.node/model.json");
    let coef: Vec<f64> = lr["attributes"]["coefficients"]["double"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(coef.len(), x.len());
    let expected = coef.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>()
        + lr["attributes"]["intercept"]["double"].as_f64().unwrap();

    let bundle = mleap::read(&bytes).unwrap();
    assert_eq!(bundle.manifest.outputs.len(), 1);
    assert_eq!(bundle.manifest.outputs[0].name, "price_prediction");
    assert_eq!(bundle.manifest.inputs.len(), 13);
    let got = score(&bundle, &row);
    eprintln!(
        "airbnb lr: keel {got} expected {expected} (err {:e})",
        (got - expected).abs()
    );
    assert!(
        Tolerance::F64_LINEAR.accepts(got, expected),
        "{got} vs {expected}"
    );
    // The same bundle in the protobuf format: the same inputs, outputs and number.
    let pb = mleap::read(&support::to_protobuf(&bytes)).unwrap();
    assert_eq!(pb.manifest.inputs, bundle.manifest.inputs);
    assert_eq!(pb.manifest.outputs, bundle.manifest.outputs);
    assert_eq!(score(&pb, &row).to_bits(), got.to_bits());
}

fn walk(lines: &[Value], i: usize, x: &[f64]) -> (f64, usize) {
    // Returns (prediction, index after this subtree) so the right child can be found.
    fn skip(lines: &[Value], i: usize) -> usize {
        if lines[i]["type"] == "leaf" {
            i + 1
        } else {
            let r = skip(lines, i + 1);
            skip(lines, r)
        }
    }
    let n = &lines[i];
    if n["type"] == "leaf" {
        return (n["values"][0].as_f64().unwrap(), i + 1);
    }
    let s = &n["split"];
    let f = x[s["featureIndex"].as_u64().unwrap() as usize];
    let left = if s["type"] == "continuous" {
        f <= s["threshold"].as_f64().unwrap()
    } else {
        let has = s["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_f64() == Some(f));
        if s["isLeft"].as_bool().unwrap() {
            has
        } else {
            !has
        }
    };
    let right = skip(lines, i + 1);
    if left {
        (walk(lines, i + 1, x).0, skip(lines, right))
    } else {
        (walk(lines, right, x).0, skip(lines, right))
    }
}

#[test]
fn airbnb_random_forest_matches_tree_walk() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("airbnb.model.rf.zip")).unwrap();
    let row = frame(&dir);
    let mut x: Vec<f64> = STRINGS
        .iter()
        .map(|c| index(&bytes, &row, c) as f64)
        .collect();
    x.extend(scaled(&bytes, &row));
    let m = zip_json(&bytes, "root/rfr_5af14f58ae5f.node/model.json");
    let trees = m["attributes"]["trees"]["string"].as_array().unwrap();
    let mut sum = 0.0;
    for t in trees {
        let text = zip_text(
            &bytes,
            &format!(
                "root/rfr_5af14f58ae5f.node/{}/tree.json",
                t.as_str().unwrap()
            ),
        );
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        sum += walk(&lines, 0, &x).0;
    }
    let expected = sum / trees.len() as f64;
    let bundle = mleap::read(&bytes).unwrap();
    let got = score(&bundle, &row);
    eprintln!(
        "airbnb rf: keel {got} expected {expected} (err {:e})",
        (got - expected).abs()
    );
    assert!(
        Tolerance::F64_LINEAR.accepts(got, expected),
        "{got} vs {expected}"
    );
    // Protobuf re-encoding: `tree.pb` files (categorical and continuous splits) and `model.pb`
    // with string lists and double lists; the same number.
    let pb_zip = support::to_protobuf(&bytes);
    assert!(zip_has(&pb_zip, "root/rfr_5af14f58ae5f.node/tree0/tree.pb"));
    assert!(!zip_has(
        &pb_zip,
        "root/rfr_5af14f58ae5f.node/tree0/tree.json"
    ));
    let pb = mleap::read(&pb_zip).unwrap();
    assert_eq!(score(&pb, &row).to_bits(), got.to_bits());
}

fn zip_has(bytes: &[u8], path: &str) -> bool {
    zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .unwrap()
        .index_for_name(path)
        .is_some()
}

#[test]
fn protobuf_bundles_refuse_bad_messages_by_entry() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("demo.zip")).unwrap();
    let pb = support::to_protobuf(&bytes);
    // Replace the root model.pb with bytes that are not a protobuf message.
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(pb.as_slice())).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if name == "root/model.pb" {
            data = vec![0xff, 0xff, 0xff];
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&data).unwrap();
    }
    let broken = out.finish().unwrap().into_inner();
    match mleap::read(&broken).unwrap_err() {
        ImportError::Malformed { entry, message } => {
            assert_eq!(entry, "root/model.pb");
            assert!(message.contains("protobuf"), "{message}");
        }
        e => panic!("{e}"),
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn demo_scaler_and_linear_regression_match_hand_computation() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("demo.zip")).unwrap();
    let pipe = "root/pipeline_7a70b6f0-bd53-11e7-9103-6c40089417e6.node";
    let sc = zip_json(
        &bytes,
        &format!("{pipe}/standard_scaler_7a70a387-bd53-11e7-b831-6c40089417e6.node/model.json"),
    );
    let (mean, std) = (
        f64s(&sc["attributes"]["mean"]["double"]),
        f64s(&sc["attributes"]["std"]["double"]),
    );
    let lr = zip_json(
        &bytes,
        "root/linear_regression_7a70b7fd-bd53-11e7-8c89-6c40089417e6.node/model.json",
    );
    let coef = f64s(&lr["attributes"]["coefficients"]["double"]);
    let intercept = lr["attributes"]["intercept"]["double"].as_f64().unwrap();
    let x = [0.5, -1.25, 2.0];
    let expected = (0..3)
        .map(|i| (x[i] - mean[i]) / std[i] * coef[i])
        .sum::<f64>()
        + intercept;
    let bundle = mleap::read(&bytes).unwrap();
    let names: Vec<&str> = bundle
        .manifest
        .inputs
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["demo:a", "demo:c", "demo:d"]);
    let model = Model::from_bundle(&bundle, &Options::default()).unwrap();
    let batch = RecordBatch::try_from_iter(
        names
            .iter()
            .zip(x)
            .map(|(n, v)| (*n, Arc::new(Float64Array::from(vec![v])) as ArrayRef)),
    )
    .unwrap();
    let out = model.score(&batch).unwrap();
    let got = out
        .column_by_name("demo:prediction")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0);
    assert!(
        Tolerance::F64_LINEAR.accepts(got, expected),
        "{got} vs {expected}"
    );
    // The protobuf re-encoding (tensors packed big-endian) scores the same.
    let pb = mleap::read(&support::to_protobuf(&bytes)).unwrap();
    let out = Model::from_bundle(&pb, &Options::default())
        .unwrap()
        .score(&batch)
        .unwrap();
    let got_pb = out
        .column_by_name("demo:prediction")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0);
    assert_eq!(got_pb.to_bits(), got.to_bits());
}

#[test]
fn mleap_one_hot_size_drops_the_index_equal_to_size() {
    // MLeap 0.8's encoder: `size` elements, index `i < size` lit, the index `size` (here the
    // unseen category of a `keep` indexer over 3 labels) an empty vector.
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("one_hot_encoder_pipeline.zip")).unwrap();
    let bundle = mleap::read(&bytes).unwrap();
    let model = Model::from_bundle(&bundle, &Options::default()).unwrap();
    let batch = RecordBatch::try_from_iter([(
        "col_1",
        Arc::new(StringArray::from(vec!["A", "C", "unseen"])) as ArrayRef,
    )])
    .unwrap();
    let out = model.score(&batch).unwrap();
    let y = out.column_by_name("col_1_label_one_hot_encoded").unwrap();
    let y = y
        .as_any()
        .downcast_ref::<arrow_array::FixedSizeListArray>()
        .unwrap();
    let rows: Vec<Vec<f64>> = (0..3)
        .map(|r| {
            let v = y.value(r);
            v.as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(
        rows,
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]].map(|r| r.to_vec())
    );
}

#[test]
fn other_corpus_bundles_convert_and_load() {
    let Some(dir) = corpus() else { return };
    for (file, output) in [
        ("demo.zip", "demo:prediction"),
        (
            "one_hot_encoder_pipeline.zip",
            "col_1_label_one_hot_encoded",
        ),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let bundle = mleap::read(&bytes).unwrap();
        assert_eq!(bundle.manifest.outputs[0].name, output, "{file}");
        Model::from_bundle(&bundle, &Options::default()).unwrap();
    }
}

/// A small MLeap bundle: one string indexer, with `files` overriding or adding entries.
fn crafted(files: &[(&str, &str)]) -> Vec<u8> {
    let mut base: Vec<(String, String)> = vec![
        ("bundle.json".into(), r#"{"format":"json","name":"p","uid":"u","version":"0.8.1","timestamp":"2018-10-11T21:34:08.894814"}"#.into()),
        ("root/model.json".into(), r#"{"op":"pipeline","attributes":{"nodes":{"type":"list","string":["si"]}}}"#.into()),
        ("root/node.json".into(), r#"{"name":"p","shape":{"inputs":[],"outputs":[]}}"#.into()),
        ("root/si.node/model.json".into(), r#"{"op":"string_indexer","attributes":{"labels":{"type":"list","string":["a","b"]},"handle_invalid":{"string":"keep"}}}"#.into()),
        ("root/si.node/node.json".into(), r#"{"name":"si","shape":{"inputs":[{"port":"input","name":"c"}],"outputs":[{"port":"output","name":"c_idx"}]}}"#.into()),
    ];
    for (p, t) in files {
        if let Some(e) = base.iter_mut().find(|(q, _)| q == p) {
            e.1 = t.to_string();
        } else {
            base.push((p.to_string(), t.to_string()));
        }
    }
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (p, t) in base {
        if t == "<remove>" {
            continue;
        }
        z.start_file(p, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(t.as_bytes()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

#[test]
fn crafted_bundle_converts() {
    let b = mleap::read(&crafted(&[])).unwrap();
    assert_eq!(b.manifest.inputs[0].name, "c");
    assert_eq!(b.manifest.outputs[0].name, "c_idx");
    let model = Model::from_bundle(&b, &Options::default()).unwrap();
    let batch = RecordBatch::try_from_iter([(
        "c",
        Arc::new(StringArray::from(vec!["b", "zz"])) as ArrayRef,
    )])
    .unwrap();
    let out = model.score(&batch).unwrap();
    let y = out.column_by_name("c_idx").unwrap();
    let y = y.as_any().downcast_ref::<Float64Array>().unwrap();
    // "b" is label 1; an unseen string is the extra index 2 under `keep`.
    assert_eq!((y.value(0), y.value(1)), (1.0, 2.0));
}

#[test]
fn mleap_one_hot_ignores_drop_last_when_size_is_given() {
    // `size` 2 with drop_last false after a `keep` indexer over 2 labels: indices 0 and 1 lit,
    // the unseen index 2 an empty vector, as MLeap's encoder does.
    let b = mleap::read(&crafted(&[
        (
            "root/model.json",
            r#"{"op":"pipeline","attributes":{"nodes":{"type":"list","string":["si","oh"]}}}"#,
        ),
        (
            "root/oh.node/model.json",
            r#"{"op":"one_hot_encoder","attributes":{"size":{"long":2},"drop_last":{"boolean":false}}}"#,
        ),
        (
            "root/oh.node/node.json",
            r#"{"name":"oh","shape":{"inputs":[{"port":"input","name":"c_idx"}],"outputs":[{"port":"output","name":"c_oh"}]}}"#,
        ),
    ]))
    .unwrap();
    let model = Model::from_bundle(&b, &Options::default()).unwrap();
    let batch = RecordBatch::try_from_iter([(
        "c",
        Arc::new(StringArray::from(vec!["a", "b", "zz"])) as ArrayRef,
    )])
    .unwrap();
    let out = model.score(&batch).unwrap();
    let y = out.column_by_name("c_oh").unwrap();
    let y = y
        .as_any()
        .downcast_ref::<arrow_array::FixedSizeListArray>()
        .unwrap();
    let rows: Vec<Vec<f64>> = (0..3)
        .map(|r| {
            let v = y.value(r);
            v.as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(rows, [vec![1.0, 0.0], vec![0.0, 1.0], vec![0.0, 0.0]]);
}

#[test]
fn malformed_bundles_are_refused_by_name() {
    let err = |files: &[(&str, &str)]| mleap::read(&crafted(files)).unwrap_err();
    match err(&[("root/si.node/model.json", "<remove>")]) {
        ImportError::Missing { entry } => assert_eq!(entry, "root/si.node/model.json"),
        e => panic!("{e}"),
    }
    match err(&[("root/si.node/model.json", "{not json")]) {
        ImportError::Json { entry, .. } => assert_eq!(entry, "root/si.node/model.json"),
        e => panic!("{e}"),
    }
    match err(&[("root/../evil.json", "{}")]) {
        ImportError::UnsafePath { entry, .. } => assert_eq!(entry, "root/../evil.json"),
        e => panic!("{e}"),
    }
    match err(&[(
        "root/si.node/model.json",
        r#"{"op":"word2vec","attributes":{}}"#,
    )]) {
        ImportError::UnsupportedOp { op, node, .. } => {
            assert_eq!(op, "word2vec");
            assert_eq!(node, "root/si.node");
        }
        e => panic!("{e}"),
    }
    match err(&[(
        "root/model.json",
        r#"{"op":"pipeline","attributes":{"nodes":{"type":"list","string":["../x"]}}}"#,
    )]) {
        ImportError::UnsafePath { .. } => {}
        e => panic!("{e}"),
    }
    match err(&[(
        "root/si.node/model.json",
        r#"{"op":"string_indexer","attributes":{"labels":{"type":"list","string":["a"]},"handle_invalid":{"string":"skip"}}}"#,
    )]) {
        ImportError::Unsupported { node, message } => {
            assert_eq!(node, "root/si.node");
            assert!(message.contains("skip"), "{message}");
        }
        e => panic!("{e}"),
    }
    match err(&[("bundle.json", r#"{"format":"mixed"}"#)]) {
        ImportError::Unsupported { message, .. } => assert!(message.contains("mixed")),
        e => panic!("{e}"),
    }
    // A protobuf bundle reads `.pb` documents: the JSON ones are not looked at.
    match err(&[("bundle.json", r#"{"format":"protobuf"}"#)]) {
        ImportError::Missing { entry } => assert_eq!(entry, "root/model.pb"),
        e => panic!("{e}"),
    }
    assert!(matches!(
        mleap::read(b"not a zip").unwrap_err(),
        ImportError::Zip(_)
    ));
    // An entry over the per-entry bound.
    let big = "x".repeat(4096);
    let limits = Limits {
        max_document_bytes: 1024,
        ..Limits::default()
    };
    match mleap::read_with(&crafted(&[("root/big.bin", &big)]), &limits).unwrap_err() {
        ImportError::Limit { entry, .. } => assert_eq!(entry, "root/big.bin"),
        e => panic!("{e}"),
    }
}

/// A crafted pipeline `si` (string indexer c -> c_idx), `va` (assembler c_idx -> v, width 1),
/// then node `x` of op `op` with `attrs`, reading `input` on port `port` and writing `outputs`.
fn crafted_op(op: &str, attrs: &str, port: &str, input: &str, outputs: &str) -> Vec<u8> {
    let model = format!(r#"{{"op":"{op}","attributes":{attrs}}}"#);
    let node = format!(
        r#"{{"name":"x","shape":{{"inputs":[{{"port":"{port}","name":"{input}"}}],"outputs":{outputs}}}}}"#
    );
    crafted(&[
        (
            "root/model.json",
            r#"{"op":"pipeline","attributes":{"nodes":{"type":"list","string":["si","va","x"]}}}"#,
        ),
        (
            "root/va.node/model.json",
            r#"{"op":"vector_assembler","attributes":{}}"#,
        ),
        (
            "root/va.node/node.json",
            r#"{"name":"va","shape":{"inputs":[{"port":"input0","name":"c_idx"}],"outputs":[{"port":"output","name":"v"}]}}"#,
        ),
        ("root/x.node/model.json", &model),
        ("root/x.node/node.json", &node),
    ])
}

#[test]
fn parameter_values_keel_cannot_reproduce_are_refused_by_node() {
    let out = r#"[{"port":"output","name":"y"}]"#;
    let pred = r#"[{"port":"prediction","name":"p"}]"#;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            crafted_op(
                "bucketizer",
                r#"{"splits":{"type":"list","double":[0.0,1.0]},"handle_invalid":{"string":"skip"}}"#,
                "input",
                "c_idx",
                out,
            ),
            "skip",
        ),
        (
            crafted_op(
                "one_hot_encoder",
                r#"{"category_sizes":{"type":"list","long":[3]},"handle_invalid":{"string":"skip"}}"#,
                "input",
                "c_idx",
                out,
            ),
            "skip",
        ),
        (
            crafted_op(
                "naive_bayes",
                r#"{"model_type":{"string":"gaussian"},"pi":{"type":"list","double":[0.0,0.0]},"theta":{"type":"tensor","double":[0.0,0.0],"shape":{"dimensions":[{"size":2},{"size":1}]}}}"#,
                "features",
                "v",
                pred,
            ),
            "gaussian",
        ),
        (
            crafted_op(
                "kmeans",
                r#"{"distance_measure":{"string":"cosine"},"cluster_centers":{"type":"list","tensor":[{"double":[1.0]}]}}"#,
                "features",
                "v",
                pred,
            ),
            "cosine",
        ),
        (
            crafted_op(
                "vector_slicer",
                r#"{"indices":{"type":"list","long":[]},"names":{"type":"list","string":["f"]}}"#,
                "input",
                "v",
                out,
            ),
            "name",
        ),
        (
            crafted_op(
                "linear_svc",
                r#"{"coefficients":{"type":"tensor","double":[1.0]},"intercept":{"double":0.0}}"#,
                "features",
                "v",
                r#"[{"port":"probability","name":"pr"}]"#,
            ),
            "probability",
        ),
        (
            crafted_op(
                "gbt_classifier",
                r#"{"num_features":{"long":1},"num_classes":{"long":3},"trees":{"type":"list","string":["tree0"]},"tree_weights":{"type":"list","double":[1.0]}}"#,
                "features",
                "v",
                pred,
            ),
            "3 classes",
        ),
        (
            crafted_op(
                "imputer",
                r#"{"surrogate_value":{"double":"NaN"}}"#,
                "input",
                "c_idx",
                out,
            ),
            "surrogate",
        ),
    ];
    for (bytes, needle) in cases {
        match mleap::read(&bytes).unwrap_err() {
            ImportError::Unsupported { node, message } => {
                assert_eq!(node, "root/x.node");
                assert!(message.contains(needle), "{message}");
            }
            e => panic!("{needle}: {e}"),
        }
    }
}

#[test]
fn a_forest_with_unequal_tree_weights_is_refused() {
    let bytes = crafted_op(
        "random_forest_classifier",
        r#"{"num_features":{"long":1},"num_classes":{"long":2},"trees":{"type":"list","string":["tree0"]},"tree_weights":{"type":"list","double":[0.5]}}"#,
        "features",
        "v",
        r#"[{"port":"prediction","name":"p"}]"#,
    );
    match mleap::read(&bytes).unwrap_err() {
        ImportError::Unsupported { message, .. } => {
            assert!(message.contains("weights"), "{message}")
        }
        e => panic!("{e}"),
    }
}

/// `zip` with entry `name` replaced by `data`.
fn replace_entry(zip_bytes: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let n = e.name().unwrap().to_string();
        let mut d = Vec::new();
        e.read_to_end(&mut d).unwrap();
        out.start_file(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(if n == name { data } else { &d }).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn hostile_protobuf_documents_are_refused_by_entry() {
    use keel_import::mleap::proto::pb;
    use prost::Message;
    let Some(dir) = corpus() else { return };
    let rf = support::to_protobuf(&std::fs::read(dir.join("airbnb.model.rf.zip")).unwrap());
    let tree = "root/rfr_5af14f58ae5f.node/tree3/tree.pb";
    // A length prefix that runs past the end of the file.
    let bad = replace_entry(&rf, tree, &[0, 0, 0, 200, 8, 1]);
    match mleap::read(&bad).unwrap_err() {
        ImportError::Malformed { entry, message } => {
            assert_eq!(entry, tree);
            assert!(message.contains("past the end"), "{message}");
        }
        e => panic!("{e}"),
    }
    // A tensor whose bytes are not whole doubles, and one whose shape disagrees with its
    // element count.
    let demo = support::to_protobuf(&std::fs::read(dir.join("demo.zip")).unwrap());
    let lr = "root/linear_regression_7a70b7fd-bd53-11e7-8c89-6c40089417e6.node/model.pb";
    let shape = |n: i32| {
        Some(pb::TensorShape {
            dimensions: vec![pb::TensorDimension {
                size: n,
                name: String::new(),
            }],
        })
    };
    for (tensor, needle) in [
        (
            pb::Tensor {
                base: pb::BasicType::Double as i32,
                shape: shape(1),
                value: vec![0; 7],
            },
            "multiple of 8",
        ),
        (
            pb::Tensor {
                base: pb::BasicType::Double as i32,
                shape: shape(3),
                value: vec![0; 8],
            },
            "holds 1 elements",
        ),
    ] {
        let model = pb::Model {
            op: "linear_regression".into(),
            attributes: Some(pb::Attributes {
                list: [(
                    "coefficients".to_string(),
                    pb::Value {
                        v: Some(pb::value::V::T(tensor)),
                    },
                )]
                .into_iter()
                .collect(),
            }),
        };
        let bad = replace_entry(&demo, lr, &model.encode_to_vec());
        match mleap::read(&bad).unwrap_err() {
            ImportError::Malformed { entry, message } => {
                assert!(entry.starts_with(lr), "{entry}");
                assert!(message.contains(needle), "{message}");
            }
            e => panic!("{e}"),
        }
    }
}
