//! `nn.identity` (ONNX Identity): its input, unchanged. Ports: `0` -> `0`. No attributes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::{Inputs, tensor_out};
use crate::value::Value;

#[derive(Debug)]
struct Identity(Inputs);

impl Kernel for Identity {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        // The buffer is behind an `Arc`: this is a reference count, not a copy.
        Ok(vec![Value::Tensor(self.0.req(inputs, 0)?.into_owned())])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let out = tensor_out(ctx, "0", inputs.ty(0).clone())?;
    Ok(Built {
        kernel: Box::new(Identity(inputs)),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{i64s, run};

    #[test]
    fn the_output_is_the_input() {
        let x = i64s(&[2, 2], &[1, 2, 3, 4]);
        assert_eq!(
            run("nn.identity", vec![], std::slice::from_ref(&x)).unwrap(),
            vec![x]
        );
    }
}
