//! Request and response bodies of the controller's REST API. Field names and order of the
//! `k6-run` and `k6-test` objects follow k6's legacy test-runs API, so k6 tooling reading them
//! works unchanged; Volley's own fields follow. Each type's doc comments are its OpenAPI
//! description.

mod agent;
mod controller;
mod k6cloud;
mod meta;
mod run;
pub mod schema;
mod stream;
mod test;
mod token;

pub use agent::{
    AgentEnvelope, AgentList, AgentUtilization, AgentView, AgentsWanted, RunAgents,
    UtilizationSample,
};
pub use controller::{AddController, ControllerList, ControllerView, StateDigest};
pub use k6cloud::{
    k6_run_status_text, K6CloudCreateTestRun, K6CloudError, K6CloudErrorDetail, K6CloudOk,
    K6CloudOutputConfig, K6CloudProgress, K6CloudTestRunCreated, K6CloudTestRunFinished,
    K6CloudUploaded, K6CloudValidateOptions,
};
pub use meta::{ErrorBody, ErrorDetail, Health, Index, Links, Meta, Probe, StoreHealth};
pub use run::{
    Assignment, RunEnvelope, RunEvent, RunList, RunView, StartTestRun, StopReason, StopRun,
    ThresholdCrossing, Transition,
};
pub use stream::{
    StreamFinish, StreamStatus, StreamedRunCreated, StreamedRunRequest, STREAM_SECRET_HEADER,
};
pub use test::{
    CreateTestJson, CreateTestMultipart, TestEnvelope, TestList, TestView, IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_REPLAYED_HEADER,
};
pub use token::{CreateToken, Role, TokenCreated, TokenEnvelope, TokenList, TokenView};
