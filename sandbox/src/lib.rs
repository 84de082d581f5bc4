//! keel's sandbox: bundles loaded and scored inside wasmtime, so that a bundle from someone
//! else can cost no more CPU time and memory than the host allows (`keel score --sandbox`,
//! `keel serve --sandbox`).
//!
//! The guest (`wasm/sandbox-guest`) is the runtime and keel-io built for
//! `wasm32-unknown-unknown` and given no host functions: no WASI, no files, no network, no
//! clock; it sees only the bytes the host writes into its memory. Each call runs under a budget: fuel
//! (`Limits::fuel`, deterministic), a wall-clock deadline (`Limits::timeout`, epoch
//! interruption driven by a ticker thread) and a cap on linear memory (`Limits::memory`, a
//! `ResourceLimiter`). A call that exhausts its budget traps; the instance is dropped and the
//! next call gets a fresh one, so the host keeps serving.
//!
//! - [`engine`]: [`Sandbox`], the engine, the compiled guest (cached on disk) and the ticker;
//! - [`model`]: [`SandboxedModel`], a loaded bundle and its pool of instances;
//! - `instance`: one instance and a call under a budget (the host half of the guest's ABI);
//! - [`error`]: [`Error`], with the codes `sandbox_fuel`, `sandbox_timeout`, `sandbox_memory`,
//!   `sandbox_trap`, or the guest's own code for an input it refused.

pub mod engine;
pub mod error;
mod instance;
pub mod model;

pub use engine::{Limits, Sandbox};
pub use error::Error;
pub use model::SandboxedModel;
