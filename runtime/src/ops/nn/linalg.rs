//! Numeric helpers shared by the matrix, convolution, pooling and normalisation ops (not an op):
//! the [`Real`] element trait the float kernels are generic over, the one checked matrix
//! product ([`matmul`]) every product goes through, and the dtype dispatch that computes f16 and
//! bf16 through f32 ([`real_slice`], [`real_tensor`]).

use crate::error::Error;
use crate::ops::nn::shape_error;
use crate::tensor::{Element, Tensor, TensorData};
use half::{bf16, f16};
use keel_bundle::DType;
use std::ops::{Add, Div, Mul, Sub};

/// The float elements the kernels compute in (f32, f64).
pub(crate) trait Real:
    Element
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + PartialOrd
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// The most negative value (the identity of max).
    const NEG_INF: Self;
    /// From an f64 (attributes such as epsilon are f64).
    fn from_f64(v: f64) -> Self;
    /// From a count.
    fn from_usize(v: usize) -> Self;
    /// To f64.
    fn to_f64(self) -> f64;
    /// Whether NaN.
    fn is_nan(self) -> bool;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INF: Self = <$t>::NEG_INFINITY;
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
real!(f32);
real!(f64);

/// Whether `d` is a float dtype these ops compute (f32, f64, and f16/bf16 through f32).
pub(crate) fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::Bf16)
}

/// A constant operand (known at load) in the dtype a kernel computes in: f16 and bf16 widened
/// to f32 once, so that no batch converts it again; other dtypes as they are (a reference
/// count, no copy).
pub(crate) fn constant_operand(t: Option<&Tensor>) -> Result<Option<Tensor>, Error> {
    match t {
        Some(t) if t.dtype() == DType::F16 || t.dtype() == DType::Bf16 => {
            let v: Vec<f32> = t.data.to_f64_vec().into_iter().map(|x| x as f32).collect();
            Ok(Some(Tensor::from_data(
                t.shape.clone(),
                TensorData::F32(v.into()),
            )?))
        }
        Some(t) => Ok(Some(t.clone())),
        None => Ok(None),
    }
}

/// f32 results narrowed back to `dtype` (f32, f16 or bf16).
pub(crate) fn from_f32(dtype: DType, v: Vec<f32>) -> TensorData {
    match dtype {
        DType::F16 => TensorData::F16(v.into_iter().map(f16::from_f32).collect::<Vec<_>>().into()),
        DType::Bf16 => {
            TensorData::Bf16(v.into_iter().map(bf16::from_f32).collect::<Vec<_>>().into())
        }
        _ => TensorData::F32(v.into()),
    }
}

/// Reads input `what` as elements of `T`: the tensor's own buffer when it is `T`, else a
/// converted copy (an f32 computation reading an f16 tensor).
pub(crate) fn real_slice<'a, T: Real>(
    t: &'a Tensor,
    what: &str,
) -> Result<std::borrow::Cow<'a, [T]>, Error> {
    use std::borrow::Cow;
    if let Some(s) = t.as_slice::<T>() {
        return Ok(Cow::Borrowed(s));
    }
    if !is_float(t.dtype()) {
        return Err(shape_error(what, "a float tensor", t.dtype().to_string()));
    }
    Ok(Cow::Owned(
        t.data.to_f64_vec().into_iter().map(T::from_f64).collect(),
    ))
}

/// Builds an output tensor of `dtype` from values computed in `T` (f64 stays f64; f32 results
/// are narrowed to f16/bf16 when the op's dtype is one of those).
pub(crate) fn real_tensor<T: Real>(
    dtype: DType,
    shape: Vec<usize>,
    v: Vec<T>,
) -> Result<Tensor, Error> {
    if dtype == T::DTYPE {
        return Tensor::new(shape, v);
    }
    let data = match dtype {
        DType::F64 => TensorData::F64(v.into_iter().map(Real::to_f64).collect::<Vec<_>>().into()),
        other => from_f32(
            other,
            v.into_iter().map(|x| x.to_f64() as f32).collect::<Vec<_>>(),
        ),
    };
    Tensor::from_data(shape, data)
}

/// The mean and population variance of `xs`, accumulated in f64 over two passes (what the
/// normalisation ops divide by; one-pass formulas lose digits when the mean is large).
pub(crate) fn moments<T: Real>(xs: &[T]) -> (f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| x.to_f64()).sum::<f64>() / n;
    let var = xs
        .iter()
        .map(|&x| {
            let d = x.to_f64() - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    (mean, var)
}

/// Reads a per-channel parameter (`what`, e.g. a scale) that must be `[c]`.
pub(crate) fn channel_param<'a, T: Real>(
    t: &'a Tensor,
    c: usize,
    what: &str,
) -> Result<std::borrow::Cow<'a, [T]>, Error> {
    if t.shape != [c] {
        return Err(shape_error(
            what,
            format!("[{c}]"),
            format!("{:?}", t.shape),
        ));
    }
    real_slice::<T>(t, what)
}

/// A row-major-or-strided matrix operand: `rows x cols` elements of `data`, element `(i, j)` at
/// `i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    /// The elements (the operand's whole buffer may be larger).
    pub data: &'a [T],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A contiguous row-major matrix with `cols` columns.
    pub fn rows(data: &'a [T], cols: usize) -> Self {
        MatRef {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a contiguous row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [T], cols: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: cols,
        }
    }

    /// Whether every element of a `rows x cols` view lies inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1).checked_mul(self.rs).and_then(|r| {
            (cols - 1)
                .checked_mul(self.cs)
                .and_then(|c| r.checked_add(c))
        });
        last.is_some_and(|l| l < self.data.len())
            && isize::try_from(self.rs).is_ok()
            && isize::try_from(self.cs).is_ok()
    }
}

/// `c = alpha * a·b + beta * c` with `a` `m x k`, `b` `k x n` and `c` a contiguous row-major
/// `m x n` buffer (`c` is not read when `beta` is zero, so it may hold anything). Shapes are
/// checked against the buffers; a mismatch is a shape error, never an out-of-bounds read.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    alpha: T,
    beta: T,
) -> Result<(), Error> {
    let cells = m.checked_mul(n);
    if !a.fits(m, k) || !b.fits(k, n) || cells.is_none_or(|x| x > c.len()) {
        return Err(shape_error(
            "matrix product",
            format!("operands of {m}x{k} and {k}x{n}"),
            "buffers too small",
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // An empty sum: the product is zero.
        for x in &mut c[..m * n] {
            *x = if beta == T::ZERO { T::ZERO } else { beta * *x };
        }
        return Ok(());
    }
    product(m, n, k, a, b, &mut c[..m * n], alpha, beta);
    Ok(())
}

/// The product itself, through `gemm`: its single-threaded packed kernels (SIMD chosen at run
/// time) are an order of magnitude faster than a plain loop on the sizes networks use.
#[allow(unsafe_code, clippy::too_many_arguments)]
fn product<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    alpha: T,
    beta: T,
) {
    let read_dst = beta != T::ZERO;
    // SAFETY: `matmul` checked that every element `i * rs + j * cs` of the `m x k` view of `a`,
    // the `k x n` view of `b` and the contiguous `m x n` destination lies inside its slice, and
    // that every stride fits an `isize`; `T` is f32 or f64 (the only `Real`s), which `gemm`
    // supports. The destination is borrowed mutably, so nothing aliases it. `gemm` computes
    // `dst = alpha_g * dst + beta_g * lhs * rhs`, hence the swapped factors.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            read_dst,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_follow_the_definition() {
        // [[1,2,3],[4,5,6]] · [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
        let a = [1f32, 2., 3., 4., 5., 6.];
        let b = [1f32, 0., 0., 1., 1., 1.];
        let mut c = [100f32; 4];
        matmul(
            2,
            2,
            3,
            MatRef::rows(&a, 3),
            MatRef::rows(&b, 2),
            &mut c,
            1.0,
            0.0,
        )
        .unwrap();
        assert_eq!(c, [4., 5., 10., 11.]);
        // alpha 2, beta 1 accumulates; a transposed view of a 3x2 buffer.
        let at = [1f64, 4., 2., 5., 3., 6.];
        let b = [1f64, 0., 0., 1., 1., 1.];
        let mut c = [1f64; 4];
        matmul(
            2,
            2,
            3,
            MatRef::transposed(&at, 2),
            MatRef::rows(&b, 2),
            &mut c,
            2.0,
            1.0,
        )
        .unwrap();
        assert_eq!(c, [9., 11., 21., 23.]);
    }

    #[test]
    fn short_buffers_are_errors() {
        let a = [1f32; 5];
        let mut c = [0f32; 4];
        assert!(
            matmul(
                2,
                2,
                3,
                MatRef::rows(&a, 3),
                MatRef::rows(&a, 2),
                &mut c,
                1.0,
                0.0
            )
            .is_err()
        );
    }
}
