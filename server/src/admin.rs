//! The admin routes, under `/v1/admin`: load a model from a path on the server's disk or from
//! an uploaded bundle, and unload a model (every version, or `name@version`).
//!
//! They are on only when an admin token is configured (`--admin-token`, `KEEL_ADMIN_TOKEN`, or
//! an `admin` line of `--tokens`); without one they answer 403 `admin_disabled`. Requests carry
//! the token as `Authorization: Bearer TOKEN`; [`crate::auth::require_admin`] checks it.
//!
//! Admin loads are not watched: a model loaded from a path is read once. Unloading a model
//! that came from a watched file lasts until the file changes.

use crate::body::{Phase, read_body};
use crate::error::AppError;
use crate::registry::{self, Source};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// Media types taken as a bundle upload.
const BUNDLE_TYPES: [&str; 3] = [
    "application/octet-stream",
    "application/zip",
    "application/vnd.keel.bundle",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadRequest {
    path: PathBuf,
}

/// `POST /v1/admin/models`: `{"path": "/models/x.keel"}` (JSON) loads a file on the server's
/// disk; a bundle body (`application/octet-stream`, `application/zip` or
/// `application/vnd.keel.bundle`) loads the upload. Answers 201 with the model's description.
pub async fn load(
    State(state): State<AppState>,
    phase: Option<Extension<Arc<Phase>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let phase = phase.map(|Extension(p)| p);
    let body = read_body(body, state.config.max_body, phase.as_deref()).await?;
    let (source, bytes) = if media == crate::codec::JSON {
        let req: LoadRequest = serde_json::from_slice(&body).map_err(|e| {
            AppError::bad_request(
                "malformed_json",
                format!("expected {{\"path\": \"/path/to/model.keel\"}}: {e}"),
            )
        })?;
        let path = req.path.clone();
        let bytes = tokio::task::spawn_blocking(move || keel_import::load::read_file(&path))
            .await
            .map_err(|e| AppError::internal(format!("the loader failed: {e}")))?
            .map_err(|e| AppError::unprocessable("unreadable_path", e.to_string()))?;
        (Source::AdminPath(req.path), bytes)
    } else if BUNDLE_TYPES.contains(&media.as_str()) {
        (Source::Upload, body.to_vec())
    } else {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send {{\"path\": ...}} as application/json, or the bundle as one of {}",
                BUNDLE_TYPES.join(", ")
            ),
        ));
    };
    let registry = state.registry.clone();
    let prepared = tokio::task::spawn_blocking(move || registry.prepare(&bytes))
        .await
        .map_err(|e| AppError::internal(format!("the loader failed: {e}")))?
        .map_err(|e| AppError::unprocessable("invalid_bundle", e))?;
    let entry = state.registry.install(prepared, source, None);
    tracing::info!(model = %entry.name, version = entry.version, "loaded through the admin API");
    Ok((StatusCode::CREATED, Json(entry.describe())).into_response())
}

/// `DELETE /v1/admin/models/{name}`: unloads every version of `name`, or `name@version`.
pub async fn unload(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Path(spec) = path?;
    // Resolving first gives the unknown-model and unknown-version answers.
    state.registry.resolve(&spec)?;
    let (name, version) = registry::parse_spec(&spec);
    let removed = state.registry.unload(name, version);
    for (n, v) in &removed {
        tracing::info!(model = %n, version = v, "unloaded through the admin API");
    }
    let removed: Vec<_> = removed
        .into_iter()
        .map(|(name, version)| json!({"name": name, "version": version}))
        .collect();
    Ok(Json(json!({"unloaded": removed})))
}
