//! The one error shape of the API: `{"error": {"code": "...", "message": "...", "status": N}}`,
//! so clients (the CLI, the dashboard, scripts) handle every failure the same way.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{http_status, ServiceError};

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
                "message": self.message,
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
    fn display_names_code_and_status() {
        let e = ApiError::bad_request("invalid_query", "bad test_id");
        assert_eq!(e.to_string(), "bad test_id (invalid_query, HTTP 400)");
        let s = ServiceError::internal("disk full");
        assert_eq!(s.to_string(), "disk full (internal_error, HTTP 500)");
    }
}
