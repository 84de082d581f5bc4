//! keel's scoring runtime.
//!
//! [`Model::from_bytes`] reads a bundle (through `keel-bundle`'s defensive reader), plans it
//! once (every op resolved to a [`Kernel`], every column to a slot, every type checked) and
//! returns a `Send + Sync` model. [`Model::score`] runs the plan on an Arrow [`RecordBatch`] of
//! any size and returns the outputs as another batch.
//!
//! The crate has no threads, no filesystem access and no global state, so it builds for
//! `wasm32-unknown-unknown` unchanged; I/O belongs to the front ends (CLI, server, bindings).
//!
//! [`RecordBatch`]: arrow_array::RecordBatch

pub mod backend;
mod concat;
mod error;
mod model;
pub mod op;
mod ops;
#[cfg(feature = "threads")]
pub mod parallel;
pub mod registry;
pub mod tensor;
pub mod tensor_arrow;
pub mod tolerance;
pub mod value;

pub use backend::{Backend, Cpu};
pub use error::Error;
pub use model::{
    CHUNK_ROWS, ExtraColumns, MAX_INPUT_WIDTH, Model, Options, ROWS_PER_CALL_METADATA,
    TENSOR_CHUNK_ELEMENTS, arrow_schema, str_list_type,
};
pub use op::{BuildCtx, Built, Kernel};
/// Translates a `java.util.regex` pattern (Spark's `RegexTokenizer`) into the `regex` crate's
/// syntax, refusing what it cannot translate exactly. Public so that an importer checks a
/// pattern with the very translator the op uses, and the two cannot disagree.
pub use ops::spark::text::java::java_regex;
pub use tensor::{Dim, Tensor, TensorData, TensorType};
pub use value::{ColInfo, ColType, DENSIFY_LIMIT, Matrix, SparseMatrix, Value};

// Scoring state is shared across threads; keep that a compile-time fact.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
};
