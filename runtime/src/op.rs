//! The op seam: what every op file implements.
//!
//! An op is planned once, when a bundle loads: its `build` function (registered in
//! `registry.rs`) reads the node's attributes and the planned types of its inputs, precomputes
//! everything it can (category maps, folded coefficients, flattened trees) and returns a
//! [`Kernel`] plus the types of the columns it will write. Scoring then only calls
//! [`Kernel::eval`], on batches of any size, concurrently from many threads.
//!
//! See `docs/ops.md` for the anatomy of an op and the list of ops.

use crate::error::Error;
use crate::tensor::{Tensor, TensorData};
use crate::value::{ColInfo, ColType, Value};
use keel_bundle::{Attr, Bundle, DType, Node, TensorView};

/// A planned op, ready to score. Kernels hold only immutable, precomputed state, so a model is
/// `Send + Sync` and needs no locks.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// Scores one batch. `inputs` are the values of the node's input columns, flattened across
    /// its input bindings in order; the result holds one value per output column, flattened the
    /// same way. `rows` is the batch's row count (at least 1).
    ///
    /// Score-time errors leave `node` empty; the executor fills it in.
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error>;

    /// The node's outputs when they are known at load although its inputs are not (the shape
    /// of a tensor whose dimensions are all planned): the planner then records them as
    /// constants, so later nodes fold and plan exact shapes, and scoring only copies them.
    /// One value per output column, as [`Kernel::eval`] returns them.
    fn constant_outputs(&self) -> Option<Vec<Value>> {
        None
    }
}

/// What an op's `build` returns.
#[derive(Debug)]
pub struct Built {
    /// The kernel.
    pub kernel: Box<dyn Kernel>,
    /// One entry per output column, flattened across output bindings in order.
    pub outputs: Vec<ColInfo>,
}

/// The signature of an op's build function.
pub type BuildFn = fn(&BuildCtx<'_>) -> Result<Built, Error>;

/// Everything an op's `build` may look at: the node, its attributes and tensors, and the
/// planned types of its inputs.
#[derive(Debug)]
pub struct BuildCtx<'a> {
    /// The node being planned.
    pub node: &'a Node,
    pub(crate) bundle: &'a Bundle,
    /// For each input binding: the port and its columns with their planned types.
    pub(crate) inputs: Vec<(String, Vec<(String, ColInfo)>)>,
    /// Columns whose values are known at load (constant weights, folded results), by name.
    pub(crate) constants: &'a std::collections::HashMap<String, Tensor>,
}

impl<'a> BuildCtx<'a> {
    /// A plan error about this node.
    pub fn err(&self, message: impl Into<String>) -> Error {
        Error::Plan {
            node: self.node.name.clone(),
            op: self.node.op.clone(),
            message: message.into(),
        }
    }

    /// The columns bound to input port `port`, with their planned types.
    pub fn input(&self, port: &str) -> Result<&[(String, ColInfo)], Error> {
        self.inputs
            .iter()
            .find(|(p, _)| p == port)
            .map(|(_, c)| c.as_slice())
            .ok_or_else(|| self.err(format!("input port `{port}` is not bound")))
    }

    /// Feature names of port `port`, flattened. A sparse block's names are generated
    /// (`column[j]`); only ops that take sparse input see one, and they call this only for
    /// blocks they densify (at most [`crate::value::DENSIFY_LIMIT`] wide).
    pub fn input_names(&self, port: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for (col, info) in self.input(port)? {
            match info.ty {
                ColType::Sparse(w) => out.extend((0..w).map(|j| format!("{col}[{j}]"))),
                _ => out.extend(info.names.iter().cloned()),
            }
        }
        Ok(out)
    }

    /// The width of port `port` when it binds exactly one sparse block, `None` when it binds
    /// no sparse column. A sparse block bound with other columns is refused: the ops that
    /// take sparse input read it alone (as Spark's models read one features vector).
    pub fn sparse_input(&self, port: &str) -> Result<Option<usize>, Error> {
        let cols = self.input(port)?;
        match cols {
            [(_, info)] => Ok(match info.ty {
                ColType::Sparse(w) => Some(w),
                _ => None,
            }),
            _ => match cols
                .iter()
                .find(|(_, i)| matches!(i.ty, ColType::Sparse(_)))
            {
                Some((c, _)) => Err(self.err(format!(
                    "port `{port}` binds the sparse column `{c}` with other columns; \
                     a sparse block must be bound alone"
                ))),
                None => Ok(None),
            },
        }
    }

    /// Checks that port `port` is numeric and returns its feature names (its width is their
    /// count). Strings on a numeric port are refused here, at load time.
    pub fn numeric_input(&self, port: &str) -> Result<Vec<String>, Error> {
        for (col, info) in self.input(port)? {
            if !info.ty.is_numeric() {
                return Err(self.err(format!(
                    "port `{port}` needs numbers, but column `{col}` is {:?}",
                    info.ty
                )));
            }
        }
        self.input_names(port)
    }

    /// Checks the width of a numeric port against what the op was fitted on.
    pub fn expect_width(&self, port: &str, width: usize) -> Result<Vec<String>, Error> {
        let names = self.numeric_input(port)?;
        if names.len() != width {
            return Err(self.err(format!(
                "port `{port}` stacks {} features, but the op was fitted on {width}",
                names.len()
            )));
        }
        Ok(names)
    }

    /// The columns bound to output port `port`.
    pub fn output(&self, port: &str) -> Result<&'a [String], Error> {
        self.node
            .output(port)
            .ok_or_else(|| self.err(format!("output port `{port}` is not bound")))
    }

    /// Whether output port `port` is bound.
    pub fn has_output(&self, port: &str) -> bool {
        self.node.output(port).is_some()
    }

    /// Attribute `key`, or `None`.
    pub fn opt_attr(&self, key: &str) -> Option<&'a Attr> {
        self.node.attrs.get(key)
    }

    /// Attribute `key`.
    pub fn attr(&self, key: &str) -> Result<&'a Attr, Error> {
        self.opt_attr(key)
            .ok_or_else(|| self.err(format!("attribute `{key}` is missing")))
    }

    fn kind_err(&self, key: &str, want: &str, got: &Attr) -> Error {
        self.err(format!(
            "attribute `{key}` should be {want}, found {}",
            got.kind()
        ))
    }

    /// A float attribute (integers are accepted).
    pub fn f64(&self, key: &str) -> Result<f64, Error> {
        match self.attr(key)? {
            Attr::F64(v) => Ok(*v),
            Attr::I64(v) => Ok(*v as f64),
            other => Err(self.kind_err(key, "f64", other)),
        }
    }

    /// An integer attribute.
    pub fn i64(&self, key: &str) -> Result<i64, Error> {
        match self.attr(key)? {
            Attr::I64(v) => Ok(*v),
            other => Err(self.kind_err(key, "i64", other)),
        }
    }

    /// A non-negative integer attribute as usize.
    pub fn usize(&self, key: &str) -> Result<usize, Error> {
        let v = self.i64(key)?;
        usize::try_from(v).map_err(|_| self.err(format!("attribute `{key}` is negative ({v})")))
    }

    /// A boolean attribute.
    pub fn bool(&self, key: &str) -> Result<bool, Error> {
        match self.attr(key)? {
            Attr::Bool(v) => Ok(*v),
            other => Err(self.kind_err(key, "bool", other)),
        }
    }

    /// A string attribute.
    pub fn str(&self, key: &str) -> Result<&'a str, Error> {
        match self.attr(key)? {
            Attr::Str(v) => Ok(v),
            other => Err(self.kind_err(key, "str", other)),
        }
    }

    /// A string list attribute.
    pub fn strs(&self, key: &str) -> Result<&'a [String], Error> {
        match self.attr(key)? {
            Attr::Strs(v) => Ok(v),
            other => Err(self.kind_err(key, "strs", other)),
        }
    }

    /// A list attribute.
    pub fn list(&self, key: &str) -> Result<&'a [Attr], Error> {
        match self.attr(key)? {
            Attr::List(v) => Ok(v),
            other => Err(self.kind_err(key, "list", other)),
        }
    }

    /// A float array: inline `f64s`/`i64s`, or a float tensor (F64 or F32, read as f64).
    pub fn f64s(&self, key: &str) -> Result<Vec<f64>, Error> {
        self.attr_f64s(key, self.attr(key)?)
    }

    /// Reads a float array from an attribute value (for elements of list attributes).
    pub fn attr_f64s(&self, key: &str, a: &Attr) -> Result<Vec<f64>, Error> {
        match a {
            Attr::F64s(v) => Ok(v.clone()),
            Attr::I64s(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            Attr::Tensor(t) => Ok(self.bundle.tensor(t)?.to_f64_any()?),
            other => Err(self.kind_err(key, "a float array", other)),
        }
    }

    /// An integer array: inline `i64s`, or an integer tensor (I64, I32, U8 or BOOL).
    pub fn i64s(&self, key: &str) -> Result<Vec<i64>, Error> {
        match self.attr(key)? {
            Attr::I64s(v) => Ok(v.clone()),
            Attr::Tensor(t) => Ok(self.bundle.tensor(t)?.to_i64_any()?),
            other => Err(self.kind_err(key, "an integer array", other)),
        }
    }

    /// The value of the column bound to port `port` when it is known at load (a constant
    /// weight, or computed from constants): what lets an op pre-pack its weights.
    pub fn constant_input(&self, port: &str) -> Option<&'a Tensor> {
        match self.input(port).ok()? {
            [(col, _)] => self.constants.get(col),
            _ => None,
        }
    }

    /// A tensor attribute read into a runtime [`Tensor`] (any bundle tensor dtype).
    pub fn tensor_value(&self, key: &str) -> Result<Tensor, Error> {
        let v = self.tensor(key)?;
        let shape = v.shape.to_vec();
        let bytes = v.data;
        fn le<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            bytes
                .chunks_exact(N)
                .map(|c| {
                    let mut b = [0u8; N];
                    b.copy_from_slice(c);
                    f(b)
                })
                .collect()
        }
        use keel_bundle::TensorDType as T;
        use std::sync::Arc;
        let data = match v.dtype {
            T::F64 => TensorData::F64(Arc::new(le(bytes, f64::from_le_bytes))),
            T::F32 => TensorData::F32(Arc::new(le(bytes, f32::from_le_bytes))),
            T::F16 => TensorData::F16(Arc::new(le(bytes, half::f16::from_le_bytes))),
            T::Bf16 => TensorData::Bf16(Arc::new(le(bytes, half::bf16::from_le_bytes))),
            T::I64 => TensorData::I64(Arc::new(le(bytes, i64::from_le_bytes))),
            T::I32 => TensorData::I32(Arc::new(le(bytes, i32::from_le_bytes))),
            T::I8 => TensorData::I8(Arc::new(bytes.iter().map(|&b| b as i8).collect())),
            T::U8 => TensorData::U8(Arc::new(bytes.to_vec())),
            T::Bool => TensorData::Bool(Arc::new(bytes.iter().map(|&b| b != 0).collect())),
        };
        Tensor::from_data(shape, data).map_err(|e| self.err(format!("attribute `{key}`: {e}")))
    }

    /// A tensor attribute, with its shape.
    pub fn tensor(&self, key: &str) -> Result<TensorView<'a>, Error> {
        match self.attr(key)? {
            Attr::Tensor(t) => Ok(self.bundle.tensor(t)?),
            other => Err(self.kind_err(key, "tensor", other)),
        }
    }

    /// A float matrix of shape `[rows, cols]` from a 2-D tensor or an inline list (then `cols`
    /// must be given by the caller through `expected_cols`).
    pub fn matrix(
        &self,
        key: &str,
        expected_cols: Option<usize>,
    ) -> Result<(usize, usize, Vec<f64>), Error> {
        let attr = self.attr(key)?;
        let (shape, data) = match attr {
            Attr::Tensor(t) => {
                let v = self.bundle.tensor(t)?;
                (v.shape.to_vec(), v.to_f64_any()?)
            }
            _ => {
                let d = self.attr_f64s(key, attr)?;
                let cols = expected_cols
                    .ok_or_else(|| self.err(format!("attribute `{key}` must be a 2-D tensor")))?;
                if cols == 0 || d.len() % cols != 0 {
                    return Err(self.err(format!(
                        "attribute `{key}` has {} values, not a multiple of {cols}",
                        d.len()
                    )));
                }
                (vec![d.len() / cols, cols], d)
            }
        };
        let (r, c) = match shape.as_slice() {
            [r, c] => (*r, *c),
            [n] => (1, *n),
            _ => {
                return Err(self.err(format!(
                    "attribute `{key}` should be 2-D, has shape {shape:?}"
                )));
            }
        };
        if let Some(want) = expected_cols
            && want != c
        {
            return Err(self.err(format!(
                "attribute `{key}` has {c} columns, expected {want}"
            )));
        }
        Ok((r, c, data))
    }

    /// Output info for a scalar column written to port `port`.
    pub fn scalar_out(&self, port: &str, dtype: DType) -> Result<ColInfo, Error> {
        let cols = self.output(port)?;
        match cols {
            [c] => Ok(ColInfo::scalar(c, dtype)),
            _ => Err(self.err(format!("output port `{port}` must bind exactly one column"))),
        }
    }

    /// Output info for a sparse feature block of `width` columns written to port `port`.
    pub fn sparse_out(&self, port: &str, width: usize) -> Result<ColInfo, Error> {
        match self.output(port)? {
            [_] => Ok(ColInfo {
                ty: ColType::Sparse(width),
                names: Vec::new(),
            }),
            _ => Err(self.err(format!("output port `{port}` must bind exactly one column"))),
        }
    }

    /// Output info for a list-of-strings (tokens) column written to port `port`.
    pub fn str_list_out(&self, port: &str) -> Result<ColInfo, Error> {
        match self.output(port)? {
            [c] => Ok(ColInfo {
                ty: ColType::StrList,
                names: vec![c.clone()],
            }),
            _ => Err(self.err(format!("output port `{port}` must bind exactly one column"))),
        }
    }

    /// Output info for a feature block written to port `port`.
    pub fn vector_out(&self, port: &str, names: Vec<String>) -> Result<ColInfo, Error> {
        match self.output(port)? {
            [_] => Ok(ColInfo {
                ty: ColType::Vector(names.len()),
                names,
            }),
            _ => Err(self.err(format!("output port `{port}` must bind exactly one column"))),
        }
    }
}
