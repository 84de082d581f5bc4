//! Helpers the shape and indexing ops share (this file is not an op): reading shape-like
//! inputs (axes, shapes, starts), dimension arithmetic for load-time type inference, and
//! moving elements of any dtype by index lists, so each op is written once for every dtype.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::ops::nn::shape_error;
use crate::tensor::{Dim, Element, Tensor, TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

/// Checks at load that a shape-like input is an integer tensor of rank 0 or 1; returns its
/// length when known.
pub(crate) fn int_input(
    ctx: &BuildCtx<'_>,
    ty: &TensorType,
    what: &str,
) -> Result<Option<usize>, Error> {
    if !matches!(ty.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("`{what}` must be i64 or i32, found {ty}")));
    }
    match ty.shape.as_slice() {
        [] => Ok(Some(1)),
        [d] => Ok(d.known()),
        _ => Err(ctx.err(format!("`{what}` must be 1-D, found {ty}"))),
    }
}

/// The values of a shape-like input at score time (an integer tensor of rank 0 or 1).
pub(crate) fn int_values(t: &Tensor, what: &str) -> Result<Vec<i64>, Error> {
    if t.rank() > 1 || !matches!(t.dtype(), DType::I64 | DType::I32) {
        return Err(shape_error(
            what,
            "a 1-D integer tensor",
            format!("{}{:?}", t.dtype(), t.shape),
        ));
    }
    Ok(t.data.to_i64_vec())
}

/// The shape-like input at port `i` of a kernel's values, as integers.
pub(crate) fn port_ints(
    inputs: &crate::ops::nn::Inputs,
    values: &[&Value],
    i: usize,
    what: &str,
) -> Result<Vec<i64>, Error> {
    let t = inputs.req(values, i)?;
    int_values(&t, what)
}

/// The value of input `port` as integers when it is known at load.
pub(crate) fn const_ints(ctx: &BuildCtx<'_>, port: usize) -> Option<Vec<i64>> {
    ctx.constant_input(&port.to_string())
        .map(|t| t.data.to_i64_vec())
}

/// A concrete shape as planned dimensions.
pub(crate) fn known_dims(shape: &[usize]) -> Vec<Dim> {
    shape.iter().map(|&d| Dim::Known(d)).collect()
}

/// `n` dimensions about which nothing is known.
pub(crate) fn unknown_dims(n: usize) -> Vec<Dim> {
    vec![Dim::unknown(); n]
}

/// The product of planned dimensions: known when all are (and it fits), a symbol when it is
/// the only factor other than ones (`[batch, 1]` flattens to `batch`), unknown otherwise.
pub(crate) fn dim_product(dims: &[Dim]) -> Dim {
    if dims.contains(&Dim::Known(0)) {
        return Dim::Known(0);
    }
    let syms: Vec<&Dim> = dims.iter().filter(|d| d.known().is_none()).collect();
    let known = dims
        .iter()
        .filter_map(Dim::known)
        .try_fold(1usize, usize::checked_mul);
    match (syms.as_slice(), known) {
        ([], Some(n)) => Dim::Known(n),
        ([s], Some(1)) => (*s).clone(),
        _ => Dim::unknown(),
    }
}

/// Whether a tensor's actual shape fits the rank the op was planned for.
pub(crate) fn check_rank(t: &Tensor, rank: usize, what: &str) -> Result<(), Error> {
    if t.rank() != rank {
        return Err(shape_error(
            what,
            format!("rank {rank}"),
            format!("{:?}", t.shape),
        ));
    }
    Ok(())
}

/// A tensor value from a shape and elements (their count is checked).
pub(crate) fn tensor_value(shape: Vec<usize>, data: TensorData) -> Result<Value, Error> {
    Ok(Value::Tensor(Tensor::from_data(shape, data)?))
}

/// The buffer of `d` as the element type of `_like`, when `d` holds that type. Lets a generic
/// body written over one input's buffer read another input of the same dtype.
pub(crate) fn like<'a, T: Element>(_like: &[T], d: &'a TensorData) -> Option<&'a [T]> {
    T::slice(d)
}

fn take_t<T: Element>(v: &[T], idx: &[usize]) -> Result<TensorData, Error> {
    let out: Option<Vec<T>> = idx.iter().map(|&i| v.get(i).copied()).collect();
    out.map(T::wrap).ok_or_else(index_bug)
}

/// The elements of `data` at `idx`, in order, of any dtype.
pub(crate) fn take(data: &TensorData, idx: &[usize]) -> Result<TensorData, Error> {
    crate::with_data!(data, v => take_t(v, idx))
}

fn take_or_t<T: Element>(
    v: &[T],
    idx: &[Option<usize>],
    fill: &TensorData,
) -> Result<TensorData, Error> {
    let f = like(v, fill)
        .and_then(|s| s.first().copied())
        .ok_or_else(|| shape_error("fill value", "one element of the data's dtype", "none"))?;
    let out: Option<Vec<T>> = idx
        .iter()
        .map(|i| match i {
            Some(i) => v.get(*i).copied(),
            None => Some(f),
        })
        .collect();
    out.map(T::wrap).ok_or_else(index_bug)
}

/// The elements of `data` at `idx`, with `fill`'s first element (same dtype) where `None`.
pub(crate) fn take_or(
    data: &TensorData,
    idx: &[Option<usize>],
    fill: &TensorData,
) -> Result<TensorData, Error> {
    crate::with_data!(data, v => take_or_t(v, idx, fill))
}

// Index lists are computed from checked shapes; an index past the buffer would be a bug in
// the op, reported rather than panicking.
fn index_bug() -> Error {
    shape_error(
        "tensor",
        "indices within the buffer",
        "an index past its end",
    )
}

/// For every element of an output of shape `out` (row-major), the input position
/// `base + sum(counter[i] * st[i])`. Steps may be negative (a reversed slice).
pub(crate) fn strided(out: &[usize], st: &[isize], base: isize) -> Result<Vec<usize>, Error> {
    let n = checked_elements(out, "output")?;
    let rank = out.len();
    let mut idx = Vec::with_capacity(n);
    if n == 0 {
        return Ok(idx);
    }
    let mut counter = vec![0usize; rank];
    let mut pos = base;
    for _ in 0..n {
        idx.push(usize::try_from(pos).map_err(|_| index_bug())?);
        // Advance the odometer from the last axis.
        for ax in (0..rank).rev() {
            counter[ax] += 1;
            pos += st[ax];
            if counter[ax] < out[ax] {
                break;
            }
            pos -= st[ax] * counter[ax] as isize;
            counter[ax] = 0;
        }
    }
    Ok(idx)
}

/// For every element of an output of shape `out` (row-major), `f` of its multi-index.
pub(crate) fn map_index<R>(
    out: &[usize],
    mut f: impl FnMut(&[usize]) -> Result<R, Error>,
) -> Result<Vec<R>, Error> {
    let n = checked_elements(out, "output")?;
    let mut res = Vec::with_capacity(n);
    if n == 0 {
        return Ok(res);
    }
    let mut counter = vec![0usize; out.len()];
    for _ in 0..n {
        res.push(f(&counter)?);
        for ax in (0..out.len()).rev() {
            counter[ax] += 1;
            if counter[ax] < out[ax] {
                break;
            }
            counter[ax] = 0;
        }
    }
    Ok(res)
}

/// Normalizes a list of axes at score time (each in `-rank..rank`, none twice).
pub(crate) fn axes_at(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>, Error> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let a = crate::ops::nn::norm_axis_at(a, rank, what)?;
        if out.contains(&a) {
            return Err(shape_error(what, "distinct axes", format!("{axes:?}")));
        }
        out.push(a);
    }
    Ok(out)
}

/// The same at load, as a plan error.
pub(crate) fn axes_load(
    ctx: &BuildCtx<'_>,
    axes: &[i64],
    rank: usize,
) -> Result<Vec<usize>, Error> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let a = crate::ops::nn::norm_axis(ctx, a, rank)?;
        if out.contains(&a) {
            return Err(ctx.err(format!("axes {axes:?} repeat an axis")));
        }
        out.push(a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_walks_transposes_and_reversals() {
        // A [2, 3] matrix read transposed: out [3, 2], strides (1, 3).
        assert_eq!(
            strided(&[3, 2], &[1, 3], 0).unwrap(),
            vec![0, 3, 1, 4, 2, 5]
        );
        // Reversed 1-D of length 4.
        assert_eq!(strided(&[4], &[-1], 3).unwrap(), vec![3, 2, 1, 0]);
        assert!(strided(&[0, 5], &[5, 1], 0).unwrap().is_empty());
    }

    #[test]
    fn take_moves_any_dtype_and_refuses_bad_indices() {
        let d = TensorData::Bool(vec![true, false].into());
        assert_eq!(
            take(&d, &[1, 0, 1]).unwrap(),
            TensorData::Bool(vec![false, true, false].into())
        );
        assert!(take(&d, &[2]).is_err());
        let f = TensorData::I64(vec![7].into());
        let d = TensorData::I64(vec![1, 2].into());
        assert_eq!(
            take_or(&d, &[None, Some(1)], &f).unwrap(),
            TensorData::I64(vec![7, 2].into())
        );
    }

    #[test]
    fn products_of_dims_keep_a_lone_symbol() {
        assert_eq!(dim_product(&[Dim::Known(2), Dim::Known(3)]), Dim::Known(6));
        assert_eq!(dim_product(&[Dim::batch(), Dim::Known(1)]), Dim::batch());
        assert_eq!(dim_product(&[Dim::batch(), Dim::Known(2)]), Dim::unknown());
        assert_eq!(dim_product(&[]), Dim::Known(1));
    }
}
