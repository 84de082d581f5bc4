//! The public handlers: model listing and description, `predict`, the MLeap `transform`,
//! health, readiness, metrics and the OpenAPI document.
//!
//! `transform` is MLeap compatibility: it takes and returns a LeapFrame
//! ([`keel_io::leapframe`]), the JSON frame MLeap's serving endpoints use, so MLeap clients can
//! call keel unchanged.
//!
//! Scoring handlers check everything they can before reading the body (the model exists, the
//! media types are ones we read and write), read the body up to `--max-body`, then parse, score
//! and encode either inline or on the scoring pool (the policy is in [`crate::pool`]).

use crate::body::{Phase, read_body};
use crate::codec::{self, Answer, Parsed, Want};
use crate::error::AppError;
use crate::pool::INLINE_MAX_BODY;
use crate::registry::Entry;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_io::input::Extra;
use keel_io::json_doc::{self, Layout};
use keel_io::leapframe::{self, LeapFrame};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The header naming the model that answered.
pub const MODEL_HEADER: HeaderName = HeaderName::from_static("keel-model");
/// The header giving the version that answered.
pub const VERSION_HEADER: HeaderName = HeaderName::from_static("keel-model-version");

/// `GET /v1/models`: every loaded version, and the sources that failed to load.
pub async fn list_models(State(state): State<AppState>) -> Json<serde_json::Value> {
    let snap = state.registry.snapshot();
    let models: Vec<_> = snap.entries().map(|e| e.describe()).collect();
    let errors: Vec<_> = state
        .registry
        .errors()
        .into_iter()
        .map(|e| {
            json!({
                "source": e.source,
                "message": e.message,
                "at": humantime::format_rfc3339_millis(e.at).to_string(),
            })
        })
        .collect();
    Json(json!({"models": models, "errors": errors}))
}

/// `GET /v1/models/{name}`: one version (the newest, or `name@version`), with the list of
/// loaded versions.
pub async fn get_model(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Path(spec) = path?;
    let entry = state.registry.resolve(&spec)?;
    let versions: Vec<u32> = state
        .registry
        .snapshot()
        .versions(&entry.name)
        .iter()
        .map(|e| e.version)
        .collect();
    let mut doc = entry.describe();
    if let Some(o) = doc.as_object_mut() {
        o.insert("versions".into(), json!(versions));
    }
    Ok(Json(doc))
}

/// Query parameters of the scoring endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct ScoreQuery {
    /// Drop input columns the bundle does not declare instead of refusing the request.
    #[serde(default)]
    pub ignore_extra_columns: bool,
}

/// A computed answer.
struct Answered {
    body: Vec<u8>,
    content_type: &'static str,
    rows: usize,
}

fn respond(entry: &Entry, endpoint: &'static str, a: Answered) -> Response {
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        )],
        a.body,
    )
        .into_response();
    let h = response.headers_mut();
    // A name that is not a valid header value (control characters) is still in the body.
    if let Ok(v) = HeaderValue::from_str(&entry.name) {
        h.insert(MODEL_HEADER, v);
    }
    h.insert(VERSION_HEADER, HeaderValue::from(entry.version));
    let rows = u64::try_from(a.rows).unwrap_or(u64::MAX);
    response
        .extensions_mut()
        .insert(entry.label(endpoint, rows));
    response
}

fn score_and_encode(entry: &Entry, parsed: &Parsed, want: Want) -> Result<Answered, AppError> {
    let scored = codec::score(&entry.model, &parsed.batches)?;
    let schema = entry.model.output_schema();
    let (body, content_type) = match want.answer(parsed.form) {
        Answer::Json(layout) => (
            json_doc::encode(layout, &entry.name, entry.version, &schema, &scored),
            codec::JSON,
        ),
        Answer::Arrow => (
            codec::encode_arrow(&schema, &entry.model.manifest().outputs, &scored)?,
            codec::ARROW_STREAM,
        ),
    };
    Ok(Answered {
        body,
        content_type,
        rows: parsed.rows(),
    })
}

/// `POST /v1/models/{name}/predict`.
pub async fn predict(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ScoreQuery>, QueryRejection>,
    phase: Option<Extension<Arc<Phase>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let Path(spec) = path?;
    let entry = state.registry.resolve(&spec)?;
    let phase = phase.map(|Extension(p)| p);
    predict_with(&state, &entry, query, phase.as_deref(), &headers, body)
        .await
        .map(|a| respond(&entry, "predict", a))
        .map_err(|e| e.for_model(entry.label("predict", 0)))
}

async fn predict_with(
    state: &AppState,
    entry: &Arc<Entry>,
    query: Result<Query<ScoreQuery>, QueryRejection>,
    phase: Option<&Phase>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answered, AppError> {
    let Query(query) = query?;
    let media = codec::request_media(headers, true)?;
    let want = codec::wanted(headers, true)?;
    let extra = if query.ignore_extra_columns {
        Extra::Ignore
    } else {
        Extra::Reject
    };
    let body = read_body(body, state.config.max_body, phase).await?;
    let fields = &entry.model.manifest().inputs;
    if body.len() <= INLINE_MAX_BODY {
        let parsed = codec::parse(media, &body, fields, extra)?;
        if parsed.rows() <= state.config.inline_rows {
            return score_and_encode(entry, &parsed, want);
        }
        let entry = entry.clone();
        return state
            .pool
            .run(move || score_and_encode(&entry, &parsed, want))
            .await;
    }
    let entry = entry.clone();
    state
        .pool
        .run(move || {
            let fields = &entry.model.manifest().inputs;
            let parsed = codec::parse(media, &body, fields, extra)?;
            score_and_encode(&entry, &parsed, want)
        })
        .await
}

/// Reads a LeapFrame body for `entry`'s model: the frame to echo and its input rows.
fn parse_frame<'a>(entry: &Entry, body: &'a [u8]) -> Result<(LeapFrame<'a>, Parsed), AppError> {
    let manifest = entry.model.manifest();
    let (frame, batch) = leapframe::parse(body, &manifest.inputs, &manifest.outputs)?;
    let parsed = Parsed {
        batches: vec![batch],
        form: Answer::Json(Layout::Rows),
    };
    Ok((frame, parsed))
}

fn transform_parsed(
    entry: &Entry,
    frame: &LeapFrame<'_>,
    parsed: &Parsed,
) -> Result<Answered, AppError> {
    let scored = codec::score(&entry.model, &parsed.batches)?;
    Ok(Answered {
        body: leapframe::encode(frame, &entry.model.manifest().outputs, &scored),
        content_type: codec::JSON,
        rows: parsed.rows(),
    })
}

fn transform_now(entry: &Entry, body: &[u8]) -> Result<Answered, AppError> {
    let (frame, parsed) = parse_frame(entry, body)?;
    transform_parsed(entry, &frame, &parsed)
}

/// `POST /v1/models/{name}/transform`: an MLeap LeapFrame in, the frame with the outputs
/// appended out.
pub async fn transform(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    phase: Option<Extension<Arc<Phase>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let Path(spec) = path?;
    let entry = state.registry.resolve(&spec)?;
    let phase = phase.map(|Extension(p)| p);
    transform_with(&state, &entry, phase.as_deref(), &headers, body)
        .await
        .map(|a| respond(&entry, "transform", a))
        .map_err(|e| e.for_model(entry.label("transform", 0)))
}

async fn transform_with(
    state: &AppState,
    entry: &Arc<Entry>,
    phase: Option<&Phase>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answered, AppError> {
    codec::request_media(headers, false)?;
    codec::wanted(headers, false)?;
    let body = read_body(body, state.config.max_body, phase).await?;
    if body.len() <= INLINE_MAX_BODY {
        let (frame, parsed) = parse_frame(entry, &body)?;
        if parsed.rows() <= state.config.inline_rows {
            return transform_parsed(entry, &frame, &parsed);
        }
        // The frame borrows the body, so a small frame with too many rows to score inline is
        // parsed again on the pool: at this size that costs microseconds.
    }
    let entry = entry.clone();
    state.pool.run(move || transform_now(&entry, &body)).await
}

/// `GET /healthz`: the process is up and answering.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 once every configured model is loaded, 503 before.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let r = state.registry.readiness();
    let loaded = state.registry.snapshot().len();
    if r.ready {
        Json(json!({"ready": true, "models": loaded})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "models": loaded, "waiting": r.waiting})),
        )
            .into_response()
    }
}

/// `GET /metrics`: Prometheus metrics (OpenMetrics text).
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// `GET /openapi.json`: the API description.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}
