//! Importers: translate models saved by other tools into keel bundles, so users can bring the
//! models they already have; and [`load`], which reads a keel bundle or an MLeap zip told apart
//! by content, the one reader behind every entry point that scores; and [`compose`], which joins
//! a feature pipeline's bundle and a network's into one. Each importer reads the foreign format defensively (the same
//! hostile-input rules as the bundle reader: bounded sizes, checked paths, typed errors naming
//! the entry) and emits a `keel_bundle::Bundle` whose ops reproduce the original framework's
//! numbers. This crate is for the command line, the server, Python and the Spark JVM engine:
//! it is never built into the runtime or the browser package (ARCHITECTURE.md, "heavy translation code stays out of what
//! ships to the browser").

pub mod compose;
mod emit;
pub mod load;
pub mod mleap;
pub mod onnx;
pub mod spark_ml;
