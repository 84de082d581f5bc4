//! The keel bundle format: one zip file that carries a whole trained pipeline.
//!
//! This crate owns the format and nothing else: the logical model ([`Manifest`], [`Node`],
//! [`Attr`]), its two encodings (JSON and protobuf), the defensive reader ([`Bundle::from_bytes`])
//! and the deterministic writer ([`Bundle::to_bytes`]). It never depends on execution (no
//! ndarray, no Arrow, no wgpu) and never touches the filesystem, so it builds for
//! `wasm32-unknown-unknown` unchanged; callers hand it bytes.
//!
//! The zip reader under the container is public as [`archive`]: the importers read foreign zips
//! (MLeap's Bundle.ML) through it, so every archive keel opens gets the same checks.
//!
//! The normative description is `SPEC.md` beside this crate.

pub mod archive;
mod container;
mod error;
mod json_f64;
mod limits;
mod model;
mod proto;
mod tensor;

pub use container::{Bundle, Encoding};
pub use error::BundleError;
pub use limits::Limits;
pub use model::{
    Attr, Binding, DIMS_METADATA, DType, Entry, FORMAT_NAME, FORMAT_VERSION, Field, MAX_RANK,
    Manifest, Node, Producer, TensorRef,
};
pub use tensor::{TensorDType, TensorFile, TensorView, TensorWriter};

/// The generated protobuf messages of `proto/keel_bundle.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/keel.bundle.v1.rs"));
}
