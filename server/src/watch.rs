//! Loading models from the command line's sources, and reloading them when they change.
//!
//! A background thread scans every source each `--poll-interval`: a file is taken as is, a
//! directory contributes its `*.keel` files and its MLeap Bundle.ML `*.zip` files (not
//! recursive; hidden files are skipped, which leaves out the temporary files of atomic
//! writers). A listed `*.zip` that is not a Bundle.ML (no top-level `bundle.json`, see
//! `keel_import::mleap::is_bundle_ml`) is ignored rather than reported, since a model
//! directory may well hold other archives. A file whose size, modification time or
//! inode changed is read, checked (read and planned by [`Registry::prepare`]) and swapped in;
//! one whose content fails is reported (log, `GET /v1/models` errors, a metric) and the
//! previous version keeps serving; a removed file is unloaded.
//!
//! Why polling rather than filesystem events (inotify and friends): events are not delivered
//! on many of the filesystems models are served from (NFS and other network mounts, Docker
//! bind mounts from a non-Linux host, some FUSE filesystems), Kubernetes updates mounted
//! ConfigMaps and volumes by swapping a symlink to a new directory, which event watchers see as
//! unrelated events on other paths, and event streams overflow and coalesce, so a robust
//! watcher needs a rescan anyway. A scan costs one `stat` per file, cheap at any realistic
//! number of bundles, and a change is seen within two intervals, which is fine for model
//! deployments.
//!
//! Half-written files: a change is loaded only once the file has looked the same in two
//! consecutive scans, so a bundle being copied in place is not reported broken halfway
//! through. Writing the new file beside the old and renaming it into place is still the way to
//! deploy: the change is then atomic. A file whose content did not change (touched, or
//! rewritten with the same bytes) is not reloaded.

use crate::demo;
use crate::registry::{Readiness, Registry, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

/// What a file looks like without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Fingerprint {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Fingerprint {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        }
    }
}

#[derive(Debug, Default)]
struct FileState {
    /// The fingerprint of the content last loaded (or last refused).
    seen: Option<Fingerprint>,
    /// A new fingerprint seen once, waiting to be seen again before it is loaded.
    pending: Option<Fingerprint>,
    /// The sha256 of the content last loaded or refused.
    sha256: Option<String>,
    /// The version this file serves.
    serving: Option<(String, u32)>,
    /// Found at startup: readiness waits for it.
    required: bool,
}

/// The watcher of the command line's sources.
#[derive(Debug)]
pub struct Watcher {
    registry: Arc<Registry>,
    sources: Vec<PathBuf>,
    files: BTreeMap<PathBuf, FileState>,
    embedded_missing: Vec<String>,
}

/// Whether a file in a watched directory is a model to serve: a keel bundle, an MLeap zip or
/// an ONNX model (converted on loading; external data is not read in a watched directory).
fn is_bundle_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && (name.ends_with(".keel") || name.ends_with(".onnx") || is_zip_name(path))
}

fn is_zip_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("zip")
}

impl Watcher {
    /// A watcher of `sources` (files and directories); with none, the demo bundles are served.
    pub fn new(registry: Arc<Registry>, sources: Vec<PathBuf>) -> Self {
        Watcher {
            registry,
            sources,
            files: BTreeMap::new(),
            embedded_missing: Vec::new(),
        }
    }

    /// Loads the embedded demo bundles (when there are no sources) and everything the sources
    /// hold now, then sets readiness.
    pub fn initial(&mut self) {
        if self.sources.is_empty() {
            for (name, bytes) in demo::BUNDLES {
                let source = format!("embedded:{name}");
                match self.registry.prepare(bytes) {
                    Ok(p) => {
                        let e = self.registry.install(p, Source::Embedded(name), None);
                        tracing::info!(model = %e.name, version = e.version, %source, "loaded");
                    }
                    Err(message) => {
                        tracing::error!(%source, %message, "a built-in bundle failed to load");
                        self.registry.set_error(&source, Some(message));
                        self.embedded_missing.push(source);
                    }
                }
            }
        }
        self.scan(true);
    }

    /// Lists the bundle files of the sources now.
    fn list(&self) -> BTreeMap<PathBuf, Fingerprint> {
        let mut found = BTreeMap::new();
        for source in &self.sources {
            let Ok(meta) = std::fs::metadata(source) else {
                continue;
            };
            if meta.is_dir() {
                let Ok(dir) = std::fs::read_dir(source) else {
                    continue;
                };
                for entry in dir.flatten() {
                    let path = entry.path();
                    if !is_bundle_name(&path) {
                        continue;
                    }
                    if let Ok(m) = std::fs::metadata(&path)
                        && m.is_file()
                    {
                        found.insert(path, Fingerprint::of(&m));
                    }
                }
            } else {
                found.insert(source.clone(), Fingerprint::of(&meta));
            }
        }
        found
    }

    /// One pass over the sources. On the initial pass every file found is loaded at once and
    /// becomes required for readiness; later passes load a change once it has settled.
    pub fn scan(&mut self, initial: bool) {
        let found = self.list();
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !found.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(state) = self.files.remove(&path)
                && let Some((name, version)) = state.serving
            {
                self.registry.unload(&name, Some(version));
                tracing::info!(model = %name, version, path = %path.display(), "file removed: unloaded");
            }
            self.registry.set_error(&path.display().to_string(), None);
        }
        for (path, fp) in found {
            let state = self.files.entry(path.clone()).or_insert_with(|| FileState {
                required: initial,
                ..FileState::default()
            });
            if state.seen == Some(fp) {
                state.pending = None;
                continue;
            }
            if !initial && state.pending != Some(fp) {
                state.pending = Some(fp);
                continue;
            }
            state.pending = None;
            // A `*.zip` found in a directory is a candidate only; one named on the command
            // line is loaded whatever it holds.
            let listed = !self.sources.contains(&path);
            load_file(&self.registry, &path, fp, state, listed);
        }
        self.publish_readiness();
    }

    fn publish_readiness(&self) {
        let mut waiting: Vec<String> = self.embedded_missing.clone();
        waiting.extend(
            self.files
                .iter()
                .filter(|(_, s)| s.required && s.serving.is_none())
                .map(|(p, _)| p.display().to_string()),
        );
        self.registry.set_readiness(Readiness {
            ready: waiting.is_empty(),
            waiting,
        });
    }

    /// Runs the initial load, then a scan every `interval` until `stop` is signalled or
    /// dropped.
    pub fn run(mut self, interval: Duration, stop: &Receiver<()>) {
        self.initial();
        loop {
            match stop.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => self.scan(false),
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

fn load_file(
    registry: &Registry,
    path: &Path,
    fp: Fingerprint,
    state: &mut FileState,
    listed: bool,
) {
    let key = path.display().to_string();
    let bytes = match keel_import::load::read_file(path) {
        Ok(b) => b,
        Err(e) => {
            // Vanished or unreadable between listing and reading: try again next scan.
            tracing::warn!(path = %key, error = %e, "cannot read a bundle file");
            registry.set_error(&key, Some(e.to_string()));
            return;
        }
    };
    state.seen = Some(fp);
    if listed
        && is_zip_name(path)
        && state.serving.is_none()
        && !keel_import::mleap::is_bundle_ml(&bytes)
    {
        // Some other archive beside the models: not ours, not an error, not awaited.
        state.required = false;
        return;
    }
    let prepared = registry.prepare(&bytes);
    let sha = match &prepared {
        Ok(p) => p.sha256().to_string(),
        Err(_) => hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
    };
    if state.sha256.as_deref() == Some(sha.as_str()) {
        return;
    }
    state.sha256 = Some(sha);
    match prepared {
        Ok(p) => {
            // Cleared before the swap, so no one sees the new version next to the old error.
            registry.set_error(&key, None);
            let entry = registry.install(p, Source::File(path.to_path_buf()), state.serving.take());
            tracing::info!(model = %entry.name, version = entry.version, path = %key, "loaded");
            state.serving = Some((entry.name.clone(), entry.version));
        }
        Err(message) => {
            match &state.serving {
                Some((name, version)) => tracing::warn!(
                    path = %key, %message, model = %name, version,
                    "the new content fails to load; the previous version keeps serving"
                ),
                None => tracing::warn!(path = %key, %message, "a bundle file fails to load"),
            }
            registry.set_error(&key, Some(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    const IRIS: &[u8] = include_bytes!("../../fixtures/sklearn/iris_logreg/model.keel");
    const DIABETES: &[u8] = include_bytes!("../../fixtures/sklearn/diabetes_ct_linreg/model.keel");
    const CNN_ONNX: &[u8] = include_bytes!("../../fixtures/onnx/cnn.onnx");

    #[test]
    fn an_onnx_model_in_a_watched_directory_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::new(Arc::new(Metrics::new())));
        std::fs::write(dir.path().join("cnn.onnx"), CNN_ONNX).unwrap();
        let mut w = Watcher::new(registry.clone(), vec![dir.path().to_path_buf()]);
        w.initial();
        assert!(registry.errors().is_empty(), "{:?}", registry.errors());
        assert_eq!(versions(&registry, "cnn"), vec![1]);
    }

    fn versions(r: &Registry, name: &str) -> Vec<u32> {
        r.snapshot()
            .versions(name)
            .iter()
            .map(|e| e.version)
            .collect()
    }

    #[test]
    fn changes_load_once_settled_and_broken_content_keeps_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::new(Arc::new(Metrics::new())));
        let path = dir.path().join("m.keel");
        std::fs::write(&path, IRIS).unwrap();
        std::fs::write(dir.path().join(".hidden.keel"), b"junk").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"junk").unwrap();
        let mut w = Watcher::new(registry.clone(), vec![dir.path().to_path_buf()]);
        w.initial();
        assert!(registry.is_ready());
        assert_eq!(versions(&registry, "iris_logreg"), vec![1]);

        // A broken replacement: reported once settled, the old version still serves.
        std::fs::write(&path, b"not a zip").unwrap();
        w.scan(false);
        assert!(registry.errors().is_empty(), "not settled yet");
        w.scan(false);
        assert_eq!(registry.errors().len(), 1);
        assert_eq!(versions(&registry, "iris_logreg"), vec![1]);
        assert!(registry.is_ready());

        // A good one replaces it in one swap; an unchanged file is not reloaded.
        std::fs::write(&path, DIABETES).unwrap();
        w.scan(false);
        w.scan(false);
        assert!(registry.errors().is_empty());
        assert!(versions(&registry, "iris_logreg").is_empty());
        assert_eq!(versions(&registry, "diabetes_ct_linreg"), vec![1]);
        w.scan(false);
        assert_eq!(versions(&registry, "diabetes_ct_linreg"), vec![1]);

        std::fs::remove_file(&path).unwrap();
        w.scan(false);
        assert!(registry.snapshot().is_empty());
    }

    #[test]
    fn a_directory_serves_mleap_zips_and_ignores_other_zips() {
        const MLEAP: &[u8] = include_bytes!("../../fixtures/mleap/iris_kmeans/bundle.zip");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kmeans.zip"), MLEAP).unwrap();
        // A zip that is not a Bundle.ML (a keel bundle under a .zip name): ignored.
        std::fs::write(dir.path().join("other.zip"), IRIS).unwrap();
        let registry = Arc::new(Registry::new(Arc::new(Metrics::new())));
        let mut w = Watcher::new(registry.clone(), vec![dir.path().to_path_buf()]);
        w.initial();
        assert!(registry.is_ready());
        assert!(registry.errors().is_empty());
        assert_eq!(versions(&registry, "iris_kmeans"), vec![1]);
        assert!(versions(&registry, "iris_logreg").is_empty());
        // A removed MLeap zip is unloaded like a keel bundle.
        std::fs::remove_file(dir.path().join("kmeans.zip")).unwrap();
        w.scan(false);
        assert!(versions(&registry, "iris_kmeans").is_empty());
    }

    #[test]
    fn a_broken_file_at_startup_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.keel");
        std::fs::write(&path, b"junk").unwrap();
        let registry = Arc::new(Registry::new(Arc::new(Metrics::new())));
        let mut w = Watcher::new(registry.clone(), vec![path]);
        w.initial();
        assert!(!registry.is_ready());
        assert_eq!(registry.readiness().waiting.len(), 1);
    }
}
