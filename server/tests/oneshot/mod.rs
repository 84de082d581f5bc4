//! Sending one request to the router without a socket (tower's `oneshot`) and reading the
//! answer, for the server tests that drive `keel_server::app` in process.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value as J;
use tower::ServiceExt;

/// An answer: status, headers and the whole body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (a failed test when it is not).
    pub fn json(&self) -> J {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an error answer in the server's one shape: the status, the code, a message, a
    /// JSON content type, a `request_id` that is the answer's `x-request-id`; returns the `error` object for further checks (column, row).
    pub fn error(&self, status: u16, code: &str) -> J {
        let j = self.json();
        assert_eq!(self.status.as_u16(), status, "{j}");
        assert_eq!(j["error"]["code"], code, "{j}");
        assert!(
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{j}"
        );
        assert_eq!(
            self.headers.get(header::CONTENT_TYPE).unwrap(),
            "application/json",
            "{j}"
        );
        // Every error names its request, as its `x-request-id` header does.
        let id = self
            .headers
            .get("x-request-id")
            .map(|v| v.to_str().unwrap());
        assert!(id.is_some_and(|id| !id.is_empty()), "no x-request-id: {j}");
        assert_eq!(j["error"]["request_id"].as_str(), id, "{j}");
        j["error"].clone()
    }
}

/// Sends `req` through `router` and reads the whole answer.
pub async fn send(router: &axum::Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}
