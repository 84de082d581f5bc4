//! The Spark ML saved-model importer (`keel_import::spark_ml::convert`) with one of the
//! saved model's files replaced by the fuzz input: the first byte picks which (a stage's
//! metadata JSON or parquet data, `keel_fuzz::spark_files`), the rest is its new content. The
//! importer reads a folder, so the fixture is copied once into a scratch folder and the file
//! put back after each run. What converts is planned as well.

#![no_main]

use keel_import::spark_ml::{self, Options};
use keel_runtime::Model;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The scratch copy of the fixture, and its files with their original bytes.
struct Scratch {
    dir: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        // One folder per process: libFuzzer's -jobs/-fork workers must not share files.
        let dir = std::env::temp_dir().join(format!("keel-fuzz-spark-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fixture = keel_fuzz::spark_fixture();
        copy_dir(&fixture, &dir).unwrap_or_else(|e| panic!("copying {fixture:?}: {e}"));
        let files = keel_fuzz::spark_files(&dir)
            .into_iter()
            .map(|rel| {
                let bytes = std::fs::read(dir.join(&rel))
                    .unwrap_or_else(|e| panic!("reading {rel:?}: {e}"));
                (rel, bytes)
            })
            .collect();
        Scratch { dir, files }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let s = scratch();
    let (rel, original) = &s.files[usize::from(pick) % s.files.len()];
    let path = s.dir.join(rel);
    if std::fs::write(&path, content).is_err() {
        return;
    }
    if let Ok(bundle) = spark_ml::convert(&s.dir, &Options::default()) {
        let _ = Model::from_bundle(&bundle, &keel_runtime::Options::default());
    }
    // Put the file back, so every run changes exactly one file of a valid saved model.
    std::fs::write(&path, original).unwrap_or_else(|e| panic!("restoring {path:?}: {e}"));
});
