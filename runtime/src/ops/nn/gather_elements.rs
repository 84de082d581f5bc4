//! `nn.gather_elements` (ONNX GatherElements): `out[..., i_axis, ...] = data[..., idx, ...]`
//! with `idx = indices[..., i_axis, ...]`. Ports: `0` data, `1` indices (i64/i32, the rank of
//! data; no larger than data off the axis; negative counts from the end) -> `0` of the
//! indices' shape. Attribute `axis` (i64, default 0).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::gather::resolve_index;
use crate::ops::nn::layout::{check_rank, map_index, take, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, norm_axis, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct GatherElements {
    inputs: Inputs,
    rank: usize,
    axis: usize,
}

impl Kernel for GatherElements {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let ind = self.inputs.req(inputs, 1)?;
        check_rank(&x, self.rank, "data")?;
        check_rank(&ind, self.rank, "indices")?;
        let fits = (0..self.rank).all(|a| a == self.axis || ind.shape[a] <= x.shape[a]);
        if !fits {
            return Err(shape_error(
                "indices",
                format!("no larger than {:?} off axis {}", x.shape, self.axis),
                format!("{:?}", ind.shape),
            ));
        }
        let st = strides(&x.shape);
        let d = x.shape[self.axis];
        let ks = ind.data.to_i64_vec();
        let mut n = 0usize;
        let idx = map_index(&ind.shape, |c| {
            let k = ks.get(n).copied().unwrap_or_default();
            n += 1;
            let k = resolve_index(k, d)?;
            Ok(c.iter()
                .enumerate()
                .map(|(a, &i)| if a == self.axis { k } else { i } * st[a])
                .sum())
        })?;
        Ok(vec![tensor_value(ind.shape.clone(), take(&x.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let ind = inputs.ty(1).clone();
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("indices must be i64 or i32, found {ind}")));
    }
    let rank = x.rank();
    if rank == 0 || ind.rank() != rank {
        return Err(ctx.err(format!(
            "indices {ind} must have the rank of data {x} (>= 1)"
        )));
    }
    let axis = norm_axis(ctx, attr_i64(ctx, "axis", 0)?, rank)?;
    for a in 0..rank {
        if let (Dim::Known(i), Dim::Known(d)) = (&ind.shape[a], &x.shape[a])
            && a != axis
            && i > d
        {
            return Err(ctx.err(format!(
                "indices {ind} are larger than data {x} on axis {a}"
            )));
        }
    }
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape: ind.shape.clone(),
        },
    )?;
    Ok(Built {
        kernel: Box::new(GatherElements { inputs, rank, axis }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn elements_are_picked_along_the_axis() {
        // ONNX's gather_elements_0: data [[1, 2], [3, 4]], indices [[0, 0], [1, 0]], axis 1.
        let x = f32s(&[2, 2], &[1., 2., 3., 4.]);
        let i = i64s(&[2, 2], &[0, 0, 1, 0]);
        let out = run(
            "nn.gather_elements",
            vec![("axis", Attr::I64(1))],
            &[x.clone(), i],
        );
        assert_eq!(out.unwrap()[0], f32s(&[2, 2], &[1., 1., 4., 3.]));
        // Axis 0 with a negative index: out[0][j] = x[idx][j].
        let i = i64s(&[1, 2], &[-1, 0]);
        let out = run("nn.gather_elements", vec![], &[x.clone(), i]).unwrap();
        assert_eq!(out[0], f32s(&[1, 2], &[3., 2.]));
        let bad = i64s(&[1, 2], &[2, 0]);
        assert!(run("nn.gather_elements", vec![], &[x, bad]).is_err());
    }
}
