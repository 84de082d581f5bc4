//! Request IDs: every answer carries `x-request-id`, the server's log line for the request
//! names it, and JSON error bodies include it as `error.request_id`, so a client's report and
//! the server's log can be matched.
//!
//! The ID is the client's own `x-request-id` when it sent a sane one (1 to 128 visible ASCII
//! characters: it goes into logs and headers, so no spaces, control characters or unbounded
//! length), else one made here: a random per-process prefix and a counter, unique within and
//! (with overwhelming odds) across processes, without a random number per request.
//!
//! The middleware is the outermost layer, so even a panic's 500 carries the ID. Error bodies
//! get it from a task-local set around the request: `AppError` is built deep in handlers (and
//! returned from the scoring pool), and threading an ID through every one of them would touch
//! every signature for one field.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The header carrying the ID, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-supplied ID kept (longer ones are replaced).
pub const MAX_LEN: usize = 128;

/// A request's ID (in the request's extensions, for the log line).
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The ID as text (always ASCII: see [`is_sane`]).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The ID of the request being handled on this task, if any (`None` outside the middleware,
/// e.g. in `oneshot` tests of a bare router).
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.as_str().to_string()).ok()
}

/// Whether a client's ID may be kept: 1 to [`MAX_LEN`] visible ASCII characters.
pub fn is_sane(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len()) && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A new ID: 16 hex digits of per-process randomness, a dash, the request counter in hex.
pub fn generate() -> HeaderValue {
    // `RandomState` is seeded from the OS's random source: a random prefix without a crate.
    static PREFIX: LazyLock<u64> = LazyLock::new(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(u64::from(std::process::id()));
        h.finish()
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let text = format!("{:016x}-{n:x}", *PREFIX);
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("keel"))
}

/// Middleware: picks the ID, runs the request with it, and sets it on the answer.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(&HEADER) {
        Some(v) if is_sane(v.as_bytes()) => v.clone(),
        _ => generate(),
    };
    let rid = RequestId(id.clone());
    request.extensions_mut().insert(rid.clone());
    let mut response = CURRENT.scope(rid, next.run(request)).await;
    response.headers_mut().insert(HEADER, id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sane_and_fresh() {
        assert!(is_sane(b"abc-123"));
        assert!(is_sane("x".repeat(128).as_bytes()));
        assert!(!is_sane("x".repeat(129).as_bytes()));
        assert!(!is_sane(b""));
        assert!(!is_sane(b"a b"));
        assert!(!is_sane(b"a\tb"));
        assert!(!is_sane("é".as_bytes()));
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(is_sane(a.as_bytes()));
        assert_eq!(current(), None);
    }
}
