//! The web page's routes without a socket: content types, caching (no-cache page with an ETag
//! and 304s, immutable content-hashed assets, revalidated unhashed ones), the security headers
//! that keep the page self-contained, and HEAD. What the page does in a browser is checked by
//! `web_e2e.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::*;
use http_body_util::BodyExt;
use keel_server::{Config, app};
use tower::ServiceExt;

async fn get(
    router: &axum::Router,
    method: Method,
    uri: &str,
    extra: &[(header::HeaderName, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in extra {
        b = b.header(k, *v);
    }
    let resp = router
        .clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn header(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The `src`/`href` of the page's script and style sheet.
fn asset_urls(page: &str) -> (String, String) {
    let find = |prefix: &str| {
        let start = page
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix} not linked"));
        let rest = &page[start..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    (find("/ui/app.js?v="), find("/ui/style.css?v="))
}

#[tokio::test]
async fn the_page_is_html_revalidated_and_self_contained() {
    let router = app(state(Config::default()));
    let (status, h, page) = get(&router, Method::GET, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&h, header::CACHE_CONTROL), "no-cache");
    assert_eq!(header(&h, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let csp = header(&h, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains("<html lang=\"en\">"));
    // Nothing from elsewhere: no absolute URL in a src or href.
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            assert!(
                part.starts_with('/') || part.starts_with('#') || part.starts_with("data:"),
                "{attr}{}",
                &part[..part.find('"').unwrap()]
            );
        }
    }
    // Revalidation: the ETag gives a 304 with no body, also among others and weak.
    let etag = header(&h, header::ETAG).to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    for inm in [etag.clone(), format!("\"other\", W/{etag}")] {
        let (status, h2, body) =
            get(&router, Method::GET, "/", &[(header::IF_NONE_MATCH, &inm)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(body.is_empty());
        assert_eq!(header(&h2, header::ETAG), etag);
        assert_eq!(header(&h2, header::CACHE_CONTROL), "no-cache");
    }
    let (status, _, _) = get(
        &router,
        Method::GET,
        "/",
        &[(header::IF_NONE_MATCH, "\"stale\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // HEAD answers the headers without the body.
    let (status, h3, body) = get(&router, Method::HEAD, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(
        header(&h3, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
}

#[tokio::test]
async fn assets_are_immutable_only_under_their_hash() {
    let router = app(state(Config::default()));
    let (_, _, page) = get(&router, Method::GET, "/", &[]).await;
    let (js, css) = asset_urls(&page);
    for (url, content_type, marker) in [
        (js, "text/javascript; charset=utf-8", "'use strict';"),
        (css, "text/css; charset=utf-8", ":root {"),
    ] {
        let (status, h, body) = get(&router, Method::GET, &url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(header(&h, header::CONTENT_TYPE), content_type);
        assert_eq!(
            header(&h, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&h, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(body.contains(marker), "{url}");
        // The hash in the URL is the one in the ETag: the URL names these bytes.
        let v = url.split("?v=").nth(1).unwrap();
        assert_eq!(header(&h, header::ETAG), format!("\"{v}\""));
        // Without the hash, or with another one, the asset must be revalidated.
        let bare = url.split('?').next().unwrap();
        for other in [bare.to_string(), format!("{bare}?v=0123456789abcdef")] {
            let (status, h, body2) = get(&router, Method::GET, &other, &[]).await;
            assert_eq!(status, StatusCode::OK, "{other}");
            assert_eq!(header(&h, header::CACHE_CONTROL), "no-cache", "{other}");
            assert_eq!(body2, body);
        }
        let etag = header(&h, header::ETAG).to_string();
        let (status, _, _) = get(
            &router,
            Method::GET,
            &url,
            &[(header::IF_NONE_MATCH, &etag)],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
    }
    // Other paths under /ui are the JSON 404 of every unknown route.
    let (status, h, body) = get(&router, Method::GET, "/ui/other.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(header(&h, header::CONTENT_TYPE).starts_with("application/json"));
    assert!(body.contains("\"not_found\""), "{body}");
}

#[tokio::test]
async fn the_page_is_not_a_scoring_route() {
    let router = app(state(Config::default()));
    let (status, _, body) = get(&router, Method::POST, "/", &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.contains("\"method_not_allowed\""), "{body}");
}
