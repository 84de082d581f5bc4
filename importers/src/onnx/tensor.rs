//! `TensorProto` to a keel [`Tensor`]: the declared dims are checked against the element
//! limit before anything is allocated, and against the data actually present (typed fields,
//! `raw_data`, or external data from a file beside the model).

use super::proto::{TensorProto, data_type as dt};
use super::{Error, Limits};
use half::{bf16, f16};
use keel_bundle::{DType, TensorDType};
use keel_runtime::{Tensor, TensorData};
use std::path::Path;
use std::sync::Arc;

/// The keel dtype of an ONNX element type, `None` for the ones keel has no tensor of.
pub(crate) fn keel_dtype(t: i32) -> Option<DType> {
    Some(match t {
        dt::FLOAT => DType::F32,
        dt::DOUBLE => DType::F64,
        dt::FLOAT16 => DType::F16,
        dt::BFLOAT16 => DType::Bf16,
        dt::INT64 => DType::I64,
        dt::INT32 => DType::I32,
        dt::INT8 => DType::I8,
        dt::UINT8 => DType::U8,
        dt::BOOL => DType::Bool,
        _ => return None,
    })
}

fn elem_size(d: DType) -> usize {
    match d {
        DType::F64 | DType::I64 => 8,
        DType::F32 | DType::I32 => 4,
        DType::F16 | DType::Bf16 => 2,
        _ => 1,
    }
}

/// Decodes a tensor. `dir` is the model's folder (external data is only read from there);
/// `None` refuses external data.
pub(crate) fn decode(
    t: &TensorProto,
    what: &str,
    dir: Option<&Path>,
    limits: &Limits,
) -> Result<Tensor, Error> {
    let bad = |message: String| Error::Tensor {
        tensor: what.to_string(),
        message,
    };
    let code = t.data_type.unwrap_or(0);
    let dtype = keel_dtype(code).ok_or_else(|| Error::UnsupportedType {
        what: what.to_string(),
        data_type: dt::name(code).to_string(),
    })?;
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        shape.push(usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n as u64 <= limits.max_tensor_elements)
        .ok_or_else(|| Error::Limit {
            what: format!("elements of tensor `{what}` (dims {:?})", t.dims),
            actual: u64::MAX,
            limit: limits.max_tensor_elements,
        })?;
    let external = t.data_location == Some(1);
    let raw: Option<Vec<u8>> = if external {
        Some(read_external(t, what, dir, n * elem_size(dtype), limits)?)
    } else {
        t.raw_data.clone()
    };
    let count_err = |found: usize| {
        bad(format!(
            "dims {:?} declare {n} elements, found {found}",
            t.dims
        ))
    };
    let data = if let Some(raw) = raw {
        let size = elem_size(dtype);
        if raw.len() != n * size {
            return Err(bad(format!(
                "dims {:?} declare {n} elements ({} bytes), raw data has {} bytes",
                t.dims,
                n * size,
                raw.len()
            )));
        }
        from_raw(dtype, &raw)
    } else {
        let typed = match dtype {
            DType::F32 => t.float_data.len(),
            DType::F64 => t.double_data.len(),
            DType::I64 => t.int64_data.len(),
            _ => t.int32_data.len(),
        };
        if typed != n {
            return Err(count_err(typed));
        }
        match dtype {
            DType::F32 => TensorData::F32(Arc::new(t.float_data.clone())),
            DType::F64 => TensorData::F64(Arc::new(t.double_data.clone())),
            DType::I64 => TensorData::I64(Arc::new(t.int64_data.clone())),
            DType::I32 => TensorData::I32(Arc::new(t.int32_data.clone())),
            // Narrow types are stored widened in `int32_data`; keep the low bits, as ONNX's
            // own reader does.
            DType::I8 => TensorData::I8(Arc::new(t.int32_data.iter().map(|&v| v as i8).collect())),
            DType::U8 => TensorData::U8(Arc::new(t.int32_data.iter().map(|&v| v as u8).collect())),
            DType::Bool => {
                TensorData::Bool(Arc::new(t.int32_data.iter().map(|&v| v != 0).collect()))
            }
            DType::F16 => TensorData::F16(Arc::new(
                t.int32_data
                    .iter()
                    .map(|&v| f16::from_bits(v as u16))
                    .collect(),
            )),
            DType::Bf16 => TensorData::Bf16(Arc::new(
                t.int32_data
                    .iter()
                    .map(|&v| bf16::from_bits(v as u16))
                    .collect(),
            )),
            DType::Utf8 | DType::ListUtf8 | DType::Binary => {
                return Err(bad("string tensors".into()));
            }
        }
    };
    Tensor::from_data(shape, data).map_err(|e| bad(e.to_string()))
}

fn from_raw(dtype: DType, raw: &[u8]) -> TensorData {
    macro_rules! le {
        ($t:ty, $n:expr) => {
            Arc::new(
                raw.chunks_exact($n)
                    .map(|c| {
                        let mut b = [0u8; $n];
                        b.copy_from_slice(c);
                        <$t>::from_le_bytes(b)
                    })
                    .collect(),
            )
        };
    }
    match dtype {
        DType::F32 => TensorData::F32(le!(f32, 4)),
        DType::F64 => TensorData::F64(le!(f64, 8)),
        DType::I64 => TensorData::I64(le!(i64, 8)),
        DType::I32 => TensorData::I32(le!(i32, 4)),
        DType::F16 => TensorData::F16(Arc::new(
            raw.chunks_exact(2)
                .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        )),
        DType::Bf16 => TensorData::Bf16(Arc::new(
            raw.chunks_exact(2)
                .map(|c| bf16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        )),
        DType::I8 => TensorData::I8(Arc::new(raw.iter().map(|&b| b as i8).collect())),
        DType::U8 => TensorData::U8(Arc::new(raw.to_vec())),
        DType::Bool | DType::Utf8 | DType::ListUtf8 | DType::Binary => {
            TensorData::Bool(Arc::new(raw.iter().map(|&b| b != 0).collect()))
        }
    }
}

/// Reads `len` bytes of external data named by the tensor's `external_data` entries
/// (`location`, `offset`, `length`) from a file beside the model: a relative path without
/// `..`, whose canonical form is still inside the model's canonical folder.
fn read_external(
    t: &TensorProto,
    what: &str,
    dir: Option<&Path>,
    len: usize,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let bad = |message: String| Error::Tensor {
        tensor: what.to_string(),
        message,
    };
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for e in &t.external_data {
        let v = e.value.as_deref().unwrap_or("");
        let num = || {
            v.parse::<u64>().map_err(|_| {
                bad(format!(
                    "external data `{}` is not a number: `{v}`",
                    e.key()
                ))
            })
        };
        match e.key.as_deref().unwrap_or("") {
            "location" => location = Some(v.to_string()),
            "offset" => offset = num()?,
            "length" => length = Some(num()?),
            // `checksum` and others are hints keel does not need.
            _ => {}
        }
    }
    let location = location.ok_or_else(|| bad("external data without a location".into()))?;
    let dir = dir.ok_or_else(|| Error::UnsafePath {
        path: location.clone().into(),
        reason: "external data is only read for a model file on disk".into(),
    })?;
    let rel = Path::new(&location);
    let unsafe_path = |reason: &str| Error::UnsafePath {
        path: rel.to_path_buf(),
        reason: reason.to_string(),
    };
    if location.is_empty()
        || rel.is_absolute()
        || location.starts_with('/')
        || location.contains('\\')
    {
        return Err(unsafe_path(
            "external data must be a relative path beside the model",
        ));
    }
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(unsafe_path(
            "external data path may not contain `..` or `.`",
        ));
    }
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let root = dir.canonicalize().map_err(|e| io(dir, e))?;
    let full = dir.join(rel);
    let canon = full.canonicalize().map_err(|e| io(&full, e))?;
    if !canon.starts_with(&root) {
        return Err(unsafe_path(
            "external data resolves outside the model's folder",
        ));
    }
    if let Some(l) = length
        && l != len as u64
    {
        return Err(bad(format!(
            "external data length {l}, the dims need {len} bytes"
        )));
    }
    if len as u64 > limits.max_model_bytes {
        return Err(Error::Limit {
            what: format!("external data of `{what}`"),
            actual: len as u64,
            limit: limits.max_model_bytes,
        });
    }
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(&canon).map_err(|e| io(&canon, e))?;
    let size = f.metadata().map_err(|e| io(&canon, e))?.len();
    if offset.checked_add(len as u64).is_none_or(|end| end > size) {
        return Err(bad(format!(
            "external data [{offset}, +{len}) is beyond the end of `{location}` ({size} bytes)"
        )));
    }
    f.seek(SeekFrom::Start(offset)).map_err(|e| io(&canon, e))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(|e| io(&canon, e))?;
    Ok(buf)
}

/// A tensor's elements as little-endian bytes and its safetensors dtype.
pub(crate) fn to_le_bytes(t: &Tensor) -> (TensorDType, Vec<u8>) {
    fn flat<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        v.iter().flat_map(|&x| f(x)).collect()
    }
    match &t.data {
        TensorData::F32(v) => (TensorDType::F32, flat(v, f32::to_le_bytes)),
        TensorData::F64(v) => (TensorDType::F64, flat(v, f64::to_le_bytes)),
        TensorData::F16(v) => (
            TensorDType::F16,
            flat(v, |x: f16| x.to_bits().to_le_bytes()),
        ),
        TensorData::Bf16(v) => (
            TensorDType::Bf16,
            flat(v, |x: bf16| x.to_bits().to_le_bytes()),
        ),
        TensorData::I64(v) => (TensorDType::I64, flat(v, i64::to_le_bytes)),
        TensorData::I32(v) => (TensorDType::I32, flat(v, i32::to_le_bytes)),
        TensorData::I8(v) => (TensorDType::I8, flat(v, i8::to_le_bytes)),
        TensorData::U8(v) => (TensorDType::U8, v.to_vec()),
        TensorData::Bool(v) => (TensorDType::Bool, v.iter().map(|&b| u8::from(b)).collect()),
    }
}
