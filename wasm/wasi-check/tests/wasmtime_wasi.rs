//! keel's WASI module (`keel-wasi`, built for `wasm32-wasip1`) run as an edge host runs it:
//! wasmtime with WASI preview 1, the bundle in the one preopened folder, rows on standard input
//! and scores on standard output. Scores are compared with the frameworks' own outputs (the
//! fixtures' io.json, through the conformance suite's comparison); a refused input gives the
//! JSON error line on standard error and exit status 1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_conformance::{Family, Outputs, case::read_case, compare};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// The engine and the compiled module, shared by the tests (compiling takes seconds).
fn module() -> &'static (Engine, Module) {
    static MODULE: OnceLock<(Engine, Module)> = OnceLock::new();
    MODULE.get_or_init(|| {
        let engine = Engine::default();
        let module = Module::from_file(&engine, keel_wasi_check::MODULE).unwrap();
        (engine, module)
    })
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `keel-wasi ARGS` with `dir` preopened as `.` (read-only) and `stdin` as input.
fn run(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let (engine, module) = module();
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
    let stdout = MemoryOutputPipe::new(64 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let wasi = WasiCtxBuilder::new()
        .stdin(MemoryInputPipe::new(stdin.to_vec()))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg("keel-wasi")
        .args(args)
        .preopened_dir(dir, ".", FsPerms::ReadOnly)
        .unwrap()
        .build_p1();
    let mut store = Store::new(engine, wasi);
    let instance = linker.instantiate(&mut store, module).unwrap();
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    let status = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => panic!("keel-wasi trapped: {e}"),
        },
    };
    drop(store);
    Run {
        status,
        stdout: String::from_utf8(stdout.contents().to_vec()).unwrap(),
        stderr: String::from_utf8(stderr.contents().to_vec()).unwrap(),
    }
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The answer lines as the comparison's outputs (JSON has no NaN: it is written as null).
fn outputs(stdout: &str) -> Outputs {
    let mut got = Outputs {
        nan_as_null: true,
        ..Outputs::default()
    };
    for line in stdout.lines() {
        let row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        for (k, v) in row {
            got.columns.entry(k).or_default().push(v);
        }
    }
    got
}

#[test]
fn scores_equal_the_frameworks_outputs() {
    let cases = [
        "iris_logreg",
        "airbnb_rf",
        "diabetes_mlp_regressor",
        "mixed_hgb_clf",
    ];
    for name in cases {
        let dir = fixtures().join("sklearn").join(name);
        let case = read_case(Family::Sklearn, &dir).unwrap();
        let input: String = case
            .input_rows()
            .into_iter()
            .map(|row| format!("{}\n", Value::Object(row)))
            .collect();
        let out = run(&dir, &["model.keel"], input.as_bytes());
        assert_eq!(out.status, 0, "{name}: {}", out.stderr);
        let result = compare::compare(&case, &outputs(&out.stdout));
        assert!(
            result.mismatches.is_empty(),
            "{name}: {:?}",
            result.mismatches
        );
    }
}

#[test]
fn a_refused_input_gives_the_error_line_and_status_1() {
    let dir = fixtures().join("sklearn").join("iris_logreg");
    let rows = "{\"sepal length (cm)\": 5.1, \"sepal width (cm)\": 3.5, \"petal length (cm)\": 1.4, \
                \"petal width (cm)\": 0.2}\n{\"sepal length (cm)\": \"wide\", \"sepal width (cm)\": 3.5, \
                \"petal length (cm)\": 1.4, \"petal width (cm)\": 0.2}\n";
    let out = run(&dir, &["model.keel"], rows.as_bytes());
    assert_eq!(out.status, 1, "{}", out.stderr);
    let line: Value = serde_json::from_str(out.stderr.trim()).unwrap();
    let error = &line["error"];
    assert_eq!(error["code"], "bad_value", "{line}");
    assert_eq!(error["column"], "sepal length (cm)", "{line}");
    assert_eq!(error["row"], 1, "{line}");

    // A bundle outside the preopened folder cannot be read: WASI gives the module nothing else.
    let out = run(&dir, &["../iris_tree/model.keel"], b"");
    assert_eq!(out.status, 1, "{}", out.stderr);
    let line: Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(line["error"]["code"], "read_bundle", "{line}");

    let out = run(&dir, &["--nope"], b"");
    assert_eq!(out.status, 2, "{}", out.stderr);
}
