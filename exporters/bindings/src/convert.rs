//! `keel._native.convert_onnx`: an ONNX model (bytes) to keel bundle bytes, through
//! [`keel_import::onnx`], the one ONNX importer. `keel.torch.export` calls it on the ONNX that
//! `torch.onnx.export` writes in memory, so a PyTorch model and an ONNX file convert with the
//! same op table, the same refusals and the same error messages as `keel convert --from onnx`.

use crate::errors::to_py;
use keel_bundle::{Bundle, Encoding};
use keel_import::onnx::{self, Limits};
use keel_runtime::{Model, Options};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyModule};
use std::collections::BTreeMap;

/// Why a conversion failed, before Python sees it (built with the GIL released).
enum Failure {
    /// Op types or attributes keel lacks: `keel.UnsupportedError`, every one of them listed.
    Unsupported(String),
    /// Any other importer error (an undecodable model, an undeclarable input, a limit):
    /// `keel.BundleError`, as `keel.load` raises for the same file.
    Import(String),
    /// The converted bundle did not plan, or could not be written: the runtime's error.
    Runtime(keel_runtime::Error),
}

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("keel.errors").map(Bound::unbind))
        .map(|m| m.bind(py))
}

pub(crate) fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = errors_module(py)?.getattr(class)?;
        Ok(PyErr::from_value(cls.call1((message,))?))
    };
    build().unwrap_or_else(|failure| failure)
}

fn convert(
    data: &[u8],
    name: Option<&str>,
    metadata: BTreeMap<String, String>,
    producer: Option<&str>,
) -> Result<Vec<u8>, Failure> {
    let mut bundle: Bundle =
        onnx::convert_bytes(data, name.unwrap_or("onnx"), None, &Limits::default()).map_err(
            |e| match e {
                onnx::Error::Unsupported(_) => Failure::Unsupported(e.to_string()),
                other => Failure::Import(format!("ONNX model: {other}")),
            },
        )?;
    // The caller's name wins over the graph's (exporters name graphs generically, e.g.
    // torch's `main_graph`).
    if let Some(n) = name {
        bundle.manifest.name = n.to_string();
    }
    if let Some(p) = producer {
        bundle.manifest.producer.name = p.to_string();
    }
    bundle.manifest.metadata.extend(metadata);
    // A bundle written here must also plan: a conversion the runtime cannot score is an
    // importer bug to report now, not a file to hand back (as `keel convert` checks).
    Model::from_bundle(&bundle, &Options::default()).map_err(Failure::Runtime)?;
    checked_bytes(&bundle).map_err(Failure::Runtime)
}

/// A bundle's bytes (JSON encoding), read back before they leave: the writer and the reader
/// must agree.
pub(crate) fn checked_bytes(bundle: &Bundle) -> Result<Vec<u8>, keel_runtime::Error> {
    let bytes = bundle.to_bytes(Encoding::Json)?;
    Bundle::from_bytes(&bytes)?;
    Ok(bytes)
}

/// Converts an ONNX model to a keel bundle's bytes (JSON encoding), checking that it plans.
/// `name` replaces the bundle's name, `metadata` is added to the manifest's, and `producer`
/// replaces the producer's name (the framework stays what the ONNX file says).
#[pyfunction]
#[pyo3(signature = (data, *, name = None, metadata = None, producer = None))]
pub fn convert_onnx<'py>(
    py: Python<'py>,
    data: &[u8],
    name: Option<&str>,
    metadata: Option<&Bound<'py, PyDict>>,
    producer: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut meta = BTreeMap::new();
    if let Some(d) = metadata {
        for (k, v) in d.iter() {
            meta.insert(k.extract::<String>()?, v.extract::<String>()?);
        }
    }
    match py.detach(|| convert(data, name, meta, producer)) {
        Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
        Err(Failure::Unsupported(m)) => Err(raise(py, "UnsupportedError", m)),
        Err(Failure::Import(m)) => Err(raise(py, "BundleError", m)),
        Err(Failure::Runtime(e)) => Err(to_py(py, &e, None)),
    }
}
