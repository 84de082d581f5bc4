//! keel's trainer: fits a tabular network (numeric features and categorical embeddings into a
//! multilayer perceptron) together with its feature pipeline, and writes one bundle that keel's
//! runtime scores everywhere.
//!
//! The pieces, bottom up:
//! - [`data`]: the in-memory training set (an `f32` feature block, category indices, labels)
//!   and the [`data::Batch`] views the network reads;
//! - [`net`]: the network's forward and backward passes (PyTorch's layouts and formulas), with
//!   [`loss`] functions, [`optim`] optimizers and [`schedule`] learning-rate schedules;
//! - [`collective`]: ring allreduce between workers over TCP (no MPI, NCCL or Gloo);
//! - [`features`]: the feature stages (string indexing, imputation, scaling) fitted in one
//!   pass, and computed through keel's own ops, as the bundle computes them when it scores;
//! - [`train`]: the training loop (epochs, validation, early stopping, checkpoints,
//!   deterministic mode);
//! - [`export`]: the fitted pipeline and network as one keel bundle;
//! - [`job`]: a whole job as `keel train`, `keel.train` and Spark describe it.
//!
//! The scoring crates never depend on this one.

pub mod collective;
pub mod data;
pub mod error;
pub mod export;
pub mod features;
pub mod job;
pub mod loss;
pub mod net;
pub mod optim;
pub mod schedule;
pub mod train;

pub use error::Error;
