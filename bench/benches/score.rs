//! Criterion benches: single-row latency and batch throughput for every bundle that
//! `bench/compare.py --prepare` wrote to `bench/out/` (or `$KEEL_BENCH_DIR`). The AirBnB-like
//! forest bundles are megabytes, so they are generated rather than checked in; without them
//! the bench says so and measures the checked-in fixtures instead.

use arrow_array::RecordBatch;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use keel_runtime::Model;
use std::hint::black_box;
use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Option<RecordBatch> {
    let file = std::fs::File::open(dir.join("airbnb_input.arrow")).ok()?;
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).ok()?;
    let schema = reader.schema();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().ok()?;
    arrow_select::concat::concat_batches(&schema, &batches).ok()
}

fn bench(c: &mut Criterion) {
    let dir = std::env::var_os("KEEL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("out"));
    let Some(batch) = inputs(&dir) else {
        eprintln!(
            "no benchmark bundles in {}: run `python bench/compare.py --prepare` first",
            dir.display()
        );
        return;
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "keel"))
        .collect();
    names.sort();
    let rows: Vec<RecordBatch> = (0..256.min(batch.num_rows()))
        .map(|i| batch.slice(i, 1))
        .collect();
    let big = batch.slice(0, 10_000.min(batch.num_rows()));
    for path in names {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let model = match Model::from_bytes(&bytes) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let mut g = c.benchmark_group(name.clone());
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        g.bench_function("single_row", |b| {
            b.iter(|| {
                i = (i + 1) % rows.len();
                black_box(model.score(&rows[i]).ok())
            })
        });
        g.throughput(Throughput::Elements(big.num_rows() as u64));
        g.bench_with_input(BenchmarkId::new("batch", big.num_rows()), &big, |b, big| {
            b.iter(|| black_box(model.score(big).ok()))
        });
        g.finish();
    }
}

// The macro defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
