//! `nn.dropout` (ONNX Dropout) at inference: the output is the input, and the optional mask
//! is all true. Ports: `0` data, optional `1` ratio (a float scalar; unused at inference),
//! optional `2` training_mode (bool) -> `0` output, optional `1` mask (bool, data's shape).
//! Attributes: `seed` (i64) and `ratio` (f64, the attribute form of opsets 7-11) are accepted
//! and unused. Training mode draws random masks, which keel does not do: a bound
//! `training_mode` must be a load-time constant `false`, anything else is refused at load.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::tensor_value;
use crate::ops::nn::{Inputs, attr_f64, attr_i64, tensor_out};
use crate::tensor::{TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct Dropout {
    inputs: Inputs,
    mask: bool,
}

impl Kernel for Dropout {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?.into_owned();
        let mut out = Vec::with_capacity(2);
        if self.mask {
            let n = checked_elements(&x.shape, "data")?;
            let m = TensorData::Bool(Arc::new(vec![true; n]));
            out.push(Value::Tensor(x.clone()));
            out.push(tensor_value(x.shape, m)?);
        } else {
            out.push(Value::Tensor(x));
        }
        Ok(out)
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 3)?;
    let x = inputs.ty(0).clone();
    if !x.dtype.is_tensor_element() {
        return Err(ctx.err(format!("data must be a tensor, found {x}")));
    }
    if let Some(r) = inputs.opt(1)
        && !matches!(r.dtype, DType::F32 | DType::F64 | DType::F16 | DType::Bf16)
    {
        return Err(ctx.err(format!("ratio must be a float scalar, found {r}")));
    }
    if let Some(t) = inputs.opt(2) {
        // Only a known `false` keeps the op deterministic.
        let off = t.dtype == DType::Bool
            && ctx
                .constant_input("2")
                .and_then(|c| c.as_slice::<bool>())
                .is_some_and(|v| v.len() == 1 && !v[0]);
        if !off {
            return Err(ctx.err(
                "training_mode must be absent or a constant false (training dropout is random)",
            ));
        }
    }
    attr_i64(ctx, "seed", 0)?;
    attr_f64(ctx, "ratio", 0.5)?;
    let mask = ctx.has_output("1");
    let mut outputs = vec![tensor_out(ctx, "0", x.clone())?];
    if mask {
        outputs.push(tensor_out(
            ctx,
            "1",
            TensorType {
                dtype: DType::Bool,
                shape: x.shape,
            },
        )?);
    }
    Ok(Built {
        kernel: Box::new(Dropout { inputs, mask }),
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, run, run_n, run_opt};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    #[test]
    fn inference_passes_through_with_a_true_mask() {
        let x = f32s(&[2, 2], &[1., -2., 3., 0.]);
        let r = Tensor::scalar(0.3f32);
        let out = run_n("nn.dropout", vec![], &[x.clone(), r], 2).unwrap();
        assert_eq!(out[0], x);
        assert_eq!(
            out[1],
            Tensor::new(vec![2, 2], vec![true, true, true, true]).unwrap()
        );
        let one = run(
            "nn.dropout",
            vec![("seed", Attr::I64(3))],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_eq!(one, vec![x]);
    }

    #[test]
    fn training_mode_from_data_is_refused() {
        // Not known at load (a plain input): refused rather than guessed.
        let x = f32s(&[1], &[1.]);
        let t = Tensor::scalar(false);
        let e = run_opt("nn.dropout", vec![], &[Some(&x), None, Some(&t)], 1);
        assert!(e.unwrap_err().to_string().contains("training_mode"));
    }
}
