//! `nn.expand` (ONNX Expand): broadcasts the input against a shape, both ways (a 1 in `shape`
//! keeps the input's size). Ports: `0` input, `1` shape (i64/i32 1-D) -> `0`. No attributes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    check_rank, const_ints, int_input, known_dims, port_ints, take, tensor_value, unknown_dims,
};
use crate::ops::nn::{
    Inputs, broadcast_dims, broadcast_index, broadcast_shape, shape_error, tensor_out,
};
use crate::tensor::{TensorType, checked_elements};
use crate::value::Value;

#[derive(Debug)]
struct Expand {
    inputs: Inputs,
    rank: usize,
    shape: Option<Vec<i64>>,
}

fn sizes(spec: &[i64]) -> Result<Vec<usize>, String> {
    spec.iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("a negative size in {spec:?}")))
        .collect()
}

impl Kernel for Expand {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "input")?;
        let spec = match &self.shape {
            Some(s) => s.clone(),
            None => port_ints(&self.inputs, inputs, 1, "shape")?,
        };
        let target = sizes(&spec).map_err(|m| shape_error("shape", "sizes >= 0", m))?;
        let shape = broadcast_shape(&x.shape, &target)?;
        checked_elements(&shape, "output")?;
        let data = if shape == x.shape {
            x.data.clone()
        } else {
            take(&x.data, &broadcast_index(&x.shape, &shape))?
        };
        Ok(vec![tensor_value(shape, data)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let len = int_input(ctx, inputs.ty(1), "shape")?;
    let spec = const_ints(ctx, 1);
    let shape = match &spec {
        Some(s) => {
            let target = sizes(s).map_err(|m| ctx.err(m))?;
            broadcast_dims(&x.shape, &known_dims(&target))
                .ok_or_else(|| ctx.err(format!("{x} does not broadcast to {target:?}")))?
        }
        None => unknown_dims(x.rank().max(
            len.ok_or_else(|| ctx.err("`shape` must be known at load or have a known length"))?,
        )),
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
        kernel: Box::new(Expand {
            inputs,
            rank: x.rank(),
            shape: spec,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};

    #[test]
    fn both_sides_broadcast() {
        // ONNX's expand_dim_changed: [3, 1] by [2, 1, 6] -> [2, 3, 6].
        let x = f32s(&[3, 1], &[1., 2., 3.]);
        let out = run("nn.expand", vec![], &[x.clone(), i64s(&[3], &[2, 1, 6])]).unwrap();
        assert_eq!(out[0].shape, vec![2, 3, 6]);
        let v = out[0].as_slice::<f32>().unwrap();
        assert_eq!(&v[..7], &[1., 1., 1., 1., 1., 1., 2.]);
        assert_eq!(v[18], 1.);
        // A smaller shape keeps the input's sizes.
        let out = run("nn.expand", vec![], &[x.clone(), i64s(&[1], &[1])]).unwrap();
        assert_eq!(out[0], x);
        assert!(run("nn.expand", vec![], &[x.clone(), i64s(&[2], &[2, 2])]).is_err());
        assert!(run("nn.expand", vec![], &[x, i64s(&[1], &[-1])]).is_err());
    }
}
