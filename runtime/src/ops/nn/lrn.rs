//! `nn.lrn`: ONNX LRN, local response normalisation across channels. Ports: `0` X
//! `[N, C, ...]` -> `0` Y (same shape). Attributes: `size` (required, at least 1), `alpha`
//! (1e-4), `beta` (0.75), `bias` (1).
//!
//! `y = x / (bias + alpha / size * sum x[c']^2) ^ beta`, the sum over channels
//! `c - floor((size - 1) / 2) ..= c + ceil((size - 1) / 2)` that exist. Sums in f64. Floats:
//! f32, f64; f16 and bf16 computed in f32.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, is_float, real_slice, real_tensor};
use crate::ops::nn::{Inputs, attr_f64, shape_error, tensor_out};
use crate::tensor::Tensor;
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Lrn {
    inputs: Inputs,
    dtype: DType,
    size: usize,
    alpha: f64,
    beta: f64,
    bias: f64,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    if !is_float(x.dtype) || x.rank() < 2 {
        return Err(ctx.err(format!("takes a float X [N, C, ...], got {x}")));
    }
    let size = ctx.i64("size")?;
    if !(1..=1 << 20).contains(&size) {
        return Err(ctx.err(format!("`size` must be positive, got {size}")));
    }
    let op = Lrn {
        inputs,
        dtype: x.dtype,
        size: size as usize,
        alpha: attr_f64(ctx, "alpha", 1e-4)?,
        beta: attr_f64(ctx, "beta", 0.75)?,
        bias: attr_f64(ctx, "bias", 1.0)?,
    };
    let out = tensor_out(ctx, "0", x)?;
    Ok(Built {
        kernel: Box::new(op),
        outputs: vec![out],
    })
}

impl Kernel for Lrn {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let y = match self.dtype {
            DType::F64 => self.run::<f64>(&x)?,
            _ => self.run::<f32>(&x)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl Lrn {
    fn run<T: Real>(&self, x: &Tensor) -> Result<Tensor, Error> {
        if x.rank() < 2 {
            return Err(shape_error("X", "rank 2 or more", format!("{:?}", x.shape)));
        }
        let xv = real_slice::<T>(x, "X")?;
        let c = x.shape[1];
        let inner: usize = x.shape[2..].iter().product();
        let (before, after) = ((self.size - 1) / 2, self.size / 2);
        let scale = self.alpha / self.size as f64;
        let mut out = vec![T::ZERO; xv.len()];
        let image = c * inner;
        if image == 0 {
            return real_tensor(self.dtype, x.shape.clone(), out);
        }
        for (src, dst) in xv.chunks(image).zip(out.chunks_mut(image)) {
            for ch in 0..c {
                let lo = ch.saturating_sub(before);
                let hi = (ch + after).min(c - 1);
                for i in 0..inner {
                    let sq: f64 = (lo..=hi).map(|k| src[k * inner + i].to_f64().powi(2)).sum();
                    let v = src[ch * inner + i].to_f64();
                    dst[ch * inner + i] = T::from_f64(v / (self.bias + scale * sq).powf(self.beta));
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
    fn normalises_across_channels() {
        // Three channels [1, 2, 3], size 3, alpha 3, beta 1, bias 1: the scale is alpha/size
        // = 1, so y = x / (1 + sum of squares of the neighbours): 1/6, 2/15, 3/14.
        let x = f32s(&[1, 3, 1], &[1., 2., 3.]);
        let y = run(
            "nn.lrn",
            vec![
                ("size", Attr::I64(3)),
                ("alpha", Attr::F64(3.0)),
                ("beta", Attr::F64(1.0)),
            ],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_close(
            &y[0],
            &f32s(&[1, 3, 1], &[1. / 6., 2. / 15., 3. / 14.]),
            1e-6,
        );
        // size 2 looks at the channel and the next: 1/(1+5*0.5)... alpha 2, size 2 -> scale 1.
        let y = run(
            "nn.lrn",
            vec![
                ("size", Attr::I64(2)),
                ("alpha", Attr::F64(2.0)),
                ("beta", Attr::F64(1.0)),
            ],
            &[x],
        )
        .unwrap();
        assert_close(
            &y[0],
            &f32s(&[1, 3, 1], &[1. / 6., 2. / 14., 3. / 10.]),
            1e-6,
        );
    }
}
