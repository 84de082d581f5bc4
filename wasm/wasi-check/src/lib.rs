//! Tests of keel's WASI module under wasmtime; the tests are in `tests/`, and this crate's build
//! script builds the module they run (`KEEL_WASI_MODULE`, the path of `keel-wasi.wasm`).

/// The path of the WASI module this crate's tests run.
pub const MODULE: &str = env!("KEEL_WASI_MODULE");
