//! The web page end to end, in headless Chromium: a real `keel serve` with its demo bundles on
//! a free loopback port, driven by `cli/tests/web/e2e.mjs` (npm `playwright-core`), which
//! selects the AirBnB model, changes a few fields, presses Predict and checks the number shown
//! against the API's answer for the same row, then, on a second server with one
//! HistGradientBoosting bundle, checks the page opens it unasked and summarises the trees (see
//! that script for every check).
//!
//! Needs Chromium (`KEEL_CHROMIUM`, else `chromium`/`chromium-browser` on `PATH`), Node and
//! `npm ci` in `cli/tests/web`; `scripts/test` installs all three. When one is missing the
//! test FAILS under CI (`CI` set) and is skipped, saying why, elsewhere. Screenshots go to
//! `KEEL_E2E_SCREENSHOTS` when set (kept), else to a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../server/tests/common/mod.rs"]
mod common;

use common::Server;
use keel_conformance::tools::{chromium, on_path, unavailable, wasm_package};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_web_page_predicts_what_the_api_answers() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    let Some(chromium) = chromium() else {
        return unavailable(
            "Chromium not found (apt-get install -y chromium, or set KEEL_CHROMIUM)",
        );
    };
    let Some(node) = on_path("node") else {
        return unavailable("node not found");
    };
    if !web
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return unavailable("playwright-core is not installed (npm ci in cli/tests/web)");
    }
    let kept = std::env::var_os("KEEL_E2E_SCREENSHOTS").map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let out = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&out).unwrap();

    // No argument: the demo bundles built into the binary, AirBnB among them.
    let server = Server::start(env!("CARGO_BIN_EXE_keel"), &[]);
    // One bundle only: the page must open it by itself. A HistGradientBoosting model, whose
    // node arrays the page once listed where a person wants "45 trees · 675 nodes ...".
    let hgb =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sklearn/mixed_hgb_clf/model.keel");
    let single = Server::start(env!("CARGO_BIN_EXE_keel"), &[hgb.to_str().unwrap()]);
    let mut child = Command::new(node)
        .arg(web.join("e2e.mjs"))
        .current_dir(&web)
        .env("KEEL_E2E_URL", server.url(""))
        .env("KEEL_E2E_SINGLE_URL", single.url(""))
        .env("KEEL_CHROMIUM", &chromium)
        .env("KEEL_E2E_OUT", &out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a chatty browser never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out_thread.join().unwrap(), err_thread.join().unwrap());
    println!("{stdout}");
    eprintln!("{stderr}");
    let status = status.unwrap_or_else(|| panic!("e2e.mjs ran past 180 s\n{stderr}"));
    assert!(
        status.success(),
        "e2e.mjs failed ({status})\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let prediction = &report["prediction"];
    assert!(prediction["shown"].is_string() && prediction["api"].is_number());
    for shot in [
        "airbnb.png",
        "airbnb-error.png",
        "iris.png",
        "single-hgb.png",
    ] {
        let bytes = std::fs::read(out.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot} is a PNG");
    }
    if let Some(dir) = kept {
        eprintln!("screenshots in {}", dir.display());
    }
}

/// The playground as `keel serve --playground` serves it, under its Content-Security-Policy:
/// Chromium picks a scikit-learn bundle in the page's file input, types the case's rows as
/// JSON, presses Score, and the table it shows must match scikit-learn's own predictions
/// (wasm/tests/score_cases.mjs does the clicking; the conformance suite compares).
#[test]
fn the_playground_scores_in_the_browser_what_scikit_learn_predicts() {
    use keel_conformance::{Outputs, Target, check};
    let Some(chromium) = chromium() else {
        return unavailable(
            "Chromium not found (apt-get install -y chromium, or set KEEL_CHROMIUM)",
        );
    };
    let Some(node) = on_path("node") else {
        return unavailable("node not found");
    };
    let Some(pkg) = wasm_package() else {
        return unavailable(
            "keel's npm package is not built (wasm/build.sh DIR, KEEL_WASM_PKG=DIR)",
        );
    };
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wasm");
    if !wasm.join("node_modules/playwright-core").is_dir() {
        return unavailable("playwright-core is not installed (npm ci in wasm/)");
    }
    let case = keel_conformance::case::family_cases(keel_conformance::Family::Sklearn)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "mixed_ct_onehot_logreg")
        .unwrap();
    let server = Server::start(
        env!("CARGO_BIN_EXE_keel"),
        &["--playground", pkg.to_str().unwrap()],
    );
    let scratch = tempfile::tempdir().unwrap();
    let rows: Vec<serde_json::Value> = case
        .input_rows()
        .into_iter()
        .map(serde_json::Value::Object)
        .collect();
    let job = serde_json::json!({
        "cases": [],
        "playground": {
            "id": case.id(),
            "bundle": case.dir.join("model.keel"),
            "rows": rows,
            "url": server.url("/playground"),
        },
    });
    let job_path = scratch.path().join("job.json");
    let out_path = scratch.path().join("out.json");
    std::fs::write(&job_path, job.to_string()).unwrap();
    let out = Command::new(node)
        .arg(wasm.join("tests/score_cases.mjs"))
        .arg(&pkg)
        .arg(&job_path)
        .arg(&out_path)
        .arg("--chromium")
        .arg(&chromium)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "score_cases.mjs failed ({}):\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();

    struct Playground(serde_json::Value);
    impl Target for Playground {
        fn name(&self) -> &str {
            "playground"
        }
        fn score(&self, _: &keel_conformance::Case) -> Result<Outputs, String> {
            let p = &self.0["playground"];
            if let Some(e) = p.get("error") {
                return Err(format!("the page showed an error: {e}"));
            }
            let mut got = Outputs {
                nan_as_null: true,
                ..Outputs::default()
            };
            for row in p["rows"].as_array().ok_or("no rows")? {
                for (k, v) in row.as_object().ok_or("a row is not an object")? {
                    got.columns.entry(k.clone()).or_default().push(v.clone());
                }
            }
            Ok(got)
        }
    }
    if let Err(failures) = check(&Playground(answer), std::slice::from_ref(&case), &[]) {
        panic!("{failures}");
    }
}
