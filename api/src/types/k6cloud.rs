//! The bodies of k6's own cloud API as the real k6 v1.1.0 binary calls it for `k6 cloud run`
//! with `K6_CLOUD_HOST` pointing at a controller (see `docs/k6-cloud-client.md`). Field names
//! are k6's: k6 reads these answers, so they follow what k6 accepts, not Volley's conventions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use volley_common::status::{ResultStatus, RunStatus};

use super::schema;

/// `POST /v1/validate-options`: the script's consolidated options, as k6 sends them before
/// uploading the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudValidateOptions {
    /// The options in k6's JSON shape (k6 also sends `cloud`/`ext` with the token: not kept).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// An empty JSON object: what k6 needs from `validate-options` and `stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudOk {}

/// `POST /v1/archive-upload`: the run the uploaded archive became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudUploaded {
    /// The run's id as a string: k6 polls `/v1/test-progress/{reference_id}` with it.
    pub reference_id: String,
    /// Volley: the test made from the archive.
    pub test_id: u64,
    /// Volley: `/loadtests/v2/runs/{id}` (k6 itself prints `K6_CLOUD_WEB_APP_URL/runs/{id}`).
    pub url: String,
}

/// `GET /v1/test-progress/{id}`: what drives k6's progress bar and its exit code. k6 polls
/// until `run_status` is terminal, then exits 99 if `result_status` is FAILED (1) or the run
/// was ABORTED_BY_THRESHOLD (8), and 0 otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudProgress {
    /// 0 to 1: the part of the run's planned duration (incl. graceful stop) that has passed;
    /// 1 once the run has ended.
    pub progress: f64,
    #[schema(schema_with = schema::run_status)]
    pub run_status: RunStatus,
    /// What k6 prints as "test status" (e.g. `Finished`, `Aborted (by user)`).
    pub run_status_text: String,
    #[schema(schema_with = schema::result_status)]
    pub result_status: ResultStatus,
    /// Always false (Volley does not mark runs tainted).
    pub tainted: bool,
}

/// The error shape k6 reads: `{"error": {"message"}}` (k6 prints `(status) message`). k6
/// cannot read a string `code`, so Volley's code is in `volley_code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudError {
    pub error: K6CloudErrorDetail,
}

/// What went wrong, for k6 to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudErrorDetail {
    /// For humans: what is wrong and how to fix it.
    pub message: String,
    /// Volley's stable code (e.g. `invalid_archive`, `run_not_found`).
    pub volley_code: String,
    /// The HTTP status, repeated.
    pub status: u16,
}

/// The text k6 prints as "test status" for a run status, as Grafana Cloud k6 spells it.
pub fn k6_run_status_text(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Created => "Created",
        RunStatus::Validated => "Validated",
        RunStatus::Queued => "Queued",
        RunStatus::Initializing => "Initializing",
        RunStatus::Running => "Running",
        RunStatus::Finished => "Finished",
        RunStatus::TimedOut => "Timed out",
        RunStatus::AbortedByUser => "Aborted (by user)",
        RunStatus::AbortedBySystem => "Aborted (by system)",
        RunStatus::AbortedByScriptError => "Aborted (script error)",
        RunStatus::AbortedByThreshold => "Aborted (by threshold)",
        RunStatus::AbortedByLimit => "Aborted (by limit)",
    }
}
