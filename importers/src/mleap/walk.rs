//! The walk over a Bundle.ML tree: reads `bundle.json` and each node folder's documents,
//! recurses into pipelines (bounded in depth and node count), hands every other node to its op
//! converter (`ops::converter`), and turns what the converters emitted into a keel bundle with
//! the inferred input schema and the last stage's outputs.

use super::archive::Files;
use super::context::{Kind, OpNode, Reader, Shape, State, one_component};
use super::{ImportError, ops};
use keel_bundle::{Bundle, DType, FORMAT_NAME, FORMAT_VERSION, Field, Limits, Manifest, Producer};
use serde_json::Value;
use std::collections::BTreeMap;

/// The op of a node whose stages are its children.
const PIPELINE: &str = "pipeline";

/// Converts the whole bundle.
pub(crate) fn convert(files: &Files, limits: &Limits) -> Result<Bundle, ImportError> {
    let meta = files.json("bundle.json")?;
    let text = |k: &str| {
        meta.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let format = text("format");
    // MLeap names the encoding `json` or `protobuf` (its SerializationFormat objects `Json`
    // and `Protobuf`; accepted with any case or package prefix). `mixed` (JSON for small
    // documents, protobuf for large ones) is not supported.
    let short = format
        .rsplit(['.', '$'])
        .find(|p| !p.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase();
    let proto = match short.as_str() {
        "json" => false,
        "protobuf" => true,
        _ => {
            return Err(ImportError::unsupported(
                "bundle.json",
                format!(
                    "Bundle.ML format `{format}` is not supported (supported: json, protobuf; re-save the MLeap bundle with SerializationFormat.Json or Protobuf)"
                ),
            ));
        }
    };
    let rd = Reader::new(files, proto);
    let mut st = State::new();
    node(&rd, "root", &mut st, 0, limits)?;
    if st.stages() == 0 {
        return Err(ImportError::malformed("root", "the bundle has no stages"));
    }
    let done = st.finish();
    let field = |name: &str, kind: Kind, nullable: bool| match kind {
        Kind::Utf8 => Field::scalar(name, DType::Utf8, nullable),
        Kind::F64 => Field::scalar(name, DType::F64, nullable),
        Kind::I32 => Field::scalar(name, DType::I32, nullable),
        Kind::Vector(w) => Field::vector(name, DType::F64, w as u64),
    };
    // Inputs are declared non-nullable: MLeap fails on a missing value.
    let inputs: Vec<Field> = done
        .inputs
        .iter()
        .map(|(c, k)| field(c, *k, false))
        .collect();
    let outputs: Vec<Field> = done
        .outputs
        .iter()
        .map(|(c, k, nullable)| field(c, *k, *nullable))
        .collect();
    let (graph, tensors) = done.emit.finish(
        PIPELINE.into(),
        inputs.iter().map(|f| f.name.clone()).collect(),
        "imported from an MLeap Bundle.ML".into(),
    )?;
    let name = text("name");
    let mut metadata = BTreeMap::new();
    metadata.insert("mleap.uid".to_string(), text("uid"));
    metadata.insert("mleap.timestamp".to_string(), text("timestamp"));
    metadata.insert(
        "mleap.format".to_string(),
        if proto { "protobuf" } else { "json" }.to_string(),
    );
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION.into(),
        name: if name.is_empty() {
            "mleap".into()
        } else {
            name
        },
        uid: if text("uid").is_empty() {
            "mleap".into()
        } else {
            text("uid")
        },
        created: created(&text("timestamp")),
        producer: Producer {
            name: "keel-import.mleap".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            framework: "mleap".into(),
            framework_version: text("version"),
        },
        root: PIPELINE.into(),
        inputs,
        outputs,
        metadata,
        entries: Vec::new(),
    };
    Ok(Bundle::new(manifest, graph, tensors)?)
}

/// MLeap's timestamp (`2017-09-22T00:59:02.941`, local time without a zone) as RFC 3339: the
/// date and time to the second, marked UTC since the zone is unknown.
fn created(ts: &str) -> String {
    let ok = ts.len() >= 19
        && ts.is_char_boundary(19)
        && ts[..19].bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if ok {
        format!("{}Z", &ts[..19])
    } else {
        "1970-01-01T00:00:00Z".into()
    }
}

/// Converts the node in folder `dir`: a pipeline's children in order, any other op by its
/// converter.
fn node(
    rd: &Reader<'_>,
    dir: &str,
    st: &mut State,
    depth: usize,
    limits: &Limits,
) -> Result<(), ImportError> {
    if depth > limits.max_depth {
        return Err(ImportError::Limit {
            entry: dir.into(),
            message: format!("pipelines nested deeper than {}", limits.max_depth),
        });
    }
    if st.stages() > limits.max_nodes {
        return Err(ImportError::Limit {
            entry: dir.into(),
            message: format!("more than {} stages", limits.max_nodes),
        });
    }
    let model = rd.model(dir)?;
    let (node_entry, node_doc) = rd.node(dir)?;
    let name = node_doc
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::malformed(&node_entry, "no string `name`"))?
        .to_string();
    let shape = Shape::parse(&node_entry, &node_doc)?;
    if model.op == PIPELINE {
        for child in model.strs("nodes")? {
            one_component(
                &child,
                format!("{dir}/{child}.node"),
                "a pipeline node name must be one path component",
            )?;
            node(rd, &format!("{dir}/{child}.node"), st, depth + 1, limits)?;
        }
        return Ok(());
    }
    let convert = ops::converter(&model.op).ok_or_else(|| ImportError::UnsupportedOp {
        node: dir.into(),
        op: model.op.clone(),
        supported: ops::SUPPORTED_OPS.join(", "),
    })?;
    let op = OpNode {
        rd,
        model: &model,
        shape: &shape,
        dir,
        name: &name,
        doc: format!("MLeap {} `{}` ({dir})", model.op, name),
    };
    convert(&op, st)
}
