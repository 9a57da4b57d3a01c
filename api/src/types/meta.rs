//! The error shape every failure uses, the list metadata, and the service routes' bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one error shape of the API: `{"error": {"code", "message", "status"}}`, so every client
/// handles every failure the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (e.g. `run_not_found`).
    pub code: String,
    /// For humans: what is wrong and how to fix it.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
}

/// How many items a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Meta {
    pub count: usize,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /`: name, version and where the main resources are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Index {
    pub name: String,
    pub version: String,
    pub links: Links,
}

/// Paths of the main resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Links {
    pub openapi: String,
    pub health: String,
    pub tests: String,
    pub runs: String,
    pub agents: String,
}
