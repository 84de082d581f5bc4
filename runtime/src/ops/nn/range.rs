//! `nn.range` (ONNX Range): `start, start + delta, ...` up to `limit` (excluded). Ports: `0`
//! start, `1` limit, `2` delta (scalars of one dtype: f32, f64, i64, i32) -> `0` (1-D, that
//! dtype) of `max(ceil((limit - start) / delta), 0)` elements. No attributes. A delta of 0
//! is an error.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::tensor_value;
use crate::ops::nn::{Inputs, shape_error, tensor_out};
use crate::tensor::{Dim, MAX_ELEMENTS, TensorData, TensorType};
use crate::value::Value;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct Range(Inputs);

fn scalar(inputs: &Inputs, values: &[&Value], i: usize, what: &str) -> Result<TensorData, Error> {
    let t = inputs.req(values, i)?;
    if t.len() != 1 || t.rank() > 1 {
        return Err(shape_error(what, "a scalar", format!("{:?}", t.shape)));
    }
    Ok(t.data.clone())
}

fn count_err(n: impl std::fmt::Display) -> Error {
    shape_error(
        "delta",
        format!("a range of at most {MAX_ELEMENTS} elements"),
        n.to_string(),
    )
}

/// The element count for float bounds, checked before anything is allocated.
fn float_count(start: f64, limit: f64, delta: f64) -> Result<usize, Error> {
    let n = ((limit - start) / delta).ceil().max(0.0);
    if !n.is_finite() || n > MAX_ELEMENTS as f64 {
        return Err(count_err(n));
    }
    Ok(n as usize)
}

/// The same for integers, in i128 so that no bound overflows.
fn int_count(start: i128, limit: i128, delta: i128) -> Result<usize, Error> {
    let span = limit - start;
    // Ceiling division with the sign of the quotient.
    let n = if (span > 0) == (delta > 0) && span != 0 {
        (span.abs() + delta.abs() - 1) / delta.abs()
    } else {
        0
    };
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| count_err(n))
}

impl Kernel for Range {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let s = scalar(&self.0, inputs, 0, "start")?;
        let l = scalar(&self.0, inputs, 1, "limit")?;
        let d = scalar(&self.0, inputs, 2, "delta")?;
        let zero = || shape_error("delta", "a non-zero step", "0");
        let data = match (&s, &l, &d) {
            (TensorData::F32(s), TensorData::F32(l), TensorData::F32(d)) => {
                let (s, l, d) = (s[0], l[0], d[0]);
                if d == 0.0 {
                    return Err(zero());
                }
                let n = float_count(f64::from(s), f64::from(l), f64::from(d))?;
                TensorData::F32(Arc::new((0..n).map(|i| s + i as f32 * d).collect()))
            }
            (TensorData::F64(s), TensorData::F64(l), TensorData::F64(d)) => {
                let (s, l, d) = (s[0], l[0], d[0]);
                if d == 0.0 {
                    return Err(zero());
                }
                let n = float_count(s, l, d)?;
                TensorData::F64(Arc::new((0..n).map(|i| s + i as f64 * d).collect()))
            }
            (TensorData::I64(s), TensorData::I64(l), TensorData::I64(d)) => {
                let (s, l, d) = (s[0], l[0], d[0]);
                if d == 0 {
                    return Err(zero());
                }
                let n = int_count(s.into(), l.into(), d.into())?;
                // Every value lies between start and limit, so it fits the dtype.
                TensorData::I64(Arc::new(
                    (0..n as i64)
                        .map(|i| s.wrapping_add(i.wrapping_mul(d)))
                        .collect(),
                ))
            }
            (TensorData::I32(s), TensorData::I32(l), TensorData::I32(d)) => {
                let (s, l, d) = (s[0], l[0], d[0]);
                if d == 0 {
                    return Err(zero());
                }
                let n = int_count(s.into(), l.into(), d.into())?;
                TensorData::I32(Arc::new(
                    (0..n as i32)
                        .map(|i| s.wrapping_add(i.wrapping_mul(d)))
                        .collect(),
                ))
            }
            _ => {
                return Err(shape_error(
                    "start",
                    "start, limit and delta of one dtype (f32, f64, i64, i32)",
                    format!("{}, {}, {}", s.dtype(), l.dtype(), d.dtype()),
                ));
            }
        };
        let n = data.len();
        Ok(vec![tensor_value(vec![n], data)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    let dtype = inputs.ty(0).dtype;
    if !matches!(dtype, DType::F32 | DType::F64 | DType::I64 | DType::I32) {
        return Err(ctx.err(format!("{dtype} ranges are not implemented")));
    }
    for i in 0..3 {
        let t = inputs.ty(i);
        let one = t.shape.iter().all(|d| *d == Dim::Known(1));
        if t.dtype != dtype || t.rank() > 1 || !one {
            return Err(ctx.err(format!(
                "input {i} is {t}; all three must be {dtype} scalars"
            )));
        }
    }
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype,
            shape: vec![Dim::unknown()],
        },
    )?;
    Ok(Built {
        kernel: Box::new(Range(inputs)),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use crate::tensor::Tensor;

    #[test]
    fn ranges_count_up_and_down() {
        let s = |v: i64| Tensor::scalar(v);
        // ONNX's range_int32_type_negative_delta in i64: 10, 6, -3 -> 10, 7.
        let out = run("nn.range", vec![], &[s(10), s(6), s(-3)]).unwrap();
        assert_eq!(out[0], i64s(&[2], &[10, 7]));
        let out = run("nn.range", vec![], &[s(0), s(0), s(1)]).unwrap();
        assert_eq!(out[0], i64s(&[0], &[]));
        let f = |v: f32| Tensor::scalar(v);
        let out = run("nn.range", vec![], &[f(1.), f(5.), f(2.)]).unwrap();
        assert_eq!(out[0], f32s(&[2], &[1., 3.]));
        let out = run("nn.range", vec![], &[f(1.), f(2.), f(0.3)]).unwrap();
        assert_eq!(out[0].shape, vec![4]);
    }

    #[test]
    fn zero_steps_and_huge_ranges_are_refused() {
        let s = |v: i64| Tensor::scalar(v);
        assert!(run("nn.range", vec![], &[s(0), s(5), s(0)]).is_err());
        assert!(run("nn.range", vec![], &[s(i64::MIN), s(i64::MAX), s(1)]).is_err());
        let f = |v: f32| Tensor::scalar(v);
        assert!(run("nn.range", vec![], &[f(0.), f(1.), f(0.)]).is_err());
        assert!(run("nn.range", vec![], &[f(0.), f(f32::INFINITY), f(1.)]).is_err());
        assert!(run("nn.range", vec![], &[s(0), s(5), Tensor::scalar(1i32)]).is_err());
    }
}
