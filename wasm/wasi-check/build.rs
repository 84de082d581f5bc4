//! Builds keel's WASI module (`wasm/wasi` for `wasm32-wasip1`) for this crate's tests, with the
//! nested cargo build the sandbox uses (`sandbox/build_guest.rs`); `KEEL_WASI_WASM=path` takes
//! a prebuilt `keel-wasi.wasm` instead (as `wasm/build.sh --wasi` writes it).

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../../sandbox/build_guest.rs"]
mod build_guest;

/// What the module is made of besides [`build_guest::CORE_SOURCES`].
const SOURCES: &[&str] = &["wasm/wasi/src", "wasm/wasi/Cargo.toml"];

fn main() {
    let wasm = build_guest::build(
        &build_guest::Guest {
            package: "keel-wasi",
            target: "wasm32-wasip1",
            file: "keel-wasi.wasm",
            prebuilt_env: "KEEL_WASI_WASM",
            // The flags of `wasm/build.sh --wasi`.
            rustflags: "-C target-feature=+simd128",
        },
        &[build_guest::CORE_SOURCES, SOURCES].concat(),
    );
    // Without the wasm32-wasip1 target the tests have no module to run: they say so and skip
    // (fail under CI, whose scripts/test installs the target).
    let wasm = wasm.map(|p| p.display().to_string()).unwrap_or_default();
    println!("cargo:rustc-env=KEEL_WASI_MODULE={wasm}");
}
