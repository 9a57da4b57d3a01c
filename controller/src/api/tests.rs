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
    fn create_test(
        &self,
        name: String,
        project_id: Option<u64>,
        archive: Vec<u8>,
        caller: &Caller,
    ) -> Result<Test, ServiceError> {
        let project_id = project_id.unwrap_or(caller.project_id);
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
            Ok(t)
        })
    }

    fn list_tests(&self, keep: &dyn Fn(&Test) -> bool, page: Page) -> Listed<Test> {
        self.with(|s| page.collect(s.tests.values().filter(|t| keep(t))))
    }

    fn get_test(&self, id: u64) -> Option<Test> {
        self.with(|s| s.tests.get(&id).cloned())
    }

    fn start_run(
        &self,
        test_id: u64,
        env: BTreeMap<String, String>,
        note: String,
        _user_id: u64,
    ) -> Result<Run, ServiceError> {
        self.with(|s| {
            let id = s.runs.keys().max().copied().unwrap_or(0) + 1;
            let mut r = fixtures::run(id, test_id, RunStatus::Created);
            r.note = note.clone();
            r.env = env.clone();
            s.started.push((test_id, env, note));
            s.runs.insert(id, r.clone());
            Ok(r)
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

    fn script(&self, test_id: u64) -> Option<String> {
        Some(format!("// the script of test {test_id}"))
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
            json!({"http_reqs": {"type": "counter", "values": [[1, 5]]}}),
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

// -------------------------------------------------------------------------------------------
// Meta routes

#[tokio::test]
async fn index_health_and_openapi() {
    let fake = seeded();
    let a = app(&fake);
    let r = get(&a, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok", "store": {"status": "ok"}}));
    for probe in ["/healthz", "/readyz"] {
        let r = get(&a, probe).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::OK, &json!({"status": "ok"})),
            "{probe}"
        );
    }
    let r = get(&a, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "volley-controller");
    assert_eq!(r.body["links"]["openapi"], "/openapi.json");
    assert_eq!(r.body["links"]["runs"], "/loadtests/v2/runs");
    let r = get(&a, "/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    assert_eq!(&r.body, openapi_document());
}

#[tokio::test]
async fn unknown_route_is_json_404_with_slash_hint() {
    let a = app(&seeded());
    let r = get(&a, "/nope").await;
    assert_eq!(assert_error(&r, 404), "route_not_found");
    let r = get(&a, "/loadtests/v2/runs/").await;
    assert_eq!(assert_error(&r, 404), "route_not_found");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("`/loadtests/v2/runs`"), "{msg}");
    let r = get(&a, "/loadtests/v2/runs/1/nope").await;
    assert_eq!(assert_error(&r, 404), "route_not_found");
}

#[tokio::test]
async fn wrong_method_is_json_405_with_allow() {
    let a = app(&seeded());
    let r = send(
        &a,
        Request::delete("/loadtests/v2/tests")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 405), "method_not_allowed");
    let allow = r
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow}"
    );
    let r = get(&a, "/loadtests/v2/runs/1/stop").await;
    assert_eq!(assert_error(&r, 405), "method_not_allowed");
    let r = post(&a, "/v1/agents", None, vec![]).await;
    assert_eq!(assert_error(&r, 405), "method_not_allowed");
}

// -------------------------------------------------------------------------------------------
// Creating tests

#[tokio::test]
async fn multipart_upload_creates_a_test() {
    let fake = seeded();
    let a = app(&fake);
    let tar = b"pretend tar \x00\x01\xff bytes".to_vec();
    let r = upload(
        &a,
        &[
            ("name", None, b"  checkout flow  "),
            ("project_id", None, b"7"),
            ("file", Some("test.tar"), &tar),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["k6-test"];
    assert_eq!(t["name"], "checkout flow");
    assert_eq!(t["project_id"], 7);
    assert_eq!(keys(t), test_fields());
    let id = t["id"].as_u64().unwrap_or(0);
    assert_eq!(
        r.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/loadtests/v2/tests/{id}").as_str())
    );
    fake.with(|s| {
        assert_eq!(
            s.created,
            vec![("checkout flow".to_string(), 7, tar.clone())]
        );
    });
}

#[tokio::test]
async fn multipart_accepts_k6_archive_field_and_default_project() {
    let fake = seeded();
    let a = app(&fake);
    let r = upload(
        &a,
        &[("k6_archive", Some("a.tar"), b"tar"), ("name", None, b"x")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    fake.with(|s| assert_eq!(s.created[0].1, 0));
}

#[tokio::test]
async fn multipart_errors_are_400_and_name_the_field() {
    let a = app(&seeded());
    let cases: Vec<(Vec<Part>, &str, &str)> = vec![
        (vec![("file", Some("a.tar"), b"t")], "missing_field", "name"),
        (vec![("name", None, b"x")], "missing_field", "archive"),
        (
            vec![("name", None, b"x"), ("file", Some("a.tar"), b"")],
            "invalid_field",
            "empty",
        ),
        (
            vec![("name", None, b"   "), ("file", Some("a.tar"), b"t")],
            "invalid_field",
            "name",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("project_id", None, b"seven"),
                ("file", Some("a"), b"t"),
            ],
            "invalid_field",
            "project_id",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("colour", None, b"red"),
                ("file", Some("a"), b"t"),
            ],
            "invalid_field",
            "colour",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("name", None, b"y"),
                ("file", Some("a"), b"t"),
            ],
            "invalid_multipart",
            "more than once",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("file", Some("a"), b"t"),
                ("file", Some("b"), b"u"),
            ],
            "invalid_multipart",
            "more than once",
        ),
    ];
    for (parts, code, needle) in cases {
        let r = upload(&a, &parts).await;
        assert_eq!(assert_error(&r, 400), code, "{}", r.body);
        let msg = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
}

#[tokio::test]
async fn malformed_multipart_is_400() {
    let a = app(&seeded());
    // No boundary parameter.
    let r = post(
        &a,
        "/loadtests/v2/tests",
        Some("multipart/form-data"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_multipart");
    // Truncated body.
    let mut body = multipart(&[("name", None, b"x"), ("file", Some("a"), b"tar")]);
    body.truncate(body.len() - 20);
    let r = post(&a, "/loadtests/v2/tests", Some(&mp_type()), body).await;
    assert_eq!(assert_error(&r, 400), "invalid_multipart");
    // Garbage.
    let r = post(
        &a,
        "/loadtests/v2/tests",
        Some(&mp_type()),
        b"garbage".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_multipart");
}

#[tokio::test]
async fn json_upload_creates_a_test() {
    let fake = seeded();
    let a = app(&fake);
    let tar: Vec<u8> = (0u8..=255).cycle().take(1000).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&tar);
    let r = post_json(
        &a,
        "/loadtests/v2/tests",
        json!({"name": "api", "project_id": 3, "k6_archive": b64}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["k6-test"]["archive_size"], 1000);
    // Line-wrapped (as `base64` prints) and unpadded base64 work; project defaults to 0.
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let r = post(
        &a,
        "/loadtests/v2/tests",
        Some("application/json; charset=utf-8"),
        json!({"name": "wrapped", "k6_archive": wrapped})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"ab");
    let r = post_json(
        &a,
        "/loadtests/v2/tests",
        json!({"name": "np", "k6_archive": unpadded}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    fake.with(|s| {
        assert_eq!(s.created[0], ("api".to_string(), 3, tar.clone()));
        assert_eq!(s.created[1], ("wrapped".to_string(), 0, tar.clone()));
        assert_eq!(s.created[2].2, b"ab".to_vec());
    });
}

#[tokio::test]
async fn json_upload_errors() {
    let a = app(&seeded());
    let cases = [
        (b"{not json".to_vec(), "invalid_json", "not valid"),
        (
            json!({"name": "x"}).to_string().into_bytes(),
            "missing_field",
            "k6_archive",
        ),
        (
            json!({"k6_archive": "dA=="}).to_string().into_bytes(),
            "missing_field",
            "name",
        ),
        (b"[]".to_vec(), "invalid_json", "JSON object"),
        (
            json!({"name": 5, "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_json",
            "field `name`",
        ),
        (
            json!({"name": "x", "k6_archive": "dA==", "nmae": 1})
                .to_string()
                .into_bytes(),
            "invalid_json",
            "nmae",
        ),
        (
            json!({"name": "x", "k6_archive": "!!!"})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "base64",
        ),
        (
            json!({"name": "x", "project_id": -1, "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_json",
            "project_id",
        ),
        (
            json!({"name": "", "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "name",
        ),
        (
            json!({"name": "x", "k6_archive": ""})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "empty",
        ),
        (
            json!({"name": "a\u{7}b", "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "control",
        ),
        (
            json!({"name": "n".repeat(257), "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "256",
        ),
    ];
    for (body, code, needle) in cases {
        let r = post(&a, "/loadtests/v2/tests", Some("application/json"), body).await;
        assert_eq!(assert_error(&r, 400), code, "{}", r.body);
        let msg = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
}

#[tokio::test]
async fn upload_with_wrong_content_type_is_415() {
    let a = app(&seeded());
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let r = post(&a, "/loadtests/v2/tests", ct, b"name=x".to_vec()).await;
        assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    }
    let r = post(
        &a,
        "/loadtests/v2/tests?name=x",
        Some(&mp_type()),
        multipart(&[("name", None, b"x"), ("file", Some("a"), b"t")]),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_query");
}

#[tokio::test]
async fn service_errors_pass_through() {
    let a = app(&seeded());
    let r = upload(
        &a,
        &[("name", None, b"x"), ("file", Some("a"), b"not a tar")],
    )
    .await;
    assert_eq!(assert_error(&r, 422), "invalid_archive");
    assert_eq!(r.body["error"]["message"], "the archive is not a tar file");
    let r = upload(&a, &[("name", None, b"x"), ("file", Some("a"), b"boom")]).await;
    assert_eq!(assert_error(&r, 500), "internal_error");
}

#[tokio::test]
async fn body_limits_give_413_json() {
    let fake = seeded();
    let a = router_with_limits(
        fake.clone(),
        ApiLimits {
            max_upload_bytes: 4096,
            max_body_bytes: 64,
            ..ApiLimits::default()
        },
    );
    let big = vec![b'a'; 8192];
    let r = upload(&a, &[("name", None, b"x"), ("file", Some("a"), &big)]).await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("4 KiB"), "{msg}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&big);
    let r = post_json(
        &a,
        "/loadtests/v2/tests",
        json!({"name": "x", "k6_archive": b64}),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    // Under the limit it works.
    let r = upload(
        &a,
        &[("name", None, b"x"), ("file", Some("a"), &big[..1024])],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Small bodies have their own, smaller limit.
    let note = "n".repeat(100);
    let r = post_json(
        &a,
        "/loadtests/v2/tests/1/start-testrun",
        json!({"note": note}),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    let r = post_json(
        &a,
        "/loadtests/v2/runs/1/stop",
        json!({"stopped_by_id": 1, "x": note}),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
}

#[tokio::test]
async fn default_upload_limit_is_80_mib() {
    assert_eq!(ApiLimits::default().max_upload_bytes, 80 * 1024 * 1024);
    let fake = seeded();
    let a = app(&fake);
    // Well above axum's 2 MB default, well below ours.
    let tar = vec![7u8; 3 * 1024 * 1024];
    let r = upload(&a, &[("name", None, b"big"), ("file", Some("a"), &tar)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["k6-test"]["archive_size"], 3 * 1024 * 1024);
}

// -------------------------------------------------------------------------------------------
// Reading tests

#[tokio::test]
async fn list_and_read_tests() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/tests").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["meta"]["count"], 2);
    let ids: Vec<u64> = r.body["k6-tests"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids, vec![1, 2], "sorted by id");
    assert_eq!(r.body["k6-tests"][0]["test_run_ids"], json!([1, 2, 3]));
    assert_eq!(r.body["k6-tests"][0]["last_test_run_id"], 3);

    let r = get(&a, "/loadtests/v2/tests?project_id=2").await;
    assert_eq!(r.body["meta"]["count"], 1);
    assert_eq!(r.body["k6-tests"][0]["id"], 2);

    let r = get(&a, "/loadtests/v2/tests?ids[]=2&ids[]=9&$select=id,name").await;
    assert_eq!(r.body["k6-tests"], json!([{"id": 2, "name": "test 2"}]));

    let r = get(&a, "/loadtests/v2/tests/1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(keys(&r.body["k6-test"]), test_fields());
    let r = get(&a, "/loadtests/v2/tests/1?$select=test_run_ids").await;
    assert_eq!(r.body, json!({"k6-test": {"test_run_ids": [1, 2, 3]}}));
}

#[tokio::test]
async fn test_read_errors() {
    let a = app(&seeded());
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/99").await, 404),
        "test_not_found"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/abc").await, 400),
        "invalid_id"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/-1").await, 400),
        "invalid_id"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests?project_id=x").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests?offset=2").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/1?$select=nope").await, 400),
        "unknown_select_field"
    );
}

// -------------------------------------------------------------------------------------------
// Starting runs

#[tokio::test]
async fn start_testrun_without_body() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/loadtests/v2/tests/1/start-testrun", None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let run = &r.body["k6-run"];
    assert_eq!(keys(run), run_fields());
    assert_eq!(run["test_id"], 1);
    assert_eq!(run["run_status"], RunStatus::Created.number());
    assert_eq!(run["k6_archive"], "/loadtests/v2/tests/1");
    fake.with(|s| assert_eq!(s.started, vec![(1, BTreeMap::new(), String::new())]));
}

#[tokio::test]
async fn start_testrun_with_env_and_note() {
    let fake = seeded();
    let a = app(&fake);
    let r = post_json(
        &a,
        "/loadtests/v2/tests/2/start-testrun",
        json!({"env": {"BASE_URL": "http://x", "TOKEN": "s3cret"}, "note": "nightly"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["k6-run"]["note"], "nightly");
    // The env is passed on but never echoed: it may hold secrets.
    assert!(!r.body.to_string().contains("s3cret"));
    fake.with(|s| {
        let (t, env, note) = &s.started[0];
        assert_eq!(*t, 2);
        assert_eq!(env.get("TOKEN").map(String::as_str), Some("s3cret"));
        assert_eq!(note, "nightly");
    });
}

#[tokio::test]
async fn start_testrun_errors() {
    let fake = seeded();
    let a = app(&fake);
    let u = "/loadtests/v2/tests/1/start-testrun";
    assert_eq!(
        assert_error(
            &post(&a, u, Some("application/json"), b"{".to_vec()).await,
            400
        ),
        "invalid_json"
    );
    let r = post_json(&a, u, json!({"envs": {}})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    assert_eq!(
        r.body["error"]["message"],
        "unknown field(s) in the start-testrun body: envs; accepted: env, note"
    );
    let r = post_json(&a, u, json!({"env": {"N": 1}})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    let r = post_json(&a, u, json!({"env": {"A=B": "1"}})).await;
    assert_eq!(assert_error(&r, 400), "invalid_field");
    let r = post(
        &a,
        u,
        Some("application/x-www-form-urlencoded"),
        b"note=x".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    let r = post(&a, "/loadtests/v2/tests/99/start-testrun", None, vec![]).await;
    assert_eq!(assert_error(&r, 404), "test_not_found");
    let r = post(&a, "/loadtests/v2/tests/x/start-testrun", None, vec![]).await;
    assert_eq!(assert_error(&r, 400), "invalid_id");
    let r = post(
        &a,
        "/loadtests/v2/tests/1/start-testrun?now=1",
        None,
        vec![],
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_query");
    fake.with(|s| assert!(s.started.is_empty(), "nothing started on bad input"));
}

// -------------------------------------------------------------------------------------------
// Reading runs

#[tokio::test]
async fn read_run_full_and_selected() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/runs/3").await;
    assert_eq!(r.status, StatusCode::OK);
    let run = &r.body["k6-run"];
    assert_eq!(keys(run), run_fields());
    assert_eq!(run["id"], 3);
    assert_eq!(run["run_status"], 3);
    assert_eq!(run["export"], Value::Null);

    // k6's example; fields come back in the object's order, not the query's.
    let r = get(
        &a,
        "/loadtests/v2/runs/3?$select=id,test_id,run_status,created",
    )
    .await;
    assert_eq!(
        keys(&r.body["k6-run"]),
        vec!["created", "id", "run_status", "test_id"]
    );
    assert_eq!(r.body["k6-run"]["run_status"], 3);
    // URL-encoded `$` and k6's `select` spelling.
    let r = get(&a, "/loadtests/v2/runs/3?%24select=id%2Cexit_code").await;
    assert_eq!(r.body, json!({"k6-run": {"id": 3, "exit_code": null}}));
    let r = get(&a, "/loadtests/v2/runs/3?select=degraded").await;
    assert_eq!(r.body, json!({"k6-run": {"degraded": false}}));
}

#[tokio::test]
async fn read_run_errors() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/runs/3?$select=id,bogus,run_statuss").await;
    assert_eq!(assert_error(&r, 400), "unknown_select_field");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("bogus, run_statuss"), "{msg}");
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/3?$select=").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/99").await, 404),
        "run_not_found"
    );
    for bad in ["abc", "-3", "1.0", "99999999999999999999999", "%FF"] {
        let r = get(&a, &format!("/loadtests/v2/runs/{bad}")).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
    }
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/3?x=%zz").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/3?limit=1").await, 400),
        "invalid_query"
    );
}

#[tokio::test]
async fn list_runs_filters() {
    let a = app(&seeded());
    let ids = |r: &Resp| -> Vec<u64> {
        r.body["k6-runs"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x["id"].as_u64()).collect())
            .unwrap_or_default()
    };
    let r = get(&a, "/loadtests/v2/runs").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ids(&r), vec![1, 2, 3, 4]);
    assert_eq!(r.body["meta"]["count"], 4);

    let r = get(&a, "/loadtests/v2/runs?test_id=1").await;
    assert_eq!(ids(&r), vec![1, 2, 3]);
    assert_eq!(r.body["meta"]["count"], 3);
    // k6's `$test_id` spelling.
    let r = get(&a, "/loadtests/v2/runs?$test_id=2").await;
    assert_eq!(ids(&r), vec![4]);

    let r = get(&a, "/loadtests/v2/runs?test_id=1&ids[]=1&ids[]=3").await;
    assert_eq!(ids(&r), vec![1, 3]);
    let r = get(&a, "/loadtests/v2/runs?ids%5B%5D=4&ids%5B%5D=2").await;
    assert_eq!(ids(&r), vec![2, 4]);
    let r = get(&a, "/loadtests/v2/runs?ids[]=42").await;
    assert_eq!(ids(&r), Vec::<u64>::new());
    assert_eq!(r.body["meta"]["count"], 0);

    let r = get(&a, "/loadtests/v2/runs?public_id=pub-2").await;
    assert_eq!(ids(&r), vec![2]);
    let r = get(&a, "/loadtests/v2/runs?public_id=nope").await;
    assert_eq!(ids(&r), Vec::<u64>::new());

    let r = get(&a, "/loadtests/v2/runs?test_id=1&$select=id,run_status").await;
    assert_eq!(
        r.body["k6-runs"],
        json!([
            {"id": 1, "run_status": 2},
            {"id": 2, "run_status": 0},
            {"id": 3, "run_status": 3},
        ])
    );
}

#[tokio::test]
async fn list_runs_errors() {
    let a = app(&seeded());
    for (q, status, code) in [
        ("test_id=abc", 400, "invalid_query"),
        ("test_id=1&test_id=2", 400, "invalid_query"),
        ("ids[]=one", 400, "invalid_query"),
        ("$select=id,nope", 400, "unknown_select_field"),
        ("order_by=id", 400, "invalid_query"),
        ("test_id=99", 404, "test_not_found"),
    ] {
        let r = get(&a, &format!("/loadtests/v2/runs?{q}")).await;
        assert_eq!(assert_error(&r, status), code, "{q}");
    }
}

// -------------------------------------------------------------------------------------------
// Stopping runs

#[tokio::test]
async fn stop_running_run() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/loadtests/v2/runs/1/stop", None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["k6-run"]["run_status"],
        RunStatus::AbortedByUser.number()
    );
    assert_eq!(keys(&r.body["k6-run"]), run_fields());
    let r = post_json(
        &a,
        "/loadtests/v2/runs/2/stop",
        json!({"stopped_by_id": 42}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The body's stopped_by_id is not believed: on an open API the caller is user 0.
    assert_eq!(r.body["k6-run"]["stopped_by_id"], 0);
    fake.with(|s| assert_eq!(s.stopped, vec![(1, Some(0)), (2, Some(0))]));
}

#[tokio::test]
async fn stop_errors() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/loadtests/v2/runs/3/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 409), "run_finished");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("run already finished") && msg.contains("FINISHED"),
        "{msg}"
    );
    let r = post(&a, "/loadtests/v2/runs/99/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 404), "run_not_found");
    let r = post(&a, "/loadtests/v2/runs/zz/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 400), "invalid_id");
    let r = post_json(&a, "/loadtests/v2/runs/1/stop", json!({"who": 1})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    let r = post(
        &a,
        "/loadtests/v2/runs/1/stop",
        Some("text/plain"),
        b"stop".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    // The signal a stopped CLI names: only with reason "signal", and only the two it sends.
    let r = post_json(
        &a,
        "/loadtests/v2/runs/1/stop",
        json!({"reason": "signal", "signal": "hangup"}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_signal");
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("\"hangup\"") && m.contains("terminated")));
    let r = post_json(
        &a,
        "/loadtests/v2/runs/1/stop",
        json!({"signal": "terminated"}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_signal");
    fake.with(|s| assert!(s.stopped.is_empty()));
    // The run finished between the API's check and the service call.
    fake.with(|s| s.stop_race = true);
    let r = post(&a, "/loadtests/v2/runs/1/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 409), "run_finished");
}

// -------------------------------------------------------------------------------------------
// Volley extensions

#[tokio::test]
async fn agents_list_and_read() {
    let a = app(&seeded());
    let r = get(&a, "/v1/agents").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["meta"]["count"], 2);
    assert_eq!(r.body["agents"][0]["name"], "gen 1", "sorted by name");
    assert_eq!(r.body["agents"][1]["labels"]["zone"], "eu");
    let r = get(&a, "/v1/agents/gen%201").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["agent"]["name"], "gen 1");
    assert_eq!(r.body["agent"]["health"], "ok");
    // The process's figures and the host's, each under its own name.
    assert_eq!(r.body["agent"]["process_cpu_percent"], 3.5);
    assert_eq!(r.body["agent"]["process_memory_percent"], 0.6);
    assert_eq!(r.body["agent"]["cpu_percent"], 12.5);
    let r = get(&a, "/v1/agents/gen-9").await;
    assert_eq!(assert_error(&r, 404), "agent_not_found");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("gen-9"));
    assert_eq!(
        assert_error(&get(&a, "/v1/agents?state=idle").await, 400),
        "invalid_query"
    );
}

#[tokio::test]
async fn run_agents_metrics_summary() {
    let a = app(&seeded());
    let r = get(&a, "/v1/runs/1/agents").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["run_id"], 1);
    assert_eq!(r.body["agents"][0]["agent"], "gen-2");
    assert_eq!(r.body["agents"][0]["samples"][0]["active_vus"], 10);
    let r = get(&a, "/v1/runs/2/agents").await;
    assert_eq!(r.body["agents"], json!([]));

    let r = get(&a, "/v1/runs/1/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["http_reqs"]["type"], "counter");
    let r = get(&a, "/v1/runs/2/metrics").await;
    assert_eq!(assert_error(&r, 404), "metrics_not_available");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("QUEUED"));

    let r = get(&a, "/v1/runs/3/summary").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["metrics"]["iterations"]["values"]["count"], 30);
    let r = get(&a, "/v1/runs/1/summary").await;
    assert_eq!(assert_error(&r, 404), "summary_not_available");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("once the run has ended"));

    for p in ["agents", "metrics", "summary"] {
        let r = get(&a, &format!("/v1/runs/99/{p}")).await;
        assert_eq!(assert_error(&r, 404), "run_not_found", "{p}");
        let r = get(&a, &format!("/v1/runs/x/{p}")).await;
        assert_eq!(assert_error(&r, 400), "invalid_id", "{p}");
        let r = get(&a, &format!("/v1/runs/1/{p}?a=b")).await;
        assert_eq!(assert_error(&r, 400), "invalid_query", "{p}");
    }
}

// -------------------------------------------------------------------------------------------
// Robustness and the OpenAPI document

#[tokio::test]
async fn bad_input_never_gives_5xx() {
    let a = app(&seeded());
    let uris = [
        "/loadtests/v2/runs/%",
        "/loadtests/v2/runs/%C3%28",
        "/loadtests/v2/runs/1?%",
        "/loadtests/v2/runs/1?$select=%C3%28",
        "/loadtests/v2/runs?ids[]=1&ids[]=%00",
        "/loadtests/v2/runs?ids[]=18446744073709551616",
        "/loadtests/v2/tests?project_id=%20",
        "/v1/agents/%FF",
        "/v1/runs/18446744073709551615/summary",
        "/loadtests/v2/tests/%2F",
    ];
    for u in uris {
        let r = get(&a, u).await;
        assert!(r.status.is_client_error(), "{u} → {} {}", r.status, r.body);
        assert!(r.body["error"]["code"].is_string(), "{u}: {}", r.body);
    }
    let bodies: [(&str, Option<&str>, &[u8]); 5] = [
        ("/loadtests/v2/tests", Some("application/json"), b"\xff\xfe"),
        ("/loadtests/v2/tests", Some("application/json"), b"[]"),
        (
            "/loadtests/v2/tests",
            Some("multipart/form-data; boundary="),
            b"",
        ),
        (
            "/loadtests/v2/tests/1/start-testrun",
            Some("application/json"),
            b"null",
        ),
        (
            "/loadtests/v2/runs/1/stop",
            Some("application/json"),
            b"[1]",
        ),
    ];
    for (u, ct, body) in bodies {
        let r = post(&a, u, ct, body.to_vec()).await;
        assert!(r.status.is_client_error(), "{u} → {} {}", r.status, r.body);
    }
}

#[tokio::test]
async fn every_route_is_served() {
    let a = app(&seeded());
    let routes = routes();
    assert!(routes.contains(&(Method::POST, "/loadtests/v2/runs/{id}/stop".to_string())));
    for (method, path) in routes {
        let uri = path.replace("{id}", "1").replace("{name}", "gen-2");
        let req = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let r = send(&a, req).await;
        let code = r.body["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "route_not_found" && code != "method_not_allowed",
            "{method} {path}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn methods_the_document_does_not_list_are_405() {
    let a = app(&seeded());
    let doc = openapi_document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let uri = path.replace("{id}", "1").replace("{name}", "gen-2");
        for m in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let documented = item.get(m.as_str().to_ascii_lowercase()).is_some();
            let req = Request::builder()
                .method(m.clone())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let r = send(&a, req).await;
            let refused = r.body["error"]["code"] == "method_not_allowed";
            assert_eq!(refused, !documented, "{m} {path}: {}", r.body);
        }
    }
}

fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_operation_is_described() {
    let doc = openapi_document();
    assert_eq!(doc["openapi"], "3.1.0");
    for (m, p) in routes() {
        let op = &doc["paths"][&p][m.as_str().to_ascii_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{m} {p} has no success answer"
        );
        assert!(op["operationId"].is_string(), "{m} {p}");
        assert!(op["summary"].is_string(), "{m} {p}");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{m} {p}"
        );
        // Every path parameter is declared.
        for name in p.split('{').skip(1).filter_map(|x| x.split('}').next()) {
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|x| x["name"] == name && x["in"] == "path"));
            assert!(declared, "{m} {p}: path parameter {name}");
        }
        // Every error answer has the one error shape; the routes k6 itself calls have k6's.
        let shape = if op["tags"][0] == "k6-cloud" {
            "#/components/schemas/K6CloudError"
        } else {
            "#/components/schemas/Error"
        };
        for (status, r) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
            let schema = &r["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, shape, "{m} {p} {status}");
        }
    }
}

#[test]
fn openapi_refs_resolve_and_ids_are_unique() {
    let doc = openapi_document();
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    assert!(refs.len() > 20);
    for r in refs {
        assert!(resolve(doc, &r).is_some(), "unresolved {r}");
    }
    let mut ids = BTreeSet::new();
    for item in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for op in item.as_object().into_iter().flat_map(|m| m.values()) {
            let id = op["operationId"].as_str().unwrap_or("").to_string();
            assert!(ids.insert(id.clone()), "duplicate operationId {id}");
        }
    }
}

/// The JSON kind of `v` as a JSON Schema type name.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks that `v` fits `schema` of `doc`: types, and every key of an object with declared
/// properties is one of them (and every required one is there), recursively.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let s = resolve(doc, r).ok_or_else(|| format!("{at}: unresolved {r}"))?;
        return conforms(doc, s, v, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let errors: Vec<String> = alts
                .iter()
                .filter_map(|a| conforms(doc, a, v, at).err())
                .collect();
            if errors.len() == alts.len() {
                return Err(format!("{at}: fits none of {key}: {}", errors.join("; ")));
            }
            return Ok(());
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for a in all {
            conforms(doc, a, v, at)?;
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let k = kind(v);
    let fits = types.contains(&k) || (k == "integer" && types.contains(&"number"));
    if !types.is_empty() && !fits {
        return Err(format!("{at}: {k} {v} where the schema says {types:?}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            return Err(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, x) in m {
                    let p = props
                        .get(key)
                        .ok_or_else(|| format!("{at}: `{key}` is sent but not in the schema"))?;
                    conforms(doc, p, x, &format!("{at}.{key}"))?;
                }
                for r in schema["required"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap_or("");
                    if !m.contains_key(r) {
                        return Err(format!("{at}: required `{r}` is not sent"));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    conforms(doc, s, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[tokio::test]
async fn every_answer_fits_its_documented_schema() {
    let fake = seeded();
    fake.with(|s| {
        // Exercise the optional parts of a run too.
        let r = s.runs.get_mut(&3).expect("run 3");
        r.exit_code = Some(0);
        r.ended = Some("2026-01-01T00:01:00Z".into());
        r.abort_reason = Some(crate::model::AbortReason::ApiStop);
        r.events.push(crate::model::RunEvent {
            at: "2026-01-01T00:00:30Z".into(),
            level: "warning".into(),
            message: "agent gen-2 is busy".into(),
        });
        s.agents[0].run_id = Some(1);
    });
    let a = app(&fake);
    let doc = openapi_document();
    let mut checked = 0;
    for (method, path) in routes().into_iter().filter(|(m, _)| m == Method::GET) {
        for id in ["1", "3"] {
            let uri = path.replace("{id}", id).replace("{name}", "gen-2");
            let r = get(&a, &uri).await;
            let answer = &doc["paths"][&path]["get"]["responses"][r.status.as_str()];
            let json = &answer["content"]["application/json"]["schema"];
            let schema = if json.is_object() {
                json
            } else {
                &answer["content"]["text/plain"]["schema"]
            };
            assert!(
                schema.is_object(),
                "{method} {uri}: {} is not documented",
                r.status
            );
            if let Err(e) = conforms(doc, schema, &r.body, &uri) {
                panic!("{e}\n{}", r.body);
            }
            checked += 1;
        }
    }
    assert!(checked >= 26, "{checked}");
    // The run and test objects: every field is documented, in the order sent.
    let run = get(&a, "/loadtests/v2/runs/3").await.body;
    let props = |name: &str| -> Vec<String> {
        doc["components"]["schemas"][name]["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&run["k6-run"]), props("K6Run"));
    let test = get(&a, "/loadtests/v2/tests/1").await.body;
    assert_eq!(keys(&test["k6-test"]), props("K6Test"));
    // `$select` accepts exactly the documented fields.
    let all = props("K6Run").join(",");
    let r = get(&a, &format!("/loadtests/v2/runs/3?$select={all}")).await;
    assert_eq!(r.body, run);
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let fake: Arc<dyn ControllerService> = seeded();
    let limits = crate::rest_listener::ListenerLimits::default();
    let api = ApiLimits::default();
    let server = tokio::spawn(serve_with_shutdown(
        listener,
        fake,
        api,
        limits,
        None,
        async {
            let _ = rx.await;
        },
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /loadtests/v2/runs/1?$select=id,run_status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.contains(r#"{"k6-run":{"id":1,"run_status":2}}"#),
        "{out}"
    );
    let _ = tx.send(());
    let res = tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .expect("join");
    assert!(res.is_ok());
}

#[tokio::test]
async fn streamed_run_routes_check_their_input() {
    let fake = seeded();
    let app = app(&fake);
    // Wrong media types → 415 naming the expected one.
    let r = post(
        &app,
        "/v1/streamed-runs",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    let r = post(
        &app,
        "/v1/streamed-runs/1/metrics",
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("application/x-protobuf"));
    // Missing or unknown fields → 400 naming them.
    let r = post_json(&app, "/v1/streamed-runs", json!({"entry": "t.js"})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("script"));
    let r = post_json(
        &app,
        "/v1/streamed-runs/1/finish",
        json!({"last_batch_seq": 3, "bogus": 1}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("bogus"));
    // Names follow the upload rules: bounded, no control characters.
    let r = post_json(
        &app,
        "/v1/streamed-runs",
        json!({"name": "x".repeat(300), "entry": "t.js", "script": "", "options": {}}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_field");
    let r = post_json(
        &app,
        "/v1/streamed-runs",
        json!({"entry": "a\u{7}b.js", "script": "", "options": {}}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_field");
    // Bad ids → 400; a service without streamed runs → 501.
    let r = post(
        &app,
        "/v1/streamed-runs/x/metrics",
        Some("application/x-protobuf"),
        vec![],
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_id");
    let r = post_json(
        &app,
        "/v1/streamed-runs",
        json!({"entry": "t.js", "script": "export default function () {}", "options": {}}),
    )
    .await;
    assert_eq!(assert_error(&r, 501), "not_supported");
}

// -------------------------------------------------------------------------------------------
// Pagination, scripts in views, health of the store, concurrent uploads

fn ids_of(body: &Value, list: &str) -> Vec<u64> {
    body[list]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn lists_are_paginated_with_the_total_count() {
    let a = app(&seeded());
    for (uri, ids, count) in [
        ("/loadtests/v2/runs?page_size=3", vec![1, 2, 3], 4),
        ("/loadtests/v2/runs?page_size=3&page=2", vec![4], 4),
        ("/loadtests/v2/runs?page_size=3&page=3", vec![], 4),
        ("/loadtests/v2/runs?page=1", vec![1, 2, 3, 4], 4),
        (
            "/loadtests/v2/runs?test_id=1&page_size=2&page=2",
            vec![3],
            3,
        ),
        (
            "/loadtests/v2/runs?ids[]=2&ids[]=4&page_size=1&page=2",
            vec![4],
            2,
        ),
    ] {
        let r = get(&a, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert_eq!(ids_of(&r.body, "k6-runs"), ids, "{uri}");
        assert_eq!(r.body["meta"]["count"], count, "{uri}");
    }
    let r = get(&a, "/loadtests/v2/tests?page_size=1&page=2").await;
    assert_eq!(ids_of(&r.body, "k6-tests"), vec![2]);
    assert_eq!(r.body["meta"]["count"], 2);
    let r = get(&a, "/v1/agents?page_size=1&page=2").await;
    assert_eq!(r.body["agents"][0]["name"], "gen-2", "{}", r.body);
    assert_eq!(r.body["meta"]["count"], 2);
    // 1000 per page at most; 1000 is fine.
    let r = get(&a, "/loadtests/v2/runs?page_size=1000").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_page_values_are_400_naming_the_parameter() {
    let a = app(&seeded());
    for route in ["/loadtests/v2/runs", "/loadtests/v2/tests", "/v1/agents"] {
        for (query, field) in [
            ("page=0", "`page`"),
            ("page=-2", "`page`"),
            ("page=two", "`page`"),
            ("page_size=0", "`page_size`"),
            ("page_size=1001", "`page_size`"),
            ("page_size=", "`page_size`"),
        ] {
            let r = get(&a, &format!("{route}?{query}")).await;
            assert_eq!(assert_error(&r, 400), "invalid_query", "{route}?{query}");
            let msg = r.body["error"]["message"].as_str().unwrap_or("");
            assert!(msg.contains(field), "{route}?{query}: {msg}");
        }
    }
}

#[tokio::test]
async fn lists_leave_scripts_out_and_single_views_have_them() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/runs").await;
    assert!(r.body["k6-runs"]
        .as_array()
        .is_some_and(|runs| runs.iter().all(|r| r["script"] == "")));
    let r = get(&a, "/loadtests/v2/tests").await;
    assert_eq!(r.body["k6-tests"][0]["script"], "");
    let r = get(&a, "/loadtests/v2/runs/4").await;
    assert_eq!(r.body["k6-run"]["script"], "// the script of test 2");
    let r = get(&a, "/loadtests/v2/tests/1").await;
    assert_eq!(r.body["k6-test"]["script"], "// the script of test 1");
}

#[tokio::test]
async fn health_reports_a_degraded_store_as_503() {
    let fake = seeded();
    let a = app(&fake);
    let r = get(&a, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok", "store": {"status": "ok"}}));
    fake.with(|s| {
        s.store = Some(crate::store::StoreHealth::Degraded {
            reason: "No space left on device (os error 28)".into(),
            since: "2026-01-01T00:00:00Z".into(),
            attempts: 3,
        })
    });
    let r = get(&a, "/health").await;
    assert_eq!(assert_error(&r, 503), "store_degraded");
    // Liveness stays yes; readiness says no without naming the error (probes are public).
    let live = get(&a, "/healthz").await;
    assert_eq!(
        (live.status, &live.body),
        (StatusCode::OK, &json!({"status": "ok"}))
    );
    let rz = get(&a, "/readyz").await;
    assert_eq!(assert_error(&rz, 503), "not_ready");
    let ready = rz.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        ready.contains("the store does not accept writes"),
        "{ready}"
    );
    assert!(!ready.contains("os error"), "{ready}");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    for part in [
        "No space left on device (os error 28)",
        "since 2026-01-01T00:00:00Z",
        "3 reopen attempts",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn uploads_over_the_concurrency_limit_are_429_with_retry_after() {
    let fake = seeded();
    let a = router_with_limits(
        fake.clone(),
        ApiLimits {
            max_concurrent_uploads: 1,
            ..ApiLimits::default()
        },
    );
    // An upload whose body is still arriving holds the one permit.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = Request::post("/loadtests/v2/tests")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap();
    let first = tokio::spawn(a.clone().oneshot(slow));
    tx.send(Ok(b"{\"name\": ".to_vec())).await.expect("send");
    let mut busy = None;
    for _ in 0..100 {
        let r = post_json(&a, "/loadtests/v2/tests", json!({})).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            busy = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let busy = busy.expect("a second upload is refused while the first is received");
    assert_eq!(assert_error(&busy, 429), "too_many_uploads");
    assert_eq!(
        busy.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Other routes are not limited.
    assert_eq!(get(&a, "/loadtests/v2/runs").await.status, StatusCode::OK);
    // Once the first upload ends, the next one is taken.
    drop(tx);
    let _ = first.await;
    let r = post_json(&a, "/loadtests/v2/tests", json!({})).await;
    assert_eq!(assert_error(&r, 400), "missing_field");
}

mod k6cloud;

/// A small deterministic generator for the random-input test (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A JSON value of a random kind, nested at most `depth` deep.
    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 1),
            2 => json!(self.next() as i64),
            3 => json!(f64::from(self.below(1000) as u32) / 7.0),
            4 => {
                let len = self.below(12) as usize;
                let s: String = (0..len)
                    .map(|_| char::from_u32(self.below(0x250) as u32).unwrap_or('x'))
                    .collect();
                json!(s)
            }
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let keys = [
                    "env",
                    "note",
                    "script",
                    "entry",
                    "name",
                    "A",
                    "last_batch_seq",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    let k = keys[self.below(keys.len() as u64) as usize];
                    m.insert(k.to_string(), self.value(depth - 1));
                }
                Value::Object(m)
            }
        }
    }
}

/// Random bodies (bytes, and JSON of every shape with the routes' field names) on the routes
/// that parse one: never a 5xx, always the uniform error shape, and a well-formed object with
/// a wrongly typed known field is refused naming that field. Deterministic (fixed seeds),
/// bounded (a few hundred small bodies per route).
#[tokio::test]
async fn random_bodies_are_refused_cleanly() {
    let fake = seeded();
    let a = app(&fake);
    let routes = [
        "/loadtests/v2/tests/1/start-testrun",
        "/loadtests/v2/tests",
        "/v1/streamed-runs",
        "/v1/streamed-runs/1/finish",
        "/loadtests/v2/runs/1/stop",
    ];
    for (i, uri) in routes.iter().enumerate() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
        for round in 0..200 {
            let (body, what) = if round % 2 == 0 {
                let len = rng.below(256) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                (bytes, "bytes")
            } else {
                (rng.value(3).to_string().into_bytes(), "json")
            };
            let r = post(&a, uri, Some("application/json"), body.clone()).await;
            let shown = String::from_utf8_lossy(&body);
            assert!(
                !r.status.is_server_error(),
                "{uri} ({what}, round {round}) → {} {}\nbody: {shown}",
                r.status,
                r.body
            );
            if r.status.is_client_error() {
                assert!(
                    r.body["error"]["code"].is_string()
                        && r.body["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                    "{uri}: {}\nbody: {shown}",
                    r.body
                );
            }
        }
    }
    // A known field of the wrong type is named.
    let u = "/loadtests/v2/tests/1/start-testrun";
    for (field, v) in [
        ("env", json!(7)),
        ("note", json!({"x": 1})),
        ("env", json!([])),
    ] {
        let r = post_json(&a, u, json!({ field: v })).await;
        assert_eq!(assert_error(&r, 400), "invalid_json");
        let m = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(field), "{field}: {m}");
    }
}

#[test]
fn metrics_count_runs_queue_and_agents_as_the_api_lists_them() {
    let fake = seeded();
    fake.with(|s| s.agents[1].state = "busy".into());
    // Every seeded run was created at 2026-01-01T00:00:00Z; the scrape is 90 s later.
    let now = crate::state::timestamp::parse_rfc3339("2026-01-01T00:01:30Z").unwrap();
    let text = super::metrics::render(&*fake, now);
    for line in [
        "# TYPE volley_runs gauge",
        "volley_runs{status=\"created\"} 1",
        "volley_runs{status=\"queued\"} 1",
        "volley_runs{status=\"running\"} 1",
        "volley_runs{status=\"finished\"} 1",
        "volley_runs{status=\"aborted_by_user\"} 0",
        "volley_run_queue_length 2",
        "# TYPE volley_run_queue_oldest_wait_seconds gauge",
        "volley_run_queue_oldest_wait_seconds 90.0",
        "volley_agents{state=\"idle\"} 1",
        "volley_agents{state=\"busy\"} 1",
        "volley_agents{state=\"lost\"} 0",
        "volley_agent_heartbeat_age_seconds{agent=\"gen-2\"} 0.4",
        "volley_agent_heartbeat_age_seconds{agent=\"gen 1\"} 0.4",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    // No run waits: the oldest wait is 0, not the age of a finished run.
    fake.with(|s| s.runs.retain(|_, r| r.run_status == RunStatus::Finished));
    let text = super::metrics::render(&*fake, now);
    assert!(
        text.lines()
            .any(|l| l == "volley_run_queue_oldest_wait_seconds 0.0"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "volley_run_queue_length 0"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_route_serves_the_text_format() {
    let a = app(&seeded());
    let r = get(&a, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.body.as_str().unwrap_or("");
    assert!(text.contains("volley_run_queue_length 2\n"), "{text}");
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
}
