//! The bodies of k6's own cloud API as the real k6 v1.1.0 binary calls it for `k6 cloud run`
//! and `k6 run --out cloud` with `K6_CLOUD_HOST` pointing at a controller (see `docs/k6-cloud-client.md`). Field names
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
    /// k6 Cloud's numeric error code, when k6 acts on it: 4 ("test run aborted") on a metric
    /// push makes `k6 run --out cloud` stop its test (the controller asks for that with
    /// `stopOnError` in [`K6CloudOutputConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

/// `POST /v1/tests`: what `k6 run --out cloud` sends to create the run it streams into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudCreateTestRun {
    /// `options.cloud.name`, else the script's file name.
    #[serde(default)]
    pub name: String,
    /// `options.cloud.projectID`, when the script sets it.
    #[serde(default)]
    pub project_id: Option<u64>,
    /// The most VUs the run may use.
    #[serde(default)]
    pub vus: u64,
    /// The script's thresholds: metric (with its tag filter) → expressions.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub thresholds: serde_json::Value,
    /// The longest the run may take, graceful stops included, in seconds.
    #[serde(default)]
    pub duration: u64,
}

/// The answer to `POST /v1/tests`: the run k6 streams into, and how k6 must send its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudTestRunCreated {
    /// The run's id as a string (k6 refuses a number): k6 pushes to `/v2/metrics/{reference_id}`.
    pub reference_id: String,
    pub config: K6CloudOutputConfig,
}

/// The cloud output settings the controller gives k6 (k6's names; durations as k6 reads them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct K6CloudOutputConfig {
    /// Samples are aggregated per period of this length (`"1s"`).
    pub aggregation_period: String,
    /// How long k6 waits for late samples before a period is sent (k6 refuses zero and
    /// fractions of a second).
    pub aggregation_wait_period: String,
    /// How often k6 pushes.
    pub metric_push_interval: String,
    /// True: a push answered 403 with error code 4 stops the k6 test (how a stop on the
    /// controller reaches k6).
    pub stop_on_error: bool,
}

/// `POST /v1/tests/{id}`: how `k6 run --out cloud` ended. Statuses are k6 Cloud's numbers
/// (those of [`RunStatus`] and [`ResultStatus`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct K6CloudTestRunFinished {
    /// 3 when the test ran its course, 5 after Ctrl+C, 6 after a stop from the controller, 7 a
    /// script error, 8 an `abortOnFail` threshold.
    pub run_status: i32,
    /// 0 passed, 1 failed (k6's own threshold verdict).
    #[serde(default)]
    pub result_status: i32,
    /// k6's verdict per threshold: metric → expression → crossed.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub thresholds: serde_json::Value,
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
