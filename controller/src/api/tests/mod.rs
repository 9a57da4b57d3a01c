//! Router tests against a fake [`ControllerService`]: every route's happy path and error paths,
//! `$select`, `ids[]`, both upload forms, body limits, and the OpenAPI document's coverage.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::views::fixtures;
use super::*;
use crate::model::{RunStatus, UtilizationSample};

// -------------------------------------------------------------------------------------------
// The fake service

#[derive(Default)]
struct FakeState {
    tests: BTreeMap<u64, Test>,
    runs: BTreeMap<u64, Run>,
    agents: Vec<AgentView>,
    utilization: BTreeMap<u64, Vec<AgentUtilization>>,
    metrics: BTreeMap<u64, Value>,
    summaries: BTreeMap<u64, Value>,
    /// What `store_health` answers (`None`: ok).
    store: Option<crate::store::StoreHealth>,
    created: Vec<(String, u64, Vec<u8>)>,
    started: Vec<(u64, BTreeMap<String, String>, String)>,
    stopped: Vec<(u64, Option<u64>)>,
    /// Simulates the run finishing between the API's check and the service call.
    stop_race: bool,
    /// What `leadership` answers (`None`: this controller leads).
    leadership: Option<crate::store::Leadership>,
    /// What `raft_status` answers (`None`: a controller without Raft).
    raft: Option<crate::replication::DriverStatus>,
    /// What `forwarder` answers (`None`: a follower redirects writes).
    forwarder: Option<Arc<Forwarder>>,
    /// The `Idempotency-Key`s of the creates made, with the test or run each made: a key
    /// seen is answered with it, replayed.
    test_keys: BTreeMap<String, u64>,
    run_keys: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Fake(Mutex<FakeState>);

impl Fake {
    fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

impl ControllerService for Fake {
    fn create_test_keyed(
        &self,
        name: String,
        project_id: Option<u64>,
        archive: Vec<u8>,
        caller: &Caller,
        key: Option<String>,
    ) -> Result<(Test, bool), ServiceError> {
        let project_id = project_id.unwrap_or(caller.project_id);
        let seen = key.as_ref().and_then(|k| {
            self.with(|s| {
                let id = s.test_keys.get(k)?;
                s.tests.get(id).cloned()
            })
        });
        if let Some(test) = seen {
            return Ok((test, true));
        }
        if archive == b"not a tar" {
            return Err(ServiceError::unprocessable(
                "invalid_archive",
                "the archive is not a tar file",
            ));
        }
        if archive == b"boom" {
            return Err(ServiceError::internal("disk full"));
        }
        self.with(|s| {
            let id = s.tests.keys().max().copied().unwrap_or(0) + 1;
            let mut t = fixtures::test(id, project_id, vec![]);
            t.name = name.clone();
            t.archive_size = archive.len() as u64;
            s.created.push((name, project_id, archive));
            s.tests.insert(id, t.clone());
            if let Some(k) = key {
                s.test_keys.insert(k, id);
            }
            Ok((t, false))
        })
    }

    fn list_tests(&self, keep: &dyn Fn(&Test) -> bool, page: Page) -> Listed<Test> {
        self.with(|s| page.collect(s.tests.values().filter(|t| keep(t))))
    }

    fn get_test(&self, id: u64) -> Option<Test> {
        self.with(|s| s.tests.get(&id).cloned())
    }

    fn start_run_keyed(
        &self,
        test_id: u64,
        env: BTreeMap<String, String>,
        note: String,
        _user_id: u64,
        key: Option<String>,
    ) -> Result<(Run, bool), ServiceError> {
        self.with(|s| {
            if let Some(run) = key
                .as_ref()
                .and_then(|k| s.run_keys.get(k))
                .and_then(|id| s.runs.get(id))
            {
                return Ok((run.clone(), true));
            }
            let id = s.runs.keys().max().copied().unwrap_or(0) + 1;
            let mut r = fixtures::run(id, test_id, RunStatus::Created);
            r.note = note.clone();
            r.env = env.clone();
            s.started.push((test_id, env, note));
            s.runs.insert(id, r.clone());
            if let Some(k) = key {
                s.run_keys.insert(k, id);
            }
            Ok((r, false))
        })
    }

    fn get_run(&self, id: u64) -> Option<Run> {
        self.with(|s| s.runs.get(&id).cloned())
    }

    fn list_runs(&self, keep: &dyn Fn(&Run) -> bool, page: Page) -> Listed<Run> {
        self.with(|s| page.collect(s.runs.values().filter(|r| keep(r))))
    }

    fn stop_run(&self, id: u64, stopped_by: Option<u64>) -> Result<Run, ServiceError> {
        self.with(|s| {
            if s.stop_race {
                return Err(ServiceError::conflict(
                    "run_finished",
                    format!("run already finished: run {id}"),
                ));
            }
            s.stopped.push((id, stopped_by));
            let r = s
                .runs
                .get_mut(&id)
                .ok_or_else(|| ServiceError::not_found("run_not_found", "gone"))?;
            r.run_status = RunStatus::AbortedByUser;
            r.stopped_by_id = stopped_by;
            Ok(r.clone())
        })
    }

    fn agents(&self) -> Vec<AgentView> {
        self.with(|s| s.agents.clone())
    }

    fn agents_wanted(&self) -> volley_api::AgentsWanted {
        volley_api::AgentsWanted {
            wanted: 3,
            busy: 1,
            queued_runs: 1,
            queued_want: 2,
            agent_max_vus: 100,
            connected: 2,
        }
    }

    fn script(&self, test_id: u64) -> Option<String> {
        Some(format!("// the script of test {test_id}"))
    }

    fn leadership(&self) -> crate::store::Leadership {
        self.with(|s| s.leadership.clone())
            .unwrap_or(crate::store::Leadership::Here)
    }
    fn raft_status(&self) -> Option<crate::replication::DriverStatus> {
        self.with(|s| s.raft.clone())
    }
    fn forwarder(&self) -> Option<Arc<Forwarder>> {
        self.with(|s| s.forwarder.clone())
    }
    fn store_health(&self) -> crate::store::StoreHealth {
        self.with(|s| s.store.clone())
            .unwrap_or(crate::store::StoreHealth::Ok)
    }

    fn agent(&self, name: &str) -> Option<AgentView> {
        self.with(|s| s.agents.iter().find(|a| a.name == name).cloned())
    }

    fn run_agents(&self, run_id: u64) -> Option<Vec<AgentUtilization>> {
        self.with(|s| {
            s.runs.get(&run_id)?;
            Some(s.utilization.get(&run_id).cloned().unwrap_or_default())
        })
    }

    fn run_metrics(&self, run_id: u64) -> Option<Value> {
        self.with(|s| s.metrics.get(&run_id).cloned())
    }

    fn run_summary(&self, run_id: u64) -> Option<Value> {
        self.with(|s| s.summaries.get(&run_id).cloned())
    }
}

fn agent(name: &str) -> AgentView {
    AgentView {
        name: name.into(),
        labels: BTreeMap::from([("zone".to_string(), "eu".to_string())]),
        state: "idle".into(),
        run_id: None,
        version: "0.1.0".into(),
        max_vus: 1000,
        cpus: 4,
        cpu_percent: 12.5,
        memory_used_bytes: 1 << 30,
        memory_total_bytes: 8 << 30,
        memory_percent: 12.5,
        process_cpu_percent: Some(3.5),
        process_rss_bytes: 50 << 20,
        process_memory_percent: 0.6,
        active_vus: 0,
        requests_per_second: 0.0,
        iterations_per_second: 0.0,
        dropped_iterations: 0,
        heartbeat_age_s: 0.4,
        health: "ok".into(),
        health_cause: None,
        connected_since: "2026-01-01T00:00:00Z".into(),
    }
}

/// Tests 1 (project 1, runs 1–3) and 2 (project 2, run 4); run 3 finished, run 1 running.
fn seeded() -> Arc<Fake> {
    let fake = Arc::new(Fake::default());
    fake.with(|s| {
        s.tests.insert(1, fixtures::test(1, 1, vec![1, 2, 3]));
        s.tests.insert(2, fixtures::test(2, 2, vec![4]));
        s.runs.insert(1, fixtures::run(1, 1, RunStatus::Running));
        s.runs.insert(2, fixtures::run(2, 1, RunStatus::Queued));
        s.runs.insert(3, fixtures::run(3, 1, RunStatus::Finished));
        s.runs.insert(4, fixtures::run(4, 2, RunStatus::Created));
        s.agents = vec![agent("gen-2"), agent("gen 1")];
        s.utilization.insert(
            1,
            vec![AgentUtilization {
                agent: "gen-2".into(),
                segment: "0:1".into(),
                samples: vec![UtilizationSample {
                    at: "2026-01-01T00:00:02Z".into(),
                    cpu_percent: 50.0,
                    memory_percent: 20.0,
                    process_cpu_percent: Some(25.0),
                    process_rss_bytes: 1 << 20,
                    active_vus: 10,
                    requests_per_second: 100.0,
                    iterations_per_second: 10.0,
                }],
            }],
        );
        s.metrics.insert(
            1,
            json!({"http_reqs": {"type": "counter", "values": [[1, 5]]}, "intervals": []}),
        );
        s.summaries.insert(
            3,
            json!({"metrics": {"iterations": {"values": {"count": 30}}}}),
        );
    });
    fake
}

fn app(fake: &Arc<Fake>) -> Router {
    router(fake.clone())
}

// -------------------------------------------------------------------------------------------
// Request helpers

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    let body = if bytes.is_empty() {
        Value::Null
    } else if text {
        // `/metrics`: Prometheus' text format, kept as one string.
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    if !body.is_null() && !text {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("application/json"), "content-type {ct}");
    }
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Resp {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A POST as a program sends it: with an `Authorization` header (any, on this open API), so
/// the guard's browser protection lets forms and text bodies through to the handlers.
async fn post(app: &Router, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
    let mut b = Request::post(uri).header(header::AUTHORIZATION, "Token unit-test");
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    send(app, b.body(Body::from(body)).unwrap()).await
}

async fn post_json(app: &Router, uri: &str, v: Value) -> Resp {
    post(
        app,
        uri,
        Some("application/json"),
        v.to_string().into_bytes(),
    )
    .await
}

/// Asserts the uniform error shape and returns the code.
#[track_caller]
fn assert_error(r: &Resp, status: u16) -> String {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["status"], status, "body: {}", r.body);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    e["code"].as_str().expect("error code").to_string()
}

/// One multipart part: (field name, file name, bytes).
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

const BOUNDARY: &str = "XyZvolleyBoundary";

/// A multipart/form-data body: (name, filename, bytes).
fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, data) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/x-tar\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn mp_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

async fn upload(app: &Router, parts: &[Part<'_>]) -> Resp {
    post(
        app,
        "/loadtests/v2/tests",
        Some(&mp_type()),
        multipart(parts),
    )
    .await
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

mod document;
mod extensions;
mod fuzz;
mod k6cloud;
mod leader;
mod lists;
mod load_tests;
mod meta;
mod prometheus;
mod runs;
