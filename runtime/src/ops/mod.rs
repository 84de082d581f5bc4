//! The ops, one per file, grouped by the framework whose behaviour they reproduce and then by
//! family. Each op file has a `build` function registered in `registry.rs`, its kernel, and its
//! unit tests at the bottom; see `docs/ops.md` for the anatomy of an op.
//!
//! - [`core`]: graph plumbing that belongs to no framework (`concat`, `select`).
//! - [`sklearn`]: scikit-learn's transformers ([`sklearn::feature`]) and estimators
//!   ([`sklearn::models`], with the classifier outputs they share in
//!   [`sklearn::models::classes`]).
//! - [`spark`]: Spark ML's feature transformers ([`spark::feature`]), models
//!   ([`spark::models`]) and text stages ([`spark::text`], with token columns in
//!   [`spark::text::tokens`], Java's string and regex semantics in [`spark::text::java`] and
//!   Spark's feature hash in [`spark::text::hash`]); Spark's column conventions shared by all
//!   three are in [`spark::common`].
//! - [`categories`]: value-to-category lookups shared by scikit-learn's encoders and Spark's
//!   `StringIndexer`.
//!
//! Neural-network ops get their own family beside these (`nn/`), since they are not tied to
//! one training framework's estimator classes; so do the image ops (`image/`: per-row encoded
//! images to a network's input tensor).
//!
//! The modules are private: the registry is the public face of the ops (an op is reached by its
//! name through [`crate::registry`]), so a kernel's internals can change without breaking a
//! caller. What other crates genuinely share with an op is re-exported at the crate root.

pub(crate) mod categories;
pub(crate) mod core;
pub(crate) mod image;
pub(crate) mod nn;
pub(crate) mod sklearn;
pub(crate) mod spark;
#[cfg(test)]
pub(crate) mod testing;
