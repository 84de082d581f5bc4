//! ONNX models (`model.onnx`) to keel bundles of `nn.*` ops.
//!
//! The protobuf messages are a hand-written subset of `onnx.proto` ([`proto`]); tensors are
//! decoded by `tensor.rs`, and `convert.rs` holds the one table from ONNX op type to keel op
//! (default domain, opsets 13 and later, plus the attribute forms of older opsets, which become
//! constant inputs; and keel's own domain `ai.keel` for PyTorch modules ONNX has no op for,
//! `Embedding` and `EmbeddingBag`, whose attributes are the keel op's); `optimize.rs` rewrites
//! the graph first (BatchNormalization folded into the Conv or Gemm before it, MatMul + Add
//! fused into Gemm, opset 6's per-channel PRelu).
//!
//! The interface: a graph whose inputs do not all have a symbolic first dimension (in
//! particular one whose inputs all have fixed shapes) is scored as **one row** holding
//! each whole tensor (each field's shape is the full ONNX shape; the importer squeezes axis 0
//! off every input and unsqueezes it back onto every output; a rank-0 ONNX value is a field of
//! shape `[1]`). A graph whose inputs all have a
//! symbolic first dimension (a `dim_param`, or no size) is scored row by row: that dimension is
//! the batch, and the field's shape is the other dimensions; a symbolic one among them gets its
//! name in `Field::dims` with the bound [`SYMBOLIC_DIM_BOUND`].
//!
//! The file is hostile input: its size, node count and every tensor's element count are
//! bounded ([`Limits`]) before anything is allocated, the graph must be acyclic with every
//! input defined, external data is only read from files beside the model, and every op type
//! and attribute is checked against the runtime's op table up front: all the unsupported ones
//! are reported together in one [`Error::Unsupported`].

mod convert;
mod optimize;
pub mod proto;
mod tensor;

use keel_bundle::{Bundle, BundleError};
use prost::Message;
use std::fmt;
use std::path::{Path, PathBuf};

/// The upper bound given to a symbolic dimension (other than the batch) of an input or output
/// field: generous for sequence lengths and image sides, and small enough that a per-row
/// element count stays within the bundle's tensor limit for ranks up to 2.
pub const SYMBOLIC_DIM_BOUND: u64 = 65_536;

/// The manifest metadata key saying how rows are laid out: `one_row` or `batch`.
pub const INTERFACE_KEY: &str = "onnx.interface";

/// Bounds on what an ONNX file may make the importer allocate.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest model file (and largest external data file read), in bytes.
    pub max_model_bytes: u64,
    /// Most nodes in the graph.
    pub max_nodes: usize,
    /// Most elements in one tensor (initializer, attribute or input).
    pub max_tensor_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_model_bytes: 2 << 30,
            max_nodes: 100_000,
            max_tensor_elements: (1 << 31) - 1,
        }
    }
}

/// One op type or attribute keel does not support, with the node it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The ONNX op type (`domain:op` outside the default domain).
    pub op_type: String,
    /// The node's name (or `#index` when it has none).
    pub node: String,
    /// `None` when the op type itself is unsupported; else what about it (an attribute, a
    /// value, an opset).
    pub detail: Option<String>,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            None => write!(f, "op `{}` (node `{}`)", self.op_type, self.node),
            Some(d) => write!(f, "`{}` {d} (node `{}`)", self.op_type, self.node),
        }
    }
}

/// What went wrong reading or converting an ONNX model; every variant names the file, tensor,
/// node or value concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("`{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A path that would leave the model's folder.
    #[error("`{path}`: unsafe path: {reason}")]
    UnsafePath {
        /// The path as written in the model.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// The bytes are not a valid ONNX protobuf message.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// A size above a [`Limits`] bound.
    #[error("{what}: {actual} is above the limit of {limit}")]
    Limit {
        /// What was counted.
        what: String,
        /// The size found (`u64::MAX` when it overflows).
        actual: u64,
        /// The bound.
        limit: u64,
    },
    /// A tensor whose data does not match its declaration.
    #[error("tensor `{tensor}`: {message}")]
    Tensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// An element type keel has no tensor of (strings, uint16, complex, float8...).
    #[error("`{what}`: element type {data_type} is not supported")]
    UnsupportedType {
        /// The tensor or value.
        what: String,
        /// ONNX's name of the type.
        data_type: String,
    },
    /// A graph that is not a valid dataflow graph (an undefined input, a cycle, a value
    /// written twice).
    #[error("node `{node}`: {message}")]
    Graph {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// A graph input or output keel cannot declare as a field.
    #[error("graph input/output `{name}`: {message}")]
    Interface {
        /// The value's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Op types and attributes keel does not support, all of them.
    #[error("unsupported: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Unsupported(Vec<Unsupported>),
    /// A model-level feature keel does not support (functions, training info, subgraphs).
    #[error("{0}")]
    Feature(String),
    /// The bundle could not be assembled.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// Decodes a model from bytes, bounded by `limits`.
pub fn decode_model(bytes: &[u8], limits: &Limits) -> Result<proto::ModelProto, Error> {
    if bytes.len() as u64 > limits.max_model_bytes {
        return Err(Error::Limit {
            what: "model size in bytes".into(),
            actual: bytes.len() as u64,
            limit: limits.max_model_bytes,
        });
    }
    proto::ModelProto::decode(bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// Decodes a serialized `TensorProto` (a node test's `input_0.pb`) into a keel tensor. External
/// data is refused: such a file has no folder to read it from.
pub fn decode_tensor(bytes: &[u8], limits: &Limits) -> Result<keel_runtime::Tensor, Error> {
    if bytes.len() as u64 > limits.max_model_bytes {
        return Err(Error::Limit {
            what: "tensor size in bytes".into(),
            actual: bytes.len() as u64,
            limit: limits.max_model_bytes,
        });
    }
    let t = proto::TensorProto::decode(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    let name = t.name.clone().unwrap_or_default();
    tensor::decode(&t, &name, None, limits)
}

/// Reads and converts the ONNX model file at `path` (external data is read from its folder).
pub fn convert_file(path: &Path, limits: &Limits) -> Result<Bundle, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limits.max_model_bytes {
        return Err(Error::Limit {
            what: format!("size of `{}` in bytes", path.display()),
            actual: size,
            limit: limits.max_model_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let (dir, name) = dir_and_name(path);
    convert_bytes(&bytes, name, dir, limits)
}

/// The folder a model file's external data is read from, and the bundle name its file stem
/// gives (`onnx` when it has none).
pub(crate) fn dir_and_name(path: &Path) -> (Option<&Path>, &str) {
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("onnx");
    (dir, name)
}

/// Converts an ONNX model held in memory; `dir` is the folder external data is read from
/// (`None` refuses external data). `name` names the bundle when the graph has no name.
pub fn convert_bytes(
    bytes: &[u8],
    name: &str,
    dir: Option<&Path>,
    limits: &Limits,
) -> Result<Bundle, Error> {
    let model = decode_model(bytes, limits)?;
    convert::convert(&model, bytes, name, dir, limits)
}

#[cfg(test)]
mod tests;
