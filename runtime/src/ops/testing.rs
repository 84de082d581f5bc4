//! Helpers for the ops' unit tests: one-node bundles built in memory, planned through the same
//! [`Model`] a user loads, and scored on small Arrow columns, so a unit test exercises the
//! op's `build` and kernel exactly as the planner runs them.
//!
//! Two shapes of bundle: [`run`]/[`plan`] bind the given columns (any type) on port `X` with
//! attributes inline; [`node`]/[`model`]/[`score`] bind `n` nullable f64 inputs `x0..x{n-1}`
//! and may carry a safetensors file for tensor attributes ([`tref`]).

use crate::{Error, Model, Options};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use keel_bundle::{Attr, Binding, Bundle, DType, Field, Manifest, Node, Producer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A float column.
pub fn f64s(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

/// A string column (`None` = null).
pub fn strs(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

/// Plans a bundle holding one `op` node that reads `inputs` on port `X` and writes
/// `outputs` (port, fields), then scores the inputs.
pub fn run(
    op: &str,
    attrs: Vec<(&str, Attr)>,
    inputs: &[(&str, ArrayRef)],
    outputs: &[(&str, Vec<Field>)],
) -> Result<RecordBatch, Error> {
    run_with_tensors(op, attrs, inputs, outputs, None)
}

/// [`run`] with a safetensors file `tensors/t.safetensors` in the bundle (see [`tref`]).
pub fn run_with_tensors(
    op: &str,
    attrs: Vec<(&str, Attr)>,
    inputs: &[(&str, ArrayRef)],
    outputs: &[(&str, Vec<Field>)],
    tensors: Option<Vec<u8>>,
) -> Result<RecordBatch, Error> {
    let model = plan_with_tensors(op, attrs, inputs, outputs, tensors)?;
    let batch = RecordBatch::try_new(
        model.input_schema(),
        inputs.iter().map(|(_, a)| a.clone()).collect(),
    )
    .map_err(|e| Error::Interface(e.to_string()))?;
    model.score(&batch)
}

/// Plans the one-node bundle of [`run`] without scoring.
pub fn plan(
    op: &str,
    attrs: Vec<(&str, Attr)>,
    inputs: &[(&str, ArrayRef)],
    outputs: &[(&str, Vec<Field>)],
) -> Result<Model, Error> {
    plan_with_tensors(op, attrs, inputs, outputs, None)
}

/// [`plan`] with a safetensors file `tensors/t.safetensors` in the bundle.
pub fn plan_with_tensors(
    op: &str,
    attrs: Vec<(&str, Attr)>,
    inputs: &[(&str, ArrayRef)],
    outputs: &[(&str, Vec<Field>)],
    tensors: Option<Vec<u8>>,
) -> Result<Model, Error> {
    let in_fields: Vec<Field> = inputs
        .iter()
        .map(|(n, a)| {
            let dt = match a.data_type() {
                DataType::Utf8 => DType::Utf8,
                DataType::Int64 => DType::I64,
                DataType::Boolean => DType::Bool,
                DataType::List(_) => DType::ListUtf8,
                _ => DType::F64,
            };
            Field::scalar(*n, dt, true)
        })
        .collect();
    let out_fields: Vec<Field> = outputs.iter().flat_map(|(_, f)| f.clone()).collect();
    let child = outputs.iter().fold(
        attrs.into_iter().fold(
            Node::new("stage", op).with_input("X", inputs.iter().map(|(n, _)| *n)),
            |n, (k, v)| n.with_attr(k, v),
        ),
        |n, (p, f)| n.with_output(p, f.iter().map(|x| x.name.clone())),
    );
    let root = Node::pipeline("root", vec![child]);
    let manifest = Manifest::new("test", "root", in_fields, out_fields);
    let tensors: Vec<(String, Vec<u8>)> = tensors
        .map(|t| ("tensors/t.safetensors".to_string(), t))
        .into_iter()
        .collect();
    let bundle = Bundle::new(manifest, root, tensors)?;
    Model::from_bundle(&bundle, &Options::default())
}

/// A token column: one list of strings per row (`None` = a null list, a `None` element = a
/// null token), as Spark's `array<string>`.
pub fn token_lists(v: &[Option<Vec<Option<&str>>>]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in v {
        match row {
            Some(tokens) => {
                for t in tokens {
                    b.values().append_option(*t);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

/// A token output field.
pub fn tokens_field(name: &str) -> Field {
    Field::scalar(name, DType::ListUtf8, true)
}

/// The rows of a token output column (null tokens as `None`).
pub fn token_rows(batch: &RecordBatch, col: &str) -> Vec<Vec<Option<String>>> {
    let a = batch.column_by_name(col).expect("output column");
    let l = a.as_list::<i32>();
    (0..l.len())
        .map(|i| {
            l.value(i)
                .as_string::<i32>()
                .iter()
                .map(|t| t.map(str::to_string))
                .collect()
        })
        .collect()
}

/// The values of an f64 scalar output column.
pub fn floats(batch: &RecordBatch, col: &str) -> Vec<f64> {
    let a = batch.column_by_name(col).expect("output column");
    a.as_primitive::<Float64Type>().values().to_vec()
}

/// A vector output field of width `w`.
pub fn vec_field(name: &str, w: u64) -> Field {
    Field::vector(name, DType::F64, w)
}

/// The rows of a vector output column.
pub fn rows(batch: &RecordBatch, col: &str) -> Vec<Vec<f64>> {
    let a = batch.column_by_name(col).expect("output column");
    let l = a.as_fixed_size_list();
    (0..l.len())
        .map(|i| l.value(i).as_primitive::<Float64Type>().values().to_vec())
        .collect()
}

/// The values of a string output column.
pub fn texts(batch: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = batch.column_by_name(col).expect("output column");
    a.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// A node of `op` reading `x0..x{n-1}` on `X`, writing `outputs` (port, column).
pub(crate) fn node(
    op: &str,
    n: usize,
    outputs: &[(&str, &str)],
    attrs: BTreeMap<String, Attr>,
) -> Node {
    Node {
        name: "m".into(),
        op: op.into(),
        inputs: vec![Binding::new("X", (0..n).map(|i| format!("x{i}")))],
        outputs: outputs.iter().map(|(p, c)| Binding::new(p, [*c])).collect(),
        attrs,
        children: vec![],
        doc: String::new(),
    }
}

/// Plans a bundle holding `node` with `n` inputs, the given output fields and an optional
/// safetensors file `tensors/t.safetensors`.
pub(crate) fn model(
    n: usize,
    node: Node,
    outputs: Vec<Field>,
    tensors: Option<Vec<u8>>,
) -> Result<Model, Error> {
    let manifest = Manifest {
        format: keel_bundle::FORMAT_NAME.into(),
        format_version: keel_bundle::FORMAT_VERSION.into(),
        name: "t".into(),
        uid: "u".into(),
        created: "2026-01-01T00:00:00Z".into(),
        producer: Producer::default(),
        root: "root".into(),
        inputs: (0..n)
            .map(|i| Field::scalar(format!("x{i}"), DType::F64, true))
            .collect(),
        outputs,
        metadata: BTreeMap::new(),
        entries: vec![],
    };
    let root = Node {
        name: "root".into(),
        op: "pipeline".into(),
        inputs: vec![],
        outputs: vec![],
        attrs: BTreeMap::new(),
        children: vec![node],
        doc: String::new(),
    };
    let tensors: Vec<(String, Vec<u8>)> = tensors
        .map(|t| ("tensors/t.safetensors".to_string(), t))
        .into_iter()
        .collect();
    let bundle = Bundle::new(manifest, root, tensors)?;
    Model::from_bundle(&bundle, &Options::default())
}

/// A tensor reference into `tensors/t.safetensors`.
pub(crate) fn tref(key: &str) -> Attr {
    Attr::Tensor(keel_bundle::TensorRef {
        file: "tensors/t.safetensors".into(),
        key: key.into(),
    })
}

/// Scores rows (`rows[i][j]` is feature `j` of row `i`; `None` is a null).
pub(crate) fn score(m: &Model, rows: &[Vec<Option<f64>>]) -> Result<RecordBatch, Error> {
    let n = rows.first().map_or(0, Vec::len);
    let cols: Vec<ArrayRef> = (0..n)
        .map(|j| Arc::new(rows.iter().map(|r| r[j]).collect::<Float64Array>()) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(m.input_schema(), cols).expect("batch");
    m.score(&batch)
}
