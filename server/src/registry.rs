//! The loaded models. Requests read an immutable [`Snapshot`] through an `ArcSwap` (one atomic
//! load, no lock), so a reload never blocks or fails a request: a request that resolved a
//! model keeps its `Arc` to that version until it has answered, even if the version is
//! unloaded meanwhile. Changes (load, replace, unload) build a new snapshot under a mutex that
//! only writers take, and publish it with one atomic store; reading and planning a bundle
//! happen before that, outside any lock ([`prepare`]).
//!
//! Versions are integers assigned per model name in load order, starting at 1 and never
//! reused (a name's counter survives unloads), so `name@3` always means the same bundle for
//! the life of the process. The newest loaded version answers `name`.

use crate::error::AppError;
use crate::metrics::{Metrics, ModelLabel};
use arc_swap::ArcSwap;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use axum::http::StatusCode;
use keel_bundle::Manifest;
use keel_runtime::{Model, Options};
use keel_sandbox::{Sandbox, SandboxedModel};
use serde_json::{Map, Value as J, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A watched bundle file (given on the command line or found in a watched directory).
    File(PathBuf),
    /// A demo bundle built into the binary.
    Embedded(&'static str),
    /// Loaded through the admin API from a path on the server's disk.
    AdminPath(PathBuf),
    /// Uploaded through the admin API.
    Upload,
}

impl Source {
    fn to_json(&self) -> J {
        match self {
            Source::File(p) => json!({"kind": "file", "path": p.display().to_string()}),
            Source::Embedded(n) => json!({"kind": "embedded", "path": format!("embedded:{n}")}),
            Source::AdminPath(p) => json!({"kind": "admin", "path": p.display().to_string()}),
            Source::Upload => json!({"kind": "upload", "path": null}),
        }
    }
}

/// What scores a served model: the runtime in process, or the runtime inside the sandbox
/// (`keel serve --sandbox`).
#[derive(Debug)]
// One per loaded model, built once and never moved after it is installed: a box would only add
// a pointer hop to every request.
#[allow(clippy::large_enum_variant)]
pub enum Scorer {
    /// A planned model, scored in process.
    Native(Model),
    /// A model loaded in the sandbox; every call runs under its budget.
    Sandboxed(SandboxedModel),
}

/// A served model: its interface (what the codecs read and write by) and its scorer.
#[derive(Debug)]
pub struct Served {
    manifest: Manifest,
    output_schema: SchemaRef,
    scorer: Scorer,
}

impl Served {
    /// The bundle's manifest (inputs, outputs, provenance).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The schema of the scored batches.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The scorer.
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// Scores one batch; `rows_before` (the rows of the request's earlier batches) makes the
    /// row numbers of errors count within the whole request.
    pub fn score(&self, batch: &RecordBatch, rows_before: u64) -> Result<RecordBatch, AppError> {
        match &self.scorer {
            Scorer::Native(model) => model
                .score(batch)
                .map_err(|e| keel_io::offset_rows(e, rows_before).into()),
            Scorer::Sandboxed(model) => model
                .score(batch)
                .map_err(|e| e.offset_rows(rows_before).into()),
        }
    }
}

/// A bundle read, verified and planned, not yet given a version.
#[derive(Debug)]
pub struct Prepared {
    name: String,
    model: Served,
    info: Map<String, J>,
    sha256: String,
    size: u64,
}

impl Prepared {
    /// The model's name (from the manifest).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sha256 of the bundle's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// Reads, verifies and plans a bundle in process: [`prepare_with`] without a sandbox.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, String> {
    prepare_with(bytes, None)
}

/// Reads, verifies and plans a bundle, and describes it (what `GET /v1/models` shows). This is
/// the slow part of a load; it runs outside any lock, on a blocking thread. An MLeap
/// Bundle.ML zip is imported (`keel_import::load` tells the formats apart) and served as the
/// keel bundle it converts to; the sha256 stays that of the bytes given.
///
/// With a sandbox, the host only reads the bundle (the bounded reader every entry point uses,
/// for the description and the codecs' schemas); planning and scoring happen in the guest,
/// under the sandbox's budget, which is where a hostile bundle could spend without bound.
pub fn prepare_with(bytes: &[u8], sandbox: Option<&Sandbox>) -> Result<Prepared, String> {
    let loaded = keel_import::load::read_bytes(bytes).map_err(|e| e.to_string())?;
    let bundle = loaded.bundle;
    let (scorer, output_schema, backends) = match sandbox {
        None => {
            let model =
                Model::from_bundle(&bundle, &Options::default()).map_err(|e| e.to_string())?;
            let schema = model.output_schema();
            let backends = json!(model.backends());
            (Scorer::Native(model), schema, backends)
        }
        Some(sandbox) => {
            // The guest reads keel bundles only: an imported model goes in as the keel bundle
            // it converted to.
            let keel_bytes = match loaded.origin {
                keel_import::load::Origin::Keel => std::borrow::Cow::Borrowed(bytes),
                _ => std::borrow::Cow::Owned(
                    bundle
                        .to_bytes(bundle.encoding)
                        .map_err(|e| e.to_string())?,
                ),
            };
            let model = SandboxedModel::load(sandbox, &keel_bytes).map_err(|e| e.to_string())?;
            let schema = model.output_schema();
            (Scorer::Sandboxed(model), schema, json!(["sandbox"]))
        }
    };
    let m = &bundle.manifest;
    let mut info = Map::new();
    info.insert("uid".into(), json!(m.uid));
    info.insert("created".into(), json!(m.created));
    info.insert("format_version".into(), json!(m.format_version));
    info.insert(
        "encoding".into(),
        json!(keel_io::describe::encoding_name(bundle.encoding)),
    );
    info.insert(
        "producer".into(),
        json!({
            "name": m.producer.name,
            "version": m.producer.version,
            "framework": m.producer.framework,
            "framework_version": m.producer.framework_version,
        }),
    );
    info.insert(
        "inputs".into(),
        J::Array(m.inputs.iter().map(keel_io::describe::field_json).collect()),
    );
    info.insert(
        "outputs".into(),
        J::Array(
            m.outputs
                .iter()
                .map(keel_io::describe::field_json)
                .collect(),
        ),
    );
    info.insert("metadata".into(), json!(m.metadata));
    info.insert(
        "graph".into(),
        keel_io::describe::node_json(&bundle, keel_io::describe::shown_graph(&bundle.graph)),
    );
    info.insert("backends".into(), backends);
    Ok(Prepared {
        name: m.name.clone(),
        model: Served {
            manifest: m.clone(),
            output_schema,
            scorer,
        },
        info,
        sha256: hex::encode(Sha256::digest(bytes)),
        size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
    })
}

/// One loaded model version.
#[derive(Debug)]
pub struct Entry {
    /// The model's name.
    pub name: String,
    /// Its version (from 1, per name, in load order).
    pub version: u32,
    /// The model: its interface and its scorer.
    pub model: Served,
    /// Where it came from.
    pub source: Source,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// The sha256 of the bundle's bytes.
    pub sha256: String,
    info: Map<String, J>,
    size: u64,
}

impl Entry {
    /// The full description: identity, schemas, producer, metadata, graph, load details.
    pub fn describe(&self) -> J {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        o.insert("version".into(), json!(self.version));
        o.extend(self.info.clone());
        o.insert("source".into(), self.source.to_json());
        o.insert(
            "loaded_at".into(),
            json!(humantime::format_rfc3339_millis(self.loaded_at).to_string()),
        );
        o.insert("sha256".into(), json!(self.sha256));
        o.insert("size".into(), json!(self.size));
        J::Object(o)
    }

    /// The metrics label of a request answered by this version.
    pub fn label(&self, endpoint: &'static str, rows: u64) -> ModelLabel {
        ModelLabel {
            name: self.name.clone(),
            version: self.version,
            endpoint,
            rows,
        }
    }
}

/// The models being served at one instant: by name, versions in ascending order.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    models: BTreeMap<String, Vec<Arc<Entry>>>,
}

impl Snapshot {
    /// Every loaded version, by name then version.
    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.models.values().flatten()
    }

    /// The versions of one model, oldest first.
    pub fn versions(&self, name: &str) -> &[Arc<Entry>] {
        self.models.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of loaded versions.
    pub fn len(&self) -> usize {
        self.models.values().map(Vec::len).sum()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// A source that failed to load, as shown in `GET /v1/models`.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// The file (or `embedded:NAME`).
    pub source: String,
    /// Why it failed.
    pub message: String,
    /// When.
    pub at: SystemTime,
}

/// Whether the configured models are all loaded, and which are not.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// All configured sources serve a model.
    pub ready: bool,
    /// Those that do not (yet).
    pub waiting: Vec<String>,
}

/// The model registry.
#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<Snapshot>,
    /// Next version per name; taken only by writers.
    versions: Mutex<HashMap<String, u32>>,
    errors: Mutex<BTreeMap<String, LoadError>>,
    readiness: Mutex<Readiness>,
    ready: AtomicBool,
    metrics: Arc<Metrics>,
    sandbox: Option<Sandbox>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A writer that panicked left consistent data (every change is one store of a finished
    // snapshot), so a poisoned lock is used as is.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Splits `name@3` into the name and the version; a name without `@` followed by digits asks
/// for the newest version.
pub fn parse_spec(spec: &str) -> (&str, Option<u32>) {
    match spec.rsplit_once('@') {
        Some((name, v))
            if !name.is_empty() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match v.parse() {
                Ok(n) => (name, Some(n)),
                Err(_) => (spec, None),
            }
        }
        _ => (spec, None),
    }
}

impl Registry {
    /// An empty registry, not ready until [`Self::set_readiness`] says so.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self::with_sandbox(metrics, None)
    }

    /// An empty registry whose models are loaded into `sandbox` (`None` = in process).
    pub fn with_sandbox(metrics: Arc<Metrics>, sandbox: Option<Sandbox>) -> Self {
        Registry {
            current: ArcSwap::from_pointee(Snapshot::default()),
            versions: Mutex::new(HashMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            readiness: Mutex::new(Readiness::default()),
            ready: AtomicBool::new(false),
            metrics,
            sandbox,
        }
    }

    /// Reads, verifies and plans a bundle for this registry: in its sandbox if it has one
    /// ([`prepare_with`]).
    pub fn prepare(&self, bytes: &[u8]) -> Result<Prepared, String> {
        prepare_with(bytes, self.sandbox.as_ref())
    }

    /// The models being served now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Adds a prepared model as the next version of its name, and in the same atomic swap
    /// removes `replaces` (the version a changed file used to hold), so there is no instant at
    /// which neither version answers.
    pub fn install(
        &self,
        prepared: Prepared,
        source: Source,
        replaces: Option<(String, u32)>,
    ) -> Arc<Entry> {
        let mut versions = lock(&self.versions);
        let next = versions.entry(prepared.name.clone()).or_insert(1);
        let version = *next;
        *next = next.saturating_add(1);
        let entry = Arc::new(Entry {
            name: prepared.name,
            version,
            model: prepared.model,
            source,
            loaded_at: SystemTime::now(),
            sha256: prepared.sha256,
            info: prepared.info,
            size: prepared.size,
        });
        let mut snap = Snapshot::clone(&self.current.load());
        if let Some((name, v)) = replaces {
            remove(&mut snap, &name, Some(v));
        }
        snap.models
            .entry(entry.name.clone())
            .or_default()
            .push(entry.clone());
        self.publish(snap);
        entry
    }

    /// Unloads a version, or every version of `name` when `version` is `None`; returns the
    /// versions removed.
    pub fn unload(&self, name: &str, version: Option<u32>) -> Vec<(String, u32)> {
        let _writer = lock(&self.versions);
        let mut snap = Snapshot::clone(&self.current.load());
        let removed = remove(&mut snap, name, version);
        if !removed.is_empty() {
            self.publish(snap);
        }
        removed
    }

    fn publish(&self, snap: Snapshot) {
        let loaded = snap.len();
        self.current.store(Arc::new(snap));
        self.metrics.set_models(loaded, lock(&self.errors).len());
    }

    /// The model a request names: `name` (newest version) or `name@version`.
    pub fn resolve(&self, spec: &str) -> Result<Arc<Entry>, AppError> {
        let snap = self.current.load();
        let (name, version) = parse_spec(spec);
        let versions = snap.versions(name);
        if versions.is_empty() {
            return Err(AppError::new(
                StatusCode::NOT_FOUND,
                "unknown_model",
                format!("no model named `{name}` is loaded (see GET /v1/models)"),
            ));
        }
        match version {
            None => versions.last().cloned(),
            Some(v) => versions.iter().find(|e| e.version == v).cloned(),
        }
        .ok_or_else(|| {
            let have = versions
                .iter()
                .map(|e| e.version.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            AppError::new(
                StatusCode::NOT_FOUND,
                "unknown_version",
                format!(
                    "model `{name}` has no version {} loaded (loaded: {have})",
                    version.unwrap_or_default()
                ),
            )
        })
    }

    /// Records (or, with `None`, clears) the load error of a source.
    pub fn set_error(&self, source: &str, message: Option<String>) {
        let count = {
            let mut errors = lock(&self.errors);
            match message {
                Some(message) => {
                    errors.insert(
                        source.to_string(),
                        LoadError {
                            source: source.to_string(),
                            message,
                            at: SystemTime::now(),
                        },
                    );
                }
                None => {
                    errors.remove(source);
                }
            }
            errors.len()
        };
        self.metrics.set_models(self.current.load().len(), count);
    }

    /// The sources whose latest content failed to load.
    pub fn errors(&self) -> Vec<LoadError> {
        lock(&self.errors).values().cloned().collect()
    }

    /// Sets whether every configured source is loaded.
    pub fn set_readiness(&self, readiness: Readiness) {
        self.ready.store(readiness.ready, Ordering::Release);
        *lock(&self.readiness) = readiness;
    }

    /// Whether every configured source is loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Readiness with the sources still waiting.
    pub fn readiness(&self) -> Readiness {
        lock(&self.readiness).clone()
    }
}

fn remove(snap: &mut Snapshot, name: &str, version: Option<u32>) -> Vec<(String, u32)> {
    let mut removed = Vec::new();
    if let Some(list) = snap.models.get_mut(name) {
        list.retain(|e| {
            let hit = version.is_none_or(|v| e.version == v);
            if hit {
                removed.push((e.name.clone(), e.version));
            }
            !hit
        });
        if list.is_empty() {
            snap.models.remove(name);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRIS: &[u8] = include_bytes!("../../fixtures/sklearn/iris_logreg/model.keel");

    #[test]
    fn an_mleap_bundle_is_imported() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(path) = [
            dir.join("../../shared/compat/mleap/demo.zip"),
            dir.join("../../../shared/compat/mleap/demo.zip"),
        ]
        .into_iter()
        .find(|p| p.exists()) else {
            eprintln!("SKIP: the MLeap corpus (shared/compat/mleap) is absent");
            return;
        };
        let p = prepare(&std::fs::read(path).unwrap()).unwrap();
        assert!(p.name().starts_with("pipeline_"), "{}", p.name());
        assert_eq!(p.info["producer"]["framework"], "mleap");
        assert!(prepare(b"not a bundle").is_err());
    }

    #[test]
    fn specs_split_on_a_numeric_suffix() {
        assert_eq!(parse_spec("iris"), ("iris", None));
        assert_eq!(parse_spec("iris@3"), ("iris", Some(3)));
        assert_eq!(parse_spec("a@b"), ("a@b", None));
        assert_eq!(parse_spec("@3"), ("@3", None));
        assert_eq!(parse_spec("x@99999999999"), ("x@99999999999", None));
    }

    #[test]
    fn versions_count_per_name_and_replace_atomically() {
        let r = Registry::new(Arc::new(Metrics::new()));
        let a = r.install(prepare(IRIS).unwrap(), Source::Upload, None);
        let b = r.install(prepare(IRIS).unwrap(), Source::Upload, None);
        assert_eq!((a.version, b.version), (1, 2));
        assert_eq!(r.resolve("iris_logreg").unwrap().version, 2);
        assert_eq!(r.resolve("iris_logreg@1").unwrap().version, 1);
        assert_eq!(
            r.resolve("iris_logreg@7").unwrap_err().code,
            "unknown_version"
        );
        assert_eq!(r.resolve("nope").unwrap_err().code, "unknown_model");
        let c = r.install(
            prepare(IRIS).unwrap(),
            Source::Upload,
            Some(("iris_logreg".into(), 2)),
        );
        let versions: Vec<u32> = r
            .snapshot()
            .versions("iris_logreg")
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!((c.version, versions), (3, vec![1, 3]));
        assert_eq!(r.unload("iris_logreg", None).len(), 2);
        // Counters survive unloads: a version number is never reused.
        let d = r.install(prepare(IRIS).unwrap(), Source::Upload, None);
        assert_eq!(d.version, 4);
    }
}
