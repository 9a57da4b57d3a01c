//! The one error shape of the API: `{"error": {"code": "...", "message": "...", "status": N}}`,
//! so clients (the CLI, the dashboard, scripts) handle every failure the same way. A 429 or 503
//! says when to try again (`Retry-After`), and a message is never longer than
//! [`MAX_MESSAGE_BYTES`], whatever input it quotes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{http_status, ServiceError};

/// The longest `message` sent; longer ones (a value quoted without its own bound) are cut.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Seconds a client should wait before retrying a 429 (too many uploads at once).
pub const RETRY_AFTER_BUSY_SECS: u32 = 1;
/// Seconds a client should wait before retrying a 503 (the store reopening after a failure).
pub const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 5;

/// An error response. `code` is stable and machine-readable; `message` is for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code}, HTTP {})", status.as_u16())]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// The JSON body sent for this error.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "code": self.code,
                "message": volley_common::text::bounded(&self.message, MAX_MESSAGE_BYTES),
                "status": self.status.as_u16(),
            }
        })
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError {
            status: http_status(e.status),
            code: e.code,
            message: e.message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.code, message = %self.message, "API request failed");
        }
        let body = self.body().to_string();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let retry = match self.status {
            StatusCode::TOO_MANY_REQUESTS => Some(RETRY_AFTER_BUSY_SECS),
            StatusCode::SERVICE_UNAVAILABLE => Some(RETRY_AFTER_UNAVAILABLE_SECS),
            _ => None,
        };
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_error_keeps_code_and_message() {
        let e: ApiError = ServiceError::conflict("run_finished", "run 3 already finished").into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, "run_finished");
        assert_eq!(
            e.body(),
            serde_json::json!({"error": {"code": "run_finished", "message": "run 3 already finished", "status": 409}})
        );
    }

    #[test]
    fn out_of_range_service_status_becomes_500() {
        for s in [0u16, 99, 200, 302, 1000] {
            let e: ApiError = ServiceError::new(s, "x", "y").into();
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR, "status {s}");
        }
        let e: ApiError = ServiceError::new(422, "x", "y").into();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn busy_and_unavailable_say_when_to_retry() {
        for (status, secs) in [
            (StatusCode::TOO_MANY_REQUESTS, Some("1")),
            (StatusCode::SERVICE_UNAVAILABLE, Some("5")),
            (StatusCode::BAD_REQUEST, None),
        ] {
            let r = ApiError::new(status, "x", "y").into_response();
            let got = r.headers().get(header::RETRY_AFTER);
            assert_eq!(got.and_then(|v| v.to_str().ok()), secs, "{status}");
        }
    }

    #[test]
    fn huge_messages_are_cut() {
        let e = ApiError::bad_request("x", format!("bad name {}", "n".repeat(8 << 20)));
        let body = e.body().to_string();
        assert!(body.len() < MAX_MESSAGE_BYTES + 200, "{}", body.len());
        assert!(body.contains("bytes)"), "says how long it was");
    }

    #[test]
    fn display_names_code_and_status() {
        let e = ApiError::bad_request("invalid_query", "bad test_id");
        assert_eq!(e.to_string(), "bad test_id (invalid_query, HTTP 400)");
        let s = ServiceError::internal("disk full");
        assert_eq!(s.to_string(), "disk full (internal_error, HTTP 500)");
    }
}
