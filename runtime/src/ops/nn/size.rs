//! `nn.size` (ONNX Size): a tensor's element count as an i64 scalar. Ports: `0` data -> `0`.
//! No attributes. When every dimension is known at load the output is a constant
//! ([`Kernel::constant_outputs`]).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::{Inputs, tensor_out};
use crate::tensor::{Tensor, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Size {
    inputs: Inputs,
    /// The element count when every dimension is known at load.
    known: Option<i64>,
}

impl Kernel for Size {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        Ok(vec![Value::Tensor(Tensor::scalar(x.len() as i64))])
    }

    fn constant_outputs(&self) -> Option<Vec<Value>> {
        self.known.map(|n| vec![Value::Tensor(Tensor::scalar(n))])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let out = tensor_out(ctx, "0", TensorType::known(DType::I64, &[]))?;
    // Overflow means "not known": the kernel then counts at score time (and a tensor that
    // large is refused long before).
    let known = inputs.ty(0).shape.iter().try_fold(1i64, |acc, d| {
        d.known()
            .and_then(|n| i64::try_from(n).ok())
            .and_then(|n| acc.checked_mul(n))
    });
    Ok(Built {
        kernel: Box::new(Size { inputs, known }),
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
