//! `nn.unsqueeze` (ONNX Unsqueeze, opset 13+): inserts axes of size 1. Ports: `0` data, `1`
//! axes (i64/i32 1-D; positions in the output, negative counts from its end) -> `0`. No
//! attributes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    axes_at, axes_load, check_rank, const_ints, int_input, port_ints, tensor_value, unknown_dims,
};
use crate::ops::nn::{Inputs, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;

#[derive(Debug)]
struct Unsqueeze {
    inputs: Inputs,
    rank: usize,
    /// The output axes when known at load.
    axes: Option<Vec<usize>>,
}

/// The output shape: ones at `axes` (output positions), the input's dims elsewhere in order.
fn insert<D: Clone>(dims: &[D], axes: &[usize], one: D) -> Vec<D> {
    let mut rest = dims.iter();
    (0..dims.len() + axes.len())
        .map(|i| {
            if axes.contains(&i) {
                one.clone()
            } else {
                // `axes` are distinct and within the output rank, so exactly `dims.len()`
                // positions take an input dim; the fallback is never reached.
                rest.next().cloned().unwrap_or_else(|| one.clone())
            }
        })
        .collect()
}

impl Kernel for Unsqueeze {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "data")?;
        let axes = match &self.axes {
            Some(a) => a.clone(),
            None => {
                let a = port_ints(&self.inputs, inputs, 1, "axes")?;
                axes_at(&a, self.rank + a.len(), "axes")?
            }
        };
        let shape = insert(&x.shape, &axes, 1);
        Ok(vec![tensor_value(shape, x.data.clone())?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let len = int_input(ctx, inputs.ty(1), "axes")?;
    let (axes, shape) = match const_ints(ctx, 1) {
        Some(v) => {
            let axes = axes_load(ctx, &v, rank + v.len())?;
            let shape = insert(&x.shape, &axes, Dim::Known(1));
            (Some(axes), shape)
        }
        None => {
            let len =
                len.ok_or_else(|| ctx.err("`axes` must be known at load or have a known length"))?;
            (None, unknown_dims(rank + len))
        }
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
        kernel: Box::new(Unsqueeze { inputs, rank, axes }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use crate::tensor::Tensor;

    #[test]
    fn ones_go_where_the_axes_say() {
        let x = f32s(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
        let out = run("nn.unsqueeze", vec![], &[x.clone(), i64s(&[2], &[0, -1])]).unwrap();
        assert_eq!(out[0].shape, vec![1, 3, 2, 1]);
        let out = run("nn.unsqueeze", vec![], &[x.clone(), i64s(&[1], &[1])]).unwrap();
        assert_eq!(out[0].shape, vec![3, 1, 2]);
        assert_eq!(out[0].data, x.data);
    }

    #[test]
    fn a_scalar_becomes_a_vector_and_bad_axes_are_refused() {
        let out = run(
            "nn.unsqueeze",
            vec![],
            &[Tensor::scalar(5i64), i64s(&[1], &[0])],
        )
        .unwrap();
        assert_eq!(out[0].shape, vec![1]);
        let x = f32s(&[2], &[1., 2.]);
        assert!(run("nn.unsqueeze", vec![], &[x.clone(), i64s(&[1], &[2])]).is_err());
        assert!(run("nn.unsqueeze", vec![], &[x, i64s(&[2], &[0, 0])]).is_err());
    }
}
