//! The columns of the pipeline being converted: what each holds ([`Col`]), how a stage asks for
//! one ([`Ctx::get`], typing a pipeline input from the sample schema or from what the stage
//! wants), and the stages emitted so far (through the importers' shared [`Emitter`]).

use super::Error;
use super::schema::SchemaField;
use super::stage::Stage;
use crate::emit::Emitter;
use keel_bundle::{Attr, Binding, DType, Field};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The widest sparse block the runtime densifies (runtime/src/value.rs `DENSIFY_LIMIT`).
pub(super) const DENSIFY_LIMIT: u64 = 1 << 16;

/// A column as the stages see it: its type, its width and feature names when it is a vector,
/// and whether it is a sparse block or a token list.
#[derive(Clone)]
pub(super) struct Col {
    pub(super) name: String,
    pub(super) dtype: DType,
    pub(super) width: Option<u64>,
    /// One name per feature; empty for a sparse block wider than [`DENSIFY_LIMIT`] (it can be
    /// neither an output nor densified, and 2^18 names per hashed column would be waste).
    pub(super) names: Vec<String>,
    /// A sparse block (HashingTF, CountVectorizerModel, FeatureHasher and what IDFModel or
    /// VectorAssembler make of one): the runtime keeps it sparse.
    pub(super) sparse: bool,
    /// A list of strings per row (the tokenizers' output; `dtype` is then `Utf8`).
    pub(super) tokens: bool,
}

impl Col {
    /// A scalar column of `dtype`.
    pub(super) fn scalar(name: &str, dtype: DType) -> Col {
        Col {
            name: name.into(),
            dtype,
            width: None,
            names: vec![name.into()],
            sparse: false,
            tokens: false,
        }
    }
    /// A sparse block of `width` features named `name[j]` (as the exporter names them).
    pub(super) fn sparse(name: &str, width: u64) -> Col {
        Col {
            name: name.into(),
            dtype: DType::F64,
            width: Some(width),
            names: if width <= DENSIFY_LIMIT {
                (0..width).map(|j| format!("{name}[{j}]")).collect()
            } else {
                Vec::new()
            },
            sparse: true,
            tokens: false,
        }
    }
    /// A token column.
    pub(super) fn tokens(name: &str) -> Col {
        Col {
            tokens: true,
            ..Col::scalar(name, DType::Utf8)
        }
    }
    /// A dense vector with one name per feature.
    pub(super) fn vector(name: &str, names: Vec<String>) -> Col {
        Col {
            name: name.into(),
            dtype: DType::F64,
            width: Some(names.len() as u64),
            names,
            sparse: false,
            tokens: false,
        }
    }
    /// Whether it holds numbers (a vector, or a scalar that is neither text nor tokens).
    pub(super) fn is_numeric(&self) -> bool {
        self.width.is_some() || (self.dtype != DType::Utf8 && !self.tokens)
    }
}

/// What a stage expects of a column, used to type a pipeline input when no schema is given.
#[derive(Clone, Copy)]
pub(super) enum Want {
    /// A scalar of this type.
    Scalar(DType),
    /// A vector of this many doubles.
    Vector(usize),
}

/// The bundle being built: the columns known so far (pipeline inputs and stage outputs), the
/// inferred inputs, and the emitted stages.
pub(super) struct Ctx<'a> {
    pub(super) schema: Option<&'a [SchemaField]>,
    /// Pipeline inputs (not produced by any stage).
    pub(super) pipeline_inputs: HashSet<String>,
    pub(super) cols: HashMap<String, Col>,
    pub(super) nullable: HashSet<String>,
    pub(super) inputs: Vec<Field>,
    pub(super) emit: Emitter,
    /// Vectors a VectorAssembler built from scalar columns only: Spark names their features
    /// after those columns, which is what `Col::names` holds (VectorSlicer's `names` need it).
    pub(super) scalar_assembled: HashSet<String>,
}

impl Ctx<'_> {
    /// The column `name`: produced earlier, declared by the schema, or (no schema) a pipeline
    /// input typed by what the reading stage wants.
    pub(super) fn get(&mut self, name: &str, want: Want, st: &Stage) -> Result<Col, Error> {
        if let Some(c) = self.cols.get(name) {
            return Ok(c.clone());
        }
        if !self.pipeline_inputs.contains(name) {
            return Err(st.unsupported(format!("column `{name}` is not available")));
        }
        let (col, nullable) = match self.schema {
            Some(fields) => {
                let f = fields.iter().find(|f| f.name == name).ok_or_else(|| {
                    st.unsupported(format!(
                        "reads column `{name}`, which neither the sample schema nor an earlier stage provides"
                    ))
                })?;
                match want {
                    Want::Vector(_) => {
                        return Err(st.unsupported(format!(
                            "reads `{name}` as a vector; a sample schema cannot declare vector inputs (leave --sample-schema out to infer it)"
                        )));
                    }
                    Want::Scalar(_) => (Col::scalar(name, f.dtype), f.nullable),
                }
            }
            None => match want {
                Want::Scalar(d) => (Col::scalar(name, d), true),
                Want::Vector(w) => (
                    Col::vector(name, (0..w).map(|i| format!("{name}[{i}]")).collect()),
                    false,
                ),
            },
        };
        let mut field = Field::scalar(name, col.dtype, nullable);
        if let Some(w) = col.width {
            field.shape = vec![w];
            field.names = col.names.clone();
        }
        self.inputs.push(field);
        self.cols.insert(name.into(), col.clone());
        Ok(col)
    }

    /// The token column `name`: one an earlier stage made, or an `array<string>` pipeline
    /// input, which the bundle declares as `list<utf8>` (a sample schema must agree).
    pub(super) fn tokens(&mut self, name: &str, st: &Stage) -> Result<Col, Error> {
        if let Some(c) = self.cols.get(name) {
            return Ok(c.clone());
        }
        if !self.pipeline_inputs.contains(name) {
            return Err(st.unsupported(format!("column `{name}` is not available")));
        }
        let nullable = match self.schema {
            Some(fields) => {
                let f = fields.iter().find(|f| f.name == name).ok_or_else(|| {
                    st.unsupported(format!(
                        "reads column `{name}`, which neither the sample schema nor an earlier stage provides"
                    ))
                })?;
                if f.dtype != DType::ListUtf8 {
                    return Err(st.unsupported(format!(
                        "reads `{name}` as an array<string>; the sample schema declares it {}",
                        f.dtype
                    )));
                }
                f.nullable
            }
            None => true,
        };
        let col = Col::tokens(name);
        self.inputs
            .push(Field::scalar(name, DType::ListUtf8, nullable));
        self.cols.insert(name.into(), col.clone());
        Ok(col)
    }

    /// Records `col` as written (`nullable`: it may hold NULLs).
    pub(super) fn put(&mut self, col: Col, nullable: bool) {
        if nullable {
            self.nullable.insert(col.name.clone());
        }
        self.cols.insert(col.name.clone(), col);
    }

    /// A node name not used before (see [`Emitter::unique`]).
    pub(super) fn unique(&mut self, base: &str) -> String {
        self.emit.unique(base)
    }

    /// A list of doubles, inline or as the tensor `key` (see [`Emitter::f64s`]).
    pub(super) fn f64s(&mut self, key: &str, v: Vec<f64>) -> Attr {
        self.emit.f64s(key, v)
    }

    /// A list of integers, inline or as the tensor `key` (see [`Emitter::i64s`]).
    pub(super) fn i64s(&mut self, key: &str, v: Vec<i64>) -> Attr {
        self.emit.i64s(key, v)
    }

    /// An f64 tensor of `shape` under `key`.
    pub(super) fn tensor_f64(&mut self, key: &str, shape: &[usize], v: &[f64]) -> Attr {
        self.emit.f64_tensor(key, shape, v)
    }

    /// Emits stage `name` running `op`: `x` on port `X`, `outputs` on their ports; the doc
    /// line names the stage's place, class and uid.
    pub(super) fn stage(
        &mut self,
        op: &str,
        name: String,
        x: &[Col],
        outputs: Vec<(&str, Vec<String>)>,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        let x = Binding::new("X", x.iter().map(|c| c.name.clone()));
        self.stage_with_inputs(op, name, vec![x], outputs, attrs, st);
    }

    /// [`Ctx::stage`] with every input binding given (an op with ports besides `X`).
    pub(super) fn stage_with_inputs(
        &mut self,
        op: &str,
        name: String,
        inputs: Vec<Binding>,
        outputs: Vec<(&str, Vec<String>)>,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        let outputs = outputs
            .into_iter()
            .map(|(p, cols)| Binding::new(p, cols))
            .collect();
        let doc = format!(
            "{} ({} {})",
            st.path,
            st.short(),
            st.meta.get("uid").and_then(Value::as_str).unwrap_or("")
        );
        self.emit.node(name, op, inputs, outputs, attrs, doc);
    }

    /// Stages an op reading the one vector `x` into `out`, a vector of the same shape (the
    /// scalers and element-wise maps).
    pub(super) fn same_shape_stage(
        &mut self,
        op: &str,
        node: String,
        x: Col,
        out: &str,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        let y = Col {
            name: out.to_string(),
            ..x.clone()
        };
        self.unary_stage(op, node, &x, y, false, attrs, st);
    }

    /// Stages `op` reading column `x` on port `X` and writing `y` (named by `y.name`) on port
    /// `Y`, and records `y` (`nullable`: it may hold NULLs).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn unary_stage(
        &mut self,
        op: &str,
        node: String,
        x: &Col,
        y: Col,
        nullable: bool,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        self.stage(
            op,
            node,
            std::slice::from_ref(x),
            vec![("Y", vec![y.name.clone()])],
            attrs,
            st,
        );
        self.put(y, nullable);
    }
}
