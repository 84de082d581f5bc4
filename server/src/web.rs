//! The web page at `/`: a model browser built into the binary (`server/web/`: plain HTML, CSS
//! and JavaScript, no build step, nothing fetched from elsewhere). It lists the loaded models,
//! draws a model's pipeline, offers its input schema as a form and scores it through the public
//! API, so everything it shows is what a client of the API would get.
//!
//! Caching: the page itself is `no-cache` (revalidated on every visit, with an `ETag`, so a
//! repeat visit costs a 304), and it links its script and style sheet as `/ui/NAME?v=HASH`.
//! Asked for with the hash of the bytes this binary holds, an asset is `immutable` for a year;
//! any other request for it (no hash, or an older one) is `no-cache`, so an upgraded server
//! never leaves a browser running an old script against a new page.
//!
//! The page runs under a strict Content-Security-Policy (only its own script, style and API;
//! no inline code), which also guarantees it needs no network beyond this server.

use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const STYLE_CSS: &str = include_str!("../web/style.css");

/// What the page may load: itself only. `img-src data:` is for the empty favicon, which keeps
/// browsers from asking for `/favicon.ico`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A year: the longest max-age caches honour, for the content-addressed asset URLs.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Revalidate before each use (with the `ETag`).
const REVALIDATE: &str = "no-cache";

/// One embedded file, ready to serve.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    /// A strong `ETag` (quoted), from the bytes' SHA-256.
    etag: HeaderValue,
    /// The short hash put in the asset's URL (`?v=`).
    version: String,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Asset {
        let digest = hex::encode(Sha256::digest(body));
        let version = digest.get(..16).unwrap_or(&digest).to_string();
        // Hex digits in quotes are always a valid header value.
        let etag = HeaderValue::from_str(&format!("\"{version}\""))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        Asset {
            body,
            content_type,
            etag,
            version,
        }
    }
}

struct Assets {
    index: Asset,
    app_js: Asset,
    style_css: Asset,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let app_js = Asset::new(APP_JS.as_bytes(), "text/javascript; charset=utf-8");
    let style_css = Asset::new(STYLE_CSS.as_bytes(), "text/css; charset=utf-8");
    // The page names its assets by content hash; rendered once, then leaked for a `'static`
    // body like the others (one small string per process).
    let html = INDEX_HTML
        .replace("{{app.js}}", &format!("/ui/app.js?v={}", app_js.version))
        .replace(
            "{{style.css}}",
            &format!("/ui/style.css?v={}", style_css.version),
        );
    let html: &'static str = Box::leak(html.into_boxed_str());
    Assets {
        index: Asset::new(html.as_bytes(), "text/html; charset=utf-8"),
        app_js,
        style_css,
    }
});

/// Whether an `If-None-Match` header names `etag` (or is `*`). Weak validators compare equal
/// to strong ones here (RFC 9110's weak comparison, which `If-None-Match` uses).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let want = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == want)
}

fn serve(asset: &Asset, headers: &HeaderMap, cache: &'static str, page: bool) -> Response {
    let mut response = if not_modified(headers, &asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if page {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// An asset's caching: immutable when asked for by this binary's hash of it.
fn asset_cache(asset: &Asset, query: Option<&str>) -> &'static str {
    let current = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.strip_prefix("v=") == Some(asset.version.as_str()))
    });
    if current { IMMUTABLE } else { REVALIDATE }
}

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&ASSETS.index, &headers, REVALIDATE, true)
}

/// `GET /ui/app.js`: the page's script.
pub async fn app_js(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let asset = &ASSETS.app_js;
    serve(asset, &headers, asset_cache(asset, query.as_deref()), false)
}

/// `GET /ui/style.css`: the page's style sheet.
pub async fn style_css(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let asset = &ASSETS.style_css;
    serve(asset, &headers, asset_cache(asset, query.as_deref()), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_assets_by_hash() {
        let html = std::str::from_utf8(ASSETS.index.body).unwrap_or_default();
        assert!(html.contains(&format!("/ui/app.js?v={}", ASSETS.app_js.version)));
        assert!(html.contains(&format!("/ui/style.css?v={}", ASSETS.style_css.version)));
        assert!(!html.contains("{{"), "a placeholder was left in the page");
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_in_lists() {
        let etag = HeaderValue::from_static("\"abc\"");
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, &etag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(not_modified(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abcd\""));
        assert!(!not_modified(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, &etag));
    }
}
