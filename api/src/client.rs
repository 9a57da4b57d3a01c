//! One typed, blocking client for the controller's REST API, used by the CLI, by
//! `volley run --out cloud` and by the end-to-end tests: reqwest (HTTP/1.1, keep-alive, TLS
//! with rustls and ring), one method per route, each answer decoded into its type.
//!
//! Bounded: an answer larger than [`MAX_RESPONSE`] is refused, and every request (connecting,
//! sending, reading the answer) is given up after the client's timeout, saying what it waited
//! for. Blocking calls must not run on an async runtime's worker: call them from a thread of
//! their own (reqwest's blocking client panics there in debug builds).
//!
//! A client may be given several controllers (a Raft group, comma-separated: docs/ha.md): a
//! request goes to the one that answered last, then to the next one when a controller cannot
//! be reached or has no leader yet, and follows a follower's `307` to the leader when the
//! leader is one of the controllers given (with the token: it is sent to no other host).

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use volley_common::summary::SummaryReport;

use crate::types::{
    AgentList, CreateTestJson, CreateToken, RunAgents, RunEnvelope, RunList, RunView, StartTestRun,
    StopRun, StreamFinish, StreamStatus, StreamedRunCreated, StreamedRunRequest, TestEnvelope,
    TestList, TokenCreated, TokenEnvelope, TokenList, IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_REPLAYED_HEADER, STREAM_SECRET_HEADER,
};

/// The largest answer read (bytes); a larger one is an error, not a truncated body.
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Items asked for per page when [`Client::runs`], [`Client::agents`] or [`Client::tests`]
/// walk a list (the controller's largest page).
pub const PAGE_SIZE: usize = 1000;

/// A list answer: one page of items and the number of items on all pages.
trait Paged: DeserializeOwned {
    type Item;
    fn items(&mut self) -> &mut Vec<Self::Item>;
    fn count(&self) -> usize;
    fn set_count(&mut self, count: usize);
}

macro_rules! paged {
    ($list:ty, $item:ty, $field:ident) => {
        impl Paged for $list {
            type Item = $item;
            fn items(&mut self) -> &mut Vec<$item> {
                &mut self.$field
            }
            fn count(&self) -> usize {
                self.meta.count
            }
            fn set_count(&mut self, count: usize) {
                self.meta.count = count;
            }
        }
    };
}

paged!(RunList, crate::RunView, runs);
paged!(AgentList, crate::AgentView, agents);
paged!(TestList, crate::TestView, tests);

/// The timeout of a request unless [`Client::with_timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed: the controller could not be reached or gave no usable answer (the
/// CLI's exit 98 while following a run), or it answered with an error status.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL cannot be used (or the HTTP client could not be set up).
    #[error("{0}")]
    InvalidUrl(String),
    #[error("cannot reach the controller: {0}")]
    Unreachable(String),
    /// A non-2xx answer and its body (shown as the body's `error.message` when it has one).
    #[error("the controller answered {status}: {}", error_message(body))]
    Status { status: u16, body: String },
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The `error.message` of an API error body, else the body's start.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| body.chars().take(500).collect())
}

/// An answer of any status: its code and body (for routes whose errors are expected, and for
/// tests that check the API's answers themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
    /// The answer says `Idempotent-Replayed: true`: a create whose idempotency key was seen.
    pub replayed: bool,
}

impl RawResponse {
    /// The body as JSON: `Null` when empty, a string when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        let text = String::from_utf8_lossy(&self.body);
        if text.trim().is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::Value::String(text.into()))
    }
}

/// Most redirects one request follows (a follower points at the leader: one is the norm).
const MAX_REDIRECTS: usize = 3;

/// A client of a controller, e.g. `http://127.0.0.1:6565`, or of a Raft group of controllers
/// (`http://c1:6565,http://c2:6565,http://c3:6565`). Cloning shares its connections.
#[derive(Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    /// What TLS trusts and presents ([`crate::tls::default_tls`] unless [`Client::with_tls`]).
    tls: crate::tls::ClientTls,
    /// Every controller given, in order; never empty.
    bases: Arc<Vec<String>>,
    /// The index in `bases` of the controller that answered last (shared by clones).
    current: Arc<AtomicUsize>,
    timeout: Duration,
    max_response: usize,
    /// Sent as `Authorization: Token …` with every request.
    token: Option<String>,
    /// Sent as the `Volley-Stream-Secret` header (a streamed run's client).
    stream_secret: Option<String>,
    /// The Raft leader the last answer that named one named (shared by clones).
    leader: Arc<std::sync::Mutex<Option<Leader>>>,
}

/// The Raft leader a controller of a group named in its answer (the `Volley-Raft-Leader` and
/// `Volley-Raft-Term` headers, docs/ha.md#clients-a-list-of-controllers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// The leader's node id.
    pub node: u64,
    /// The answering controller's Raft term.
    pub term: u64,
}

/// The header naming the leader's node id (as the controller sends it).
const LEADER_HEADER: &str = "volley-raft-leader";
/// The header with the answering controller's Raft term.
const TERM_HEADER: &str = "volley-raft-term";

/// Never shows the token or the stream secret, only whether they are set.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bases", &self.bases)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "stream_secret",
                &self.stream_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Client {
    /// A client of the REST API at `base` (`http://host:port` or `https://host:port`), or of
    /// every controller of a Raft group, comma-separated.
    pub fn new(base: &str) -> Result<Client, ClientError> {
        let bases = base
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(check_base)
            .collect::<Result<Vec<_>, _>>()?;
        if bases.is_empty() {
            return Err(ClientError::InvalidUrl(format!(
                "no controller URL in {base:?}: give one such as http://127.0.0.1:6565"
            )));
        }
        let tls = crate::tls::default_tls();
        Ok(Client {
            http: http_client(DEFAULT_TIMEOUT, &tls)?,
            tls,
            bases: Arc::new(bases),
            current: Arc::new(AtomicUsize::new(0)),
            timeout: DEFAULT_TIMEOUT,
            max_response: MAX_RESPONSE,
            token: None,
            stream_secret: None,
            leader: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The Raft leader named by the last answer that named one: `None` before any (and always
    /// with a controller that runs alone, without Raft).
    pub fn leader(&self) -> Option<Leader> {
        self.leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The same controller, authenticating with an API token (`volley tokens create`); `None`
    /// or an empty token sends none.
    pub fn with_token(self, token: Option<String>) -> Client {
        Client {
            token: token.filter(|t| !t.trim().is_empty()),
            ..self
        }
    }

    /// The same controller, proving a streamed run's secret ([`StreamedRunCreated::secret`]).
    pub fn with_stream_secret(self, secret: String) -> Client {
        Client {
            stream_secret: Some(secret),
            ..self
        }
    }

    /// The same controller with another timeout per request (30 s by default).
    pub fn with_timeout(self, timeout: Duration) -> Result<Client, ClientError> {
        let timeout = timeout.max(Duration::from_millis(1));
        Ok(Client {
            http: http_client(timeout, &self.tls)?,
            timeout,
            ..self
        })
    }

    /// The same controller, trusting and presenting `tls` instead of the process's default
    /// ([`crate::tls::set_default`]).
    pub fn with_tls(self, tls: crate::tls::ClientTls) -> Result<Client, ClientError> {
        Ok(Client {
            http: http_client(self.timeout, &tls)?,
            tls,
            ..self
        })
    }

    /// `http://host:port` of the controller that answered last (the first one given until a
    /// request went elsewhere).
    pub fn base_url(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// `POST /loadtests/v2/tests` (JSON form).
    pub fn create_test(&self, body: &CreateTestJson) -> Result<TestEnvelope, ClientError> {
        self.send_json("POST", "/loadtests/v2/tests", Some(body))
    }

    /// `POST /loadtests/v2/tests/{id}/start-testrun`.
    pub fn start_testrun(
        &self,
        test_id: u64,
        body: &StartTestRun,
    ) -> Result<RunEnvelope, ClientError> {
        let path = format!("/loadtests/v2/tests/{test_id}/start-testrun");
        self.send_json("POST", &path, Some(body))
    }

    /// [`Client::create_test`] with an `Idempotency-Key`: sent again (this client resends a
    /// request that got no answer to the next controller), it makes one test, and the
    /// controller answers the second with the first one's test.
    pub fn create_test_keyed(
        &self,
        body: &CreateTestJson,
        key: &str,
    ) -> Result<TestEnvelope, ClientError> {
        let raw = self.send_keyed(
            "POST",
            "/loadtests/v2/tests",
            Some(json_body(body)?),
            Some(key),
        )?;
        decode("/loadtests/v2/tests", raw)
    }

    /// [`Client::start_testrun`] with an `Idempotency-Key`: sent again, it starts one run.
    pub fn start_testrun_keyed(
        &self,
        test_id: u64,
        body: &StartTestRun,
        key: &str,
    ) -> Result<RunEnvelope, ClientError> {
        let path = format!("/loadtests/v2/tests/{test_id}/start-testrun");
        let raw = self.send_keyed("POST", &path, Some(json_body(body)?), Some(key))?;
        decode(&path, raw)
    }

    /// `GET /loadtests/v2/runs/{id}`.
    pub fn run(&self, id: u64) -> Result<RunView, ClientError> {
        let env: RunEnvelope = self.get(&format!("/loadtests/v2/runs/{id}"))?;
        Ok(env.run)
    }

    /// `GET /loadtests/v2/runs`: every run, page after page.
    pub fn runs(&self) -> Result<RunList, ClientError> {
        self.all_pages("/loadtests/v2/runs")
    }

    /// `POST /loadtests/v2/runs/{id}/stop`.
    pub fn stop_run(&self, id: u64, body: &StopRun) -> Result<RunEnvelope, ClientError> {
        self.send_json("POST", &format!("/loadtests/v2/runs/{id}/stop"), Some(body))
    }

    /// `GET /v1/agents`: every agent, page after page.
    pub fn agents(&self) -> Result<AgentList, ClientError> {
        self.all_pages("/v1/agents")
    }

    /// `GET /v1/controllers`: the answering controller's view of its Raft group.
    pub fn controllers(&self) -> Result<crate::types::ControllerList, ClientError> {
        self.get("/v1/controllers")
    }

    /// `POST /v1/controllers`: adds a controller (running with `--join`) to the Raft group.
    pub fn add_controller(
        &self,
        body: &crate::types::AddController,
    ) -> Result<crate::types::ControllerList, ClientError> {
        self.send_json("POST", "/v1/controllers", Some(body))
    }

    /// `DELETE /v1/controllers/{id}`: removes a controller from the Raft group. An empty JSON
    /// body goes with it: an open API refuses a body-less write without a token (a web page
    /// could send one).
    pub fn remove_controller(&self, id: u64) -> Result<crate::types::ControllerList, ClientError> {
        let path = format!("/v1/controllers/{id}");
        self.send_json("DELETE", &path, Some(&serde_json::json!({})))
    }

    /// `GET /loadtests/v2/tests`: every test, page after page.
    pub fn tests(&self) -> Result<TestList, ClientError> {
        self.all_pages("/loadtests/v2/tests")
    }

    /// `GET /v1/runs/{id}/metrics`: the live merged series (404 until the agents send data).
    pub fn run_metrics(&self, id: u64) -> Result<serde_json::Value, ClientError> {
        self.get(&format!("/v1/runs/{id}/metrics"))
    }

    /// `GET /v1/runs/{id}/metrics?intervals=none`: the live merged totals alone, whose cost
    /// does not grow with the run's age (what a client polling the live figures should ask).
    pub fn run_metric_totals(&self, id: u64) -> Result<serde_json::Value, ClientError> {
        self.get(&format!("/v1/runs/{id}/metrics?intervals=none"))
    }

    /// `GET /v1/runs/{id}/agents`: the run's agents with their utilization samples.
    pub fn run_agents(&self, id: u64) -> Result<RunAgents, ClientError> {
        self.get(&format!("/v1/runs/{id}/agents"))
    }

    pub fn report(&self, id: u64) -> Result<SummaryReport, ClientError> {
        self.get(&format!("/v1/runs/{id}/report"))
    }

    /// `POST /v1/tokens`: a new token, with its secret (shown once).
    pub fn create_token(&self, body: &CreateToken) -> Result<TokenCreated, ClientError> {
        self.send_json("POST", "/v1/tokens", Some(body))
    }

    /// [`Client::create_token`] with an `Idempotency-Key`: sent again (this client resends a
    /// request that got no answer to the next controller), it makes no second token, and the
    /// controller answers the copy `409 token_already_created` naming the first one's token
    /// (its secret was in the answer that was lost).
    pub fn create_token_keyed(
        &self,
        body: &CreateToken,
        key: &str,
    ) -> Result<TokenCreated, ClientError> {
        let raw = self.send_keyed("POST", "/v1/tokens", Some(json_body(body)?), Some(key))?;
        decode("/v1/tokens", raw)
    }

    /// `GET /v1/tokens`.
    pub fn tokens(&self) -> Result<TokenList, ClientError> {
        self.get("/v1/tokens")
    }

    /// `DELETE /v1/tokens/{id}`: revokes a token at once.
    pub fn revoke_token(&self, id: u64) -> Result<TokenEnvelope, ClientError> {
        self.send_json::<(), _>("DELETE", &format!("/v1/tokens/{id}"), None)
    }

    /// `POST /v1/streamed-runs`.
    pub fn create_streamed_run(
        &self,
        body: &StreamedRunRequest,
    ) -> Result<StreamedRunCreated, ClientError> {
        self.send_json("POST", "/v1/streamed-runs", Some(body))
    }

    /// `POST /v1/streamed-runs/{id}/metrics`: one protobuf-encoded `MetricBatch`.
    pub fn stream_batch(&self, id: u64, batch: Vec<u8>) -> Result<StreamStatus, ClientError> {
        let path = format!("/v1/streamed-runs/{id}/metrics");
        let raw = self.send("POST", &path, Some(("application/x-protobuf", batch)))?;
        decode(&path, raw)
    }

    /// `POST /v1/streamed-runs/{id}/finish`.
    pub fn finish_streamed_run(
        &self,
        id: u64,
        body: &StreamFinish,
    ) -> Result<StreamStatus, ClientError> {
        let path = format!("/v1/streamed-runs/{id}/finish");
        self.send_json("POST", &path, Some(body))
    }

    /// Any request with an optional JSON body; the answer whatever its status. Only an
    /// unreachable server (or a bad method) is an error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, ClientError> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, path, body)
    }

    /// [`Client::request`] with an `Idempotency-Key` header.
    pub fn request_keyed(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
        key: &str,
    ) -> Result<RawResponse, ClientError> {
        self.send_keyed(method, path, Some(json_body(body)?), Some(key))
    }

    /// Like [`Client::request`], with a body of any bytes and media type (e.g. JSON that is
    /// deliberately malformed).
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        self.send(method, path, Some((content_type, body)))
    }

    /// Every item of a paginated list: pages of [`PAGE_SIZE`] until `meta.count` items (or a
    /// short page) arrived. The answer's `meta` is the last page's.
    fn all_pages<L: Paged>(&self, path: &str) -> Result<L, ClientError> {
        let mut all: L = self.get(&format!("{path}?page=1&page_size={PAGE_SIZE}"))?;
        let mut page = 1;
        let mut last_len = all.items().len();
        while last_len == PAGE_SIZE && all.items().len() < all.count() {
            page += 1;
            let mut next: L = self.get(&format!("{path}?page={page}&page_size={PAGE_SIZE}"))?;
            last_len = next.items().len();
            let items = std::mem::take(next.items());
            all.items().extend(items);
            all.set_count(next.count());
        }
        Ok(all)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send_json::<(), T>("GET", path, None)
    }

    fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let body = body.map(json_body).transpose()?;
        let raw = self.send(method, path, body)?;
        decode(path, raw)
    }

    /// Sends to the controller that answered last; with several controllers, moves on to the
    /// next one when a controller is unreachable or knows no leader (503 `no_leader`), and
    /// follows a `307` to another controller of the list.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<RawResponse, ClientError> {
        self.send_keyed(method, path, body, None)
    }

    /// [`Client::send`], with an `Idempotency-Key` on every attempt when `key` is given.
    fn send_keyed(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        key: Option<&str>,
    ) -> Result<RawResponse, ClientError> {
        let mut body = body;
        let n = self.bases.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut tried = 0;
        let mut redirects = 0;
        let mut next = first;
        loop {
            let base = &self.bases[next];
            // One controller: the body is sent once, never copied.
            let attempt = if n == 1 { body.take() } else { body.clone() };
            let answer = self.send_to(base, method, path, attempt, key);
            let retry_elsewhere = match &answer {
                Err(ClientError::Unreachable(_)) => true,
                Ok(r) => r.status == 503 && error_code(&r.body).as_deref() == Some("no_leader"),
                Err(_) => false,
            };
            if retry_elsewhere && n > 1 && tried + 1 < n {
                tried += 1;
                next = (next + 1) % n;
                continue;
            }
            let raw = answer?;
            if raw.status == 307 && redirects < MAX_REDIRECTS {
                let location = raw.location.clone().unwrap_or_default();
                let listed = self
                    .bases
                    .iter()
                    .position(|b| location.starts_with(&format!("{b}/")));
                match listed.filter(|&i| i != next) {
                    Some(i) => {
                        redirects += 1;
                        next = i;
                        continue;
                    }
                    None => {
                        return Err(ClientError::InvalidUrl(format!(
                            "{method} {base}{path}: that controller sends writes to {location} \
                             (the Raft leader), which is not among the controllers given: list \
                             every controller of the group in --controller (or VOLLEY_CONTROLLER), \
                             comma-separated"
                        )))
                    }
                }
            }
            self.current.store(next, Ordering::Relaxed);
            return Ok(raw);
        }
    }

    /// One request to the controller at `base`.
    fn send_to(
        &self,
        base: &str,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        key: Option<&str>,
    ) -> Result<RawResponse, ClientError> {
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| ClientError::InvalidUrl(format!("invalid HTTP method {method:?}")))?;
        let url = format!("{base}{path}");
        let mut req = self
            .http
            .request(m, &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = &self.token {
            req = req.header(reqwest::header::AUTHORIZATION, format!("Token {t}"));
        }
        if let Some(s) = &self.stream_secret {
            req = req.header(STREAM_SECRET_HEADER, s.as_str());
        }
        if let Some(k) = key {
            req = req.header(IDEMPOTENCY_KEY_HEADER, k);
        }
        if let Some((content_type, bytes)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let what = format!("{method} {url}");
        let resp = req.send().map_err(|e| self.failed(base, &what, &e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| -> Option<u64> {
            resp.headers().get(name)?.to_str().ok()?.trim().parse().ok()
        };
        if let (Some(node), Some(term)) = (header(LEADER_HEADER), header(TERM_HEADER)) {
            *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(Leader { node, term });
        }
        let replayed = resp
            .headers()
            .get(IDEMPOTENT_REPLAYED_HEADER)
            .is_some_and(|v| v.as_bytes() == b"true");
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let mut body = Vec::new();
        resp.take(self.max_response as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    ClientError::Unreachable(format!(
                        "{what}: the answer did not arrive within {:?}",
                        self.timeout
                    ))
                } else {
                    ClientError::Unreachable(format!("{what}: reading the answer: {e}"))
                }
            })?;
        if body.len() > self.max_response {
            return Err(ClientError::Unreachable(format!(
                "{what}: the answer is larger than {} bytes",
                self.max_response
            )));
        }
        // http:// to a TLS port: the controller's plaintext refusal (docs/security.md#tls).
        if status == 400 && body.starts_with(b"this port speaks TLS") {
            return Err(ClientError::Unreachable(format!(
                "{what}: {base} speaks TLS: use https:// (and --ca or VOLLEY_CA for its CA)"
            )));
        }
        Ok(RawResponse {
            status,
            body,
            location,
            replayed,
        })
    }

    fn failed(&self, base: &str, what: &str, e: &reqwest::Error) -> ClientError {
        if e.is_timeout() {
            return ClientError::Unreachable(format!(
                "{what}: no answer within {:?}",
                self.timeout
            ));
        }
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        let cause = if causes.is_empty() {
            e.to_string()
        } else {
            causes.join(": ")
        };
        // A TLS failure says what to change (plaintext port, unknown CA, client certificate).
        if let Some(hint) = crate::tls::explain(base, &cause) {
            return ClientError::Unreachable(format!("{what}: {hint} ({cause})"));
        }
        ClientError::Unreachable(format!("{what}: {cause}"))
    }
}

/// A controller URL as [`Client::new`] takes it: scheme, host and port only; without a
/// trailing slash.
fn check_base(base: &str) -> Result<String, ClientError> {
    let trimmed = base.trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| ClientError::InvalidUrl(format!("invalid controller URL {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ClientError::InvalidUrl(format!(
            "controller URL {base:?} must start with http:// (or https://) and name a host"
        )));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(ClientError::InvalidUrl(format!(
            "controller URL {base:?} must be only scheme, host and port, e.g. http://127.0.0.1:6565"
        )));
    }
    Ok(trimmed.to_string())
}

/// A request body as JSON.
fn json_body<B: Serialize + ?Sized>(body: &B) -> Result<(&'static str, Vec<u8>), ClientError> {
    serde_json::to_vec(body)
        .map(|v| ("application/json", v))
        .map_err(|e| ClientError::InvalidUrl(format!("cannot encode the request: {e}")))
}

/// The `error.code` of an API error body.
fn error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .pointer("/error/code")?
        .as_str()
        .map(String::from)
}

/// A 2xx answer's JSON body as `T`, or the error.
fn decode<T: DeserializeOwned>(path: &str, raw: RawResponse) -> Result<T, ClientError> {
    if !(200..300).contains(&raw.status) {
        return Err(ClientError::Status {
            status: raw.status,
            body: String::from_utf8_lossy(&raw.body).into_owned(),
        });
    }
    serde_json::from_slice(&raw.body).map_err(|e| {
        ClientError::Unreachable(format!("invalid JSON from the controller for {path}: {e}"))
    })
}

/// reqwest over rustls with ring and the Mozilla roots; no proxy (the cluster's network is
/// reached directly), HTTP/1.1 with keep-alive.
fn http_client(
    timeout: Duration,
    tls: &crate::tls::ClientTls,
) -> Result<reqwest::blocking::Client, ClientError> {
    // The Mozilla roots, plus the CA and client certificate given (the CLI's --ca, --cert and
    // --key: crate::tls::set_default).
    let tls = tls
        .rustls_config(&[b"http/1.1"])
        .map_err(ClientError::InvalidUrl)?;
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        // Redirects are followed by `Client::send`, only to the controllers given.
        .redirect(reqwest::redirect::Policy::none())
        // The controller closes connections idle for its header-read timeout (10 s by
        // default); reusing one it is closing would fail a request for nothing.
        .pool_idle_timeout(Duration::from_secs(5))
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| ClientError::InvalidUrl(format!("cannot set up the HTTP client: {e}")))
}

#[cfg(test)]
mod tests;
