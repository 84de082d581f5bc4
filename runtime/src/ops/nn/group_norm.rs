//! `nn.group_norm`: ONNX GroupNormalization (opset 21: per-channel scale and bias). Ports: `0`
//! X `[N, C, ...]`, `1` scale `[C]`, `2` bias `[C]` -> `0` Y. Attributes: `epsilon` (1e-5),
//! `num_groups` (required, divides C), `stash_type` (1; statistics are accumulated in f64
//! whatever it says, at least as precise as either choice).
//!
//! Each image's channels split into `num_groups` runs of `C / num_groups`; each run is
//! normalised over its channels and spatial positions together, then scaled per channel. Floats:
//! f32, f64; f16 and bf16 computed in f32.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, channel_param, is_float, moments, real_slice, real_tensor};
use crate::ops::nn::{Inputs, attr_f64, attr_i64, shape_error, tensor_out};
use crate::tensor::Tensor;
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct GroupNorm {
    inputs: Inputs,
    dtype: DType,
    epsilon: f64,
    groups: usize,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    let groups = ctx.i64("num_groups")?;
    if !(1..=1 << 24).contains(&groups) {
        return Err(ctx.err(format!("`num_groups` must be positive, got {groups}")));
    }
    attr_i64(ctx, "stash_type", 1)?;
    plan(
        ctx,
        inputs,
        groups as usize,
        attr_f64(ctx, "epsilon", 1e-5)?,
    )
}

/// The load-time checks and kernel shared with `nn.instance_norm` (one group per channel,
/// `groups` 0).
pub(crate) fn plan(
    ctx: &BuildCtx<'_>,
    inputs: Inputs,
    groups: usize,
    epsilon: f64,
) -> Result<Built, Error> {
    let x = inputs.ty(0);
    if !is_float(x.dtype) || x.rank() < 2 {
        return Err(ctx.err(format!("takes a float X [N, C, ...], got {x}")));
    }
    if let Some(c) = x.shape[1].known()
        && groups > 0
        && c % groups != 0
    {
        return Err(ctx.err(format!("{c} channels do not split into {groups} groups")));
    }
    for i in 1..3 {
        let p = inputs.ty(i);
        if !is_float(p.dtype) || p.rank() != 1 {
            return Err(ctx.err(format!("input {i} must be a float [C], got {p}")));
        }
    }
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", x.clone())?;
    Ok(Built {
        kernel: Box::new(GroupNorm {
            inputs,
            dtype,
            epsilon,
            groups,
        }),
        outputs: vec![out],
    })
}

impl Kernel for GroupNorm {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let s = self.inputs.req(inputs, 1)?;
        let b = self.inputs.req(inputs, 2)?;
        let y = match self.dtype {
            DType::F64 => self.norm::<f64>(&x, &s, &b)?,
            _ => self.norm::<f32>(&x, &s, &b)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl GroupNorm {
    fn norm<T: Real>(&self, x: &Tensor, s: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
        if x.rank() < 2 {
            return Err(shape_error("X", "rank 2 or more", format!("{:?}", x.shape)));
        }
        let c = x.shape[1];
        let groups = if self.groups == 0 { c } else { self.groups };
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(shape_error(
                "X",
                format!("channels divisible by {groups}"),
                format!("{:?}", x.shape),
            ));
        }
        let scale = channel_param::<T>(s, c, "scale")?;
        let bias = channel_param::<T>(b, c, "bias")?;
        let size: usize = x.shape[2..].iter().product();
        let per = c / groups;
        let mut out = real_slice::<T>(x, "X")?.into_owned();
        let run = per * size;
        if run > 0 {
            for (k, block) in out.chunks_mut(run).enumerate() {
                let (mean, var) = moments(block);
                let inv = 1.0 / (var + self.epsilon).sqrt();
                let first = (k % groups) * per;
                for (j, plane) in block.chunks_mut(size).enumerate() {
                    // y = (x - mean) * inv * scale + bias = x * a + b0
                    let a = T::from_f64(inv) * scale[first + j];
                    let b0 = bias[first + j] - T::from_f64(mean * inv) * scale[first + j];
                    for v in plane {
                        *v = *v * a + b0;
                    }
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
    fn groups_share_statistics() {
        // One image, 2 channels of 2, one group: values 1 2 3 4, mean 2.5, var 1.25.
        let x = f32s(&[1, 2, 2], &[1., 2., 3., 4.]);
        let y = run(
            "nn.group_norm",
            vec![("num_groups", Attr::I64(1)), ("epsilon", Attr::F64(0.0))],
            &[x, f32s(&[2], &[1., 2.]), f32s(&[2], &[0., 1.])],
        )
        .unwrap();
        let d = 1.25f32.sqrt();
        let want = [-1.5 / d, -0.5 / d, 2.0 * 0.5 / d + 1.0, 2.0 * 1.5 / d + 1.0];
        assert_close(&y[0], &f32s(&[1, 2, 2], &want), 1e-6);
    }
}
