//! `nn.constant`: a tensor known at load (ONNX `Constant` and every initializer). Ports: none
//! in, `0` out. Attribute `value`: the tensor.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::tensor_out;
use crate::tensor::Tensor;
use crate::value::Value;

#[derive(Debug)]
struct Constant(Tensor);

impl Kernel for Constant {
    fn eval(&self, _inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        // A reference count, not a copy: the buffer is behind an `Arc`.
        Ok(vec![Value::Tensor(self.0.clone())])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    if !ctx.node.inputs.is_empty() {
        return Err(ctx.err("takes no inputs"));
    }
    let t = ctx.tensor_value("value")?;
    let out = tensor_out(ctx, "0", t.ty())?;
    Ok(Built {
        kernel: Box::new(Constant(t)),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{run, tensor_attr};
    use crate::tensor::Tensor;

    #[test]
    fn a_constant_is_its_value() {
        let t = Tensor::new(vec![2, 2], vec![1f32, 2.0, 3.0, 4.0]).unwrap();
        let out = run("nn.constant", vec![("value", tensor_attr(&t))], &[]).unwrap();
        assert_eq!(out, vec![t]);
    }
}
