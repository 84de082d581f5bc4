//! `nn.batch_norm`: ONNX BatchNormalization in inference mode,
//! `Y = (X - mean) / sqrt(var + epsilon) * scale + B` per channel (axis 1). Ports: `0` X
//! `[N, C, ...]`, `1` scale, `2` B, `3` input_mean, `4` input_var (each `[C]`) -> `0` Y.
//! Attributes: `epsilon` (1e-5), `momentum` (accepted, unused in inference), `training_mode`
//! (only 0; the running-statistics outputs are not implemented). Floats: f32, f64; f16 and bf16
//! computed in f32; the parameters may be any float dtype.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, channel_param, is_float, real_slice, real_tensor};
use crate::ops::nn::{Inputs, attr_f64, attr_i64, shape_error, tensor_out};
use crate::tensor::Tensor;
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct BatchNorm {
    inputs: Inputs,
    dtype: DType,
    epsilon: f64,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 5, 5)?;
    let x = inputs.ty(0);
    if !is_float(x.dtype) || x.rank() < 2 {
        return Err(ctx.err(format!("takes a float X [N, C, ...], got {x}")));
    }
    for i in 1..5 {
        let p = inputs.ty(i);
        if !is_float(p.dtype) || p.rank() != 1 {
            return Err(ctx.err(format!("input {i} must be a float [C], got {p}")));
        }
        if let (Some(a), Some(b)) = (p.shape[0].known(), x.shape[1].known())
            && a != b
        {
            return Err(ctx.err(format!("input {i} has {a} values for {b} channels")));
        }
    }
    if attr_i64(ctx, "training_mode", 0)? != 0 {
        return Err(ctx.err("`training_mode` 1 is not supported (inference only)"));
    }
    if ctx.has_output("1") || ctx.has_output("2") {
        return Err(ctx.err("the running mean and variance outputs are not supported"));
    }
    // Read so that a malformed value is refused; inference does not use it.
    attr_f64(ctx, "momentum", 0.9)?;
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", x.clone())?;
    Ok(Built {
        kernel: Box::new(BatchNorm {
            inputs,
            dtype,
            epsilon: attr_f64(ctx, "epsilon", 1e-5)?,
        }),
        outputs: vec![out],
    })
}

impl Kernel for BatchNorm {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let t: Vec<_> = (0..5)
            .map(|i| self.inputs.req(inputs, i))
            .collect::<Result<_, _>>()?;
        let y = match self.dtype {
            DType::F64 => self.norm::<f64>(&t)?,
            _ => self.norm::<f32>(&t)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl BatchNorm {
    fn norm<T: Real>(&self, t: &[std::borrow::Cow<'_, Tensor>]) -> Result<Tensor, Error> {
        let x = &t[0];
        if x.rank() < 2 {
            return Err(shape_error("X", "rank 2 or more", format!("{:?}", x.shape)));
        }
        let c = x.shape[1];
        let scale = channel_param::<f64>(&t[1], c, "scale")?;
        let bias = channel_param::<f64>(&t[2], c, "B")?;
        let mean = channel_param::<f64>(&t[3], c, "input_mean")?;
        let var = channel_param::<f64>(&t[4], c, "input_var")?;
        // Per channel, y = x * a + b.
        let (a, b): (Vec<T>, Vec<T>) = (0..c)
            .map(|i| {
                let a = scale[i] / (var[i] + self.epsilon).sqrt();
                (T::from_f64(a), T::from_f64(bias[i] - mean[i] * a))
            })
            .unzip();
        let xv = real_slice::<T>(x, "X")?;
        let size: usize = x.shape[2..].iter().product();
        let mut out = xv.into_owned();
        if size > 0 {
            for (p, plane) in out.chunks_mut(size).enumerate() {
                let (a, b) = (a[p % c], b[p % c]);
                for v in plane {
                    *v = *v * a + b;
                }
            }
        }
        real_tensor(self.dtype, x.shape.clone(), out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn normalises_per_channel() {
        // Channel 0: (x - 1) / sqrt(4) * 2 + 0.5; channel 1: (x - 0) / 1 * 1 + 0.
        let x = f32s(&[1, 2, 2], &[1., 5., 3., 4.]);
        let y = run(
            "nn.batch_norm",
            vec![("epsilon", Attr::F64(0.0))],
            &[
                x,
                f32s(&[2], &[2., 1.]),
                f32s(&[2], &[0.5, 0.]),
                f32s(&[2], &[1., 0.]),
                f32s(&[2], &[4., 1.]),
            ],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 2], &[0.5, 4.5, 3., 4.]), 1e-6);
    }
}
