//! Network ops (`nn.*`): keel's own op set for neural networks, one op per file.
//!
//! Conventions every `nn.*` op follows (the ONNX importer and the GPU backend rely on them):
//! - **Ports are positions.** Input ports are named `0`, `1`, ... and each binds exactly one
//!   column; an optional input is simply left unbound. Outputs likewise. Variadic ops (`nn.concat`,
//!   `nn.variadic`) take ports `0..n`.
//! - **Whole tensors, ONNX semantics.** An op sees each input as one tensor whose axis 0 is the
//!   batch when the column comes from the input schema; axes, broadcasting and attribute
//!   meanings are ONNX's (attribute names too), so importing is a renaming, and the conformance
//!   suite is ONNX's own node tests.
//! - **Types are inferred at load.** `build` checks the inputs' dtypes and ranks, infers every
//!   output's [`TensorType`] (a dimension it cannot know is `Dim::unknown()`), and rejects what
//!   it does not implement with a plan error. The kernel checks actual shapes again: user data
//!   never reaches an index unchecked, and a mismatch is a [`Error::TensorShape`].
//! - **Attributes are declared** in the registry entry (`OpEntry::nn(name, build, attrs)`); the
//!   planner refuses any other.
//! - **Constants fold.** When every input of a node is known at load the planner computes it
//!   once; a kernel may also pre-pack a constant input it reads ([`BuildCtx::constant_input`]).

pub(crate) mod arg_reduce;
pub(crate) mod attention;
pub(crate) mod average_pool;
pub(crate) mod batch_norm;
pub(crate) mod binary;
pub(crate) mod cast;
pub(crate) mod clip;
pub(crate) mod concat;
pub(crate) mod constant;
pub(crate) mod constant_of_shape;
pub(crate) mod conv;
pub(crate) mod conv_transpose;
pub(crate) mod cumulative;
pub(crate) mod depth_to_space;
pub(crate) mod dropout;
pub(crate) mod embedding;
pub(crate) mod embedding_bag;
pub(crate) mod expand;
pub(crate) mod flatten;
pub(crate) mod gather;
pub(crate) mod gather_elements;
pub(crate) mod gather_nd;
pub(crate) mod gemm;
pub(crate) mod global_pool;
pub(crate) mod group_norm;
pub(crate) mod identity;
pub(crate) mod instance_norm;
pub(crate) mod layer_norm;
pub(crate) mod layout;
pub(crate) mod linalg;
pub(crate) mod lp_pool;
pub(crate) mod lrn;
pub(crate) mod matmul;
pub(crate) mod max_pool;
pub(crate) mod mean_variance_norm;
pub(crate) mod non_zero;
pub(crate) mod one_hot;
pub(crate) mod pad;
pub(crate) mod range;
pub(crate) mod reduce;
pub(crate) mod reshape;
pub(crate) mod resize;
pub(crate) mod rms_norm;
pub(crate) mod rotary_embedding;
pub(crate) mod scatter_elements;
pub(crate) mod scatter_nd;
pub(crate) mod shape;
pub(crate) mod size;
pub(crate) mod slice;
pub(crate) mod softmax;
pub(crate) mod split;
pub(crate) mod squeeze;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod tile;
pub(crate) mod top_k;
pub(crate) mod transpose;
pub(crate) mod trilu;
pub(crate) mod unary;
pub(crate) mod unsqueeze;
pub(crate) mod variadic;
pub(crate) mod where_;
pub(crate) mod window;

use crate::error::Error;
use crate::op::BuildCtx;
use crate::tensor::{Dim, Tensor, TensorData, TensorType};
use crate::value::{ColInfo, ColType, Value};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_schema::DataType;
use keel_bundle::DType;
use std::borrow::Cow;
use std::sync::Arc;

/// The planned type of a column as a tensor: tensors as they are, a feature block as
/// `f64[batch, width]`, a numeric scalar column as `dtype[batch]`. `None` for strings.
pub(crate) fn as_tensor_type(info: &ColInfo) -> Option<TensorType> {
    match &info.ty {
        ColType::Tensor(t) => Some(t.clone()),
        ColType::Vector(w) | ColType::Sparse(w) => Some(TensorType {
            dtype: DType::F64,
            shape: vec![Dim::batch(), Dim::Known(*w)],
        }),
        ColType::Scalar(d) if d.is_tensor_element() => Some(TensorType {
            dtype: *d,
            shape: vec![Dim::batch()],
        }),
        ColType::Scalar(_) | ColType::StrList => None,
    }
}

/// The inputs of an `nn.*` node by position: `types[i]` is the type bound to port `i` (`None`
/// when unbound), and [`Inputs::get`] finds the same position among the values a kernel gets.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    /// Per port position, the planned type (or `None` when the port is unbound).
    pub types: Vec<Option<TensorType>>,
    /// Per port position, the index into the kernel's `inputs` slice.
    slots: Vec<Option<usize>>,
}

impl Inputs {
    /// Reads a node's input bindings: ports must be `0..`, each bound to one tensor column.
    /// `min` ports must be bound; at most `max` may be.
    pub fn read(ctx: &BuildCtx<'_>, min: usize, max: usize) -> Result<Inputs, Error> {
        let mut types: Vec<Option<TensorType>> = Vec::new();
        let mut slots: Vec<Option<usize>> = Vec::new();
        for (pos, b) in ctx.node.inputs.iter().enumerate() {
            let port: usize = b.port.parse().map_err(|_| {
                ctx.err(format!(
                    "input port `{}` is not a position (0, 1, ...)",
                    b.port
                ))
            })?;
            if port >= max {
                return Err(ctx.err(format!(
                    "takes at most {max} inputs, port `{port}` is bound"
                )));
            }
            let cols = ctx.input(&b.port)?;
            let [(col, info)] = cols else {
                return Err(ctx.err(format!("input port `{port}` must bind exactly one column")));
            };
            let t = as_tensor_type(info)
                .ok_or_else(|| ctx.err(format!("input `{col}` is {:?}, not a tensor", info.ty)))?;
            if types.len() <= port {
                types.resize(port + 1, None);
                slots.resize(port + 1, None);
            }
            if types[port].is_some() {
                return Err(ctx.err(format!("input port `{port}` is bound twice")));
            }
            types[port] = Some(t);
            slots[port] = Some(pos);
        }
        if let Some(missing) = (0..min).find(|&i| types.get(i).is_none_or(Option::is_none)) {
            return Err(ctx.err(format!("input port `{missing}` is not bound")));
        }
        Ok(Inputs { types, slots })
    }

    /// The type at port `i`, which `read`'s `min` guarantees is bound.
    pub fn ty(&self, i: usize) -> &TensorType {
        self.types[i].as_ref().unwrap_or_else(|| unreachable_type())
    }

    /// The type at port `i`, if bound.
    pub fn opt(&self, i: usize) -> Option<&TensorType> {
        self.types.get(i).and_then(Option::as_ref)
    }

    /// How many ports (the highest bound position + 1).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// The value at port `i` among a kernel's inputs, as a tensor (`None` when unbound).
    pub fn get<'v>(
        &self,
        inputs: &[&'v Value],
        i: usize,
    ) -> Result<Option<Cow<'v, Tensor>>, Error> {
        match self.slots.get(i).copied().flatten() {
            None => Ok(None),
            Some(k) => inputs.get(k).map(|v| value_tensor(v)).transpose(),
        }
    }

    /// The value at a port that must be bound.
    pub fn req<'v>(&self, inputs: &[&'v Value], i: usize) -> Result<Cow<'v, Tensor>, Error> {
        self.get(inputs, i)?.ok_or_else(|| Error::Plan {
            node: String::new(),
            op: String::new(),
            message: format!("input {i} is missing (planner bug)"),
        })
    }
}

// `Inputs::ty` is only called for ports `read` checked; a typed fallback keeps it panic-free.
fn unreachable_type() -> &'static TensorType {
    static NONE: std::sync::OnceLock<TensorType> = std::sync::OnceLock::new();
    NONE.get_or_init(|| TensorType {
        dtype: DType::F32,
        shape: Vec::new(),
    })
}

/// A value as a tensor: tensors are borrowed; feature blocks and scalar columns are converted.
pub(crate) fn value_tensor(v: &Value) -> Result<Cow<'_, Tensor>, Error> {
    Ok(match v {
        Value::Tensor(t) => Cow::Borrowed(t),
        Value::Matrix(m) => Cow::Owned(Tensor::from_matrix(m.clone())),
        Value::Sparse(m) => Cow::Owned(Tensor::from_matrix(m.to_dense())),
        Value::Array(a) => {
            let n = a.len();
            let data = match a.data_type() {
                DataType::Float64 => TensorData::F64(Arc::new(
                    (0..n)
                        .map(|i| {
                            if a.is_null(i) {
                                f64::NAN
                            } else {
                                a.as_primitive::<Float64Type>().value(i)
                            }
                        })
                        .collect(),
                )),
                DataType::Float32 => TensorData::F32(Arc::new(
                    (0..n)
                        .map(|i| {
                            if a.is_null(i) {
                                f32::NAN
                            } else {
                                a.as_primitive::<Float32Type>().value(i)
                            }
                        })
                        .collect(),
                )),
                DataType::Int64 => {
                    TensorData::I64(Arc::new(a.as_primitive::<Int64Type>().values().to_vec()))
                }
                DataType::Int32 => {
                    TensorData::I32(Arc::new(a.as_primitive::<Int32Type>().values().to_vec()))
                }
                DataType::Boolean => {
                    TensorData::Bool(Arc::new((0..n).map(|i| a.as_boolean().value(i)).collect()))
                }
                other => {
                    return Err(Error::ColumnType {
                        column: String::new(),
                        expected: "a numeric column".into(),
                        found: other.to_string(),
                    });
                }
            };
            Cow::Owned(Tensor::from_data(vec![n], data)?)
        }
    })
}

/// Output info for a tensor written to output port `port`.
pub(crate) fn tensor_out(ctx: &BuildCtx<'_>, port: &str, ty: TensorType) -> Result<ColInfo, Error> {
    match ctx.output(port)? {
        [c] => Ok(ColInfo {
            ty: ColType::Tensor(ty),
            names: vec![c.clone()],
        }),
        _ => Err(ctx.err(format!("output port `{port}` must bind exactly one column"))),
    }
}

/// An integer attribute with a default.
pub(crate) fn attr_i64(ctx: &BuildCtx<'_>, key: &str, default: i64) -> Result<i64, Error> {
    match ctx.opt_attr(key) {
        None => Ok(default),
        Some(_) => ctx.i64(key),
    }
}

/// A float attribute with a default.
pub(crate) fn attr_f64(ctx: &BuildCtx<'_>, key: &str, default: f64) -> Result<f64, Error> {
    match ctx.opt_attr(key) {
        None => Ok(default),
        Some(_) => ctx.f64(key),
    }
}

/// An integer-list attribute, empty when absent.
pub(crate) fn attr_i64s(ctx: &BuildCtx<'_>, key: &str) -> Result<Vec<i64>, Error> {
    match ctx.opt_attr(key) {
        None => Ok(Vec::new()),
        Some(_) => ctx.i64s(key),
    }
}

/// Resolves a possibly negative `axis` against `rank` (ONNX: `-rank <= axis < rank`).
pub(crate) fn norm_axis(ctx: &BuildCtx<'_>, axis: i64, rank: usize) -> Result<usize, Error> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(ctx.err(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// The same check at score time, for axes read from an input tensor.
pub(crate) fn norm_axis_at(axis: i64, rank: usize, what: &str) -> Result<usize, Error> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(shape_error(
            what,
            format!("an axis in -{rank}..{rank}"),
            axis.to_string(),
        ));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// A score-time shape error about an op's input `what`.
pub(crate) fn shape_error(
    what: &str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Error {
    Error::TensorShape {
        column: what.to_string(),
        row: None,
        expected: expected.into(),
        found: found.into(),
        node: String::new(),
    }
}

/// The NumPy broadcast of two planned shapes (`None` when they cannot broadcast).
pub(crate) fn broadcast_dims(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a.get(i + a.len() - rank)
        } else {
            None
        };
        let db = if i + b.len() >= rank {
            b.get(i + b.len() - rank)
        } else {
            None
        };
        out.push(match (da, db) {
            (None, Some(d)) | (Some(d), None) => d.clone(),
            (Some(Dim::Known(1)), Some(d)) | (Some(d), Some(Dim::Known(1))) => d.clone(),
            (Some(Dim::Known(x)), Some(Dim::Known(y))) if x == y => Dim::Known(*x),
            (Some(Dim::Known(_)), Some(Dim::Known(_))) => return None,
            (Some(Dim::Sym(x)), Some(Dim::Sym(y))) if x == y => Dim::Sym(x.clone()),
            (Some(Dim::Known(x)), Some(Dim::Sym(_))) | (Some(Dim::Sym(_)), Some(Dim::Known(x))) => {
                Dim::Known(*x)
            }
            _ => Dim::unknown(),
        });
    }
    Some(out)
}

/// The NumPy broadcast of two concrete shapes, or a shape error naming both.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, Error> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out.push(match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(shape_error(
                    "operands",
                    format!("shapes that broadcast with {a:?}"),
                    format!("{b:?}"),
                ));
            }
        });
    }
    Ok(out)
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// When a tensor of `shape` broadcasts to `out` by repeating runs, the run length: its
/// dimensions that are not 1 form one block of consecutive axes equal to `out`'s there (a
/// bias `[n]` over `[m, n]`, a per-channel `[c, 1, 1]` over `[b, c, h, w]`), so output element
/// `i` reads element `(i / run) % len`. `None` for any other broadcast, and for an empty `out`.
pub(crate) fn broadcast_run(shape: &[usize], out: &[usize]) -> Option<usize> {
    if shape.len() > out.len() || out.contains(&0) {
        return None;
    }
    let pad = out.len() - shape.len();
    let full: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(shape.iter().copied())
        .collect();
    let first = full.iter().position(|&d| d != 1);
    let Some(first) = first else {
        // All ones: one element repeated over everything.
        return Some(out.iter().product());
    };
    let last = full.iter().rposition(|&d| d != 1).unwrap_or(first);
    if (first..=last).any(|i| full[i] != out[i]) {
        return None;
    }
    Some(out[last + 1..].iter().product())
}

/// For a tensor of `shape` broadcast to `out`: for every output element in order, the index of
/// the element it reads. Callers use it when operand shapes differ; equal shapes take a plain
/// zip instead.
pub(crate) fn broadcast_index(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let rank = out.len();
    let st = strides(shape);
    // The stride of each output axis in the input (0 where the input broadcasts).
    let mut bs = vec![0usize; rank];
    for i in 0..shape.len() {
        let o = rank - shape.len() + i;
        bs[o] = if shape[i] == 1 { 0 } else { st[i] };
    }
    let n: usize = out.iter().product();
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; rank];
    let mut pos = 0usize;
    for _ in 0..n {
        idx.push(pos);
        // Increment the odometer from the last axis.
        for ax in (0..rank).rev() {
            counter[ax] += 1;
            pos += bs[ax];
            if counter[ax] < out[ax] {
                break;
            }
            pos -= bs[ax] * counter[ax];
            counter[ax] = 0;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert!(broadcast_shape(&[2, 3], &[4]).is_err());
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_run(&[3], &[2, 3]), Some(1));
        assert_eq!(broadcast_run(&[4, 1, 1], &[2, 4, 5, 5]), Some(25));
        assert_eq!(broadcast_run(&[1], &[2, 3]), Some(6));
        assert_eq!(broadcast_run(&[2, 1, 3], &[2, 4, 3]), None);
        assert_eq!(broadcast_run(&[3], &[0, 3]), None);
        let d = broadcast_dims(&[Dim::batch(), Dim::Known(3)], &[Dim::Known(3)]).unwrap();
        assert_eq!(d, vec![Dim::batch(), Dim::Known(3)]);
        assert!(broadcast_dims(&[Dim::Known(2)], &[Dim::Known(3)]).is_none());
    }
}

#[cfg(test)]
mod empty_tests {
    use crate::ops::nn::testing::{f32s, i64s, run_n};
    use keel_bundle::Attr;

    /// Every op on empty tensors (a zero dimension in each place): an answer or a typed error,
    /// never a panic or a division by zero.
    #[test]
    fn empty_tensors_never_panic() {
        let s = |v: &str| Attr::Str(v.into());
        let shapes: [&[usize]; 4] = [&[0, 3, 4, 4], &[2, 0, 4, 4], &[2, 3, 0, 4], &[0]];
        for shape in shapes {
            let x = f32s(shape, &[]);
            let w = f32s(&[3, 3, 1, 1], &[0.5; 9]);
            let c3 = f32s(&[3], &[1.0; 3]);
            type Case<'a> = (&'a str, Vec<(&'a str, Attr)>, Vec<crate::tensor::Tensor>);
            let cases: Vec<Case> = vec![
                ("nn.unary", vec![("fn", s("relu"))], vec![x.clone()]),
                (
                    "nn.binary",
                    vec![("fn", s("div"))],
                    vec![x.clone(), x.clone()],
                ),
                (
                    "nn.softmax",
                    vec![("fn", s("softmax")), ("axis", Attr::I64(0))],
                    vec![x.clone()],
                ),
                ("nn.reduce", vec![("fn", s("mean"))], vec![x.clone()]),
                ("nn.reduce", vec![("fn", s("max"))], vec![x.clone()]),
                ("nn.arg_reduce", vec![("fn", s("max"))], vec![x.clone()]),
                ("nn.flatten", vec![], vec![x.clone()]),
                ("nn.transpose", vec![], vec![x.clone()]),
                ("nn.shape", vec![], vec![x.clone()]),
                ("nn.size", vec![], vec![x.clone()]),
                (
                    "nn.concat",
                    vec![("axis", Attr::I64(0))],
                    vec![x.clone(), x.clone()],
                ),
                (
                    "nn.tile",
                    vec![],
                    vec![x.clone(), i64s(&[shape.len()], &vec![2; shape.len()])],
                ),
                (
                    "nn.global_pool",
                    vec![("fn", s("average"))],
                    vec![x.clone()],
                ),
                ("nn.global_pool", vec![("fn", s("max"))], vec![x.clone()]),
                (
                    "nn.max_pool",
                    vec![("kernel_shape", Attr::I64s(vec![1, 1]))],
                    vec![x.clone()],
                ),
                (
                    "nn.average_pool",
                    vec![("kernel_shape", Attr::I64s(vec![1, 1]))],
                    vec![x.clone()],
                ),
                ("nn.conv", vec![], vec![x.clone(), w.clone()]),
                (
                    "nn.batch_norm",
                    vec![],
                    vec![x.clone(), c3.clone(), c3.clone(), c3.clone(), c3.clone()],
                ),
                (
                    "nn.instance_norm",
                    vec![],
                    vec![x.clone(), c3.clone(), c3.clone()],
                ),
                ("nn.layer_norm", vec![], vec![x.clone()]),
                (
                    "nn.matmul",
                    vec![],
                    vec![x.clone(), f32s(&[4, 2], &[1.0; 8])],
                ),
                (
                    "nn.variadic",
                    vec![("fn", s("mean"))],
                    vec![x.clone(), x.clone()],
                ),
                ("nn.identity", vec![], vec![x.clone()]),
                ("nn.cast", vec![("to", s("i64"))], vec![x.clone()]),
            ];
            for (op, attrs, inputs) in cases {
                let r = std::panic::catch_unwind(|| run_n(op, attrs, &inputs, 1));
                assert!(r.is_ok(), "{op} panicked on shape {shape:?}");
            }
        }
    }
}
