//! Request bodies: reading one under a size limit, and recording when it has been read (which
//! decides whether a timeout is the client's fault or the server's). A leaf module: the
//! handlers and the router both use it, and it uses neither.

use crate::error::AppError;
use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a request's body has been read in full; a timeout before that is the client's
/// (408), after it the server's (503).
#[derive(Debug, Default)]
pub struct Phase {
    body_done: AtomicBool,
}

impl Phase {
    /// Marks the body as read.
    pub fn body_received(&self) {
        self.body_done.store(true, Ordering::Release);
    }

    pub(crate) fn is_body_received(&self) -> bool {
        self.body_done.load(Ordering::Acquire)
    }
}

/// Reads a request body, refusing it (413) as soon as it grows past `limit`, so an oversized
/// body costs at most `limit` bytes of memory (one whose `Content-Length` is already too large
/// never gets here: the middleware refuses it before reading anything).
pub async fn read_body(body: Body, limit: u64, phase: Option<&Phase>) -> Result<Bytes, AppError> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = body;
    // Pre-size from the declared length, but not beyond 1 MiB: the length is the client's
    // claim, and memory should follow the bytes that actually arrive.
    let hint = usize::try_from(axum::body::HttpBody::size_hint(&body).lower()).unwrap_or(0);
    let mut buf = bytes::BytesMut::with_capacity(hint.min(limit_usize).min(1 << 20));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            AppError::bad_request("malformed_body", format!("cannot read the body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > limit_usize {
                return Err(AppError::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    if let Some(p) = phase {
        p.body_received();
    }
    Ok(buf.freeze())
}
