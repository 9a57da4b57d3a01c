//! The API's routes against a fake backend, through the same service `spawn` serves.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;

#[derive(Default)]
struct Fake {
    stopped: Mutex<bool>,
    paused: Mutex<bool>,
}

impl ApiBackend for Fake {
    fn status(&self) -> StatusView {
        StatusView {
            status: status::RUNNING,
            paused: *self.paused.lock().unwrap(),
            vus: 2,
            vus_max: 2,
            stopped: *self.stopped.lock().unwrap(),
            running: true,
            tainted: false,
        }
    }
    fn stop(&self) {
        *self.stopped.lock().unwrap() = true;
    }
    fn set_paused(&self, p: bool) -> Result<(), ApiError> {
        if p {
            return Err(ApiError::new(
                500,
                "Pause error",
                "cannot pause after the start",
            ));
        }
        *self.paused.lock().unwrap() = p;
        Ok(())
    }
    fn set_vus(&self, _: i64, _: Option<i64>) -> Result<(), ApiError> {
        Err(ApiError::new(
            500,
            "Execution config error",
            "an externally-controlled executor needs to be configured for live configuration updates",
        ))
    }
    fn metrics(&self) -> Vec<MetricView> {
        vec![MetricView {
            name: "http_reqs".into(),
            metric_type: "counter".into(),
            contains: "default".into(),
            tainted: None,
            sample: json!({"count": 12, "rate": 3.5}),
        }]
    }
    fn groups(&self) -> Vec<GroupView> {
        vec![GroupView {
            id: "d41d8cd98f00b204e9800998ecf8427e".into(),
            path: String::new(),
            name: String::new(),
            checks: None,
            children: vec![],
            parent: None,
        }]
    }
    fn setup_data(&self) -> Option<Value> {
        Some(json!({"token": "abc"}))
    }
}

/// One request through [`app`]: status, content type and body (JSON, or `Null`).
async fn call(f: &Arc<Fake>, method: Method, path: &str, body: &[u8]) -> (u16, String, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_vec()))
        .unwrap();
    let resp = app(f.clone()).oneshot(req).await.unwrap();
    let code = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        if bytes.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
    });
    (code, ctype, v)
}

const JSON: &str = "application/json; charset=utf-8";

#[tokio::test]
async fn status_stop_and_errors() {
    let f = Arc::new(Fake::default());
    let (c, t, v) = call(&f, Method::GET, "/v1/status", b"").await;
    assert_eq!((c, t.as_str()), (200, JSON));
    assert_eq!(v["data"]["attributes"]["status"], 7);
    assert_eq!(v["data"]["attributes"]["vus-max"], 2);
    let (c, _, v) = call(
        &f,
        Method::PATCH,
        "/v1/status",
        br#"{"data":{"attributes":{"stopped":true}}}"#,
    )
    .await;
    assert_eq!(c, 200);
    assert_eq!(v["data"]["attributes"]["stopped"], true);
    let (c, t, v) = call(&f, Method::PATCH, "/v1/status", b"{nope").await;
    assert_eq!((c, t.as_str()), (400, JSON));
    assert_eq!(v["errors"][0]["title"], "Invalid data");
    assert_eq!(v["errors"][0]["status"], "400");
    let (c, _, v) = call(&f, Method::PATCH, "/v1/status", b"[1]").await;
    assert_eq!(c, 400);
    assert_eq!(
        v["errors"][0]["detail"],
        "expected a JSON object such as {\"stopped\": true}"
    );
    let (c, _, v) = call(&f, Method::PATCH, "/v1/status", br#"{"paused":true}"#).await;
    assert_eq!(c, 500);
    assert_eq!(v["errors"][0]["title"], "Pause error");
    let (c, _, v) = call(&f, Method::PATCH, "/v1/status", br#"{"vus":5}"#).await;
    assert_eq!(c, 500);
    assert_eq!(v["errors"][0]["title"], "Execution config error");
}

#[tokio::test]
async fn metrics_groups_setup() {
    let f = Arc::new(Fake::default());
    let (c, _, v) = call(&f, Method::GET, "/v1/metrics", b"").await;
    assert_eq!(c, 200);
    assert_eq!(v["data"][0]["id"], "http_reqs");
    assert_eq!(v["data"][0]["attributes"]["tainted"], Value::Null);
    let (c, _, v) = call(&f, Method::GET, "/v1/metrics/http_reqs", b"").await;
    assert_eq!(c, 200);
    assert_eq!(v["data"]["attributes"]["sample"]["rate"], 3.5);
    let (c, _, v) = call(&f, Method::GET, "/v1/metrics/no_such_metric", b"").await;
    assert_eq!(c, 404);
    assert_eq!(v["errors"][0]["detail"], "No metric with that ID was found");
    let (c, _, v) = call(&f, Method::GET, "/v1/groups", b"").await;
    assert_eq!(c, 200);
    assert_eq!(v["data"][0]["relationships"]["parent"]["data"], Value::Null);
    let (c, _, v) = call(&f, Method::GET, "/v1/groups/nope", b"").await;
    assert_eq!(c, 404);
    assert_eq!(v["errors"][0]["detail"], "No group with that ID was found");
    let (_, _, v) = call(&f, Method::GET, "/v1/setup", b"").await;
    assert_eq!(v["data"]["attributes"]["data"]["token"], "abc");
}

#[tokio::test]
async fn unknown_paths_methods_and_slashes() {
    let f = Arc::new(Fake::default());
    for path in ["/v1/status", "/v1/metrics", "/v1/groups", "/v1/setup"] {
        for m in [Method::DELETE, Method::POST, Method::HEAD] {
            let (c, t, v) = call(&f, m.clone(), path, b"").await;
            assert_eq!((c, t.as_str()), (405, JSON), "{m} {path}");
            if m != Method::HEAD {
                // (A HEAD answer has no body, on the wire as here.)
                assert_eq!(v["errors"][0]["detail"], format!("{m} is not allowed here"));
            }
        }
    }
    let (c, _, v) = call(&f, Method::GET, "/v2/nothing", b"").await;
    assert_eq!(c, 404);
    assert_eq!(
        v["errors"][0]["detail"],
        "No such route; see GET /v1/status"
    );
    for (m, path) in [
        (Method::POST, "/ping"),
        (Method::POST, "/"),
        (Method::DELETE, "/v1/metrics/http_reqs"),
        (Method::HEAD, "/v1/groups/x"),
    ] {
        assert_eq!(call(&f, m.clone(), path, b"").await.0, 404, "{m} {path}");
    }
    // The ping: a bare "ok" without a content type, also as the empty path.
    for path in ["/", "/ping", "/ping/", "//"] {
        let (c, t, v) = call(&f, Method::GET, path, b"").await;
        assert_eq!((c, t.as_str(), v), (200, "", json!("ok")), "{path}");
    }
    // Trailing slashes are trimmed before routing.
    assert_eq!(call(&f, Method::GET, "/v1/status/", b"").await.0, 200);
    assert_eq!(
        call(&f, Method::GET, "/v1/metrics/http_reqs/", b"").await.0,
        200
    );
    assert_eq!(call(&f, Method::GET, "/v1/metrics//", b"").await.0, 200);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let f = Arc::new(Fake::default());
    let big = vec![b' '; 64 * 1024 + 1];
    let (c, t, v) = call(&f, Method::PATCH, "/v1/status", &big).await;
    assert_eq!((c, t.as_str()), (413, JSON));
    assert_eq!(v["errors"][0]["title"], "Request too large");
    assert!(!*f.stopped.lock().unwrap());
}

#[test]
fn spawn_serves_over_tcp() {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, task) = spawn(rt.handle(), listener, Arc::new(Fake::default())).unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("\"vus-max\":2"), "{out}");
    task.abort();
}
