//! keel's trainer from Python: `keel.train` (one machine) and the two sides of
//! `keel.spark.KeelNetEstimator` (the statistics pass, the feature plan, each barrier task's
//! rows and training). Jobs, plans and statistics cross as JSON text; rows as Arrow batches
//! through the C data interface. Training runs with the GIL released; its events (an epoch's
//! metrics, a checkpoint) come back through a Python callable, called with the GIL held again.

use crate::model::arrow_err;
use arrow_array::RecordBatch;
use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_pyarrow::FromPyArrow;
use keel_train::collective::{self, Group, GroupConfig};
use keel_train::features::{FeaturePlan, FeatureStats};
use keel_train::job::{self, Events, JobConfig, WorkerData};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

/// A job error as the Python exception a user can catch: bad data → the `InputError` family
/// (naming the column and row), a bad option → `ValueError`, the rest → `TrainingError`.
fn to_py(e: &job::Error) -> PyErr {
    Python::attach(|py| {
        use keel_train::features::Error as F;
        let class = match e {
            job::Error::Config(_) => return pyo3::exceptions::PyValueError::new_err(e.to_string()),
            job::Error::Features(F::MissingColumn { .. }) => "MissingColumnError",
            job::Error::Features(F::ColumnType { .. }) => "ColumnTypeError",
            job::Error::Features(F::NullLabel { .. }) => "MissingValueError",
            job::Error::Features(F::NonFinite { .. }) => "NonFiniteError",
            job::Error::Features(F::Runtime(r)) => return crate::errors::to_py(py, r, None),
            job::Error::Features(_) => "InputError",
            _ => "TrainingError",
        };
        crate::convert::raise(py, class, e.to_string())
    })
}

fn config(text: &str) -> PyResult<JobConfig> {
    JobConfig::from_json(text).map_err(|e| to_py(&e))
}

fn plan(text: &str) -> PyResult<FeaturePlan> {
    serde_json::from_str(text).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("the feature plan does not read: {e}"))
    })
}

/// Per-partition statistics of the feature and label columns (the first pass).
#[pyclass(name = "FeatureStats", module = "keel._native")]
pub struct PyFeatureStats {
    stats: FeatureStats,
}

#[pymethods]
impl PyFeatureStats {
    #[new]
    fn new(job: &str) -> PyResult<Self> {
        let config = config(job)?;
        Ok(PyFeatureStats {
            stats: FeatureStats::new(&config.feature_spec()),
        })
    }

    /// Adds one record batch.
    fn update(&mut self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<()> {
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        py.detach(|| self.stats.update(&batch))
            .map_err(|e| to_py(&job::Error::Features(e)))
    }

    /// The statistics as JSON.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.stats)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    }
}

/// Merges per-partition statistics (JSON) and fits the feature plan (JSON).
#[pyfunction]
pub fn fit_features(job: &str, stats: Vec<String>) -> PyResult<String> {
    let config = config(job)?;
    let stats = stats
        .iter()
        .map(|s| serde_json::from_str::<FeatureStats>(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!("statistics do not read: {e}"))
        })?;
    let plan = job::fit_features(&config, &stats).map_err(|e| to_py(&e))?;
    serde_json::to_string(&plan).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// One barrier task's rows, through the feature stages, held in Rust.
#[pyclass(name = "TrainData", module = "keel._native")]
pub struct PyTrainData {
    plan: FeaturePlan,
    data: WorkerData,
}

#[pymethods]
impl PyTrainData {
    #[new]
    fn new(job: &str, plan_json: &str) -> PyResult<Self> {
        let config = config(job)?;
        let plan = plan(plan_json)?;
        let data = WorkerData::new(&config, &plan);
        Ok(PyTrainData { plan, data })
    }

    /// Adds one record batch (the feature, label and `_keel_*` columns).
    fn add(&mut self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<()> {
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        let PyTrainData { plan, data } = self;
        py.detach(|| data.add(plan, &batch)).map_err(|e| to_py(&e))
    }

    /// Rows added.
    #[getter]
    fn rows(&self) -> u64 {
        self.data.rows()
    }
}

/// A port bound for the collective, before its address is published to the other tasks.
#[pyclass(name = "TrainListener", module = "keel._native")]
pub struct PyTrainListener {
    listener: Mutex<Option<TcpListener>>,
    address: String,
}

#[pymethods]
impl PyTrainListener {
    #[new]
    fn new(host: &str) -> PyResult<Self> {
        let (listener, address) =
            collective::bind(host).map_err(|e| to_py(&job::Error::Train(e.into())))?;
        Ok(PyTrainListener {
            listener: Mutex::new(Some(listener)),
            address,
        })
    }

    /// `host:port` for the other tasks.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }
}

/// Calls `on_event(kind, payload)` in Python for each event of the run.
fn forward(on_event: &Py<PyAny>) -> impl FnMut(&str, Vec<u8>) + '_ {
    move |kind, payload| {
        Python::attach(|py| {
            if let Err(e) = on_event.call1(py, (kind, PyBytes::new(py, &payload))) {
                // A failing progress callback must not stop training; Python sees it printed.
                e.print(py);
            }
        });
    }
}

/// Trains one barrier task's part of a job; rank 0 returns the bundle's bytes.
#[pyfunction]
#[pyo3(signature = (job, data, rank, addresses, listener, secret, job_id, timeout_s, resume, on_event))]
#[allow(clippy::too_many_arguments)]
pub fn train_worker<'py>(
    py: Python<'py>,
    job: &str,
    data: &PyTrainData,
    rank: usize,
    addresses: Vec<String>,
    listener: &PyTrainListener,
    secret: &[u8],
    job_id: &str,
    timeout_s: f64,
    resume: Option<&[u8]>,
    on_event: Py<PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let config = config(job)?;
    let listener = listener
        .listener
        .lock()
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("the listener's lock is poisoned"))?
        .take()
        .ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err("this TrainListener was used by another run")
        })?;
    let group_config = GroupConfig::new(
        rank,
        addresses,
        listener,
        secret.to_vec(),
        job_id,
        Duration::from_secs_f64(timeout_s.max(0.001)),
    );
    let mut send = forward(&on_event);
    let result = py.detach(|| {
        let mut group = Group::connect(group_config).map_err(|e| job::Error::Train(e.into()))?;
        job::run_worker(
            &config,
            &data.plan,
            &data.data,
            &mut group,
            resume,
            &mut Events(&mut send),
        )
    });
    match result {
        Ok(Some(bytes)) => Ok(Some(PyBytes::new(py, &bytes))),
        Ok(None) => Ok(None),
        Err(e) => Err(to_py(&e)),
    }
}

/// Trains a job on this machine over a stream of record batches; returns the bundle's bytes.
#[pyfunction]
pub fn train_local<'py>(
    py: Python<'py>,
    job: &str,
    data: &Bound<'py, PyAny>,
    on_event: Py<PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let config = config(job)?;
    let reader = RecordBatchStreamReader::from_pyarrow_bound(data)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(arrow_err)?;
    let mut send = forward(&on_event);
    let bytes = py
        .detach(|| job::run_local(&config, &batches, &mut Events(&mut send)))
        .map_err(|e| to_py(&e))?;
    Ok(PyBytes::new(py, &bytes))
}
