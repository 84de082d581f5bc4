//! `nn.gather_nd` (ONNX GatherND): gathers slices of `data` addressed by the index tuples in
//! the last axis of `indices`. Ports: `0` data (rank r >= 1), `1` indices (i64/i32, rank
//! q >= 1, last dimension k with `batch_dims + k <= r`; negative counts from the end) -> `0`
//! of shape `indices[..q-1] ++ data[batch_dims + k..]`. Attribute `batch_dims` (i64, default
//! 0: the leading axes data and indices share, each tuple indexing its own batch).
//!
//! Also home of [`tuple_offsets`], which `nn.scatter_nd` shares.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::gather::resolve_index;
use crate::ops::nn::layout::{take, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, shape_error, strides, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

/// For `indices` whose last axis holds tuples into `data`'s axes `b..b + k` (after `b` batch
/// axes): the element offset in data where each tuple's slice starts, and the slice length.
pub(crate) fn tuple_offsets(
    data: &[usize],
    indices: &Tensor,
    b: usize,
) -> Result<(Vec<usize>, usize), Error> {
    let q = indices.rank();
    let k = indices.shape.last().copied().unwrap_or(0);
    if q == 0 || q <= b || b + k > data.len() || indices.shape[..b] != data[..b] {
        return Err(shape_error(
            "indices",
            format!(
                "rank >= {} with the batch axes of data {data:?} and tuples of <= {} axes",
                b + 1,
                data.len().saturating_sub(b)
            ),
            format!("{:?}", indices.shape),
        ));
    }
    let tuples = checked_elements(&indices.shape[..q - 1], "indices")?;
    let per_batch = checked_elements(&indices.shape[b..q - 1], "indices")?;
    let slice = checked_elements(&data[b + k..], "data")?;
    let batch_len = checked_elements(&data[b..], "data")?;
    let st = strides(data);
    let ks = indices.data.to_i64_vec();
    if ks.len() != tuples * k {
        return Err(shape_error(
            "indices",
            format!("{} elements", tuples * k),
            ks.len().to_string(),
        ));
    }
    let mut offs = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let batch = t.checked_div(per_batch).unwrap_or(0);
        let mut off = batch * batch_len;
        for j in 0..k {
            off += resolve_index(ks[t * k + j], data[b + j])? * st[b + j];
        }
        offs.push(off);
    }
    Ok((offs, slice))
}

#[derive(Debug)]
struct GatherNd {
    inputs: Inputs,
    b: usize,
}

impl Kernel for GatherNd {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let ind = self.inputs.req(inputs, 1)?;
        let (offs, slice) = tuple_offsets(&x.shape, &ind, self.b)?;
        let k = ind.shape.last().copied().unwrap_or(0);
        let mut shape = ind.shape[..ind.rank() - 1].to_vec();
        shape.extend_from_slice(&x.shape[self.b + k..]);
        checked_elements(&shape, "output")?;
        let idx: Vec<usize> = offs
            .iter()
            .flat_map(|&o| (0..slice).map(move |e| o + e))
            .collect();
        Ok(vec![tensor_value(shape, take(&x.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let ind = inputs.ty(1).clone();
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("indices must be i64 or i32, found {ind}")));
    }
    let b = usize::try_from(attr_i64(ctx, "batch_dims", 0)?)
        .map_err(|_| ctx.err("batch_dims must be non-negative"))?;
    let (r, q) = (x.rank(), ind.rank());
    if r == 0 || q <= b || r <= b {
        return Err(ctx.err(format!(
            "data {x} and indices {ind} need ranks above batch_dims {b}"
        )));
    }
    // The tuple length fixes the output's rank; without it nothing is known.
    let shape = match ind.shape.last().and_then(Dim::known) {
        Some(k) if b + k > r => {
            return Err(ctx.err(format!("tuples of {k} axes do not fit data {x}")));
        }
        Some(k) => {
            let mut s = ind.shape[..q - 1].to_vec();
            s.extend_from_slice(&x.shape[b + k..]);
            s
        }
        None => return Err(ctx.err(format!("indices {ind} need a known last dimension"))),
    };
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(GatherNd { inputs, b }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn tuples_pick_elements_and_slices() {
        // data [[0 1], [2 3]]: tuples [0 0], [1 1] pick elements; [1] picks row 1.
        let x = i64s(&[2, 2], &[0, 1, 2, 3]);
        let out = run(
            "nn.gather_nd",
            vec![],
            &[x.clone(), i64s(&[2, 2], &[0, 0, 1, 1])],
        );
        assert_eq!(out.unwrap()[0], i64s(&[2], &[0, 3]));
        let out = run(
            "nn.gather_nd",
            vec![],
            &[x.clone(), i64s(&[2, 1], &[1, -2])],
        );
        assert_eq!(out.unwrap()[0], i64s(&[2, 2], &[2, 3, 0, 1]));
        // batch_dims 1: batch 0 takes its row 1, batch 1 its row 0.
        let d = i64s(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]);
        let out = run(
            "nn.gather_nd",
            vec![("batch_dims", Attr::I64(1))],
            &[d, i64s(&[2, 1], &[1, 0])],
        );
        assert_eq!(out.unwrap()[0], i64s(&[2, 2], &[2, 3, 4, 5]));
        assert!(run("nn.gather_nd", vec![], &[x, i64s(&[1, 1], &[2])]).is_err());
    }
}
