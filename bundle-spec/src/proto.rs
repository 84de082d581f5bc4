//! The protobuf encoding: a field-for-field mapping between the logical model (`model.rs`) and
//! the prost messages generated from `proto/keel_bundle.proto`. Maps are written as repeated
//! entries sorted by key, so both encodings are deterministic.

use crate::error::BundleError;
use crate::model::{Attr, Binding, DType, Entry, Field, Manifest, Node, Producer, TensorRef};
use crate::pb;

pub(crate) fn manifest_to_pb(m: &Manifest) -> pb::Manifest {
    pb::Manifest {
        format: m.format.clone(),
        format_version: m.format_version.clone(),
        name: m.name.clone(),
        uid: m.uid.clone(),
        created: m.created.clone(),
        producer: Some(pb::Producer {
            name: m.producer.name.clone(),
            version: m.producer.version.clone(),
            framework: m.producer.framework.clone(),
            framework_version: m.producer.framework_version.clone(),
        }),
        root: m.root.clone(),
        inputs: m.inputs.iter().map(field_to_pb).collect(),
        outputs: m.outputs.iter().map(field_to_pb).collect(),
        metadata: m
            .metadata
            .iter()
            .map(|(k, v)| pb::StringEntry {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        entries: m
            .entries
            .iter()
            .map(|e| pb::Entry {
                path: e.path.clone(),
                sha256: e.sha256.clone(),
                size: e.size,
            })
            .collect(),
    }
}

pub(crate) fn manifest_from_pb(m: pb::Manifest, entry: &str) -> Result<Manifest, BundleError> {
    let p = m.producer.unwrap_or_default();
    let mut metadata = std::collections::BTreeMap::new();
    for e in m.metadata {
        // A repeated key is refused, as in `attrs`, rather than resolved by position.
        if metadata.contains_key(&e.key) {
            return Err(BundleError::malformed(
                entry,
                format!("metadata key `{}` appears twice", e.key),
            ));
        }
        metadata.insert(e.key, e.value);
    }
    Ok(Manifest {
        format: m.format,
        format_version: m.format_version,
        name: m.name,
        uid: m.uid,
        created: m.created,
        producer: Producer {
            name: p.name,
            version: p.version,
            framework: p.framework,
            framework_version: p.framework_version,
        },
        root: m.root,
        inputs: m
            .inputs
            .into_iter()
            .map(|f| field_from_pb(f, entry))
            .collect::<Result<_, _>>()?,
        outputs: m
            .outputs
            .into_iter()
            .map(|f| field_from_pb(f, entry))
            .collect::<Result<_, _>>()?,
        metadata,
        entries: m
            .entries
            .into_iter()
            .map(|e| Entry {
                path: e.path,
                sha256: e.sha256,
                size: e.size,
            })
            .collect(),
    })
}

fn field_to_pb(f: &Field) -> pb::Field {
    pb::Field {
        name: f.name.clone(),
        dtype: f.dtype.as_str().to_string(),
        shape: f.shape.clone(),
        nullable: f.nullable,
        names: f.names.clone(),
        doc: f.doc.clone(),
    }
}

fn field_from_pb(f: pb::Field, entry: &str) -> Result<Field, BundleError> {
    let dtype = DType::parse(&f.dtype).ok_or_else(|| {
        BundleError::malformed(
            entry,
            format!("field `{}`: unknown dtype `{}`", f.name, f.dtype),
        )
    })?;
    Ok(Field {
        name: f.name,
        dtype,
        shape: f.shape,
        dims: Vec::new(),
        nullable: f.nullable,
        names: f.names,
        doc: f.doc,
    })
}

pub(crate) fn node_to_pb(n: &Node) -> pb::Node {
    pb::Node {
        name: n.name.clone(),
        op: n.op.clone(),
        inputs: n.inputs.iter().map(binding_to_pb).collect(),
        outputs: n.outputs.iter().map(binding_to_pb).collect(),
        attrs: n
            .attrs
            .iter()
            .map(|(k, v)| pb::AttrEntry {
                key: k.clone(),
                value: Some(attr_to_pb(v)),
            })
            .collect(),
        children: n.children.iter().map(node_to_pb).collect(),
        doc: n.doc.clone(),
    }
}

pub(crate) fn node_from_pb(n: pb::Node, entry: &str) -> Result<Node, BundleError> {
    let mut attrs = std::collections::BTreeMap::new();
    for a in n.attrs {
        let value = a.value.ok_or_else(|| {
            BundleError::malformed(
                entry,
                format!("node `{}`: attribute `{}` has no value", n.name, a.key),
            )
        })?;
        let value = attr_from_pb(value, entry, &n.name, &a.key)?;
        if attrs.insert(a.key.clone(), value).is_some() {
            return Err(BundleError::malformed(
                entry,
                format!("node `{}`: attribute `{}` appears twice", n.name, a.key),
            ));
        }
    }
    Ok(Node {
        inputs: n.inputs.into_iter().map(binding_from_pb).collect(),
        outputs: n.outputs.into_iter().map(binding_from_pb).collect(),
        attrs,
        children: n
            .children
            .into_iter()
            .map(|c| node_from_pb(c, entry))
            .collect::<Result<_, _>>()?,
        name: n.name,
        op: n.op,
        doc: n.doc,
    })
}

fn binding_to_pb(b: &Binding) -> pb::Binding {
    pb::Binding {
        port: b.port.clone(),
        columns: b.columns.clone(),
    }
}

fn binding_from_pb(b: pb::Binding) -> Binding {
    Binding {
        port: b.port,
        columns: b.columns,
    }
}

/// Every NaN is written as the one quiet NaN: the JSON encoding cannot carry a NaN's sign or
/// payload, so without this a protobuf -> JSON -> protobuf conversion would not give back the
/// same bytes, and two logically equal bundles could encode differently.
fn canonical(v: f64) -> f64 {
    if v.is_nan() { f64::NAN } else { v }
}

fn attr_to_pb(a: &Attr) -> pb::Attr {
    use pb::attr::Kind;
    let kind = match a {
        Attr::Bool(v) => Kind::B(*v),
        Attr::I64(v) => Kind::I(*v),
        Attr::F64(v) => Kind::F(canonical(*v)),
        Attr::Str(v) => Kind::S(v.clone()),
        Attr::I64s(v) => Kind::Ints(pb::IntList { values: v.clone() }),
        Attr::F64s(v) => Kind::Floats(pb::FloatList {
            values: v.iter().copied().map(canonical).collect(),
        }),
        Attr::Strs(v) => Kind::Strings(pb::StringList { values: v.clone() }),
        Attr::List(v) => Kind::List(pb::AttrList {
            values: v.iter().map(attr_to_pb).collect(),
        }),
        Attr::Tensor(t) => Kind::Tensor(pb::TensorRef {
            file: t.file.clone(),
            key: t.key.clone(),
        }),
    };
    pb::Attr { kind: Some(kind) }
}

fn attr_from_pb(a: pb::Attr, entry: &str, node: &str, key: &str) -> Result<Attr, BundleError> {
    use pb::attr::Kind;
    let kind = a.kind.ok_or_else(|| {
        BundleError::malformed(
            entry,
            format!("node `{node}`: attribute `{key}` has no value"),
        )
    })?;
    Ok(match kind {
        Kind::B(v) => Attr::Bool(v),
        Kind::I(v) => Attr::I64(v),
        Kind::F(v) => Attr::F64(v),
        Kind::S(v) => Attr::Str(v),
        Kind::Ints(v) => Attr::I64s(v.values),
        Kind::Floats(v) => Attr::F64s(v.values),
        Kind::Strings(v) => Attr::Strs(v.values),
        Kind::List(v) => Attr::List(
            v.values
                .into_iter()
                .map(|x| attr_from_pb(x, entry, node, key))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Tensor(t) => Attr::Tensor(TensorRef {
            file: t.file,
            key: t.key,
        }),
    })
}
