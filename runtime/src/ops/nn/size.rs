//! `nn.size` (ONNX Size): a tensor's element count as an i64 scalar. Ports: `0` data -> `0`.
//! No attributes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::{Inputs, tensor_out};
use crate::tensor::{Tensor, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Size(Inputs);

impl Kernel for Size {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.0.req(inputs, 0)?;
        Ok(vec![Value::Tensor(Tensor::scalar(x.len() as i64))])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let out = tensor_out(ctx, "0", TensorType::known(DType::I64, &[]))?;
    Ok(Built {
        kernel: Box::new(Size(inputs)),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, run};
    use crate::tensor::Tensor;

    #[test]
    fn the_element_count() {
        let out = run("nn.size", vec![], &[f32s(&[3, 4], &[0.; 12])]).unwrap();
        assert_eq!(out[0], Tensor::scalar(12i64));
        let out = run("nn.size", vec![], &[f32s(&[0, 4], &[])]).unwrap();
        assert_eq!(out[0], Tensor::scalar(0i64));
    }
}
