//! `keel score --sandbox`: the same answers as in process (to the last bit but for libm's
//! functions; the linear demo's CSV byte for byte) on fixture bundles
//! of several families (linear, forest, boosted trees with categories, an MLP) and the demo
//! pipeline; a batch past its fuel budget or deadline fails with the sandbox's message and
//! exit status 1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn keel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .output()
        .unwrap()
}

/// A fixture's io.json inputs as JSON lines, repeated to `rows` rows.
fn jsonl(dir: &Path, rows: usize) -> String {
    let io: Value = serde_json::from_slice(&std::fs::read(dir.join("io.json")).unwrap()).unwrap();
    let inputs = io["inputs"].as_object().unwrap();
    let n = inputs.values().next().unwrap().as_array().unwrap().len();
    (0..rows.max(n))
        .map(|r| {
            let row: serde_json::Map<String, Value> = inputs
                .iter()
                .map(|(k, v)| (k.clone(), v[r % n].clone()))
                .collect();
            format!("{}\n", Value::Object(row))
        })
        .collect()
}

/// Whether two answers agree: the same shape and strings, numbers within 1e-12 relative. The
/// guest's `exp`, `ln` and `tanh` are Rust's libm (wasm has no platform math library), which
/// may differ from the platform's in the last bit; every other op is bit for bit the same.
fn agree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| agree(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| agree(v, w)))
        }
        _ => a == b,
    }
}

/// Two JSON lines outputs that agree line by line.
fn same_lines(a: &str, b: &str) -> bool {
    a.lines().count() == b.lines().count()
        && a.lines().zip(b.lines()).all(|(x, y)| {
            agree(
                &serde_json::from_str(x).unwrap(),
                &serde_json::from_str(y).unwrap(),
            )
        })
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn sandboxed_scores_equal_in_process_scores() {
    let scratch = tempfile::tempdir().unwrap();
    for name in [
        "iris_logreg",
        "airbnb_rf",
        "mixed_hgb_clf",
        "diabetes_mlp_regressor",
    ] {
        let dir = fixtures().join("sklearn").join(name);
        let input = scratch.path().join(format!("{name}.jsonl"));
        std::fs::write(&input, jsonl(&dir, 0)).unwrap();
        let bundle = dir.join("model.keel");
        let args = [bundle.to_str().unwrap(), input.to_str().unwrap()];
        let native = ok(&keel(&[&["score"][..], &args].concat()));
        let sandboxed = ok(&keel(&[&["score"][..], &args, &["--sandbox"]].concat()));
        assert!(!native.is_empty());
        assert!(
            same_lines(&sandboxed, &native),
            "{name}:\n{sandboxed}\n{native}"
        );
    }
    // The demo pipeline, CSV in and out, in batches of 3 rows (several calls).
    let demo = fixtures().join("demo");
    let args = [
        "score",
        demo.join("airbnb_linear.keel").to_str().unwrap(),
        demo.join("airbnb.csv").to_str().unwrap(),
        "--batch-size",
        "3",
    ]
    .map(str::to_string);
    let native = ok(&Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(&args)
        .output()
        .unwrap());
    let sandboxed = ok(&Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(&args)
        .arg("--sandbox")
        .output()
        .unwrap());
    assert_eq!(sandboxed, native);
}

#[test]
fn a_batch_past_its_budget_fails_with_the_sandboxs_message() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = fixtures().join("sklearn").join("airbnb_rf");
    let input = scratch.path().join("rows.jsonl");
    std::fs::write(&input, jsonl(&dir, 50_000)).unwrap();
    let bundle = dir.join("model.keel");
    let (bundle, input) = (bundle.to_str().unwrap(), input.to_str().unwrap());

    let out = keel(&[
        "score",
        bundle,
        input,
        "--sandbox",
        "--sandbox-fuel",
        "1000000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fuel budget of 1000000"), "{stderr}");
    assert!(stderr.contains("--batch-size"), "the hint: {stderr}");

    let out = keel(&[
        "score",
        bundle,
        input,
        "--batch-size",
        "50000",
        "--sandbox",
        "--sandbox-timeout",
        "5ms",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deadline of 5ms"), "{stderr}");

    // The budget flags belong to --sandbox.
    let out = keel(&["score", bundle, input, "--sandbox-fuel", "10"]);
    assert_eq!(out.status.code(), Some(2));
}
