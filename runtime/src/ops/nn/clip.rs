//! `nn.clip`: limits every element to `[min, max]` (ONNX `Clip`, opset 11+: the bounds are
//! inputs). Ports: `0` input, optional `1` min and `2` max (one-element tensors of the input's
//! dtype; an unbound bound does not limit), `0` out. No attributes.
//!
//! Dtypes: f32, f64, f16, bf16 (through f32), i64, i32, i8, u8. NaN stays NaN; when min >
//! max every element becomes max (ONNX's `min(max(x, min), max)`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{Num, checked_len, dtype_error};
use crate::ops::nn::cast::{narrow, widen};
use crate::ops::nn::{Inputs, shape_error, tensor_out};
use crate::tensor::{Tensor, TensorType};
use crate::value::Value;
use crate::with_num;
use keel_bundle::DType;

fn bound<T: Num>(t: Option<&Tensor>, what: &str) -> Result<Option<T>, Error> {
    let Some(t) = t else { return Ok(None) };
    let v = t
        .as_slice::<T>()
        .ok_or_else(|| dtype_error(what, T::DTYPE, t.dtype()))?;
    match v {
        [x] => Ok(Some(*x)),
        _ => Err(shape_error(what, "one element", format!("{:?}", t.shape))),
    }
}

fn clip<T: Num>(x: &[T], lo: Option<&Tensor>, hi: Option<&Tensor>) -> Result<Vec<T>, Error> {
    let (lo, hi) = (bound::<T>(lo, "min")?, bound::<T>(hi, "max")?);
    Ok(x.iter()
        .map(|&v| {
            let v = lo.map_or(v, |l| v.max_nan(l));
            hi.map_or(v, |h| v.min_nan(h))
        })
        .collect())
}

#[derive(Debug)]
struct Clip {
    inputs: Inputs,
    dtype: DType,
}

impl Kernel for Clip {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let lo = self.inputs.get(inputs, 1)?;
        let hi = self.inputs.get(inputs, 2)?;
        for (t, what) in [
            (Some(&x), "input"),
            (lo.as_ref(), "min"),
            (hi.as_ref(), "max"),
        ] {
            if let Some(t) = t {
                if t.dtype() != self.dtype {
                    return Err(dtype_error(what, self.dtype, t.dtype()));
                }
                checked_len(t, what)?;
            }
        }
        let (x, lo, hi) = (
            widen(&x),
            lo.as_deref().map(widen),
            hi.as_deref().map(widen),
        );
        let data = with_num!(&x.data,
            v => crate::tensor::Element::wrap(clip(v, lo.as_deref(), hi.as_deref())?),
            o => return Err(dtype_error("input", self.dtype, o.dtype())));
        let out = Tensor {
            shape: x.shape.clone(),
            data,
        };
        Ok(vec![Value::Tensor(narrow(out, self.dtype))])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 3)?;
    let x = inputs.ty(0);
    if !x.dtype.is_tensor_element() || x.dtype == DType::Bool {
        return Err(ctx.err(format!("cannot clip {}", x.dtype)));
    }
    for (i, what) in [(1, "min"), (2, "max")] {
        if let Some(t) = inputs.opt(i) {
            if t.dtype != x.dtype {
                return Err(ctx.err(format!(
                    "{what} is {} but the input is {}",
                    t.dtype, x.dtype
                )));
            }
            if t.known_shape()
                .is_some_and(|s| s.iter().product::<usize>() != 1)
            {
                return Err(ctx.err(format!("{what} must hold one element, its type is {t}")));
            }
        }
    }
    let dtype = x.dtype;
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype,
            shape: x.shape.clone(),
        },
    )?;
    Ok(Built {
        kernel: Box::new(Clip { inputs, dtype }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run_opt};

    #[test]
    fn clips_to_bounds_and_keeps_nan() {
        let x = f32s(&[4], &[-2.0, 0.5, 3.0, f32::NAN]);
        let (lo, hi) = (f32s(&[], &[-1.0]), f32s(&[], &[1.0]));
        let out = run_opt("nn.clip", vec![], &[Some(&x), Some(&lo), Some(&hi)], 1).unwrap();
        let v = out[0].as_slice::<f32>().unwrap();
        assert_eq!(&v[..3], &[-1.0, 0.5, 1.0]);
        assert!(v[3].is_nan());
        let out = run_opt("nn.clip", vec![], &[Some(&x), None, Some(&hi)], 1).unwrap();
        assert_eq!(&out[0].as_slice::<f32>().unwrap()[..3], &[-2.0, 0.5, 1.0]);
        let out = run_opt("nn.clip", vec![], &[Some(&x)], 1).unwrap();
        assert_eq!(&out[0].as_slice::<f32>().unwrap()[..3], &[-2.0, 0.5, 3.0]);
    }

    #[test]
    fn integers_and_inverted_bounds() {
        let x = i64s(&[3], &[-5, 0, 5]);
        let (lo, hi) = (i64s(&[], &[2]), i64s(&[], &[1]));
        let out = run_opt("nn.clip", vec![], &[Some(&x), Some(&lo), Some(&hi)], 1).unwrap();
        assert_eq!(out[0].as_slice::<i64>().unwrap(), &[1, 1, 1]);
        let bad = i64s(&[2], &[0, 1]);
        assert!(run_opt("nn.clip", vec![], &[Some(&x), Some(&bad)], 1).is_err());
    }
}
