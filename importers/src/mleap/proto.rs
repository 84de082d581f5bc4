//! Bundle.ML's protobuf encoding (`"format": "protobuf"` in `bundle.json`): `model.pb`,
//! `node.pb` and `tree.pb` decoded into the same JSON values as their `model.json`,
//! `node.json` and `tree.json` counterparts, so one converter serves both encodings.
//!
//! The message definitions (`importers/proto/mleap_bundle.proto`) were written for keel from
//! our understanding of MLeap's bundle schema; the importer is tested against protobuf bundles
//! that keel's tests build by re-encoding real JSON bundles, not against protobuf bundles
//! written by MLeap itself.
//!
//! The mapping to the JSON forms:
//! - A `Scalar` carries one field of each kind and proto3 records no presence, so it becomes
//!   an object holding every kind (`{"double": d, "long": l, "int": i, "boolean": b,
//!   "string": s}`) and the op that reads the attribute picks the kind it expects, as MLeap's
//!   own readers do. A scalar holding a tensor or a data shape becomes that tensor or shape.
//! - A `List` becomes `{"type": "list", "double": [..], "long": [..], ...}` with every kind.
//! - A `Tensor` becomes `{"type": "tensor", "double": [..], "shape": {"dimensions":
//!   [{"size": n}, ..]}}` (or `long`/`int`/`string`/`boolean` elements); its packed bytes are
//!   big-endian, as Java's `ByteBuffer` writes them. A sparse tensor (`indices`) is refused.
//! - Non-finite doubles (which JSON numbers cannot hold) become the strings `"NaN"`,
//!   `"Infinity"` and `"-Infinity"`, which the attribute readers accept in both encodings.
//! - `tree.pb` holds the nodes in pre-order, each a 4-byte big-endian length followed by the
//!   message; each becomes one `tree.json` line.

use super::ImportError;
use prost::Message;
use serde_json::{Map, Value, json};

/// The messages generated from `importers/proto/mleap_bundle.proto` (public so that tests
/// and tools can build protobuf bundles).
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/ml.bundle.rs"));
}

/// A double as JSON: a number when finite, else MLeap-style text.
pub(crate) fn num(x: f64) -> Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::String("NaN".into()),
        None if x > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

fn decode<M: Message + Default>(entry: &str, bytes: &[u8]) -> Result<M, ImportError> {
    M::decode(bytes)
        .map_err(|e| ImportError::malformed(entry, format!("invalid protobuf message: {e}")))
}

/// Splits `bytes` into fixed-width big-endian chunks.
fn chunks<const N: usize>(
    entry: &str,
    bytes: &[u8],
    what: &str,
) -> Result<Vec<[u8; N]>, ImportError> {
    if !bytes.len().is_multiple_of(N) {
        return Err(ImportError::malformed(
            entry,
            format!(
                "a {what} tensor of {} bytes (not a multiple of {N})",
                bytes.len()
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
        .collect())
}

fn tensor(entry: &str, t: &pb::Tensor) -> Result<Value, ImportError> {
    if !t.indices.is_empty() {
        return Err(ImportError::malformed(
            entry,
            "a sparse tensor (with `indices`) is not supported",
        ));
    }
    let bytes = t.value.as_slice();
    let (key, values): (&str, Vec<Value>) = match pb::BasicType::try_from(t.base) {
        Ok(pb::BasicType::Double) => (
            "double",
            chunks::<8>(entry, bytes, "double")?
                .into_iter()
                .map(|c| num(f64::from_be_bytes(c)))
                .collect(),
        ),
        Ok(pb::BasicType::Float) => (
            "float",
            chunks::<4>(entry, bytes, "float")?
                .into_iter()
                .map(|c| num(f64::from(f32::from_be_bytes(c))))
                .collect(),
        ),
        Ok(pb::BasicType::Long) => (
            "long",
            chunks::<8>(entry, bytes, "long")?
                .into_iter()
                .map(|c| json!(i64::from_be_bytes(c)))
                .collect(),
        ),
        Ok(pb::BasicType::Int) => (
            "int",
            chunks::<4>(entry, bytes, "int")?
                .into_iter()
                .map(|c| json!(i32::from_be_bytes(c)))
                .collect(),
        ),
        Ok(pb::BasicType::Boolean) => ("boolean", bytes.iter().map(|b| json!(*b == 1)).collect()),
        Ok(pb::BasicType::String) => {
            let mut out = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                let (len, tail) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| ImportError::malformed(entry, "a truncated string tensor"))?;
                let len = u32::from_be_bytes(*len) as usize;
                if len > tail.len() {
                    return Err(ImportError::malformed(entry, "a truncated string tensor"));
                }
                let (s, tail) = tail.split_at(len);
                let s = std::str::from_utf8(s)
                    .map_err(|_| ImportError::malformed(entry, "a string tensor is not UTF-8"))?;
                out.push(json!(s));
                rest = tail;
            }
            ("string", out)
        }
        _ => {
            return Err(ImportError::malformed(
                entry,
                format!("a tensor of unsupported element type {}", t.base),
            ));
        }
    };
    let dims: Vec<i64> = if t.dimensions.is_empty() {
        vec![values.len() as i64]
    } else {
        t.dimensions.iter().map(|&d| i64::from(d)).collect()
    };
    // A dimension of -1 (any size) is allowed; known sizes must account for every element.
    if dims.iter().all(|&d| d >= 0) {
        let product = dims
            .iter()
            .try_fold(1i64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(-1);
        if product != values.len() as i64 {
            return Err(ImportError::malformed(
                entry,
                format!(
                    "a tensor of dimensions {dims:?} holds {} elements",
                    values.len()
                ),
            ));
        }
    }
    let dims: Vec<Value> = dims
        .iter()
        .map(|&d| json!({"size": d, "name": ""}))
        .collect();
    Ok(json!({"type": "tensor", key: values, "shape": {"dimensions": dims}}))
}

fn data_shape(ds: &pb::DataShape) -> Value {
    let base = match pb::DataShapeType::try_from(ds.base) {
        Ok(pb::DataShapeType::Scalar) => "scalar",
        Ok(pb::DataShapeType::List) => "list",
        Ok(pb::DataShapeType::Tensor) => "tensor",
        _ => "undefined",
    };
    let dims: Vec<Value> = ds
        .tensor_shape
        .iter()
        .flat_map(|s| &s.dimensions)
        .map(|d| json!({"size": d.size, "name": d.name}))
        .collect();
    json!({"base": base, "isNullable": ds.is_nullable, "tensorShape": {"dimensions": dims}})
}

fn value(entry: &str, v: &pb::Value) -> Result<Value, ImportError> {
    match &v.v {
        Some(pb::value::V::S(s)) => {
            if let Some(t) = &s.t {
                return tensor(entry, t);
            }
            if let Some(ds) = &s.ds {
                return Ok(data_shape(ds));
            }
            Ok(json!({
                "boolean": s.b,
                "string": s.s,
                "int": s.i,
                "long": s.l,
                "float": num(f64::from(s.f)),
                "double": num(s.d),
            }))
        }
        Some(pb::value::V::L(l)) => Ok(json!({
            "type": "list",
            "boolean": l.b,
            "string": l.s,
            "int": l.i,
            "long": l.l,
            "float": l.f.iter().map(|&x| num(f64::from(x))).collect::<Vec<_>>(),
            "double": l.d.iter().map(|&x| num(x)).collect::<Vec<_>>(),
            "tensor": l.t.iter().map(|t| tensor(entry, t)).collect::<Result<Vec<_>, _>>()?,
            "data_shape": l.ds.iter().map(data_shape).collect::<Vec<_>>(),
        })),
        None => Err(ImportError::malformed(
            entry,
            "an attribute without a value",
        )),
    }
}

/// `model.pb` as the `model.json` document.
pub(crate) fn model_json(entry: &str, bytes: &[u8]) -> Result<Value, ImportError> {
    let m: pb::Model = decode(entry, bytes)?;
    let mut attrs = Map::new();
    for (k, v) in &m.attributes {
        let v = value(&format!("{entry}: attribute `{k}`"), v)?;
        attrs.insert(k.clone(), v);
    }
    Ok(json!({"op": m.op, "attributes": attrs}))
}

/// `node.pb` as the `node.json` document.
pub(crate) fn node_json(entry: &str, bytes: &[u8]) -> Result<Value, ImportError> {
    let n: pb::Node = decode(entry, bytes)?;
    let shape = n.shape.unwrap_or_default();
    let side = |s: &[pb::Socket]| -> Vec<Value> {
        s.iter()
            .map(|s| json!({"port": s.port, "name": s.name}))
            .collect()
    };
    Ok(json!({
        "name": n.name,
        "shape": {"inputs": side(&shape.inputs), "outputs": side(&shape.outputs)},
    }))
}

/// `tree.pb` as the lines of `tree.json`.
pub(crate) fn tree_lines(entry: &str, bytes: &[u8]) -> Result<Vec<Value>, ImportError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let bad = |m: &str| ImportError::malformed(entry, format!("node {}: {m}", out.len()));
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("a truncated length prefix"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(bad("the message runs past the end of the file"));
        }
        let (msg, tail) = tail.split_at(len);
        let node: pb::TreeNode = decode(entry, msg)?;
        let line = match node.n {
            Some(pb::tree_node::N::Leaf(l)) => {
                json!({"type": "leaf", "values": l.values.iter().map(|&v| num(v)).collect::<Vec<_>>()})
            }
            Some(pb::tree_node::N::Internal(i)) => {
                let split = match i.split.and_then(|s| s.s) {
                    Some(pb::split::S::Continuous(c)) => json!({
                        "type": "continuous",
                        "featureIndex": c.feature_index,
                        "threshold": num(c.threshold),
                    }),
                    Some(pb::split::S::Categorical(c)) => json!({
                        "type": "categorical",
                        "featureIndex": c.feature_index,
                        "isLeft": c.is_left,
                        "numCategories": c.num_categories,
                        "categories": c.categories.iter().map(|&v| num(v)).collect::<Vec<_>>(),
                    }),
                    None => return Err(bad("an internal node without a split")),
                };
                json!({"type": "internal", "split": split})
            }
            None => return Err(bad("neither a leaf nor an internal node")),
        };
        out.push(line);
        rest = tail;
    }
    Ok(out)
}
