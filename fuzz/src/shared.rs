//! The fixtures the fuzz targets start from and the input fields the reader targets parse
//! against, shared (through `#[path]`) by the targets' library and the seed generator
//! (`seeds/`), so a seed always matches what its target reads: a CSV seed with other columns
//! would stop at the header.

use keel_bundle::{DType, Field};
use std::path::{Path, PathBuf};

/// The repository's `fixtures/` folder (the targets that need a real model or saved model
/// load theirs from here once, at start).
pub fn fixtures() -> PathBuf {
    // The seed generator lives one folder deeper than the targets; both are inside the repo.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("fixtures"))
        .find(|d| d.join("README.md").is_file())
        .unwrap_or_else(|| here.join("../fixtures"))
}

/// The input fields the CSV, JSON lines, Arrow IPC, JSON document and LeapFrame targets read
/// against: one of every kind a reader parses differently (scalars of each type, a named
/// vector, a token list, binary). `seeds/src/main.rs` writes inputs with exactly these.
pub fn io_fields() -> Vec<Field> {
    let mut v = Field::vector("v", DType::F64, 3);
    v.names = vec!["a".into(), "b".into(), "c".into()];
    vec![
        Field::scalar("x", DType::F64, true),
        Field::scalar("n", DType::I64, true),
        Field::scalar("k", DType::I32, false),
        Field::scalar("f", DType::F32, true),
        Field::scalar("s", DType::Utf8, true),
        Field::scalar("b", DType::Bool, true),
        v,
        Field::str_list("t", true),
        Field::scalar("img", DType::Binary, true),
    ]
}

/// The files of the Spark saved model the `spark_saved` target mutates, relative to its
/// folder and in a fixed order: each stage's metadata JSON and parquet data. The first input
/// byte picks one (the seed generator writes one seed per file, numbered in this order).
pub fn spark_files(model: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str())
                && name.starts_with("part-")
                && let Ok(rel) = p.strip_prefix(base)
            {
                out.push(rel.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(model, model, &mut out);
    out.sort();
    out
}

/// The Spark saved model the `spark_saved` target starts from: a pipeline of a
/// StringIndexer, a OneHotEncoder, an Imputer, a Bucketizer, a VectorAssembler and a random
/// forest (metadata JSON and snappy parquet, as Spark wrote them).
pub fn spark_fixture() -> PathBuf {
    fixtures().join("spark_saved/forest/model")
}
