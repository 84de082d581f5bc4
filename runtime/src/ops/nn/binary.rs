//! `nn.binary`: an elementwise function of two tensors with NumPy broadcasting (ONNX `Add`,
//! `Sub`, `Mul`, `Div`, `Pow`, `Mod`, `Equal`, `Less`, `LessOrEqual`, `Greater`,
//! `GreaterOrEqual`, `And`, `Or`, `Xor`, `BitwiseAnd`, `BitwiseOr`, `BitwiseXor`, `PRelu`,
//! `BitShift`).
//! Ports: `0` (A), `1` (B) in; `0` out.
//!
//! Attributes: `fn` (str), one of `add sub mul div pow mod min max equal less less_or_equal
//! greater greater_or_equal and or xor bitwise_and bitwise_or bitwise_xor prelu bit_shift_left
//! bit_shift_right`; `fmod` (i64,
//! for `mod`: 0 takes the divisor's sign as Python's `%`, 1 the dividend's as C's `fmod`).
//!
//! Dtypes: arithmetic on f32, f64, f16, bf16 (computed in f32), i64, i32, i8, u8, both operands
//! of one dtype; `pow`'s exponent may have any numeric dtype (the result has the base's);
//! comparisons output bool (and accept bool); `and or xor` take bool; bitwise ops integers;
//! the shifts u8 only (ONNX defines them on unsigned types, and u8 is keel's one), a shift by
//! 8 or more giving 0 as NumPy's.
//! Integer division truncates toward zero as ONNX's (C's); integer division or modulo by zero
//! gives 0 instead of trapping, and integer overflow wraps.
//!
//! Also home of the elementwise helpers `nn.variadic`, `nn.where` and `nn.clip` share.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::cast::{narrow, widen};
use crate::ops::nn::{
    Inputs, attr_i64, broadcast_dims, broadcast_index, broadcast_run, broadcast_shape, shape_error,
    tensor_out,
};
use crate::tensor::{Element, Tensor, TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

/// Numeric element types computed natively (f16 and bf16 are widened to f32 first).
pub(crate) trait Num: Element + PartialOrd {
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    /// The remainder: C's `fmod` (the dividend's sign) or Python's `%` (the divisor's).
    fn rem(self, b: Self, fmod: bool) -> Self;
    /// `self` to the power `e`.
    fn pow(self, e: f64) -> Self;
    fn is_nan(self) -> bool;
    fn zero() -> Self;
    /// The smaller; NaN when either is NaN (NumPy's `minimum`).
    fn min_nan(self, b: Self) -> Self {
        if !self.is_nan() && (b.is_nan() || b < self) {
            b
        } else {
            self
        }
    }
    /// The larger; NaN when either is NaN (NumPy's `maximum`).
    fn max_nan(self, b: Self) -> Self {
        if !self.is_nan() && (b.is_nan() || b > self) {
            b
        } else {
            self
        }
    }
}

/// Python's `%` on integers: the result has the divisor's sign.
fn py_rem(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) {
        r.wrapping_add(b)
    } else {
        r
    }
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn add(self, b: Self) -> Self { self.wrapping_add(b) }
            fn sub(self, b: Self) -> Self { self.wrapping_sub(b) }
            fn mul(self, b: Self) -> Self { self.wrapping_mul(b) }
            fn div(self, b: Self) -> Self {
                if b == 0 { 0 } else { self.wrapping_div(b) }
            }
            fn rem(self, b: Self, fmod: bool) -> Self {
                if b == 0 {
                    0
                } else if fmod {
                    self.wrapping_rem(b)
                } else {
                    // Every keel integer type fits i64, and the result fits the type again.
                    py_rem(self as i64, b as i64) as $t
                }
            }
            fn pow(self, e: f64) -> Self {
                // Whole non-negative exponents are exact (wrapping as NumPy's integer power);
                // others go through f64 and truncate, as ONNX's reference does.
                if e >= 0.0 && e.fract() == 0.0 && e <= f64::from(u32::MAX) {
                    self.wrapping_pow(e as u32)
                } else {
                    (self as f64).powf(e) as $t
                }
            }
            fn is_nan(self) -> bool { false }
            fn zero() -> Self { 0 }
        }
    )*};
}
int_num!(i64, i32, i8, u8);

macro_rules! float_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn add(self, b: Self) -> Self { self + b }
            fn sub(self, b: Self) -> Self { self - b }
            fn mul(self, b: Self) -> Self { self * b }
            fn div(self, b: Self) -> Self { self / b }
            fn rem(self, b: Self, fmod: bool) -> Self {
                let r = self % b;
                if !fmod && r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
            }
            fn pow(self, e: f64) -> Self { (f64::from(self)).powf(e) as $t }
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn zero() -> Self { 0.0 }
        }
    )*};
}
float_num!(f32, f64);

/// Applies `$body` with `$x` bound to the `Arc<Vec<T>>` of a numeric [`TensorData`] (f16/bf16
/// must have been widened); `$other` handles bool and the half types.
#[macro_export]
#[doc(hidden)]
macro_rules! with_num {
    ($data:expr, $x:ident => $body:expr, $o:ident => $other:expr) => {
        match $data {
            $crate::tensor::TensorData::F32($x) => $body,
            $crate::tensor::TensorData::F64($x) => $body,
            $crate::tensor::TensorData::I64($x) => $body,
            $crate::tensor::TensorData::I32($x) => $body,
            $crate::tensor::TensorData::I8($x) => $body,
            $crate::tensor::TensorData::U8($x) => $body,
            $o => $other,
        }
    };
}

/// The element count of `t`'s shape, checked against its buffer (tensors are built by code
/// that checks, but a kernel never assumes it).
pub(crate) fn checked_len(t: &Tensor, what: &str) -> Result<usize, Error> {
    let n = checked_elements(&t.shape, what)?;
    if n != t.len() {
        return Err(shape_error(
            what,
            format!("{n} elements for shape {:?}", t.shape),
            format!("{} elements", t.len()),
        ));
    }
    Ok(n)
}

/// A score-time error for an input whose dtype is not the one planned.
pub(crate) fn dtype_error(what: &str, expected: impl std::fmt::Display, found: DType) -> Error {
    shape_error(what, format!("dtype {expected}"), format!("dtype {found}"))
}

/// `f` applied to the NumPy broadcast of `a` (shape `ash`) and `b` (shape `bsh`): the output
/// shape and elements. Equal shapes and scalar operands skip the index tables.
pub(crate) fn zip_map<A: Copy, B: Copy, O>(
    (a, ash): (&[A], &[usize]),
    (b, bsh): (&[B], &[usize]),
    f: impl Fn(A, B) -> O,
) -> Result<(Vec<usize>, Vec<O>), Error> {
    let shape = broadcast_shape(ash, bsh)?;
    checked_elements(&shape, "operands")?;
    if a.len() != checked_elements(ash, "operand 0")?
        || b.len() != checked_elements(bsh, "operand 1")?
    {
        return Err(shape_error(
            "operands",
            "as many elements as the shape",
            "fewer or more",
        ));
    }
    let out = if ash == bsh {
        a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
    } else if b.len() == 1 && shape.as_slice() == ash {
        let y = b[0];
        a.iter().map(|&x| f(x, y)).collect()
    } else if a.len() == 1 && shape.as_slice() == bsh {
        let x = a[0];
        b.iter().map(|&y| f(x, y)).collect()
    } else if shape.as_slice() == ash && tiles(bsh, &shape) && !b.is_empty() {
        // `b` is a suffix of the output's shape (a bias row added to every row): zip each
        // output row with it whole, which vectorises.
        let mut out = Vec::with_capacity(a.len());
        for chunk in a.chunks(b.len()) {
            out.extend(chunk.iter().zip(b).map(|(&x, &y)| f(x, y)));
        }
        out
    } else if shape.as_slice() == bsh && tiles(ash, &shape) && !a.is_empty() {
        let mut out = Vec::with_capacity(b.len());
        for chunk in b.chunks(a.len()) {
            out.extend(a.iter().zip(chunk).map(|(&x, &y)| f(x, y)));
        }
        out
    } else if let Some(run) = (shape.as_slice() == ash)
        .then(|| broadcast_run(bsh, &shape))
        .flatten()
        .filter(|_| !b.is_empty())
    {
        // `b` repeats in runs (a bias, a per-channel scale): no index tables.
        let mut out = Vec::with_capacity(a.len());
        for (k, chunk) in a.chunks(run.max(1)).enumerate() {
            let y = b[k % b.len()];
            out.extend(chunk.iter().map(|&x| f(x, y)));
        }
        out
    } else if let Some(run) = (shape.as_slice() == bsh)
        .then(|| broadcast_run(ash, &shape))
        .flatten()
        .filter(|_| !a.is_empty())
    {
        let mut out = Vec::with_capacity(b.len());
        for (k, chunk) in b.chunks(run.max(1)).enumerate() {
            let x = a[k % a.len()];
            out.extend(chunk.iter().map(|&y| f(x, y)));
        }
        out
    } else {
        // The index tables hold in-range positions of `a` and `b`: their lengths were checked
        // against their shapes above.
        let ia = broadcast_index(ash, &shape);
        let ib = broadcast_index(bsh, &shape);
        ia.iter().zip(&ib).map(|(&i, &j)| f(a[i], b[j])).collect()
    };
    Ok((shape, out))
}

/// Whether an operand of shape `sh` repeats whole along the output `shape`: once its leading
/// 1s are dropped it is the output's trailing dimensions (a `[n]` or `[1, n]` bias of an
/// `[m, n]` product).
fn tiles(sh: &[usize], shape: &[usize]) -> bool {
    let core = &sh[sh.iter().take_while(|&&d| d == 1).count()..];
    !core.is_empty() && core.len() < shape.len() && shape.ends_with(core)
}

/// The function an `nn.binary` node computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinFn {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Mod,
    Min,
    Max,
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
    Xor,
    BitAnd,
    BitOr,
    BitXor,
    Prelu,
    ShiftLeft,
    ShiftRight,
}

impl BinFn {
    fn parse(s: &str) -> Option<BinFn> {
        use BinFn::*;
        Some(match s {
            "add" => Add,
            "sub" => Sub,
            "mul" => Mul,
            "div" => Div,
            "pow" => Pow,
            "mod" => Mod,
            "min" => Min,
            "max" => Max,
            "equal" => Equal,
            "less" => Less,
            "less_or_equal" => LessOrEqual,
            "greater" => Greater,
            "greater_or_equal" => GreaterOrEqual,
            "and" => And,
            "or" => Or,
            "xor" => Xor,
            "bitwise_and" => BitAnd,
            "bitwise_or" => BitOr,
            "bitwise_xor" => BitXor,
            "prelu" => Prelu,
            "bit_shift_left" => ShiftLeft,
            "bit_shift_right" => ShiftRight,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        use BinFn::*;
        matches!(self, Equal | Less | LessOrEqual | Greater | GreaterOrEqual)
    }
}

/// Arithmetic of one numeric type (comparisons and `pow` are handled apart).
pub(crate) fn arith<T: Num>(f: BinFn, fmod: bool) -> impl Fn(T, T) -> T {
    move |x: T, y: T| match f {
        BinFn::Add => x.add(y),
        BinFn::Sub => x.sub(y),
        BinFn::Mul => x.mul(y),
        BinFn::Div => x.div(y),
        BinFn::Mod => x.rem(y, fmod),
        BinFn::Min => x.min_nan(y),
        BinFn::Max => x.max_nan(y),
        BinFn::Prelu => {
            if x < T::zero() {
                x.mul(y)
            } else {
                x
            }
        }
        _ => x,
    }
}

fn compare<T: PartialOrd>(f: BinFn) -> impl Fn(T, T) -> bool {
    move |x: T, y: T| match f {
        BinFn::Equal => x == y,
        BinFn::Less => x < y,
        BinFn::LessOrEqual => x <= y,
        BinFn::Greater => x > y,
        BinFn::GreaterOrEqual => x >= y,
        _ => false,
    }
}

fn bitwise<
    T: std::ops::BitAnd<Output = T> + std::ops::BitOr<Output = T> + std::ops::BitXor<Output = T>,
>(
    f: BinFn,
) -> impl Fn(T, T) -> T {
    move |x: T, y: T| match f {
        BinFn::BitAnd | BinFn::And => x & y,
        BinFn::BitOr | BinFn::Or => x | y,
        _ => x ^ y,
    }
}

fn tensor<T: Element>((shape, v): (Vec<usize>, Vec<T>)) -> Tensor {
    Tensor {
        shape,
        data: T::wrap(v),
    }
}

/// The exponent of `pow` as f64, whatever its numeric dtype.
fn exponents(t: &Tensor) -> Vec<f64> {
    t.data.to_f64_vec()
}

/// Computes `f` on two tensors whose dtypes `build` accepted (f16/bf16 already widened).
pub(crate) fn eval_binary(f: BinFn, fmod: bool, a: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
    checked_len(a, "A")?;
    checked_len(b, "B")?;
    if f == BinFn::Pow {
        let e = exponents(b);
        return with_num!(&a.data,
            x => Ok(tensor(zip_map((x, &a.shape), (&e, &b.shape), Num::pow)?)),
            o => Err(dtype_error("A", "numeric", o.dtype())));
    }
    if a.dtype() != b.dtype() {
        return Err(dtype_error("B", a.dtype(), b.dtype()));
    }
    let (sa, sb) = (&a.shape[..], &b.shape[..]);
    match (f, &a.data, &b.data) {
        (_, TensorData::Bool(x), TensorData::Bool(y)) => {
            if f.is_comparison() {
                Ok(tensor(zip_map((x, sa), (y, sb), compare(f))?))
            } else if matches!(f, BinFn::And | BinFn::Or | BinFn::Xor) {
                Ok(tensor(zip_map((x, sa), (y, sb), bitwise(f))?))
            } else {
                Err(dtype_error("A", "numeric", DType::Bool))
            }
        }
        (BinFn::BitAnd | BinFn::BitOr | BinFn::BitXor, x, y) => match (x, y) {
            (TensorData::I64(x), TensorData::I64(y)) => {
                Ok(tensor(zip_map((x, sa), (y, sb), bitwise(f))?))
            }
            (TensorData::I32(x), TensorData::I32(y)) => {
                Ok(tensor(zip_map((x, sa), (y, sb), bitwise(f))?))
            }
            (TensorData::I8(x), TensorData::I8(y)) => {
                Ok(tensor(zip_map((x, sa), (y, sb), bitwise(f))?))
            }
            (TensorData::U8(x), TensorData::U8(y)) => {
                Ok(tensor(zip_map((x, sa), (y, sb), bitwise(f))?))
            }
            _ => Err(dtype_error("A", "an integer dtype", a.dtype())),
        },
        (BinFn::ShiftLeft | BinFn::ShiftRight, TensorData::U8(x), TensorData::U8(y)) => {
            // `checked_sh*` is `None` for a shift of 8 or more: every bit is shifted out.
            let left = f == BinFn::ShiftLeft;
            Ok(tensor(zip_map((x, sa), (y, sb), |x: u8, y: u8| {
                let r = if left {
                    x.checked_shl(u32::from(y))
                } else {
                    x.checked_shr(u32::from(y))
                };
                r.unwrap_or(0)
            })?))
        }
        (BinFn::ShiftLeft | BinFn::ShiftRight, _, _) => Err(dtype_error("A", DType::U8, a.dtype())),
        (BinFn::And | BinFn::Or | BinFn::Xor, _, _) => {
            Err(dtype_error("A", DType::Bool, a.dtype()))
        }
        _ => {
            // The four arithmetic functions get a closure each, so the loop over elements
            // has no dispatch in it and vectorises; the rest share `arith`.
            macro_rules! go {
                ($x:expr, $y:expr) => {
                    match f {
                        _ if f.is_comparison() => {
                            Ok(tensor(zip_map(($x, sa), ($y, sb), compare(f))?))
                        }
                        BinFn::Add => {
                            Ok(tensor(zip_map(($x, sa), ($y, sb), |p, q| Num::add(p, q))?))
                        }
                        BinFn::Sub => {
                            Ok(tensor(zip_map(($x, sa), ($y, sb), |p, q| Num::sub(p, q))?))
                        }
                        BinFn::Mul => {
                            Ok(tensor(zip_map(($x, sa), ($y, sb), |p, q| Num::mul(p, q))?))
                        }
                        _ => Ok(tensor(zip_map(($x, sa), ($y, sb), arith(f, fmod))?)),
                    }
                };
            }
            match (&a.data, &b.data) {
                (TensorData::F32(x), TensorData::F32(y)) => go!(x, y),
                (TensorData::F64(x), TensorData::F64(y)) => go!(x, y),
                (TensorData::I64(x), TensorData::I64(y)) => go!(x, y),
                (TensorData::I32(x), TensorData::I32(y)) => go!(x, y),
                (TensorData::I8(x), TensorData::I8(y)) => go!(x, y),
                (TensorData::U8(x), TensorData::U8(y)) => go!(x, y),
                _ => Err(dtype_error("A", "a numeric dtype", a.dtype())),
            }
        }
    }
}

#[derive(Debug)]
struct Binary {
    inputs: Inputs,
    f: BinFn,
    fmod: bool,
    /// The planned dtypes of A and B.
    dtypes: [DType; 2],
}

impl Kernel for Binary {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let a = self.inputs.req(inputs, 0)?;
        let b = self.inputs.req(inputs, 1)?;
        for (t, (want, what)) in [&a, &b].into_iter().zip(self.dtypes.iter().zip(["A", "B"])) {
            if t.dtype() != *want {
                return Err(dtype_error(what, want, t.dtype()));
            }
        }
        let out = eval_binary(self.f, self.fmod, &widen(&a), &widen(&b))?;
        // Half-precision results were computed in f32: round them back (comparisons are bool).
        Ok(vec![Value::Tensor(narrow(out, self.dtypes[0]))])
    }
}

fn is_int(d: DType) -> bool {
    matches!(d, DType::I64 | DType::I32 | DType::I8 | DType::U8)
}

fn is_numeric(d: DType) -> bool {
    d.is_tensor_element() && d != DType::Bool
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let name = ctx.str("fn")?;
    let f = BinFn::parse(name).ok_or_else(|| ctx.err(format!("unknown fn `{name}`")))?;
    let fmod = match attr_i64(ctx, "fmod", 0)? {
        0 => false,
        1 => true,
        v => return Err(ctx.err(format!("fmod must be 0 or 1, found {v}"))),
    };
    let (ta, tb) = (inputs.ty(0), inputs.ty(1));
    let (da, db) = (ta.dtype, tb.dtype);
    let ok = match f {
        BinFn::Pow => is_numeric(da) && is_numeric(db),
        _ if da != db => false,
        BinFn::And | BinFn::Or | BinFn::Xor => da == DType::Bool,
        BinFn::BitAnd | BinFn::BitOr | BinFn::BitXor => is_int(da),
        BinFn::ShiftLeft | BinFn::ShiftRight => da == DType::U8,
        _ if f.is_comparison() => da.is_tensor_element(),
        _ => is_numeric(da),
    };
    if !ok {
        return Err(ctx.err(format!("`{name}` does not take {da} and {db} operands")));
    }
    let shape = broadcast_dims(&ta.shape, &tb.shape)
        .ok_or_else(|| ctx.err(format!("operand types {ta} and {tb} do not broadcast")))?;
    let dtype = if f.is_comparison() { DType::Bool } else { da };
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(Binary {
            inputs,
            f,
            fmod,
            dtypes: [da, db],
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    fn bin(f: &str, a: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
        run(
            "nn.binary",
            vec![("fn", Attr::Str(f.into()))],
            &[a.clone(), b.clone()],
        )
        .map(|mut v| v.remove(0))
    }

    #[test]
    fn shifts_on_u8() {
        let a = Tensor::new(vec![4], vec![16u8, 4, 1, 255]).unwrap();
        let b = Tensor::new(vec![4], vec![1u8, 2, 8, 4]).unwrap();
        let l = bin("bit_shift_left", &a, &b).unwrap();
        // 255 << 4 keeps the low 8 bits: 0b1111_0000; a shift by 8 leaves nothing.
        assert_eq!(l.as_slice::<u8>().unwrap(), &[32, 16, 0, 240]);
        let r = bin("bit_shift_right", &a, &b).unwrap();
        assert_eq!(r.as_slice::<u8>().unwrap(), &[8, 1, 0, 15]);
        assert!(bin("bit_shift_left", &i64s(&[1], &[1]), &i64s(&[1], &[1])).is_err());
    }

    #[test]
    fn arithmetic_broadcasts_like_numpy() {
        // test_add_bcast's shapes: [3, 4, 5] + [5].
        let a = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f32s(&[3], &[10.0, 20.0, 30.0]);
        let s = bin("add", &a, &b).unwrap();
        assert_eq!(s.shape, vec![2, 3]);
        assert_eq!(
            s.as_slice::<f32>().unwrap(),
            &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
        );
        let col = f32s(&[2, 1], &[1.0, 2.0]);
        let m = bin("mul", &col, &b).unwrap();
        assert_eq!(
            m.as_slice::<f32>().unwrap(),
            &[10.0, 20.0, 30.0, 20.0, 40.0, 60.0]
        );
        let d = bin("sub", &f32s(&[], &[1.0]), &a).unwrap();
        assert_eq!(
            d.as_slice::<f32>().unwrap(),
            &[0.0, -1.0, -2.0, -3.0, -4.0, -5.0]
        );
        assert!(bin("add", &a, &f32s(&[2], &[1.0, 2.0])).is_err());
    }

    #[test]
    fn integer_division_truncates_and_mod_follows_fmod() {
        let a = i64s(&[4], &[7, -7, 7, -7]);
        let b = i64s(&[4], &[2, 2, -2, 0]);
        assert_eq!(
            bin("div", &a, &b).unwrap().as_slice::<i64>().unwrap(),
            &[3, -3, -3, 0]
        );
        assert_eq!(
            bin("mod", &a, &b).unwrap().as_slice::<i64>().unwrap(),
            &[1, 1, -1, 0]
        );
        let c = run(
            "nn.binary",
            vec![("fn", Attr::Str("mod".into())), ("fmod", Attr::I64(1))],
            &[a, b],
        )
        .unwrap();
        assert_eq!(c[0].as_slice::<i64>().unwrap(), &[1, -1, 1, 0]);
        let fm = bin("mod", &f32s(&[2], &[-4.3, 4.3]), &f32s(&[2], &[2.0, -2.0])).unwrap();
        let v = fm.as_slice::<f32>().unwrap();
        assert!(
            (v[0] - 1.7).abs() < 1e-5 && (v[1] + 1.7).abs() < 1e-5,
            "{v:?}"
        );
    }

    #[test]
    fn comparisons_output_bool() {
        let a = f32s(&[3], &[1.0, 2.0, 3.0]);
        let b = f32s(&[], &[2.0]);
        let out = |f| bin(f, &a, &b).unwrap().as_slice::<bool>().unwrap().to_vec();
        assert_eq!(out("less"), vec![true, false, false]);
        assert_eq!(out("less_or_equal"), vec![true, true, false]);
        assert_eq!(out("greater"), vec![false, false, true]);
        assert_eq!(out("greater_or_equal"), vec![false, true, true]);
        assert_eq!(out("equal"), vec![false, true, false]);
    }

    #[test]
    fn logic_and_bits() {
        let t = Tensor::new(vec![4], vec![true, true, false, false]).unwrap();
        let u = Tensor::new(vec![4], vec![true, false, true, false]).unwrap();
        let g = |f| bin(f, &t, &u).unwrap().as_slice::<bool>().unwrap().to_vec();
        assert_eq!(g("and"), vec![true, false, false, false]);
        assert_eq!(g("or"), vec![true, true, true, false]);
        assert_eq!(g("xor"), vec![false, true, true, false]);
        let x = Tensor::new(vec![2], vec![0b1100u8, 0xff]).unwrap();
        let y = Tensor::new(vec![2], vec![0b1010u8, 0x0f]).unwrap();
        assert_eq!(
            bin("bitwise_and", &x, &y)
                .unwrap()
                .as_slice::<u8>()
                .unwrap(),
            &[0b1000, 0x0f]
        );
        assert_eq!(
            bin("bitwise_xor", &x, &y)
                .unwrap()
                .as_slice::<u8>()
                .unwrap(),
            &[0b0110, 0xf0]
        );
        assert!(bin("bitwise_or", &t, &u).is_err());
        assert!(bin("and", &x, &y).is_err());
    }

    #[test]
    fn pow_takes_any_numeric_exponent() {
        let x = f32s(&[3], &[1.0, 2.0, 3.0]);
        let e = i64s(&[3], &[4, 5, 6]);
        assert_eq!(
            bin("pow", &x, &e).unwrap().as_slice::<f32>().unwrap(),
            &[1.0, 32.0, 729.0]
        );
        let xi = i64s(&[2], &[2, 3]);
        let p = bin("pow", &xi, &f32s(&[], &[2.0])).unwrap();
        assert_eq!(p.as_slice::<i64>().unwrap(), &[4, 9]);
    }

    #[test]
    fn min_max_propagate_nan_and_prelu_scales_negatives() {
        let a = f32s(&[3], &[1.0, f32::NAN, 5.0]);
        let b = f32s(&[3], &[2.0, 0.0, 4.0]);
        let mn = bin("min", &a, &b).unwrap();
        let v = mn.as_slice::<f32>().unwrap();
        assert!(v[0] == 1.0 && v[1].is_nan() && v[2] == 4.0);
        let mx = bin("max", &b, &a).unwrap();
        assert!(mx.as_slice::<f32>().unwrap()[1].is_nan());
        let p = bin(
            "prelu",
            &f32s(&[2, 2], &[-1.0, 2.0, -3.0, 4.0]),
            &f32s(&[2], &[0.5, 0.1]),
        )
        .unwrap();
        assert_eq!(p.as_slice::<f32>().unwrap(), &[-0.5, 2.0, -1.5, 4.0]);
    }

    #[test]
    fn halves_compute_in_f32() {
        use half::f16;
        let a = Tensor::new(vec![2], vec![f16::from_f32(1.5), f16::from_f32(-2.0)]).unwrap();
        let s = bin("mul", &a, &a).unwrap();
        assert_eq!(
            s.as_slice::<f16>().unwrap(),
            &[f16::from_f32(2.25), f16::from_f32(4.0)]
        );
        let c = bin("less", &a, &a).unwrap();
        assert_eq!(c.as_slice::<bool>().unwrap(), &[false, false]);
    }

    #[test]
    fn mismatched_dtypes_are_refused_at_load() {
        let e = bin("add", &f32s(&[1], &[1.0]), &i64s(&[1], &[1])).unwrap_err();
        assert!(e.to_string().contains("does not take"), "{e}");
        assert!(bin("nope", &f32s(&[1], &[1.0]), &f32s(&[1], &[1.0])).is_err());
    }
}
