//! [`app`]: the router, from one table of routes, and the middleware every request goes
//! through.
//!
//! The route tables below are the single source of truth: the same macro builds the router and
//! [`routes`], which a test compares with the OpenAPI document in both directions.
//!
//! Middleware, outermost first: the request ID ([`crate::request_id`]: on every answer, even a
//! panic's); panics become a JSON 500 (never a dropped connection); CORS
//! (when `--cors-origin` is given); then [`guard`]: a body whose `Content-Length` is over
//! `--max-body` is refused (413) before any of it is read, the request runs under `--timeout`
//! (408 while the body is still arriving, 503 after), and the answer is counted in the metrics
//! and logged with its request ID (at `debug`, so a busy server's log is not one line per
//! request). Route by route, [`crate::auth`] checks bearer tokens: the scoring routes when a
//! tokens file is given, the admin routes always.

use crate::body::Phase;
use crate::error::{AppError, ErrorCode};
use crate::metrics::ModelLabel;
use crate::request_id::{self, RequestId};
use crate::state::AppState;
use crate::{admin, api, auth, playground, web};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Builds a route table and the router serving it from one list, so they cannot disagree.
macro_rules! route_table {
    ($table:ident, $router:ident: $( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        const $table: &[(&str, &str)] = &[ $( (stringify!($method), $path) ),* ];
        fn $router() -> Router<AppState> {
            Router::new() $( .route($path, axum::routing::$method($handler)) )*
        }
    };
}

route_table!(PUBLIC, public_routes:
    get "/v1/models" => api::list_models,
    get "/v1/models/{name}" => api::get_model,
    get "/healthz" => api::healthz,
    get "/readyz" => api::readyz,
    get "/metrics" => api::metrics,
    get "/openapi.json" => api::openapi,
    get "/" => web::index,
    get "/ui/app.js" => web::app_js,
    get "/ui/style.css" => web::style_css,
    get "/playground" => playground::redirect,
    get "/playground/" => playground::page,
    get "/playground/{file}" => playground::file,
);

// The scoring routes: open, or (with `--tokens`) for `score` and `admin` tokens.
route_table!(SCORING, scoring_routes:
    post "/v1/models/{name}/predict" => api::predict,
    post "/v1/models/{name}/transform" => api::transform,
);

route_table!(ADMIN, admin_routes:
    post "/v1/admin/models" => admin::load,
    delete "/v1/admin/models/{name}" => admin::unload,
);

/// Every route the server answers, as (method in upper case, path template).
pub fn routes() -> Vec<(String, &'static str)> {
    PUBLIC
        .iter()
        .chain(SCORING)
        .chain(ADMIN)
        .map(|(m, p)| (m.to_ascii_uppercase(), *p))
        .collect()
}

/// The application: routes, fallbacks and middleware over `state`.
pub fn app(state: AppState) -> Router {
    let admin = admin_routes().route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_admin,
    ));
    let scoring = scoring_routes().route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_score,
    ));
    let mut router = public_routes()
        .merge(scoring)
        .merge(admin)
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard));
    if let Some(cors) = cors(&state.config.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::AUTHORIZATION,
                request_id::HEADER,
            ])
            .expose_headers([api::MODEL_HEADER, api::VERSION_HEADER, request_id::HEADER]),
    )
}

async fn no_route(uri: Uri) -> AppError {
    AppError::no_route(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "`{}` does not take {method} (see GET /openapi.json)",
            uri.path()
        ),
    )
}

fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!(panic = what, "a request handler panicked");
    AppError::internal("the server failed while handling the request (a bug in keel)")
        .into_response()
}

fn content_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Body limit, timeout, metrics and logging for every request (see the module doc).
pub async fn guard(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = matched.map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    // Set by the outer middleware; only a router built without it (never `app`) has none.
    let rid = request
        .extensions()
        .get::<RequestId>()
        .map_or_else(String::new, |r| r.as_str().to_string());
    let max = state.config.max_body;
    let response = if content_length(&request).is_some_and(|n| n > max) {
        AppError::too_large(max).into_response()
    } else {
        let phase = Arc::new(Phase::default());
        request.extensions_mut().insert(phase.clone());
        let timeout = state.config.timeout;
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) if phase.is_body_received() => AppError::timeout(timeout).into_response(),
            Err(_) => AppError::request_timeout(timeout).into_response(),
        }
    };
    let elapsed = start.elapsed();
    let status = response.status();
    let model = response.extensions().get::<ModelLabel>();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    state.metrics.record(
        method.as_str(),
        &route,
        status.as_u16(),
        elapsed,
        model,
        code,
    );
    if status.is_server_error() {
        tracing::warn!(request_id = %rid, %method, %route, status = status.as_u16(), code, elapsed_us = elapsed.as_micros(), "request failed");
    } else {
        tracing::debug!(request_id = %rid, %method, %route, status = status.as_u16(), code, elapsed_us = elapsed.as_micros(), "request");
    }
    response
}
