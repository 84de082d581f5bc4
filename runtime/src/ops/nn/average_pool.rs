//! `nn.average_pool`: ONNX AveragePool over any number of spatial axes. Ports: `0` X
//! `[N, C, D1, ...]` -> `0` Y `[N, C, O1, ...]`. Attributes: `auto_pad`, `ceil_mode` (0),
//! `count_include_pad` (0), `dilations`, `kernel_shape` (required), `pads`, `strides`.
//!
//! A window's mean divides by its taps inside X, or with `count_include_pad` by its taps inside
//! the padded X (a window that rounding up extends past the end pad still excludes what lies
//! beyond it). Floats: f32, f64; f16 and bf16 computed in f32.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, is_float, real_slice, real_tensor};
use crate::ops::nn::window::{Window, pool_plan, pool_shape};
use crate::ops::nn::{Inputs, attr_i64, tensor_out};
use crate::tensor::Tensor;
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct AveragePool {
    inputs: Inputs,
    window: Window,
    dtype: DType,
    include_pad: bool,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (inputs, window, ty) = pool_plan(ctx)?;
    if !is_float(ty.dtype) {
        return Err(ctx.err(format!("takes a float tensor, got {}", ty.dtype)));
    }
    let dtype = ty.dtype;
    let include_pad = attr_i64(ctx, "count_include_pad", 0)? != 0;
    let out = tensor_out(ctx, "0", ty)?;
    Ok(Built {
        kernel: Box::new(AveragePool {
            inputs,
            window,
            dtype,
            include_pad,
        }),
        outputs: vec![out],
    })
}

impl Kernel for AveragePool {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let y = match self.dtype {
            DType::F64 => self.pool::<f64>(&x)?,
            _ => self.pool::<f32>(&x)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl AveragePool {
    fn pool<T: Real>(&self, x: &Tensor) -> Result<Tensor, Error> {
        let (p, out_shape) = pool_shape(&self.window, &x.shape)?;
        let xv = real_slice::<T>(x, "X")?;
        let planes = x.shape[0] * x.shape[1];
        let in_size: usize = x.shape[2..].iter().product();
        let out_size: usize = p.out.iter().product();
        let mut out = vec![T::ZERO; planes * out_size];
        if out_size > 0 {
            for (plane, y) in out.chunks_mut(out_size).enumerate() {
                let xs = &xv[plane * in_size..(plane + 1) * in_size];
                self.window
                    .each_window(&x.shape[2..], &p, |oi, taps, padded| {
                        let sum = taps.iter().fold(T::ZERO, |s, &t| s + xs[t]);
                        let n = if self.include_pad { padded } else { taps.len() };
                        // An empty window (only possible with pads wider than the window)
                        // averages nothing: NaN, as 0 / 0.
                        y[oi] = sum / T::from_usize(n);
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
    fn pads_counted_or_not() {
        // [1, 2, 3], window 2, pads 1 on both sides: windows [pad,1] [1,2] [2,3] [3,pad].
        let x = f32s(&[1, 1, 3], &[1., 2., 3.]);
        let attrs = |inc: i64| {
            vec![
                ("kernel_shape", Attr::I64s(vec![2])),
                ("pads", Attr::I64s(vec![1, 1])),
                ("count_include_pad", Attr::I64(inc)),
            ]
        };
        let y = run("nn.average_pool", attrs(0), std::slice::from_ref(&x)).unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 4], &[1., 1.5, 2.5, 3.]), 0.0);
        let y = run("nn.average_pool", attrs(1), &[x]).unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 4], &[0.5, 1.5, 2.5, 1.5]), 0.0);
    }

    #[test]
    fn two_d_with_strides() {
        let x = f32s(&[1, 1, 2, 4], &[1., 2., 3., 4., 5., 6., 7., 8.]);
        let y = run(
            "nn.average_pool",
            vec![
                ("kernel_shape", Attr::I64s(vec![2, 2])),
                ("strides", Attr::I64s(vec![2, 2])),
            ],
            &[x],
        )
        .unwrap();
        // (1+2+5+6)/4 = 3.5, (3+4+7+8)/4 = 5.5
        assert_close(&y[0], &f32s(&[1, 1, 1, 2], &[3.5, 5.5]), 0.0);
    }
}
