//! End-to-end tests of the `keel` binary: each test spawns the built executable, as a user or a
//! worker's parent process would, and checks its output, exit status and messages.
//!
//! Scores are compared with the reference outputs scikit-learn produced for the checked-in
//! fixtures (`fixtures/sklearn/*/io.json`), under each output's named tolerance; nothing here
//! compares keel with itself except where the claim is "identical" (a converted bundle scores
//! exactly like the original).

// Helpers of a test file are not `#[test]` functions, so clippy.toml's test allowances do not
// reach them; a panic here is a failed test, not a crash in front of a user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use keel_runtime::tolerance::Tolerance;
use serde_json::{Map, Value as J};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIXTURES: [&str; 2] = ["iris_logreg", "diabetes_ct_linreg"];
const FORMATS: [&str; 4] = ["csv", "jsonl", "arrow", "arrows"];

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sklearn")
        .join(name)
}

fn bundle(name: &str) -> PathBuf {
    fixture_dir(name).join("model.keel")
}

/// A fixture's reference data: inputs and scikit-learn's outputs, by column.
struct Case {
    name: String,
    inputs: Map<String, J>,
    outputs: Map<String, J>,
    tolerance: Map<String, J>,
    rows: usize,
}

fn case(name: &str) -> Case {
    let io: J =
        serde_json::from_slice(&std::fs::read(fixture_dir(name).join("io.json")).unwrap()).unwrap();
    let inputs = io["inputs"].as_object().unwrap().clone();
    let rows = inputs.values().next().unwrap().as_array().unwrap().len();
    Case {
        name: name.to_string(),
        inputs,
        outputs: io["outputs"].as_object().unwrap().clone(),
        tolerance: io["tolerance"].as_object().unwrap().clone(),
        rows,
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` with `stdin` piped in; returns its output.
fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Write from a thread: the child may fill its stdout pipe before it has read all input.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Asserts a failure with exit status `code`, a message on stderr, and no panic.
fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "the tool panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "keel failed: {}", stderr(out));
}

// --- writing inputs ----------------------------------------------------------------------------

fn csv_cell(v: &J) -> String {
    match v {
        J::Null => String::new(),
        J::Number(n) => n.as_f64().unwrap().to_string(),
        J::String(s) => s.clone(),
        J::Bool(b) => b.to_string(),
        other => panic!("no CSV form for {other}"),
    }
}

/// The inputs as CSV. The columns come in the JSON map's (alphabetical) order, not the
/// bundle's, so every test also checks that columns are matched by name.
fn input_csv(c: &Case) -> Vec<u8> {
    let names: Vec<&String> = c.inputs.keys().collect();
    let mut s = names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for i in 0..c.rows {
        let row: Vec<String> = names.iter().map(|n| csv_cell(&c.inputs[*n][i])).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s.into_bytes()
}

fn input_jsonl(c: &Case) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..c.rows {
        let row: Map<String, J> = c
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v[i].clone()))
            .collect();
        s.push_str(&serde_json::to_string(&row).unwrap());
        s.push('\n');
    }
    s.into_bytes()
}

/// The inputs as Arrow batches of at most 16 rows (several batches per fixture).
fn input_batches(c: &Case) -> (Arc<Schema>, Vec<RecordBatch>) {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, values) in &c.inputs {
        let values = values.as_array().unwrap();
        if values.iter().any(J::is_string) {
            fields.push(ArrowField::new(name, DataType::Utf8, true));
            columns.push(Arc::new(
                values.iter().map(J::as_str).collect::<StringArray>(),
            ));
        } else {
            fields.push(ArrowField::new(name, DataType::Float64, true));
            columns.push(Arc::new(
                values.iter().map(J::as_f64).collect::<Float64Array>(),
            ));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let all = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let batches = (0..c.rows)
        .step_by(16)
        .map(|start| all.slice(start, 16.min(c.rows - start)))
        .collect();
    (schema, batches)
}

fn input_bytes(c: &Case, format: &str) -> Vec<u8> {
    match format {
        "csv" => input_csv(c),
        "jsonl" => input_jsonl(c),
        "arrow" => {
            let (schema, batches) = input_batches(c);
            let mut w = arrow_ipc::writer::FileWriter::try_new(Vec::new(), &schema).unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
            w.into_inner().unwrap()
        }
        "arrows" => {
            let (schema, batches) = input_batches(c);
            let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &schema).unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
            w.into_inner().unwrap()
        }
        other => panic!("unknown format {other}"),
    }
}

// --- reading outputs ---------------------------------------------------------------------------

/// Output columns by name; a vector column's rows are arrays.
type Columns = Map<String, J>;

fn push(cols: &mut Columns, name: &str, v: J) {
    cols.entry(name.to_string())
        .or_insert_with(|| J::Array(Vec::new()))
        .as_array_mut()
        .unwrap()
        .push(v);
}

/// Reads CSV output back, regrouping `p[element]` columns into vectors. Cells stay text; the
/// comparison parses them as numbers where scikit-learn's value is a number.
fn read_csv(bytes: &[u8], c: &Case) -> Columns {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let base = |h: &str| {
        h.split_once('[')
            .map_or(h.to_string(), |(b, _)| b.to_string())
    };
    let mut cols = Columns::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{}: ragged CSV output", c.name);
        let mut row: Map<String, J> = Map::new();
        for (h, cell) in header.iter().zip(cells) {
            let v = J::String(cell.to_string());
            if h.contains('[') {
                row.entry(base(h))
                    .or_insert_with(|| J::Array(Vec::new()))
                    .as_array_mut()
                    .unwrap()
                    .push(v);
            } else {
                row.insert(h.to_string(), v);
            }
        }
        for (k, v) in row {
            push(&mut cols, &k, v);
        }
    }
    cols
}

fn read_jsonl(bytes: &[u8]) -> Columns {
    let mut cols = Columns::new();
    for line in std::str::from_utf8(bytes).unwrap().lines() {
        let row: Map<String, J> = serde_json::from_str(line).unwrap();
        for (k, v) in row {
            push(&mut cols, &k, v);
        }
    }
    cols
}

fn array_values(a: &ArrayRef) -> Vec<J> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return s.iter().map(|v| J::from(v.unwrap())).collect();
    }
    if let Some(l) = a.as_fixed_size_list_opt() {
        return (0..l.len())
            .map(|i| J::Array(array_values(&l.value(i))))
            .collect();
    }
    a.as_primitive::<Float64Type>()
        .iter()
        .map(|v| serde_json::json!(v.unwrap()))
        .collect()
}

fn batches_to_columns(batches: impl Iterator<Item = RecordBatch>) -> Columns {
    let mut cols = Columns::new();
    for b in batches {
        for (f, a) in b.schema().fields().iter().zip(b.columns()) {
            for v in array_values(a) {
                push(&mut cols, f.name(), v);
            }
        }
    }
    cols
}

fn read_output(bytes: &[u8], format: &str, c: &Case) -> Columns {
    match format {
        "csv" => read_csv(bytes, c),
        "jsonl" => read_jsonl(bytes),
        "arrow" => {
            let r = arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes.to_vec()), None)
                .expect("an Arrow IPC file");
            batches_to_columns(r.map(Result::unwrap))
        }
        "arrows" => {
            let r = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes.to_vec()), None)
                .expect("an Arrow IPC stream");
            batches_to_columns(r.map(Result::unwrap))
        }
        other => panic!("unknown format {other}"),
    }
}

// --- comparing with scikit-learn ---------------------------------------------------------------

fn number(v: &J) -> f64 {
    match v {
        J::Number(n) => n.as_f64().unwrap(),
        J::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")),
        },
        J::Null => f64::NAN,
        other => panic!("not a number: {other}"),
    }
}

fn compare(got: &J, want: &J, tol: Tolerance, ctx: &str) {
    match want {
        J::Array(w) => {
            let g = got
                .as_array()
                .unwrap_or_else(|| panic!("{ctx}: not a vector: {got}"));
            assert_eq!(g.len(), w.len(), "{ctx}: vector width");
            for (j, (a, b)) in g.iter().zip(w).enumerate() {
                compare(a, b, tol, &format!("{ctx}[{j}]"));
            }
        }
        J::String(w) if !matches!(w.as_str(), "NaN" | "Infinity" | "-Infinity") => {
            assert_eq!(got.as_str(), Some(w.as_str()), "{ctx}");
        }
        _ => {
            let (a, b) = (number(got), number(want));
            assert!(
                tol.accepts(a, b),
                "{ctx}: keel {a:e} vs scikit-learn {b:e} ({tol:?})"
            );
        }
    }
}

/// Asserts that `got` holds exactly the fixture's outputs, matching scikit-learn.
fn check(c: &Case, got: &Columns, how: &str) {
    let mut names: Vec<&String> = got.keys().collect();
    names.sort();
    let mut want: Vec<&String> = c.outputs.keys().collect();
    want.sort();
    assert_eq!(names, want, "{} ({how}): output columns", c.name);
    for (col, want) in &c.outputs {
        let tol = Tolerance::by_name(c.tolerance[col].as_str().unwrap()).unwrap();
        let want = want.as_array().unwrap();
        let got = got[col].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{} ({how}): rows of {col}", c.name);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            compare(g, w, tol, &format!("{} ({how}) {col} row {i}", c.name));
        }
    }
}

// --- inspect, validate, ops --------------------------------------------------------------------

#[test]
fn inspect_prints_the_bundle() {
    let out = keel()
        .arg("inspect")
        .arg(bundle("iris_logreg"))
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "iris_logreg",
        "b2af245b-4dbd-4174-afcd-ed1af0bc1efc", // uid
        "keel.sklearn 0.1.0 (scikit-learn 1.9.1)",
        "keel-bundle 1.0.0, json encoding",
        "backends  cpu (2 steps)",
        "sepal length (cm)  f64  nullable",
        "probability  f64[3]  not null  names: setosa, versicolor, virginica",
        "logisticregression [sklearn.linear]",
        "X <- standard_scaler.Y",
        "mean   f64s[4]",
        "coef       tensor F64[3, 4] (tensors/model.safetensors#logisticregression/coef)",
        "link       str \"softmax\"",
        "tensors/model.safetensors  184 B",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // Nested nodes are indented below their pipeline; the exporter's root pipeline, which
    // only wraps scikit-learn's Pipeline with the same columns, is not shown as a level.
    assert!(text.contains("\n  pipeline_2 [pipeline]"), "{text}");
    assert!(!text.contains("\n  pipeline [pipeline]"), "{text}");
    assert!(
        text.contains("\n    standard_scaler [sklearn.standard_scaler]"),
        "{text}"
    );
}

/// A tree ensemble reads as a summary, not as its node arrays, in the text and the JSON. The
/// figures are scikit-learn's own for fixtures/cases/trees.py::mixed_hgb_clf (45 `_predictors`
/// of 15 nodes, the deepest node at depth 7, `n_features_in_` 7, 3 classes), not keel's.
#[test]
fn inspect_summarises_a_tree_ensemble() {
    let want = "45 trees · 675 nodes · depth ≤ 7 · 7 features · 3 classes";
    let out = keel()
        .arg("inspect")
        .arg(bundle("mixed_hgb_clf"))
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "histgradientboostingclassifier [sklearn.hist_gradient_boosting]  # HistGradientBoostingClassifier (HistGradientBoostingClassifier)\n      {want}\n"
        )),
        "{text}"
    );
    let out = keel()
        .args(["inspect", "--json"])
        .arg(bundle("mixed_hgb_clf"))
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: J = serde_json::from_slice(&out.stdout).unwrap();
    let mut summaries = Vec::new();
    fn collect(n: &J, into: &mut Vec<(String, String)>) {
        into.push((
            n["op"].as_str().unwrap_or_default().to_string(),
            n["summary"].as_str().unwrap_or_default().to_string(),
        ));
        for c in n["children"].as_array().into_iter().flatten() {
            collect(c, into);
        }
    }
    collect(&doc["graph"], &mut summaries);
    assert!(
        summaries.contains(&("sklearn.hist_gradient_boosting".into(), want.into())),
        "{summaries:?}"
    );
}

#[test]
fn inspect_json_is_machine_readable() {
    let out = keel()
        .args(["inspect", "--json"])
        .arg(bundle("diabetes_ct_linreg"))
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: J = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["name"], "diabetes_ct_linreg");
    assert_eq!(doc["format_version"], "1.0.0");
    assert_eq!(doc["encoding"], "json");
    assert_eq!(doc["producer"]["framework"], "scikit-learn");
    let inputs = doc["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 10);
    assert_eq!(inputs[0]["name"], "age");
    assert_eq!(inputs[0]["dtype"], "f64");
    assert_eq!(inputs[0]["shape"], serde_json::json!([]));
    assert_eq!(inputs[0]["nullable"], true);
    assert_eq!(doc["outputs"][0]["name"], "prediction");
    assert_eq!(doc["plan"]["ok"], true);
    assert_eq!(doc["plan"]["backends"], serde_json::json!(["cpu"]));
    assert_eq!(doc["plan"]["steps"], 3);
    // graph: pipeline_2 > [column_transformer > [scaled > [scaler], concat], linreg] (the
    // exporter's root pipeline around pipeline_2 has the same columns and is not shown)
    assert_eq!(doc["graph"]["name"], "pipeline_2");
    let top = &doc["graph"]["children"];
    let ct = &top[0];
    assert_eq!(ct["name"], "column_transformer");
    assert_eq!(ct["children"][1]["op"], "concat");
    let scaler = &ct["children"][0]["children"][0];
    assert_eq!(scaler["op"], "sklearn.standard_scaler");
    assert_eq!(
        scaler["attrs"]["mean"],
        serde_json::json!({"kind": "f64s", "len": 3})
    );
    assert_eq!(
        scaler["inputs"][0]["columns"],
        serde_json::json!(["age", "bmi", "bp"])
    );
    let lin = &top[1];
    assert_eq!(lin["attrs"]["coef"]["kind"], "tensor");
    assert_eq!(lin["attrs"]["coef"]["shape"], serde_json::json!([1, 10]));
    assert_eq!(lin["attrs"]["task"]["value"], "regression");
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries[1]["path"], "tensors/model.safetensors");
    assert_eq!(entries[1]["size"], 168);
}

#[test]
fn validate_accepts_the_fixtures() {
    for name in FIXTURES {
        let out = keel().arg("validate").arg(bundle(name)).output().unwrap();
        assert_ok(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("ok: "), "{text}");
        assert!(
            text.contains(name) && text.contains("planned on cpu"),
            "{text}"
        );
    }
}

#[test]
fn validate_refuses_a_corrupted_bundle_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(bundle("iris_logreg")).unwrap();
    // The safetensors entry is stored uncompressed, so its header's text is in the archive as
    // is; change one byte of it.
    let key = b"logisticregression/coef";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    bytes[at] ^= 0x20;
    let bad = dir.path().join("bad.keel");
    std::fs::write(&bad, &bytes).unwrap();
    let out = keel().arg("validate").arg(&bad).output().unwrap();
    assert_fails(&out, 1, &["bad.keel", "tensors/model.safetensors"]);
    assert!(out.stdout.is_empty());

    // A truncated archive.
    let whole = std::fs::read(bundle("iris_logreg")).unwrap();
    let cut = dir.path().join("cut.keel");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = keel().arg("validate").arg(&cut).output().unwrap();
    assert_fails(&out, 1, &["cut.keel", "zip"]);
}

#[test]
fn validate_names_unknown_ops_and_points_at_keel_ops() {
    let dir = tempfile::tempdir().unwrap();
    let mut b =
        keel_bundle::Bundle::from_bytes(&std::fs::read(bundle("iris_logreg")).unwrap()).unwrap();
    let lr = b.graph.children[0]
        .children
        .iter_mut()
        .find(|n| n.name == "logisticregression")
        .unwrap();
    lr.op = "sklearn.not_an_op".into();
    let path = dir.path().join("unknown.keel");
    std::fs::write(&path, b.to_bytes(keel_bundle::Encoding::Json).unwrap()).unwrap();
    let out = keel().arg("validate").arg(&path).output().unwrap();
    assert_fails(
        &out,
        1,
        &["logisticregression", "sklearn.not_an_op", "`keel ops`"],
    );
    // inspect still describes a bundle this runtime cannot plan.
    let out = keel().arg("inspect").arg(&path).output().unwrap();
    assert_ok(&out);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("cannot be planned")
    );
}

#[test]
fn ops_lists_the_registry() {
    let out = keel().arg("ops").output().unwrap();
    assert_ok(&out);
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(listed, keel_runtime::registry::names());
    assert!(listed.iter().any(|o| o == "sklearn.linear"));
}

// --- score ------------------------------------------------------------------------------------

#[test]
fn score_files_in_every_format_matches_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let c = case(name);
        for fmt in FORMATS {
            let input = dir.path().join(format!("{name}.in.{fmt}"));
            let output = dir.path().join(format!("{name}.out.{fmt}"));
            std::fs::write(&input, input_bytes(&c, fmt)).unwrap();
            let out = keel()
                .arg("score")
                .arg(bundle(name))
                .arg(&input)
                .arg("-o")
                .arg(&output)
                .args(["--batch-size", "13"])
                .output()
                .unwrap();
            assert_ok(&out);
            assert!(out.stdout.is_empty(), "scores went to the file, not stdout");
            let got = read_output(&std::fs::read(&output).unwrap(), fmt, &c);
            check(&c, &got, &format!("{fmt} file"));
        }
    }
    // Nothing but inputs and outputs was left behind (no temporary files).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 16);
}

/// The missing-strings fixtures (`fixtures/cases/missing.py`: None, NaN and both, under pandas 2
/// object and pandas 3 `str` columns): a null string is whatever the bundle says it stands for,
/// and `keel score` gives scikit-learn's answer for it through JSON lines and Arrow.
#[test]
fn missing_string_fixtures_score_like_scikit_learn() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sklearn");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("nulls_"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "missing-strings fixtures: {names:?}");
    for name in &names {
        let c = case(name);
        for fmt in ["jsonl", "arrows"] {
            let out = run_with_stdin(
                keel()
                    .arg("score")
                    .arg(bundle(name))
                    .args(["-", "--format", fmt]),
                &input_bytes(&c, fmt),
            );
            assert_ok(&out);
            check(
                &c,
                &read_output(&out.stdout, fmt, &c),
                &format!("{fmt} stdio"),
            );
        }
    }
}

#[test]
fn score_stdin_to_stdout_in_every_format_matches_scikit_learn() {
    for name in FIXTURES {
        let c = case(name);
        for fmt in FORMATS {
            let out = run_with_stdin(
                keel()
                    .arg("score")
                    .arg(bundle(name))
                    .args(["-", "--format", fmt]),
                &input_bytes(&c, fmt),
            );
            assert_ok(&out);
            check(
                &c,
                &read_output(&out.stdout, fmt, &c),
                &format!("{fmt} stdio"),
            );
        }
        // The worker mode alias.
        let out = run_with_stdin(
            keel().arg("score").arg(bundle(name)).arg("--arrow-stream"),
            &input_bytes(&c, "arrows"),
        );
        assert_ok(&out);
        check(
            &c,
            &read_output(&out.stdout, "arrows", &c),
            "--arrow-stream",
        );
    }
}

#[test]
fn score_converts_between_formats() {
    let dir = tempfile::tempdir().unwrap();
    let c = case("iris_logreg");
    let input = dir.path().join("in.csv");
    std::fs::write(&input, input_csv(&c)).unwrap();
    // Output format from the output's extension.
    let arrow = dir.path().join("out.feather");
    let out = keel()
        .arg("score")
        .arg(bundle("iris_logreg"))
        .arg(&input)
        .arg("-o")
        .arg(&arrow)
        .output()
        .unwrap();
    assert_ok(&out);
    check(
        &c,
        &read_output(&std::fs::read(&arrow).unwrap(), "arrow", &c),
        "csv->feather",
    );
    // Output format from the flag, on stdout; the input from stdin.
    let out = run_with_stdin(
        keel().arg("score").arg(bundle("iris_logreg")).args([
            "--format",
            "ndjson",
            "--output-format",
            "csv",
        ]),
        &input_jsonl(&c),
    );
    assert_ok(&out);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        text.starts_with(
            "label,probability[setosa],probability[versicolor],probability[virginica]\n"
        ),
        "{text}"
    );
    check(&c, &read_output(&out.stdout, "csv", &c), "jsonl->csv");
    // An Arrow IPC file read from a pipe (the file format carries a stream inside).
    let out = run_with_stdin(
        keel().arg("score").arg(bundle("iris_logreg")).args([
            "--format",
            "arrow",
            "--output-format",
            "jsonl",
        ]),
        &input_bytes(&c, "arrow"),
    );
    assert_ok(&out);
    check(
        &c,
        &read_output(&out.stdout, "jsonl", &c),
        "arrow pipe->jsonl",
    );
}

#[test]
fn convert_round_trips_byte_for_byte_and_scores_identically() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let original = bundle(name);
        let pb = dir.path().join(format!("{name}.pb.keel"));
        let back = dir.path().join(format!("{name}.back.keel"));
        let json = dir.path().join(format!("{name}.json.keel"));
        for (from, to, enc) in [
            (&original, &pb, "protobuf"),
            (&pb, &back, "json"),
            (&original, &json, "json"),
        ] {
            let out = keel()
                .arg("convert")
                .arg(from)
                .arg(to)
                .args(["--encoding", enc])
                .output()
                .unwrap();
            assert_ok(&out);
        }
        // The reference writer's JSON bundle, directly or through protobuf: the same bytes.
        let (back, json) = (std::fs::read(&back).unwrap(), std::fs::read(&json).unwrap());
        assert_eq!(
            back, json,
            "{name}: json -> protobuf -> json changed the bytes"
        );
        let pb_bytes = std::fs::read(&pb).unwrap();
        assert!(pb_bytes.windows(11).any(|w| w == b"manifest.pb"));
        let out = keel().arg("inspect").arg(&pb).output().unwrap();
        assert!(
            String::from_utf8(out.stdout)
                .unwrap()
                .contains("protobuf encoding")
        );

        // Scores from the protobuf bundle: identical to the JSON bundle's, and right.
        let c = case(name);
        let csv = input_csv(&c);
        let a = run_with_stdin(keel().arg("score").arg(&pb).args(["--format", "csv"]), &csv);
        let b = run_with_stdin(
            keel().arg("score").arg(&original).args(["--format", "csv"]),
            &csv,
        );
        assert_ok(&a);
        assert_ok(&b);
        assert_eq!(
            a.stdout, b.stdout,
            "{name}: protobuf and JSON bundles score differently"
        );
        check(&c, &read_output(&a.stdout, "csv", &c), "protobuf bundle");
    }
    // Converting a bundle onto itself is safe (written aside, then renamed).
    let own = dir.path().join("own.keel");
    std::fs::copy(bundle("iris_logreg"), &own).unwrap();
    let out = keel()
        .arg("convert")
        .arg(&own)
        .arg(&own)
        .args(["--encoding", "pb"])
        .output()
        .unwrap();
    assert_ok(&out);
    let out = keel().arg("validate").arg(&own).output().unwrap();
    assert_ok(&out);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("protobuf encoding")
    );
}

#[test]
fn convert_from_spark_ml_imports_a_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    let saved = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/spark_saved/forest/model");
    let out_path = dir.path().join("forest.keel");
    let out = keel()
        .args(["convert", "--from", "spark-ml"])
        .arg(&saved)
        .arg(&out_path)
        .args(["--sample-schema", "x1 DOUBLE, x2 DOUBLE, cat STRING"])
        .output()
        .unwrap();
    assert_ok(&out);
    let out = keel().arg("validate").arg(&out_path).output().unwrap();
    assert_ok(&out);
    let csv = b"x1,x2,cat\n1.5,2.0,a\n,-3.0,zzz\n";
    let out = run_with_stdin(
        keel().arg("score").arg(&out_path).args(["--format", "csv"]),
        csv,
    );
    assert_ok(&out);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);

    // --encoding stays required for keel bundles; --sample-schema is for imports only.
    let out = keel()
        .arg("convert")
        .arg(&out_path)
        .arg(dir.path().join("x.keel"))
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("--encoding"));
    // An unknown saved-model folder is refused with its path, nothing written.
    let out = keel()
        .args(["convert", "--from", "spark-ml"])
        .arg(dir.path())
        .arg(dir.path().join("y.keel"))
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("metadata"));
    assert!(!dir.path().join("y.keel").exists());
}

// --- bad input ---------------------------------------------------------------------------------

#[test]
fn bad_input_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let c = case("iris_logreg");
    let m = bundle("iris_logreg");
    let csv = String::from_utf8(input_csv(&c)).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let score =
        |args: &[&std::ffi::OsStr]| keel().arg("score").arg(&m).args(args).output().unwrap();

    // A missing column: drop the last column of every line.
    let dropped: String = csv
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let p = write("missing.csv", &dropped);
    let out = score(&[p.as_os_str()]);
    let last = header.last().unwrap();
    assert_fails(
        &out,
        1,
        &[
            &format!("input column `{last}` is missing"),
            "\nhint: `keel inspect BUNDLE` lists the input columns",
        ],
    );
    assert!(!dir.path().join("missing.out.csv").exists());

    // A mistyped value at data row 37, read 8 rows at a time: the row is global.
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[38].split(',').map(String::from).collect();
    cells[1] = "abc".into();
    lines[38] = cells.join(",");
    let p = write("mistyped.csv", &(lines.join("\n") + "\n"));
    let out = score(&[p.as_os_str(), "--batch-size".as_ref(), "8".as_ref()]);
    assert_fails(
        &out,
        1,
        &[&format!(
            "error: row 37, column `{}`: cannot read \"abc\" as f64",
            header[1]
        )],
    );

    // A missing value the model refuses (logistic regression takes no NaN), found by the
    // runtime inside a batch: the row it reports is made global too.
    cells[1] = String::new();
    lines[38] = cells.join(",");
    let p = write("null.csv", &(lines.join("\n") + "\n"));
    let out = score(&[p.as_os_str(), "--batch-size".as_ref(), "8".as_ref()]);
    assert_fails(
        &out,
        1,
        &[&format!(
            "error: row 37, column `{}`: missing value",
            header[1]
        )],
    );

    // The same in JSON lines.
    let mut rows: Vec<String> = String::from_utf8(input_jsonl(&c))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    rows[21] = rows[21].replacen(
        &format!("\"{}\":", header[0]),
        &format!("\"{}\":\"x\",\"_\":", header[0]),
        1,
    );
    let p = write("bad.jsonl", &(rows.join("\n") + "\n"));
    let out = score(&[
        p.as_os_str(),
        "--ignore-extra-columns".as_ref(),
        "--batch-size".as_ref(),
        "5".as_ref(),
    ]);
    assert_fails(
        &out,
        1,
        &[&format!(
            "row 21, column `{}`: expected a number, found the string \"x\"",
            header[0]
        )],
    );

    // A ragged CSV record.
    let ragged = csv
        .replacen('\n', "\n1,2\n", 2)
        .replacen("\n1,2\n", "\n", 1);
    let p = write("ragged.csv", &ragged);
    let out = score(&[p.as_os_str()]);
    assert_fails(&out, 1, &["malformed CSV input", "line 3"]);

    // Unknown formats: a flag value clap refuses, and an extension; both are the command
    // line's fault, status 2, as is every usage error below.
    let good = write("good.csv", &csv);
    let out = score(&[good.as_os_str(), "--format".as_ref(), "xml".as_ref()]);
    assert_fails(&out, 2, &["xml", "csv, jsonl, arrow, arrows"]);
    let p = write("data.txt", &csv);
    let out = score(&[p.as_os_str()]);
    assert_fails(&out, 2, &["data.txt", "--format"]);
    let o = dir.path().join("scores.txt");
    let out = score(&[good.as_os_str(), "-o".as_ref(), o.as_os_str()]);
    assert_fails(&out, 2, &["scores.txt", "--output-format"]);
    assert!(!o.exists());

    // Standard input without a format.
    let out = run_with_stdin(keel().arg("score").arg(&m), csv.as_bytes());
    assert_fails(
        &out,
        2,
        &[
            "standard input needs --format",
            "\nhint: see the command's `--help`",
        ],
    );

    // Files that do not exist: the input, and the bundle.
    let nowhere = dir.path().join("nowhere.csv");
    let out = score(&[nowhere.as_os_str()]);
    assert_fails(&out, 1, &["nowhere.csv", "No such file"]);
    let out = keel()
        .arg("score")
        .arg(dir.path().join("nowhere.keel"))
        .arg(&good)
        .output()
        .unwrap();
    assert_fails(&out, 1, &["nowhere.keel", "No such file"]);

    // Not a bundle at all, and the output written over the input.
    let out = keel().arg("score").arg(&good).arg(&good).output().unwrap();
    assert_fails(&out, 1, &["good.csv", "zip"]);
    let out = score(&[good.as_os_str(), "-o".as_ref(), good.as_os_str()]);
    assert_fails(&out, 2, &["is the input file"]);
    assert_eq!(std::fs::read_to_string(&good).unwrap(), csv);

    // Empty input and garbage in Arrow.
    let p = write("empty.csv", "");
    assert_fails(&score(&[p.as_os_str()]), 1, &["empty"]);
    let p = write("junk.arrows", "this is not arrow at all, not even close");
    assert_fails(&score(&[p.as_os_str()]), 1, &["Arrow IPC"]);
}

#[test]
fn extra_columns_are_refused_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let c = case("iris_logreg");
    let csv = String::from_utf8(input_csv(&c)).unwrap();
    let with_id: String = csv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{},{l}\n",
                if i == 0 {
                    "id".to_string()
                } else {
                    i.to_string()
                }
            )
        })
        .collect();
    let p = dir.path().join("extra.csv");
    std::fs::write(&p, with_id).unwrap();
    let out = keel()
        .arg("score")
        .arg(bundle("iris_logreg"))
        .arg(&p)
        .output()
        .unwrap();
    assert_fails(
        &out,
        1,
        &[
            "`id` is not part of the bundle's input schema",
            "--ignore-extra-columns",
        ],
    );
    let out = keel()
        .arg("score")
        .arg(bundle("iris_logreg"))
        .arg(&p)
        .arg("--ignore-extra-columns")
        .output()
        .unwrap();
    assert_ok(&out);
    check(
        &c,
        &read_output(&out.stdout, "csv", &c),
        "extra column ignored",
    );
}

#[test]
fn a_closed_output_pipe_is_not_an_error() {
    // Far more output than a pipe buffers, so the tool is still writing when the pipe closes.
    let c = case("diabetes_ct_linreg");
    let csv = String::from_utf8(input_csv(&c)).unwrap();
    let (header, records) = csv.split_once('\n').unwrap();
    let input = format!("{header}\n{}", records.repeat(200));
    let mut child = keel()
        .arg("score")
        .arg(bundle("diabetes_ct_linreg"))
        .args(["--format", "csv", "--batch-size", "16"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(first.starts_with(b"prediction\n"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

// --- streaming ---------------------------------------------------------------------------------

/// The peak resident memory of a running process, in KiB (Linux `VmHWM`).
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn scoring_streams_with_bounded_memory() {
    const ROWS: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let c = case("diabetes_ct_linreg");
    let csv = String::from_utf8(input_csv(&c)).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let records: Vec<&str> = lines.collect();
    let write_csv = |path: &Path, rows: usize| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        writeln!(w, "{header}").unwrap();
        for i in 0..rows {
            writeln!(w, "{}", records[i % records.len()]).unwrap();
        }
        w.flush().unwrap();
    };
    // Scores `path` and returns the child's peak resident memory in KiB.
    let score_peak = |path: &Path, out: &Path| -> u64 {
        let mut child = keel()
            .arg("score")
            .arg(bundle("diabetes_ct_linreg"))
            .arg(path)
            .arg("-o")
            .arg(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut peak = 0;
        let status = loop {
            if let Some(k) = peak_kib(child.id()) {
                peak = peak.max(k);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "{err}");
        assert!(peak > 0, "could not read the child's memory use");
        peak
    };

    // The fixed cost (the binary's pages, the allocator, the bundle): what a 10-row input
    // takes. The bounds below are on what scoring adds to it, which is what streaming bounds.
    let tiny = dir.path().join("tiny.csv");
    write_csv(&tiny, 10);
    let base = score_peak(&tiny, &dir.path().join("tiny.jsonl"));

    let small = dir.path().join("small.csv");
    write_csv(&small, ROWS / 4);
    let small_peak = score_peak(&small, &dir.path().join("small.jsonl"));

    let input = dir.path().join("big.csv");
    write_csv(&input, ROWS);
    let input_kib = std::fs::metadata(&input).unwrap().len() / 1024;
    let output = dir.path().join("big.jsonl");
    let started = Instant::now();
    let peak = score_peak(&input, &output);
    println!(
        "scored {ROWS} rows ({} MiB of CSV) in {:.1?}; peak resident memory {} MiB ({} MiB for a quarter of the rows, {} MiB for 10 rows)",
        input_kib / 1024,
        started.elapsed(),
        peak / 1024,
        small_peak / 1024,
        base / 1024
    );
    // Streaming means memory does not grow with the input: four times the rows may not cost
    // more than a few MiB of extra peak memory (allocator noise), and the whole run stays far
    // below the input's size. A reader that slurped the input would grow by ~150 MiB here.
    assert!(
        peak <= small_peak + 8 * 1024,
        "peak memory grew from {small_peak} KiB to {peak} KiB with 4x the rows: scoring does not stream"
    );
    let added = peak.saturating_sub(base);
    assert!(
        added * 8 < input_kib && added < 32 * 1024,
        "scoring took {added} KiB over the {base} KiB a 10-row input takes, for a {input_kib} \
         KiB input: scoring does not stream"
    );

    // Every output row is right: row i is fixture row i mod n.
    let want = c.outputs["prediction"].as_array().unwrap();
    let tol = Tolerance::by_name(c.tolerance["prediction"].as_str().unwrap()).unwrap();
    let text = std::fs::read_to_string(&output).unwrap();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let got = line
            .strip_prefix("{\"prediction\":")
            .and_then(|l| l.strip_suffix('}'))
            .unwrap_or_else(|| panic!("row {i}: {line}"));
        let (a, b) = (
            got.parse::<f64>().unwrap(),
            want[i % want.len()].as_f64().unwrap(),
        );
        assert!(
            tol.accepts(a, b),
            "row {i}: keel {a:e} vs scikit-learn {b:e}"
        );
        n += 1;
    }
    assert_eq!(n, ROWS);
}

#[test]
fn arrow_stream_worker_answers_each_batch_before_the_next_is_sent() {
    let c = case("iris_logreg");
    let (schema, batches) = input_batches(&c);
    let mut child = keel()
        .arg("score")
        .arg(bundle("iris_logreg"))
        .arg("--arrow-stream")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hung worker must fail the test, not hang it.
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    });
    // The output schema comes first, before any input is sent.
    let mut results = arrow_ipc::reader::StreamReader::try_new(
        std::io::BufReader::new(child.stdout.take().unwrap()),
        None,
    )
    .unwrap();
    let names: Vec<String> = results
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["label", "probability"]);
    // One batch in, one batch out, while the input stays open.
    let mut requests =
        arrow_ipc::writer::StreamWriter::try_new(child.stdin.take().unwrap(), &schema).unwrap();
    let mut answers = Vec::new();
    for b in &batches {
        requests.write(b).unwrap();
        requests.flush().unwrap();
        let answer = results.next().expect("an answer").unwrap();
        assert_eq!(answer.num_rows(), b.num_rows());
        answers.push(answer);
    }
    requests.finish().unwrap();
    drop(requests);
    assert!(
        results.next().is_none(),
        "the stream ends after the input does"
    );
    let status = child.wait().unwrap();
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    assert!(status.success());
    check(&c, &batches_to_columns(answers.into_iter()), "worker");
}

/// The README's first command: scoring the demo bundle on the demo CSV prints scikit-learn's
/// own predictions (recorded by fixtures/demo.py in `airbnb_expected.csv`).
#[test]
fn readme_demo_command_gives_scikit_learns_predictions() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo");
    let out = keel()
        .arg("score")
        .arg(demo.join("airbnb_linear.keel"))
        .arg(demo.join("airbnb.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parse = |text: &str| -> Vec<f64> {
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("prediction"));
        lines.map(|l| l.parse().unwrap()).collect()
    };
    let got = parse(&String::from_utf8(out.stdout).unwrap());
    let want = parse(&std::fs::read_to_string(demo.join("airbnb_expected.csv")).unwrap());
    assert_eq!(got.len(), want.len());
    assert!(!got.is_empty());
    let tol = keel_runtime::tolerance::Tolerance::F64_LINEAR;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(tol.accepts(*g, *w), "row {i}: keel {g} vs scikit-learn {w}");
    }
}

// --- keel convert --from mleap -----------------------------------------------------------------

/// The shared MLeap corpus, beside the repository (or one level higher for a worktree).
fn mleap_corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = [
        root.join("../../shared/compat/mleap"),
        root.join("../../../shared/compat/mleap"),
    ]
    .into_iter()
    .find(|d| d.join("airbnb.model.lr.zip").exists());
    if found.is_none() {
        eprintln!("SKIP: the MLeap corpus (shared/compat/mleap) is absent");
    }
    found
}

/// The AirBnB LeapFrame row; the expected price is the one the importer test computes by hand
/// from the bundle's parameters (importers/tests/mleap.rs).
const AIRBNB_ROW: &str = "{\"state\":\"NY\",\"bathrooms\":2.0,\"square_feet\":1250.0,\"bedrooms\":3.0,\
    \"security_deposit\":50.0,\"cleaning_fee\":30.0,\"extra_people\":2.0,\
    \"number_of_reviews\":56.0,\"review_scores_rating\":90.0,\
    \"room_type\":\"Entire home/apt\",\"host_is_superhost\":\"1.0\",\
    \"cancellation_policy\":\"strict\",\"instant_bookable\":\"1.0\"}\n";

#[test]
fn convert_from_mleap_writes_a_scorable_bundle() {
    let Some(corpus) = mleap_corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    for enc in ["json", "protobuf"] {
        let out_path = dir.path().join(format!("lr.{enc}.keel"));
        let out = keel()
            .args(["convert", "--from", "mleap"])
            .arg(corpus.join("airbnb.model.lr.zip"))
            .arg(&out_path)
            .args(["--encoding", enc])
            .output()
            .unwrap();
        assert_ok(&out);
        let out = keel().arg("validate").arg(&out_path).output().unwrap();
        assert_ok(&out);
        let out = run_with_stdin(
            keel()
                .arg("score")
                .arg(&out_path)
                .args(["--format", "jsonl"]),
            AIRBNB_ROW.as_bytes(),
        );
        assert_ok(&out);
        let line: J = serde_json::from_slice(&out.stdout).unwrap();
        let got = line["price_prediction"].as_f64().unwrap();
        assert!(
            Tolerance::F64_LINEAR.accepts(got, 232.62463916840318),
            "{enc}: {got}"
        );
    }
    // Every entry point reads the MLeap zip itself, told apart by content: `score` gives the
    // converted bundle's answer, `validate` and `inspect` describe it, and `convert` needs no
    // --from.
    let zip = corpus.join("airbnb.model.lr.zip");
    let out = run_with_stdin(
        keel().arg("score").arg(&zip).args(["--format", "jsonl"]),
        AIRBNB_ROW.as_bytes(),
    );
    assert_ok(&out);
    let line: J = serde_json::from_slice(&out.stdout).unwrap();
    let got = line["price_prediction"].as_f64().unwrap();
    assert!(
        Tolerance::F64_LINEAR.accepts(got, 232.62463916840318),
        "scored from the MLeap zip: {got}"
    );
    let out = keel().arg("validate").arg(&zip).output().unwrap();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MLeap Bundle.ML"), "{text}");
    let out = keel()
        .args(["inspect", "--json"])
        .arg(&zip)
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: J = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["producer"]["framework"], "mleap", "{doc}");
    let out = keel()
        .arg("convert")
        .arg(&zip)
        .arg(dir.path().join("x.keel"))
        .args(["--encoding", "json"])
        .output()
        .unwrap();
    assert_ok(&out);
}

#[test]
fn a_corrupted_arrow_stream_is_refused_without_a_panic() {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use arrow_schema::{DataType, Field as ArrowField, Schema};
    let path = bundle("iris_logreg");
    let inputs = keel_bundle::Bundle::from_bytes(&std::fs::read(&path).unwrap())
        .unwrap()
        .manifest
        .inputs;
    let schema = Arc::new(Schema::new(
        inputs
            .iter()
            .map(|f| ArrowField::new(&f.name, DataType::Float64, true))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = inputs
        .iter()
        .map(|_| Arc::new(Float64Array::from(vec![5.1, 4.9, 6.2])) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut good = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut good, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    let dir = tempfile::tempdir().unwrap();
    // Every single-byte change to the stream: scored or refused with exit status 1, never a
    // panic (arrow-rs alone panics on a buffer offset past the message body).
    let mut refused = 0;
    for i in (0..good.len()).step_by(3) {
        let mut bytes = good.clone();
        bytes[i] ^= 0x80;
        let p = dir.path().join("in.arrows");
        std::fs::write(&p, &bytes).unwrap();
        let out = keel().arg("score").arg(&path).arg(&p).output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "byte {i}: {err}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "byte {i}: {err}");
        refused += usize::from(out.status.code() == Some(1));
    }
    assert!(refused > 0);
}

#[test]
fn a_file_that_is_neither_a_keel_nor_an_mleap_bundle_is_named_by_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.keel");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    let zip_path = dir.path().join("data.zip");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("part-0.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"a,b\n1,2\n").unwrap();
    std::fs::write(&zip_path, z.finish().unwrap().into_inner()).unwrap();
    for (path, found) in [
        (&csv, "not a zip archive (a text file)"),
        (
            &zip_path,
            "a zip archive that is neither a keel bundle nor an MLeap bundle (it holds `part-0.csv`)",
        ),
    ] {
        for cmd in ["validate", "inspect", "score"] {
            let mut c = keel();
            c.arg(cmd).arg(path);
            if cmd == "score" {
                c.args(["--format", "jsonl"]);
            }
            let out = run_with_stdin(&mut c, b"{}\n");
            assert_fails(
                &out,
                1,
                &[found, "MLeap Bundle.ML", "keel convert --from spark-ml"],
            );
        }
    }
}

#[test]
fn convert_from_mleap_refuses_a_broken_bundle_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("bad.zip");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (p, t) in [
        (
            "bundle.json",
            r#"{"format":"json","name":"p","uid":"u","version":"0.8.1"}"#,
        ),
        ("root/model.json", r#"{"op":"word2vec","attributes":{}}"#),
        (
            "root/node.json",
            r#"{"name":"w","shape":{"inputs":[],"outputs":[]}}"#,
        ),
    ] {
        z.start_file(p, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(t.as_bytes()).unwrap();
    }
    std::fs::write(&zip_path, z.finish().unwrap().into_inner()).unwrap();
    let out = keel()
        .args(["convert", "--from", "mleap"])
        .arg(&zip_path)
        .arg(dir.path().join("out.keel"))
        .output()
        .unwrap();
    assert_fails(&out, 1, &["word2vec", "not supported"]);
    assert!(!dir.path().join("out.keel").exists());
}

#[test]
fn threads_score_in_slices_with_the_same_output_in_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let csv = std::fs::read_to_string(root.join("fixtures/demo/airbnb.csv")).unwrap();
    let (header, rows) = csv.split_once('\n').unwrap();
    // 4,000 rows: enough for several slices of at least 256 rows.
    let mut big = format!("{header}\n");
    for _ in 0..200 {
        big.push_str(rows.trim_end());
        big.push('\n');
    }
    let input = dir.path().join("big.csv");
    std::fs::write(&input, big).unwrap();
    let model = root.join("fixtures/demo/airbnb_linear.keel");
    let run = |threads: &str| {
        let out = keel()
            .arg("score")
            .arg(&model)
            .arg(&input)
            .args(["--threads", threads])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = run("1");
    assert_eq!(String::from_utf8_lossy(&one).lines().count(), 4001);
    assert!(run("3") == one, "3 threads changed the output");
    assert!(run("0") == one, "one thread per core changed the output");
}
