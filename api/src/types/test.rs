//! Load tests: the `k6-test` object and the JSON body that creates one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Meta;

/// The request header that makes a create of a test or a run idempotent: a create sent again
/// with the same key makes nothing new and is answered with what the first one made
/// (docs/rest-api.md#idempotency-keys).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The answer header (`true`) of a create whose idempotency key was seen before.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// A load test (k6's legacy `k6-test`), then Volley's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = K6Test)]
pub struct TestView {
    pub id: u64,
    pub project_id: u64,
    /// Always 0: Volley has no users yet.
    pub user_id: u64,
    pub name: String,
    pub created: String,
    pub updated: String,
    /// The newest run's id, if any.
    pub last_test_run_id: Option<u64>,
    pub test_run_ids: Vec<u64>,
    /// The entry script's source; empty in lists (read one test for it), so that listing tests
    /// never reads their archives.
    pub script: String,
    /// Volley: consolidated options read from the archive.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Volley: archive size in bytes.
    pub archive_size: u64,
    /// Volley: hex SHA-256 of the archive.
    pub archive_sha256: String,
}

/// One test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestEnvelope {
    #[serde(rename = "k6-test")]
    pub test: TestView,
}

/// Tests, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestList {
    #[serde(rename = "k6-tests")]
    pub tests: Vec<TestView>,
    pub meta: Meta,
}

/// Creates a test from JSON (the other way is multipart/form-data with `name`, `project_id`
/// and the archive file `file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTestJson {
    /// 1 to 256 characters, no control characters.
    pub name: String,
    /// The project; absent: the script's `options.cloud.projectID`, else the token's project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// The archive tar (`volley archive`), standard base64; whitespace and missing padding are
    /// tolerated.
    pub k6_archive: String,
}

/// Creates a test from a multipart/form-data form (documentation of the form's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateTestMultipart {
    pub name: String,
    #[serde(default)]
    pub project_id: u64,
    /// The archive tar (alias field name `k6_archive`).
    #[schema(value_type = String, format = Binary, content_media_type = "application/x-tar")]
    pub file: Vec<u8>,
}
