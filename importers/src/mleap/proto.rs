//! Bundle.ML's protobuf encoding (`"format": "protobuf"` in `bundle.json`): `model.pb`,
//! `node.pb` and `tree.pb` decoded into the same JSON values as their `model.json`,
//! `node.json` and `tree.json` counterparts, so one converter serves both encodings.
//!
//! The message definitions (`importers/proto/mleap_bundle.proto`) follow MLeap's published
//! schema (combust/bundle-protobuf `bundle/bundle.proto` and `bundle/ext/dtree.proto`); the
//! comment atop that file lists, field by field, what was checked against which MLeap source.
//! The tests decode bytes laid out by hand from that schema (not only keel's own encoder), so
//! a field number that drifted from MLeap's would fail them.
//!
//! The mapping to the JSON forms (MLeap's own JSON writer, `JsonSupport.scala`, is the model):
//! - A `Scalar` carries one field of each kind and proto3 records no presence, so it becomes
//!   an object holding every kind (`{"double": d, "long": l, "int": i, "boolean": b,
//!   "string": s}`) and the op that reads the attribute picks the kind it expects, as MLeap's
//!   own readers do. A scalar holding a tensor becomes that tensor; one holding a data shape,
//!   a basic type or a model becomes `{"data_shape": ..}`, `{"basic_type": ..}` or
//!   `{"model": ..}`, as MLeap's JSON writes them.
//! - A `List` becomes `{"type": "list", "double": [..], "long": [..], ...}` with every kind.
//! - A `Tensor` (MLeap stores tensor attributes as `Value.t`) becomes `{"type": "tensor",
//!   "double": [..], "shape": {"dimensions": [{"size": n}, ..]}}` (or `float`/`long`/`int`/
//!   `short`/`byte`/`string`/`boolean` elements); its packed bytes are big-endian, as Java's
//!   `ByteBuffer` writes them. A string element is a 4-byte length and that many bytes, one
//!   per char (Java's `writeBytes` keeps each char's low byte), so they are read as Latin-1.
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
        Ok(pb::BasicType::Short) => (
            "short",
            chunks::<2>(entry, bytes, "short")?
                .into_iter()
                .map(|c| json!(i16::from_be_bytes(c)))
                .collect(),
        ),
        Ok(pb::BasicType::Byte) => ("byte", bytes.iter().map(|&b| json!(b as i8)).collect()),
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
                // MLeap writes each char's low byte (`DataOutputStream.writeBytes`), so each
                // byte is one char: Latin-1, the exact inverse for every char it can keep.
                out.push(json!(s.iter().map(|&b| char::from(b)).collect::<String>()));
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
    let dims: Vec<i64> = match &t.shape {
        Some(s) if !s.dimensions.is_empty() => {
            s.dimensions.iter().map(|d| i64::from(d.size)).collect()
        }
        _ => vec![values.len() as i64],
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
        Err(_) => "undefined",
    };
    let dims: Vec<Value> = ds
        .tensor_shape
        .iter()
        .flat_map(|s| &s.dimensions)
        .map(|d| json!({"size": d.size, "name": d.name}))
        .collect();
    json!({"base": base, "isNullable": ds.is_nullable, "tensorShape": {"dimensions": dims}})
}

/// A basic type under the name MLeap's JSON gives it.
fn basic_type(bt: i32) -> Value {
    let name = match pb::BasicType::try_from(bt) {
        Ok(pb::BasicType::Boolean) => "boolean",
        Ok(pb::BasicType::Byte) => "byte",
        Ok(pb::BasicType::Short) => "short",
        Ok(pb::BasicType::Int) => "int",
        Ok(pb::BasicType::Long) => "long",
        Ok(pb::BasicType::Float) => "float",
        Ok(pb::BasicType::Double) => "double",
        Ok(pb::BasicType::String) => "string",
        Ok(pb::BasicType::ByteString) => "byte_string",
        _ => "unknown",
    };
    json!(name)
}

fn value(entry: &str, v: &pb::Value) -> Result<Value, ImportError> {
    match &v.v {
        Some(pb::value::V::T(t)) => tensor(entry, t),
        Some(pb::value::V::S(s)) => {
            if let Some(t) = &s.t {
                return tensor(entry, t);
            }
            if let Some(ds) = &s.ds {
                return Ok(json!({"data_shape": data_shape(ds)}));
            }
            if let Some(m) = &s.m {
                return Ok(json!({"model": model_doc(entry, m)?}));
            }
            if s.bt != pb::BasicType::Undefined as i32 {
                return Ok(json!({"basic_type": basic_type(s.bt)}));
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
            "basic_type": l.bt.iter().map(|&b| basic_type(b)).collect::<Vec<_>>(),
            "data_shape": l.ds.iter().map(data_shape).collect::<Vec<_>>(),
            "model": l.m.iter().map(|m| model_doc(entry, m)).collect::<Result<Vec<_>, _>>()?,
        })),
        None => Err(ImportError::malformed(
            entry,
            "an attribute without a value",
        )),
    }
}

/// A `Model` message as its `model.json` document.
fn model_doc(entry: &str, m: &pb::Model) -> Result<Value, ImportError> {
    let mut attrs = Map::new();
    // Sorted, so that the document (and any error) does not depend on hash order.
    let mut list: Vec<_> = m.attributes.iter().flat_map(|a| &a.list).collect();
    list.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in list {
        let v = value(&format!("{entry}: attribute `{k}`"), v)?;
        attrs.insert(k.clone(), v);
    }
    Ok(json!({"op": m.op, "attributes": attrs}))
}

/// `model.pb` as the `model.json` document.
pub(crate) fn model_json(entry: &str, bytes: &[u8]) -> Result<Value, ImportError> {
    let m: pb::Model = decode(entry, bytes)?;
    model_doc(entry, &m)
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

/// Decoding bytes laid out by hand, field by field, from MLeap's schema (combust/bundle-protobuf
/// `bundle/bundle.proto`, `bundle/ext/dtree.proto`) and writers (`ProtoFormatModelSerializer`
/// writes `toByteArray`; `ProtoFormatTreeWriter` writes `writeInt(size)` then the message),
/// with a minimal wire writer of its own: not keel's generated messages, so a field number in
/// `mleap_bundle.proto` that drifts from MLeap's fails here.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod wire_tests {
    use super::*;

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }
    /// A varint field (wire type 0).
    fn vi(field: u64, v: u64) -> Vec<u8> {
        [varint(field << 3), varint(v)].concat()
    }
    /// A 64-bit field (wire type 1), little-endian as protobuf writes it.
    fn f64f(field: u64, x: f64) -> Vec<u8> {
        [varint((field << 3) | 1), x.to_le_bytes().to_vec()].concat()
    }
    /// A length-delimited field (wire type 2).
    fn ld(field: u64, bytes: &[u8]) -> Vec<u8> {
        [
            varint((field << 3) | 2),
            varint(bytes.len() as u64),
            bytes.to_vec(),
        ]
        .concat()
    }
    /// A packed repeated double (proto3 packs repeated scalars).
    fn packed(field: u64, xs: &[f64]) -> Vec<u8> {
        let body: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        ld(field, &body)
    }
    /// `Attributes.list` map entry: key = 1, value = 2.
    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        ld(1, &[ld(1, key.as_bytes()), ld(2, value)].concat())
    }
    /// `TensorShape { dimensions = 1: TensorDimension { size = 1 } }`.
    fn shape(dims: &[u64]) -> Vec<u8> {
        dims.iter().flat_map(|&d| ld(1, &vi(1, d))).collect()
    }

    #[test]
    fn model_pb_as_mleap_writes_it() {
        // Value.t (= 3): Tensor { base = 1: DOUBLE (7), shape = 2, value = 3 (big-endian) }.
        let be: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        let coef = ld(3, &[vi(1, 7), ld(2, &shape(&[2])), ld(3, &be)].concat());
        // Value.s (= 1): Scalar { d = 6 }.
        let intercept = ld(1, &f64f(6, 0.25));
        // Value.l (= 2): List { s = 2 (twice), d = 6 (packed) }.
        let list = ld(
            2,
            &[ld(2, b"a"), ld(2, b"b"), packed(6, &[1.0, 2.0])].concat(),
        );
        // A STRING (100) tensor: writeInt(char count) + one byte per char ("\xe9" is 'é').
        let mut sbytes = vec![0, 0, 0, 2, b'n', 0xe9];
        sbytes.extend([0, 0, 0, 1, b'x']);
        let strings = ld(3, &[vi(1, 100), ld(3, &sbytes)].concat());
        // Scalar.ds (= 10): DataShape { base = 1: TENSOR (2), tensor_shape = 3 }.
        let ds = ld(1, &ld(10, &[vi(1, 2), ld(3, &shape(&[4]))].concat()));
        // Scalar.l (= 4) and Scalar.i (= 3).
        let long = ld(1, &vi(4, 7));
        let attrs = [
            entry("coefficients", &coef),
            entry("intercept", &intercept),
            entry("labels", &list),
            entry("names", &strings),
            entry("shape", &ds),
            entry("n", &long),
        ]
        .concat();
        // Model { op = 1, attributes = 2: Attributes { list = 1 } }.
        let bytes = [ld(1, b"linear_regression"), ld(2, &attrs)].concat();
        let doc = model_json("model.pb", &bytes).unwrap();
        assert_eq!(doc["op"], "linear_regression");
        let a = &doc["attributes"];
        assert_eq!(a["coefficients"]["type"], "tensor");
        assert_eq!(a["coefficients"]["double"], json!([1.5, -2.0]));
        assert_eq!(a["coefficients"]["shape"]["dimensions"][0]["size"], 2);
        assert_eq!(a["intercept"]["double"], 0.25);
        assert_eq!(a["labels"]["type"], "list");
        assert_eq!(a["labels"]["string"], json!(["a", "b"]));
        assert_eq!(a["labels"]["double"], json!([1.0, 2.0]));
        assert_eq!(a["names"]["string"], json!(["n\u{e9}", "x"]));
        assert_eq!(a["shape"]["data_shape"]["base"], "tensor");
        assert_eq!(
            a["shape"]["data_shape"]["tensorShape"]["dimensions"][0]["size"],
            4
        );
        assert_eq!(a["n"]["long"], 7);
    }

    #[test]
    fn node_pb_as_mleap_writes_it() {
        // Socket { port = 1, name = 2 }; NodeShape { inputs = 1, outputs = 2 };
        // Node { name = 1, shape = 2 }.
        let socket =
            |port: &str, name: &str| [ld(1, port.as_bytes()), ld(2, name.as_bytes())].concat();
        let shape = [
            ld(1, &socket("features", "f")),
            ld(2, &socket("prediction", "p")),
        ]
        .concat();
        let bytes = [ld(1, b"lr"), ld(2, &shape)].concat();
        let doc = node_json("node.pb", &bytes).unwrap();
        assert_eq!(
            doc,
            json!({"name": "lr", "shape": {
                "inputs": [{"port": "features", "name": "f"}],
                "outputs": [{"port": "prediction", "name": "p"}]}})
        );
    }

    #[test]
    fn tree_pb_as_mleap_writes_it() {
        // ml.bundle.dtree.Node { internal = 1, leaf = 2 }; Split { categorical = 1,
        // continuous = 2 }; ContinuousSplit { feature_index = 1, threshold = 2 };
        // CategoricalSplit { feature_index = 1, is_left = 2, num_categories = 3,
        // categories = 4 (packed) }; LeafNode { values = 1 (packed) }.
        let continuous = ld(1, &ld(1, &ld(2, &[vi(1, 3), f64f(2, 0.5)].concat())));
        let categorical = ld(
            1,
            &ld(
                1,
                &ld(
                    1,
                    &[vi(1, 0), vi(2, 1), vi(3, 3), packed(4, &[0.0, 2.0])].concat(),
                ),
            ),
        );
        let leaf = |v: f64| ld(2, &packed(1, &[v]));
        let mut bytes = Vec::new();
        // Pre-order, each message after writeInt(size) (big-endian).
        for msg in [continuous, leaf(1.0), categorical, leaf(2.0), leaf(3.0)] {
            bytes.extend((msg.len() as u32).to_be_bytes());
            bytes.extend(msg);
        }
        let lines = tree_lines("tree.pb", &bytes).unwrap();
        assert_eq!(
            lines,
            vec![
                json!({"type": "internal", "split": {"type": "continuous", "featureIndex": 3, "threshold": 0.5}}),
                json!({"type": "leaf", "values": [1.0]}),
                json!({"type": "internal", "split": {"type": "categorical", "featureIndex": 0,
                    "isLeft": true, "numCategories": 3, "categories": [0.0, 2.0]}}),
                json!({"type": "leaf", "values": [2.0]}),
                json!({"type": "leaf", "values": [3.0]}),
            ]
        );
    }
}
