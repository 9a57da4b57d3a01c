//! The local REST API of a run (k6's `--address`, default `localhost:6565`): status, stop,
//! pause/resume, live metrics, groups and setup data, JSON:API-shaped like k6's. It starts
//! before the first init so that a stop works in every phase.
//!
//! The API only translates HTTP into calls on an [`ApiBackend`]: [`router`] is the axum router,
//! [`LiveRun`] the backend of a local run. The engine attaches its state to a [`LiveRun`]; the
//! API never reaches into the engine.

use serde_json::Value;

mod live;
mod routes;

#[cfg(test)]
mod tests;

pub use live::{json_number, LiveRun};
pub use routes::{app, router, spawn};

/// k6's execution statuses (`lib.ExecutionStatus`), shown as numbers by `GET /v1/status`.
pub mod status {
    pub const CREATED: u32 = 0;
    pub const INIT_VUS: u32 = 1;
    pub const INIT_EXECUTORS: u32 = 2;
    pub const INIT_DONE: u32 = 3;
    pub const PAUSED_BEFORE_RUN: u32 = 4;
    pub const STARTED: u32 = 5;
    pub const SETUP: u32 = 6;
    pub const RUNNING: u32 = 7;
    pub const TEARDOWN: u32 = 8;
    pub const ENDED: u32 = 9;
    pub const INTERRUPTED: u32 = 10;
}

/// The status object of `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusView {
    pub status: u32,
    pub paused: bool,
    pub vus: i64,
    pub vus_max: i64,
    pub stopped: bool,
    pub running: bool,
    pub tainted: bool,
}

/// One metric of `GET /v1/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricView {
    pub name: String,
    pub metric_type: String,
    pub contains: String,
    /// `None` when the metric has no thresholds (k6 shows `null`).
    pub tainted: Option<bool>,
    pub sample: Value,
}

/// One group of `GET /v1/groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub id: String,
    pub path: String,
    pub name: String,
    /// `[{id, path, name, passes, fails}]`, or None (k6 shows `null` for no checks).
    pub checks: Option<Value>,
    pub children: Vec<String>,
    pub parent: Option<String>,
}

/// An error answered as `{"errors":[{"status","title","detail"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{title}: {detail} (HTTP {status})")]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: u16, title: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            title: title.to_string(),
            detail: detail.into(),
        }
    }
}

/// What the API reads from and does to the run.
pub trait ApiBackend: Send + Sync + 'static {
    fn status(&self) -> StatusView;
    /// `PATCH /v1/status {"stopped": true}`.
    fn stop(&self);
    /// `PATCH /v1/status {"paused": bool}`.
    fn set_paused(&self, paused: bool) -> Result<(), ApiError>;
    /// `PATCH /v1/status {"vus": n}` (externally-controlled executor only).
    fn set_vus(&self, vus: i64, max_vus: Option<i64>) -> Result<(), ApiError>;
    fn metrics(&self) -> Vec<MetricView>;
    /// The group tree, flattened: each group with its child ids and parent id.
    fn groups(&self) -> Vec<GroupView>;
    fn setup_data(&self) -> Option<Value>;
}
