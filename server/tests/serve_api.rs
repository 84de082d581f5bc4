//! The REST API without a socket: `keel_server::app(state)` driven with tower's
//! `oneshot`, one request at a time, for every route and every bad input the API promises a
//! JSON error for. Scores are compared with scikit-learn's outputs recorded in the fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod oneshot;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use keel_server::{Config, app};
use oneshot::send;
use serde_json::{Value as J, json};
use std::sync::Arc;
use std::time::Duration;

const ARROW: &str = "application/vnd.apache.arrow.stream";

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn post_json(uri: &str, doc: &J) -> Request<Body> {
    post(uri, "application/json", doc.to_string())
}

fn default_app() -> axum::Router {
    app(state(Config::default()))
}

const PREDICT: &str = "/v1/models/iris_logreg/predict";

/// The iris inputs in the bundle's order (the order of a vector input's elements).
const IRIS_INPUTS: [&str; 4] = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
];

fn iris_row(a: J, b: J, c: J, d: J) -> J {
    json!({"sepal length (cm)": a, "sepal width (cm)": b, "petal length (cm)": c, "petal width (cm)": d})
}

// ---------------------------------------------------------------------------------------------
// Models

#[tokio::test]
async fn models_are_listed_and_described() {
    let router = default_app();
    let a = send(&router, get("/v1/models")).await;
    assert_eq!(a.status, StatusCode::OK);
    let j = a.json();
    let models = j["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let iris = models.iter().find(|m| m["name"] == IRIS).unwrap();
    assert_eq!(iris["version"], 1);
    assert_eq!(iris["uid"].as_str().unwrap().len(), 36);
    assert_eq!(iris["producer"]["framework"], "scikit-learn");
    assert_eq!(iris["inputs"][0]["name"], "sepal length (cm)");
    assert_eq!(iris["inputs"][0]["dtype"], "f64");
    assert_eq!(iris["inputs"][0]["shape"], json!([]));
    assert_eq!(iris["inputs"][0]["nullable"], true);
    assert_eq!(iris["outputs"][1]["name"], "probability");
    assert_eq!(iris["outputs"][1]["shape"], json!([3]));
    assert_eq!(
        iris["outputs"][1]["names"],
        json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(iris["metadata"], json!({}));
    assert_eq!(iris["source"]["kind"], "upload");
    assert!(iris["loaded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(iris["sha256"].as_str().unwrap().len(), 64);
    // The graph: nested nodes with ops, bindings, docs and attributes by kind, no arrays. The
    // exporter's root pipeline, which only wraps scikit-learn's Pipeline with the same
    // columns, is not shown as a level of its own.
    let graph = &iris["graph"];
    assert_eq!(graph["op"], "pipeline");
    assert_eq!(graph["name"], "pipeline_2");
    let inner = &graph["children"];
    assert_eq!(inner[0]["op"], "sklearn.standard_scaler");
    assert_eq!(inner[0]["attrs"]["mean"], json!({"kind": "f64s", "len": 4}));
    let coef = &inner[1]["attrs"]["coef"];
    assert_eq!(
        (coef["kind"].clone(), coef["shape"].clone()),
        (json!("tensor"), json!([3, 4]))
    );
    assert_eq!(inner[1]["outputs"][0]["columns"], json!(["label"]));
    assert!(!inner[1]["doc"].as_str().unwrap().is_empty());
    // Each stage's summary for the web page: iris has 4 features and 3 species, so a
    // multinomial logistic regression holds 3 × 4 coefficients and 3 intercepts.
    assert_eq!(inner[0]["summary"], "4 columns");
    assert_eq!(
        inner[1]["summary"],
        "3 × 4 coefficients · 3 intercepts · link softmax · 3 classes"
    );
    assert_eq!(j["errors"], json!([]));

    let a = send(&router, get("/v1/models/iris_logreg")).await;
    assert_eq!(a.json()["versions"], json!([1]));
    let a = send(&router, get("/v1/models/iris_logreg@1")).await;
    assert_eq!(a.json()["version"], 1);
    send(&router, get("/v1/models/iris_logreg@9"))
        .await
        .error(404, "unknown_version");
    send(&router, get("/v1/models/nope"))
        .await
        .error(404, "unknown_model");
}

#[tokio::test]
async fn several_versions_answer_by_name_at_version() {
    let s = state(Config::default());
    install(&s, &iris_release(7));
    let router = app(s);
    let a = send(&router, get("/v1/models/iris_logreg")).await;
    let j = a.json();
    assert_eq!(
        (j["version"].clone(), j["versions"].clone()),
        (json!(2), json!([1, 2]))
    );
    assert_eq!(j["metadata"]["release"], "7");
    let doc = json!({"rows": [iris_row(json!(5.1), json!(3.5), json!(1.4), json!(0.2))]});
    for (spec, version) in [
        ("iris_logreg", 2),
        ("iris_logreg@1", 1),
        ("iris_logreg@2", 2),
    ] {
        let a = send(
            &router,
            post_json(&format!("/v1/models/{spec}/predict"), &doc),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json()["version"], version);
        assert_eq!(
            a.headers["keel-model-version"],
            version.to_string().as_str()
        );
        assert_eq!(a.headers["keel-model"], IRIS);
    }
    send(&router, post_json("/v1/models/iris_logreg@3/predict", &doc))
        .await
        .error(404, "unknown_version");
}

// ---------------------------------------------------------------------------------------------
// Predict: the answers

#[tokio::test]
async fn json_rows_and_columns_match_scikit_learn() {
    let router = default_app();
    for name in [IRIS, DIABETES] {
        let c = case(name);
        let uri = format!("/v1/models/{name}/predict");
        // Rows in, rows out.
        let a = send(&router, post_json(&uri, &c.rows_doc())).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
        let j = a.json();
        assert_eq!(
            (j["model"].as_str(), j["version"].as_u64()),
            (Some(name), Some(1))
        );
        let rows = j["rows"].as_array().unwrap();
        for col in c.outputs.keys() {
            let got: Vec<J> = rows.iter().map(|r| r[col].clone()).collect();
            c.check_column(col, &got);
        }
        // Columns in, columns out.
        let a = send(&router, post_json(&uri, &c.columns_doc())).await;
        assert_eq!(a.status, StatusCode::OK);
        let j = a.json();
        for col in c.outputs.keys() {
            c.check_column(col, j["columns"][col].as_array().unwrap());
        }
    }
}

/// The missing-strings fixtures (None, NaN and both, pandas 2 object and pandas 3 `str`
/// columns; `fixtures/cases/missing.py`): a JSON `null` string is what the bundle says it
/// stands for, and the answer is scikit-learn's, by rows and by columns.
#[tokio::test]
async fn missing_string_fixtures_match_scikit_learn() {
    let state = state(Config::default());
    let dir = fixture_dir(IRIS).join("..");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("nulls_"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "missing-strings fixtures: {names:?}");
    for name in &names {
        install(&state, &bundle_bytes(name));
    }
    let router = app(state);
    for name in &names {
        let c = case(name);
        let uri = format!("/v1/models/{name}/predict");
        let a = send(&router, post_json(&uri, &c.rows_doc())).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{name}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let j = a.json();
        let rows = j["rows"].as_array().unwrap();
        for col in c.outputs.keys() {
            let got: Vec<J> = rows.iter().map(|r| r[col].clone()).collect();
            c.check_column(col, &got);
        }
        let a = send(&router, post_json(&uri, &c.columns_doc())).await;
        assert_eq!(a.status, StatusCode::OK, "{name}");
        let j = a.json();
        for col in c.outputs.keys() {
            c.check_column(col, j["columns"][col].as_array().unwrap());
        }
    }
}

fn iris_arrow_request(c: &Case, rows: std::ops::Range<usize>) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, values) in &c.inputs {
        let v: Float64Array = values.as_array().unwrap()[rows.clone()]
            .iter()
            .map(J::as_f64)
            .collect();
        fields.push(ArrowField::new(name, DataType::Float64, true));
        columns.push(Arc::new(v));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn arrow_stream(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

fn read_arrow(body: &[u8]) -> Vec<RecordBatch> {
    arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `body` with one byte changed so that a batch's buffers no longer fit its body: the first such
/// change keel-io's reader refuses by its own message check (arrow-rs would slice past the body
/// and panic).
fn with_a_buffer_outside_its_body(body: &[u8]) -> Vec<u8> {
    let fields = keel_bundle::Bundle::from_bytes(&bundle_bytes(IRIS))
        .unwrap()
        .manifest
        .inputs;
    let refused = |bytes: &[u8]| {
        let read = || -> Result<(), keel_io::Error> {
            let mut source = keel_io::input::open(
                keel_io::Format::Arrows,
                Box::new(std::io::Cursor::new(bytes.to_vec())),
                &fields,
                1024,
                keel_io::input::Extra::Reject,
            )?;
            while source.next_batch()?.is_some() {}
            Ok(())
        };
        read().is_err_and(|e| e.to_string().contains("lies outside its"))
    };
    for i in 0..body.len() {
        for flip in [0x01u8, 0x80] {
            let mut bytes = body.to_vec();
            bytes[i] ^= flip;
            if refused(&bytes) {
                return bytes;
            }
        }
    }
    panic!("no single-byte change put a buffer outside its body");
}

#[tokio::test]
async fn an_arrow_body_whose_buffers_lie_outside_it_is_a_400_and_the_server_goes_on() {
    let router = default_app();
    let c = case(IRIS);
    let good = arrow_stream(&[iris_arrow_request(&c, 0..10)]);
    let bad = with_a_buffer_outside_its_body(&good);
    let a = send(&router, post(PREDICT, ARROW, bad)).await;
    let e = a.error(400, "malformed_arrow");
    assert!(
        e["message"].as_str().unwrap().contains("lies outside its"),
        "{e}"
    );
    let a = send(&router, post(PREDICT, ARROW, good)).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn arrow_round_trip_matches_scikit_learn() {
    let router = default_app();
    let c = case(IRIS);
    // Two batches in: two batches out, rows in order.
    let body = arrow_stream(&[
        iris_arrow_request(&c, 0..10),
        iris_arrow_request(&c, 10..c.rows),
    ]);
    let a = send(&router, post(PREDICT, ARROW, body.clone())).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.headers[header::CONTENT_TYPE], ARROW);
    assert_eq!(a.headers["keel-model"], IRIS);
    let batches = read_arrow(&a.body);
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        vec![10, c.rows - 10]
    );
    let mut labels = Vec::new();
    let mut probs = Vec::new();
    for b in &batches {
        let l = b.column_by_name("label").unwrap().as_string::<i32>();
        labels.extend((0..l.len()).map(|i| json!(l.value(i))));
        let p = b
            .column_by_name("probability")
            .unwrap()
            .as_fixed_size_list();
        for i in 0..p.len() {
            let v = p.value(i);
            let v = v.as_primitive::<Float64Type>();
            probs.push(json!(v.values().to_vec()));
        }
    }
    c.check_column("label", &labels);
    c.check_column("probability", &probs);

    // Arrow in, JSON out when asked.
    let mut req = post(PREDICT, ARROW, body);
    req.headers_mut()
        .insert(header::ACCEPT, "application/json".parse().unwrap());
    let a = send(&router, req).await;
    let j = a.json();
    let got: Vec<J> = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].clone())
        .collect();
    c.check_column("label", &got);

    // JSON in, Arrow out when asked.
    let mut req = post_json(PREDICT, &c.columns_doc());
    req.headers_mut()
        .insert(header::ACCEPT, ARROW.parse().unwrap());
    let a = send(&router, req).await;
    assert_eq!(a.headers[header::CONTENT_TYPE], ARROW);
    assert_eq!(read_arrow(&a.body)[0].num_rows(), c.rows);
}

#[tokio::test]
async fn vector_inputs_take_arrays_and_fixed_size_lists() {
    let s = state(Config::default());
    install(&s, &iris_vector());
    let router = app(s);
    let c = case(IRIS);
    let names = IRIS_INPUTS;
    let features: Vec<J> = (0..c.rows)
        .map(|i| J::Array(names.iter().map(|n| c.inputs[*n][i].clone()).collect()))
        .collect();
    let a = send(
        &router,
        post_json(
            "/v1/models/iris_vector/predict",
            &json!({"columns": {"features": features}}),
        ),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    c.check_column(
        "probability",
        a.json()["columns"]["probability"].as_array().unwrap(),
    );

    let flat: Vec<f64> = features
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let list = FixedSizeListArray::try_new(
        Arc::new(ArrowField::new("item", DataType::Float64, false)),
        4,
        Arc::new(Float64Array::from(flat)),
        None,
    )
    .unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![ArrowField::new(
            "features",
            list.data_type().clone(),
            true,
        )])),
        vec![Arc::new(list)],
    )
    .unwrap();
    let a = send(
        &router,
        post(
            "/v1/models/iris_vector/predict",
            ARROW,
            arrow_stream(&[batch]),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(read_arrow(&a.body)[0].num_rows(), c.rows);

    let e = send(
        &router,
        post_json(
            "/v1/models/iris_vector/predict",
            &json!({"rows": [{"features": [1, 2, 3]}]}),
        ),
    )
    .await
    .error(422, "bad_value");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("features"), json!(0))
    );
}

#[tokio::test]
async fn big_requests_are_scored_on_the_pool_with_the_same_answer() {
    // 600 rows (over the inline limits of rows and body size) against the same rows one by
    // one: the pool path and the inline path give identical answers.
    let router = app(state(Config {
        threads: 2,
        ..Config::default()
    }));
    let c = case(IRIS);
    let mut rows = Vec::new();
    for _ in 0..(600 / c.rows + 1) {
        rows.extend(c.rows_doc()["rows"].as_array().unwrap().iter().cloned());
    }
    rows.truncate(600);
    let body = json!({"rows": rows});
    assert!(body.to_string().len() > 16 << 10);
    let a = send(&router, post_json(PREDICT, &body)).await;
    assert_eq!(a.status, StatusCode::OK);
    let big = a.json()["rows"].as_array().unwrap().clone();
    assert_eq!(big.len(), 600);
    for (i, r) in rows.iter().enumerate().step_by(37) {
        let a = send(&router, post_json(PREDICT, &json!({"rows": [r]}))).await;
        assert_eq!(a.json()["rows"][0], big[i], "row {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// Predict: bad input, each a JSON error naming what is wrong

#[tokio::test]
async fn malformed_requests_are_400() {
    let router = default_app();
    let e = send(&router, post(PREDICT, "application/json", "{\"rows\": ["))
        .await
        .error(400, "malformed_json");
    assert!(e["message"].as_str().unwrap().contains("EOF"), "{e}");
    send(&router, post(PREDICT, "application/json", ""))
        .await
        .error(400, "malformed_json");
    send(&router, post_json(PREDICT, &json!({"data": []})))
        .await
        .error(400, "malformed_json");
    send(&router, post_json(PREDICT, &json!({})))
        .await
        .error(400, "malformed_request");
    send(
        &router,
        post_json(PREDICT, &json!({"rows": [], "columns": {}})),
    )
    .await
    .error(400, "malformed_request");
    let e = send(&router, post_json(PREDICT, &json!({"rows": [[1, 2]]})))
        .await
        .error(400, "malformed_row");
    assert_eq!(e["row"], 0);
    send(&router, post_json(PREDICT, &json!({"columns": [1]})))
        .await
        .error(400, "malformed_json");
    send(&router, post(PREDICT, ARROW, "not arrow at all"))
        .await
        .error(400, "malformed_arrow");
    send(&router, post(PREDICT, ARROW, ""))
        .await
        .error(422, "bad_input");
    send(
        &router,
        post_json(
            &format!("{PREDICT}?ignore_extra_columns=maybe"),
            &json!({"rows": []}),
        ),
    )
    .await
    .error(400, "bad_query");
}

#[tokio::test]
async fn wrong_media_types_are_415_and_406() {
    let router = default_app();
    send(&router, post(PREDICT, "text/csv", "a,b\n1,2\n"))
        .await
        .error(415, "unsupported_media_type");
    let req = Request::post(PREDICT).body(Body::from("{}")).unwrap();
    send(&router, req)
        .await
        .error(415, "unsupported_media_type");
    let mut req = post_json(PREDICT, &json!({"rows": []}));
    req.headers_mut()
        .insert(header::ACCEPT, "text/csv".parse().unwrap());
    send(&router, req).await.error(406, "not_acceptable");
    send(
        &router,
        post("/v1/models/iris_logreg/transform", ARROW, "x"),
    )
    .await
    .error(415, "unsupported_media_type");
}

#[tokio::test]
async fn unknown_models_routes_and_methods_are_404_and_405() {
    let router = default_app();
    let doc = json!({"rows": [iris_row(json!(1), json!(1), json!(1), json!(1))]});
    send(&router, post_json("/v1/models/nope/predict", &doc))
        .await
        .error(404, "unknown_model");
    send(&router, post_json("/v1/models/iris_logreg@5/predict", &doc))
        .await
        .error(404, "unknown_version");
    send(&router, post_json("/v1/models/nope/transform", &doc))
        .await
        .error(404, "unknown_model");
    send(&router, get("/v2/models"))
        .await
        .error(404, "not_found");
    // `/` is the web page (serve_web.rs); a path beside the API's is not.
    send(&router, get("/v1")).await.error(404, "not_found");
    send(&router, get(PREDICT))
        .await
        .error(405, "method_not_allowed");
    let req = Request::builder()
        .method(Method::DELETE)
        .uri("/v1/models")
        .body(Body::empty())
        .unwrap();
    send(&router, req).await.error(405, "method_not_allowed");
}

#[tokio::test]
async fn schema_mismatches_are_422_with_column_and_row() {
    let router = default_app();
    let ok = |r: usize| iris_row(json!(5.0 + r as f64), json!(3.0), json!(1.5), json!(0.2));

    // Missing column, in both layouts and in Arrow.
    let mut row = ok(0);
    row.as_object_mut().unwrap().remove("petal width (cm)");
    let e = send(&router, post_json(PREDICT, &json!({"rows": [row]})))
        .await
        .error(422, "missing_column");
    assert_eq!(e["column"], "petal width (cm)");
    let mut cols = case(IRIS).columns_doc();
    cols["columns"]
        .as_object_mut()
        .unwrap()
        .remove("sepal width (cm)");
    let e = send(&router, post_json(PREDICT, &cols))
        .await
        .error(422, "missing_column");
    assert_eq!(e["column"], "sepal width (cm)");
    let c = case(IRIS);
    let b = iris_arrow_request(&c, 0..3);
    // The fixture's columns come in name order: the last one is `sepal width (cm)`.
    let b = b.project(&[0, 1, 2]).unwrap();
    let e = send(&router, post(PREDICT, ARROW, arrow_stream(&[b])))
        .await
        .error(422, "missing_column");
    assert_eq!(e["column"], "sepal width (cm)");

    // Extra column: refused unless asked to ignore it.
    let mut row = ok(0);
    row["id"] = json!(17);
    let doc = json!({"rows": [ok(0), row]});
    let e = send(&router, post_json(PREDICT, &doc))
        .await
        .error(422, "extra_column");
    assert_eq!(e["column"], "id");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("ignore_extra_columns=true")
    );
    let a = send(
        &router,
        post_json(&format!("{PREDICT}?ignore_extra_columns=true"), &doc),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let mut cols = case(IRIS).columns_doc();
    cols["columns"]["id"] = json!([1]);
    send(&router, post_json(PREDICT, &cols))
        .await
        .error(422, "extra_column");

    // Mistyped values.
    let e = send(
        &router,
        post_json(
            PREDICT,
            &json!({"rows": [ok(0), ok(1), iris_row(json!(5), json!("wide"), json!(1), json!(1))]}),
        ),
    )
    .await
    .error(422, "bad_value");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("sepal width (cm)"), json!(2))
    );
    let e = send(
        &router,
        post_json(
            PREDICT,
            &json!({"rows": [iris_row(json!(true), json!(1), json!(1), json!(1))]}),
        ),
    )
    .await
    .error(422, "bad_value");
    assert_eq!(e["column"], "sepal length (cm)");
    // An Arrow column of the wrong type.
    let schema = Arc::new(Schema::new(
        c.inputs
            .keys()
            .map(|n| ArrowField::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let strings: Vec<ArrayRef> = (0..4)
        .map(|_| Arc::new(StringArray::from(vec!["1"])) as ArrayRef)
        .collect();
    let b = RecordBatch::try_new(schema, strings).unwrap();
    let e = send(&router, post(PREDICT, ARROW, arrow_stream(&[b])))
        .await
        .error(422, "column_type");
    assert_eq!(e["column"], "sepal length (cm)");

    // Columns of different lengths.
    let mut cols = case(IRIS).columns_doc();
    cols["columns"]["petal width (cm)"] = json!([0.1]);
    let e = send(&router, post_json(PREDICT, &cols))
        .await
        .error(422, "row_count");
    assert_eq!(e["column"], "petal width (cm)");

    // No rows.
    send(&router, post_json(PREDICT, &json!({"rows": []})))
        .await
        .error(422, "empty_frame");
    let mut cols = case(IRIS).columns_doc();
    for v in cols["columns"].as_object_mut().unwrap().values_mut() {
        *v = json!([]);
    }
    send(&router, post_json(PREDICT, &cols))
        .await
        .error(422, "empty_frame");
}

#[tokio::test]
async fn nulls_nan_and_infinities_are_refused_where_the_model_cannot_take_them() {
    let s = state(Config::default());
    install(&s, &iris_not_null());
    let router = app(s);
    let ok = iris_row(json!(5.0), json!(3.0), json!(1.5), json!(0.2));

    // A null in a nullable input that the model cannot take (LogisticRegression).
    let e = send(
        &router,
        post_json(
            PREDICT,
            &json!({"rows": [ok, iris_row(json!(5), json!(null), json!(1), json!(1))]}),
        ),
    )
    .await
    .error(422, "missing_value");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("sepal width (cm)"), json!(1))
    );
    // An absent key is a null too.
    let mut row = ok.clone();
    row.as_object_mut().unwrap().remove("petal length (cm)");
    let e = send(&router, post_json(PREDICT, &json!({"rows": [ok, row]})))
        .await
        .error(422, "missing_value");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("petal length (cm)"), json!(1))
    );

    // A null in an input the schema declares not nullable.
    let e = send(
        &router,
        post_json(
            "/v1/models/iris_not_null/predict",
            &json!({"rows": [ok, ok, iris_row(json!(null), json!(1), json!(1), json!(1))]}),
        ),
    )
    .await
    .error(422, "missing_value");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("sepal length (cm)"), json!(2))
    );
    assert!(
        e["message"].as_str().unwrap().contains("not nullable"),
        "{e}"
    );

    // NaN is a missing value; infinities are not finite.
    let e = send(
        &router,
        post_json(
            PREDICT,
            &json!({"rows": [iris_row(json!(5), json!(3), json!("NaN"), json!(1))]}),
        ),
    )
    .await
    .error(422, "missing_value");
    assert_eq!(e["column"], "petal length (cm)");
    let e = send(
        &router,
        post_json(
            PREDICT,
            &json!({"rows": [ok, iris_row(json!(5), json!(3), json!(1), json!("-Infinity"))]}),
        ),
    )
    .await
    .error(422, "non_finite");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("petal width (cm)"), json!(1))
    );
    // Numbers too large for f64 are not JSON numbers the parser accepts as finite either.
    let body = r#"{"rows": [{"sepal length (cm)": 1e999, "sepal width (cm)": 1, "petal length (cm)": 1, "petal width (cm)": 1}]}"#;
    let a = send(&router, post(PREDICT, "application/json", body)).await;
    assert!(
        a.status.is_client_error(),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
}

// ---------------------------------------------------------------------------------------------
// MLeap transform

fn leap_frame(c: &Case, extra: bool) -> J {
    let mut fields = Vec::new();
    if extra {
        fields.push(json!({"name": "id", "type": "long"}));
    }
    for name in c.inputs.keys() {
        fields.push(json!({"name": name, "type": "double"}));
    }
    if extra {
        fields.push(json!({"name": "note", "type": {"type": "basic", "base": "string", "isNullable": true}}));
    }
    let rows: Vec<J> = (0..c.rows)
        .map(|i| {
            let mut r = Vec::new();
            if extra {
                r.push(json!(i));
            }
            r.extend(c.inputs.values().map(|v| v[i].clone()));
            if extra {
                r.push(json!(format!("row {i}")));
            }
            J::Array(r)
        })
        .collect();
    json!({"schema": {"fields": fields}, "rows": rows})
}

#[tokio::test]
async fn mleap_transform_appends_outputs_to_the_frame() {
    let router = default_app();
    let c = case(IRIS);
    let frame = leap_frame(&c, true);
    let a = send(
        &router,
        post_json("/v1/models/iris_logreg/transform", &frame),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.headers["keel-model"], IRIS);
    let j = a.json();
    let fields = j["schema"]["fields"].as_array().unwrap();
    let sent = frame["schema"]["fields"].as_array().unwrap();
    // The input fields as sent, then the outputs with MLeap types.
    assert_eq!(&fields[..sent.len()], sent.as_slice());
    assert_eq!(
        fields[sent.len()],
        json!({"name": "label", "type": {"type": "basic", "base": "string", "isNullable": false}})
    );
    assert_eq!(
        fields[sent.len() + 1],
        json!({"name": "probability", "type": {"type": "tensor", "base": "double", "isNullable": false, "dimensions": [3]}})
    );
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), c.rows);
    let w = sent.len();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            &r.as_array().unwrap()[..w],
            frame["rows"][i].as_array().unwrap().as_slice()
        );
        assert_eq!(r[w + 1]["dimensions"], json!([3]));
    }
    let labels: Vec<J> = rows.iter().map(|r| r[w].clone()).collect();
    let probs: Vec<J> = rows.iter().map(|r| r[w + 1]["values"].clone()).collect();
    c.check_column("label", &labels);
    c.check_column("probability", &probs);

    // A one-row frame (scored inline, not on the pool) gives the same row.
    let mut one = frame.clone();
    one["rows"] = json!([frame["rows"][0].clone()]);
    let a = send(&router, post_json("/v1/models/iris_logreg/transform", &one)).await;
    assert_eq!(a.json()["rows"][0], rows[0]);

    // Scalar outputs of a regression: a non-nullable double.
    let d = case(DIABETES);
    let a = send(
        &router,
        post_json(
            "/v1/models/diabetes_ct_linreg/transform",
            &leap_frame(&d, false),
        ),
    )
    .await;
    let j = a.json();
    let f = j["schema"]["fields"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        f,
        json!({"name": "prediction", "type": {"type": "basic", "base": "double", "isNullable": false}})
    );
    let w = d.inputs.len();
    let got: Vec<J> = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[w].clone())
        .collect();
    d.check_column("prediction", &got);
}

#[tokio::test]
async fn mleap_tensors_feed_vector_inputs() {
    let s = state(Config::default());
    install(&s, &iris_vector());
    let router = app(s);
    let c = case(IRIS);
    let names = IRIS_INPUTS;
    let rows: Vec<J> = (0..c.rows)
        .map(|i| {
            let values: Vec<J> = names.iter().map(|n| c.inputs[*n][i].clone()).collect();
            // Dense tensors, plain arrays and sparse tensors, in turn.
            let features = match i % 3 {
                0 => json!({"values": values, "dimensions": [4]}),
                1 => J::Array(values),
                _ => json!({"indices": [[0], [1], [2], [3]], "values": values, "dimensions": [4]}),
            };
            json!([features])
        })
        .collect();
    let frame = json!({"schema": {"fields": [{"name": "features", "type": {"type": "tensor", "base": "double", "dimensions": [4]}}]}, "rows": rows});
    let a = send(
        &router,
        post_json("/v1/models/iris_vector/transform", &frame),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let probs: Vec<J> = a.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[2]["values"].clone())
        .collect();
    c.check_column("probability", &probs);
    // Sparse: absent entries are zeros, and indices must fit.
    let frame = json!({"schema": {"fields": [{"name": "features", "type": "double"}]}, "rows": [[{"indices": [[7]], "values": [1.0], "dimensions": [4]}]]});
    let e = send(
        &router,
        post_json("/v1/models/iris_vector/transform", &frame),
    )
    .await
    .error(422, "bad_value");
    assert_eq!(e["column"], "features");
}

#[tokio::test]
async fn mleap_bad_frames_are_refused() {
    let router = default_app();
    let uri = "/v1/models/iris_logreg/transform";
    let c = case(IRIS);
    send(&router, post(uri, "application/json", "{\"schema\": 1}"))
        .await
        .error(400, "malformed_frame");
    let mut frame = leap_frame(&c, false);
    frame["rows"][3].as_array_mut().unwrap().pop();
    let e = send(&router, post_json(uri, &frame))
        .await
        .error(400, "malformed_frame");
    assert_eq!(e["row"], 3);
    let mut frame = leap_frame(&c, false);
    frame["schema"]["fields"][1]["name"] = json!("x");
    let e = send(&router, post_json(uri, &frame))
        .await
        .error(422, "missing_column");
    assert_eq!(e["column"], "petal width (cm)");
    let mut frame = leap_frame(&c, true);
    frame["schema"]["fields"][0]["name"] = json!("label");
    let e = send(&router, post_json(uri, &frame))
        .await
        .error(422, "column_exists");
    assert_eq!(e["column"], "label");
    let mut frame = leap_frame(&c, false);
    frame["rows"][2][1] = json!("wide");
    let e = send(&router, post_json(uri, &frame))
        .await
        .error(422, "bad_value");
    assert_eq!(
        (e["row"].clone(), e["column"].clone()),
        (json!(2), json!("petal width (cm)"))
    );
    let mut frame = leap_frame(&c, false);
    frame["rows"] = json!([]);
    send(&router, post_json(uri, &frame))
        .await
        .error(422, "empty_frame");
}

/// MLeap's own LeapFrames (../shared/compat/mleap, from the MLeap project) as existing MLeap
/// clients send them: the AirBnB frame scores through the demo AirBnB model (same column
/// names) and gets scikit-learn's prediction (recorded by fixtures/demo.py) appended; the
/// adult-census frame parses and is refused naming the first column the model needs.
#[tokio::test]
async fn real_mleap_frames_are_served() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/mleap");
    let Ok(airbnb) = std::fs::read(shared.join("frame.airbnb.json")) else {
        eprintln!(
            "skipping: the MLeap corpus is not at {} (it lives in the shared folder beside the repository)",
            shared.display()
        );
        return;
    };
    let s = state(Config::default());
    install(
        &s,
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/demo/airbnb_linear.keel"),
        )
        .unwrap(),
    );
    let router = app(s);
    let sent: J = serde_json::from_slice(&airbnb).unwrap();
    let answer = send(
        &router,
        post(
            "/v1/models/airbnb_linear/transform",
            "application/json",
            airbnb,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    let got = answer.json();
    let fields = got["schema"]["fields"].as_array().unwrap();
    let n_in = sent["schema"]["fields"].as_array().unwrap().len();
    assert_eq!(fields.len(), n_in + 1, "{got}");
    assert_eq!(fields[n_in]["name"], "prediction");
    // MLeap writes types either short ("double") or long ({"type": "basic", "base": ...}).
    let ty = &fields[n_in]["type"];
    assert!(ty == "double" || ty["base"] == "double", "{ty}");
    let row = got["rows"][0].as_array().unwrap();
    assert_eq!(
        &row[..n_in],
        sent["rows"][0].as_array().unwrap().as_slice(),
        "inputs are echoed"
    );
    let expected: J = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/demo/mleap_airbnb_expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let (k, s) = (
        row[n_in].as_f64().unwrap(),
        expected["prediction"][0].as_f64().unwrap(),
    );
    assert!(
        keel_runtime::tolerance::Tolerance::F64_LINEAR.accepts(k, s),
        "keel {k} vs scikit-learn {s}"
    );

    let adult = std::fs::read(shared.join("adult_census_leapframe.json")).unwrap();
    let e = send(
        &router,
        post(
            "/v1/models/airbnb_linear/transform",
            "application/json",
            adult,
        ),
    )
    .await
    .error(422, "missing_column");
    assert!(e["column"].is_string(), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Limits

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let router = app(state(Config {
        max_body: 1000,
        ..Config::default()
    }));
    let big = format!("{{\"rows\": [{}]}}", vec!["{}"; 400].join(","));
    let with_length = |uri: &str| {
        let mut r = post(uri, "application/json", big.clone());
        r.headers_mut().insert(
            header::CONTENT_LENGTH,
            big.len().to_string().parse().unwrap(),
        );
        r
    };
    // With a Content-Length: refused before the body is read, whatever the route.
    let e = send(&router, with_length(PREDICT)).await;
    e.error(413, "payload_too_large");
    assert_eq!(e.headers[header::CONNECTION], "close");
    // Streamed without a length: refused once it grows past the limit.
    let chunks: Vec<Bytes> = big
        .as_bytes()
        .chunks(100)
        .map(Bytes::copy_from_slice)
        .collect();
    let (tx, rx) = tokio::sync::mpsc::channel(chunks.len());
    for c in chunks {
        tx.try_send(Ok(c)).unwrap();
    }
    drop(tx);
    let body = Body::new(ChannelBody(rx));
    send(&router, post(PREDICT, "application/json", body))
        .await
        .error(413, "payload_too_large");
    send(&router, with_length("/v2/anything"))
        .await
        .error(413, "payload_too_large");
}

#[tokio::test]
async fn a_body_that_never_ends_times_out_with_408() {
    let router = app(state(Config {
        timeout: Duration::from_millis(200),
        ..Config::default()
    }));
    let (tx, body) = stalled_body();
    let start = std::time::Instant::now();
    let e = send(&router, post(PREDICT, "application/json", body)).await;
    drop(tx);
    e.error(408, "request_timeout");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// A body that sends one chunk and then nothing.
fn stalled_body() -> (
    tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    Body,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let _ = tx.try_send(Ok(Bytes::from_static(b"{\"rows\": [")));
    (tx, Body::new(ChannelBody(rx)))
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

/// A body fed from a channel: its length is unknown, and it ends when the sender is dropped.
impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
    }
}

// ---------------------------------------------------------------------------------------------
// Networks

/// The ONNX fixtures' cases (fixtures/onnx/cases.json): inputs and ONNX Runtime's outputs.
fn onnx_case(name: &str) -> J {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx/cases.json");
    let cases: J = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    cases[name].clone()
}

fn flat(v: &J, out: &mut Vec<f64>) {
    match v {
        J::Array(items) => items.iter().for_each(|i| flat(i, out)),
        other => out.push(other.as_f64().unwrap()),
    }
}

#[tokio::test]
async fn an_onnx_model_takes_and_answers_nested_arrays() {
    let s = state(Config::default());
    let onnx = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx/cnn.onnx"),
    )
    .unwrap();
    install(&s, &onnx);
    let router = app(s);
    let case = onnx_case("cnn");
    let images = case["inputs"]["x"].as_array().unwrap();
    let rows: Vec<J> = images.iter().map(|x| json!({"x": x})).collect();
    let a = send(
        &router,
        post_json("/v1/models/cnn/predict", &json!({"rows": rows})),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let answer = a.json();
    let mut got = Vec::new();
    for row in answer["rows"].as_array().unwrap() {
        // Each row's score is a nested array in the output's shape ([2]).
        assert_eq!(row["score"].as_array().unwrap().len(), 2);
        flat(&row["score"], &mut got);
    }
    let mut want = Vec::new();
    flat(&case["outputs"]["score"], &mut want);
    let tol = keel_runtime::tolerance::Tolerance::ONNX_F32
        .tolerance()
        .unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(tol.accepts(*g, *w), "keel {g} vs ONNX Runtime {w}");
    }

    // An image of the wrong shape is the client's 422, naming the column and row.
    let mut bad = rows.clone();
    bad[1] = json!({"x": [[[0.0, 1.0]]]});
    let e = send(
        &router,
        post_json("/v1/models/cnn/predict", &json!({"rows": bad})),
    )
    .await
    .error(422, "bad_value");
    assert_eq!(
        (e["column"].clone(), e["row"].clone()),
        (json!("x"), json!(1)),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("expected 6 elements on axis 1"),
        "{e}"
    );
}

/// The hostile bodies of the security issue, each sent to a live router: every one is a 4xx
/// in the error shape (`Answer::error` checks status, code, message, content type and request
/// ID), and the next, valid request is answered as usual.
#[tokio::test]
async fn hostile_bodies_are_4xx_in_the_error_shape_and_the_next_request_is_served() {
    let router = default_app();
    let c = case(IRIS);
    let valid = c.rows_doc();
    let row = valid["rows"][0].clone();
    let mut cases: Vec<(&str, Request<Body>, u16, &str)> = Vec::new();
    // Nesting a million deep: refused by the parser's depth limit, not by the stack.
    let deep = format!(
        "{{\"rows\": {}{}}}",
        "[".repeat(1_000_000),
        "]".repeat(1_000_000)
    );
    cases.push((
        "rows nested 1,000,000 deep",
        post(PREDICT, "application/json", deep),
        400,
        "malformed_row",
    ));
    let deep = format!(
        "{{\"rows\": [{{\"sepal length (cm)\": {}1{}}}]}}",
        "{\"a\":".repeat(1_000_000),
        "}".repeat(1_000_000)
    );
    cases.push((
        "a value nested 1,000,000 deep",
        post(PREDICT, "application/json", deep),
        422,
        "bad_value",
    ));
    // A million columns (about 17 MB): more than any model reads.
    let mut wide = String::from("{\"columns\": {");
    for i in 0..1_000_000 {
        if i > 0 {
            wide.push(',');
        }
        wide.push_str(&format!("\"c{i}\":[1]"));
    }
    wide.push_str("}}");
    cases.push((
        "a million columns",
        post(PREDICT, "application/json", wide),
        422,
        "extra_column",
    ));
    // Numbers past f64, and a 100,000-digit integer: they read as infinity, which the
    // model's scaler refuses naming the row and column.
    let mut huge = row.clone();
    huge["sepal length (cm)"] = J::Null;
    let with_number = |number: &str| {
        serde_json::to_string(&json!({"rows": [huge]}))
            .unwrap()
            .replace("null", number)
    };
    for (what, number) in [
        ("1e999999", "1e999999".to_string()),
        ("a 100,000-digit number", "9".repeat(100_000)),
    ] {
        let text = with_number(&number);
        cases.push((
            what,
            post(PREDICT, "application/json", text),
            422,
            "non_finite",
        ));
    }
    // A 16 MB string where a number goes.
    let mut long = row.clone();
    long["sepal length (cm)"] = json!("x".repeat(16 << 20));
    cases.push((
        "a 16 MB string",
        post_json(PREDICT, &json!({"rows": [long]})),
        422,
        "bad_value",
    ));
    // Bytes that are not UTF-8, inside a string and outside one.
    let mut bad = br#"{"rows": [{"sepal length (cm)": ""#.to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, b'"', b'}', b']', b'}']);
    cases.push((
        "invalid UTF-8",
        post(PREDICT, "application/json", bad),
        400,
        "malformed_json",
    ));
    // The same key twice in a row.
    let dup = r#"{"rows": [{"sepal length (cm)": 5.1, "sepal length (cm)": 6.0, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}]}"#;
    cases.push((
        "a duplicate key",
        post(PREDICT, "application/json", dup),
        400,
        "malformed_row",
    ));
    // A LeapFrame whose rows are longer than its schema.
    let mut frame = leap_frame(&c, false);
    frame["rows"][1].as_array_mut().unwrap().push(json!(1.0));
    cases.push((
        "a LeapFrame row longer than its schema",
        post_json("/v1/models/iris_logreg/transform", &frame),
        400,
        "malformed_frame",
    ));
    for (what, req, status, code) in cases {
        let answer = send(&router, req).await;
        let e = answer.error(status, code);
        assert!(
            e["message"].as_str().is_some_and(|m| m.len() < 1000),
            "{what}: the message must not echo the hostile input: {} bytes",
            e["message"].as_str().map_or(0, str::len)
        );
        let next = send(&router, post_json(PREDICT, &valid)).await;
        assert_eq!(next.status, StatusCode::OK, "after {what}: {}", next.text());
    }
}
