//! The backend seam. A backend turns a planned node into a [`Kernel`](crate::Kernel); the planner asks each
//! configured backend in order and falls back to the CPU reference, which implements every op.
//!
//! The wgpu GPU backend (a later milestone) plugs in here: it will claim the ops it accelerates
//! (dense layers, linear models, tree ensembles) and return kernels that upload the batch,
//! dispatch WGSL compute shaders and download the result, while every other node keeps its CPU
//! kernel. Because kernels see host [`crate::Value`]s on both sides, mixing backends inside one
//! plan needs no special casing; keeping data device-resident between adjacent GPU nodes is an
//! optimisation the GPU backend can make inside its own kernels.

use crate::error::Error;
use crate::op::{BuildCtx, Built};
use crate::registry::{self, BackendKind};

/// A source of kernels.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// A short name for logs and `keel inspect`.
    fn name(&self) -> &'static str;

    /// Builds a kernel for `ctx.node`, or returns `None` when this backend does not handle its
    /// op (the planner then asks the next backend, and finally the CPU reference).
    fn build(&self, ctx: &BuildCtx<'_>) -> Option<Result<Built, Error>>;
}

/// The CPU reference backend: every op in the registry (each entry lists the CPU among its
/// backends), in plain Rust and ndarray.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn build(&self, ctx: &BuildCtx<'_>) -> Option<Result<Built, Error>> {
        registry::get(&ctx.node.op)
            .filter(|e| e.runs_on(BackendKind::Cpu))
            .map(|e| (e.build)(ctx))
    }
}
