//! Conformance targets `wasm_node`, `wasm_node_arrow` and `wasm_chromium`: keel's npm package
//! (built by `wasm/build.sh`) scoring every fixture case through its public `Bundle` API, in
//! Node (JSON rows, and Arrow IPC streams) and in headless Chromium (driven by
//! playwright-core), compared with the frameworks' own outputs by the conformance suite. In Chromium the same run also scores a case through the Web Worker
//! helper and one typed into the playground page, both held to the same references.
//!
//! Needs the package (`KEEL_WASM_PKG`, else `$CARGO_TARGET_DIR/keel-wasm-pkg`), Node with
//! wasm/'s npm packages, and for Chromium a browser (`KEEL_CHROMIUM`, else `chromium` on
//! `PATH`). `scripts/test` provides all of them; without one, a test says what is missing and
//! passes, except under CI (`CI` set), where it fails.
//!
//! The browser reads keel bundles: MLeap zips are converted with keel's importer first (as
//! `keel convert` does), and Spark saved models arrive converted by the suite already.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_conformance::tools::{chromium, on_path, unavailable, wasm_package};
use keel_conformance::{Case, Family, Outputs, Skip, Target, cases, check};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Cases these targets cannot run, with the reason. None: the package reads every type the
/// fixtures use (NaN answers come back as `null`, which the comparison knows).
const SKIPS: &[Skip] = &[];

fn wasm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the package answered, per case id.
struct Answers {
    name: &'static str,
    by_case: BTreeMap<String, Value>,
}

fn rows_to_outputs(rows: &Value) -> Result<Outputs, String> {
    let mut got = Outputs {
        // The JSON documents write NaN as null, as the REST server does.
        nan_as_null: true,
        ..Outputs::default()
    };
    for row in rows.as_array().ok_or("the answer has no rows")? {
        for (k, v) in row.as_object().ok_or("a row is not an object")? {
            got.columns.entry(k.clone()).or_default().push(v.clone());
        }
    }
    Ok(got)
}

impl Target for Answers {
    fn name(&self) -> &str {
        self.name
    }

    fn score(&self, case: &Case) -> Result<Outputs, String> {
        let answer = self
            .by_case
            .get(&case.id())
            .ok_or("the package gave no answer")?;
        if let Some(e) = answer.get("error") {
            return Err(format!("the package threw {e}"));
        }
        rows_to_outputs(&answer["rows"])
    }
}

/// The bundle file the package loads for a case: the fixture's bytes, with an MLeap zip
/// converted to a keel bundle first.
fn bundle_file(case: &Case, scratch: &Path) -> PathBuf {
    let bytes = if case.family == Family::Mleap {
        let loaded = keel_import::load::read_bytes(&case.bundle)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id()));
        loaded
            .bundle
            .to_bytes(keel_bundle::Encoding::Json)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id()))
    } else {
        case.bundle.clone()
    };
    let path = scratch.join(format!("{}-{}.keel", case.family, case.name));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn job_case(case: &Case, scratch: &Path) -> Value {
    let rows: Vec<Value> = case.input_rows().into_iter().map(Value::Object).collect();
    let bundle = bundle_file(case, scratch);
    let stem = format!("{}-{}", case.family, case.name);
    let ipc_in = scratch.join(format!("{stem}.in.arrows"));
    let ipc_out = scratch.join(format!("{stem}.out.arrows"));
    std::fs::write(&ipc_in, ipc_stream(case, &bundle)).unwrap();
    json!({
        "id": case.id(),
        "bundle": bundle,
        "rows": rows,
        "ipc_in": ipc_in,
        "ipc_out": ipc_out,
    })
}

/// The case's inputs as an Arrow IPC stream typed by the bundle's schema (keel-io's parsing of
/// the case's JSON values, the suite's Arrow input).
fn ipc_stream(case: &Case, bundle: &Path) -> Vec<u8> {
    let bytes = std::fs::read(bundle).unwrap();
    let read =
        keel_bundle::Bundle::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.id()));
    let batch = keel_conformance::arrow::input_batch(case, &read.manifest.inputs)
        .unwrap_or_else(|e| panic!("{}: {e}", case.id()));
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

/// The package's Arrow answers, per case id: read back from the files it wrote.
struct ArrowAnswers {
    by_case: BTreeMap<String, Value>,
}

impl Target for ArrowAnswers {
    fn name(&self) -> &str {
        "wasm_node_arrow"
    }

    fn score(&self, case: &Case) -> Result<Outputs, String> {
        let answer = self
            .by_case
            .get(&case.id())
            .ok_or("the package gave no Arrow answer")?;
        if let Some(e) = answer.get("error") {
            return Err(format!("the package threw {e}"));
        }
        let file = answer["file"].as_str().ok_or("no answer file")?;
        let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| e.to_string())?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let [batch] = batches.as_slice() else {
            return Err(format!(
                "{} batches in the answer, expected one",
                batches.len()
            ));
        };
        keel_conformance::arrow::outputs(batch)
    }
}

/// Runs score_cases.mjs over every case; `None` when a tool is missing (already reported). The
/// scratch folder is returned with the answers: the Arrow answers are files in it.
fn score_all(
    cases: &[Case],
    browser: Option<&Path>,
    playground: Option<&Case>,
) -> Option<(Value, tempfile::TempDir)> {
    let Some(pkg) = wasm_package() else {
        unavailable(
            "keel's npm package is not built (wasm/build.sh $CARGO_TARGET_DIR/keel-wasm-pkg)",
        );
        return None;
    };
    let Some(node) = on_path("node") else {
        unavailable("node not found");
        return None;
    };
    if browser.is_some() && !wasm_dir().join("node_modules/playwright-core").is_dir() {
        unavailable("playwright-core is not installed (npm ci in wasm/)");
        return None;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut job = Map::new();
    job.insert(
        "cases".into(),
        Value::Array(cases.iter().map(|c| job_case(c, scratch.path())).collect()),
    );
    if let Some(c) = playground {
        job.insert("playground".into(), job_case(c, scratch.path()));
    }
    let job_path = scratch.path().join("job.json");
    let out_path = scratch.path().join("out.json");
    std::fs::write(&job_path, Value::Object(job).to_string()).unwrap();
    let mut cmd = Command::new(node);
    cmd.arg(wasm_dir().join("tests/score_cases.mjs"))
        .arg(&pkg)
        .arg(&job_path)
        .arg(&out_path);
    if let Some(b) = browser {
        cmd.arg("--chromium").arg(b);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "score_cases.mjs failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let answers = serde_json::from_slice(&std::fs::read(out_path).unwrap()).unwrap();
    Some((answers, scratch))
}

fn answers(name: &'static str, out: &Value) -> Answers {
    Answers {
        name,
        by_case: out["results"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

#[test]
fn every_case_matches_its_framework_in_node_as_rows_and_as_arrow() {
    let cases = cases().unwrap_or_else(|e| panic!("{e}"));
    let Some((out, _scratch)) = score_all(&cases, None, None) else {
        return;
    };
    if let Err(failures) = check(&answers("wasm_node", &out), &cases, SKIPS) {
        panic!("{failures}");
    }
    let arrow = ArrowAnswers {
        by_case: out["arrow"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    if let Err(failures) = check(&arrow, &cases, SKIPS) {
        panic!("{failures}");
    }
}

#[test]
fn every_case_matches_its_framework_in_chromium_and_so_do_the_worker_and_the_playground() {
    let cases = cases().unwrap_or_else(|e| panic!("{e}"));
    let Some(browser) = chromium() else {
        return unavailable(
            "Chromium not found (apt-get install -y chromium, or set KEEL_CHROMIUM)",
        );
    };
    // The playground case: a scikit-learn pipeline with strings and missing values, typed in as
    // JSON rows.
    let playground = cases
        .iter()
        .find(|c| c.id() == "sklearn/mixed_ct_onehot_logreg")
        .or_else(|| cases.iter().find(|c| c.family == Family::Sklearn))
        .cloned();
    let Some((out, _scratch)) = score_all(&cases, Some(&browser), playground.as_ref()) else {
        return;
    };
    if let Err(failures) = check(&answers("wasm_chromium", &out), &cases, SKIPS) {
        panic!("{failures}");
    }
    // The worker and the playground, each on its own case, against the same references.
    for key in ["worker", "playground"] {
        let part = &out[key];
        let id = part["id"].as_str().unwrap().to_string();
        let case = cases.iter().find(|c| c.id() == id).unwrap();
        let single = Answers {
            name: if key == "worker" {
                "wasm_worker"
            } else {
                "wasm_playground"
            },
            by_case: [(id.clone(), part.clone())].into(),
        };
        if let Err(failures) = check(&single, std::slice::from_ref(case), SKIPS) {
            panic!("{key}: {failures}");
        }
    }
}
