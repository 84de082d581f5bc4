//! `keel-bench BUNDLE INPUT.arrow`: the timing probe behind `bench/compare.py`.
//!
//! Loads a bundle and an Arrow IPC file of inputs, then measures:
//! - single-row end-to-end latency (one thread): a 1-row `RecordBatch` in, the output batch out, cycling
//!   through the input rows (so branchy models see varied rows), reported as the mean and the
//!   median of blocks of calls;
//! - batch throughput: the whole input scored as one batch, best of several runs, on one
//!   thread or (`THREADS`, 0 = one per core) across cores with `Model::score_parallel`.
//!
//! Prints one JSON object so the Python harness can put keel beside scikit-learn and ONNX
//! Runtime measured in the same run.

use anyhow::{Context, Result, bail};
use arrow_array::RecordBatch;
use keel_runtime::Model;
use std::hint::black_box;
use std::time::Instant;

// Same allocator as the `keel` binary, so the probe measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn read_ipc(path: &str) -> Result<RecordBatch> {
    let file = std::fs::File::open(path).with_context(|| format!("open {path}"))?;
    let reader = arrow_ipc::reader::FileReader::try_new(file, None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bundle, input, rest @ ..] = args.as_slice() else {
        bail!("usage: keel-bench BUNDLE INPUT.arrow [SINGLE_ROW_CALLS] [BATCH_RUNS] [THREADS]");
    };
    let calls: usize = rest.first().map_or(Ok(200_000), |s| s.parse())?;
    let runs: usize = rest.get(1).map_or(Ok(5), |s| s.parse())?;
    // Batch throughput on this many threads (`Model::score_parallel`; 0 = one per core).
    let threads: usize = rest.get(2).map_or(Ok(1), |s| s.parse())?;
    let model = Model::from_bytes(&std::fs::read(bundle)?)?;
    let batch = read_ipc(input)?;
    let n = batch.num_rows();
    if n == 0 {
        bail!("{input} has no rows");
    }
    // Pre-slice the rows: building the 1-row frame is the caller's work, not scoring.
    let rows: Vec<RecordBatch> = (0..n.min(4096)).map(|i| batch.slice(i, 1)).collect();
    for r in rows.iter().take(1000) {
        black_box(model.score(r)?);
    }
    const BLOCK: usize = 1000;
    let mut block_means = Vec::new();
    let start = Instant::now();
    let mut done = 0;
    while done < calls {
        let t = Instant::now();
        for k in 0..BLOCK {
            black_box(model.score(&rows[(done + k) % rows.len()])?);
        }
        block_means.push(t.elapsed().as_nanos() as f64 / BLOCK as f64);
        done += BLOCK;
    }
    let mean_ns = start.elapsed().as_nanos() as f64 / done as f64;
    block_means.sort_by(f64::total_cmp);
    let median_ns = block_means[block_means.len() / 2];

    black_box(model.score_parallel(&batch, threads)?);
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        black_box(model.score_parallel(&batch, threads)?);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "bundle": bundle,
            "rows": n,
            "single_row_mean_ns": mean_ns,
            "single_row_median_ns": median_ns,
            "batch_seconds": best,
            "batch_rows_per_s": n as f64 / best,
            "batch_threads": threads,
        })
    );
    Ok(())
}
