//! `list<utf8>` columns (a list of strings per row) through the server, on the
//! Spark fixture `lists_array_stopwords_count_logreg` (a pre-tokenized input, the filtered
//! tokens and the predictions as outputs): JSON arrays of strings in and out of `keel serve`
//! in both layouts, compared with Spark's recorded answer; a wrong element type or a null list
//! is a 422 naming the column and row. (`keel score` with lists: cli/tests/score_lists.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::install;
use http_body_util::BodyExt;
use keel_server::{AppState, Config, app};
use serde_json::{Value as J, json};
use std::path::{Path, PathBuf};
use tower::ServiceExt;

const NAME: &str = "lists_array_stopwords_count_logreg";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/spark")
        .join(NAME)
}

fn io() -> J {
    serde_json::from_slice(&std::fs::read(dir().join("io.json")).unwrap()).unwrap()
}

fn router() -> axum::Router {
    let state = AppState::new(Config::default()).unwrap();
    install(&state, &std::fs::read(dir().join("model.keel")).unwrap());
    state
        .registry
        .set_readiness(keel_server::registry::Readiness {
            ready: true,
            waiting: Vec::new(),
        });
    app(state)
}

async fn predict(router: &axum::Router, doc: &J) -> (StatusCode, J) {
    let req = Request::post(format!("/v1/models/{NAME}/predict"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(doc.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn json_string_arrays_in_and_out_match_spark() {
    let router = router();
    let io = io();
    let tokens = io["inputs"]["tokens"].as_array().unwrap().clone();
    let want = &io["outputs"]["filtered"];
    let (status, j) = predict(&router, &json!({"columns": {"tokens": tokens}})).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(&j["columns"]["filtered"], want);
    assert_eq!(j["columns"]["prediction"], io["outputs"]["prediction"]);
    let rows: Vec<J> = tokens.iter().map(|t| json!({"tokens": t})).collect();
    let (status, j) = predict(&router, &json!({ "rows": rows })).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    let got: Vec<J> = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["filtered"].clone())
        .collect();
    assert_eq!(&J::Array(got), want);
}

#[tokio::test]
async fn wrong_elements_and_null_lists_are_422_naming_column_and_row() {
    let router = router();
    for (bad, code, needle) in [
        (json!(["a", 3]), "bad_value", "element 1"),
        (json!("a b"), "bad_value", "array of strings"),
        (json!({"a": 1}), "bad_value", "an object"),
        (J::Null, "missing_value", ""),
    ] {
        let doc = json!({"rows": [{"tokens": ["ok"]}, {"tokens": ["fine"]}, {"tokens": bad}]});
        let (status, j) = predict(&router, &doc).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        let e = &j["error"];
        assert_eq!(e["code"], code, "{j}");
        assert_eq!(
            (e["column"].as_str(), e["row"].as_u64()),
            (Some("tokens"), Some(2)),
            "{j}"
        );
        assert!(e["message"].as_str().unwrap().contains(needle), "{j}");
    }
}
