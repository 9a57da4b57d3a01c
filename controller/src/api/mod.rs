//! The controller's REST API: k6's legacy test-runs API (same paths, JSON field names,
//! `$select`, `ids[]`, `public_id`; see `docs/rest-api.md`) plus Volley's `/v1` agent and run
//! extensions, and an OpenAPI 3.1 document at `/openapi.json` generated from the route table.
//! The bodies are the [`volley_api`] types its clients read.
//!
//! The API only translates HTTP to calls on a [`ControllerService`]; it owns no state. That keeps
//! it testable with a fake and independent of how the controller stores and replicates state.
//! Every error is JSON (`{"error": {"code", "message", "status"}}`); bad input is always a 4xx.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::Router;

use crate::auth::{AuthError, Caller};
pub use crate::coordinator::{StreamFinish, StreamStatus};
use crate::model::{AgentHeartbeat, AgentUtilization, AgentView, Run, Test};
pub(crate) use extract::{AppState, CallerOf};

pub use dashboard::{AgentSince, CheckCount, RunPoint};
pub use volley_api::StreamedRunRequest;
use volley_api::{CreateToken, TokenCreated, TokenView};

mod agents;
mod body_budget;
mod body_deadline;
mod controllers;
pub mod dashboard;
mod error;
mod extract;
mod forward;
pub mod guard;
mod handlers;
mod k6cloud;
mod leader;
mod meta;
mod metrics;
mod openapi;
mod page;
mod query;
mod routes;
mod stream;
mod tokens;
mod uploads;
mod views;

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use views::fixtures;

pub use crate::service_error::ServiceError;
pub use error::ApiError;
pub use forward::{Forwarder, FORWARDED_BY_HEADER};
pub use page::{Listed, Page, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use views::{run_fields, run_view, test_fields, test_view};

/// Default cap on a request body that carries an archive (`POST /loadtests/v2/tests`).
/// Base64 in JSON inflates by 4/3, so a JSON upload carries at most ~60 MiB of archive.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 80 * 1024 * 1024;

/// Default cap on every other request body (start-testrun, stop): they are small JSON objects.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default number of archive uploads (new tests, streamed runs) read at once.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 4;

/// Default budget of request-body bytes held at once over every route: four uploads at the
/// largest (what `--max-concurrent-uploads` let them hold before), and 64 MiB for the rest.
pub const DEFAULT_MAX_BODY_MEMORY: usize =
    DEFAULT_MAX_CONCURRENT_UPLOADS * DEFAULT_MAX_UPLOAD_BYTES + 64 * 1024 * 1024;

/// How long a body's bytes wait for room in the budget before the request is answered 503:
/// a burst of honest clients clears in far less, an attacker's held bodies do not.
pub const DEFAULT_BODY_MEMORY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the API needs from the controller. Implemented by the controller's state machine;
/// tests use a fake. Methods are synchronous and expected to be quick (no network I/O);
/// `create_test` may hash and parse a large archive, so the API calls it off the async runtime.
pub trait ControllerService: Send + Sync + 'static {
    /// Stores a new test with its archive (a k6/Volley archive tar) for `caller`, under the
    /// client's `Idempotency-Key` if it sent one: a key seen before answers the test its first
    /// create made, and `true` (docs/ha.md#submits-sent-twice). Its project is `project_id` if
    /// given, else the script's `options.cloud.projectID`, else the caller's project; one the
    /// caller does not see is refused (403). Invalid archives should be reported as a 4xx
    /// [`ServiceError`] (e.g. 400 `invalid_archive`).
    fn create_test_keyed(
        &self,
        name: String,
        project_id: Option<u64>,
        archive: Vec<u8>,
        caller: &Caller,
        key: Option<String>,
    ) -> Result<(Test, bool), ServiceError>;
    /// [`ControllerService::create_test_keyed`] without a key.
    fn create_test(
        &self,
        name: String,
        project_id: Option<u64>,
        archive: Vec<u8>,
        caller: &Caller,
    ) -> Result<Test, ServiceError> {
        self.create_test_keyed(name, project_id, archive, caller, None)
            .map(|(t, _)| t)
    }
    /// One page of the tests `keep` accepts, in id order, and how many it accepts in all.
    fn list_tests(&self, keep: &dyn Fn(&Test) -> bool, page: Page) -> Listed<Test>;
    fn get_test(&self, id: u64) -> Option<Test>;
    /// The entry script of a test, read from its archive (views of one test or run show it;
    /// lists do not, so listing never reads archives). `None` if unknown or unreadable.
    fn script(&self, test_id: u64) -> Option<String> {
        let _ = test_id;
        None
    }
    /// The state of the controller's store, for `/health`.
    fn store_health(&self) -> crate::store::StoreHealth {
        crate::store::StoreHealth::Ok
    }
    /// The run pipeline's meters (batches merged, checkpoints), for `/metrics`.
    fn meters(&self) -> Option<crate::meters::RunMeters> {
        None
    }
    /// Who leads the controllers' Raft group: writes on a follower are redirected to the
    /// leader (a controller without Raft always leads).
    fn leadership(&self) -> crate::store::Leadership {
        crate::store::Leadership::Here
    }
    /// How a follower sends writes on to the leader; `None`: it redirects them instead
    /// (`--follower-writes redirect`, docs/ha.md#followers-forward-writes-to-the-leader).
    fn forwarder(&self) -> Option<Arc<Forwarder>> {
        None
    }
    /// This controller's Raft node, when it is a member of a group (for `/metrics`).
    fn raft_status(&self) -> Option<crate::replication::DriverStatus> {
        None
    }
    /// A digest of this controller's state machine (`GET /v1/controllers/state`); `None` when
    /// it cannot be serialized.
    fn state_digest(&self) -> Option<volley_api::StateDigest> {
        None
    }
    /// The controllers' Raft group as this controller sees it (`GET /v1/controllers`).
    fn controllers(&self) -> volley_api::ControllerList {
        volley_api::ControllerList {
            replicated: false,
            node: 0,
            controllers: Vec::new(),
        }
    }
    /// Adds node `id`, whose Raft port is `raft`, to the group (`POST /v1/controllers`).
    fn add_controller(
        &self,
        id: u64,
        raft: &str,
    ) -> Result<volley_api::ControllerList, ServiceError> {
        let _ = (id, raft);
        Err(ServiceError::not_replicated())
    }
    /// Removes node `id` from the group (`DELETE /v1/controllers/{id}`).
    fn remove_controller(&self, id: u64) -> Result<volley_api::ControllerList, ServiceError> {
        let _ = id;
        Err(ServiceError::not_replicated())
    }
    /// Creates a run of the test and queues it, recording `user_id` (the caller's token) as
    /// its `user_id`, under the client's `Idempotency-Key` if it sent one: a key seen before
    /// answers the run its first create made, and `true`. The API has already checked the
    /// test exists and the caller sees it.
    fn start_run_keyed(
        &self,
        test_id: u64,
        env: BTreeMap<String, String>,
        note: String,
        user_id: u64,
        key: Option<String>,
    ) -> Result<(Run, bool), ServiceError>;
    /// [`ControllerService::start_run_keyed`] without a key.
    fn start_run(
        &self,
        test_id: u64,
        env: BTreeMap<String, String>,
        note: String,
        user_id: u64,
    ) -> Result<Run, ServiceError> {
        self.start_run_keyed(test_id, env, note, user_id, None)
            .map(|(r, _)| r)
    }
    fn get_run(&self, id: u64) -> Option<Run>;
    /// The run's id, test, project and status, without copying the run
    /// ([`crate::model::RunHead`]: a whole run grows with its agents).
    fn run_head(&self, id: u64) -> Option<crate::model::RunHead> {
        self.get_run(id).map(|r| crate::model::RunHead::of(&r))
    }
    /// The log index of the last command applied to the state: no stored field of a run
    /// changes unless it moves (a running run's `duration`, computed when read, aside), so a
    /// reader that saw a run at this index need not copy it again. `None`: not known, read the
    /// run again.
    fn state_index(&self) -> Option<u64> {
        None
    }
    /// One page of the runs `keep` accepts, in id order, and how many it accepts in all.
    fn list_runs(&self, keep: &dyn Fn(&Run) -> bool, page: Page) -> Listed<Run>;
    /// Asks a non-terminal run to stop (ABORTED_BY_USER). The API has already answered 404 for
    /// an unknown run and 409 for a terminal one; the service may still refuse (race) with 409.
    fn stop_run(&self, id: u64, stopped_by: Option<u64>) -> Result<Run, ServiceError>;
    fn agents(&self) -> Vec<AgentView>;
    /// Every agent's name, state and heartbeat age (`GET /metrics`): what [`Self::agents`]
    /// says of them, read without the rest of their views where the service can.
    fn agent_heartbeats(&self) -> Vec<AgentHeartbeat> {
        self.agents()
            .into_iter()
            .map(|a| AgentHeartbeat {
                state: match a.state.as_str() {
                    "busy" => "busy",
                    "draining" => "draining",
                    "lost" => "lost",
                    _ => "idle",
                },
                name: a.name,
                age_s: a.heartbeat_age_s,
            })
            .collect()
    }
    /// Every agent's view and its heartbeats received after `after(name)` (Unix ms), read at
    /// the same moment (the dashboard's Agents page and its small charts).
    fn agents_with_recent(
        &self,
        after: &dyn Fn(&str) -> i64,
    ) -> (Vec<AgentView>, Vec<crate::agent_recent::AgentRecent>) {
        let _ = after;
        (self.agents(), Vec::new())
    }
    /// How many agents the runs need now (`GET /v1/agents/wanted`, `volley_agents_wanted`).
    fn agents_wanted(&self) -> volley_api::AgentsWanted {
        volley_api::AgentsWanted::default()
    }
    fn agent(&self, name: &str) -> Option<AgentView>;
    /// Per-agent utilization over a run; `None` if the run does not exist.
    fn run_agents(&self, run_id: u64) -> Option<Vec<AgentUtilization>>;
    /// The live merged metric series of a run; `None` if unknown run or no data yet.
    fn run_metrics(&self, run_id: u64) -> Option<serde_json::Value>;
    /// The merged end-of-test summary (handleSummary `data` shape); `None` until it exists.
    fn run_summary(&self, run_id: u64) -> Option<serde_json::Value>;
    /// The run's per-interval chart points (the dashboard's live charts) for the intervals
    /// ending at or after `since_unix_ms`, oldest first; `None` if the run has no live data.
    fn run_points(&self, run_id: u64, since_unix_ms: u64) -> Option<Vec<RunPoint>> {
        let _ = (run_id, since_unix_ms);
        None
    }
    /// Every metric of the run (and each submetric its thresholds name) over time, from the
    /// points ending at or after `since_unix_ms` on: the points' generation (it changes when
    /// they are merged into longer ones), their length in ms, and the series
    /// (`crate::run::metric_series`); `None` if the run has no live data.
    fn run_metric_series(
        &self,
        run_id: u64,
        since_unix_ms: u64,
    ) -> Option<(u64, u64, Vec<crate::run::metric_series::MetricSeries>)> {
        let _ = (run_id, since_unix_ms);
        None
    }
    /// The run's merged totals so far of the metrics `keep` accepts:
    /// [`ControllerService::run_metrics`] without its per-interval series (what the
    /// dashboard's totals and live thresholds read each second, for a few metrics only: every
    /// metric left out is one aggregation over the run's series saved per open page).
    fn run_totals(&self, run_id: u64, keep: &dyn Fn(&str) -> bool) -> Option<serde_json::Value> {
        let mut m = self.run_metrics(run_id)?;
        if let Some(o) = m.as_object_mut() {
            o.remove("intervals");
            if let Some(metrics) = o.get_mut("metrics").and_then(|v| v.as_object_mut()) {
                metrics.retain(|name, _| keep(name));
            }
        }
        Some(m)
    }
    /// Each agent's utilization over a run from heartbeat `from(agent)` on, downsampled to at
    /// most `max` points, with its newest heartbeat and count; `None` if the run does not exist.
    fn run_agents_since(
        &self,
        run_id: u64,
        from: &dyn Fn(&str) -> usize,
        max: usize,
    ) -> Option<Vec<AgentSince>> {
        Some(
            self.run_agents(run_id)?
                .iter()
                .map(|a| {
                    let from = from(&a.agent);
                    let n = a.samples.len();
                    dashboard::agent_since(&a.agent, &a.segment, &a.samples, &[], from, n, max)
                })
                .collect(),
        )
    }
    /// The run's checks so far (passes and fails per group and check, in the order first seen,
    /// at most [`dashboard::MAX_CHECKS`]) and whether there were more; `None` without live data.
    fn run_checks(&self, run_id: u64) -> Option<(Vec<CheckCount>, bool)> {
        let _ = run_id;
        None
    }
    /// The summary as Volley's `SummaryReport` (what `volley submit --wait` renders as text);
    /// `None` until the run has one.
    fn run_report(&self, run_id: u64) -> Option<serde_json::Value> {
        let _ = run_id;
        None
    }
    /// Stops a run for a reason: `signal` (Ctrl+C in a CLI following the run: exit 105) or
    /// the default API stop (103).
    /// Creates a run streamed from a local `volley run --out cloud=URL` or `k6 run --out
    /// cloud` (RUNNING at once), in the project of its options' `cloud.projectID` or the
    /// caller's, under the client's `Idempotency-Key` if it sent one: a key seen before
    /// answers the run its first create made, and `true`.
    fn create_streamed_run(
        &self,
        req: StreamedRunRequest,
        caller: &Caller,
        key: Option<String>,
    ) -> Result<(Run, bool), ServiceError> {
        let _ = (req, caller, key);
        Err(ServiceError::new(
            501,
            "not_supported",
            "this controller does not accept streamed runs",
        ))
    }
    /// One protobuf-encoded metric batch of a streamed run.
    fn stream_batch(&self, run_id: u64, batch: &[u8]) -> Result<StreamStatus, ServiceError> {
        let _ = (run_id, batch);
        Err(ServiceError::new(
            501,
            "not_supported",
            "this controller does not accept streamed runs",
        ))
    }
    /// The end of a streamed run.
    fn stream_finish(&self, run_id: u64, fin: StreamFinish) -> Result<StreamStatus, ServiceError> {
        let _ = (run_id, fin);
        Err(ServiceError::new(
            501,
            "not_supported",
            "this controller does not accept streamed runs",
        ))
    }
    /// One metric batch of a streamed run whose client does not number its batches (`k6 run
    /// --out cloud`): the controller numbers them in arrival order.
    fn stream_push(
        &self,
        run_id: u64,
        batch: volley_proto::MetricBatch,
    ) -> Result<StreamStatus, ServiceError> {
        let _ = (run_id, batch);
        Err(ServiceError::new(
            501,
            "not_supported",
            "this controller does not accept streamed runs",
        ))
    }
    /// The end of a streamed run fed through [`ControllerService::stream_push`] (its
    /// `last_batch_seq` is the controller's own count).
    fn stream_finish_pushed(
        &self,
        run_id: u64,
        fin: StreamFinish,
    ) -> Result<StreamStatus, ServiceError> {
        let _ = (run_id, fin);
        Err(ServiceError::new(
            501,
            "not_supported",
            "this controller does not accept streamed runs",
        ))
    }
    /// The secret a streamed run's batches and finish must carry.
    fn stream_secret(&self, run_id: u64) -> String {
        let _ = run_id;
        String::new()
    }
    /// Whether `presented` is the streamed run's secret.
    fn verify_stream_secret(&self, run_id: u64, presented: &str) -> bool {
        presented == self.stream_secret(run_id)
    }
    /// Whether callers must present an API token (false: the API is open, every caller an
    /// admin; see `crate::auth`).
    fn auth_required(&self) -> bool {
        false
    }
    /// The caller a presented token secret stands for.
    fn authenticate(&self, secret: &str) -> Result<Caller, AuthError> {
        let _ = secret;
        Err(AuthError::Unknown)
    }
    /// Creates an API token; the answer holds its secret, which is not kept. Under a client's
    /// `Idempotency-Key` seen before nothing is created: 409 `token_already_created` names the
    /// first one's token (its secret cannot be shown again).
    fn create_token(
        &self,
        req: CreateToken,
        key: Option<String>,
    ) -> Result<TokenCreated, ServiceError> {
        let _ = (req, key);
        Err(ServiceError::new(
            501,
            "not_supported",
            "this controller does not manage tokens",
        ))
    }
    /// Every token, revoked ones too, by id.
    fn tokens(&self) -> Vec<TokenView> {
        Vec::new()
    }
    /// Revokes a token (at once); 404 for an unknown one.
    fn revoke_token(&self, id: u64) -> Result<TokenView, ServiceError> {
        Err(ServiceError::not_found(
            "token_not_found",
            format!("no token with id {id}; GET /v1/tokens lists them"),
        ))
    }
    /// Stops a run; `signal` names the signal (`interrupt`, `terminated`) when a CLI that
    /// followed the run was stopped by one (exit 105), else it is an API stop (103).
    fn stop_run_for(
        &self,
        id: u64,
        stopped_by: Option<u64>,
        signal: Option<&str>,
    ) -> Result<Run, ServiceError> {
        let _ = signal;
        self.stop_run(id, stopped_by)
    }
}

/// Limits the router enforces. `router` uses the defaults; tests and embedders may lower them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest body of `POST /loadtests/v2/tests` (multipart or JSON), in bytes → else 413.
    pub max_upload_bytes: usize,
    /// Largest body of any other request, in bytes → else 413.
    pub max_body_bytes: usize,
    /// Most upload bodies handled at once → else 429 with `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// Most bytes of request bodies held at once, over every route (`body_budget.rs`).
    pub max_body_memory: usize,
    /// Longest a body waits for room in [`Self::max_body_memory`] → else 503 with
    /// `Retry-After`.
    pub body_memory_wait: std::time::Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
            max_body_memory: DEFAULT_MAX_BODY_MEMORY,
            body_memory_wait: DEFAULT_BODY_MEMORY_WAIT,
        }
    }
}

/// The API router with default limits.
pub fn router(svc: Arc<dyn ControllerService>) -> Router {
    router_with_limits(svc, ApiLimits::default())
}

/// The API router with explicit body limits.
pub fn router_with_limits(svc: Arc<dyn ControllerService>, limits: ApiLimits) -> Router {
    let (router, _) = routes::table(limits).split_for_parts();
    let budget = body_budget::BodyBudget::new(limits.max_body_memory, limits.body_memory_wait);
    // The dashboard's pages and live streams sit behind the same guard (not in the OpenAPI
    // document: they are not JSON); see `dashboard/`.
    let router = router.merge(dashboard::routes());
    let state = AppState {
        svc,
        limits,
        backoff: Arc::new(crate::auth::backoff::Backoff::new()),
        hubs: Arc::default(),
    };
    router
        // Inside the guard: a follower forwards a write only once its guard let it in.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::to_leader,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        // Outside the guard: a redirected write's token is checked by the leader, which
        // commits it.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            leader::writes_to_leader,
        ))
        .fallback(meta::route_not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .with_state(state)
        // Every body, forwarded or not, counts in the budget until it is answered; it waits
        // for room before its deadline's wrapper is polled again, so a wait for room is not
        // taken for a slow client.
        .layer(axum::middleware::from_fn(move |req, next| {
            budget.clone().limit(req, next)
        }))
        // Outermost: every body, forwarded or not, must keep arriving.
        .layer(axum::middleware::from_fn(body_deadline::limit))
}

/// The OpenAPI 3.1 document of the API (made once), from the same route table as the router.
pub fn openapi_document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = routes::table(ApiLimits::default()).split_for_parts();
        serde_json::to_value(doc).unwrap_or_default()
    })
}

/// Every (method, path) the API serves, in axum's `{param}` syntax, as the OpenAPI document
/// lists them (the router is made from the same table).
pub fn routes() -> Vec<(Method, String)> {
    let mut out = Vec::new();
    if let Some(paths) = openapi_document()["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                if let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
                    out.push((m, path.clone()));
                }
            }
        }
    }
    out
}

/// Serves the API on `listener` until `shutdown` completes, through the hardened accept loop of
/// [`crate::rest_listener`] (header-read timeout, connection cap); connections still open then
/// finish on their own tasks.
pub async fn serve_with_shutdown<F>(
    listener: tokio::net::TcpListener,
    svc: Arc<dyn ControllerService>,
    api_limits: ApiLimits,
    limits: crate::rest_listener::ListenerLimits,
    tls: Option<Arc<crate::tls::ServerTls>>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = router_with_limits(svc, api_limits);
    crate::rest_listener::serve(listener, app, limits, tls, shutdown).await
}

/// Refuses any query parameter (a route that takes none: 400 `invalid_query` naming them).
pub(crate) fn no_query(raw: Option<&str>) -> Result<(), ApiError> {
    query::Query::parse(raw)?.finish(&[])
}

/// A run id from a path segment (400 `invalid_id` with an example otherwise).
pub(crate) fn parse_run_id(raw: &str) -> Result<u64, ApiError> {
    extract::parse_id(raw, "run", "/v1/live/runs/12")
}

/// Maps a service status to an HTTP status; out-of-range values become 500 so a buggy service
/// cannot produce a nonsensical response.
pub(crate) fn http_status(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(s) if s.is_client_error() || s.is_server_error() => s,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
