//! The sandbox's budget: a call that burns more fuel, time or memory than allowed is stopped
//! with its typed error, and the next call on the same model succeeds (in a fresh instance).
//! The costly calls score a 100-tree random forest (fixtures/sklearn/airbnb_rf) on many rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::RecordBatch;
use arrow_select::concat::concat_batches;
use keel_io::format::Format;
use keel_io::input::{self, Extra};
use keel_sandbox::{Error, Limits, Sandbox, SandboxedModel};
use serde_json::Value;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sklearn")
        .join(name)
}

fn sandbox(limits: Limits) -> Sandbox {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-cache");
    Sandbox::with_cache(limits, Some(&cache)).unwrap()
}

/// The forest, and a batch of `rows` rows (a multiple of 100) repeating its io.json inputs.
fn forest(sandbox: &Sandbox, rows: usize) -> (SandboxedModel, RecordBatch) {
    let bytes = std::fs::read(fixture("airbnb_rf").join("model.keel")).unwrap();
    let model = SandboxedModel::load(sandbox, &bytes).unwrap();
    let io: Value =
        serde_json::from_slice(&std::fs::read(fixture("airbnb_rf").join("io.json")).unwrap())
            .unwrap();
    let inputs = io["inputs"].as_object().unwrap();
    let n = inputs.values().next().unwrap().as_array().unwrap().len();
    let mut text = String::new();
    for r in 0..n {
        let row: serde_json::Map<String, Value> = inputs
            .iter()
            .map(|(k, v)| (k.clone(), v[r].clone()))
            .collect();
        text.push_str(&Value::Object(row).to_string());
        text.push('\n');
    }
    let fields = keel_bundle::Bundle::from_bytes(&bytes)
        .unwrap()
        .manifest
        .inputs;
    let base = input::open(
        Format::Jsonl,
        Box::new(Cursor::new(text.into_bytes())),
        &fields,
        n,
        Extra::Reject,
    )
    .unwrap()
    .next_batch()
    .unwrap()
    .unwrap();
    // Copies of the parsed rows: parsing hundreds of thousands of JSON lines in a debug build
    // would take longer than the test.
    let batch = concat_batches(&base.schema(), std::iter::repeat_n(&base, rows / n)).unwrap();
    (model, batch)
}

fn first_rows(batch: &RecordBatch, n: usize) -> RecordBatch {
    batch.slice(0, n)
}

#[test]
fn a_call_past_its_fuel_is_stopped_and_the_next_call_works() {
    let budget = 5_000_000;
    let sandbox = sandbox(Limits {
        fuel: Some(budget),
        ..Limits::default()
    });
    let (model, batch) = forest(&sandbox, 20_000);
    let small = model.score(&first_rows(&batch, 10)).unwrap();
    assert_eq!(small.num_rows(), 10);
    let e = model.score(&batch).unwrap_err();
    assert!(matches!(e, Error::Fuel { budget: b } if b == budget), "{e}");
    assert_eq!(e.code(), "sandbox_fuel");
    assert_eq!(model.idle_instances(), 0, "the trapped instance is dropped");
    // Fuel is deterministic: the same call is stopped again, in a fresh instance, and a small
    // one goes through.
    assert_eq!(model.score(&batch).unwrap_err().code(), "sandbox_fuel");
    assert_eq!(model.score(&first_rows(&batch, 10)).unwrap(), small);
    assert_eq!(model.idle_instances(), 1);
}

#[test]
fn a_call_past_its_memory_cap_is_stopped_and_the_next_call_works() {
    let limit = 24 << 20;
    let sandbox = sandbox(Limits {
        memory: limit,
        ..Limits::default()
    });
    let (model, batch) = forest(&sandbox, 200_000);
    let e = model.score(&batch).unwrap_err();
    assert!(matches!(e, Error::Memory { limit: l } if l == limit), "{e}");
    assert_eq!(e.code(), "sandbox_memory");
    assert_eq!(
        model.score(&first_rows(&batch, 100)).unwrap().num_rows(),
        100
    );
}

#[test]
fn a_call_past_its_deadline_is_stopped_and_the_next_call_works() {
    let timeout = Duration::from_millis(20);
    let sandbox = sandbox(Limits {
        timeout: Some(timeout),
        ..Limits::default()
    });
    let (model, batch) = forest(&sandbox, 200_000);
    let started = Instant::now();
    let e = model.score(&batch).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(e, Error::Timeout { after } if after == timeout),
        "{e}"
    );
    assert_eq!(e.code(), "sandbox_timeout");
    // Stopped near the deadline (a tick is a tenth of it; the rest is encoding the batch and
    // scheduling on a busy machine), not after scoring everything.
    assert!(took < Duration::from_millis(1500), "stopped after {took:?}");
    assert_eq!(model.score(&first_rows(&batch, 10)).unwrap().num_rows(), 10);
}

#[test]
fn refusals_keep_the_runtimes_code_column_and_row_and_the_instance() {
    let sandbox = sandbox(Limits::default());
    let bytes = std::fs::read(fixture("iris_logreg").join("model.keel")).unwrap();
    let model = SandboxedModel::load(&sandbox, &bytes).unwrap();
    let input = b"{\"sepal length (cm)\": 1, \"sepal width (cm)\": 2, \"petal length (cm)\": 3, \
                  \"petal width (cm)\": 4}\n{\"sepal length (cm)\": 1}\n";
    let e = model
        .score_bytes(input, Format::Jsonl, Format::Jsonl, false)
        .unwrap_err();
    assert_eq!(e.code(), "missing_value", "{e}");
    assert_eq!(
        (e.column(), e.row()),
        (Some("sepal width (cm)"), Some(1)),
        "{e}"
    );
    assert_eq!(model.idle_instances(), 1, "a refusal keeps the instance");
    let first_row = &input[..input.iter().position(|b| *b == b'\n').unwrap() + 1];
    let csv = model
        .score_bytes(first_row, Format::Jsonl, Format::Csv, false)
        .unwrap();
    assert!(String::from_utf8(csv).unwrap().starts_with("label,"));

    let e = SandboxedModel::load(&sandbox, b"not a bundle").unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e}");
    assert_eq!(e.code(), "bundle", "{e}");
}
