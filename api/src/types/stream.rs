//! Runs streamed from a local `volley run --out cloud=URL`: the run is created RUNNING, gets a
//! protobuf `MetricBatch` every interval (each answered with a [`StreamStatus`]) and is
//! finished by its client.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use volley_common::exit::AbortReason;
use volley_common::status::RunStatus;

use super::schema;

/// What a local `volley run --out cloud=URL` sends to create its streamed run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamedRunRequest {
    /// The test's name (default: the script's file name).
    #[serde(default)]
    pub name: String,
    /// The script's file name.
    pub entry: String,
    /// The entry script's source (kept with the test, for display).
    pub script: String,
    /// The run's consolidated options (k6 shape).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Where the run runs (a host name), shown as the run's one "agent".
    #[serde(default)]
    pub source: String,
}

/// The streamed run just created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamedRunCreated {
    pub id: u64,
    pub test_id: u64,
    #[schema(schema_with = schema::run_status)]
    pub run_status: RunStatus,
    /// `/loadtests/v2/runs/{id}`.
    pub url: String,
    /// The run's own secret: its batches and its finish must carry it in the
    /// `Volley-Stream-Secret` header. Shown only here.
    #[serde(default)]
    pub secret: String,
}

/// The header that carries a streamed run's secret ([`StreamedRunCreated::secret`]).
pub const STREAM_SECRET_HEADER: &str = "volley-stream-secret";

/// What the client of a streamed run hears back with every request: what is durable and
/// whether the run was stopped here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamStatus {
    /// Batches up to this sequence number are durable here: the client may forget them.
    pub acked_seq: u64,
    /// Set when the run was stopped on the controller (API stop, a limit, data_timeout): the
    /// local run should stop for this reason (an AbortReason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub stop: Option<AbortReason>,
    /// The run's status.
    #[schema(schema_with = schema::run_status)]
    pub run_status: RunStatus,
}

/// How a streamed run's client ends its run, after its last batch. The run ends once every
/// batch up to `last_batch_seq` is merged; a local Ctrl+C ends it as FINISHED.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamFinish {
    /// The sequence number of the last batch sent.
    pub last_batch_seq: u64,
    /// Why the local run stopped early, if it did.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub abort_reason: Option<AbortReason>,
    /// `exec.test.fail()` was called.
    #[serde(default)]
    pub marked_failed: Option<String>,
    #[serde(default)]
    pub iterations: u64,
}
