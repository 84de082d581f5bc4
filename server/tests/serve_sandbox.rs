//! `keel serve --sandbox`, driven in process with tower's `oneshot`: models loaded into the
//! sandbox answer as the same models in process do (to the last bit but for libm's functions) (JSON rows and columns, Arrow, the
//! MLeap transform, refusals with their column and row), and a request past the sandbox's
//! budget is a 503 with its `sandbox_*` code while the next request is answered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod oneshot;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{bundle_bytes, case};
use keel_server::registry::Readiness;
use keel_server::{AppState, Config, Source, app};
use oneshot::send;
use serde_json::{Value as J, json};

fn post_json(uri: &str, doc: &J) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(doc.to_string()))
        .unwrap()
}

/// Whether two answers agree: the same shape and strings, numbers within 1e-12 relative. The
/// guest's `exp`, `ln` and `tanh` are Rust's libm (wasm has no platform math library), which
/// may differ from the platform's in the last bit; every other op is bit for bit the same.
fn agree(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| agree(a, b))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| agree(v, w)))
        }
        _ => a == b,
    }
}

const MODELS: [&str; 4] = [
    "iris_logreg",
    "airbnb_rf",
    "mixed_hgb_clf",
    "diabetes_mlp_regressor",
];

/// A state serving `MODELS`, in the sandbox with `limits` or in process.
fn state(limits: Option<keel_sandbox::Limits>) -> AppState {
    let state = AppState::new(Config {
        sandbox: limits,
        threads: 2,
        ..Config::default()
    })
    .unwrap();
    for name in MODELS {
        let prepared = state.registry.prepare(&bundle_bytes(name)).unwrap();
        state.registry.install(prepared, Source::Upload, None);
    }
    state.registry.set_readiness(Readiness {
        ready: true,
        waiting: Vec::new(),
    });
    state
}

#[tokio::test]
async fn sandboxed_models_answer_as_in_process() {
    let native = app(state(None));
    let sandboxed = app(state(Some(keel_sandbox::Limits::default())));
    for name in MODELS {
        let c = case(name);
        let uri = format!("/v1/models/{name}/predict");
        for doc in [c.rows_doc(), c.columns_doc()] {
            let want = send(&native, post_json(&uri, &doc)).await;
            let got = send(&sandboxed, post_json(&uri, &doc)).await;
            assert_eq!(want.status, StatusCode::OK, "{}", want.text());
            assert_eq!(got.status, StatusCode::OK, "{}", got.text());
            assert!(
                agree(&got.json(), &want.json()),
                "{name}: {} vs {}",
                got.text(),
                want.text()
            );
        }
        // scikit-learn's own outputs, not only keel's in process.
        let got = send(&sandboxed, post_json(&uri, &c.rows_doc()))
            .await
            .json();
        let rows = got["rows"].as_array().unwrap();
        for col in c.outputs.keys() {
            let values: Vec<J> = rows.iter().map(|r| r[col].clone()).collect();
            c.check_column(col, &values);
        }
    }
    // A refusal: the same code, column and row.
    let bad = json!({"rows": [
        {"sepal length (cm)": 1, "sepal width (cm)": 2, "petal length (cm)": 3, "petal width (cm)": 4},
        {"sepal length (cm)": 1, "sepal width (cm)": "wide", "petal length (cm)": 3, "petal width (cm)": 4},
    ]});
    let uri = "/v1/models/iris_logreg/predict";
    let want = send(&native, post_json(uri, &bad)).await;
    let got = send(&sandboxed, post_json(uri, &bad)).await;
    // Each answer names its own request; the rest must be the same.
    let without_id = |mut j: J| {
        j["error"]["request_id"].take();
        j
    };
    assert_eq!(
        (got.status, without_id(got.json())),
        (want.status, without_id(want.json()))
    );
    // The description says where the model runs.
    let d = send(
        &sandboxed,
        Request::get("/v1/models/iris_logreg")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(d["backends"], json!(["sandbox"]));
}

/// `rows` rows of the forest fixture's inputs.
fn forest_rows(rows: usize) -> J {
    let c = case("airbnb_rf");
    let doc = c.rows_doc();
    let base = doc["rows"].as_array().unwrap();
    json!({"rows": (0..rows).map(|i| base[i % base.len()].clone()).collect::<Vec<_>>()})
}

#[tokio::test]
async fn a_request_past_its_budget_is_a_503_and_the_next_one_is_answered() {
    let uri = "/v1/models/airbnb_rf/predict";
    let fuel = app(state(Some(keel_sandbox::Limits {
        fuel: Some(100_000_000),
        ..keel_sandbox::Limits::default()
    })));
    let a = send(&fuel, post_json(uri, &forest_rows(20_000))).await;
    a.error(503, "sandbox_fuel");
    let a = send(&fuel, post_json(uri, &forest_rows(5))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());

    let memory = app(state(Some(keel_sandbox::Limits {
        memory: 32 << 20,
        ..keel_sandbox::Limits::default()
    })));
    let a = send(&memory, post_json(uri, &forest_rows(100_000))).await;
    a.error(503, "sandbox_memory");
    let a = send(&memory, post_json(uri, &forest_rows(5))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}
