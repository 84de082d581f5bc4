//! The ONNX importer's layer fusion: a `Conv` or a `Gemm` (or a `MatMul` + `Add` pair, fused
//! into one Gemm first) followed by `Relu`, `Sigmoid` or `Tanh` becomes one layer op with its
//! `activation` attribute, whatever produced the layer's input (a Concat, a Reshape, another
//! activation), unless the layer's own output is read elsewhere or is a graph output. The fused
//! op's arithmetic is `nn.unary`'s, bit for bit (the ops' unit tests); here the graphs are
//! checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_bundle::{Attr, Bundle};
use keel_import::onnx::{self, Limits};
use std::path::PathBuf;

fn convert(name: &str) -> Bundle {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/onnx")
        .join(name);
    onnx::convert_file(&path, &Limits::default()).unwrap()
}

/// `(op, activation attribute or unary fn)` of every node, in order.
fn ops(b: &Bundle) -> Vec<(String, String)> {
    let mut out = Vec::new();
    b.graph.walk(&mut |n, _| {
        let tag = match n.attrs.get("activation").or_else(|| n.attrs.get("fn")) {
            Some(Attr::Str(s)) => s.clone(),
            _ => String::new(),
        };
        out.push((n.op.clone(), tag));
    });
    out
}

#[test]
fn gemm_then_relu_is_one_dense_layer() {
    // mlp.onnx: Gemm, Relu, Gemm, Softmax.
    let ops = ops(&convert("mlp.onnx"));
    let gemms: Vec<&str> = ops
        .iter()
        .filter(|(op, _)| op == "nn.gemm")
        .map(|(_, act)| act.as_str())
        .collect();
    assert_eq!(gemms, ["relu", ""], "{ops:?}");
    assert!(
        !ops.iter().any(|(op, f)| op == "nn.unary" && f == "relu"),
        "{ops:?}"
    );
    assert!(ops.iter().any(|(op, _)| op == "nn.softmax"), "{ops:?}");
}

#[test]
fn matmul_add_after_a_concat_fuses_and_takes_its_activation() {
    // dense_layers.onnx: Gather, Reshape, Concat, MatMul + Add, Relu, MatMul + Add, Sigmoid: the
    // activations' inputs come from a Concat and a Relu, whose rank the importer infers.
    let ops = ops(&convert("dense_layers.onnx"));
    assert!(!ops.iter().any(|(op, _)| op == "nn.matmul"), "{ops:?}");
    let gemms: Vec<&str> = ops
        .iter()
        .filter(|(op, _)| op == "nn.gemm")
        .map(|(_, act)| act.as_str())
        .collect();
    assert_eq!(gemms, ["relu", "sigmoid"], "{ops:?}");
    assert!(!ops.iter().any(|(op, _)| op == "nn.unary"), "{ops:?}");
}

#[test]
fn conv_then_relu_is_one_layer() {
    // cnn.onnx: Conv, Relu, MaxPool, Flatten, Gemm.
    let ops = ops(&convert("cnn.onnx"));
    assert!(
        ops.iter().any(|(op, act)| op == "nn.conv" && act == "relu"),
        "{ops:?}"
    );
    assert!(!ops.iter().any(|(op, _)| op == "nn.unary"), "{ops:?}");
}
