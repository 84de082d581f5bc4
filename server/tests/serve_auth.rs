//! Bearer tokens and roles, and request IDs, without a socket: `--tokens` protects the
//! scoring routes (401 without a valid token, 403 for a role that may not call the route),
//! the admin token keeps working beside it, and every answer carries `x-request-id`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod oneshot;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use keel_server::auth::Tokens;
use keel_server::{Config, app};
use oneshot::{Answer, send};
use std::path::Path;

const SCORE: &str = "score-0123456789abcdef";
const ADMIN: &str = "admin-0123456789abcdef";
const ENV_ADMIN: &str = "env admin token";

fn tokens() -> Tokens {
    Tokens::parse(
        &format!("# roles\nscore {SCORE}\nadmin {ADMIN}\n"),
        Path::new("tokens.txt"),
    )
    .unwrap()
}

fn router(tokens: Option<Tokens>, admin_token: Option<&str>) -> axum::Router {
    app(state(Config {
        tokens,
        admin_token: admin_token.map(String::from),
        ..Config::default()
    }))
}

fn predict(auth: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/v1/models/iris_logreg/predict")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    let doc = case(IRIS).rows_doc();
    b.body(Body::from(serde_json::to_vec(&doc).unwrap()))
        .unwrap()
}

fn unload(auth: Option<&str>) -> Request<Body> {
    let mut b = Request::delete("/v1/admin/models/diabetes_ct_linreg");
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::empty()).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_401(a: &Answer) {
    a.error(401, "unauthorized");
    assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
}

#[tokio::test]
async fn scoring_is_open_without_a_tokens_file() {
    let r = router(None, Some(ENV_ADMIN));
    assert_eq!(send(&r, predict(None)).await.status, 200);
    // A token that means nothing here is not looked at.
    assert_eq!(send(&r, predict(Some("Bearer whatever"))).await.status, 200);
}

#[tokio::test]
async fn scoring_needs_a_valid_token_with_a_tokens_file() {
    let r = router(Some(tokens()), None);
    for auth in [
        None,
        Some("Basic c2NvcmU6eA=="),
        Some("Bearer"),
        Some("Bearer "),
        Some(SCORE),
        Some("Bearer score-0123456789abcdeF"),
        Some("Bearer wrong"),
    ] {
        let a = send(&r, predict(auth)).await;
        assert_401(&a);
        // The answer never repeats a token.
        assert!(!a.text().contains("0123456789abcde"), "{}", a.text());
    }
    assert_eq!(send(&r, predict(Some(&bearer(SCORE)))).await.status, 200);
    assert_eq!(
        send(&r, predict(Some(&format!("bearer  {SCORE} "))))
            .await
            .status,
        200
    );
    assert_eq!(send(&r, predict(Some(&bearer(ADMIN)))).await.status, 200);
    // transform is a scoring route too: a score token gets past the check to the body's.
    let t = |auth: Option<&str>| {
        let mut b = Request::post("/v1/models/iris_logreg/transform")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::from("{}")).unwrap()
    };
    assert_401(&send(&r, t(None)).await);
    send(&r, t(Some(&bearer(SCORE))))
        .await
        .error(400, "malformed_frame");
    // Routes that do not score stay open.
    for path in [
        "/v1/models",
        "/v1/models/iris_logreg",
        "/healthz",
        "/metrics",
    ] {
        let a = send(&r, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(a.status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_score_token_is_forbidden_on_admin_routes() {
    let r = router(Some(tokens()), None);
    let a = send(&r, unload(Some(&bearer(SCORE)))).await;
    let e = a.error(403, "forbidden");
    assert!(e["message"].as_str().unwrap().contains("`score`"), "{e}");
    assert!(a.headers.get(header::WWW_AUTHENTICATE).is_none());
    assert_401(&send(&r, unload(None)).await);
    assert_401(&send(&r, unload(Some("Bearer nope"))).await);
    let a = send(&r, unload(Some(&bearer(ADMIN)))).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["unloaded"][0]["name"], "diabetes_ct_linreg");
}

#[tokio::test]
async fn the_admin_token_keeps_working_beside_a_tokens_file() {
    let r = router(Some(tokens()), Some(ENV_ADMIN));
    assert_eq!(
        send(&r, predict(Some(&bearer(ENV_ADMIN)))).await.status,
        200
    );
    assert_eq!(send(&r, unload(Some(&bearer(ENV_ADMIN)))).await.status, 200);
    // A file with score tokens only, and no admin token: the admin routes are off.
    let only_score = Tokens::parse(&format!("score {SCORE}\n"), Path::new("t")).unwrap();
    let r = router(Some(only_score), None);
    send(&r, unload(Some(&bearer(SCORE))))
        .await
        .error(403, "admin_disabled");
    // The admin token alone still turns them on, and leaves scoring open.
    let r = router(None, Some(ENV_ADMIN));
    assert_eq!(send(&r, unload(Some(&bearer(ENV_ADMIN)))).await.status, 200);
    assert_401(&send(&r, unload(Some(&bearer(SCORE)))).await);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let r = router(Some(tokens()), None);
    let id = |a: &Answer| a.headers["x-request-id"].to_str().unwrap().to_string();
    // A sane client ID is kept, on successes and errors alike.
    let mut req = predict(Some(&bearer(SCORE)));
    req.headers_mut()
        .insert("x-request-id", "client-id-42".parse().unwrap());
    assert_eq!(id(&send(&r, req).await), "client-id-42");
    let mut req = predict(None);
    req.headers_mut()
        .insert("x-request-id", "client-id-43".parse().unwrap());
    let a = send(&r, req).await;
    assert_eq!(a.error(401, "unauthorized")["request_id"], "client-id-43");
    // Others are replaced by a fresh one: too long, spaces, empty.
    for bad in ["x".repeat(129), "two words".into(), String::new()] {
        let mut req = Request::get("/healthz").body(Body::empty()).unwrap();
        req.headers_mut()
            .insert("x-request-id", bad.parse().unwrap());
        let got = id(&send(&r, req).await);
        assert!(!got.is_empty() && got != bad && !got.contains(' '), "{got}");
    }
    let max = "y".repeat(128);
    let mut req = Request::get("/healthz").body(Body::empty()).unwrap();
    req.headers_mut()
        .insert("x-request-id", max.parse().unwrap());
    assert_eq!(id(&send(&r, req).await), max);
    // Generated IDs differ from request to request; a 404 has one too.
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    let (a, b) = (
        send(&r, get("/healthz")).await,
        send(&r, get("/healthz")).await,
    );
    assert_ne!(id(&a), id(&b));
    send(&r, get("/nowhere")).await.error(404, "not_found");
}
