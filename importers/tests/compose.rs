#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `keel_import::compose`: a feature pipeline and a network in one bundle. The composed bundle
//! must score exactly as the two bundles scored one after the other (the pipeline's output fed
//! to the network by hand, cast as a user would), and every wiring mistake must be an error
//! naming the input and the columns. The end-to-end references from the frameworks themselves
//! (scikit-learn into PyTorch, Spark into PyTorch) are in `fixtures/compose`, checked by the
//! CLI and Python tests.

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use keel_bundle::{Attr, Binding, Bundle, DType, Field, Manifest, Node};
use keel_import::compose::{self, Connection, Error, Options};
use keel_import::onnx::{self, Limits};
use keel_runtime::Model;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

fn onnx_fixture(name: &str) -> Bundle {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/onnx")
        .join(name);
    onnx::convert_file(&path, &Limits::default()).expect("fixture converts")
}

fn node(name: &str, op: &str, inputs: Vec<Binding>, outputs: Vec<Binding>) -> Node {
    Node {
        name: name.into(),
        op: op.into(),
        inputs,
        outputs,
        attrs: BTreeMap::new(),
        children: Vec::new(),
        doc: String::new(),
    }
}

/// A scikit-learn-shaped feature bundle: four numeric inputs, scaled, as one `features` block
/// of width 4; and three category-index columns (as OrdinalEncoder writes them).
fn features() -> Bundle {
    let inputs: Vec<Field> = ["a", "b", "c", "d", "i", "j", "k"]
        .iter()
        .map(|n| Field::scalar(*n, DType::F64, false))
        .collect();
    let mut scaler = node(
        "scaler",
        "sklearn.standard_scaler",
        vec![Binding::new("X", ["a", "b", "c", "d"])],
        vec![Binding::new("Y", ["features"])],
    );
    scaler
        .attrs
        .insert("mean".into(), Attr::F64s(vec![1.0, 2.0, 3.0, 4.0]));
    scaler
        .attrs
        .insert("scale".into(), Attr::F64s(vec![2.0, 0.5, 1.0, 4.0]));
    let id = |name: &str, from: &str| {
        node(
            name,
            "concat",
            vec![Binding::new("X", [from])],
            vec![Binding::new("Y", [format!("{from}_idx")])],
        )
    };
    let children = vec![scaler, id("ci", "i"), id("cj", "j"), id("ck", "k")];
    let mut outputs = vec![Field::vector("features", DType::F64, 4)];
    for c in ["i_idx", "j_idx", "k_idx"] {
        outputs.push(Field::vector(c, DType::F64, 1));
    }
    let root = Node {
        children,
        ..node(
            "pipeline",
            "pipeline",
            vec![Binding::new("in", inputs.iter().map(|f| f.name.clone()))],
            vec![Binding::new("out", outputs.iter().map(|f| f.name.clone()))],
        )
    };
    let mut m = Manifest::new("prep", "pipeline", inputs, outputs);
    m.producer.framework = "scikit-learn".into();
    m.metadata
        .insert("keel.example".into(), r#"{"a":1,"b":2,"c":3,"d":4}"#.into());
    Bundle::new(m, root, Vec::<(String, Vec<u8>)>::new()).expect("valid")
}

fn frame() -> RecordBatch {
    let cols: Vec<(&str, Vec<f64>)> = vec![
        ("a", vec![0.0, 1.5, -3.0]),
        ("b", vec![2.0, 2.5, 9.0]),
        ("c", vec![-1.0, 3.0, 0.25]),
        ("d", vec![8.0, 4.0, -4.0]),
        ("i", vec![0.0, 3.0, 9.0]),
        ("j", vec![1.0, 2.0, 0.0]),
        ("k", vec![9.0, 9.0, 4.0]),
    ];
    let schema = Schema::new(
        cols.iter()
            .map(|(n, _)| ArrowField::new(*n, DataType::Float64, false))
            .collect::<Vec<_>>(),
    );
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|(_, v)| Arc::new(Float64Array::from(v)) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::new(schema), arrays).expect("frame")
}

fn plan(b: &Bundle) -> Model {
    Model::from_bundle(b, &keel_runtime::Options::default()).expect("plans")
}

fn f32s(batch: &RecordBatch, name: &str) -> Vec<f32> {
    let col = batch.column_by_name(name).expect("output present");
    let list = col.as_fixed_size_list();
    list.values()
        .as_primitive::<Float32Type>()
        .values()
        .to_vec()
}

fn one_input(name: &str, array: ArrayRef) -> RecordBatch {
    let field = ArrowField::new(name, array.data_type().clone(), false);
    RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array]).expect("batch")
}

/// The MLP's input `x` reads the pipeline's `features` block.
fn to_features() -> Options {
    Options {
        connect: vec![Connection {
            input: "x".into(),
            columns: vec!["features".into()],
        }],
        ..Options::default()
    }
}

#[test]
fn a_feature_block_feeds_a_dense_network_as_if_scored_in_turn() {
    let (prep, net) = (features(), onnx_fixture("mlp.onnx"));
    let composed = compose::compose(&prep, &net, &to_features()).expect("composes");
    let m = &composed.manifest;
    assert_eq!(
        m.inputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "d", "i", "j", "k"]
    );
    assert_eq!(m.outputs, net.manifest.outputs);
    assert_eq!(m.producer.name, "keel.compose");
    assert!(
        m.metadata.contains_key("keel.example"),
        "the pipeline's example row stays"
    );

    let got = plan(&composed).score(&frame()).expect("scores");

    // The same by hand: the pipeline, its block cast to f32, the network.
    let feats = plan(&prep).score(&frame()).expect("pipeline scores");
    let block = feats.column_by_name("features").expect("features");
    let values: Vec<f32> = block
        .as_fixed_size_list()
        .values()
        .as_primitive::<arrow_array::types::Float64Type>()
        .values()
        .iter()
        .map(|&v| v as f32)
        .collect();
    let x = arrow_array::FixedSizeListArray::new(
        Arc::new(ArrowField::new_list_field(DataType::Float32, false)),
        4,
        Arc::new(Float32Array::from(values)),
        None,
    );
    let want = plan(&net)
        .score(&one_input("x", Arc::new(x)))
        .expect("network scores");
    assert_eq!(f32s(&got, "probability"), f32s(&want, "probability"));
}

#[test]
fn category_indices_are_stacked_and_cast_for_an_embedding() {
    let (prep, net) = (features(), onnx_fixture("embed.onnx"));
    let input = &net.manifest.inputs[0];
    assert_eq!(
        (input.dtype, input.shape.as_slice()),
        (DType::I64, &[3u64][..])
    );
    let opts = Options {
        connect: vec![Connection {
            input: input.name.clone(),
            columns: vec!["i_idx".into(), "j_idx".into(), "k_idx".into()],
        }],
        keep: vec!["features".into()],
        ..Options::default()
    };
    let composed = compose::compose(&prep, &net, &opts).expect("composes");
    let outs: Vec<&str> = composed
        .manifest
        .outputs
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(outs, ["y", "features"]);
    let got = plan(&composed).score(&frame()).expect("scores");

    let ids = arrow_array::FixedSizeListArray::new(
        Arc::new(ArrowField::new_list_field(DataType::Int64, false)),
        3,
        Arc::new(Int64Array::from(vec![0, 1, 9, 3, 2, 9, 9, 0, 4])),
        None,
    );
    let want = plan(&net)
        .score(&one_input(&input.name, Arc::new(ids)))
        .expect("network scores");
    let y = net.manifest.outputs[0].name.as_str();
    assert_eq!(f32s(&got, y), f32s(&want, y));
    // The network's nodes and tensors moved under the prefix; its inputs are gone.
    let mut names = Vec::new();
    composed.graph.walk(&mut |n, _| names.push(n.name.clone()));
    assert!(names.iter().any(|n| n.starts_with("network/")), "{names:?}");
    assert!(
        composed
            .tensors
            .keys()
            .all(|p| p.starts_with("tensors/network."))
    );
}

#[test]
fn the_composed_bundle_round_trips_in_both_encodings() {
    let composed =
        compose::compose(&features(), &onnx_fixture("mlp.onnx"), &to_features()).unwrap();
    for enc in [keel_bundle::Encoding::Json, keel_bundle::Encoding::Protobuf] {
        let bytes = composed.to_bytes(enc).expect("writes");
        let back = Bundle::from_bytes(&bytes).expect("reads back");
        assert_eq!(back.manifest.outputs, composed.manifest.outputs);
        plan(&back);
    }
}

fn err(connect: Vec<(&str, Vec<&str>)>, keep: Vec<&str>, net: &str) -> String {
    let opts = Options {
        connect: connect
            .into_iter()
            .map(|(i, cols)| Connection {
                input: i.into(),
                columns: cols.into_iter().map(String::from).collect(),
            })
            .collect(),
        keep: keep.into_iter().map(String::from).collect(),
        ..Options::default()
    };
    match compose::compose(&features(), &onnx_fixture(net), &opts) {
        Ok(_) => panic!("composed, but should not"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_width_mismatch_names_the_input_and_both_shapes() {
    let msg = err(vec![("x", vec!["a", "b", "c"])], vec![], "mlp.onnx");
    assert!(
        msg.contains("`x` f32[4]") && msg.contains("`a` f64[]"),
        "{msg}"
    );
}

#[test]
fn unknown_names_and_missing_wiring_are_named() {
    let msg = err(vec![("nope", vec!["features"])], vec![], "mlp.onnx");
    assert!(
        msg.contains("`nope` is not an input of the network") && msg.contains("`x`"),
        "{msg}"
    );
    let msg = err(vec![("x", vec!["nothing"])], vec![], "mlp.onnx");
    assert!(
        msg.contains("`nothing` is not a column") && msg.contains("`features`"),
        "{msg}"
    );
    let msg = err(vec![], vec![], "embed.onnx");
    assert!(
        msg.contains("network input `ids` is not connected"),
        "{msg}"
    );
    let msg = err(vec![("x", vec!["features"])], vec!["nothing"], "mlp.onnx");
    assert!(msg.contains("`nothing`"), "{msg}");
    let msg = err(
        vec![("x", vec!["features"]), ("x", vec!["features"])],
        vec![],
        "mlp.onnx",
    );
    assert!(msg.contains("connected twice"), "{msg}");
}

#[test]
fn a_fixed_shape_network_is_refused() {
    let msg = err(vec![], vec![], "fixed.onnx");
    assert!(msg.contains("fixed input shapes"), "{msg}");
}

#[test]
fn an_output_name_clash_is_refused() {
    let prep = features();
    let mut net = onnx_fixture("mlp.onnx");
    // Make the network's output share a pipeline column's name.
    let old = net.manifest.outputs[0].name.clone();
    net.manifest.outputs[0].name = "features".into();
    fn rename(n: &mut Node, old: &str) {
        for c in n.outputs.iter_mut().flat_map(|b| b.columns.iter_mut()) {
            if c == old {
                *c = "features".into();
            }
        }
        n.children.iter_mut().for_each(|c| rename(c, old));
    }
    rename(&mut net.graph, &old);
    match compose::compose(&prep, &net, &to_features()) {
        Err(Error::Collision(c)) => assert_eq!(c, "features"),
        other => panic!("expected a collision, got {other:?}"),
    }
}

#[test]
fn a_network_can_feed_a_classical_head() {
    // Transfer learning's shape: a network's f32 embedding into a classical model's f64
    // feature block (here a scaler standing in for the head).
    let net = onnx_fixture("mlp.onnx");
    let inputs = vec![Field::vector("p", DType::F64, 3)];
    let mut scaler = node(
        "head",
        "sklearn.standard_scaler",
        vec![Binding::new("X", ["p"])],
        vec![Binding::new("Y", ["scaled"])],
    );
    scaler
        .attrs
        .insert("mean".into(), Attr::F64s(vec![0.5, 0.25, 0.125]));
    scaler
        .attrs
        .insert("scale".into(), Attr::F64s(vec![2.0, 4.0, 8.0]));
    let outputs = vec![Field::vector("scaled", DType::F64, 3)];
    let root = Node {
        children: vec![scaler],
        ..node(
            "head_pipeline",
            "pipeline",
            vec![Binding::new("in", ["p"])],
            vec![Binding::new("out", ["scaled"])],
        )
    };
    let head = Bundle::new(
        Manifest::new("head", "head_pipeline", inputs, outputs),
        root,
        Vec::<(String, Vec<u8>)>::new(),
    )
    .unwrap();
    let opts = Options {
        connect: vec![Connection {
            input: "p".into(),
            columns: vec!["probability".into()],
        }],
        prefix: "head/".into(),
        ..Options::default()
    };
    let composed = compose::compose(&net, &head, &opts).expect("composes");
    assert_eq!(composed.manifest.inputs, net.manifest.inputs);
    let x = arrow_array::FixedSizeListArray::new(
        Arc::new(ArrowField::new_list_field(DataType::Float32, false)),
        4,
        Arc::new(Float32Array::from(vec![
            0.5, -1.0, 2.0, 0.0, 1.5, 1.5, -0.5, 3.0,
        ])),
        None,
    );
    let batch = one_input("x", Arc::new(x));
    let got = plan(&composed).score(&batch).expect("scores");
    let probs = f32s(&plan(&net).score(&batch).unwrap(), "probability");
    let scaled = got
        .column_by_name("scaled")
        .unwrap()
        .as_fixed_size_list()
        .clone();
    let scaled = scaled
        .values()
        .as_primitive::<arrow_array::types::Float64Type>()
        .values()
        .to_vec();
    let (mean, scale) = ([0.5, 0.25, 0.125], [2.0, 4.0, 8.0]);
    for (k, (p, s)) in probs.iter().zip(&scaled).enumerate() {
        let want = (f64::from(*p) - mean[k % 3]) / scale[k % 3];
        assert!((s - want).abs() <= 1e-15, "element {k}: {s} vs {want}");
    }
}
