//! End-to-end tests of ONNX models through the `keel` binary: `keel convert --from onnx`, then
//! `keel score` on the converted bundle and on the `.onnx` file itself, compared with the
//! outputs ONNX Runtime computed for the same inputs (`fixtures/onnx/cases.json`, written by
//! `fixtures/onnx/generate.py`), within the `onnx_f32` tolerance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_runtime::tolerance::Tolerance;
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx")
}

fn cases() -> serde_json::Map<String, J> {
    let text = std::fs::read(fixtures().join("cases.json")).unwrap();
    serde_json::from_slice::<J>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rows of JSON lines from a case's inputs: for a model with a batch dimension each row is one
/// index of it; for a fixed-shape model (one row holding each whole tensor) the one row is the
/// whole input.
fn jsonl(inputs: &serde_json::Map<String, J>, one_row: bool) -> String {
    if one_row {
        return format!("{}\n", J::Object(inputs.clone()));
    }
    let rows = inputs.values().next().unwrap().as_array().unwrap().len();
    let mut out = String::new();
    for i in 0..rows {
        let row: serde_json::Map<String, J> = inputs
            .iter()
            .map(|(k, v)| (k.clone(), v[i].clone()))
            .collect();
        out.push_str(&J::Object(row).to_string());
        out.push('\n');
    }
    out
}

/// Flattens nested JSON arrays of numbers.
fn flat(v: &J, out: &mut Vec<f64>) {
    match v {
        J::Array(items) => items.iter().for_each(|i| flat(i, out)),
        J::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("not a number: {other}"),
    }
}

fn compare(name: &str, output: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}.{output}: element count");
    let tol = Tolerance::ONNX_F32.tolerance().unwrap();
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("{name}.{output}: max |keel - ONNX Runtime| = {worst:e}");
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            tol.accepts(*a, *b),
            "{name}.{output}[{k}]: keel {a}, ONNX Runtime {b}"
        );
    }
}

fn score_and_check(name: &str, case: &J, model: &Path, dir: &Path) {
    let one_row = name == "fixed";
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, jsonl(case["inputs"].as_object().unwrap(), one_row)).unwrap();
    let output = dir.join(format!("{name}.out.jsonl"));
    let _ = std::fs::remove_file(&output);
    ok(&keel()
        .arg("score")
        .arg(model)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap());
    let text = std::fs::read_to_string(&output).unwrap();
    for (out_name, want) in case["outputs"].as_object().unwrap() {
        let mut got = Vec::new();
        for line in text.lines() {
            let row: J = serde_json::from_str(line).unwrap();
            flat(&row[out_name], &mut got);
        }
        let mut reference = Vec::new();
        flat(want, &mut reference);
        compare(name, out_name, &got, &reference);
    }
}

#[test]
fn converted_onnx_models_score_like_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    for (name, case) in cases() {
        let model = fixtures().join(case["model"].as_str().unwrap());
        let bundle = dir.path().join(format!("{name}.keel"));
        ok(&keel()
            .args(["convert", "--from", "onnx"])
            .arg(&model)
            .arg(&bundle)
            .output()
            .unwrap());
        score_and_check(&name, &case, &bundle, dir.path());
    }
}

#[test]
fn an_onnx_file_scores_directly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let case = &cases["cnn"];
    score_and_check("cnn", case, &fixtures().join("cnn.onnx"), dir.path());
    let out = keel()
        .arg("validate")
        .arg(fixtures().join("cnn.onnx"))
        .output()
        .unwrap();
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("an ONNX model, imported"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_unsupported_op_is_listed_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("never.keel");
    let out = keel()
        .args(["convert", "--from", "onnx"])
        .arg(fixtures().join("unsupported.onnx"))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["Frobnicate", "Defrobnicate", "first", "second"] {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
    assert!(!bundle.exists(), "nothing may be written");
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"x\": [1, 2, 3, 4]}\n{\"x\": [1, 2, 3]}\n").unwrap();
    let out = keel()
        .arg("score")
        .arg(fixtures().join("mlp.onnx"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("row 1") && err.contains("`x`") && err.contains("expected 4 elements"),
        "{err}"
    );
}
