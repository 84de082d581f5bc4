//! `nn.constant_of_shape` (ONNX ConstantOfShape): a tensor of a given shape filled with one
//! value. Ports: `0` shape (i64/i32 1-D, sizes >= 0) -> `0`. Attribute `value` (a tensor of
//! one element, any dtype; default f32 0), which also gives the output's dtype.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    const_ints, int_input, known_dims, port_ints, tensor_value, unknown_dims,
};
use crate::ops::nn::{Inputs, shape_error, tensor_out};
use crate::tensor::{Element, Tensor, TensorData, TensorType, checked_elements};
use crate::value::Value;

#[derive(Debug)]
struct ConstantOfShape {
    inputs: Inputs,
    value: Tensor,
}

fn fill<T: Element>(v: &[T], n: usize) -> TensorData {
    T::wrap(vec![v.first().copied().unwrap_or_default(); n])
}

fn sizes(spec: &[i64]) -> Result<Vec<usize>, String> {
    spec.iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("a negative size in {spec:?}")))
        .collect()
}

impl Kernel for ConstantOfShape {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let spec = port_ints(&self.inputs, inputs, 0, "shape")?;
        let shape = sizes(&spec).map_err(|m| shape_error("shape", "sizes >= 0", m))?;
        let n = checked_elements(&shape, "output")?;
        let data = crate::with_data!(&self.value.data, v => fill(v, n));
        Ok(vec![tensor_value(shape, data)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let len = int_input(ctx, inputs.ty(0), "shape")?;
    let value = match ctx.opt_attr("value") {
        None => Tensor::scalar(0f32),
        Some(_) => ctx.tensor_value("value")?,
    };
    if value.len() != 1 {
        return Err(ctx.err(format!(
            "`value` must hold one element, has {}",
            value.len()
        )));
    }
    let shape = match const_ints(ctx, 0) {
        Some(s) => known_dims(&sizes(&s).map_err(|m| ctx.err(m))?),
        None => unknown_dims(
            len.ok_or_else(|| ctx.err("`shape` must be known at load or have a known length"))?,
        ),
    };
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: value.dtype(),
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(ConstantOfShape { inputs, value }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run, tensor_attr};

    #[test]
    fn the_value_fills_the_shape() {
        let out = run("nn.constant_of_shape", vec![], &[i64s(&[2], &[2, 3])]).unwrap();
        assert_eq!(out[0], f32s(&[2, 3], &[0.; 6]));
        let v = vec![("value", tensor_attr(&i64s(&[1], &[7])))];
        let out = run("nn.constant_of_shape", v, &[i64s(&[1], &[2])]).unwrap();
        assert_eq!(out[0], i64s(&[2], &[7, 7]));
        assert!(run("nn.constant_of_shape", vec![], &[i64s(&[1], &[-1])]).is_err());
        let huge = i64s(&[3], &[1 << 20, 1 << 20, 1 << 20]);
        assert!(run("nn.constant_of_shape", vec![], &[huge]).is_err());
    }
}
