//! `nn.cast`: converts a tensor's elements to another dtype (ONNX `Cast`, `CastLike`). Ports:
//! `0` in, optional `1` target_type (CastLike: only its planned dtype is read, never its
//! values) -> `0`. Attributes: `to` (str, a keel dtype: f32 f64 f16 bf16 i64 i32 i8 u8 bool),
//! required without port `1` and refused with it (the target would be said twice);
//! `saturate` (i64) is accepted and ignored, as it only matters for float8 targets.
//!
//! Floats become integers by truncation toward zero, saturating at the target's range (NaN
//! becomes 0); integers narrow by wrapping (as NumPy's `astype`); anything becomes bool as
//! `!= 0`; f32 and f64 become f16/bf16 by rounding to nearest even.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::{Inputs, tensor_out};
use crate::tensor::{Element, Tensor, TensorData, TensorType};
use crate::value::Value;
use half::{bf16, f16};
use keel_bundle::DType;

/// A type elements can be cast to, from the three kinds of source elements.
trait CastTarget: Element {
    fn from_f64(x: f64) -> Self;
    fn from_f32(x: f32) -> Self;
    fn from_i64(x: i64) -> Self;
    fn from_bool(x: bool) -> Self;
}

macro_rules! int_target {
    ($($t:ty),*) => {$(
        impl CastTarget for $t {
            // `as` from a float truncates toward zero and saturates (NaN -> 0); from an
            // integer it wraps, which is what NumPy's astype does.
            fn from_f64(x: f64) -> Self { x as $t }
            fn from_f32(x: f32) -> Self { x as $t }
            fn from_i64(x: i64) -> Self { x as $t }
            fn from_bool(x: bool) -> Self { <$t>::from(x) }
        }
    )*};
}
int_target!(i64, i32, i8, u8);

impl CastTarget for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn from_f32(x: f32) -> Self {
        x
    }
    fn from_i64(x: i64) -> Self {
        x as f32
    }
    fn from_bool(x: bool) -> Self {
        f32::from(u8::from(x))
    }
}

impl CastTarget for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn from_f32(x: f32) -> Self {
        f64::from(x)
    }
    fn from_i64(x: i64) -> Self {
        x as f64
    }
    fn from_bool(x: bool) -> Self {
        f64::from(u8::from(x))
    }
}

macro_rules! half_target {
    ($($t:ty),*) => {$(
        impl CastTarget for $t {
            fn from_f64(x: f64) -> Self { <$t>::from_f64(x) }
            fn from_f32(x: f32) -> Self { <$t>::from_f32(x) }
            fn from_i64(x: i64) -> Self { <$t>::from_f64(x as f64) }
            fn from_bool(x: bool) -> Self { <$t>::from_f32(f32::from(u8::from(x))) }
        }
    )*};
}
half_target!(f16, bf16);

impl CastTarget for bool {
    fn from_f64(x: f64) -> Self {
        x != 0.0
    }
    fn from_f32(x: f32) -> Self {
        x != 0.0
    }
    fn from_i64(x: i64) -> Self {
        x != 0
    }
    fn from_bool(x: bool) -> Self {
        x
    }
}

fn convert<T: CastTarget>(d: &TensorData) -> Vec<T> {
    match d {
        TensorData::F32(v) => v.iter().map(|&x| T::from_f32(x)).collect(),
        TensorData::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
        TensorData::F16(v) => v.iter().map(|&x| T::from_f32(x.to_f32())).collect(),
        TensorData::Bf16(v) => v.iter().map(|&x| T::from_f32(x.to_f32())).collect(),
        TensorData::I64(v) => v.iter().map(|&x| T::from_i64(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| T::from_i64(i64::from(x))).collect(),
        TensorData::I8(v) => v.iter().map(|&x| T::from_i64(i64::from(x))).collect(),
        TensorData::U8(v) => v.iter().map(|&x| T::from_i64(i64::from(x))).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| T::from_bool(x)).collect(),
    }
}

/// `d`'s elements as `to` (the same buffer, shared, when the dtype already matches). `None`
/// for string dtypes.
pub(crate) fn cast_data(d: &TensorData, to: DType) -> Option<TensorData> {
    if d.dtype() == to {
        return Some(d.clone());
    }
    Some(match to {
        DType::F32 => f32::wrap(convert(d)),
        DType::F64 => f64::wrap(convert(d)),
        DType::F16 => f16::wrap(convert(d)),
        DType::Bf16 => bf16::wrap(convert(d)),
        DType::I64 => i64::wrap(convert(d)),
        DType::I32 => i32::wrap(convert(d)),
        DType::I8 => i8::wrap(convert(d)),
        DType::U8 => u8::wrap(convert(d)),
        DType::Bool => bool::wrap(convert(d)),
        DType::Utf8 | DType::ListUtf8 | DType::Binary => return None,
    })
}

/// `t` with f16/bf16 elements widened to f32 (other dtypes as they are): the half types are
/// computed in f32 and rounded back with [`narrow`].
pub(crate) fn widen(t: &Tensor) -> std::borrow::Cow<'_, Tensor> {
    match t.data {
        TensorData::F16(_) | TensorData::Bf16(_) => std::borrow::Cow::Owned(Tensor {
            shape: t.shape.clone(),
            data: f32::wrap(convert(&t.data)),
        }),
        _ => std::borrow::Cow::Borrowed(t),
    }
}

/// Rounds an f32 result back to `dtype` when that is f16 or bf16 (the inverse of [`widen`]).
pub(crate) fn narrow(t: Tensor, dtype: DType) -> Tensor {
    match (dtype, &t.data) {
        (DType::F16 | DType::Bf16, TensorData::F32(_)) => match cast_data(&t.data, dtype) {
            Some(data) => Tensor {
                shape: t.shape,
                data,
            },
            None => t,
        },
        _ => t,
    }
}

#[derive(Debug)]
struct Cast {
    inputs: Inputs,
    to: DType,
}

impl Kernel for Cast {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        // `to` was checked at build to be a tensor dtype, so `cast_data` answers.
        let data = cast_data(&x.data, self.to).unwrap_or_else(|| x.data.clone());
        Ok(vec![Value::Tensor(Tensor::from_data(
            x.shape.clone(),
            data,
        )?)])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 2)?;
    let to = match inputs.opt(1) {
        Some(like) => {
            if ctx.opt_attr("to").is_some() {
                return Err(ctx.err("`to` and a target_type input (port 1) are exclusive"));
            }
            like.dtype
        }
        None => {
            let to_s = ctx.str("to")?;
            DType::parse(to_s)
                .filter(|d| d.is_tensor_element())
                .ok_or_else(|| ctx.err(format!("cannot cast to `{to_s}`")))?
        }
    };
    let ty = TensorType {
        dtype: to,
        shape: inputs.ty(0).shape.clone(),
    };
    let out = tensor_out(ctx, "0", ty)?;
    Ok(Built {
        kernel: Box::new(Cast { inputs, to }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    fn cast(t: &Tensor, to: &str) -> Tensor {
        run(
            "nn.cast",
            vec![("to", Attr::Str(to.into()))],
            std::slice::from_ref(t),
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn floats_truncate_toward_zero_and_saturate() {
        let x = f32s(&[5], &[1.7, -1.7, f32::NAN, 1e10, -300.0]);
        assert_eq!(
            cast(&x, "i64").as_slice::<i64>().unwrap(),
            &[1, -1, 0, 10_000_000_000, -300]
        );
        assert_eq!(
            cast(&x, "i8").as_slice::<i8>().unwrap(),
            &[1, -1, 0, 127, -128]
        );
        assert_eq!(
            cast(&x, "bool").as_slice::<bool>().unwrap(),
            &[true, true, true, true, true]
        );
    }

    #[test]
    fn integers_wrap_and_widen() {
        let x = i64s(&[3], &[300, -1, 0]);
        assert_eq!(cast(&x, "u8").as_slice::<u8>().unwrap(), &[44, 255, 0]);
        assert_eq!(
            cast(&x, "f64").as_slice::<f64>().unwrap(),
            &[300.0, -1.0, 0.0]
        );
        assert_eq!(
            cast(&x, "bool").as_slice::<bool>().unwrap(),
            &[true, true, false]
        );
        let b = cast(&cast(&x, "bool"), "f32");
        assert_eq!(b.as_slice::<f32>().unwrap(), &[1.0, 1.0, 0.0]);
    }

    #[test]
    fn halves_round_to_nearest_even() {
        // 1 + 2^-11 lies halfway between two f16 values (1 and 1 + 2^-10): ties go to even (1).
        // 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 and 1 + 2^-9: even is 1 + 2^-9.
        let x = f32s(
            &[3],
            &[1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-11), 65520.0],
        );
        let h = cast(&x, "f16");
        let back: Vec<f32> = h
            .as_slice::<f16>()
            .unwrap()
            .iter()
            .map(|v| v.to_f32())
            .collect();
        assert_eq!(back, vec![1.0, 1.0 + 2f32.powi(-9), f32::INFINITY]);
        // bf16 keeps 8 significand bits: 1 + 2^-8 is a tie and goes to 1.
        let b = cast(&f32s(&[1], &[1.0 + 2f32.powi(-8)]), "bf16");
        assert_eq!(b.as_slice::<bf16>().unwrap()[0].to_f32(), 1.0);
        let f = cast(&h, "f32");
        assert_eq!(f.as_slice::<f32>().unwrap()[0], 1.0);
    }

    #[test]
    fn cast_like_takes_the_dtype_of_port_1() {
        // CastLike: the target's values are never read, only its dtype.
        let x = f32s(&[2], &[2.9, -0.5]);
        let like = i64s(&[1], &[7]);
        let out = run("nn.cast", vec![], &[x.clone(), like.clone()]).unwrap();
        assert_eq!(out[0], i64s(&[2], &[2, 0]));
        let both = run(
            "nn.cast",
            vec![("to", Attr::Str("f64".into()))],
            &[x.clone(), like],
        );
        assert!(both.unwrap_err().to_string().contains("exclusive"));
        assert!(run("nn.cast", vec![], &[x]).is_err());
    }

    #[test]
    fn unknown_targets_are_refused_at_load() {
        let e = run(
            "nn.cast",
            vec![("to", Attr::Str("utf8".into()))],
            &[f32s(&[1], &[1.0])],
        );
        assert!(e.unwrap_err().to_string().contains("cannot cast"));
    }
}
