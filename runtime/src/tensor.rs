//! N-dimensional tensors: the values networks pass between `nn.*` ops.
//!
//! A [`Tensor`] is a row-major shape and one typed buffer ([`TensorData`]) behind an `Arc`, so
//! cloning a value (a constant weight read by every batch, a column read by two ops) costs a
//! reference count, and an op that owns the only reference may write in place
//! ([`Arc::make_mut`]). Axis 0 of a tensor column is the batch: its rows.
//!
//! Planning sees tensors through [`TensorType`]: a dtype and a shape of [`Dim`]s, where a
//! dimension is a known size or a symbol (the batch, a sequence length) that is only known
//! once a batch arrives. Every op infers its output types from its input types at load, and
//! checks the actual shapes again when it scores (user data is never trusted to match).

use crate::error::Error;
use crate::value::Matrix;
use half::{bf16, f16};
use keel_bundle::DType;
use std::fmt;
use std::sync::Arc;

/// The most elements one tensor may hold (2^31): large enough for any network keel scores,
/// small enough that a hostile shape is refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// A tensor's elements.
#[derive(Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Arc<Vec<f32>>),
    /// 64-bit floats.
    F64(Arc<Vec<f64>>),
    /// Half-precision floats.
    F16(Arc<Vec<f16>>),
    /// bfloat16.
    Bf16(Arc<Vec<bf16>>),
    /// 64-bit integers.
    I64(Arc<Vec<i64>>),
    /// 32-bit integers.
    I32(Arc<Vec<i32>>),
    /// 8-bit integers.
    I8(Arc<Vec<i8>>),
    /// Bytes.
    U8(Arc<Vec<u8>>),
    /// Booleans.
    Bool(Arc<Vec<bool>>),
}

impl fmt::Debug for TensorData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.dtype(), self.len())
    }
}

/// Applies `$body` to the typed buffer of a [`TensorData`] with `$v` bound to the `Arc<Vec<T>>`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::tensor::TensorData::F32($v) => $body,
            $crate::tensor::TensorData::F64($v) => $body,
            $crate::tensor::TensorData::F16($v) => $body,
            $crate::tensor::TensorData::Bf16($v) => $body,
            $crate::tensor::TensorData::I64($v) => $body,
            $crate::tensor::TensorData::I32($v) => $body,
            $crate::tensor::TensorData::I8($v) => $body,
            $crate::tensor::TensorData::U8($v) => $body,
            $crate::tensor::TensorData::Bool($v) => $body,
        }
    };
}

impl TensorData {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::F16(_) => DType::F16,
            TensorData::Bf16(_) => DType::Bf16,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` zeros (false for bool) of `dtype`. `None` for string types.
    pub fn zeros(dtype: DType, n: usize) -> Option<TensorData> {
        Some(match dtype {
            DType::F32 => TensorData::F32(Arc::new(vec![0.0; n])),
            DType::F64 => TensorData::F64(Arc::new(vec![0.0; n])),
            DType::F16 => TensorData::F16(Arc::new(vec![f16::ZERO; n])),
            DType::Bf16 => TensorData::Bf16(Arc::new(vec![bf16::ZERO; n])),
            DType::I64 => TensorData::I64(Arc::new(vec![0; n])),
            DType::I32 => TensorData::I32(Arc::new(vec![0; n])),
            DType::I8 => TensorData::I8(Arc::new(vec![0; n])),
            DType::U8 => TensorData::U8(Arc::new(vec![0; n])),
            DType::Bool => TensorData::Bool(Arc::new(vec![false; n])),
            DType::Utf8 | DType::ListUtf8 | DType::Binary => return None,
        })
    }

    /// Every element converted to f64 (bool as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::F64(v) => v.as_ref().clone(),
            TensorData::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            TensorData::Bf16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// Every element converted to i64 (floats truncated toward zero, as ONNX's Cast; NaN
    /// becomes 0). Shape-like inputs (Reshape's shape, Slice's starts) are read with this.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match self {
            TensorData::I64(v) => v.as_ref().clone(),
            TensorData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            TensorData::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            TensorData::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| i64::from(x)).collect(),
            other => other.to_f64_vec().into_iter().map(|x| x as i64).collect(),
        }
    }
}

/// An N-dimensional tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Row-major shape; `[]` is a scalar.
    pub shape: Vec<usize>,
    /// The elements (`shape`'s product of them).
    pub data: TensorData,
}

/// Element types a [`Tensor`] may hold, for generic kernels.
pub trait Element: Copy + Send + Sync + PartialEq + fmt::Debug + Default + 'static {
    /// The matching dtype.
    const DTYPE: DType;
    /// Wraps a buffer.
    fn wrap(v: Vec<Self>) -> TensorData;
    /// Borrows the buffer of `d` when it holds this type.
    fn slice(d: &TensorData) -> Option<&[Self]>;
}

macro_rules! element {
    ($t:ty, $variant:ident, $dtype:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            fn wrap(v: Vec<Self>) -> TensorData {
                TensorData::$variant(Arc::new(v))
            }
            fn slice(d: &TensorData) -> Option<&[Self]> {
                match d {
                    TensorData::$variant(v) => Some(v.as_slice()),
                    _ => None,
                }
            }
        }
    };
}
element!(f32, F32, F32);
element!(f64, F64, F64);
element!(f16, F16, F16);
element!(bf16, Bf16, Bf16);
element!(i64, I64, I64);
element!(i32, I32, I32);
element!(i8, I8, I8);
element!(u8, U8, U8);
element!(bool, Bool, Bool);

/// The number of elements of `shape`, or an error when it overflows or exceeds
/// [`MAX_ELEMENTS`]. `what` names the tensor in the error.
pub fn checked_elements(shape: &[usize], what: &str) -> Result<usize, Error> {
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS);
    n.ok_or_else(|| Error::TensorShape {
        column: what.to_string(),
        row: None,
        expected: format!("at most {MAX_ELEMENTS} elements"),
        found: format!("{shape:?}"),
        node: String::new(),
    })
}

impl Tensor {
    /// A tensor from a shape and a typed buffer; the element count must match the shape.
    pub fn new<T: Element>(shape: Vec<usize>, data: Vec<T>) -> Result<Tensor, Error> {
        Self::from_data(shape, T::wrap(data))
    }

    /// A tensor from a shape and elements; the element count must match the shape.
    pub fn from_data(shape: Vec<usize>, data: TensorData) -> Result<Tensor, Error> {
        let n = checked_elements(&shape, "tensor")?;
        if n != data.len() {
            return Err(Error::TensorShape {
                column: "tensor".into(),
                row: None,
                expected: format!("{n} elements for shape {shape:?}"),
                found: format!("{} elements", data.len()),
                node: String::new(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// A scalar.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor {
            shape: Vec::new(),
            data: T::wrap(vec![v]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The elements as a slice of `T`, or `None` when the dtype differs.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(&self.data)
    }

    /// The planned type this tensor has (every dimension known).
    pub fn ty(&self) -> TensorType {
        TensorType {
            dtype: self.dtype(),
            shape: self.shape.iter().map(|&d| Dim::Known(d)).collect(),
        }
    }

    /// A feature block viewed as an f64 tensor of shape `[rows, cols]`. The buffer moves; no
    /// element is copied.
    pub fn from_matrix(m: Matrix) -> Tensor {
        Tensor {
            shape: vec![m.rows, m.cols],
            data: TensorData::F64(Arc::new(m.data)),
        }
    }

    /// A tensor of rank >= 1 as a feature block of one row per index of axis 0 and the
    /// remaining axes flattened, every element converted to f64. An f64 tensor whose buffer
    /// is not shared moves without a copy.
    pub fn into_matrix(self) -> Matrix {
        let rows = self.shape.first().copied().unwrap_or(1);
        let cols = self.shape.iter().skip(1).product();
        let data = match self.data {
            TensorData::F64(v) => Arc::try_unwrap(v).unwrap_or_else(|v| v.as_ref().clone()),
            other => other.to_f64_vec(),
        };
        Matrix { rows, cols, data }
    }
}

/// One dimension of a planned tensor type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A size known at load.
    Known(usize),
    /// A size known only when a batch arrives: the batch itself (`batch`), a symbolic
    /// dimension a bundle declares (`seq`), or one an op derives (`?`).
    Sym(Arc<str>),
}

impl Dim {
    /// The batch dimension (axis 0 of a tensor column).
    pub fn batch() -> Dim {
        Dim::Sym("batch".into())
    }

    /// A dimension about which nothing is known at load.
    pub fn unknown() -> Dim {
        Dim::Sym("?".into())
    }

    /// The size when known.
    pub fn known(&self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// The planned type of a tensor value: its dtype and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Shape, axis 0 first.
    pub shape: Vec<Dim>,
}

impl TensorType {
    /// A type with every dimension known.
    pub fn known(dtype: DType, shape: &[usize]) -> TensorType {
        TensorType {
            dtype,
            shape: shape.iter().map(|&d| Dim::Known(d)).collect(),
        }
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Every dimension's size, when all are known.
    pub fn known_shape(&self) -> Option<Vec<usize>> {
        self.shape.iter().map(Dim::known).collect()
    }

    /// Whether a tensor of `shape` fits this type (rank equal, known dimensions equal).
    pub fn accepts(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(d, &n)| d.known().is_none_or(|k| k == n))
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Formats a concrete shape the way errors show it: `[2, 3]`.
pub fn shape_str(shape: &[usize]) -> String {
    format!("{shape:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_data_must_agree() {
        assert!(Tensor::new(vec![2, 3], vec![0f32; 6]).is_ok());
        let e = Tensor::new(vec![2, 3], vec![0f32; 5]).unwrap_err();
        assert!(e.to_string().contains("6 elements"), "{e}");
    }

    #[test]
    fn absurd_shapes_are_refused_before_allocating() {
        let e = checked_elements(&[1 << 20, 1 << 20, 1 << 20], "x").unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        assert!(checked_elements(&[usize::MAX, 2], "x").is_err());
    }

    #[test]
    fn matrix_bridge_moves_the_buffer() {
        let m = Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
        let ptr = m.data.as_ptr();
        let t = Tensor::from_matrix(m);
        assert_eq!(t.shape, vec![2, 2]);
        let back = t.into_matrix();
        assert_eq!(back.data.as_ptr(), ptr);
        assert_eq!(back.row(1), &[3.0, 4.0]);
    }

    #[test]
    fn types_accept_shapes_by_known_dimensions() {
        let t = TensorType {
            dtype: DType::F32,
            shape: vec![Dim::batch(), Dim::Known(3)],
        };
        assert!(t.accepts(&[5, 3]));
        assert!(!t.accepts(&[5, 4]));
        assert!(!t.accepts(&[5]));
        assert_eq!(t.to_string(), "f32[batch, 3]");
    }
}
