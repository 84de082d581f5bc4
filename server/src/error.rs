//! `AppError`: the one error answer of the server. Every rejection, ours or axum's (a route
//! that does not exist, a method not allowed, a path that does not parse), a runtime error at
//! score time, a body too large or too slow, becomes
//! `{"error": {"code": "...", "message": "...", "column": ..., "row": ..., "request_id": "..."}}`
//! with a status that
//! says whose mistake it is: 4xx for the client's (400 malformed, 404 unknown, 413 too large,
//! 415 wrong media type, 422 well-formed but refused by the model's schema), 5xx only for the
//! server's. `column` and `row` (rows counted from 0 within the request) are `null` when they
//! do not apply; `request_id` is the request's `x-request-id` ([`crate::request_id`]).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error code of an answer, kept in the response's extensions so the metrics middleware
/// can count errors by code without parsing bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// An error answer. Boxed: it travels in every `Result` of the request path, and keeping it
/// one pointer wide keeps those results small.
#[derive(Debug, Clone)]
pub struct AppError(Box<ErrorDetail>);

/// What an [`AppError`] holds.
#[derive(Debug, Clone)]
pub struct ErrorDetail {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`missing_column`, `unknown_model`, ...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The input column involved, if any.
    pub column: Option<String>,
    /// The row involved (from 0, within the request), if any.
    pub row: Option<u64>,
    /// The model and version the request was for, once resolved (for metrics).
    pub model: Option<crate::metrics::ModelLabel>,
    /// An extra header (`WWW-Authenticate` on a 401, `Connection: close` on a 413).
    header: Option<(HeaderName, &'static str)>,
}

impl std::ops::Deref for AppError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl AppError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError(Box::new(ErrorDetail {
            status,
            code,
            message: message.into(),
            column: None,
            row: None,
            model: None,
            header: None,
        }))
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: the request is well-formed but the model's schema refuses it.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 404 for a path that matches no route (also the answer of the admin routes when they
    /// are off, so their existence is not revealed).
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for `{path}` (see GET /openapi.json)"),
        )
    }

    /// 403: the admin routes exist but the server was started without an admin token, which
    /// is what turns them on; the message says how.
    pub fn admin_disabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is disabled: start `keel serve` with --admin-token TOKEN (or the \
             KEEL_ADMIN_TOKEN environment variable, or an `admin TOKEN` line in --tokens FILE) \
             and send `Authorization: Bearer TOKEN`",
        )
    }

    /// 413: the body is larger than `--max-body`. The connection is closed after the answer:
    /// the rest of the body is never read, so the connection cannot carry another request.
    pub fn too_large(limit: u64) -> Self {
        let mut e = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the server's limit of {limit} bytes"),
        );
        e.0.header = Some((header::CONNECTION, "close"));
        e
    }

    /// 408: the body was still arriving when `--timeout` ran out. The connection is closed:
    /// the rest of the body is never read.
    pub fn request_timeout(after: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within the server's timeout of {}",
                humantime::format_duration(after)
            ),
        );
        e.0.header = Some((header::CONNECTION, "close"));
        e
    }

    /// 503: the request was received but not answered within `--timeout` (the server is
    /// overloaded or the batch too large for the timeout).
    pub fn timeout(after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request was not answered within the server's timeout of {}",
                humantime::format_duration(after)
            ),
        )
    }

    /// 403: a valid token whose role does not allow the route (a `score` token on an admin
    /// route). Unlike 401, sending the same token again will not help.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401: the bearer token is missing, malformed or not known.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        e.0.header = Some((header::WWW_AUTHENTICATE, "Bearer"));
        e
    }

    /// 500: a fault of the server, never of the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Names the column involved.
    pub fn at_column(mut self, column: impl Into<String>) -> Self {
        self.0.column = Some(column.into());
        self
    }

    /// Names the row involved.
    pub fn at_row(mut self, row: u64) -> Self {
        self.0.row = Some(row);
        self
    }

    /// Records the model the request was for.
    pub fn for_model(mut self, model: crate::metrics::ModelLabel) -> Self {
        self.0.model = Some(model);
        self
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let body = json!({
            "error": {
                "code": e.code,
                "message": e.message,
                "column": e.column,
                "row": e.row,
                "request_id": crate::request_id::current(),
            }
        });
        let mut response = (e.status, axum::Json(body)).into_response();
        if let Some((name, value)) = e.header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response.extensions_mut().insert(ErrorCode(e.code));
        if let Some(model) = e.model {
            response.extensions_mut().insert(model);
        }
        response
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The HTTP status of a runtime error, by its code ([`keel_runtime::Error::code`]): the
/// codes about the caller's input are the client's (422); the others (a bundle or a plan that
/// fails at score time) are the server's (500).
pub fn runtime_status(code: &str) -> StatusCode {
    match code {
        "missing_column" | "extra_column" | "column_type" | "missing_value" | "non_finite"
        | "unknown_category" | "bad_value" | "empty_frame" | "tensor_shape" | "row_count" => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Score-time errors of the runtime: the status from [`runtime_status`], the runtime's code
/// and message, and the column and row it names. A server-side failure answers `internal`.
impl From<keel_runtime::Error> for AppError {
    fn from(e: keel_runtime::Error) -> Self {
        let code = e.code();
        let status = runtime_status(code);
        if status.is_server_error() {
            return AppError::internal(format!("the model failed to score: {e}"));
        }
        let message = match &e {
            keel_runtime::Error::ExtraColumn { column } => format!(
                "input column `{column}` is not part of the bundle's input schema \
                 (add ?ignore_extra_columns=true to ignore it)"
            ),
            _ => e.to_string(),
        };
        let mut answer = AppError::new(status, code, message);
        if let Some(column) = e.column() {
            answer = answer.at_column(column);
        }
        if let Some(row) = e.row() {
            answer = answer.at_row(to_u64(row));
        }
        answer
    }
}

/// The status of a sandboxed call that failed (`keel serve --sandbox`). A refusal by the guest
/// is answered as the same refusal in process would be. A call the sandbox stopped for its
/// budget (`sandbox_fuel`, `sandbox_timeout`, `sandbox_memory`) is 503, like the server's own
/// `timeout`: the request is well-formed and the model may well answer it, but not within what
/// the operator allows one call to spend; a smaller batch or a larger budget may succeed, and a
/// 5xx is what operators alert on, which a bundle burning CPU deserves (a 4xx would hide it
/// among client mistakes). A guest that crashed (`sandbox_trap`) is 500, the server's fault.
impl From<keel_sandbox::Error> for AppError {
    fn from(e: keel_sandbox::Error) -> Self {
        use keel_sandbox::Error as E;
        match e {
            E::Refused {
                code,
                message,
                column,
                row,
            } => {
                let status = runtime_status(code);
                if status.is_server_error() {
                    return AppError::internal(format!("the model failed to score: {message}"));
                }
                let mut answer = AppError::new(status, code, message);
                answer.0.column = column;
                answer.0.row = row;
                answer
            }
            e if e.is_exhaustion() => {
                AppError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
            }
            e @ E::Trap { .. } => {
                AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string())
            }
            other => AppError::internal(other.to_string()),
        }
    }
}

/// Errors of keel-io's readers and document codecs (shared with the command line and the
/// browser build): the one place their variants get an HTTP status and an error code. A
/// malformed body is the client's 400; a well-formed one the model's schema refuses is 422.
impl From<keel_io::Error> for AppError {
    fn from(e: keel_io::Error) -> Self {
        use keel_io::Error as E;
        let e = match e {
            E::Score(inner) => return inner.into(),
            // The runtime's error carries the server's wording (a query parameter, not the
            // command line's flag) and the same code as an extra Arrow column.
            E::ExtraColumn { column, .. } => {
                return keel_runtime::Error::ExtraColumn { column }.into();
            }
            other => other,
        };
        let status = match &e {
            E::Value { .. }
            | E::MissingColumn { .. }
            | E::Input(_)
            | E::ColumnLengths { .. }
            | E::OutputColumnExists { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::Row { .. }
            | E::Arrow { .. }
            | E::ReadInput(_)
            | E::MalformedJson { .. }
            | E::NotRowsOrColumns
            | E::MalformedFrame { .. }
            | E::DuplicateFrameColumn { .. }
            | E::FrameRowWidth { .. } => StatusCode::BAD_REQUEST,
            _ => return AppError::internal(e.to_string()),
        };
        let message = match &e {
            E::ReadInput(io) => format!("cannot read the body: {io}"),
            other => other.to_string(),
        };
        let mut answer = AppError::new(status, e.code(), message);
        if let Some(column) = e.column() {
            answer = answer.at_column(column.to_string());
        }
        if let Some(row) = e.row() {
            answer = answer.at_row(row);
        }
        answer
    }
}

/// Axum's path extractor (a `{name}` that is not valid UTF-8 or percent-encoding).
impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        AppError::bad_request("bad_path", r.body_text())
    }
}

/// Axum's query extractor (`?ignore_extra_columns=maybe`).
impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        AppError::bad_request("bad_query", r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_input_errors_are_the_clients() {
        let e: AppError = keel_runtime::Error::UnknownCategory {
            column: "city".into(),
            row: 3,
            value: "Atlantis".into(),
            node: "ohe".into(),
        }
        .into();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            (e.code, e.column.as_deref(), e.row),
            ("unknown_category", Some("city"), Some(3))
        );
        let e: AppError = keel_runtime::Error::Plan {
            node: "n".into(),
            op: "o".into(),
            message: "m".into(),
        }
        .into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code, "internal");
    }

    #[test]
    fn every_runtime_input_error_is_a_422_under_its_own_code() {
        use keel_runtime::Error as E;
        let column = || "c".to_string();
        for e in [
            E::MissingColumn { column: column() },
            E::ExtraColumn { column: column() },
            E::ColumnType {
                column: column(),
                expected: "f64".into(),
                found: "utf8".into(),
            },
            E::EmptyFrame,
            E::RowCount {
                column: column(),
                expected: 2,
                found: 1,
            },
        ] {
            let code = e.code();
            let answer = AppError::from(e);
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
            assert_eq!(answer.code, code);
        }
        // Every runtime code has a deliberate status: the caller's input is 422, a bundle or
        // plan failing at score time is the server's 500 (a code added to the runtime fails
        // here until it is placed).
        let load_time = ["bundle", "interface", "load", "unknown_op", "plan"];
        for code in keel_runtime::Error::CODES {
            let want = if load_time.contains(code) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(runtime_status(code), want, "{code}");
        }
    }

    #[test]
    fn document_errors_keep_their_statuses_codes_columns_and_rows() {
        use keel_io::Error as E;
        let json_err = || serde_json::from_str::<u8>("x").unwrap_err();
        let column = || "c".to_string();
        let cases = [
            (
                E::MalformedJson { source: json_err() },
                400,
                "malformed_json",
                None,
                None,
            ),
            (E::NotRowsOrColumns, 400, "malformed_request", None, None),
            (
                E::ColumnLengths {
                    column: column(),
                    found: 1,
                    first: "a".into(),
                    expected: 2,
                },
                422,
                "row_count",
                Some("c"),
                None,
            ),
            (
                E::MalformedFrame { source: json_err() },
                400,
                "malformed_frame",
                None,
                None,
            ),
            (
                E::DuplicateFrameColumn { column: column() },
                400,
                "malformed_frame",
                Some("c"),
                None,
            ),
            (
                E::FrameRowWidth {
                    row: 3,
                    found: 1,
                    expected: 2,
                },
                400,
                "malformed_frame",
                None,
                Some(3),
            ),
            (
                E::OutputColumnExists { column: column() },
                422,
                "column_exists",
                Some("c"),
                None,
            ),
            (
                E::MissingColumn {
                    column: column(),
                    message: "input column `c` is missing".into(),
                },
                422,
                "missing_column",
                Some("c"),
                None,
            ),
        ];
        for (e, status, code, column, row) in cases {
            let message = e.to_string();
            let answer = AppError::from(e);
            assert_eq!(answer.status.as_u16(), status, "{code}");
            assert_eq!(
                (answer.code, answer.column.as_deref(), answer.row),
                (code, column, row)
            );
            assert_eq!(answer.message, message);
        }
    }
}
