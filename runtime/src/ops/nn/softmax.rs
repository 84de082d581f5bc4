//! `nn.softmax`: softmax, log-softmax or hardmax along one axis (ONNX `Softmax`,
//! `LogSoftmax`, `Hardmax`, opset 13+ semantics). Ports: `0` in, `0` out (same shape and
//! dtype). Attributes: `axis` (i64, default -1), `fn` (str: `softmax`, `log_softmax`,
//! `hardmax`; default `softmax`).
//!
//! Dtypes: f32, f64, f16, bf16; computed in f64. Numerically stable: each slice's maximum
//! is subtracted before exponentiating. Hardmax marks the first maximum of each slice.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::cast::cast_data;
use crate::ops::nn::{Inputs, attr_i64, norm_axis, norm_axis_at, tensor_out};
use crate::tensor::{Tensor, TensorData};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Softmax,
    LogSoftmax,
    Hardmax,
}

/// Applies `mode` to every slice along the middle axis of a `[outer, len, inner]` view.
fn apply(mode: Mode, x: &mut [f64], len: usize, inner: usize) {
    if len == 0 || inner == 0 {
        return;
    }
    for block in x.chunks_mut(len * inner) {
        for i in 0..inner {
            let idx = |k: usize| k * inner + i;
            let mut max = f64::NEG_INFINITY;
            let mut arg = 0;
            for k in 0..len {
                let v = block[idx(k)];
                if v > max || (k == 0 && v.is_nan()) {
                    max = v;
                    arg = k;
                }
            }
            match mode {
                Mode::Hardmax => {
                    for k in 0..len {
                        block[idx(k)] = if k == arg { 1.0 } else { 0.0 };
                    }
                }
                Mode::Softmax | Mode::LogSoftmax => {
                    let sum: f64 = (0..len).map(|k| (block[idx(k)] - max).exp()).sum();
                    for k in 0..len {
                        let d = block[idx(k)] - max;
                        block[idx(k)] = if mode == Mode::Softmax {
                            d.exp() / sum
                        } else {
                            d - sum.ln()
                        };
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
struct Softmax {
    inputs: Inputs,
    mode: Mode,
    axis: i64,
    dtype: DType,
}

impl Kernel for Softmax {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.dtype() != self.dtype {
            return Err(dtype_error("input", self.dtype, x.dtype()));
        }
        checked_len(&x, "input")?;
        let axis = norm_axis_at(self.axis, x.rank(), "input")?;
        let len = x.shape[axis];
        let inner: usize = x.shape[axis + 1..].iter().product();
        let mut v = x.data.to_f64_vec();
        apply(self.mode, &mut v, len, inner);
        let v = TensorData::F64(v.into());
        let data = cast_data(&v, self.dtype).unwrap_or(v);
        Ok(vec![Value::Tensor(Tensor {
            shape: x.shape.clone(),
            data,
        })])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    if !matches!(x.dtype, DType::F32 | DType::F64 | DType::F16 | DType::Bf16) {
        return Err(ctx.err(format!("takes floats, not {}", x.dtype)));
    }
    let mode = match ctx.opt_attr("fn").map(|_| ctx.str("fn")).transpose()? {
        None | Some("softmax") => Mode::Softmax,
        Some("log_softmax") => Mode::LogSoftmax,
        Some("hardmax") => Mode::Hardmax,
        Some(other) => return Err(ctx.err(format!("unknown fn `{other}`"))),
    };
    let axis = attr_i64(ctx, "axis", -1)?;
    norm_axis(ctx, axis, x.rank())?;
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", x)?;
    Ok(Built {
        kernel: Box::new(Softmax {
            inputs,
            mode,
            axis,
            dtype,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    fn sm(f: &str, axis: i64, x: &crate::tensor::Tensor) -> crate::tensor::Tensor {
        let attrs = vec![("fn", Attr::Str(f.into())), ("axis", Attr::I64(axis))];
        run("nn.softmax", attrs, std::slice::from_ref(x))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn softmax_along_an_axis() {
        // test_softmax_axis_1's idea on [2, 3]: each row sums to 1.
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0]);
        let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
        let s: f32 = e.iter().sum();
        let want = f32s(
            &[2, 3],
            &[
                e[0] / s,
                e[1] / s,
                e[2] / s,
                1.0 / 3.0,
                1.0 / 3.0,
                1.0 / 3.0,
            ],
        );
        assert_close(&sm("softmax", 1, &x), &want, 1e-6);
        assert_close(&sm("softmax", -1, &x), &want, 1e-6);
        // Along axis 0 the columns [1, 1000] put all the mass on 1000.
        let c = sm("softmax", 0, &x);
        assert_close(&c, &f32s(&[2, 3], &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]), 1e-6);
        let l = sm("log_softmax", 1, &x);
        let lw: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|v| v - s.ln()).collect();
        assert_close(
            &l,
            &f32s(
                &[2, 3],
                &[lw[0], lw[1], lw[2], -3f32.ln(), -3f32.ln(), -3f32.ln()],
            ),
            1e-5,
        );
        let h = sm("hardmax", 1, &x);
        assert_eq!(
            h.as_slice::<f32>().unwrap(),
            &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn axes_are_checked_at_load() {
        let x = f32s(&[2, 3], &[0.0; 6]);
        assert!(run("nn.softmax", vec![("axis", Attr::I64(2))], &[x]).is_err());
    }
}
