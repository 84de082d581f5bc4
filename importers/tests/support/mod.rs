#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]
//! Test support: re-encodes a JSON-format MLeap Bundle.ML zip into the protobuf format
//! (`model.pb`, `node.pb`, `tree.pb`, `"format": "protobuf"` in bundle.json), written here
//! from the bundle's own JSON documents with the message types of keel's MLeap schema
//! (`keel_import::mleap::proto::pb`, which follows MLeap's bundle-protobuf schema). The
//! protobuf reader is tested on these re-encoded bundles and, independently of this encoder,
//! on bytes laid out by hand from MLeap's schema (`src/mleap/proto.rs`, `wire_tests`).

use keel_import::mleap::proto::pb;
use prost::Message;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};

fn f64_of(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => panic!("not a double: {other}"),
    }
}

fn tensor(v: &Value) -> pb::Tensor {
    let dims: Vec<i32> = v["shape"]["dimensions"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|x| x["size"].as_i64().unwrap() as i32)
                .collect()
        })
        .unwrap_or_default();
    let (base, value) = if let Some(d) = v.get("double") {
        let bytes: Vec<u8> = d
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|x| f64_of(x).to_be_bytes())
            .collect();
        (pb::BasicType::Double, bytes)
    } else if let Some(l) = v.get("long") {
        let bytes: Vec<u8> = l
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|x| x.as_i64().unwrap().to_be_bytes())
            .collect();
        (pb::BasicType::Long, bytes)
    } else {
        panic!("unsupported tensor {v}")
    };
    pb::Tensor {
        base: base as i32,
        shape: Some(pb::TensorShape {
            dimensions: dims
                .into_iter()
                .map(|size| pb::TensorDimension {
                    size,
                    name: String::new(),
                })
                .collect(),
        }),
        value,
    }
}

fn data_shape(v: &Value) -> pb::DataShape {
    let base = match v["base"].as_str().unwrap() {
        "scalar" => pb::DataShapeType::Scalar,
        "list" => pb::DataShapeType::List,
        "tensor" => pb::DataShapeType::Tensor,
        other => panic!("data shape {other}"),
    };
    let dims = v["tensorShape"]["dimensions"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|x| pb::TensorDimension {
                    size: x["size"].as_i64().unwrap() as i32,
                    name: x["name"].as_str().unwrap_or("").into(),
                })
                .collect()
        })
        .unwrap_or_default();
    pb::DataShape {
        base: base as i32,
        is_nullable: v["isNullable"].as_bool().unwrap_or(false),
        tensor_shape: Some(pb::TensorShape { dimensions: dims }),
    }
}

/// One JSON attribute as a protobuf value.
fn value(v: &Value) -> pb::Value {
    let list = |k: &str| v.get(k).and_then(Value::as_array);
    let is_list =
        v.get("type").and_then(Value::as_str) == Some("list") || v.get("data_shape").is_some();
    let inner = if v.get("type").and_then(Value::as_str) == Some("tensor") {
        // MLeap's `Value.tensor` stores a tensor attribute as the value's `t` case.
        pb::value::V::T(tensor(v))
    } else if is_list {
        let mut l = pb::List::default();
        if let Some(a) = list("double") {
            l.d = a.iter().map(f64_of).collect();
        }
        if let Some(a) = list("long") {
            l.l = a.iter().map(|x| x.as_i64().unwrap()).collect();
        }
        if let Some(a) = list("int") {
            l.i = a.iter().map(|x| x.as_i64().unwrap() as i32).collect();
        }
        if let Some(a) = list("string") {
            l.s = a.iter().map(|x| x.as_str().unwrap().to_string()).collect();
        }
        if let Some(a) = list("boolean") {
            l.b = a.iter().map(|x| x.as_bool().unwrap()).collect();
        }
        if let Some(a) = list("tensor") {
            l.t = a.iter().map(tensor).collect();
        }
        if let Some(a) = list("data_shape") {
            l.ds = a.iter().map(data_shape).collect();
        }
        pb::value::V::L(l)
    } else {
        let mut s = pb::Scalar::default();
        if let Some(x) = v.get("double") {
            s.d = f64_of(x);
        } else if let Some(x) = v.get("long") {
            s.l = x.as_i64().unwrap();
        } else if let Some(x) = v.get("int") {
            s.i = x.as_i64().unwrap() as i32;
        } else if let Some(x) = v.get("string") {
            s.s = x.as_str().unwrap().into();
        } else if let Some(x) = v.get("boolean") {
            s.b = x.as_bool().unwrap();
        } else {
            panic!("unsupported attribute {v}");
        }
        pb::value::V::S(s)
    };
    pb::Value { v: Some(inner) }
}

fn model(doc: &Value) -> pb::Model {
    let attributes: HashMap<String, pb::Value> = doc["attributes"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), value(v))).collect())
        .unwrap_or_default();
    pb::Model {
        op: doc["op"].as_str().unwrap().into(),
        attributes: Some(pb::Attributes { list: attributes }),
    }
}

fn node(doc: &Value) -> pb::Node {
    let side = |k: &str| -> Vec<pb::Socket> {
        doc["shape"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| pb::Socket {
                port: s["port"].as_str().unwrap().into(),
                name: s["name"].as_str().unwrap().into(),
            })
            .collect()
    };
    pb::Node {
        name: doc["name"].as_str().unwrap().into(),
        shape: Some(pb::NodeShape {
            inputs: side("inputs"),
            outputs: side("outputs"),
        }),
    }
}

fn tree_node(line: &Value) -> pb::TreeNode {
    let n = if line["type"] == "leaf" {
        pb::tree_node::N::Leaf(pb::LeafNode {
            values: line["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(f64_of)
                .collect(),
        })
    } else {
        let s = &line["split"];
        let split = if s["type"] == "continuous" {
            pb::split::S::Continuous(pb::ContinuousSplit {
                feature_index: s["featureIndex"].as_u64().unwrap() as u32,
                threshold: f64_of(&s["threshold"]),
            })
        } else {
            pb::split::S::Categorical(pb::CategoricalSplit {
                feature_index: s["featureIndex"].as_u64().unwrap() as u32,
                is_left: s["isLeft"].as_bool().unwrap(),
                num_categories: s["numCategories"].as_u64().unwrap() as u32,
                categories: s["categories"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(f64_of)
                    .collect(),
            })
        };
        pb::tree_node::N::Internal(pb::InternalNode {
            split: Some(pb::Split { s: Some(split) }),
        })
    };
    pb::TreeNode { n: Some(n) }
}

/// The protobuf-format re-encoding of the JSON-format bundle `json_zip`.
pub fn to_protobuf(json_zip: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(json_zip)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        if e.is_dir() {
            continue;
        }
        let name = e.name().unwrap().to_string();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        let parse = |b: &[u8]| -> Value { serde_json::from_slice(b).unwrap() };
        let (path, data) = if name == "bundle.json" {
            let mut b = parse(&bytes);
            b["format"] = Value::String("protobuf".into());
            (name, serde_json::to_vec(&b).unwrap())
        } else if let Some(dir) = name.strip_suffix("model.json") {
            (
                format!("{dir}model.pb"),
                model(&parse(&bytes)).encode_to_vec(),
            )
        } else if let Some(dir) = name.strip_suffix("node.json") {
            (
                format!("{dir}node.pb"),
                node(&parse(&bytes)).encode_to_vec(),
            )
        } else if let Some(dir) = name.strip_suffix("tree.json") {
            let text = String::from_utf8(bytes).unwrap();
            let mut data = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let msg = tree_node(&serde_json::from_str(line).unwrap()).encode_to_vec();
                data.extend((msg.len() as u32).to_be_bytes());
                data.extend(msg);
            }
            (format!("{dir}tree.pb"), data)
        } else {
            (name, bytes)
        };
        out.start_file(path, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}
