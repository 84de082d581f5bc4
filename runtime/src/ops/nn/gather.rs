//! `nn.gather` (ONNX Gather): picks slices along one axis. Ports: `0` data (rank >= 1), `1`
//! indices (i64/i32, any rank; negative counts from the end) -> `0` of shape
//! `data[..axis] ++ indices ++ data[axis + 1..]`. Attribute `axis` (i64, default 0).
//!
//! An index outside `-d..d` is a `tensor_shape` error naming it, never a panic.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{check_rank, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, norm_axis, shape_error, tensor_out};
use crate::tensor::{TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Gather {
    inputs: Inputs,
    rank: usize,
    axis: usize,
}

/// An index into an axis of size `d`, negative counting from the end, or the error naming it.
pub(crate) fn resolve_index(k: i64, d: usize) -> Result<usize, Error> {
    let di = d as i64;
    let i = if k < 0 { k + di } else { k };
    usize::try_from(i)
        .ok()
        .filter(|&i| i < d)
        .ok_or_else(|| shape_error("indices", format!("indices in -{d}..{d}"), k.to_string()))
}

impl Kernel for Gather {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let ind = self.inputs.req(inputs, 1)?;
        check_rank(&x, self.rank, "data")?;
        let a = self.axis;
        let d = x.shape[a];
        let mut shape = x.shape[..a].to_vec();
        shape.extend_from_slice(&ind.shape);
        shape.extend_from_slice(&x.shape[a + 1..]);
        checked_elements(&shape, "output")?;
        let outer: usize = x.shape[..a].iter().product();
        let inner: usize = x.shape[a + 1..].iter().product();
        let ks = ind
            .data
            .to_i64_vec()
            .into_iter()
            .map(|k| resolve_index(k, d))
            .collect::<Result<Vec<_>, _>>()?;
        let data = crate::with_data!(&x.data, v => {
            crate::tensor::Element::wrap(gather_runs(v, outer, d, inner, &ks)?)
        });
        Ok(vec![tensor_value(shape, data)?])
    }
}

/// The picked slices, each a contiguous run of `inner` elements copied whole (an embedding
/// lookup is one row copy per index, not one index computation per element).
fn gather_runs<T: Copy>(
    v: &[T],
    outer: usize,
    d: usize,
    inner: usize,
    ks: &[usize],
) -> Result<Vec<T>, Error> {
    let mut out = Vec::with_capacity(outer * ks.len() * inner);
    for o in 0..outer {
        for &k in ks {
            let base = (o * d + k) * inner;
            // The shapes were checked, so a run past the buffer would be a bug here:
            // reported, not a panic.
            let run = v.get(base..base + inner).ok_or_else(|| {
                shape_error("data", "indices within the buffer", "an index past its end")
            })?;
            out.extend_from_slice(run);
        }
    }
    Ok(out)
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let ind = inputs.ty(1).clone();
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("indices must be i64 or i32, found {ind}")));
    }
    let rank = x.rank();
    if rank == 0 {
        return Err(ctx.err("cannot gather from a scalar"));
    }
    let axis = norm_axis(ctx, attr_i64(ctx, "axis", 0)?, rank)?;
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(ind.shape.iter().cloned());
    shape.extend(x.shape[axis + 1..].iter().cloned());
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(Gather { inputs, rank, axis }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    #[test]
    fn rows_and_columns_are_picked() {
        let x = f32s(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
        let out = run(
            "nn.gather",
            vec![],
            &[x.clone(), i64s(&[2, 2], &[0, 1, -1, 0])],
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[2, 2, 2], &[1., 2., 3., 4., 5., 6., 1., 2.]));
        let cols = Tensor::new(vec![1], vec![1i32]).unwrap();
        let out = run(
            "nn.gather",
            vec![("axis", Attr::I64(1))],
            &[x.clone(), cols],
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[3, 1], &[2., 4., 6.]));
        let out = run("nn.gather", vec![], &[x, Tensor::scalar(2i64)]).unwrap();
        assert_eq!(out[0], f32s(&[2], &[5., 6.]));
    }

    #[test]
    fn an_index_out_of_range_is_an_error() {
        let x = f32s(&[3], &[1., 2., 3.]);
        for k in [3, -4, i64::MIN, i64::MAX] {
            let e = run("nn.gather", vec![], &[x.clone(), i64s(&[1], &[k])]).unwrap_err();
            assert!(e.to_string().contains("indices"), "{e}");
        }
    }
}
