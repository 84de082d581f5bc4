//! The playground at `/playground/`: keel's npm package (built by `wasm/build.sh DIR`) served
//! from the folder `keel serve --playground DIR` names. The page opens a bundle the person picks
//! and scores rows with it inside their browser's WebAssembly, with no request to this server
//! beyond the page's own files.
//!
//! The files are read once, at start-up (a missing one is an error then, not a 404 later), and
//! only the package's own names are served, so no request can reach another file. The page
//! runs under a Content-Security-Policy that allows its own scripts, WebAssembly compilation
//! (`'wasm-unsafe-eval'`) and its module worker, and nothing from elsewhere.

use crate::error::AppError;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::state::AppState;

/// The package files the page needs, with their media types (`application/wasm` lets the
/// browser compile the module while it downloads).
const FILES: &[(&str, &str)] = &[
    ("playground.html", "text/html; charset=utf-8"),
    ("playground.js", "text/javascript; charset=utf-8"),
    ("playground.css", "text/css; charset=utf-8"),
    ("index.js", "text/javascript; charset=utf-8"),
    ("shared.js", "text/javascript; charset=utf-8"),
    ("worker.js", "text/javascript; charset=utf-8"),
    ("worker-client.js", "text/javascript; charset=utf-8"),
    ("keel_wasm.js", "text/javascript; charset=utf-8"),
    ("keel_wasm_bg.wasm", "application/wasm"),
];

const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
                   style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// One file of the package, in memory.
struct File {
    body: Vec<u8>,
    content_type: &'static str,
    etag: HeaderValue,
}

/// The package's files, read from its folder.
pub struct Playground {
    files: BTreeMap<&'static str, File>,
}

impl std::fmt::Debug for Playground {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.files
                    .iter()
                    .map(|(name, file)| (name, file.body.len())),
            )
            .finish()
    }
}

impl Playground {
    /// Reads the package from `dir`; the error names the missing file and how to build it.
    pub fn load(dir: &std::path::Path) -> Result<Playground, String> {
        let mut files = BTreeMap::new();
        for &(name, content_type) in FILES {
            let path = dir.join(name);
            let body = std::fs::read(&path).map_err(|e| {
                format!(
                    "--playground {}: cannot read {name} ({e}); build keel's npm package there \
                     with `wasm/build.sh {}`",
                    dir.display(),
                    dir.display()
                )
            })?;
            let digest = hex::encode(Sha256::digest(&body));
            let etag = HeaderValue::from_str(&format!("\"{}\"", digest.get(..16).unwrap_or("0")))
                .unwrap_or(HeaderValue::from_static("\"0\""));
            files.insert(
                name,
                File {
                    body,
                    content_type,
                    etag,
                },
            );
        }
        Ok(Playground { files })
    }

    fn answer(&self, name: &str, if_none_match: Option<&HeaderValue>) -> Option<Response> {
        let file = self.files.get(name)?;
        let common = [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, file.etag.clone()),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ];
        if if_none_match == Some(&file.etag) {
            return Some((StatusCode::NOT_MODIFIED, common).into_response());
        }
        Some(
            (
                common,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(file.content_type),
                )],
                file.body.clone(),
            )
                .into_response(),
        )
    }
}

fn not_configured() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "no_playground",
        "the playground is not served: build keel's npm package with `wasm/build.sh DIR` and \
         start the server with `keel serve --playground DIR`",
    )
}

/// `GET /playground`: the page lives at `/playground/`, so its relative links resolve there.
pub async fn redirect() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("/playground/"))],
    )
        .into_response()
}

/// `GET /playground/`: the page.
pub async fn page(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    file_named(&state, "playground.html", &headers)
}

/// `GET /playground/{file}`: one of the package's files.
pub async fn file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    file_named(&state, &name, &headers)
}

fn file_named(state: &AppState, name: &str, headers: &axum::http::HeaderMap) -> Response {
    let Some(playground) = state.config.playground.as_deref() else {
        return not_configured().into_response();
    };
    playground
        .answer(name, headers.get(header::IF_NONE_MATCH))
        .unwrap_or_else(|| AppError::no_route(&format!("/playground/{name}")).into_response())
}
