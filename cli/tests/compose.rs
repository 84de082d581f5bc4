//! `keel compose` end to end: the two parts of `fixtures/compose/sklearn_ct_mlp` (a scikit-learn
//! ColumnTransformer's bundle and the torch MLP trained on its output, as ONNX) joined by the
//! binary, then `keel score` on the result, compared with what scikit-learn then PyTorch computed
//! for the same rows (io.json, written by `fixtures/compose/generate.py`) within `onnx_f32`; and
//! the command's refusals, with nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_runtime::tolerance::Tolerance;
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/compose/sklearn_ct_mlp")
}

fn compose(out: &Path, extra: &[&str]) -> Output {
    let dir = case_dir();
    keel()
        .arg("compose")
        .arg(dir.join("features.keel"))
        .arg(dir.join("network.onnx"))
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn composed_parts_score_like_scikit_learn_then_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model.keel");
    let out = compose(&model, &["--name", "ct_mlp"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("outputs output"), "{said}");

    let io: J =
        serde_json::from_slice(&std::fs::read(case_dir().join("io.json")).unwrap()).unwrap();
    let inputs = io["inputs"].as_object().unwrap();
    let rows = inputs.values().next().unwrap().as_array().unwrap().len();
    let mut lines = String::new();
    for i in 0..rows {
        let row: serde_json::Map<String, J> = inputs
            .iter()
            .map(|(k, v)| (k.clone(), v[i].clone()))
            .collect();
        lines.push_str(&J::Object(row).to_string());
        lines.push('\n');
    }
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, lines).unwrap();
    let scored = tmp.path().join("out.jsonl");
    let out = keel()
        .arg("score")
        .arg(&model)
        .arg(&input)
        .arg("-o")
        .arg(&scored)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let tol = Tolerance::ONNX_F32.tolerance().unwrap();
    let text = std::fs::read_to_string(&scored).unwrap();
    let want = io["outputs"]["output"].as_array().unwrap();
    assert_eq!(text.lines().count(), want.len());
    let mut worst = 0.0f64;
    for (r, (line, want)) in text.lines().zip(want).enumerate() {
        let got: J = serde_json::from_str(line).unwrap();
        let got = got["output"].as_array().unwrap();
        let want = want.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "row {r}");
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            worst = worst.max((g - w).abs());
            assert!(tol.accepts(g, w), "row {r}[{k}]: keel {g}, torch {w}");
        }
    }
    eprintln!("keel compose + keel score: max |keel - torch(ct.transform)| = {worst:e}");
}

#[test]
fn refusals_name_the_input_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model.keel");
    let out = compose(&model, &["--connect", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not INPUT=COLUMN"),
        "{}",
        stderr(&out)
    );

    let out = compose(&model, &["--connect", "nope=features"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`nope` is not an input of the network"),
        "{}",
        stderr(&out)
    );

    let out = compose(&model, &["--connect", "x=age,income"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains("network input `x`") && msg.contains("`age` f64[] + `income` f64[]"),
        "{msg}"
    );

    let out = compose(&model, &["--keep", "nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`nothing`"), "{}", stderr(&out));
    assert!(!model.exists(), "a refused composition wrote a file");
}
