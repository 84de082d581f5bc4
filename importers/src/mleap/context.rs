//! What an op converter works with: the documents of the node folder being converted
//! ([`Reader`], [`OpNode`]), its port bindings ([`Shape`]), and the columns written so far with
//! the stages emitted ([`State`]). The walker (`walk.rs`) fills these in and the converters
//! (`ops/`) read and extend them; neither imports the other.

use super::archive::Files;
use super::attrs::ModelDoc;
use super::{ImportError, proto, trees};
use crate::emit::{self, Emitter};
use keel_bundle::Attr;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The bundle's one tensor entry.
pub(super) const TENSOR_FILE: &str = "tensors/params.safetensors";

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

impl<'a> Reader<'a> {
    /// Reads the documents of `files`, protobuf-encoded when `proto`.
    pub(super) fn new(files: &'a Files, proto: bool) -> Self {
        Self { files, proto }
    }

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
    pub(super) fn node(&self, dir: &str) -> Result<(String, Value), ImportError> {
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

/// Checks that `name`, taken from a document to name a folder inside `dir`, is one path
/// component, so the folder it names stays inside `dir`; `entry` is what an error names.
pub(super) fn one_component(
    name: &str,
    entry: String,
    reason: &'static str,
) -> Result<(), ImportError> {
    if name.contains('/') || name == ".." || name == "." || name.is_empty() {
        return Err(ImportError::UnsafePath { entry, reason });
    }
    Ok(())
}

/// One MLeap node being converted: where it is, its documents, and its bindings.
pub(super) struct OpNode<'a> {
    /// The bundle's document reader (tree ensembles read their trees' folders).
    pub(super) rd: &'a Reader<'a>,
    /// Its `model.json`: the op and its attributes.
    pub(super) model: &'a ModelDoc,
    /// Its `node.json` port bindings.
    pub(super) shape: &'a Shape,
    /// Its folder, e.g. `root/linear_regression.node`; errors name it.
    pub(super) dir: &'a str,
    /// Its name from `node.json`.
    pub(super) name: &'a str,
    /// The keel node's doc line.
    pub(super) doc: String,
}

/// The columns written so far and the stages emitted.
pub(super) struct State {
    /// Columns that may hold nulls (a bucketizer's or index-to-string's output).
    nullable: HashSet<String>,
    /// Columns written by a stage, with their kind.
    written: HashMap<String, Kind>,
    /// Inputs inferred so far, in first-use order.
    inputs: Vec<(String, Kind)>,
    emit: Emitter,
    /// Tensors are keyed `t0`, `t1`... in the order written.
    n_tensors: usize,
    /// The last stage's outputs.
    last_outputs: Vec<(String, Kind)>,
}

impl State {
    /// Nothing written yet.
    pub(super) fn new() -> Self {
        Self {
            nullable: HashSet::new(),
            written: HashMap::new(),
            inputs: Vec::new(),
            emit: Emitter::new(TENSOR_FILE),
            n_tensors: 0,
            last_outputs: Vec::new(),
        }
    }

    /// How many stages were emitted.
    pub(super) fn stages(&self) -> usize {
        self.emit.len()
    }

    /// The kind of column `col` as written so far, if a stage wrote it.
    pub(super) fn written(&self, col: &str) -> Option<Kind> {
        self.written.get(col).copied()
    }

    /// Marks an output column as nullable.
    pub(super) fn nullable(&mut self, col: &str) {
        self.nullable.insert(col.to_string());
    }

    /// The kind of column `col` read by `node` as `want`: what a stage wrote, else a pipeline
    /// input of kind `want` (which every other read of it must agree with).
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

    /// Records column `col`, written by `node`; columns are written once.
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

    /// The next tensor key: `t0`, `t1`... in the order written.
    fn tensor_key(&mut self) -> String {
        let key = format!("t{}", self.n_tensors);
        self.n_tensors += 1;
        key
    }

    /// `data` as an f64 tensor of `shape`.
    pub(super) fn f64_tensor(&mut self, shape: &[usize], data: &[f64]) -> Attr {
        let key = self.tensor_key();
        self.emit.f64_tensor(&key, shape, data)
    }

    /// `data` as a one-dimensional i64 tensor.
    pub(super) fn i64_tensor(&mut self, data: &[i64]) -> Attr {
        let key = self.tensor_key();
        self.emit.i64_tensor(&key, &[data.len()], data)
    }

    /// Emits `node` as the keel stage `op` reading `inputs` on port `X` and writing `outputs`
    /// (port, column, kind), and records the columns it writes.
    pub(super) fn stage(
        &mut self,
        node: &OpNode<'_>,
        op: &str,
        inputs: Vec<String>,
        outputs: Vec<(&str, String, Kind)>,
        attrs: Vec<(&str, Attr)>,
    ) -> Result<(), ImportError> {
        for (_, col, kind) in &outputs {
            self.write(node.name, col, *kind)?;
        }
        let name = self.emit.unique(node.name);
        let bound = emit::bindings(outputs.iter().map(|(p, c, _)| (*p, c.clone())));
        self.emit.node(
            name,
            op,
            vec![keel_bundle::Binding::new("X", inputs)],
            bound,
            attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            node.doc.clone(),
        );
        self.last_outputs = outputs.into_iter().map(|(_, c, k)| (c, k)).collect();
        Ok(())
    }

    /// What the walk found: the inferred inputs, the last stage's outputs with whether each
    /// may hold nulls, and the emitter holding the stages.
    pub(super) fn finish(self) -> Finished {
        let outputs = self
            .last_outputs
            .into_iter()
            .map(|(c, k)| {
                let nullable = self.nullable.contains(&c);
                (c, k, nullable)
            })
            .collect();
        Finished {
            inputs: self.inputs,
            outputs,
            emit: self.emit,
        }
    }
}

/// The result of a walk, for the walker to turn into a bundle.
pub(super) struct Finished {
    pub(super) inputs: Vec<(String, Kind)>,
    pub(super) outputs: Vec<(String, Kind, bool)>,
    pub(super) emit: Emitter,
}

/// The port -> column bindings of a `node.json`.
pub(super) struct Shape {
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
}

impl Shape {
    /// Parses the `shape` of the `node.json` document `doc` (entry `entry`).
    pub(super) fn parse(entry: &str, doc: &Value) -> Result<Shape, ImportError> {
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

    /// The column bound to input `port`.
    pub(super) fn input(&self, port: &str, node: &str) -> Result<String, ImportError> {
        Self::one(&self.inputs, port, node)
    }

    /// The column bound to output `port`.
    pub(super) fn output(&self, port: &str, node: &str) -> Result<String, ImportError> {
        Self::one(&self.outputs, port, node)
    }

    /// The column bound to output `port`, if any.
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
