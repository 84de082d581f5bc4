//! Tensors: safetensors entries parsed once, at read time, into an index of (dtype, shape, byte
//! range). Views borrow the entry's bytes, so reading a tensor is a bounds-checked slice; the
//! typed accessors copy into aligned vectors because safetensors does not promise alignment.

use crate::error::BundleError;
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::ops::Range;

/// Element types a bundle tensor may have (SPEC.md section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorDType {
    /// 64-bit float.
    F64,
    /// 32-bit float.
    F32,
    /// 64-bit integer.
    I64,
    /// 32-bit integer.
    I32,
    /// Unsigned byte.
    U8,
    /// Boolean (one byte each).
    Bool,
    /// IEEE 754 half-precision float (format 1.1).
    F16,
    /// bfloat16 (format 1.1).
    Bf16,
    /// Signed byte (format 1.1).
    I8,
}

impl TensorDType {
    fn from_st(d: Dtype) -> Option<Self> {
        Some(match d {
            Dtype::F64 => Self::F64,
            Dtype::F32 => Self::F32,
            Dtype::I64 => Self::I64,
            Dtype::I32 => Self::I32,
            Dtype::U8 => Self::U8,
            Dtype::BOOL => Self::Bool,
            Dtype::F16 => Self::F16,
            Dtype::BF16 => Self::Bf16,
            Dtype::I8 => Self::I8,
            _ => return None,
        })
    }

    fn to_st(self) -> Dtype {
        match self {
            Self::F64 => Dtype::F64,
            Self::F32 => Dtype::F32,
            Self::I64 => Dtype::I64,
            Self::I32 => Dtype::I32,
            Self::U8 => Dtype::U8,
            Self::Bool => Dtype::BOOL,
            Self::F16 => Dtype::F16,
            Self::Bf16 => Dtype::BF16,
            Self::I8 => Dtype::I8,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 => 2,
            Self::U8 | Self::Bool | Self::I8 => 1,
        }
    }
}

/// Checks every tensor of a safetensors header by key before the `safetensors` crate sees the
/// file: the dtype whitelist, the element limit, and that shape and dtype agree with the byte
/// range. The crate checks the last too, but its error does not say which tensor is wrong, and
/// SPEC.md section 4 requires naming the file and key. Whatever this pass does not judge (the
/// header framing, offsets that overlap or leave gaps) is left to the crate.
fn precheck_header(path: &str, bytes: &[u8], max_elements: u64) -> Result<(), BundleError> {
    use serde_json::Value;
    let Some(len) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return Ok(());
    };
    let Some(header) = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .and_then(|n| n.checked_add(8))
        .and_then(|end| bytes.get(8..end))
    else {
        return Ok(());
    };
    let Ok(map) = serde_json::from_slice::<BTreeMap<String, Value>>(header) else {
        return Ok(());
    };
    for (key, info) in &map {
        if key == "__metadata__" {
            continue;
        }
        let err = |message: String| BundleError::Tensor {
            entry: path.to_string(),
            key: key.clone(),
            message,
        };
        let dtype_name = info.get("dtype").and_then(Value::as_str).unwrap_or("");
        let dtype = match dtype_name {
            "F64" => TensorDType::F64,
            "F32" => TensorDType::F32,
            "I64" => TensorDType::I64,
            "I32" => TensorDType::I32,
            "U8" => TensorDType::U8,
            "BOOL" => TensorDType::Bool,
            "F16" => TensorDType::F16,
            "BF16" => TensorDType::Bf16,
            "I8" => TensorDType::I8,
            other => {
                return Err(err(format!(
                    "dtype `{other}` is not allowed (F64, F32, F16, BF16, I64, I32, I8, U8, BOOL)"
                )));
            }
        };
        let shape: Option<Vec<u64>> = info
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|dims| dims.iter().map(Value::as_u64).collect());
        let Some(shape) = shape else {
            return Err(err("shape is not a list of non-negative integers".into()));
        };
        let offsets: Option<Vec<u64>> = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|o| o.iter().map(Value::as_u64).collect());
        let (start, end) = match offsets.as_deref() {
            Some(&[s, e]) if s <= e => (s, e),
            _ => return Err(err("data_offsets is not a pair [start, end]".into())),
        };
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
        if elements > max_elements {
            return Err(BundleError::Limit {
                entry: format!("{path}#{key}"),
                what: "tensor element count",
                actual: elements,
                limit: max_elements,
            });
        }
        let needed = elements.saturating_mul(dtype.size() as u64);
        if needed != end - start {
            return Err(err(format!(
                "shape {shape:?} of {dtype:?} needs {needed} bytes but data_offsets span {}",
                end - start
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Info {
    dtype: TensorDType,
    shape: Vec<usize>,
    range: Range<usize>,
}

/// One parsed safetensors entry.
#[derive(Debug, Clone)]
pub struct TensorFile {
    path: String,
    bytes: Vec<u8>,
    index: BTreeMap<String, Info>,
}

impl TensorFile {
    /// Parses and validates a safetensors entry: the header, every tensor's dtype, and that each
    /// declared shape matches its byte length (the safetensors crate checks offsets and
    /// lengths; keel adds the dtype whitelist and the element limit).
    pub fn parse(path: &str, bytes: Vec<u8>, max_elements: u64) -> Result<Self, BundleError> {
        precheck_header(path, &bytes, max_elements)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| BundleError::Tensor {
            entry: path.to_string(),
            key: String::new(),
            message: format!("not a valid safetensors file: {e}"),
        })?;
        let base = bytes.as_ptr() as usize;
        let mut index = BTreeMap::new();
        for (key, view) in st.tensors() {
            let err = |message: String| BundleError::Tensor {
                entry: path.to_string(),
                key: key.clone(),
                message,
            };
            let dtype = TensorDType::from_st(view.dtype())
                .ok_or_else(|| err(format!("dtype {:?} is not allowed", view.dtype())))?;
            let elements = view
                .shape()
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
                .ok_or_else(|| err("shape overflows".into()))?;
            if elements > max_elements {
                return Err(BundleError::Limit {
                    entry: format!("{path}#{key}"),
                    what: "tensor element count",
                    actual: elements,
                    limit: max_elements,
                });
            }
            let needed = elements
                .checked_mul(dtype.size() as u64)
                .ok_or_else(|| err("shape overflows".into()))?;
            if needed != view.data().len() as u64 {
                return Err(err(format!(
                    "shape {:?} of {:?} needs {needed} bytes but the data has {}",
                    view.shape(),
                    dtype,
                    view.data().len()
                )));
            }
            let start = view.data().as_ptr() as usize - base;
            let shape = view.shape().to_vec();
            let range = start..start + view.data().len();
            index.insert(
                key.clone(),
                Info {
                    dtype,
                    shape,
                    range,
                },
            );
        }
        Ok(TensorFile {
            path: path.to_string(),
            bytes,
            index,
        })
    }

    /// The entry path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw entry bytes (as stored in the archive).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Tensor keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// A view of tensor `key`.
    pub fn get(&self, key: &str) -> Result<TensorView<'_>, BundleError> {
        let info = self.index.get(key).ok_or_else(|| BundleError::Tensor {
            entry: self.path.clone(),
            key: key.to_string(),
            message: "no such tensor".into(),
        })?;
        Ok(TensorView {
            file: &self.path,
            key: self
                .index
                .get_key_value(key)
                .map_or("", |(k, _)| k.as_str()),
            dtype: info.dtype,
            shape: &info.shape,
            data: &self.bytes[info.range.clone()],
        })
    }
}

/// A borrowed tensor.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    file: &'a str,
    key: &'a str,
    /// Element type.
    pub dtype: TensorDType,
    /// Shape (row-major).
    pub shape: &'a [usize],
    /// Little-endian bytes.
    pub data: &'a [u8],
}

macro_rules! typed_vec {
    ($name:ident, $t:ty, $dt:ident) => {
        /// Copies the elements out, checking the dtype.
        pub fn $name(&self) -> Result<Vec<$t>, BundleError> {
            self.expect(TensorDType::$dt)?;
            Ok(self
                .data
                .chunks_exact(std::mem::size_of::<$t>())
                .map(|c| {
                    let mut b = [0u8; std::mem::size_of::<$t>()];
                    b.copy_from_slice(c);
                    <$t>::from_le_bytes(b)
                })
                .collect())
        }
    };
}

impl TensorView<'_> {
    fn expect(&self, dtype: TensorDType) -> Result<(), BundleError> {
        if self.dtype == dtype {
            Ok(())
        } else {
            Err(self.error(format!("expected dtype {dtype:?}, found {:?}", self.dtype)))
        }
    }

    /// An error about this tensor.
    pub fn error(&self, message: impl Into<String>) -> BundleError {
        BundleError::Tensor {
            entry: self.file.to_string(),
            key: self.key.to_string(),
            message: message.into(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    typed_vec!(to_f64, f64, F64);
    typed_vec!(to_f32, f32, F32);
    typed_vec!(to_i64, i64, I64);
    typed_vec!(to_i32, i32, I32);

    /// Copies the elements out as bytes (`U8` or `Bool`).
    pub fn to_u8(&self) -> Result<Vec<u8>, BundleError> {
        match self.dtype {
            TensorDType::U8 | TensorDType::Bool => Ok(self.data.to_vec()),
            other => Err(self.error(format!("expected dtype U8 or Bool, found {other:?}"))),
        }
    }

    /// Reads any integer dtype as i64 (exporters may narrow integer arrays to save space).
    pub fn to_i64_any(&self) -> Result<Vec<i64>, BundleError> {
        match self.dtype {
            TensorDType::I64 => self.to_i64(),
            TensorDType::I32 => Ok(self.to_i32()?.into_iter().map(i64::from).collect()),
            TensorDType::U8 | TensorDType::Bool => {
                Ok(self.data.iter().map(|&b| i64::from(b)).collect())
            }
            TensorDType::I8 => Ok(self.data.iter().map(|&b| i64::from(b as i8)).collect()),
            other => Err(self.error(format!("expected an integer dtype, found {other:?}"))),
        }
    }

    /// Reads any float dtype as f64.
    pub fn to_f64_any(&self) -> Result<Vec<f64>, BundleError> {
        match self.dtype {
            TensorDType::F64 => self.to_f64(),
            TensorDType::F32 => Ok(self.to_f32()?.into_iter().map(f64::from).collect()),
            other => Err(self.error(format!("expected a float dtype, found {other:?}"))),
        }
    }
}

/// Builds one safetensors entry from owned arrays (used by `keel convert` and by tests that
/// write bundles from Rust; the Python exporter writes the same format with the `safetensors`
/// package).
#[derive(Debug, Default)]
pub struct TensorWriter {
    tensors: BTreeMap<String, (TensorDType, Vec<usize>, Vec<u8>)>,
}

struct Owned<'a>(TensorDType, &'a [usize], &'a [u8]);

impl safetensors::View for Owned<'_> {
    fn dtype(&self) -> Dtype {
        self.0.to_st()
    }
    fn shape(&self) -> &[usize] {
        self.1
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(self.2)
    }
    fn data_len(&self) -> usize {
        self.2.len()
    }
}

impl TensorWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an f64 tensor.
    pub fn f64(&mut self, key: &str, shape: &[usize], data: &[f64]) -> &mut Self {
        let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.raw(key, TensorDType::F64, shape, bytes)
    }

    /// Adds an i64 tensor.
    pub fn i64(&mut self, key: &str, shape: &[usize], data: &[i64]) -> &mut Self {
        let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.raw(key, TensorDType::I64, shape, bytes)
    }

    /// Adds a tensor from raw little-endian bytes (the caller vouches for the layout; a
    /// mismatch is caught when the file is read back).
    pub fn raw(
        &mut self,
        key: &str,
        dtype: TensorDType,
        shape: &[usize],
        bytes: Vec<u8>,
    ) -> &mut Self {
        self.tensors
            .insert(key.to_string(), (dtype, shape.to_vec(), bytes));
        self
    }

    /// Serializes to safetensors bytes.
    pub fn finish(&self) -> Result<Vec<u8>, BundleError> {
        let views = self
            .tensors
            .iter()
            .map(|(k, (d, s, b))| (k.as_str(), Owned(*d, s, b)));
        safetensors::serialize(views, None).map_err(|e| BundleError::Write(e.to_string()))
    }
}
