//! The ops, one per file. Each file has a `build` function registered in `registry.rs`, its
//! kernel, and its unit tests at the bottom. Shared helpers for classifiers live in
//! [`classes`].

pub mod classes;
pub mod concat;
pub mod hist_gradient_boosting;
pub mod kmeans;
pub mod linear;
pub mod mlp;
pub mod standard_scaler;
pub mod tree_ensemble;
