//! The controller's data model: tests and runs with the fields of the k6 legacy test-runs API,
//! agents as the registry sees them. Plain data; all changes go through
//! `state::Command`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The parts of a run and the agent views are the REST API's own types (one definition for the
/// store, the API and its clients).
pub use volley_api::{
    AgentUtilization, AgentView, Assignment, RunEvent, Transition, UtilizationSample,
};
pub use volley_common::exit::AbortReason;
pub use volley_common::status::{ProcessingStatus, ResultStatus, RunStatus};

/// What `GET /metrics` lists of each agent: its name, its state (as [`AgentView::state`]) and
/// the age of its last heartbeat. Read without building each agent's whole view: at 5,000
/// agents two lists of views were most of a scrape's 8–16 ms of controller CPU
/// (docs/benchmarks.md, session 14).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentHeartbeat {
    pub name: String,
    pub state: &'static str,
    pub age_s: f64,
}

/// A load test: a named archive that runs can be started from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub id: u64,
    pub name: String,
    pub project_id: u64,
    pub created: String,
    pub updated: String,
    /// The archive bytes are stored separately (once per distinct archive, by this hash); the
    /// entry script shown in views is read from them.
    pub archive_size: u64,
    pub archive_sha256: String,
    /// Consolidated options (k6 shape) read from the archive.
    pub config: serde_json::Value,
    pub test_run_ids: Vec<u64>,
}

/// A test run, with the fields of the k6 legacy API (`k6-run`) plus Volley's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: u64,
    pub test_id: u64,
    pub project_id: u64,
    pub organization_id: u64,
    pub user_id: u64,
    /// Volley: who started the run (the name of its token, `token #N` for an unnamed one);
    /// empty on an open API.
    #[serde(default)]
    pub started_by: String,
    pub created: String,
    pub started: Option<String>,
    pub ended: Option<String>,
    /// Seconds from started to ended (or to now while running).
    pub duration: f64,
    pub load_time: f64,
    pub run_status: RunStatus,
    pub processing_status: ProcessingStatus,
    pub result_status: ResultStatus,
    pub vus: u64,
    pub error_code: Option<i32>,
    pub error_detail: Option<String>,
    pub note: String,
    pub stopped_by_id: Option<u64>,
    pub public_id: Option<String>,
    pub config: serde_json::Value,
    pub run_process: String,
    pub version: u32,
    pub is_baseline: bool,
    /// Volley: every status change.
    pub transitions: Vec<Transition>,
    /// Volley: the execution segment sequence of the run's agents (`0,1/3,2/3,1`), once per
    /// run: empty before placement and for a streamed run. Store format 2 kept a copy in every
    /// assignment instead (one point per agent in each: a run grew with the square of its
    /// agents, 227 MB at 5,000); reading such a run moves the first copy here
    /// (`state::legacy`).
    #[serde(default)]
    pub sequence: String,
    /// Volley: the agents the run was placed on, with their segments of `sequence`.
    pub assignments: Vec<Assignment>,
    /// Volley: the exit code `volley run` would give for this run.
    pub exit_code: Option<i32>,
    /// Volley: why the run ended early, if it did (stored and served as its JSON form, see
    /// `docs/run-statuses.md`).
    pub abort_reason: Option<AbortReason>,
    /// Volley: the run ran on without a lost agent (`on_agent_lost: continue`).
    pub degraded: bool,
    /// Volley: what happened during the run that did not change its status (an agent busy or
    /// lost, a controller restart), oldest first, at most [`MAX_RUN_EVENTS`].
    #[serde(default)]
    pub events: Vec<RunEvent>,
    /// Volley: the merged summary data (handleSummary shape) once the run ended.
    pub summary: Option<serde_json::Value>,
    /// Volley: the env (`-e`) given at submit.
    pub env: BTreeMap<String, String>,
    /// Volley: the stop a user asked for, committed before it was acknowledged, so that a
    /// controller that resumes the run stops it too (docs/ha.md#stops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_request: Option<StopRequest>,
}

/// What the API checks of a run before it reads the run's data (it exists, the caller's project
/// sees it, its status): a copy without the run's lists. A run holds one assignment per agent
/// and one event per change, so a whole copy grows with its agents (~0.3 MB at 5,000), taken
/// by every poll of its live metrics if they copied it (docs/benchmarks.md, Controller scale,
/// sessions 11 and 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunHead {
    pub id: u64,
    pub test_id: u64,
    pub project_id: u64,
    pub run_status: RunStatus,
}

impl RunHead {
    pub fn of(run: &Run) -> RunHead {
        RunHead {
            id: run.id,
            test_id: run.test_id,
            project_id: run.project_id,
            run_status: run.run_status,
        }
    }
}

/// Who asked to stop a run, when and why (the first request; later ones change nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRequest {
    /// The token that asked (`None`: an open API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<u64>,
    /// RFC 3339.
    pub at: String,
    /// An API stop or a signal of a CLI that followed the run.
    pub reason: AbortReason,
}

/// Events kept per run (later ones are dropped, the last kept one says so).
pub const MAX_RUN_EVENTS: usize = 100;
