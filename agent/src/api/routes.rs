//! The axum router of the local REST API and its server task. Responses keep k6's JSON:API
//! shapes, status codes and error texts; unknown paths get a JSON 404, known paths a JSON 405
//! for other methods (HEAD included: the API has no bodiless views).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Router, ServiceExt};
use serde_json::{json, Value};
use tower::Layer;

use super::{ApiBackend, ApiError, GroupView, MetricView, StatusView};

/// Largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

type Backend = Arc<dyn ApiBackend>;

/// The API's routes, as matched after `normalize` (see [`app`]).
pub fn router(backend: Backend) -> Router {
    Router::new()
        .route("/", get_only(ping, not_found))
        .route("/ping", get_only(ping, not_found))
        .route(
            "/v1/status",
            get(get_status)
                .patch(patch_status)
                .head(method_not_allowed)
                .fallback(method_not_allowed),
        )
        .route("/v1/metrics", get_only(list_metrics, method_not_allowed))
        .route("/v1/metrics/{*id}", get_only(get_metric, not_found))
        .route("/v1/groups", get_only(list_groups, method_not_allowed))
        .route("/v1/groups/{*id}", get_only(get_group, not_found))
        .route("/v1/setup", get_only(get_setup, method_not_allowed))
        .fallback(not_found)
        .with_state(backend)
}

/// The service [`spawn`] serves: [`router`] behind `normalize`, which trims trailing slashes
/// and reads the body (at most 64 KiB, else 413) before routing.
pub fn app(
    backend: Backend,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    axum::middleware::from_fn(normalize).layer(router(backend))
}

/// `GET` only: HEAD and every other method get `other` (axum would answer HEAD from `GET`).
fn get_only<H, T, O, U>(handler: H, other: O) -> MethodRouter<Backend>
where
    H: Handler<T, Backend>,
    O: Handler<U, Backend>,
    T: 'static,
    U: 'static,
{
    get(handler).head(other.clone()).fallback(other)
}

/// `GET /` and `GET /ping`: a bare `ok`, without a content type.
async fn ping() -> Response {
    Response::new(Body::from(Bytes::from_static(b"ok")))
}

async fn not_found() -> ApiError {
    ApiError::new(404, "Not Found", "No such route; see GET /v1/status")
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        405,
        "Method Not Allowed",
        format!("{method} is not allowed here"),
    )
}

/// Serves the API on `listener` until the returned task is aborted.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    backend: Backend,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let _guard = rt.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = app(backend);
    let task = rt.spawn(async move {
        // axum::serve only returns if the listener fails; the run goes on without its API then.
        if let Err(e) = axum::serve(listener, app.into_make_service()).await {
            tracing::warn!(error = %e, "the REST API stopped serving");
        }
    });
    Ok((addr, task))
}

/// Before routing: trims trailing slashes (`/v1/status/` is `/v1/status`, `/` is the ping) and
/// reads the body within [`MAX_BODY`], answering 413 beyond.
async fn normalize(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match parts.uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            parts.uri = uri;
        }
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                413,
                "Request too large",
                format!("request bodies are limited to {MAX_BODY} bytes"),
            )
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// JSON with k6's content type.
fn json_response(code: StatusCode, v: Value) -> Response {
    let mut r = (code, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json!({"errors": [{"status": self.status.to_string(), "title": self.title, "detail": self.detail}]}),
        )
    }
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

/// The id after `prefix` in the request's path, as sent (not percent-decoded).
fn raw_id<'a>(uri: &'a Uri, prefix: &str) -> &'a str {
    uri.path().strip_prefix(prefix).unwrap_or_default()
}

async fn get_status(State(b): State<Backend>) -> Response {
    ok(status_doc(&b.status()))
}

/// `PATCH /v1/status`: a JSON:API document or bare attributes; `paused`, then `vus`
/// (with `vus-max`), then `stopped` are applied, and the new status is returned.
async fn patch_status(State(b): State<Backend>, body: Bytes) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "Invalid data", e.to_string()))?;
    let attrs = v
        .pointer("/data/attributes")
        .cloned()
        .unwrap_or_else(|| v.clone());
    let Some(attrs) = attrs.as_object() else {
        return Err(ApiError::new(
            400,
            "Invalid data",
            "expected a JSON object such as {\"stopped\": true}",
        ));
    };
    if let Some(p) = attrs.get("paused").and_then(Value::as_bool) {
        b.set_paused(p)?;
    }
    if let Some(vus) = attrs.get("vus").and_then(Value::as_i64) {
        let max = attrs.get("vus-max").and_then(Value::as_i64);
        b.set_vus(vus, max)?;
    }
    if attrs.get("stopped").and_then(Value::as_bool) == Some(true) {
        b.stop();
    }
    Ok(ok(status_doc(&b.status())))
}

async fn list_metrics(State(b): State<Backend>) -> Response {
    let data: Vec<Value> = b.metrics().iter().map(metric_doc).collect();
    ok(json!({ "data": data }))
}

async fn get_metric(State(b): State<Backend>, uri: Uri) -> Result<Response, ApiError> {
    let id = raw_id(&uri, "/v1/metrics/");
    match b.metrics().iter().find(|m| m.name == id) {
        Some(m) => Ok(ok(json!({ "data": metric_doc(m) }))),
        None => Err(ApiError::new(
            404,
            "Not Found",
            "No metric with that ID was found",
        )),
    }
}

async fn list_groups(State(b): State<Backend>) -> Response {
    let data: Vec<Value> = b.groups().iter().map(group_doc).collect();
    ok(json!({ "data": data }))
}

async fn get_group(State(b): State<Backend>, uri: Uri) -> Result<Response, ApiError> {
    let id = raw_id(&uri, "/v1/groups/");
    match b.groups().iter().find(|g| g.id == id) {
        Some(g) => Ok(ok(json!({ "data": group_doc(g) }))),
        None => Err(ApiError::new(
            404,
            "Not Found",
            "No group with that ID was found",
        )),
    }
}

async fn get_setup(State(b): State<Backend>) -> Response {
    ok(
        json!({"data": {"type": "setupData", "id": "default", "attributes": {"data": b.setup_data()}}}),
    )
}
