//! Builds a wasm crate of this workspace from a build script, with a nested `cargo build`:
//! shared by keel-sandbox's build script (the sandbox guest, `wasm32-unknown-unknown`) and
//! keel-wasi-check's (the WASI module, `wasm32-wasip1`).
//!
//! The nested build gets its own target folder (`<target dir>/sandbox-guest`, beside the
//! outer build's profiles, so debug, release, clippy and doc builds share one guest build):
//! the outer cargo holds the lock of its own folder while build scripts run, so sharing it
//! would deadlock. The wrappers `cargo clippy` sets (`RUSTC_WORKSPACE_WRAPPER`) and the outer
//! build's flags are removed from the nested build's environment: the guest is compiled, not
//! linted, and with its own flags.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What every guest is made of besides its own package (the runtime, keel-io, the bundle
/// crate, the lock file and the tolerances compiled in): a change to any of these rebuilds it.
pub const CORE_SOURCES: &[&str] = &[
    "Cargo.lock",
    "Cargo.toml",
    "runtime/src",
    "runtime/Cargo.toml",
    "io/src",
    "io/Cargo.toml",
    "bundle-spec/src",
    "bundle-spec/proto",
    "bundle-spec/build.rs",
    "bundle-spec/Cargo.toml",
    "fixtures/tolerances.json",
];

/// A wasm artefact to build: a package of the workspace for a target, in the `sandbox` profile.
pub struct Guest<'a> {
    /// The package (`-p`).
    pub package: &'a str,
    /// The target triple.
    pub target: &'a str,
    /// The file cargo writes, under `<target>/<triple>/sandbox/`.
    pub file: &'a str,
    /// An environment variable naming a prebuilt file, which skips the build.
    pub prebuilt_env: &'a str,
    /// The nested build's RUSTFLAGS.
    pub rustflags: &'a str,
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: {message}\n");
    std::process::exit(1);
}

/// The outer build's target folder: the first ancestor of OUT_DIR that cargo tagged as a
/// target folder (CACHEDIR.TAG), else OUT_DIR itself.
fn target_root(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|a| a.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out_dir)
        .to_path_buf()
}

fn sysroot(rustc: &str) -> Option<PathBuf> {
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

fn target_installed(rustc: &str, target: &str) -> bool {
    sysroot(rustc).is_some_and(|root| root.join("lib/rustlib").join(target).join("lib").is_dir())
}

/// The folder whose change (a target installed with rustup) reruns a build that went without.
fn rustc_sysroot_marker(rustc: &str, _target: &str) -> String {
    sysroot(rustc)
        .map(|root| root.join("lib/rustlib").display().to_string())
        .unwrap_or_default()
}

/// Builds `guest` (or takes the prebuilt file) and returns the path of the .wasm, or `None`
/// when its Rust target is not installed (with a cargo warning saying how to add it); prints
/// the `rerun-if` lines that make cargo rebuild it when the sources it is made of change.
pub fn build(guest: &Guest<'_>, sources: &[&str]) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed={}", guest.prebuilt_env);
    if let Some(path) = std::env::var_os(guest.prebuilt_env) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            fail(&format!(
                "{} points at `{}`, which is not a file",
                guest.prebuilt_env,
                path.display()
            ));
        }
        println!("cargo:rerun-if-changed={}", path.display());
        return Some(path);
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .ancestors()
        .find(|a| a.join("Cargo.lock").is_file())
        .unwrap_or(&manifest_dir)
        .to_path_buf();
    for source in sources {
        println!("cargo:rerun-if-changed={}", root.join(source).display());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if !target_installed(&rustc, guest.target) {
        // Not an error: keel without the module still builds and runs (the quick start on a
        // machine with only the host target); what needs the module says so when used.
        println!(
            "cargo:warning={} is built for the Rust target {target}, which is not installed: \
             building without it (`rustup target add {target}` and rebuild, or point {env} at \
             a prebuilt {file})",
            guest.package,
            target = guest.target,
            env = guest.prebuilt_env,
            file = guest.file,
        );
        println!(
            "cargo:rerun-if-changed={}",
            rustc_sysroot_marker(&rustc, guest.target)
        );
        return None;
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let target_dir = target_root(&out_dir).join("sandbox-guest");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--profile", "sandbox", "--target"])
        .arg(guest.target)
        .args(["-p", guest.package])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", guest.rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo to build {}: {e}", guest.package)));
    if !output.status.success() {
        fail(&format!(
            "building {} for {} failed:\n{}",
            guest.package,
            guest.target,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let built = target_dir
        .join(guest.target)
        .join("sandbox")
        .join(guest.file);
    if !built.is_file() {
        fail(&format!(
            "cargo built {} but `{}` is missing",
            guest.package,
            built.display()
        ));
    }
    Some(built)
}
