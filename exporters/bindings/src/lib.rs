//! PyO3 glue of keel's embedded Python API, built into the private extension module
//! `keel._native` by the thin cdylib in `exporters/native`. The public API is pure Python
//! (`exporters/keel/_api.py`: `keel.load`, `keel.Bundle`); this crate gives it a planned
//! [`keel_runtime::Model`] and three ways to score through it:
//!
//! - a record batch or a stream of batches, imported through the Arrow C data interface
//!   (`__arrow_c_array__` / `__arrow_c_stream__` PyCapsules) by `arrow-pyarrow`, scored with the
//!   GIL released, returned as pyarrow objects;
//! - one row as a Python dict, turned into a one-row batch here, without pyarrow
//!   (the `row` module), for the latency of a single prediction;
//! - errors become the exception classes of `keel/errors.py`, one per runtime error kind, with
//!   the column, row and value as attributes;
//! - `convert_onnx`: ONNX bytes to bundle bytes through `keel_import::onnx`, for
//!   `keel.torch.export` (the `convert` module);
//! - `compose`: a feature pipeline's and a network's bundle bytes joined into one through
//!   `keel_import::compose`, for `keel.compose` (the `compose` module);
//! - the trainer (`keel_train`) for `keel.train` and `keel.spark.KeelNetEstimator` (the
//!   `train` module).

mod compose;
mod convert;
mod errors;
mod model;
mod row;
mod train;

pub use model::PyModel;
use pyo3::prelude::*;

/// Adds the native classes to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(convert::convert_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(compose::compose, m)?)?;
    m.add_class::<train::PyFeatureStats>()?;
    m.add_class::<train::PyTrainData>()?;
    m.add_class::<train::PyTrainListener>()?;
    m.add_function(wrap_pyfunction!(train::fit_features, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_worker, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_local, m)?)?;
    m.add("RUNTIME_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
