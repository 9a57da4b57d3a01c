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

/// How many items match a list request in all pages (a page holds at most `page_size` of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Meta {
    pub count: usize,
}

/// `GET /health` when everything works. When the store does not accept writes (e.g. its disk
/// is full) the answer is instead a 503 error `store_degraded` whose message says why and since
/// when, with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The store: it accepts writes.
    #[serde(default)]
    pub store: StoreHealth,
}

/// The controller's store as `/health` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoreHealth {
    /// `ok`.
    pub status: String,
}

/// `GET /healthz` and `GET /readyz` when the answer is yes: `{"status": "ok"}`. Probes carry no
/// token, so these answers say nothing more; a not-ready controller answers 503 `not_ready` with
/// a short reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Probe {
    /// `ok`.
    pub status: String,
}

/// `GET /`: name, version and where the main resources are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Index {
    pub name: String,
    pub version: String,
    pub links: Links,
    /// Whether the API needs a token (`Authorization: Token …`); the dashboard asks for one
    /// only then.
    #[serde(default)]
    pub auth_required: bool,
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
