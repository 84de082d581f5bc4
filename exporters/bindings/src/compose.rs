//! `keel._native.compose`: a feature pipeline's bundle and a network's (keel bundles, an MLeap
//! zip, an ONNX model, as bytes) joined into one bundle through [`keel_import::compose`], the
//! same code as `keel compose`. `keel.compose` and the exporters' `network=` option call it.

use crate::errors::to_py;
use keel_import::compose::{Connection, Error as ComposeError, Options, compose as join};
use keel_import::load::{LoadError, read_bytes};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Why a composition failed, before Python sees it (built with the GIL released).
enum Failure {
    /// One of the two could not be read: `keel.BundleError`, naming which.
    Read(&'static str, LoadError),
    /// They do not join: `keel.ComposeError`.
    Compose(ComposeError),
    /// The result could not be written or read back: the runtime's error.
    Runtime(keel_runtime::Error),
}

fn run(features: &[u8], network: &[u8], opts: &Options) -> Result<Vec<u8>, Failure> {
    let feats = read_bytes(features).map_err(|e| Failure::Read("features", e))?;
    let net = read_bytes(network).map_err(|e| Failure::Read("network", e))?;
    let bundle = join(&feats.bundle, &net.bundle, opts).map_err(Failure::Compose)?;
    crate::convert::checked_bytes(&bundle).map_err(Failure::Runtime)
}

/// Composes two bundles' bytes; `connect` maps a network input to the pipeline columns it
/// reads, `keep` lists pipeline outputs kept beside the network's.
#[pyfunction]
#[pyo3(signature = (features, network, *, connect = None, keep = None, name = None))]
pub fn compose<'py>(
    py: Python<'py>,
    features: &[u8],
    network: &[u8],
    connect: Option<Vec<(String, Vec<String>)>>,
    keep: Option<Vec<String>>,
    name: Option<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let opts = Options {
        connect: connect
            .unwrap_or_default()
            .into_iter()
            .map(|(input, columns)| Connection { input, columns })
            .collect(),
        keep: keep.unwrap_or_default(),
        name,
        ..Options::default()
    };
    match py.detach(|| run(features, network, &opts)) {
        Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
        Err(Failure::Read(which, e)) => Err(crate::convert::raise(
            py,
            "BundleError",
            format!("{which}: {e}"),
        )),
        Err(Failure::Compose(ComposeError::Plan(e))) => Err(to_py(py, &e, None)),
        Err(Failure::Compose(e)) => Err(crate::convert::raise(py, "ComposeError", e.to_string())),
        Err(Failure::Runtime(e)) => Err(to_py(py, &e, None)),
    }
}
