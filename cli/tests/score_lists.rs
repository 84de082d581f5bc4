//! `list<utf8>` columns (a list of strings per row) through `keel score`, on the Spark fixture
//! `lists_array_stopwords_count_logreg` (a pre-tokenized input and the filtered tokens as an
//! output): read and written as JSON lines, CSV (a JSON array in one field) and Arrow, and
//! compared with Spark's recorded answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value as J, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const NAME: &str = "lists_array_stopwords_count_logreg";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/spark")
        .join(NAME)
}

fn io() -> J {
    serde_json::from_slice(&std::fs::read(dir().join("io.json")).unwrap()).unwrap()
}

#[test]
fn keel_score_reads_and_writes_lists_in_every_format() {
    let io = io();
    let tokens = io["inputs"]["tokens"].as_array().unwrap();
    let want = io["outputs"]["filtered"].as_array().unwrap();
    let tmp = std::env::temp_dir().join(format!("keel-lists-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bundle = dir().join("model.keel");
    let keel = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("score")
            .arg(&bundle)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // JSON lines in, JSON lines out.
    let jsonl: String = tokens
        .iter()
        .map(|t| format!("{}\n", json!({ "tokens": t })))
        .collect();
    std::fs::write(tmp.join("in.jsonl"), &jsonl).unwrap();
    let out = keel(&[tmp.join("in.jsonl").to_str().unwrap()]);
    let got: Vec<J> = out
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap()["filtered"].clone())
        .collect();
    assert_eq!(&got, want);
    // CSV: each list is the text of a JSON array in one field, in and out.
    let mut csv = String::from("tokens\n");
    for t in tokens {
        let text = t.to_string().replace('"', "\"\"");
        csv.push_str(&format!("\"{text}\"\n"));
    }
    std::fs::write(tmp.join("in.csv"), &csv).unwrap();
    let out = keel(&[
        tmp.join("in.csv").to_str().unwrap(),
        "--output-format",
        "jsonl",
    ]);
    let got: Vec<J> = out
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap()["filtered"].clone())
        .collect();
    assert_eq!(&got, want);
    let out = keel(&[
        tmp.join("in.jsonl").to_str().unwrap(),
        "--output-format",
        "csv",
    ]);
    let mut reader = out.lines();
    let header: Vec<&str> = reader.next().unwrap().split(',').collect();
    assert_eq!(header[0], "filtered");
    let first = reader.next().unwrap();
    // The first field is a quoted JSON array (RFC 4180: `""` is one quote).
    let mut field = String::new();
    let mut chars = first.strip_prefix('"').unwrap().chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('"', Some('"')) => {
                chars.next();
                field.push('"');
            }
            ('"', _) => break,
            (c, _) => field.push(c),
        }
    }
    let back: J = serde_json::from_str(&field).unwrap();
    assert_eq!(&back, &want[0]);
    let _ = std::fs::remove_dir_all(&tmp);
}
