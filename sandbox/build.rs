//! Builds the sandbox's guest (`wasm/sandbox-guest` for `wasm32-unknown-unknown`) so that
//! `src/engine.rs` can embed it with `include_bytes!`. `KEEL_SANDBOX_WASM=path` takes a
//! prebuilt module instead (a packager that builds the guest once, or a machine without the
//! wasm32 target).
//!
//! `cargo clippy` and `cargo doc` of the workspace run this script too and so build the guest
//! once (about two minutes on two cores from clean, then nothing until the runtime, keel-io,
//! the bundle crate or the guest change), since the crate cannot compile without the bytes.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "build_guest.rs"]
mod build_guest;

/// What the guest is made of besides [`build_guest::CORE_SOURCES`].
const SOURCES: &[&str] = &["wasm/sandbox-guest"];

fn main() {
    let wasm = build_guest::build(
        &build_guest::Guest {
            package: "keel-sandbox-guest",
            target: "wasm32-unknown-unknown",
            file: "keel_sandbox_guest.wasm",
            prebuilt_env: "KEEL_SANDBOX_WASM",
            // SIMD128, as the browser build.
            rustflags: "-C target-feature=+simd128",
        },
        &[build_guest::CORE_SOURCES, SOURCES].concat(),
    );
    // Without the wasm32 target an empty module is embedded: keel builds and runs, and
    // `--sandbox` says what to install (`Sandbox::new`).
    let wasm = wasm.unwrap_or_else(|| {
        let empty = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default())
            .join("no_guest.wasm");
        if let Err(e) = std::fs::write(&empty, b"") {
            eprintln!("error: cannot write {}: {e}", empty.display());
            std::process::exit(1);
        }
        empty
    });
    println!("cargo:rustc-env=KEEL_SANDBOX_GUEST={}", wasm.display());
}
