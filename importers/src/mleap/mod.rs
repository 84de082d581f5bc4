//! MLeap Bundle.ML importer: [`read`] turns an MLeap bundle zip (JSON or protobuf format) into a keel
//! [`Bundle`] whose `spark.*` ops reproduce MLeap's numbers (MLeap reimplements Spark ML's
//! transformers, so its stages map onto keel's Spark ops).
//!
//! Bundle.ML layout: `bundle.json` (name, uid, format, version, timestamp) and `root/`, a node
//! folder holding `model.json` (the op and its typed attributes) and `node.json` (port ->
//! column bindings). A `pipeline` lists its stages in its `nodes` attribute, each stored as the
//! folder `<name>.node/` beside its `model.json`; tree ensembles keep each tree in `treeN/`
//! with a `tree.json` of newline-delimited JSON nodes in pre-order. Folders a pipeline does not
//! list are ignored, as MLeap ignores them.
//!
//! Protobuf format (`"format": "protobuf"` in `bundle.json`, which stays JSON): `model.pb`,
//! `node.pb` and `tree.pb` (length-prefixed nodes) replace the JSON documents, in the same
//! folders; [`proto`] decodes them into the JSON forms, so both encodings share one converter.
//! The protobuf message definitions follow MLeap's published schema (combust/bundle-protobuf;
//! `importers/proto/mleap_bundle.proto` lists what was checked against which source) and are
//! tested on bytes laid out by hand from it as well as on bundles that keel's tests re-encode
//! from real JSON bundles; no protobuf bundle written by MLeap itself is in the test corpus.
//! The `mixed` format is refused.
//!
//! Code map: `archive.rs` reads the zip (through `keel_bundle::archive`), `walk.rs` walks the
//! node tree and assembles the bundle, `ops/` converts each op (its table, [`SUPPORTED_OPS`],
//! lists what is converted and the attributes read), `context.rs` holds what the two share
//! (the node's documents and bindings, the columns so far); `attrs.rs`, `proto.rs` and
//! `trees.rs` decode MLeap's documents.
//!
//! The input schema: Bundle.ML does not record one, so it is inferred from the stages that read
//! a column no earlier stage wrote: a string indexer's input is `utf8`, every other input is an
//! `f64` scalar, or an `f64` vector where the stage takes a vector (its width from the stage's
//! parameters). Inputs are declared non-nullable: MLeap fails on a missing value. The outputs
//! are the columns written by the last stage of the pipeline.
//!
//! Everything in the zip is untrusted: it is read through keel's one hardened zip reader
//! ([`keel_bundle::archive`]: entry count, per-entry and total sizes and the compression ratio
//! bounded by [`keel_bundle::Limits`] while inflating, names checked, only stored or deflated
//! entries, duplicates and inconsistent headers refused), and every missing file, bad JSON document, unknown op or unsupported parameter is refused with
//! an [`ImportError`] that names the entry or node.

mod archive;
mod attrs;
mod context;
mod error;
mod ops;
pub mod proto;
mod trees;
mod walk;

pub use error::ImportError;
pub use ops::SUPPORTED_OPS;

use keel_bundle::{Bundle, Limits};

/// Whether `bytes` look like an MLeap Bundle.ML zip rather than a keel bundle: a zip with a
/// top-level `bundle.json` and no keel `manifest.json`/`manifest.pb`. Only the central
/// directory is read; a `true` is no promise that [`read`] will succeed.
pub fn is_bundle_ml(bytes: &[u8]) -> bool {
    let Ok(names) = keel_bundle::archive::entry_names(bytes) else {
        return false;
    };
    let has = |name: &str| names.iter().any(|n| n == name);
    has("bundle.json") && !has("manifest.json") && !has("manifest.pb")
}

/// Reads an MLeap Bundle.ML zip and converts it to a keel bundle, with the default limits.
pub fn read(bytes: &[u8]) -> Result<Bundle, ImportError> {
    read_with(bytes, &Limits::default())
}

/// [`read`] with explicit resource limits (entries, bytes, ratio, depth).
pub fn read_with(bytes: &[u8], limits: &Limits) -> Result<Bundle, ImportError> {
    let files = archive::Files::read(bytes, limits)?;
    walk::convert(&files, limits)
}
