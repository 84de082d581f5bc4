//! `keel._native.Model`: a planned bundle held by Python. Batches arrive through the Arrow C
//! data interface (any object with `__arrow_c_array__` or `__arrow_c_stream__`: pyarrow,
//! polars, DuckDB, ...), so their buffers are shared with Rust, never copied row by row, and
//! scoring runs with the GIL released. One row arrives as a dict (see the `row` module).

use crate::errors::to_py;
use crate::row::RowCodec;
use arrow_array::RecordBatch;
use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_pyarrow::{FromPyArrow, IntoPyArrow, Table, ToPyArrow};
use arrow_schema::ArrowError;
use keel_runtime::{Error, ExtraColumns, Model, Options};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A planned bundle. Immutable after load (`frozen`), so every method takes `&self` with no
/// borrow bookkeeping and any number of Python threads may score through it at once.
#[pyclass(frozen, name = "Model", module = "keel._native")]
pub struct PyModel {
    model: Model,
    extra: ExtraColumns,
    manifest_json: String,
    row: RowCodec,
}

pub(crate) fn arrow_err(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("cannot read the Arrow data: {e}"))
}

#[pymethods]
impl PyModel {
    /// Reads, verifies and plans a bundle from its bytes (the GIL is released meanwhile): a keel
    /// bundle or an MLeap Bundle.ML zip, told apart by content.
    /// `origin` names the bundle in load errors (its path, when read from a file).
    #[staticmethod]
    #[pyo3(signature = (data, *, ignore_extra_columns = false, origin = None))]
    fn load(
        py: Python<'_>,
        data: &[u8],
        ignore_extra_columns: bool,
        origin: Option<&str>,
    ) -> PyResult<PyModel> {
        let extra = if ignore_extra_columns {
            ExtraColumns::Ignore
        } else {
            ExtraColumns::Reject
        };
        let opts = Options {
            extra_columns: extra,
            ..Options::default()
        };
        let model = py
            .detach(|| keel_import::load::read_model(data, &opts))
            .map_err(|e| to_py(py, &e, origin))?;
        // The JSON encoding carries symbolic dimensions in the metadata (SPEC.md section 2.1),
        // as the bundle file does.
        let mut manifest = model.manifest().clone();
        manifest.dims_to_metadata();
        let manifest_json = serde_json::to_string(&manifest)
            .map_err(|e| PyValueError::new_err(format!("cannot encode the manifest: {e}")))?;
        let row = RowCodec::new(py, &model.manifest().inputs, &model.manifest().outputs);
        Ok(PyModel {
            model,
            extra,
            manifest_json,
            row,
        })
    }

    /// The manifest in its JSON encoding (bundle-spec/SPEC.md).
    #[getter]
    fn manifest_json(&self) -> &str {
        &self.manifest_json
    }

    /// The inputs as a `pyarrow.Schema`.
    #[getter]
    fn input_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.model.input_schema().as_ref().to_pyarrow(py)
    }

    /// The outputs as a `pyarrow.Schema`.
    #[getter]
    fn output_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.model.output_schema().as_ref().to_pyarrow(py)
    }

    /// Whether input columns outside the schema are ignored (rather than refused).
    #[getter]
    fn ignore_extra_columns(&self) -> bool {
        self.extra == ExtraColumns::Ignore
    }

    /// The backends that built at least one kernel (`["cpu"]` today).
    #[getter]
    fn backends(&self) -> Vec<&'static str> {
        self.model.backends().to_vec()
    }

    /// Scores one record batch (any `__arrow_c_array__` object) into a `pyarrow.RecordBatch`,
    /// on `threads` threads (`Model::score_parallel`; 0 = one per core).
    #[pyo3(signature = (batch, threads = 1))]
    fn transform_batch<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        let out = py
            .detach(|| self.model.score_parallel(&batch, threads))
            .map_err(|e| to_py(py, &e, None))?;
        out.to_pyarrow(py)
    }

    /// Scores a stream of batches (any `__arrow_c_stream__` object: a `pyarrow.Table`, a
    /// `RecordBatchReader`, a polars frame) into a `pyarrow.Table`, one output batch per
    /// non-empty input batch. Error rows count from the start of the stream.
    #[pyo3(signature = (data, threads = 1))]
    fn transform_stream<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reader = RecordBatchStreamReader::from_pyarrow_bound(data)?;
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(arrow_err)?;
        let scored = py.detach(|| {
            let mut out = Vec::with_capacity(batches.len());
            let mut offset = 0;
            for b in batches.iter().filter(|b| b.num_rows() > 0) {
                // The caller counts rows from the start of the table, not of the batch.
                out.push(
                    self.model
                        .score_parallel(b, threads)
                        .map_err(|e| e.offset_rows(offset))?,
                );
                offset += b.num_rows();
            }
            if out.is_empty() {
                return Err(Error::EmptyFrame);
            }
            Ok(out)
        });
        let scored = scored.map_err(|e| to_py(py, &e, None))?;
        Table::try_new(scored, self.model.output_schema())
            .map_err(arrow_err)?
            .into_pyarrow(py)
    }

    /// Scores one row given as a mapping of column name to value; returns a dict of output
    /// name to value (see the `row` module for the accepted values). The GIL stays held: for
    /// one row, scoring takes a few microseconds, less than handing the GIL over and back.
    fn transform_one<'py>(
        &self,
        py: Python<'py>,
        row: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dict = match row.cast::<PyDict>() {
            Ok(d) => d.clone(),
            Err(_) => {
                let Ok(mapping) = row.cast() else {
                    return Err(PyTypeError::new_err(format!(
                        "transform_one takes a mapping of column name to value, not {}",
                        row.get_type().name()?
                    )));
                };
                let d = PyDict::new(py);
                d.update(mapping)?;
                d
            }
        };
        let batch = self
            .row
            .batch(&dict, self.extra)?
            .map_err(|e| to_py(py, &e, None))?;
        let out = self.model.score(&batch).map_err(|e| to_py(py, &e, None))?;
        self.row.outputs(py, &out)?.map_err(|e| to_py(py, &e, None))
    }

    fn __repr__(&self) -> String {
        format!(
            "<keel._native.Model {:?}: {} inputs, {} outputs, {} steps>",
            self.model.manifest().name,
            self.model.manifest().inputs.len(),
            self.model.manifest().outputs.len(),
            self.model.step_count()
        )
    }
}

// Scoring state is shared by Python threads; keep that a compile-time fact here too.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PyModel>();
};
