//! The exported bundle (Spark-rule feature stages + the network in `nn.*` ops) scored on raw
//! rows against the fixture's references: PyTorch's forward of modules with the `NetSpec`
//! layout on Spark's transform of the same rows (fixtures/train/export/generate.py).
//!
//! Tolerance: `onnx_f32` (fixtures/tolerances.json: 1e-4 absolute + 1e-4 relative), the bar
//! for f32 networks against PyTorch: both compute in f32 with different blocking, and keel's
//! input block is Spark's features to a few f64 ulps before the f32 cast. Predicted classes are
//! compared exactly wherever the top two probabilities differ by more than that tolerance.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop
)]

mod features_fixture;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use features_fixture::{batch, f64s, io, spec};
use keel_runtime::tolerance::Tolerance;
use keel_runtime::{Model, Options};
use keel_train::export::{
    self, ExportOptions, Head, NUMERIC_INPUT, PREDICTION, PROBABILITY, ParamTensor, network_bundle,
    param_layout, params_from_flat,
};
use keel_train::features::{FeaturePlan, FeatureStats};
use keel_train::net::{Activation, NetSpec, Task};
use serde_json::Value;

const TOL: keel_runtime::tolerance::Named = Tolerance::ONNX_F32;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

struct Case {
    name: String,
    plan: FeaturePlan,
    spec: NetSpec,
    head: Head,
    params: Vec<ParamTensor>,
    net: Value,
}

fn cases(io: &Value) -> Vec<Case> {
    let train = batch(io, "train");
    io["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|net| {
            let head = match net["head"].as_str().unwrap() {
                "softmax" => Head::Softmax,
                "sigmoid" => Head::Sigmoid,
                "identity" => Head::Identity,
                _ => Head::Exp,
            };
            let task = match head {
                Head::Softmax | Head::Sigmoid => Task::Classification,
                _ => Task::Regression,
            };
            let mut fspec = spec(io, task);
            fspec.numeric_cols = strings(&net["numeric_cols"]);
            fspec.categorical_cols = strings(&net["categorical_cols"]);
            let mut train = train.clone();
            if head == Head::Sigmoid {
                // A binary label for the binary head: `high` or not.
                let labels: Vec<&str> = train
                    .column_by_name("label")
                    .unwrap()
                    .as_string::<i32>()
                    .iter()
                    .map(|l| if l == Some("high") { "high" } else { "other" })
                    .collect();
                let mut cols: Vec<(String, arrow_array::ArrayRef)> = train
                    .schema()
                    .fields()
                    .iter()
                    .zip(train.columns())
                    .filter(|(f, _)| f.name() != "label")
                    .map(|(f, c)| (f.name().clone(), c.clone()))
                    .collect();
                cols.push((
                    "label".into(),
                    std::sync::Arc::new(arrow_array::StringArray::from(labels)),
                ));
                train = RecordBatch::try_from_iter(cols).unwrap();
            }
            let mut stats = FeatureStats::new(&fspec);
            stats.update(&train).unwrap();
            let plan = FeaturePlan::fit(&fspec, &stats).unwrap();
            let activation = match net["activation"].as_str().unwrap() {
                "relu" => Activation::Relu,
                "gelu" => Activation::Gelu,
                "tanh" => Activation::Tanh,
                "sigmoid" => Activation::Sigmoid,
                _ => Activation::Silu,
            };
            let spec = NetSpec {
                numeric_width: plan.numeric_width(),
                cardinalities: plan.cardinalities(),
                embedding_dim: net["embedding_dim"].as_u64().unwrap() as usize,
                hidden: net["hidden"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_u64().unwrap() as usize)
                    .collect(),
                activation,
                layer_norm: net["layer_norm"].as_bool().unwrap(),
                dropout: 0.1,
                outputs: net["outputs"].as_u64().unwrap() as usize,
                task,
            };
            let params = net["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| ParamTensor {
                    name: p["name"].as_str().unwrap().into(),
                    shape: p["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as usize)
                        .collect(),
                    data: f64s(&p["data"]).iter().map(|x| x.unwrap() as f32).collect(),
                })
                .collect();
            Case {
                name: net["name"].as_str().unwrap().into(),
                plan,
                spec,
                head,
                params,
                net: net.clone(),
            }
        })
        .collect()
}

fn opts() -> ExportOptions {
    ExportOptions {
        name: Some("fixture".into()),
        created: None,
        params: serde_json::json!({"optimizer": "adam", "lr": 0.01, "epochs": 3}),
        metrics: serde_json::json!({"val_loss": 0.5}),
    }
}

#[test]
fn exported_bundles_score_raw_rows_as_spark_then_pytorch() {
    let io = io();
    let test = batch(&io, "test");
    for case in cases(&io) {
        let bundle = export::export(&case.plan, &case.spec, &case.params, case.head, &opts())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        // Written and read back as a file would be.
        let bytes = bundle.to_bytes(keel_bundle::Encoding::Json).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let inputs: Vec<String> = model
            .manifest()
            .inputs
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let mut want_inputs = case.plan.spec.numeric_cols.clone();
        want_inputs.extend(case.plan.spec.categorical_cols.clone());
        assert_eq!(inputs, want_inputs, "{}", case.name);
        let raw = RecordBatch::try_from_iter(
            inputs
                .iter()
                .map(|c| (c.clone(), test.column_by_name(c).unwrap().clone())),
        )
        .unwrap();
        let out = model.score(&raw).unwrap();
        let pred = out
            .column_by_name(PREDICTION)
            .unwrap()
            .as_primitive::<Float64Type>();
        let want_pred = f64s(&case.net["prediction"]);
        let mut max = 0.0f64;
        match case.head {
            Head::Softmax | Head::Sigmoid => {
                let prob = out
                    .column_by_name(PROBABILITY)
                    .unwrap()
                    .as_fixed_size_list();
                let k = prob.value_length() as usize;
                let values = prob.values().as_primitive::<Float64Type>().values();
                for (r, row) in case.net["probability"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                {
                    let w: Vec<f64> = f64s(row).into_iter().map(Option::unwrap).collect();
                    for (j, &wj) in w.iter().enumerate() {
                        let got = values[r * k + j];
                        assert!(
                            TOL.accepts(got, wj),
                            "{} row {r} class {j}: {got} vs torch {wj}",
                            case.name
                        );
                        max = max.max((got - wj).abs());
                    }
                    let mut sorted = w.clone();
                    sorted.sort_by(|a, b| b.total_cmp(a));
                    if sorted[0] - sorted[1] > 1e-4 {
                        assert_eq!(
                            pred.value(r),
                            want_pred[r].unwrap(),
                            "{} row {r}",
                            case.name
                        );
                    }
                }
                let field = &model.manifest().outputs[1];
                assert_eq!(field.names, case.plan.class_names());
            }
            Head::Identity | Head::Exp => {
                assert!(out.column_by_name(PROBABILITY).is_none());
                for r in 0..pred.len() {
                    let (got, w) = (pred.value(r), want_pred[r].unwrap());
                    assert!(
                        TOL.accepts(got, w),
                        "{} row {r}: {got} vs torch {w}",
                        case.name
                    );
                    max = max.max((got - w).abs());
                }
            }
        }
        eprintln!("{}: max |keel - torch| = {max:e}", case.name);
        let meta = &model.manifest().metadata;
        for key in [
            "keel_train.feature_plan",
            "keel_train.net_spec",
            "keel_train.head",
            "keel_train.params",
            "keel_train.metrics",
        ] {
            assert!(meta.contains_key(key), "{}: metadata `{key}`", case.name);
        }
        assert_eq!(model.manifest().producer.name, "keel.train");
        let plan: FeaturePlan = serde_json::from_str(&meta["keel_train.feature_plan"]).unwrap();
        assert_eq!(plan, case.plan);
    }
}

#[test]
fn the_flat_layout_is_pytorchs_state_dict_order() {
    let io = io();
    for case in cases(&io) {
        let names: Vec<String> = case.params.iter().map(|p| p.name.clone()).collect();
        let layout: Vec<String> = param_layout(&case.spec)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(layout, names, "{}: torch's state_dict order", case.name);
        let flat: Vec<f32> = case.params.iter().flat_map(|p| p.data.clone()).collect();
        assert_eq!(params_from_flat(&case.spec, &flat).unwrap(), case.params);
        assert!(params_from_flat(&case.spec, &flat[1..]).is_err());
    }
}

#[test]
fn the_network_alone_reads_the_numeric_block_and_indices() {
    let io = io();
    let case = cases(&io).remove(0);
    let b = network_bundle(
        &case.spec,
        &case.params,
        case.head,
        &["city_index".into(), "plan_index".into()],
        &[],
    )
    .unwrap();
    let m = &b.manifest;
    assert_eq!(m.inputs[0].name, NUMERIC_INPUT);
    assert_eq!(m.inputs[0].dtype, keel_bundle::DType::F32);
    assert_eq!(m.inputs[1].dtype, keel_bundle::DType::I64);
    let ops: std::collections::BTreeSet<String> =
        b.graph.children.iter().map(|n| n.op.clone()).collect();
    for op in [
        "nn.embedding",
        "nn.concat",
        "nn.gemm",
        "nn.layer_norm",
        "nn.unary",
        "nn.softmax",
        "nn.arg_reduce",
        "nn.cast",
    ] {
        assert!(ops.contains(op), "{op} in {ops:?}");
    }
    assert!(Model::from_bundle(&b, &Options::default()).is_ok());
}

#[test]
fn mismatched_specs_and_parameters_are_refused_by_name() {
    let io = io();
    let case = cases(&io).remove(0);
    let err = |r: Result<keel_bundle::Bundle, export::Error>| r.unwrap_err().to_string();

    let mut params = case.params.clone();
    params.retain(|p| p.name != "norms.1.bias");
    let e = err(export::export(
        &case.plan,
        &case.spec,
        &params,
        case.head,
        &opts(),
    ));
    assert!(e.contains("norms.1.bias") && e.contains("missing"), "{e}");

    let mut params = case.params.clone();
    params[2].data[0] = f32::NAN;
    let e = err(export::export(
        &case.plan,
        &case.spec,
        &params,
        case.head,
        &opts(),
    ));
    assert!(
        e.contains(&params[2].name) && e.contains("not finite"),
        "{e}"
    );

    let mut params = case.params.clone();
    params[0].shape = vec![1, 1];
    let e = err(export::export(
        &case.plan,
        &case.spec,
        &params,
        case.head,
        &opts(),
    ));
    assert!(
        e.contains("embeddings.0.weight") && e.contains("shape"),
        "{e}"
    );

    let mut params = case.params.clone();
    params.push(ParamTensor {
        name: "extra.weight".into(),
        shape: vec![1],
        data: vec![0.0],
    });
    let e = err(export::export(
        &case.plan,
        &case.spec,
        &params,
        case.head,
        &opts(),
    ));
    assert!(e.contains("extra.weight"), "{e}");

    let mut spec = case.spec.clone();
    spec.cardinalities[0] += 1;
    let e = err(export::export(
        &case.plan,
        &spec,
        &case.params,
        case.head,
        &opts(),
    ));
    assert!(e.contains("embedding tables"), "{e}");

    let e = err(export::export(
        &case.plan,
        &case.spec,
        &case.params,
        Head::Exp,
        &opts(),
    ));
    assert!(e.contains("does not suit"), "{e}");

    let e = err(export::export(
        &case.plan,
        &case.spec,
        &case.params,
        Head::Sigmoid,
        &opts(),
    ));
    assert!(e.contains("sigmoid"), "{e}");
}
