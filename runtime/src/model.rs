//! Planning and scoring. [`Model::from_bundle`] walks the graph once, resolves every op to a
//! kernel, assigns every column a slot and checks types end to end; [`Model::score`] then runs
//! the flat list of steps over a batch. There is one code path for one row and for millions.

use crate::backend::{Backend, Cpu};
use crate::error::Error;
use crate::op::{BuildCtx, Kernel};
use crate::tensor::Tensor;
use crate::tensor_arrow;
use crate::value::{ColInfo, ColType, DENSIFY_LIMIT, Matrix, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int8Type, Int16Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use keel_bundle::{Bundle, DType, Field, Limits, Manifest, Node};
use std::collections::HashMap;
use std::sync::Arc;

/// Rows per chunk when scoring a large batch (see [`Model::score`]). 1024 rows of a few dozen
/// f64 features is a few hundred KiB per intermediate block: inside L2 on current CPUs.
pub const CHUNK_ROWS: usize = 1024;

/// Input elements per chunk when a bundle takes tensors: a chunk of a network's batch is cut
/// so its inputs hold about this many elements (1 MiB of f32), which keeps the activations
/// between layers in cache and their buffers reused, rather than one 1,024-row chunk of
/// images whose intermediate tensors run to tens of megabytes each.
pub const TENSOR_CHUNK_ELEMENTS: usize = 1 << 18;

/// The manifest metadata key by which a bundle says its graph computes at most this many rows
/// per call (SPEC.md section 2): `"1"` for a network with fixed input shapes (each row holds
/// one whole tensor), which the runtime then scores row by row, whatever the frame's size.
pub const ROWS_PER_CALL_METADATA: &str = "keel.rows_per_call";

/// The widest vector input a bundle may declare (elements per row).
pub const MAX_INPUT_WIDTH: u64 = 1 << 20;

/// What to do with input columns the bundle does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExtraColumns {
    /// Refuse the frame, naming the column (the default: a typo should not pass silently).
    #[default]
    Reject,
    /// Ignore them (for frames that carry other data, e.g. inside Spark).
    Ignore,
}

/// Options for loading a model.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra backends asked before the CPU reference.
    pub backends: Vec<Arc<dyn Backend>>,
    /// Limits for reading the bundle.
    pub limits: Limits,
    /// Extra input columns.
    pub extra_columns: ExtraColumns,
}

#[derive(Debug)]
struct Step {
    node: String,
    kernel: Box<dyn Kernel>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

#[derive(Debug)]
struct Input {
    field: Field,
    slot: usize,
}

#[derive(Debug)]
struct Output {
    slot: usize,
    /// Vector outputs are returned as fixed-size lists; a width-1 feature block declared as a
    /// scalar is returned as a plain f64 column.
    as_list: Option<i32>,
    /// Tensor outputs are returned as tensor columns (see `tensor_arrow`).
    tensor: bool,
}

/// A planned bundle, ready to score. `Send + Sync`: share one across threads.
#[derive(Debug)]
pub struct Model {
    manifest: Manifest,
    graph: Node,
    inputs: Vec<Input>,
    steps: Vec<Step>,
    outputs: Vec<Output>,
    slots: usize,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    extra_columns: ExtraColumns,
    backends: Vec<&'static str>,
    /// Rows per chunk (see [`Model::score`]): [`CHUNK_ROWS`], or fewer for large tensor rows.
    chunk_rows: usize,
}

fn arrow_type(f: &Field) -> DataType {
    let scalar = match f.dtype {
        _ if f.is_tensor() => return tensor_arrow::arrow_field(f).data_type().clone(),
        DType::F64 => DataType::Float64,
        DType::F32 => DataType::Float32,
        DType::I64 => DataType::Int64,
        DType::I32 => DataType::Int32,
        DType::Bool => DataType::Boolean,
        DType::Utf8 => DataType::Utf8,
        DType::ListUtf8 => return str_list_type(),
        DType::Binary => DataType::Binary,
        // Tensor-only types: caught by `is_tensor` above (the reader refuses them elsewhere).
        other => tensor_arrow::element_type(other),
    };
    match f.shape.as_slice() {
        [n] => DataType::FixedSizeList(
            Arc::new(ArrowField::new("item", scalar, false)),
            i32::try_from(*n).unwrap_or(i32::MAX),
        ),
        _ => scalar,
    }
}

/// The Arrow type of a `list<utf8>` column: `List<Utf8>` with nullable elements, the form
/// Spark's text ops write (`TokensBuilder` in `ops/spark/text/tokens.rs`) and every admitted
/// input is brought to.
pub fn str_list_type() -> DataType {
    DataType::List(Arc::new(ArrowField::new("item", DataType::Utf8, true)))
}

/// The Arrow schema of a list of bundle fields. Vector element names (class labels) stay in
/// the manifest's `Field::names`; Arrow carries the types and nullability.
pub fn arrow_schema(fields: &[Field]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| {
                if f.is_tensor() {
                    tensor_arrow::arrow_field(f)
                } else {
                    ArrowField::new(&f.name, arrow_type(f), f.nullable)
                }
            })
            .collect::<Vec<_>>(),
    ))
}

struct Planner<'a> {
    bundle: &'a Bundle,
    backends: &'a [Arc<dyn Backend>],
    slots: HashMap<String, (usize, ColInfo)>,
    /// Slots allocated so far (named columns plus the hidden densified copies).
    next_slot: usize,
    /// Sparse slot -> the slot of its densified copy, made once and shared by every reader.
    dense: HashMap<usize, (usize, ColInfo)>,
    steps: Vec<Step>,
    used: Vec<&'static str>,
    /// Tensor slot -> the slot of its flattened feature-block copy (for ops that read features).
    flat: HashMap<usize, (usize, ColInfo)>,
    /// Columns whose value is known at load (weights, folded shapes), by name.
    constants: HashMap<String, Tensor>,
    /// The most elements per row of a tensor made by an op from columns that are not tensors
    /// (`image.to_tensor` from encoded images): such a tensor is a network's real input, so
    /// it sizes the chunks as a tensor input field does.
    made_tensor_elements: u64,
}

/// The step the planner inserts before an op that reads features from a tensor column: axis
/// 0 stays the rows, the other axes are flattened.
#[derive(Debug)]
struct FlattenTensor;

impl Kernel for FlattenTensor {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        Ok(inputs
            .iter()
            .map(|v| match v {
                Value::Tensor(t) => Value::Matrix(t.clone().into_matrix()),
                other => (*other).clone(),
            })
            .collect())
    }
}

/// The kernel of a node whose outputs were computed at load (every input was a constant).
#[derive(Debug)]
struct Folded(Vec<Value>);

impl Kernel for Folded {
    fn eval(&self, _inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        Ok(self.0.clone())
    }
}

/// The step the planner inserts before an op that reads dense features from a sparse block.
#[derive(Debug)]
struct Densify;

impl Kernel for Densify {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        Ok(inputs
            .iter()
            .map(|v| match v {
                Value::Sparse(m) => Value::Matrix(m.to_dense()),
                other => (*other).clone(),
            })
            .collect())
    }
}

impl Planner<'_> {
    fn alloc(&mut self) -> usize {
        self.next_slot += 1;
        self.next_slot - 1
    }

    /// The dense copy of sparse column `col` (slot `slot`, `width` wide) for `node`, an op
    /// that reads dense features: made by a `Densify` step the first time, refused by name
    /// when the block is wider than [`DENSIFY_LIMIT`].
    fn densified(
        &mut self,
        node: &Node,
        col: &str,
        slot: usize,
        width: usize,
    ) -> Result<(usize, ColInfo), Error> {
        if let Some(d) = self.dense.get(&slot) {
            return Ok(d.clone());
        }
        if width > DENSIFY_LIMIT {
            return Err(Error::Plan {
                node: node.name.clone(),
                op: node.op.clone(),
                message: format!(
                    "reads `{col}`, a sparse vector of {width} features; this op reads dense \
                     features and keel densifies at most {DENSIFY_LIMIT}"
                ),
            });
        }
        let info = ColInfo::vector((0..width).map(|j| format!("{col}[{j}]")).collect());
        let out = self.alloc();
        self.steps.push(Step {
            node: format!("{} (densify `{col}`)", node.name),
            kernel: Box::new(Densify),
            inputs: vec![slot],
            outputs: vec![out],
        });
        self.dense.insert(slot, (out, info.clone()));
        Ok((out, info))
    }

    /// The feature-block copy of tensor column `col` (slot `slot`) for `node`, an op that
    /// reads features: made by a `FlattenTensor` step the first time. The block's width must be
    /// known at load.
    fn flattened(
        &mut self,
        node: &Node,
        col: &str,
        slot: usize,
        info: &ColInfo,
    ) -> Result<(usize, ColInfo), Error> {
        if let Some(d) = self.flat.get(&slot) {
            return Ok(d.clone());
        }
        let ColType::Tensor(t) = &info.ty else {
            return Ok((slot, info.clone()));
        };
        let width = t
            .shape
            .iter()
            .skip(1)
            .map(|d| d.known())
            .try_fold(1usize, |a, d| d.and_then(|d| a.checked_mul(d)));
        let width = width
            .filter(|&w| w as u64 <= MAX_INPUT_WIDTH)
            .ok_or_else(|| Error::Plan {
                node: node.name.clone(),
                op: node.op.clone(),
                message: format!(
                    "reads `{col}`, a tensor {t}, as features; that needs every dimension after \
                 the batch known at load and at most {MAX_INPUT_WIDTH} features"
                ),
            })?;
        let info = ColInfo::vector((0..width).map(|j| format!("{col}[{j}]")).collect());
        let out = self.alloc();
        self.steps.push(Step {
            node: format!("{} (flatten `{col}`)", node.name),
            kernel: Box::new(FlattenTensor),
            inputs: vec![slot],
            outputs: vec![out],
        });
        self.flat.insert(slot, (out, info.clone()));
        Ok((out, info))
    }

    fn plan(&mut self, node: &Node) -> Result<(), Error> {
        if node.op == "pipeline" {
            for c in &node.children {
                self.plan(c)?;
            }
            return Ok(());
        }
        let entry = crate::registry::get(&node.op);
        if let Some(e) = entry {
            crate::registry::check_attrs(e, node)?;
        }
        let takes_tensors = entry.is_some_and(|e| e.tensor_input);
        let mut inputs = Vec::new();
        let mut in_slots = Vec::new();
        let mut in_cols = Vec::new();
        let takes_sparse = crate::registry::takes_sparse(&node.op);
        for b in &node.inputs {
            let mut cols = Vec::new();
            for c in &b.columns {
                let (slot, info) = self.slots.get(c).cloned().ok_or_else(|| Error::Plan {
                    node: node.name.clone(),
                    op: node.op.clone(),
                    message: format!("reads column `{c}`, which nothing writes"),
                })?;
                let (slot, info) = match info.ty {
                    ColType::Sparse(w) if !takes_sparse => self.densified(node, c, slot, w)?,
                    ColType::Tensor(_) if !takes_tensors => self.flattened(node, c, slot, &info)?,
                    _ => (slot, info),
                };
                in_slots.push(slot);
                in_cols.push(c.clone());
                cols.push((c.clone(), info));
            }
            inputs.push((b.port.clone(), cols));
        }
        // The context borrows the constants while the planner records new ones below: take
        // the map out for the node's planning and put it back after.
        let mut constants = std::mem::take(&mut self.constants);
        let result = self.plan_op(
            node,
            inputs,
            in_slots,
            &in_cols,
            takes_tensors,
            &mut constants,
        );
        self.constants = constants;
        result
    }

    fn plan_op(
        &mut self,
        node: &Node,
        inputs: Vec<(String, Vec<(String, ColInfo)>)>,
        in_slots: Vec<usize>,
        in_cols: &[String],
        takes_tensors: bool,
        constants: &mut HashMap<String, Tensor>,
    ) -> Result<(), Error> {
        let mut new_constants: Vec<(String, Tensor)> = Vec::new();
        let ctx = BuildCtx {
            node,
            bundle: self.bundle,
            inputs,
            constants,
        };
        let mut built = None;
        for b in self
            .backends
            .iter()
            .map(|b| b.as_ref())
            .chain([&Cpu as &dyn Backend])
        {
            if let Some(r) = b.build(&ctx) {
                built = Some(r?);
                if !self.used.contains(&b.name()) {
                    self.used.push(b.name());
                }
                break;
            }
        }
        let built = built.ok_or_else(|| Error::UnknownOp {
            node: node.name.clone(),
            op: node.op.clone(),
        })?;
        let out_cols: Vec<&String> = node.outputs.iter().flat_map(|b| &b.columns).collect();
        if out_cols.len() != built.outputs.len() {
            return Err(ctx.err(format!(
                "binds {} output columns, but the op writes {}",
                out_cols.len(),
                built.outputs.len()
            )));
        }
        // A network op whose inputs are all known at load is computed now, once (weights
        // reshaped or transposed in the graph, shape arithmetic): scoring then only copies
        // reference counts.
        let mut kernel = built.kernel;
        let mut folded: Option<Vec<Tensor>> = None;
        if takes_tensors && in_cols.iter().all(|c| ctx.constants.contains_key(c)) {
            let values: Vec<Value> = in_cols
                .iter()
                .filter_map(|c| ctx.constants.get(c).cloned().map(Value::Tensor))
                .collect();
            let refs: Vec<&Value> = values.iter().collect();
            let outs = kernel.eval(&refs, 1).map_err(|e| match e {
                e @ Error::Plan { .. } => e,
                other => ctx.err(format!("cannot be computed at load: {other}")),
            })?;
            let tensors: Option<Vec<Tensor>> = outs
                .iter()
                .map(|v| match v {
                    Value::Tensor(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            if let Some(t) = tensors {
                kernel = Box::new(Folded(outs));
                folded = Some(t);
            }
        } else if takes_tensors && let Some(outs) = kernel.constant_outputs() {
            // Known from the planned types alone (a shape of known dimensions): the same as a
            // folded node from here on.
            let tensors: Option<Vec<Tensor>> = outs
                .iter()
                .map(|v| match v {
                    Value::Tensor(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            if let Some(t) = tensors.filter(|t| t.len() == out_cols.len()) {
                kernel = Box::new(Folded(outs));
                folded = Some(t);
            }
        }
        let mut out_slots = Vec::new();
        for (k, (name, info)) in out_cols.into_iter().zip(built.outputs).enumerate() {
            if let ColType::Tensor(t) = &info.ty
                && !takes_tensors
            {
                let per_row = t
                    .shape
                    .iter()
                    .skip(1)
                    .map(|d| d.known().unwrap_or(1) as u64);
                let per_row = per_row.fold(1u64, u64::saturating_mul);
                self.made_tensor_elements = self.made_tensor_elements.max(per_row);
            }
            let slot = self.alloc();
            if self.slots.insert(name.clone(), (slot, info)).is_some() {
                return Err(ctx.err(format!("column `{name}` is written twice")));
            }
            if let Some(t) = folded.as_ref().and_then(|f| f.get(k)) {
                new_constants.push((name.clone(), t.clone()));
            }
            out_slots.push(slot);
        }
        self.steps.push(Step {
            node: node.name.clone(),
            kernel,
            inputs: in_slots,
            outputs: out_slots,
        });
        constants.extend(new_constants);
        Ok(())
    }
}

impl Model {
    /// Reads, verifies and plans a bundle from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, Error> {
        Self::from_bytes_with(bytes, &Options::default())
    }

    /// Reads, verifies and plans a bundle with options.
    pub fn from_bytes_with(bytes: &[u8], opts: &Options) -> Result<Model, Error> {
        let bundle = Bundle::from_bytes_with(bytes, &opts.limits)?;
        Self::from_bundle(&bundle, opts)
    }

    /// Plans an already-read bundle.
    pub fn from_bundle(bundle: &Bundle, opts: &Options) -> Result<Model, Error> {
        let manifest = &bundle.manifest;
        let mut planner = Planner {
            bundle,
            backends: &opts.backends,
            slots: HashMap::new(),
            next_slot: 0,
            dense: HashMap::new(),
            steps: Vec::new(),
            used: Vec::new(),
            flat: HashMap::new(),
            constants: HashMap::new(),
            made_tensor_elements: 0,
        };
        let mut inputs = Vec::new();
        for f in &manifest.inputs {
            let ty = match f.shape.as_slice() {
                _ if f.is_tensor() => ColType::Tensor(tensor_arrow::field_type(f)),
                [] if f.dtype == DType::ListUtf8 => ColType::StrList,
                [] => ColType::Scalar(f.dtype),
                // Feature names are materialised per element at plan time, so the width is capped
                // here rather than trusted from the manifest.
                [n] if f.dtype == DType::F64 && *n <= MAX_INPUT_WIDTH => {
                    ColType::Vector(*n as usize)
                }
                [n] if f.dtype == DType::F64 => {
                    return Err(Error::Interface(format!(
                        "input `{}`: a vector of {n} elements exceeds the limit of {MAX_INPUT_WIDTH}",
                        f.name
                    )));
                }
                _ => {
                    return Err(Error::Interface(format!(
                        "input `{}`: vectors of {} are not supported as inputs (only f64)",
                        f.name, f.dtype
                    )));
                }
            };
            let names = match ty {
                ColType::Vector(n) if f.names.len() == n => f.names.clone(),
                ColType::Vector(n) => (0..n).map(|i| format!("{}[{i}]", f.name)).collect(),
                _ => vec![f.name.clone()],
            };
            let slot = planner.alloc();
            planner
                .slots
                .insert(f.name.clone(), (slot, ColInfo { ty, names }));
            inputs.push(Input {
                field: f.clone(),
                slot,
            });
        }
        planner.plan(&bundle.graph)?;

        let mut outputs = Vec::new();
        for f in &manifest.outputs {
            let (slot, info) = planner
                .slots
                .get(&f.name)
                .ok_or_else(|| Error::Interface(format!("output `{}` is never written", f.name)))?;
            let mismatch = || {
                Error::Interface(format!(
                    "output `{}` is declared as {}{:?} but the graph produces {:?}",
                    f.name, f.dtype, f.shape, info.ty
                ))
            };
            if f.is_tensor() {
                let want = tensor_arrow::field_type(f);
                let fits =
                    match &info.ty {
                        ColType::Tensor(t) => {
                            t.dtype == want.dtype
                                && t.rank() == want.rank()
                                && t.shape.iter().zip(&want.shape).skip(1).all(|(a, b)| {
                                    a.known().is_none() || b.known().is_none() || a == b
                                })
                        }
                        _ => false,
                    };
                if !fits {
                    return Err(mismatch());
                }
                outputs.push(Output {
                    slot: *slot,
                    as_list: None,
                    tensor: true,
                });
                continue;
            }
            let as_list = match (&info.ty, f.shape.as_slice()) {
                (ColType::Scalar(d), []) if *d == f.dtype => None,
                (ColType::StrList, []) if f.dtype == DType::ListUtf8 => None,
                (ColType::Vector(w), [n]) if *w as u64 == *n && f.dtype == DType::F64 => {
                    Some(i32::try_from(*w).map_err(|_| mismatch())?)
                }
                (ColType::Vector(1), []) if f.dtype == DType::F64 => None,
                // An f64 tensor [batch, n] is a feature block of width n.
                (ColType::Tensor(t), [n])
                    if f.dtype == DType::F64
                        && t.dtype == DType::F64
                        && t.rank() == 2
                        && t.shape[1] == crate::tensor::Dim::Known(*n as usize) =>
                {
                    Some(i32::try_from(*n).map_err(|_| mismatch())?)
                }
                // A sparse block is returned dense, so only up to the densify bound.
                (ColType::Sparse(w), [n])
                    if *w as u64 == *n && f.dtype == DType::F64 && *w <= DENSIFY_LIMIT =>
                {
                    Some(i32::try_from(*w).map_err(|_| mismatch())?)
                }
                (ColType::Sparse(w), [_]) if *w > DENSIFY_LIMIT => {
                    return Err(Error::Interface(format!(
                        "output `{}` is a sparse vector of {w} features; outputs are dense \
                         fixed-size lists, at most {DENSIFY_LIMIT} wide",
                        f.name
                    )));
                }
                _ => return Err(mismatch()),
            };
            outputs.push(Output {
                slot: *slot,
                as_list,
                tensor: false,
            });
        }
        let used = planner.used.clone();
        // A symbolic dimension counts at its bound, capped: a sequence bounded by 65,536 is
        // usually far shorter.
        let per_row = manifest
            .inputs
            .iter()
            .filter(|f| f.is_tensor())
            .map(|f| {
                f.shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| match f.dims.get(i).filter(|s| !s.is_empty()) {
                        Some(_) => d.min(512),
                        None => d,
                    })
                    .fold(1u64, u64::saturating_mul)
            })
            .max()
            .unwrap_or(0)
            .max(planner.made_tensor_elements);
        let mut chunk_rows = match usize::try_from(per_row) {
            Ok(0) | Err(_) => CHUNK_ROWS,
            Ok(n) => (TENSOR_CHUNK_ELEMENTS / n).clamp(1, CHUNK_ROWS),
        };
        if let Some(v) = manifest.metadata.get(ROWS_PER_CALL_METADATA) {
            let n: usize = v.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                Error::Interface(format!(
                    "metadata `{ROWS_PER_CALL_METADATA}` is `{v}`, not a positive integer"
                ))
            })?;
            chunk_rows = chunk_rows.min(n);
        }
        Ok(Model {
            manifest: manifest.clone(),
            graph: bundle.graph.clone(),
            inputs,
            slots: planner.next_slot,
            steps: planner.steps,
            outputs,
            input_schema: arrow_schema(&manifest.inputs),
            output_schema: arrow_schema(&manifest.outputs),
            extra_columns: opts.extra_columns,
            backends: used,
            chunk_rows,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The graph.
    pub fn graph(&self) -> &Node {
        &self.graph
    }

    /// The Arrow schema of the inputs.
    pub fn input_schema(&self) -> SchemaRef {
        self.input_schema.clone()
    }

    /// The most rows [`Model::score`] computes at once (it scores a larger batch in chunks
    /// of this many).
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// The Arrow schema of the outputs.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// Backends that produced at least one kernel.
    pub fn backends(&self) -> &[&'static str] {
        &self.backends
    }

    /// Number of planned kernel steps.
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// Changes how extra input columns are treated.
    pub fn set_extra_columns(&mut self, extra: ExtraColumns) {
        self.extra_columns = extra;
    }

    /// Scores a batch: checks it against the input schema, runs every step, and returns the
    /// output columns in the order of the output schema.
    ///
    /// Batches larger than [`CHUNK_ROWS`] (fewer for a network whose rows are large tensors,
    /// see [`TENSOR_CHUNK_ELEMENTS`]) are scored chunk by chunk (zero-copy slices) and the
    /// outputs concatenated: every stage then works on a block that stays in cache, which
    /// more than doubles batch throughput over materialising each stage for the whole batch.
    /// Row numbers in errors are positions in `batch`, whatever the chunking.
    pub fn score(&self, batch: &RecordBatch) -> Result<RecordBatch, Error> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Err(Error::EmptyFrame);
        }
        let schema = batch.schema();
        if self.extra_columns == ExtraColumns::Reject && schema.fields().len() > self.inputs.len() {
            for f in schema.fields() {
                if !self.inputs.iter().any(|i| &i.field.name == f.name()) {
                    return Err(Error::ExtraColumn {
                        column: f.name().clone(),
                    });
                }
            }
        }
        let chunk = self.chunk_rows;
        if rows <= chunk {
            return self.score_chunk(batch);
        }
        let mut parts = Vec::with_capacity(rows.div_ceil(chunk));
        for start in (0..rows).step_by(chunk) {
            let len = chunk.min(rows - start);
            let part = self
                .score_chunk(&batch.slice(start, len))
                .map_err(|e| e.offset_rows(start))?;
            parts.push(part);
        }
        crate::concat::concat_batches(&self.output_schema, &parts).map_err(|e| Error::Plan {
            node: self.graph.name.clone(),
            op: String::new(),
            message: format!("cannot assemble the output: {e}"),
        })
    }

    fn score_chunk(&self, batch: &RecordBatch) -> Result<RecordBatch, Error> {
        let rows = batch.num_rows();
        let schema = batch.schema();
        let mut slots: Vec<Option<Value>> = vec![None; self.slots];
        for (pos, input) in self.inputs.iter().enumerate() {
            let name = &input.field.name;
            // Frames usually arrive in schema order: check that position first and fall back
            // to a search by name, so the common case costs one string comparison.
            let idx = match schema.fields().get(pos) {
                Some(f) if f.name() == name => pos,
                _ => schema.index_of(name).map_err(|_| Error::MissingColumn {
                    column: name.clone(),
                })?,
            };
            let col = batch.column(idx);
            slots[input.slot] = Some(admit(&input.field, col)?);
        }
        for step in &self.steps {
            let ins: Vec<&Value> = step
                .inputs
                .iter()
                .map(|&s| slots[s].as_ref())
                .collect::<Option<_>>()
                .ok_or_else(|| Error::Plan {
                    node: step.node.clone(),
                    op: String::new(),
                    message: "an input slot is empty (planner bug)".into(),
                })?;
            let outs = step
                .kernel
                .eval(&ins, rows)
                .map_err(|e| e.at_node(&step.node))?;
            for (slot, v) in step.outputs.iter().zip(outs) {
                slots[*slot] = Some(v);
            }
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.outputs.len());
        for (out, field) in self.outputs.iter().zip(&self.manifest.outputs) {
            let v = slots[out.slot].take().ok_or_else(|| Error::Plan {
                node: self.graph.name.clone(),
                op: String::new(),
                message: format!("output `{}` was not produced", field.name),
            })?;
            columns.push(match v {
                Value::Tensor(t) if out.tensor => tensor_arrow::to_arrow(t, field)?,
                Value::Matrix(m) if out.tensor => {
                    tensor_arrow::to_arrow(Tensor::from_matrix(m), field)?
                }
                v => to_arrow(v, out.as_list, &field.name)?,
            });
        }
        RecordBatch::try_new(self.output_schema.clone(), columns).map_err(|e| Error::Plan {
            node: self.graph.name.clone(),
            op: String::new(),
            message: format!("cannot assemble the output: {e}"),
        })
    }
}

/// Checks an input column against its field and brings it to the representation kernels
/// expect: numbers stay in their Arrow type when kernels read it directly (f64, f32, i64, i32)
/// and are widened to f64 otherwise; large or view strings become plain UTF-8; f64 vectors
/// become a feature block.
fn admit(field: &Field, col: &ArrayRef) -> Result<Value, Error> {
    let type_err = || Error::ColumnType {
        column: field.name.clone(),
        expected: match field.shape.as_slice() {
            [n] => format!("{}[{n}]", field.dtype),
            _ => field.dtype.to_string(),
        },
        found: col.data_type().to_string(),
    };
    if !field.nullable && col.null_count() > 0 {
        let row = (0..col.len()).find(|&i| col.is_null(i)).unwrap_or(0);
        return Err(Error::Missing {
            column: field.name.clone(),
            row,
            node: "the input schema (column not nullable)".into(),
        });
    }
    if field.is_tensor() {
        return tensor_arrow::admit(field, col).map(Value::Tensor);
    }
    if let [n] = field.shape.as_slice() {
        let DataType::FixedSizeList(_, w) = col.data_type() else {
            return Err(type_err());
        };
        if *w as u64 != *n {
            return Err(type_err());
        }
        let list = col.as_fixed_size_list();
        let values = list.values();
        let Some(values) = values.as_primitive_opt::<Float64Type>() else {
            return Err(type_err());
        };
        let w = *w as usize;
        let rows = list.len();
        let mut data = Vec::with_capacity(rows * w);
        for i in 0..rows {
            let start = list.value_offset_at(i);
            for j in 0..w {
                let k = start + j;
                data.push(if list.is_null(i) || values.is_null(k) {
                    f64::NAN
                } else {
                    values.value(k)
                });
            }
        }
        return Ok(Value::Matrix(Matrix::from_vec(rows, w, data)));
    }
    let dt = col.data_type();
    let widen = |c: &ArrayRef| -> Option<ArrayRef> {
        let v: Float64Array = match c.data_type() {
            DataType::Int8 => c.as_primitive::<Int8Type>().unary(f64::from),
            DataType::Int16 => c.as_primitive::<Int16Type>().unary(f64::from),
            DataType::UInt8 => c.as_primitive::<UInt8Type>().unary(f64::from),
            DataType::UInt16 => c.as_primitive::<UInt16Type>().unary(f64::from),
            DataType::UInt32 => c.as_primitive::<UInt32Type>().unary(f64::from),
            DataType::UInt64 => c.as_primitive::<UInt64Type>().unary(|v| v as f64),
            _ => return None,
        };
        Some(Arc::new(v))
    };
    let ok = match field.dtype {
        DType::F64 | DType::F32 => matches!(
            dt,
            DataType::Float64 | DataType::Float32 | DataType::Int64 | DataType::Int32
        ),
        DType::I64 | DType::I32 => matches!(dt, DataType::Int64 | DataType::Int32),
        DType::Bool => matches!(dt, DataType::Boolean),
        DType::Utf8 => matches!(dt, DataType::Utf8),
        DType::ListUtf8 => return admit_str_list(col).map(Value::Array).ok_or_else(type_err),
        // Kept as they come: the ops that read bytes take both offset widths (a LargeBinary
        // column may exceed what 32-bit offsets address, so it is not narrowed).
        DType::Binary => matches!(dt, DataType::Binary | DataType::LargeBinary),
        // Tensor-only types never reach here (a field of them is a tensor field).
        DType::F16 | DType::Bf16 | DType::I8 | DType::U8 => return Err(type_err()),
    };
    if ok {
        return Ok(Value::Array(col.clone()));
    }
    match field.dtype {
        DType::F64 | DType::F32 | DType::I64 | DType::I32 => {
            widen(col).map(Value::Array).ok_or_else(type_err)
        }
        DType::Utf8 => {
            let s: StringArray = match dt {
                DataType::LargeUtf8 => col.as_string::<i64>().iter().collect(),
                DataType::Utf8View => col.as_string_view().iter().collect(),
                _ => return Err(type_err()),
            };
            Ok(Value::Array(Arc::new(s)))
        }
        _ => Err(type_err()),
    }
}

/// Brings a list-of-strings input to the one form the text ops read, `List<Utf8>` with
/// nullable elements (see [`str_list_type`]): `List` or `LargeList` of `Utf8`, `LargeUtf8` or
/// `Utf8View`, and a list of `Null` (what Arrow infers for lists that are all empty or hold
/// only nulls). Row nulls and element nulls are kept as they are: what a null means is up to
/// each op that reads the column. `None` for any other type.
fn admit_str_list(col: &ArrayRef) -> Option<ArrayRef> {
    use arrow_array::{GenericListArray, OffsetSizeTrait};
    use arrow_buffer::OffsetBuffer;

    fn strings(values: &ArrayRef) -> Option<ArrayRef> {
        Some(match values.data_type() {
            DataType::Utf8 => values.clone(),
            DataType::LargeUtf8 => {
                Arc::new(values.as_string::<i64>().iter().collect::<StringArray>())
            }
            DataType::Utf8View => Arc::new(values.as_string_view().iter().collect::<StringArray>()),
            DataType::Null => Arc::new(StringArray::new_null(values.len())),
            _ => return None,
        })
    }
    fn rebuild<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> Option<ArrayRef> {
        // Offsets are kept relative to the (possibly sliced) values: convert them to i32,
        // refusing a LargeList whose values do not fit (over 2^31 strings in one batch).
        let offsets = list
            .value_offsets()
            .iter()
            .map(|o| i32::try_from(o.as_usize()).ok())
            .collect::<Option<Vec<i32>>>()?;
        let values = strings(list.values())?;
        let field = Arc::new(ArrowField::new("item", DataType::Utf8, true));
        let out = arrow_array::ListArray::try_new(
            field,
            OffsetBuffer::new(offsets.into()),
            values,
            list.nulls().cloned(),
        )
        .ok()?;
        Some(Arc::new(out))
    }
    match col.data_type() {
        dt if *dt == str_list_type() => Some(col.clone()),
        DataType::List(_) => rebuild(col.as_list::<i32>()),
        DataType::LargeList(_) => rebuild(col.as_list::<i64>()),
        _ => None,
    }
}

fn to_arrow(v: Value, as_list: Option<i32>, name: &str) -> Result<ArrayRef, Error> {
    match (v, as_list) {
        (Value::Array(a), _) => Ok(a),
        (Value::Matrix(m), Some(w)) => {
            let values = Arc::new(Float64Array::from(m.data));
            FixedSizeListArray::try_new(
                Arc::new(ArrowField::new("item", DataType::Float64, false)),
                w,
                values,
                None,
            )
            .map(|a| Arc::new(a) as ArrayRef)
            .map_err(|e| Error::Plan {
                node: name.to_string(),
                op: String::new(),
                message: e.to_string(),
            })
        }
        (Value::Matrix(m), None) => Ok(Arc::new(Float64Array::from(m.data))),
        (Value::Sparse(m), as_list) => to_arrow(Value::Matrix(m.to_dense()), as_list, name),
        (Value::Tensor(t), as_list) => to_arrow(Value::Matrix(t.into_matrix()), as_list, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_bundle::{Attr, Manifest};

    /// x: f32[batch, 2, 3]; s = shape(x)[start..]; z = zeros(s); y = x + z.
    fn shape_chain(start: i64) -> Result<Model, Error> {
        let nodes = vec![
            Node::new("shape", "nn.shape")
                .with_input("0", ["x"])
                .with_output("0", ["s"])
                .with_attr("start", Attr::I64(start)),
            Node::new("zeros", "nn.constant_of_shape")
                .with_input("0", ["s"])
                .with_output("0", ["z"]),
            Node::new("add", "nn.binary")
                .with_input("0", ["x"])
                .with_input("1", ["z"])
                .with_output("0", ["y"])
                .with_attr("fn", Attr::Str("add".into())),
        ];
        let manifest = Manifest::new(
            "t",
            "root",
            vec![Field::tensor("x", DType::F32, vec![2, 3])],
            vec![Field::tensor("y", DType::F32, vec![2, 3])],
        );
        let bundle = Bundle::new(
            manifest,
            Node::pipeline("root", nodes),
            Vec::<(String, Vec<u8>)>::new(),
        )?;
        Model::from_bundle(&bundle, &Options::default())
    }

    fn folded(m: &Model, node: &str) -> bool {
        m.steps
            .iter()
            .any(|s| s.node == node && format!("{:?}", s.kernel).starts_with("Folded"))
    }

    #[test]
    fn a_shape_of_known_dimensions_is_a_constant_and_what_reads_it_folds() {
        let m = shape_chain(1).unwrap();
        assert!(folded(&m, "shape"));
        assert!(folded(&m, "zeros"));
        assert!(!folded(&m, "add"));
        // Scoring still adds the (folded) zeros to every row.
        let x = Tensor::new(vec![2, 2, 3], (0..12).map(|i| i as f32).collect()).unwrap();
        let col = tensor_arrow::to_arrow(x.clone(), &m.manifest.inputs[0]).unwrap();
        let batch = RecordBatch::try_new(m.input_schema(), vec![col]).unwrap();
        let out = m.score(&batch).unwrap();
        let y = tensor_arrow::admit(&m.manifest.outputs[0], out.column(0)).unwrap();
        assert_eq!(y, x);
    }

    #[test]
    fn a_shape_including_the_batch_is_computed_per_batch() {
        let m = shape_chain(0).unwrap();
        assert!(!folded(&m, "shape"));
        assert!(!folded(&m, "zeros"));
    }
}
