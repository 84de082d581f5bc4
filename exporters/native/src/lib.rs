//! The `keel._native` extension module. Everything lives in `keel-python` (an rlib, so it can
//! be checked and documented with the rest of the workspace); this cdylib only names the module
//! that maturin builds and the `keel` Python package imports.

use pyo3::prelude::*;

/// `keel._native`: the planned model and its scoring entry points (see `keel-python`).
#[pymodule]
#[pyo3(name = "_native")]
fn keel_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    keel_python::register(m)
}
