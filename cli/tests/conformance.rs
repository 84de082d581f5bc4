//! Conformance target `cli`: the real `keel` binary, as a user runs it. Each case's inputs are
//! written as JSON lines, scored with `keel score BUNDLE in.jsonl --format jsonl`, and the answer
//! lines compared with the framework's outputs by the conformance suite (`keel-conformance`).
//! Spark saved models go through `keel convert --from spark-ml` first, with the case's import
//! options, so the command line's importer route is covered too. The target lives here because
//! only this crate's tests know the binary's path (`CARGO_BIN_EXE_keel`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_conformance::case::spark_ml_options;
use keel_conformance::{Case, Family, Outputs, Skip, Target, cases, check};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Cases this target cannot run, with the reason. None: JSON lines carry every input and output
/// type the fixtures use (NaN answers come back as `null`, which the comparison knows).
const SKIPS: &[Skip] = &[];

struct Cli {
    scratch: PathBuf,
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Cli {
    /// The bundle file `keel score` reads: the fixture's own file, or for a saved Spark model,
    /// the bundle `keel convert --from spark-ml` writes.
    fn bundle(&self, case: &Case) -> Result<PathBuf, String> {
        match case.family {
            Family::Sklearn | Family::Spark | Family::Compose => Ok(case.dir.join("model.keel")),
            Family::Mleap => Ok(case.dir.join("bundle.zip")),
            Family::SparkSaved => {
                let out = self.scratch.join(format!("{}.keel", case.name));
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
                cmd.arg("convert")
                    .arg(case.dir.join("model"))
                    .arg(&out)
                    .args(["--from", "spark-ml"]);
                if let Some(schema) = spark_ml_options(&case.dir)?.sample_schema {
                    cmd.args(["--sample-schema", &schema]);
                }
                run(&mut cmd)?;
                Ok(out)
            }
        }
    }
}

impl Target for Cli {
    fn name(&self) -> &str {
        "cli"
    }

    fn score(&self, case: &Case) -> Result<Outputs, String> {
        let bundle = self.bundle(case)?;
        let input = self
            .scratch
            .join(format!("{}-{}.jsonl", case.family, case.name));
        let lines: String = case
            .input_rows()
            .into_iter()
            .map(|row| format!("{}\n", Value::Object(row)))
            .collect();
        std::fs::write(&input, lines).map_err(|e| e.to_string())?;
        let out = run(Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("score")
            .arg(&bundle)
            .arg(&input)
            .args(["--format", "jsonl"]))?;
        let mut got = Outputs {
            // JSON has no NaN: `keel score` writes it as null.
            nan_as_null: true,
            ..Outputs::default()
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let row: serde_json::Map<String, Value> =
                serde_json::from_str(line).map_err(|e| format!("answer line {line:?}: {e}"))?;
            for (k, v) in row {
                got.columns.entry(k).or_default().push(v);
            }
        }
        Ok(got)
    }
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-conformance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_case_matches_its_framework_through_keel_score() {
    let cases = cases().unwrap_or_else(|e| panic!("{e}"));
    let target = Cli { scratch: scratch() };
    let result = check(&target, &cases, SKIPS);
    let _ = std::fs::remove_dir_all(Path::new(&target.scratch));
    if let Err(failures) = result {
        panic!("{failures}");
    }
}
