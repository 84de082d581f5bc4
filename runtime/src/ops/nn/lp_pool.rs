//! `nn.lp_pool`: ONNX LpPool over any number of spatial axes. Ports: `0` X `[N, C, D1, ...]`
//! -> `0` Y `[N, C, O1, ...]`. Attributes: `auto_pad`, `ceil_mode` (0), `dilations`,
//! `kernel_shape` (required), `p` (2; at least 1), `pads`, `strides`.
//!
//! Each window gives `(sum |x|^p)^(1/p)` over its taps inside X (pads are zeros, which add
//! nothing). Sums accumulate in f64. Floats: f32, f64; f16 and bf16 computed in f32.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, is_float, real_slice, real_tensor};
use crate::ops::nn::window::{Window, pool_plan, pool_shape};
use crate::ops::nn::{Inputs, attr_i64, tensor_out};
use crate::tensor::Tensor;
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct LpPool {
    inputs: Inputs,
    window: Window,
    dtype: DType,
    p: f64,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (inputs, window, ty) = pool_plan(ctx)?;
    if !is_float(ty.dtype) {
        return Err(ctx.err(format!("takes a float tensor, got {}", ty.dtype)));
    }
    let p = attr_i64(ctx, "p", 2)?;
    if !(1..=1 << 10).contains(&p) {
        return Err(ctx.err(format!("`p` must be between 1 and 1024, got {p}")));
    }
    let dtype = ty.dtype;
    let out = tensor_out(ctx, "0", ty)?;
    Ok(Built {
        kernel: Box::new(LpPool {
            inputs,
            window,
            dtype,
            p: p as f64,
        }),
        outputs: vec![out],
    })
}

/// `(sum |x|^p)^(1/p)` in f64 (shared with GlobalLpPool).
pub(crate) fn lp_norm<T: Real>(xs: impl Iterator<Item = T>, p: f64) -> f64 {
    if p == 1.0 {
        return xs.map(|v| v.to_f64().abs()).sum();
    }
    if p == 2.0 {
        return xs.map(|v| v.to_f64() * v.to_f64()).sum::<f64>().sqrt();
    }
    xs.map(|v| v.to_f64().abs().powf(p))
        .sum::<f64>()
        .powf(1.0 / p)
}

impl Kernel for LpPool {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let y = match self.dtype {
            DType::F64 => self.pool::<f64>(&x)?,
            _ => self.pool::<f32>(&x)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl LpPool {
    fn pool<T: Real>(&self, x: &Tensor) -> Result<Tensor, Error> {
        let (pl, out_shape) = pool_shape(&self.window, &x.shape)?;
        let xv = real_slice::<T>(x, "X")?;
        let planes = x.shape[0] * x.shape[1];
        let in_size: usize = x.shape[2..].iter().product();
        let out_size: usize = pl.out.iter().product();
        let mut out = vec![T::ZERO; planes * out_size];
        if out_size > 0 {
            for (plane, y) in out.chunks_mut(out_size).enumerate() {
                let xs = &xv[plane * in_size..(plane + 1) * in_size];
                self.window.each_window(&x.shape[2..], &pl, |oi, taps, _| {
                    y[oi] = T::from_f64(lp_norm(taps.iter().map(|&t| xs[t]), self.p));
                });
            }
        }
        real_tensor(self.dtype, out_shape, out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn l2_and_l1_windows() {
        // [3, -4, 12], window 2: L2 5 and sqrt(16 + 144) = sqrt(160); L1 7 and 16.
        let x = f32s(&[1, 1, 3], &[3., -4., 12.]);
        let attrs = |p: i64| vec![("kernel_shape", Attr::I64s(vec![2])), ("p", Attr::I64(p))];
        let y = run("nn.lp_pool", attrs(2), std::slice::from_ref(&x)).unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 2], &[5., 160f32.sqrt()]), 1e-6);
        let y = run("nn.lp_pool", attrs(1), std::slice::from_ref(&x)).unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 2], &[7., 16.]), 1e-6);
        // p 3 with a pad of 1 before: windows [pad, 3] and [3, -4]... stride 2: [pad, 3],
        // [-4, 12]: 3 and (64 + 1728)^(1/3).
        let y = run(
            "nn.lp_pool",
            vec![
                ("kernel_shape", Attr::I64s(vec![2])),
                ("p", Attr::I64(3)),
                ("pads", Attr::I64s(vec![1, 0])),
                ("strides", Attr::I64s(vec![2])),
            ],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 2], &[3., 1792f32.cbrt()]), 1e-5);
        assert!(run("nn.lp_pool", attrs(0), &[x]).is_err());
    }
}
