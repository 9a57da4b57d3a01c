//! Test runs: the `k6-run` object, its parts, and the bodies that start and stop a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use volley_common::exit::AbortReason;
use volley_common::status::{ProcessingStatus, ResultStatus, RunStatus};

use super::{schema, Meta};

/// A test run: every field of k6's legacy `k6-run` object, then Volley's own. `k6_archive`
/// never carries bytes: it is the path of the test holding the archive. The env given at start
/// (its values may be secrets) and the summary (it has its own route) are not part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = K6Run)]
pub struct RunView {
    /// Consolidated options (k6 shape).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// RFC 3339 UTC.
    pub created: String,
    /// Seconds from started to ended (or to now while running).
    pub duration: f64,
    pub ended: Option<String>,
    pub error_code: Option<i32>,
    pub error_detail: Option<String>,
    /// Always null: Volley has no cloud export.
    #[schema(value_type = Option<Object>)]
    pub export: Option<serde_json::Value>,
    pub id: u64,
    pub is_baseline: bool,
    /// `/loadtests/v2/tests/{test_id}`: the test that holds the archive.
    pub k6_archive: String,
    pub load_time: f64,
    pub note: String,
    pub organization_id: u64,
    #[schema(schema_with = schema::processing_status)]
    pub processing_status: ProcessingStatus,
    pub project_id: u64,
    pub public_id: Option<String>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub request_builder_config: Option<serde_json::Value>,
    #[schema(schema_with = schema::result_status)]
    pub result_status: ResultStatus,
    pub run_process: String,
    #[schema(schema_with = schema::run_status)]
    pub run_status: RunStatus,
    /// The entry script's source; empty in lists (read one run for it), so that listing runs
    /// never reads their archives.
    pub script: String,
    pub started: Option<String>,
    pub stopped_by_id: Option<u64>,
    pub test_id: u64,
    pub user_id: u64,
    /// Volley: who started the run: the name of the API token it was started with (`token #N`
    /// for a token without a name); empty on an open API (no tokens).
    #[serde(default)]
    pub started_by: String,
    pub version: u32,
    pub vus: u64,
    /// vus over the run's agents, rounded up; 0 before placement.
    pub vus_per_instance: u64,
    /// Volley: every status change with time and reason.
    pub transitions: Vec<Transition>,
    /// Volley: the execution segment sequence the run's agents share (`0,1/3,2/3,1` for three
    /// equal agents; k6's `--execution-segment-sequence`); empty before placement and for a
    /// streamed run. Once per run: each assignment used to repeat it, which made a run's JSON
    /// grow with the square of its agents (docs/rest-api.md#the-run-object-k6-run).
    #[serde(default)]
    pub sequence: String,
    /// Volley: the agents the run was placed on, with their execution segments (of `sequence`).
    pub assignments: Vec<Assignment>,
    /// Volley: the exit code `volley run` would give for this run.
    pub exit_code: Option<i32>,
    /// Volley: why the run was aborted, if it was (`{"reason": "api_stop", ...}`).
    #[schema(value_type = Option<Object>)]
    pub abort_reason: Option<AbortReason>,
    /// Volley: the run went on after losing an agent.
    pub degraded: bool,
    /// Volley: what happened during the run without changing its status (an agent busy,
    /// overloaded, disconnected or lost; a controller restart), oldest first.
    pub events: Vec<RunEvent>,
}

/// One status change of a run, with when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    #[schema(schema_with = schema::run_status)]
    pub from: RunStatus,
    #[schema(schema_with = schema::run_status)]
    pub to: RunStatus,
    /// RFC 3339 UTC.
    pub at: String,
    pub reason: String,
}

/// An agent's share of a run: its execution segment of the run's `sequence`. (A controller
/// before store format 3 also repeated the run's sequence here as `sequence`; reading its
/// answers skips that key.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    pub agent: String,
    /// k6 execution segment, e.g. `0:1/3`.
    pub segment: String,
}

/// Something that happened during a run without changing its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunEvent {
    /// RFC 3339 UTC.
    pub at: String,
    /// `info` or `warning`.
    pub level: String,
    pub message: String,
    /// Volley: on the event of a threshold crossing (its verdict changed): which threshold,
    /// which way, and its value then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdCrossing>,
}

/// A threshold whose verdict changed during a run: from its event's `at` on, it fails (`ok`
/// false) or passes again (`ok` true). Judged on the merged data, as at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThresholdCrossing {
    /// The metric as the thresholds name it (`http_req_duration`, `waiting_time{kind:odd}`).
    pub metric: String,
    /// The threshold's expression (`p(95)<200`).
    pub threshold: String,
    /// Whether it holds from then on.
    pub ok: bool,
    /// The stat compared (`p(95)`, `rate`, `count`, …).
    pub stat: String,
    /// The stat's value then (null if it was not a finite number).
    pub value: Option<f64>,
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunEnvelope {
    #[serde(rename = "k6-run")]
    pub run: RunView,
}

/// Runs, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    #[serde(rename = "k6-runs")]
    pub runs: Vec<RunView>,
    pub meta: Meta,
}

/// The optional body of `start-testrun`; an empty body uses no env and an empty note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTestRun {
    /// Environment variables for the script (`-e KEY=VALUE`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub note: String,
}

/// The optional body of a stop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRun {
    /// Volley: who stopped the run, recorded as `stopped_by_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by_id: Option<u64>,
    /// Volley: why; `signal` when a CLI following the run was interrupted (exit 105), else
    /// `api` (exit 103).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<StopReason>,
    /// Volley: with `reason: signal`, which one: `interrupt` (Ctrl+C, the default) or
    /// `terminated` (SIGTERM); the run's error names it as a local run's would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// Why a run is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    Api,
    Signal,
}
