//! Walks the MLeap node tree and emits one keel `spark.*` stage per MLeap stage, tracking the
//! columns written so far (their kind and width) to infer the input schema and the outputs.

use super::archive::Files;
use super::attrs::ModelDoc;
use super::trees::Nodes;
use super::{ImportError, ops, proto, trees};
use keel_bundle::{
    Attr, Binding, Bundle, DType, FORMAT_NAME, FORMAT_VERSION, Field, Limits, Manifest, Node,
    Producer, TensorRef, TensorWriter,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

const TENSOR_FILE: &str = "tensors/params.safetensors";

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Utf8,
    F64,
    /// A k-means cluster index (Spark writes an integer column).
    I32,
    Vector(usize),
}

/// Reads a node folder's documents in the bundle's encoding.
pub(super) struct Reader<'a> {
    files: &'a Files,
    /// `format: protobuf` (`model.pb`, `node.pb`, `tree.pb`) rather than JSON.
    proto: bool,
}

impl Reader<'_> {
    fn ext(&self) -> &'static str {
        if self.proto { "pb" } else { "json" }
    }

    /// The `model.json` / `model.pb` of `dir`.
    pub(super) fn model(&self, dir: &str) -> Result<ModelDoc, ImportError> {
        let entry = format!("{dir}/model.{}", self.ext());
        let doc = if self.proto {
            proto::model_json(&entry, self.files.get(&entry)?)?
        } else {
            self.files.json(&entry)?
        };
        ModelDoc::parse(&entry, &doc)
    }

    /// The `node.json` / `node.pb` of `dir`, with its entry name.
    fn node(&self, dir: &str) -> Result<(String, Value), ImportError> {
        let entry = format!("{dir}/node.{}", self.ext());
        let doc = if self.proto {
            proto::node_json(&entry, self.files.get(&entry)?)?
        } else {
            self.files.json(&entry)?
        };
        Ok((entry, doc))
    }

    /// The nodes of the tree stored in `dir` (`tree.json` / `tree.pb`), with its entry name.
    pub(super) fn tree(&self, dir: &str) -> Result<(String, Vec<Value>), ImportError> {
        let entry = format!("{dir}/tree.{}", self.ext());
        let bytes = self.files.get(&entry)?;
        let lines = if self.proto {
            proto::tree_lines(&entry, bytes)?
        } else {
            trees::json_lines(&entry, bytes)?
        };
        Ok((entry, lines))
    }
}

#[derive(Default)]
pub(super) struct State {
    /// Columns that may hold nulls (a bucketizer's or index-to-string's output).
    nullable: HashSet<String>,
    /// Columns written by a stage, with their kind.
    written: HashMap<String, Kind>,
    /// Inputs inferred so far, in first-use order.
    inputs: Vec<(String, Kind)>,
    stages: Vec<Node>,
    names: HashMap<String, usize>,
    tensors: TensorWriter,
    n_tensors: usize,
    /// The last stage's outputs.
    last_outputs: Vec<(String, Kind)>,
}

impl State {
    /// The kind of column `col` as written so far, if a stage wrote it.
    pub(super) fn written(&self, col: &str) -> Option<Kind> {
        self.written.get(col).copied()
    }

    /// Marks an output column as nullable.
    pub(super) fn nullable(&mut self, col: &str) {
        self.nullable.insert(col.to_string());
    }

    /// The kind of column `col` read by `node` as `want` (None: whatever it is, else F64).
    pub(super) fn read(&mut self, node: &str, col: &str, want: Kind) -> Result<Kind, ImportError> {
        if let Some(&k) = self.written.get(col) {
            return Ok(k);
        }
        if let Some((_, k)) = self.inputs.iter().find(|(n, _)| n == col) {
            if *k != want {
                return Err(ImportError::unsupported(
                    node,
                    format!("input column `{col}` is read both as {k:?} and as {want:?}"),
                ));
            }
            return Ok(*k);
        }
        self.inputs.push((col.to_string(), want));
        Ok(want)
    }

    fn write(&mut self, node: &str, col: &str, kind: Kind) -> Result<(), ImportError> {
        if self.written.insert(col.to_string(), kind).is_some()
            || self.inputs.iter().any(|(n, _)| n == col)
        {
            return Err(ImportError::unsupported(
                node,
                format!("column `{col}` is written twice (or overwrites an input)"),
            ));
        }
        Ok(())
    }

    pub(super) fn f64_tensor(&mut self, shape: &[usize], data: &[f64]) -> Attr {
        let key = format!("t{}", self.n_tensors);
        self.n_tensors += 1;
        self.tensors.f64(&key, shape, data);
        Attr::Tensor(TensorRef {
            file: TENSOR_FILE.into(),
            key,
        })
    }

    pub(super) fn i64_tensor(&mut self, data: &[i64]) -> Attr {
        let key = format!("t{}", self.n_tensors);
        self.n_tensors += 1;
        self.tensors.i64(&key, &[data.len()], data);
        Attr::Tensor(TensorRef {
            file: TENSOR_FILE.into(),
            key,
        })
    }

    fn unique(&mut self, name: &str) -> String {
        let n = self.names.entry(name.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            name.to_string()
        } else {
            format!("{name}_{n}")
        }
    }

    #[allow(clippy::too_many_arguments)] // one stage's parts, named at each call
    pub(super) fn stage(
        &mut self,
        name: &str,
        op: &str,
        inputs: Vec<String>,
        outputs: Vec<(&str, String, Kind)>,
        attrs: Vec<(&str, Attr)>,
        doc: String,
    ) -> Result<(), ImportError> {
        for (_, col, kind) in &outputs {
            self.write(name, col, *kind)?;
        }
        // One binding per port, its columns in order (a multi-column stage binds several).
        let mut bindings: Vec<(&str, Vec<String>)> = Vec::new();
        for (port, col, _) in &outputs {
            match bindings.iter_mut().find(|b| b.0 == *port) {
                Some(b) => b.1.push(col.clone()),
                None => bindings.push((*port, vec![col.clone()])),
            }
        }
        let node = Node {
            name: self.unique(name),
            op: op.to_string(),
            inputs: vec![Binding::new("X", inputs)],
            outputs: bindings
                .into_iter()
                .map(|(port, cols)| Binding::new(port, cols))
                .collect(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            children: Vec::new(),
            doc,
        };
        self.last_outputs = outputs.into_iter().map(|(_, c, k)| (c, k)).collect();
        self.stages.push(node);
        Ok(())
    }
}

/// The port -> column bindings of a `node.json`.
pub(super) struct Shape {
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
}

impl Shape {
    fn parse(entry: &str, doc: &Value) -> Result<Shape, ImportError> {
        let side = |key: &str| -> Result<Vec<(String, String)>, ImportError> {
            let list = doc
                .get("shape")
                .and_then(|s| s.get(key))
                .and_then(Value::as_array)
                .ok_or_else(|| ImportError::malformed(entry, format!("no `shape.{key}` list")))?;
            list.iter()
                .map(|b| {
                    let port = b.get("port").and_then(Value::as_str);
                    let name = b.get("name").and_then(Value::as_str);
                    match (port, name) {
                        (Some(p), Some(n)) => Ok((p.to_string(), n.to_string())),
                        _ => Err(ImportError::malformed(
                            entry,
                            format!("a `shape.{key}` binding without string `port` and `name`"),
                        )),
                    }
                })
                .collect()
        };
        Ok(Shape {
            inputs: side("inputs")?,
            outputs: side("outputs")?,
        })
    }

    fn one(list: &[(String, String)], port: &str, node: &str) -> Result<String, ImportError> {
        list.iter()
            .find(|(p, _)| p == port)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| ImportError::malformed(node, format!("port `{port}` is not bound")))
    }

    pub(super) fn input(&self, port: &str, node: &str) -> Result<String, ImportError> {
        Self::one(&self.inputs, port, node)
    }

    pub(super) fn output(&self, port: &str, node: &str) -> Result<String, ImportError> {
        Self::one(&self.outputs, port, node)
    }

    /// The column bound to `port`, if any.
    pub(super) fn output_opt(&self, port: &str) -> Option<String> {
        self.outputs
            .iter()
            .find(|(p, _)| p == port)
            .map(|(_, c)| c.clone())
    }

    /// `output0`, `output1`, ... in numeric order.
    pub(super) fn numbered_outputs(&self, node: &str) -> Result<Vec<String>, ImportError> {
        (0..self.outputs.len())
            .map(|i| Self::one(&self.outputs, &format!("output{i}"), node))
            .collect()
    }

    /// `input0`, `input1`, ... in numeric order.
    pub(super) fn numbered_inputs(&self, node: &str) -> Result<Vec<String>, ImportError> {
        let mut cols = Vec::new();
        for (i, (port, col)) in self.inputs.iter().enumerate() {
            if port != &format!("input{i}") {
                // MLeap writes them in order; anything else is not a layout we know.
                let by_port = Self::one(&self.inputs, &format!("input{i}"), node)?;
                cols.push(by_port);
            } else {
                cols.push(col.clone());
            }
        }
        if cols.is_empty() {
            return Err(ImportError::malformed(node, "no inputs"));
        }
        Ok(cols)
    }
}

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
    let rd = Reader { files, proto };
    let mut st = State::default();
    node(&rd, "root", &mut st, 0, limits)?;
    if st.stages.is_empty() {
        return Err(ImportError::malformed("root", "the bundle has no stages"));
    }
    let field = |(name, kind): &(String, Kind), nullable: bool| match kind {
        Kind::Utf8 => Field::scalar(name, DType::Utf8, nullable),
        Kind::F64 => Field::scalar(name, DType::F64, nullable),
        Kind::I32 => Field::scalar(name, DType::I32, nullable),
        Kind::Vector(w) => Field::vector(name, DType::F64, *w as u64),
    };
    let inputs: Vec<Field> = st.inputs.iter().map(|c| field(c, false)).collect();
    let outputs: Vec<Field> = st
        .last_outputs
        .iter()
        .map(|c| field(c, st.nullable.contains(&c.0)))
        .collect();
    let mut written: Vec<String> = st.written.keys().cloned().collect();
    written.sort();
    let graph = Node {
        name: "pipeline".into(),
        op: "pipeline".into(),
        inputs: vec![Binding::new("in", inputs.iter().map(|f| f.name.clone()))],
        outputs: vec![Binding::new("out", written)],
        attrs: BTreeMap::new(),
        children: std::mem::take(&mut st.stages),
        doc: "imported from an MLeap Bundle.ML".into(),
    };
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
        root: "pipeline".into(),
        inputs,
        outputs,
        metadata,
        entries: Vec::new(),
    };
    let tensors = if st.n_tensors > 0 {
        vec![(TENSOR_FILE.to_string(), st.tensors.finish()?)]
    } else {
        Vec::new()
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
    if st.stages.len() > limits.max_nodes {
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
    let doc = format!("MLeap {} `{}` ({dir})", model.op, name);
    match model.op.as_str() {
        "pipeline" => {
            for child in model.strs("nodes")? {
                if child.contains('/') || child == ".." || child == "." || child.is_empty() {
                    return Err(ImportError::UnsafePath {
                        entry: format!("{dir}/{child}.node"),
                        reason: "a pipeline node name must be one path component",
                    });
                }
                node(rd, &format!("{dir}/{child}.node"), st, depth + 1, limits)?;
            }
            Ok(())
        }
        "string_indexer" => {
            let mode = if model.has("handle_invalid") {
                model.str("handle_invalid")?.to_string()
            } else {
                "error".into()
            };
            if mode != "error" && mode != "keep" {
                return Err(ImportError::unsupported(
                    dir,
                    format!("string_indexer handle_invalid `{mode}` (supported: error, keep)"),
                ));
            }
            let labels = model.strs("labels")?;
            let input = shape.input("input", dir)?;
            st.read(dir, &input, Kind::Utf8)?;
            let out = shape.output("output", dir)?;
            st.stage(
                &name,
                "spark.string_indexer",
                vec![input],
                vec![("Y", out, Kind::F64)],
                vec![
                    ("labels", Attr::List(vec![Attr::Strs(labels)])),
                    ("handle_invalid", Attr::Str(mode)),
                ],
                doc,
            )
        }
        "one_hot_encoder" if !model.has("size") => {
            ops::one_hot_multi(&model, &shape, dir, &name, st, doc)
        }
        "one_hot_encoder" => one_hot(&model, &shape, dir, &name, st, doc),
        "vector_assembler" => {
            let cols = shape.numbered_inputs(dir)?;
            let shapes = model
                .raw("input_shapes")
                .and_then(|s| s.get("data_shape"))
                .and_then(Value::as_array);
            let mut width = 0usize;
            for (i, col) in cols.iter().enumerate() {
                // A column no stage wrote takes the kind MLeap recorded for it.
                let declared = match shapes.and_then(|s| s.get(i)) {
                    Some(s) if s.get("base").and_then(Value::as_str) == Some("tensor") => {
                        let w = s
                            .get("tensorShape")
                            .and_then(|t| t.get("dimensions"))
                            .and_then(Value::as_array)
                            .and_then(|d| d.first())
                            .and_then(|d| d.get("size"))
                            .and_then(Value::as_u64)
                            .and_then(|w| usize::try_from(w).ok())
                            .ok_or_else(|| {
                                ImportError::malformed(
                                    &model.entry,
                                    format!("input_shapes[{i}]: a tensor without a size"),
                                )
                            })?;
                        Kind::Vector(w)
                    }
                    _ => Kind::F64,
                };
                width += match st.read(dir, col, declared)? {
                    Kind::Utf8 => {
                        return Err(ImportError::unsupported(
                            dir,
                            format!("vector_assembler input `{col}` holds strings"),
                        ));
                    }
                    Kind::F64 | Kind::I32 => 1,
                    Kind::Vector(w) => w,
                };
            }
            let out = shape.output("output", dir)?;
            // `keep`: a NaN passes through as MLeap's assembler does; NULLs never reach it
            // (the inputs are declared non-nullable, and MLeap fails on them).
            st.stage(
                &name,
                "spark.vector_assembler",
                cols,
                vec![("Y", out, Kind::Vector(width))],
                vec![("handle_invalid", Attr::Str("keep".into()))],
                doc,
            )
        }
        "standard_scaler" => {
            let mean = if model.has("mean") {
                Some(model.f64s("mean")?)
            } else {
                None
            };
            let std = if model.has("std") {
                Some(model.f64s("std")?)
            } else {
                None
            };
            let width = match (&mean, &std) {
                (Some(m), Some(s)) if m.len() != s.len() => {
                    return Err(ImportError::malformed(
                        &model.entry,
                        format!("`mean` has {} values, `std` {}", m.len(), s.len()),
                    ));
                }
                (Some(m), _) => m.len(),
                (None, Some(s)) => s.len(),
                (None, None) => {
                    return Err(ImportError::malformed(
                        &model.entry,
                        "neither `mean` nor `std`",
                    ));
                }
            };
            let input = shape.input("input", dir)?;
            vector_in(st, dir, &input, width)?;
            let out = shape.output("output", dir)?;
            let mut attrs = Vec::new();
            if let Some(m) = mean {
                attrs.push(("mean", st.f64_tensor(&[width], &m)));
            }
            if let Some(s) = std {
                attrs.push(("std", st.f64_tensor(&[width], &s)));
            }
            st.stage(
                &name,
                "spark.standard_scaler",
                vec![input],
                vec![("Y", out, Kind::Vector(width))],
                attrs,
                doc,
            )
        }
        "linear_regression" => {
            let coef = model.f64s("coefficients")?;
            let intercept = model.f64("intercept")?;
            let input = shape.input("features", dir)?;
            vector_in(st, dir, &input, coef.len())?;
            let out = shape.output("prediction", dir)?;
            let coef = st.f64_tensor(&[1, coef.len()], &coef);
            st.stage(
                &name,
                "spark.linear",
                vec![input],
                vec![("prediction", out, Kind::F64)],
                vec![
                    ("coef", coef),
                    ("intercept", Attr::F64s(vec![intercept])),
                    ("model", Attr::Str("regression".into())),
                ],
                doc,
            )
        }
        "decision_tree_regression" | "random_forest_regression" => {
            trees(rd, &model, &shape, dir, &name, st, doc)
        }
        // The newer ops, and the refusal of anything unknown.
        _ => ops::convert(rd, &model, &shape, dir, &name, st, doc),
    }
}

/// Reads `col` as a vector of `width` elements.
pub(super) fn vector_in(
    st: &mut State,
    dir: &str,
    col: &str,
    width: usize,
) -> Result<(), ImportError> {
    match st.read(dir, col, Kind::Vector(width))? {
        Kind::Vector(w) if w == width => Ok(()),
        k => Err(ImportError::malformed(
            dir,
            format!("input `{col}` is {k:?}, the stage expects a vector of {width}"),
        )),
    }
}

/// MLeap's `one_hot_encoder`. MLeap 0.8 stores `size` (the output vector's length: Spark's
/// category count minus one under `drop_last`) and lights element `i` for an index `i < size`,
/// writing an empty vector for the index `size` (the dropped last category, or the unseen
/// category a `keep` indexer writes); it ignores `drop_last` when scoring, since `size`
/// already accounts for it. That is keel's encoder fitted with `size + 1` categories under
/// `drop_last` and `handle_invalid: error`, the same on every index a string indexer can write
/// (`0..=size`). Beyond that the two differ: an index above `size` is an empty vector in MLeap
/// and an error in keel, and a fractional index is an error in MLeap and truncated in keel.
fn one_hot(
    model: &ModelDoc,
    shape: &Shape,
    dir: &str,
    name: &str,
    st: &mut State,
    doc: String,
) -> Result<(), ImportError> {
    if model.has("drop_last") {
        // Checked for its kind only: scoring ignores it (see above).
        model.bool("drop_last")?;
    }
    let size = model.i64("size")?;
    let width = usize::try_from(size)
        .ok()
        .filter(|&s| s > 0 && s < (1 << 24))
        .ok_or_else(|| ImportError::malformed(&model.entry, format!("size {size}")))?;
    let input = shape.input("input", dir)?;
    if st.read(dir, &input, Kind::F64)? != Kind::F64 {
        return Err(ImportError::malformed(
            dir,
            format!("input `{input}` is not a scalar"),
        ));
    }
    let out = shape.output("output", dir)?;
    st.stage(
        name,
        "spark.one_hot_encoder",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        vec![
            ("sizes", Attr::I64s(vec![size + 1])),
            ("drop_last", Attr::Bool(true)),
            ("handle_invalid", Attr::Str("error".into())),
        ],
        doc,
    )
}

/// The tree models: `decision_tree_regression`/`_classifier` (the tree in the node folder),
/// `random_forest_regression`/`_classifier` and `gbt_regression`/`_classifier` (trees in the
/// folders the `trees` attribute lists, each with its own `model` document). Classification
/// trees and forests keep each leaf's class statistics (`num_classes` values); regression
/// trees, and every GBT tree, one prediction.
pub(super) fn trees(
    rd: &Reader<'_>,
    model: &ModelDoc,
    shape: &Shape,
    dir: &str,
    name: &str,
    st: &mut State,
    doc: String,
) -> Result<(), ImportError> {
    let n_features = model.i64("num_features")?;
    let n = usize::try_from(n_features)
        .ok()
        .filter(|&n| n > 0 && n < (1 << 24))
        .ok_or_else(|| {
            ImportError::malformed(&model.entry, format!("num_features {n_features}"))
        })?;
    let op = model.op.as_str();
    let classification = op.ends_with("_classifier");
    let ensemble = if op.starts_with("decision_tree") {
        "tree"
    } else if op.starts_with("random_forest") {
        "forest"
    } else {
        "gbt"
    };
    let classes = if classification {
        let k = model.i64("num_classes")?;
        let k = usize::try_from(k)
            .ok()
            .filter(|k| (2..(1 << 16)).contains(k))
            .ok_or_else(|| ImportError::malformed(&model.entry, format!("num_classes {k}")))?;
        if ensemble == "gbt" && k != 2 {
            return Err(ImportError::unsupported(
                dir,
                format!("gbt_classifier with {k} classes (Spark's GBT classifier is binary)"),
            ));
        }
        Some(k)
    } else {
        None
    };
    let width = match classes {
        Some(k) if ensemble != "gbt" => k,
        _ => 1,
    };
    // The op of each tree of an ensemble: GBT trees are regression trees.
    let tree_op = if classification && ensemble != "gbt" {
        "decision_tree_classifier"
    } else {
        "decision_tree_regression"
    };
    let mut nodes = Nodes::new();
    let mut weights = Vec::new();
    if ensemble == "tree" {
        let (entry, lines) = rd.tree(dir)?;
        nodes.add_tree(&entry, &lines, n, width)?;
    } else {
        let names = model.strs("trees")?;
        if names.is_empty() {
            return Err(ImportError::malformed(
                &model.entry,
                "an ensemble without trees",
            ));
        }
        if model.has("tree_weights") || ensemble == "gbt" {
            weights = model.f64s("tree_weights")?;
            if weights.len() != names.len() {
                return Err(ImportError::malformed(
                    &model.entry,
                    format!("{} tree weights for {} trees", weights.len(), names.len()),
                ));
            }
            // Spark's forests average the trees and ignore the weights, which Spark always
            // sets to 1; other weights would mean some other model.
            if ensemble == "forest" && weights.iter().any(|&x| x != 1.0) {
                return Err(ImportError::unsupported(
                    dir,
                    format!("{op} with tree weights other than 1.0"),
                ));
            }
        }
        for t in &names {
            if t.contains('/') || t == ".." || t == "." || t.is_empty() {
                return Err(ImportError::UnsafePath {
                    entry: format!("{dir}/{t}"),
                    reason: "a tree name must be one path component",
                });
            }
            let tdir = format!("{dir}/{t}");
            let tm = rd.model(&tdir)?;
            if tm.op != tree_op {
                return Err(ImportError::unsupported(
                    &tm.entry,
                    format!("a tree of op `{}` in a {op} (expected {tree_op})", tm.op),
                ));
            }
            let (entry, lines) = rd.tree(&tdir)?;
            nodes.add_tree(&entry, &lines, n, width)?;
        }
    }
    let input = shape.input("features", dir)?;
    vector_in(st, dir, &input, n)?;
    let mut attrs = vec![
        ("tree_nodes", st.i64_tensor(&nodes.tree_nodes)),
        ("feature", st.i64_tensor(&nodes.feature)),
        (
            "threshold",
            st.f64_tensor(&[nodes.threshold.len()], &nodes.threshold),
        ),
        ("left", st.i64_tensor(&nodes.left)),
        ("right", st.i64_tensor(&nodes.right)),
        ("num_categories", st.i64_tensor(&nodes.num_categories)),
        ("category_offsets", st.i64_tensor(&nodes.category_offsets)),
        ("categories", Attr::F64s(nodes.categories.clone())),
        (
            "leaf_values",
            st.f64_tensor(
                &[nodes.leaf_values.len() / width.max(1), width],
                &nodes.leaf_values,
            ),
        ),
        ("n_features", Attr::I64(n_features)),
        ("ensemble", Attr::Str(ensemble.into())),
        (
            "task",
            Attr::Str(
                if classification {
                    "classification"
                } else {
                    "regression"
                }
                .into(),
            ),
        ),
    ];
    if ensemble == "gbt" {
        attrs.push(("tree_weights", Attr::F64s(weights)));
    }
    let outputs = match classes {
        Some(k) => {
            attrs.push(("num_classes", Attr::I64(k as i64)));
            ops::push_thresholds(model, k, &mut attrs)?;
            ops::classifier_outputs(shape, dir, k)?
        }
        None => vec![("prediction", shape.output("prediction", dir)?, Kind::F64)],
    };
    st.stage(
        name,
        "spark.tree_ensemble",
        vec![input],
        outputs,
        attrs,
        doc,
    )
}
