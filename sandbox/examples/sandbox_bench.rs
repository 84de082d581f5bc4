//! Sandboxed vs in-process scoring, one run (BENCHMARKS.md, "Sandbox"): batch rows/s and
//! single-row latency of the AirBnB demo pipeline (fixtures/demo/airbnb_linear.keel on
//! airbnb.csv's rows) and the 100-tree forest (fixtures/sklearn/airbnb_rf), in process
//! (`keel_runtime::Model::score`) and in the sandbox with epochs only (the default) and with
//! fuel metering as well. The sandboxed figures include the whole call: the batch encoded as
//! Arrow IPC on the host, decoded and scored in the guest, the answer encoded and decoded back.
//!
//! `cargo run --release -p keel-sandbox --example sandbox_bench`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use arrow_array::RecordBatch;
use keel_io::format::Format;
use keel_io::input::{self, Extra};
use keel_runtime::Model;
use keel_sandbox::{Limits, Sandbox, SandboxedModel};
use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

const BATCH_ROWS: usize = 100_000;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
}

/// `rows` rows cycling through `csv`'s data rows, read by the bundle's schema.
fn batch(model: &Model, csv: &str, rows: usize) -> RecordBatch {
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let data: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let mut text = format!("{header}\n");
    for i in 0..rows {
        text.push_str(data[i % data.len()]);
        text.push('\n');
    }
    input::open(
        Format::Csv,
        Box::new(Cursor::new(text.into_bytes())),
        &model.manifest().inputs,
        rows,
        Extra::Reject,
    )
    .unwrap()
    .next_batch()
    .unwrap()
    .unwrap()
}

/// io.json's inputs as CSV (the forest fixture's, all numeric).
fn io_csv(dir: &Path) -> String {
    let io: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("io.json")).unwrap()).unwrap();
    let inputs = io["inputs"].as_object().unwrap();
    let names: Vec<&String> = inputs.keys().collect();
    let n = inputs.values().next().unwrap().as_array().unwrap().len();
    let mut text = names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for r in 0..n {
        let row: Vec<String> = names
            .iter()
            .map(|k| match &inputs[*k][r] {
                serde_json::Value::Null => String::new(),
                v => v.to_string().trim_matches('"').to_string(),
            })
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

/// Runs `f` until `min` has passed (at least `reps` times) and returns the mean time per run.
fn time(reps: usize, min: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let started = Instant::now();
    let mut n = 0u32;
    while n < u32::try_from(reps).unwrap() || started.elapsed() < min {
        f();
        n += 1;
    }
    started.elapsed() / n
}

struct Row {
    name: &'static str,
    batch_rows_s: f64,
    single_us: f64,
}

fn measure(
    name: &'static str,
    big: &RecordBatch,
    one: &RecordBatch,
    score: &dyn Fn(&RecordBatch) -> RecordBatch,
) -> Row {
    assert_eq!(score(big).num_rows(), big.num_rows());
    let batch = time(3, Duration::from_secs(2), || {
        score(big);
    });
    let single = time(1000, Duration::from_secs(1), || {
        score(one);
    });
    Row {
        name,
        batch_rows_s: big.num_rows() as f64 / batch.as_secs_f64(),
        single_us: single.as_secs_f64() * 1e6,
    }
}

fn main() {
    let cache = std::env::temp_dir().join("keel-sandbox-bench-cache");
    let epochs = Sandbox::with_cache(Limits::default(), Some(&cache)).unwrap();
    let fuel = Sandbox::with_cache(
        Limits {
            fuel: Some(u64::MAX / 2),
            ..Limits::default()
        },
        Some(&cache),
    )
    .unwrap();
    let demo = fixtures().join("demo");
    let forest = fixtures().join("sklearn/airbnb_rf");
    let cases = [
        (
            "AirBnB linear pipeline (demo)",
            demo.join("airbnb_linear.keel"),
            std::fs::read_to_string(demo.join("airbnb.csv")).unwrap(),
        ),
        (
            "AirBnB random forest (sklearn/airbnb_rf)",
            forest.join("model.keel"),
            io_csv(&forest),
        ),
    ];
    for (title, path, csv) in cases {
        let bytes = std::fs::read(&path).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let big = batch(&model, &csv, BATCH_ROWS);
        let one = batch(&model, &csv, 1);
        let started = Instant::now();
        let in_epochs = SandboxedModel::load(&epochs, &bytes).unwrap();
        let load = started.elapsed();
        let in_fuel = SandboxedModel::load(&fuel, &bytes).unwrap();
        // Same answers first.
        assert_eq!(in_epochs.score(&big).unwrap(), model.score(&big).unwrap());
        let rows = [
            measure("in process", &big, &one, &|b| model.score(b).unwrap()),
            measure("sandbox, epochs (default)", &big, &one, &|b| {
                in_epochs.score(b).unwrap()
            }),
            measure("sandbox, epochs + fuel", &big, &one, &|b| {
                in_fuel.score(b).unwrap()
            }),
        ];
        println!("\n{title}: batch of {BATCH_ROWS} rows; load in the sandbox {load:?}");
        println!("| scorer | batch rows/s | vs in process | single row µs | vs in process |");
        println!("|---|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {:.0} | {:.2}x | {:.1} | {:.2}x |",
                r.name,
                r.batch_rows_s,
                rows[0].batch_rows_s / r.batch_rows_s,
                r.single_us,
                r.single_us / rows[0].single_us
            );
        }
    }
}
