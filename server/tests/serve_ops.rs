//! The operational routes without a socket: admin (on, off, with and without the right token),
//! health and readiness, metrics after traffic, CORS, and the OpenAPI document's coverage of
//! every route.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod oneshot;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use keel_server::registry::Readiness;
use keel_server::{AppState, Config, app};
use oneshot::send;
use serde_json::json;

fn req(
    method: Method,
    uri: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(ct) = ct {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(body.into()).unwrap()
}

const TOKEN: &str = "correct horse battery staple";

fn admin_state() -> AppState {
    state(Config {
        admin_token: Some(TOKEN.into()),
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Admin

#[tokio::test]
async fn admin_is_disabled_without_a_token_and_says_how_to_enable_it() {
    let router = app(state(Config::default()));
    let upload = bundle_bytes(IRIS);
    for r in [
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/octet-stream"),
            upload.clone(),
        ),
        req(
            Method::POST,
            "/v1/admin/models",
            None,
            Some("application/octet-stream"),
            upload,
        ),
        req(
            Method::DELETE,
            "/v1/admin/models/iris_logreg",
            Some(TOKEN),
            None,
            Body::empty(),
        ),
    ] {
        let e = send(&router, r).await.error(403, "admin_disabled");
        let message = e["message"].as_str().unwrap_or_default();
        assert!(message.contains("--admin-token"), "{e}");
        assert!(message.contains("KEEL_ADMIN_TOKEN"), "{e}");
    }
}

#[tokio::test]
async fn admin_needs_the_right_token() {
    let router = app(admin_state());
    let upload = || bundle_bytes(IRIS);
    let a = send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            None,
            Some("application/octet-stream"),
            upload(),
        ),
    )
    .await;
    a.error(401, "unauthorized");
    assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
    for wrong in [
        "wrong",
        "correct horse battery stapl",
        "correct horse battery staple!",
        "",
    ] {
        send(
            &router,
            req(
                Method::POST,
                "/v1/admin/models",
                Some(wrong),
                Some("application/octet-stream"),
                upload(),
            ),
        )
        .await
        .error(401, "unauthorized");
    }
    let r = Request::delete("/v1/admin/models/iris_logreg")
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    send(&router, r).await.error(401, "unauthorized");
    // Nothing was unloaded by the refused requests.
    let a = send(
        &router,
        req(
            Method::GET,
            "/v1/models/iris_logreg",
            None,
            None,
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(a.json()["versions"], json!([1]));
}

#[tokio::test]
async fn admin_loads_uploads_and_paths_and_unloads() {
    let router = app(admin_state());
    // An upload becomes the next version of its name.
    let a = send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/octet-stream"),
            iris_release(2),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let j = a.json();
    assert_eq!(
        (j["name"].clone(), j["version"].clone()),
        (json!(IRIS), json!(2))
    );
    assert_eq!(j["source"]["kind"], "upload");
    assert_eq!(j["metadata"]["release"], "2");

    // A path on the server's disk.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.keel");
    std::fs::write(&path, iris_release(3)).unwrap();
    let a = send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/json"),
            json!({"path": path}).to_string(),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let j = a.json();
    assert_eq!(
        (j["version"].clone(), j["source"]["path"].clone()),
        (json!(3), json!(path.display().to_string()))
    );

    // The newest answers by name.
    let doc = json!({"rows": [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}]});
    let a = send(
        &router,
        req(
            Method::POST,
            "/v1/models/iris_logreg/predict",
            None,
            Some("application/json"),
            doc.to_string(),
        ),
    )
    .await;
    assert_eq!(a.json()["version"], 3);

    // Broken input is the client's mistake, never a 500.
    send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/octet-stream"),
            "not a bundle",
        ),
    )
    .await
    .error(422, "invalid_bundle");
    // What was sent is named, with what keel reads.
    let e = send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/octet-stream"),
            "a,b\n1,2\n",
        ),
    )
    .await
    .error(422, "invalid_bundle");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.contains("not a zip archive (a text file)"), "{e}");
    assert!(message.contains("MLeap Bundle.ML"), "{e}");
    send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/json"),
            json!({"path": dir.path().join("none.keel")}).to_string(),
        ),
    )
    .await
    .error(422, "unreadable_path");
    send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("application/json"),
            "{\"file\": 1}",
        ),
    )
    .await
    .error(400, "malformed_json");
    send(
        &router,
        req(
            Method::POST,
            "/v1/admin/models",
            Some(TOKEN),
            Some("text/plain"),
            "x",
        ),
    )
    .await
    .error(415, "unsupported_media_type");

    // Unload one version, then the rest.
    let a = send(
        &router,
        req(
            Method::DELETE,
            "/v1/admin/models/iris_logreg@2",
            Some(TOKEN),
            None,
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(
        a.json(),
        json!({"unloaded": [{"name": IRIS, "version": 2}]})
    );
    send(
        &router,
        req(
            Method::DELETE,
            "/v1/admin/models/iris_logreg@2",
            Some(TOKEN),
            None,
            Body::empty(),
        ),
    )
    .await
    .error(404, "unknown_version");
    let a = send(
        &router,
        req(
            Method::DELETE,
            "/v1/admin/models/iris_logreg",
            Some(TOKEN),
            None,
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(a.json()["unloaded"].as_array().unwrap().len(), 2);
    send(
        &router,
        req(
            Method::DELETE,
            "/v1/admin/models/iris_logreg",
            Some(TOKEN),
            None,
            Body::empty(),
        ),
    )
    .await
    .error(404, "unknown_model");
    send(
        &router,
        req(
            Method::POST,
            "/v1/models/iris_logreg/predict",
            None,
            Some("application/json"),
            doc.to_string(),
        ),
    )
    .await
    .error(404, "unknown_model");
}

// ---------------------------------------------------------------------------------------------
// Health, readiness, metrics

#[tokio::test]
async fn health_and_readiness() {
    let s = AppState::new(Config::default()).unwrap();
    let router = app(s.clone());
    let a = send(
        &router,
        req(Method::GET, "/healthz", None, None, Body::empty()),
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    s.registry.set_readiness(Readiness {
        ready: false,
        waiting: vec!["/models/a.keel".into()],
    });
    let a = send(
        &router,
        req(Method::GET, "/readyz", None, None, Body::empty()),
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.json()["waiting"], json!(["/models/a.keel"]));
    install(&s, &bundle_bytes(IRIS));
    s.registry.set_readiness(Readiness {
        ready: true,
        waiting: vec![],
    });
    let a = send(
        &router,
        req(Method::GET, "/readyz", None, None, Body::empty()),
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, json!({"ready": true, "models": 1}))
    );
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start).map(str::trim))
        .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_requests_rows_errors_and_latency() {
    let router = app(state(Config::default()));
    let c = case(IRIS);
    for _ in 0..3 {
        let a = send(
            &router,
            req(
                Method::POST,
                "/v1/models/iris_logreg/predict",
                None,
                Some("application/json"),
                c.rows_doc().to_string(),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    for _ in 0..2 {
        send(
            &router,
            req(
                Method::POST,
                "/v1/models/iris_logreg/predict",
                None,
                Some("application/json"),
                "{\"rows\": []}",
            ),
        )
        .await;
    }
    send(
        &router,
        req(
            Method::POST,
            "/v1/models/nope/predict",
            None,
            Some("application/json"),
            "{}",
        ),
    )
    .await;
    send(
        &router,
        req(Method::GET, "/nowhere", None, None, Body::empty()),
    )
    .await;
    let a = send(
        &router,
        req(Method::GET, "/metrics", None, None, Body::empty()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let t = a.text();
    let m = r#"{model="iris_logreg",version="1",endpoint="predict"}"#;
    assert_eq!(metric(&t, &format!("keel_model_requests_total{m}")), 5.0);
    assert_eq!(
        metric(&t, &format!("keel_model_rows_total{m}")),
        3.0 * c.rows as f64
    );
    assert_eq!(
        metric(&t, &format!("keel_model_request_duration_seconds_count{m}")),
        5.0
    );
    assert!(metric(&t, &format!("keel_model_request_duration_seconds_sum{m}")) > 0.0);
    assert!(t.contains(r#"keel_model_request_duration_seconds_bucket{le="+Inf",model="iris_logreg",version="1",endpoint="predict"} 5"#), "{t}");
    assert_eq!(
        metric(
            &t,
            r#"keel_errors_total{code="empty_frame",model="iris_logreg",version="1"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(
            &t,
            r#"keel_errors_total{code="unknown_model",model="",version=""}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &t,
            r#"keel_errors_total{code="not_found",model="",version=""}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &t,
            r#"keel_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &t,
            r#"keel_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="422"}"#
        ),
        2.0
    );
    assert_eq!(metric(&t, "keel_models_loaded"), 2.0);
    assert_eq!(metric(&t, "keel_model_load_errors"), 0.0);
    assert!(
        t.contains(&format!(
            "keel_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{t}"
    );
    assert!(t.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn cors_answers_preflight_for_configured_origins() {
    let router = app(state(Config {
        cors_origins: vec!["https://app.example".into()],
        ..Config::default()
    }));
    let r = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/models/iris_logreg/predict")
        .header(header::ORIGIN, "https://app.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let a = send(&router, r).await;
    assert!(a.status.is_success(), "{}", a.status);
    assert_eq!(
        a.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    let r = Request::get("/v1/models")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let a = send(&router, r).await;
    assert!(a.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    // Without --cors-origin, no CORS headers at all.
    let router = app(state(Config::default()));
    let r = Request::get("/v1/models")
        .header(header::ORIGIN, "https://app.example")
        .body(Body::empty())
        .unwrap();
    assert!(
        send(&router, r)
            .await
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

#[tokio::test]
async fn openapi_documents_every_route_and_only_those() {
    let router = app(admin_state());
    let a = send(
        &router,
        req(Method::GET, "/openapi.json", None, None, Body::empty()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.to_ascii_uppercase(), path.clone()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            assert!(op["operationId"].is_string(), "{method} {path}");
        }
    }
    let mut served: Vec<(String, String)> = keel_server::router::routes()
        .into_iter()
        .map(|(m, p)| (m, p.to_string()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    // Every `$ref` resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
    // And every documented route is answered by a handler, not by the fallbacks.
    for (method, path) in served {
        let uri = path.replace("{name}", "iris_logreg");
        let r = req(
            method.parse().unwrap(),
            &uri,
            Some(TOKEN),
            Some("application/json"),
            "{}",
        );
        let a = send(&router, r).await;
        // A redirect (`/playground` to `/playground/`) is a handler's answer too.
        if !a.status.is_success() && !a.status.is_redirection() {
            let code = a.json()["error"]["code"].clone();
            assert!(
                code != "not_found" && code != "method_not_allowed",
                "{method} {path}: {code}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Playground

/// A package folder with every file the playground serves (contents made up: the server only
/// serves them).
fn package_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "playground.html",
        "playground.js",
        "playground.css",
        "index.js",
        "shared.js",
        "worker.js",
        "worker-client.js",
        "keel_wasm.js",
        "keel_wasm_bg.wasm",
    ] {
        std::fs::write(dir.path().join(name), format!("contents of {name}")).unwrap();
    }
    dir
}

#[tokio::test]
async fn the_playground_serves_the_package_files_and_nothing_else() {
    let dir = package_dir();
    let playground = keel_server::playground::Playground::load(dir.path()).unwrap();
    let router = app(state(Config {
        playground: Some(std::sync::Arc::new(playground)),
        ..Config::default()
    }));
    let get = |uri: &str| req(Method::GET, uri, None, None, Body::empty());
    let a = send(&router, get("/playground")).await;
    assert_eq!(a.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(a.headers[header::LOCATION], "/playground/");
    let page = send(&router, get("/playground/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(), "contents of playground.html");
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("'wasm-unsafe-eval'") && csp.contains("worker-src 'self'"),
        "{csp}"
    );
    let wasm = send(&router, get("/playground/keel_wasm_bg.wasm")).await;
    assert_eq!(wasm.headers[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(wasm.text(), "contents of keel_wasm_bg.wasm");
    // Revalidation with the ETag answers 304.
    let etag = wasm.headers[header::ETAG].clone();
    let mut again = get("/playground/keel_wasm_bg.wasm");
    again.headers_mut().insert(header::IF_NONE_MATCH, etag);
    assert_eq!(send(&router, again).await.status, StatusCode::NOT_MODIFIED);
    // Only the package's own names: no other file of the folder, no way out of it.
    std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
    for uri in [
        "/playground/secret.txt",
        "/playground/..%2Fsecret.txt",
        "/playground/%2E%2E",
    ] {
        send(&router, get(uri)).await.error(404, "not_found");
    }
}

#[tokio::test]
async fn without_a_package_the_playground_says_how_to_build_one() {
    let router = app(state(Config::default()));
    let a = send(
        &router,
        req(Method::GET, "/playground/", None, None, Body::empty()),
    )
    .await;
    let e = a.error(404, "no_playground");
    assert!(e["message"].as_str().unwrap().contains("wasm/build.sh"));
    let dir = tempfile::tempdir().unwrap();
    let err = keel_server::playground::Playground::load(dir.path()).unwrap_err();
    assert!(
        err.contains("playground.html") && err.contains("wasm/build.sh"),
        "{err}"
    );
}
