//! Hostile and ordinary ONNX models built from the message structs.

use super::proto::*;
use super::*;
use keel_runtime::{Model, Options};

fn vi(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            dim_value: *d,
                            dim_param: if d.is_none() { Some("N".into()) } else { None },
                        })
                        .collect(),
                }),
            }),
            ..Default::default()
        }),
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        ..Default::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            node: nodes,
            name: Some("g".into()),
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn convert(m: &ModelProto) -> Result<Bundle, Error> {
    convert_bytes(&m.encode_to_vec(), "m", None, &Limits::default())
}

fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(data_type::FLOAT),
        float_data: data.to_vec(),
        name: Some(name.into()),
        ..Default::default()
    }
}

#[test]
fn garbage_and_oversized_files_are_refused() {
    assert!(matches!(
        convert_bytes(&[0xff, 0xff, 0xff], "m", None, &Limits::default()),
        Err(Error::Decode(_))
    ));
    let bytes = model(vec![], vec![], vec![]).encode_to_vec();
    let small = Limits {
        max_model_bytes: 4,
        ..Limits::default()
    };
    assert!(matches!(
        convert_bytes(&bytes, "m", None, &small),
        Err(Error::Limit { .. })
    ));
}

#[test]
fn node_count_is_bounded() {
    let nodes = (0..3)
        .map(|i| node("Relu", &format!("n{i}"), &["x"], &[&format!("y{i}")]))
        .collect();
    let m = model(
        nodes,
        vec![vi("x", 1, &[Some(2)])],
        vec![vi("y0", 1, &[Some(2)])],
    );
    let limits = Limits {
        max_nodes: 2,
        ..Limits::default()
    };
    let err = convert_bytes(&m.encode_to_vec(), "m", None, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                actual: 3,
                limit: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn declared_dims_must_match_the_data() {
    // More elements than the limit: refused before allocating.
    let huge = f32_tensor("w", &[1 << 40, 1 << 40], &[1.0]);
    let err = decode_tensor(&huge.encode_to_vec(), &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err}");
    // Fewer elements than declared.
    let short = f32_tensor("w", &[3], &[1.0, 2.0]);
    let err = decode_tensor(&short.encode_to_vec(), &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Tensor { tensor, .. } if tensor == "w"),
        "{err}"
    );
    // Raw bytes of the wrong length.
    let raw = TensorProto {
        raw_data: Some(vec![0; 7]),
        float_data: vec![],
        ..f32_tensor("r", &[2], &[])
    };
    let err = decode_tensor(&raw.encode_to_vec(), &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Tensor { tensor, .. } if tensor == "r"),
        "{err}"
    );
    let neg = f32_tensor("n", &[-1], &[]);
    assert!(decode_tensor(&neg.encode_to_vec(), &Limits::default()).is_err());
    // A string tensor is a typed refusal.
    let s = TensorProto {
        data_type: Some(data_type::STRING),
        ..f32_tensor("s", &[1], &[])
    };
    let err = decode_tensor(&s.encode_to_vec(), &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedType { .. }), "{err}");
}

#[test]
fn raw_and_typed_data_decode() {
    let raw = TensorProto {
        raw_data: Some(
            [1.5f32, -2.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        ..f32_tensor("r", &[2], &[])
    };
    let t = decode_tensor(&raw.encode_to_vec(), &Limits::default()).unwrap();
    assert_eq!(t.shape, vec![2]);
    assert_eq!(t.as_slice::<f32>().unwrap(), &[1.5, -2.0]);
    let b = TensorProto {
        data_type: Some(data_type::BOOL),
        int32_data: vec![1, 0, 1],
        ..f32_tensor("b", &[3], &[])
    };
    let t = decode_tensor(&b.encode_to_vec(), &Limits::default()).unwrap();
    assert_eq!(t.as_slice::<bool>().unwrap(), &[true, false, true]);
}

#[test]
fn cycles_and_undefined_inputs_are_refused() {
    let m = model(
        vec![
            node("Relu", "a", &["b_out"], &["a_out"]),
            node("Relu", "b", &["a_out"], &["b_out"]),
        ],
        vec![vi("x", 1, &[Some(2)])],
        vec![vi("a_out", 1, &[Some(2)])],
    );
    let err = convert(&m).unwrap_err();
    assert!(
        matches!(&err, Error::Graph { message, .. } if message.contains("cycle")),
        "{err}"
    );
    let m = model(
        vec![node("Relu", "a", &["nowhere"], &["y"])],
        vec![vi("x", 1, &[Some(2)])],
        vec![vi("y", 1, &[Some(2)])],
    );
    let err = convert(&m).unwrap_err();
    assert!(
        matches!(&err, Error::Graph { node, message } if node == "a" && message.contains("nowhere")),
        "{err}"
    );
    let m = model(
        vec![
            node("Relu", "a", &["x"], &["y"]),
            node("Relu", "b", &["x"], &["y"]),
        ],
        vec![vi("x", 1, &[Some(2)])],
        vec![vi("y", 1, &[Some(2)])],
    );
    assert!(matches!(convert(&m), Err(Error::Graph { .. })));
}

#[test]
fn every_unsupported_op_and_attribute_is_listed_at_once() {
    let mut odd = node("Relu", "r", &["x"], &["y1"]);
    odd.attribute.push(AttributeProto {
        name: Some("bogus".into()),
        r#type: Some(attr_type::INT),
        i: Some(1),
        ..Default::default()
    });
    let m = model(
        vec![
            node("FancyOp", "f1", &["x"], &["y0"]),
            odd,
            node("OtherOp", "f2", &["y1"], &["y"]),
        ],
        vec![vi("x", 1, &[Some(2)])],
        vec![vi("y", 1, &[Some(2)])],
    );
    let Err(Error::Unsupported(items)) = convert(&m) else {
        panic!("expected Unsupported")
    };
    let found: Vec<(String, String, bool)> = items
        .iter()
        .map(|u| (u.op_type.clone(), u.node.clone(), u.detail.is_some()))
        .collect();
    assert!(
        found.contains(&("FancyOp".into(), "f1".into(), false)),
        "{found:?}"
    );
    assert!(
        found.contains(&("OtherOp".into(), "f2".into(), false)),
        "{found:?}"
    );
    assert!(
        found.contains(&("Relu".into(), "r".into(), true)),
        "{found:?}"
    );
}

#[test]
fn external_data_stays_beside_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let inside = dir.path().join("model");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(
        inside.join("w.bin"),
        [1f32, 2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.bin"), [0u8; 8]).unwrap();
    let ext = |loc: &str| {
        let init = TensorProto {
            data_location: Some(1),
            external_data: vec![StringStringEntryProto {
                key: Some("location".into()),
                value: Some(loc.into()),
            }],
            ..f32_tensor("w", &[2], &[])
        };
        let mut m = model(
            vec![node("Add", "add", &["x", "w"], &["y"])],
            vec![vi("x", 1, &[Some(2)])],
            vec![vi("y", 1, &[Some(2)])],
        );
        if let Some(g) = m.graph.as_mut() {
            g.initializer.push(init);
        }
        let path = inside.join("m.onnx");
        std::fs::write(&path, m.encode_to_vec()).unwrap();
        convert_file(&path, &Limits::default())
    };
    for bad in ["../secret.bin", "/etc/passwd", "./w.bin"] {
        let err = ext(bad).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{bad}: {err}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.bin"), inside.join("link.bin")).unwrap();
        let err = ext("link.bin").unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "symlink: {err}");
    }
    if keel_runtime::registry::get("nn.binary").is_some() {
        assert!(ext("w.bin").is_ok());
    }
    // In memory there is no folder: refused.
    let init = TensorProto {
        data_location: Some(1),
        external_data: vec![StringStringEntryProto {
            key: Some("location".into()),
            value: Some("w.bin".into()),
        }],
        ..f32_tensor("w", &[2], &[])
    };
    let err = tensor::decode(&init, "w", None, &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
}

#[test]
fn the_interface_is_one_row_or_a_batch() {
    if keel_runtime::registry::get("nn.unary").is_none()
        || keel_runtime::registry::get("nn.squeeze").is_none()
    {
        return;
    }
    // Fixed shapes: one row holding the whole tensor.
    let m = model(
        vec![node("Relu", "r", &["x"], &["y"])],
        vec![vi("x", 1, &[Some(2), Some(3)])],
        vec![vi("y", 1, &[Some(2), Some(3)])],
    );
    let b = convert(&m).unwrap();
    assert_eq!(b.manifest.inputs[0].shape, vec![2, 3]);
    assert_eq!(b.manifest.metadata[INTERFACE_KEY], "one_row");
    Model::from_bundle(&b, &Options::default()).unwrap();
    // A symbolic first dimension is the batch.
    let m = model(
        vec![node("Relu", "r", &["x"], &["y"])],
        vec![vi("x", 1, &[None, Some(3)])],
        vec![vi("y", 1, &[None, Some(3)])],
    );
    let b = convert(&m).unwrap();
    assert_eq!(b.manifest.inputs[0].shape, vec![3]);
    assert_eq!(b.manifest.outputs[0].shape, vec![3]);
    assert_eq!(b.manifest.metadata[INTERFACE_KEY], "batch");
    let model = Model::from_bundle(&b, &Options::default()).unwrap();
    // relu([-1, 0, 2]) = [0, 0, 2], one row of three.
    let values = std::sync::Arc::new(arrow_array::Float32Array::from(vec![-1f32, 0.0, 2.0]));
    let col = arrow_array::FixedSizeListArray::try_new(
        std::sync::Arc::new(arrow_schema::Field::new(
            "item",
            arrow_schema::DataType::Float32,
            false,
        )),
        3,
        values,
        None,
    )
    .unwrap();
    let batch =
        arrow_array::RecordBatch::try_new(model.input_schema(), vec![std::sync::Arc::new(col)])
            .unwrap();
    let out = model.score(&batch).unwrap();
    use arrow_array::Array;
    let list = out
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::FixedSizeListArray>()
        .unwrap();
    let v = list
        .values()
        .as_any()
        .downcast_ref::<arrow_array::Float32Array>()
        .unwrap();
    assert_eq!(v.values().to_vec(), vec![0.0, 0.0, 2.0]);
}

#[test]
fn keel_domain_embeddings_import_and_score() {
    use arrow_array::Array;
    use std::sync::Arc;
    let custom = |op: &str, name: &str, inputs: &[&str], out: &str| NodeProto {
        domain: Some("ai.keel".into()),
        ..node(op, name, inputs, &[out])
    };
    let mut bag = custom("EmbeddingBag", "bag", &["bags", "", "w"], "pooled");
    bag.attribute.push(AttributeProto {
        name: Some("mode".into()),
        r#type: Some(attr_type::STRING),
        s: Some(b"sum".to_vec()),
        ..Default::default()
    });
    let mut m = model(
        vec![custom("Embedding", "emb", &["ids", "w"], "rows"), bag],
        vec![
            vi("ids", 7, &[None, Some(1)]),
            vi("bags", 7, &[None, Some(2)]),
        ],
        vec![
            vi("rows", 1, &[None, Some(1), Some(2)]),
            vi("pooled", 1, &[None, Some(2)]),
        ],
    );
    if let Some(g) = m.graph.as_mut() {
        g.initializer
            .push(f32_tensor("w", &[3, 2], &[1., 2., 3., 4., 5., 6.]));
    }
    let b = convert(&m).unwrap();
    let ops: Vec<&str> = b.graph.children.iter().map(|n| n.op.as_str()).collect();
    assert!(
        ops.contains(&"nn.embedding") && ops.contains(&"nn.embedding_bag"),
        "{ops:?}"
    );
    let model = Model::from_bundle(&b, &Options::default()).unwrap();
    // Row 0: id 2, bag [0, 1]; row 1: id 0, bag [2, 2].
    let list = |width: i32, v: Vec<i64>| {
        Arc::new(
            arrow_array::FixedSizeListArray::try_new(
                Arc::new(arrow_schema::Field::new(
                    "item",
                    arrow_schema::DataType::Int64,
                    false,
                )),
                width,
                Arc::new(arrow_array::Int64Array::from(v)),
                None,
            )
            .unwrap(),
        )
    };
    let batch = arrow_array::RecordBatch::try_new(
        model.input_schema(),
        vec![list(1, vec![2, 0]), list(2, vec![0, 1, 2, 2])],
    )
    .unwrap();
    let out = model.score(&batch).unwrap();
    // Every leaf of a (possibly nested) fixed-size list column, in order.
    fn leaves(a: &dyn Array) -> Vec<f32> {
        match a.as_any().downcast_ref::<arrow_array::FixedSizeListArray>() {
            Some(l) => leaves(l.values().as_ref()),
            None => a
                .as_any()
                .downcast_ref::<arrow_array::Float32Array>()
                .unwrap()
                .values()
                .to_vec(),
        }
    }
    let values = |i: usize| leaves(out.column(i).as_ref());
    assert_eq!(values(0), vec![5., 6., 1., 2.]);
    // Sums: [1,2] + [3,4]; [5,6] + [5,6].
    assert_eq!(values(1), vec![4., 6., 10., 12.]);
}
