//! The local REST API of a run (k6's `--address`, default `localhost:6565`): status, stop,
//! pause/resume, live metrics, groups and setup data, JSON:API-shaped like k6's
//! (research/k6-behaviour.md §3.4). It starts before the first init so that a stop works in
//! every phase.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

/// k6's execution statuses (`lib.ExecutionStatus`), shown as numbers by `GET /v1/status`.
pub mod status {
    pub const CREATED: u32 = 0;
    pub const INIT_VUS: u32 = 1;
    pub const INIT_EXECUTORS: u32 = 2;
    pub const INIT_DONE: u32 = 3;
    pub const PAUSED_BEFORE_RUN: u32 = 4;
    pub const STARTED: u32 = 5;
    pub const SETUP: u32 = 6;
    pub const RUNNING: u32 = 7;
    pub const TEARDOWN: u32 = 8;
    pub const ENDED: u32 = 9;
    pub const INTERRUPTED: u32 = 10;
}

/// The status object of `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusView {
    pub status: u32,
    pub paused: bool,
    pub vus: i64,
    pub vus_max: i64,
    pub stopped: bool,
    pub running: bool,
    pub tainted: bool,
}

/// One metric of `GET /v1/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricView {
    pub name: String,
    pub metric_type: String,
    pub contains: String,
    /// `None` when the metric has no thresholds (k6 shows `null`).
    pub tainted: Option<bool>,
    pub sample: Value,
}

/// An error answered as `{"errors":[{"status","title","detail"}]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: u16, title: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            title: title.to_string(),
            detail: detail.into(),
        }
    }
}

/// What the API reads from and does to the run.
pub trait ApiBackend: Send + Sync + 'static {
    fn status(&self) -> StatusView;
    /// `PATCH /v1/status {"stopped": true}`.
    fn stop(&self);
    /// `PATCH /v1/status {"paused": bool}`.
    fn set_paused(&self, paused: bool) -> Result<(), ApiError>;
    /// `PATCH /v1/status {"vus": n}` (externally-controlled executor only).
    fn set_vus(&self, vus: i64, max_vus: Option<i64>) -> Result<(), ApiError>;
    fn metrics(&self) -> Vec<MetricView>;
    /// The group tree as `(id, path, name, checks, child ids, parent id)` rows.
    fn groups(&self) -> Vec<GroupView>;
    fn setup_data(&self) -> Option<Value>;
}

/// One group of `GET /v1/groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub id: String,
    pub path: String,
    pub name: String,
    /// `[{id, path, name, passes, fails}]`, or None (k6 shows `null` for no checks).
    pub checks: Option<Value>,
    pub children: Vec<String>,
    pub parent: Option<String>,
}

/// Largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

fn json_response(code: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({"errors": [{"status": e.status.to_string(), "title": e.title, "detail": e.detail}]}),
    )
}

fn status_doc(s: &StatusView) -> Value {
    json!({"data": {"type": "status", "id": "default", "attributes": {
        "status": s.status, "paused": s.paused, "vus": s.vus, "vus-max": s.vus_max,
        "stopped": s.stopped, "running": s.running, "tainted": s.tainted,
    }}})
}

fn metric_doc(m: &MetricView) -> Value {
    json!({"type": "metrics", "id": m.name, "attributes": {
        "type": m.metric_type, "contains": m.contains, "tainted": m.tainted, "sample": m.sample,
    }})
}

fn group_doc(g: &GroupView) -> Value {
    json!({"type": "groups", "id": g.id,
    "attributes": {"path": g.path, "name": g.name, "checks": g.checks},
    "relationships": {
        "groups": {"data": g.children.iter().map(|c| json!({"type": "groups", "id": c})).collect::<Vec<_>>()},
        "parent": {"data": g.parent.as_ref().map(|p| json!({"type": "groups", "id": p}))},
    }})
}

/// Answers one request.
pub async fn handle(
    backend: Arc<dyn ApiBackend>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(error_response(&ApiError::new(
                413,
                "Request too large",
                format!("request bodies are limited to {MAX_BODY} bytes"),
            )))
        }
    };
    Ok(route(backend.as_ref(), &method, &path, &body))
}

/// Routing, separate from hyper so it can be unit-tested.
pub fn route(
    b: &dyn ApiBackend,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let not_found = || {
        error_response(&ApiError::new(
            404,
            "Not Found",
            "No such route; see GET /v1/status",
        ))
    };
    match (method, path) {
        (&Method::GET, "" | "/ping") => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
            *r.status_mut() = StatusCode::OK;
            r
        }
        (&Method::GET, "/v1/status") => json_response(StatusCode::OK, status_doc(&b.status())),
        (&Method::PATCH, "/v1/status") => {
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return error_response(&ApiError::new(400, "Invalid data", e.to_string()))
                }
            };
            let attrs = v
                .pointer("/data/attributes")
                .cloned()
                .unwrap_or_else(|| v.clone());
            let Some(attrs) = attrs.as_object() else {
                return error_response(&ApiError::new(
                    400,
                    "Invalid data",
                    "expected a JSON object such as {\"stopped\": true}",
                ));
            };
            if let Some(p) = attrs.get("paused").and_then(Value::as_bool) {
                if let Err(e) = b.set_paused(p) {
                    return error_response(&e);
                }
            }
            if let Some(vus) = attrs.get("vus").and_then(Value::as_i64) {
                let max = attrs.get("vus-max").and_then(Value::as_i64);
                if let Err(e) = b.set_vus(vus, max) {
                    return error_response(&e);
                }
            }
            if attrs.get("stopped").and_then(Value::as_bool) == Some(true) {
                b.stop();
            }
            json_response(StatusCode::OK, status_doc(&b.status()))
        }
        (&Method::GET, "/v1/metrics") => {
            let data: Vec<Value> = b.metrics().iter().map(metric_doc).collect();
            json_response(StatusCode::OK, json!({ "data": data }))
        }
        (&Method::GET, p) if p.starts_with("/v1/metrics/") => {
            let id = &p["/v1/metrics/".len()..];
            match b.metrics().iter().find(|m| m.name == id) {
                Some(m) => json_response(StatusCode::OK, json!({ "data": metric_doc(m) })),
                None => error_response(&ApiError::new(
                    404,
                    "Not Found",
                    "No metric with that ID was found",
                )),
            }
        }
        (&Method::GET, "/v1/groups") => {
            let data: Vec<Value> = b.groups().iter().map(group_doc).collect();
            json_response(StatusCode::OK, json!({ "data": data }))
        }
        (&Method::GET, p) if p.starts_with("/v1/groups/") => {
            let id = &p["/v1/groups/".len()..];
            match b.groups().iter().find(|g| g.id == id) {
                Some(g) => json_response(StatusCode::OK, json!({ "data": group_doc(g) })),
                None => error_response(&ApiError::new(
                    404,
                    "Not Found",
                    "No group with that ID was found",
                )),
            }
        }
        (&Method::GET, "/v1/setup") => json_response(
            StatusCode::OK,
            json!({"data": {"type": "setupData", "id": "default", "attributes": {"data": b.setup_data()}}}),
        ),
        (_, "/v1/status" | "/v1/metrics" | "/v1/groups" | "/v1/setup") => {
            error_response(&ApiError::new(
                405,
                "Method Not Allowed",
                format!("{method} is not allowed here"),
            ))
        }
        _ => not_found(),
    }
}

/// Serves the API on `listener` until the returned task is aborted.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    backend: Arc<dyn ApiBackend>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let _guard = rt.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let task = rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let b = backend.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(b.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// The REST API's view of a local run: the run control from the start, and the run's metrics
/// and thresholds once the engine attaches them (after the first init).
pub struct LiveRun {
    control: Arc<crate::run::RunControl>,
    run: std::sync::OnceLock<Arc<crate::run::RunShared>>,
    thresholds: std::sync::OnceLock<Arc<crate::engine::ThresholdSet>>,
    trend_stats: std::sync::OnceLock<Vec<String>>,
}

impl LiveRun {
    pub fn new(control: Arc<crate::run::RunControl>) -> Self {
        LiveRun {
            control,
            run: std::sync::OnceLock::new(),
            thresholds: std::sync::OnceLock::new(),
            trend_stats: std::sync::OnceLock::new(),
        }
    }

    /// Called by the engine once the run's state exists.
    pub fn attach(
        &self,
        run: Arc<crate::run::RunShared>,
        thresholds: Arc<crate::engine::ThresholdSet>,
        trend_stats: Vec<String>,
    ) {
        let _ = self.run.set(run);
        let _ = self.thresholds.set(thresholds);
        let _ = self.trend_stats.set(trend_stats);
    }

    fn elapsed_secs(&self) -> f64 {
        self.control.started.elapsed().as_secs_f64()
    }

    /// Threshold results per metric key, now.
    fn threshold_state(&self) -> Vec<(String, bool)> {
        let (Some(run), Some(ths)) = (self.run.get(), self.thresholds.get()) else {
            return Vec::new();
        };
        let secs = self.elapsed_secs();
        let series = run.store.to_series_store(&run.registry);
        ths.iter()
            .map(|(key, list)| {
                let failing = volley_common::summary::build::sink_for_key(&series, key, None)
                    .map(|sink| {
                        !sink.is_empty() && list.iter().any(|t| !t.evaluate(&sink, secs).ok)
                    })
                    .unwrap_or(false);
                (key.clone(), failing)
            })
            .collect()
    }
}

impl ApiBackend for LiveRun {
    fn status(&self) -> StatusView {
        use crate::run::Stage;
        use std::sync::atomic::Ordering;
        let stage = self.control.stage();
        StatusView {
            status: self.control.k6_status(),
            paused: self.control.is_paused(),
            vus: self.control.active_vus.load(Ordering::Relaxed).max(0),
            vus_max: self.control.vus_max.load(Ordering::Relaxed) as i64,
            stopped: self.control.is_aborted(),
            running: stage >= Stage::Setup,
            tainted: self.threshold_state().iter().any(|(_, f)| *f),
        }
    }

    fn stop(&self) {
        use crate::run::Stage;
        match self.control.stage() {
            // handleSummary finishes as it would; an API stop has no effect there.
            Stage::HandleSummary | Stage::Done => {}
            Stage::Linger => self.control.end_linger(),
            _ => {
                if self
                    .control
                    .abort(volley_common::exit::AbortReason::ApiStop)
                {
                    crate::console::log(
                        "info",
                        "Stopping the test run: stop requested through the REST API",
                        &[],
                    );
                }
            }
        }
    }

    fn set_paused(&self, paused: bool) -> Result<(), ApiError> {
        use crate::run::Stage;
        if paused {
            if self.control.stage() >= Stage::Setup {
                return Err(ApiError::new(
                    500,
                    "Pause error",
                    "the test run has started; Volley's executors cannot be paused and resumed after the start",
                ));
            }
            self.control.set_paused(true);
        } else {
            self.control.set_paused(false);
        }
        Ok(())
    }

    fn set_vus(&self, vus: i64, max_vus: Option<i64>) -> Result<(), ApiError> {
        let Some(ext) = self.control.external() else {
            return Err(ApiError::new(
                500,
                "Execution config error",
                "an externally-controlled executor needs to be configured for live configuration updates",
            ));
        };
        if let Some(m) = max_vus {
            if m as u64 != ext.max_vus {
                return Err(ApiError::new(
                    400,
                    "Config update error",
                    "changing vus-max during the run is not supported; set maxVUs in the scenario",
                ));
            }
        }
        if vus < 0 || vus as u64 > ext.max_vus {
            return Err(ApiError::new(
                400,
                "Config update error",
                format!(
                    "the number of active VUs ({vus}) must be between 0 and maxVUs ({})",
                    ext.max_vus
                ),
            ));
        }
        ext.vus.send_replace(vus as u64);
        Ok(())
    }

    fn metrics(&self) -> Vec<MetricView> {
        let Some(run) = self.run.get() else {
            return Vec::new();
        };
        let stats = self.trend_stats.get().cloned().unwrap_or_default();
        let secs = self.elapsed_secs();
        let ths = self.threshold_state();
        run.store
            .observed_metrics()
            .into_iter()
            .filter_map(|id| {
                let def = run.registry.get(id)?;
                let sink = run.store.aggregate(id, &[])?;
                let sample: serde_json::Map<String, Value> = sink
                    .values(&stats, secs)
                    .into_iter()
                    .map(|(k, v)| (k, json_number(v)))
                    .collect();
                let own: Vec<bool> = ths
                    .iter()
                    .filter(|(k, _)| *k == def.name)
                    .map(|(_, f)| *f)
                    .collect();
                Some(MetricView {
                    name: def.name.clone(),
                    metric_type: def.mtype.as_str().to_string(),
                    contains: def.contains.as_str().to_string(),
                    tainted: (!own.is_empty()).then(|| own.iter().any(|f| *f)),
                    sample: Value::Object(sample),
                })
            })
            .collect()
    }

    fn groups(&self) -> Vec<GroupView> {
        let root = match self.run.get() {
            Some(run) => run.store.to_series_store(&run.registry).group_tree(),
            None => volley_common::summary::GroupReport::default(),
        };
        let mut out = Vec::new();
        flatten(&root, None, &mut out);
        out
    }

    fn setup_data(&self) -> Option<Value> {
        let run = self.run.get()?;
        let s = run
            .setup_data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        serde_json::from_str(&s).ok()
    }
}

/// Whole numbers as JSON integers (as k6 prints them), others as floats.
pub fn json_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn flatten(
    g: &volley_common::summary::GroupReport,
    parent: Option<String>,
    out: &mut Vec<GroupView>,
) {
    let id = g.id();
    let checks = (!g.checks.is_empty()).then(|| {
        json!(g
            .checks
            .iter()
            .map(|c| json!({"id": c.id(), "path": c.path, "name": c.name, "passes": c.passes, "fails": c.fails}))
            .collect::<Vec<_>>())
    });
    out.push(GroupView {
        id: id.clone(),
        path: g.path.clone(),
        name: g.name.clone(),
        checks,
        children: g.groups.iter().map(|c| c.id()).collect(),
        parent,
    });
    for c in &g.groups {
        flatten(c, Some(id.clone()), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

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

    fn body(r: Response<Full<Bytes>>) -> (u16, Value) {
        let code = r.status().as_u16();
        let b = futures_body(r);
        (code, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    fn futures_body(r: Response<Full<Bytes>>) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { r.into_body().collect().await.unwrap().to_bytes() })
    }

    #[test]
    fn status_stop_and_errors() {
        let f = Fake::default();
        let (c, v) = body(route(&f, &Method::GET, "/v1/status", b""));
        assert_eq!(c, 200);
        assert_eq!(v["data"]["attributes"]["status"], 7);
        assert_eq!(v["data"]["attributes"]["vus-max"], 2);
        let (c, v) = body(route(
            &f,
            &Method::PATCH,
            "/v1/status",
            br#"{"data":{"attributes":{"stopped":true}}}"#,
        ));
        assert_eq!(c, 200);
        assert_eq!(v["data"]["attributes"]["stopped"], true);
        let (c, v) = body(route(&f, &Method::PATCH, "/v1/status", b"{nope"));
        assert_eq!(c, 400);
        assert_eq!(v["errors"][0]["title"], "Invalid data");
        let (c, _) = body(route(
            &f,
            &Method::PATCH,
            "/v1/status",
            br#"{"paused":true}"#,
        ));
        assert_eq!(c, 500);
        let (c, v) = body(route(&f, &Method::PATCH, "/v1/status", br#"{"vus":5}"#));
        assert_eq!(c, 500);
        assert_eq!(v["errors"][0]["title"], "Execution config error");
    }

    #[test]
    fn metrics_groups_setup() {
        let f = Fake::default();
        let (c, v) = body(route(&f, &Method::GET, "/v1/metrics", b""));
        assert_eq!(c, 200);
        assert_eq!(v["data"][0]["id"], "http_reqs");
        assert_eq!(v["data"][0]["attributes"]["tainted"], Value::Null);
        let (c, v) = body(route(&f, &Method::GET, "/v1/metrics/no_such_metric", b""));
        assert_eq!(c, 404);
        assert_eq!(v["errors"][0]["detail"], "No metric with that ID was found");
        let (c, v) = body(route(&f, &Method::GET, "/v1/groups", b""));
        assert_eq!(c, 200);
        assert_eq!(v["data"][0]["relationships"]["parent"]["data"], Value::Null);
        let (_, v) = body(route(&f, &Method::GET, "/v1/setup", b""));
        assert_eq!(v["data"]["attributes"]["data"]["token"], "abc");
        let (c, _) = body(route(&f, &Method::DELETE, "/v1/status", b""));
        assert_eq!(c, 405);
    }
}
