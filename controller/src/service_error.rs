//! What a controller operation fails with: an HTTP status, a stable code and a sentence. The
//! REST API sends it as `{"error": {code, message, status}}`; the operations that report it
//! (the [`ControllerService`](crate::api::ControllerService), the token store) need not know
//! HTTP beyond the status.

/// An error the service reports; the API sends it as `{"error": {code, message, status}}`.
/// `status` is an HTTP status; anything outside 400–599 is sent as 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code}, HTTP {status})")]
pub struct ServiceError {
    pub status: u16,
    /// Stable machine-readable code, snake_case (e.g. `invalid_archive`).
    pub code: String,
    /// A sentence for humans that names the problem and, where possible, the fix.
    pub message: String,
}

impl ServiceError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400: the request is malformed or names something invalid.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 404: the thing asked for does not exist.
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// 409: the request conflicts with the current state (e.g. stopping a finished run).
    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// 422: well-formed but unacceptable (e.g. an archive whose options are invalid).
    pub fn unprocessable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }

    /// 409 `not_replicated`: a membership change asked of a controller that runs alone.
    pub fn not_replicated() -> Self {
        Self::conflict(
            "not_replicated",
            "this controller runs alone, without Raft: start it with --node-id and --raft (a \
             group of one) to add controllers to it (docs/ha.md#changing-the-membership)",
        )
    }

    /// 500: the controller failed; not the caller's fault.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal_error", message)
    }
}
