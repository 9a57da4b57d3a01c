//! Route table and handlers. Handlers validate input (→ 4xx JSON errors), call the
//! [`ControllerService`], and shape the answer as k6's legacy API does.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, RawQuery, Request, State,
};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::query::Query;
use super::views::{run_json, test_json, RUN_FIELDS, TEST_FIELDS};
use super::{openapi, ApiError, ApiLimits, ControllerService};

/// Shared by every handler: the service and the limits.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(super) svc: Arc<dyn ControllerService>,
    pub(super) limits: ApiLimits,
}

/// One row of the route table; the router and [`super::routes`] are both built from it.
pub(crate) struct Route {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    // The table only uses standard methods, which always convert.
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    Route {
        method,
        path,
        handler: on(filter, handler),
    }
}

impl Route {
    fn body_limit(mut self, bytes: usize) -> Route {
        self.handler = self.handler.layer(DefaultBodyLimit::max(bytes));
        self
    }
}

pub(crate) fn route_table(limits: ApiLimits) -> Vec<Route> {
    let small = limits.max_body_bytes;
    vec![
        route(Method::GET, "/", root),
        route(Method::GET, "/health", health),
        route(Method::GET, "/openapi.json", openapi_json),
        route(Method::GET, "/loadtests/v2/tests", list_tests),
        route(Method::POST, "/loadtests/v2/tests", create_test).body_limit(limits.max_upload_bytes),
        route(Method::GET, "/loadtests/v2/tests/{id}", get_test),
        route(
            Method::POST,
            "/loadtests/v2/tests/{id}/start-testrun",
            start_testrun,
        )
        .body_limit(small),
        route(Method::GET, "/loadtests/v2/runs", list_runs),
        route(Method::GET, "/loadtests/v2/runs/{id}", get_run),
        route(Method::POST, "/loadtests/v2/runs/{id}/stop", stop_run).body_limit(small),
        route(Method::GET, "/v1/agents", list_agents),
        route(Method::GET, "/v1/agents/{name}", get_agent),
        route(Method::GET, "/v1/runs/{id}/agents", run_agents),
        route(Method::GET, "/v1/runs/{id}/metrics", run_metrics),
        route(Method::GET, "/v1/runs/{id}/summary", run_summary),
        route(Method::GET, "/v1/runs/{id}/report", run_report),
        route(Method::POST, "/v1/streamed-runs", super::stream::create)
            .body_limit(limits.max_upload_bytes),
        route(
            Method::POST,
            "/v1/streamed-runs/{id}/metrics",
            super::stream::metrics,
        )
        .body_limit(limits.max_upload_bytes),
        route(
            Method::POST,
            "/v1/streamed-runs/{id}/finish",
            super::stream::finish,
        )
        .body_limit(small),
    ]
}

pub(crate) fn build_router(svc: Arc<dyn ControllerService>, limits: ApiLimits) -> Router {
    let mut router = Router::new();
    for r in route_table(limits) {
        router = router.route(r.path, r.handler);
    }
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState { svc, limits })
}

// ---------------------------------------------------------------------------------------------
// Extraction helpers

/// The single `{id}`/`{name}` path segment, with axum's rejection turned into a JSON 400.
pub(super) struct PathParam(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(s)) => Ok(PathParam(s)),
            Err(e) => Err(ApiError::bad_request(
                "invalid_path_parameter",
                e.body_text(),
            )),
        }
    }
}

fn parse_id(raw: &str, what: &str, example: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!(
                "`{raw}` is not a valid {what} id: ids are non-negative integers, e.g. {example}"
            ),
        )
    })
}

/// The media type of a request without parameters, lowercased (`multipart/form-data`).
pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

pub(super) fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Maps a body-reading failure: over the limit → 413, anything else (client hung up, bad
/// chunking) → 400, never 5xx, because it is the request that was wrong.
fn body_error(status: StatusCode, detail: String, limit_hint: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than this endpoint accepts (at most {limit_hint})"),
        )
    } else {
        ApiError::bad_request(
            "invalid_body",
            format!("could not read the request body: {detail}"),
        )
    }
}

/// `80 MiB`, `1 KiB`, or `1000 bytes`: limits are shown as people configure them.
pub(super) fn fmt_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB && (n / MIB) * MIB == n {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && (n / KIB) * KIB == n {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

pub(super) async fn read_body(req: Request, limit_hint: &str) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &())
        .await
        .map_err(|e| body_error(e.status(), e.body_text(), limit_hint))
}

/// A JSON object body, read field by field so every error names the field and the accepted
/// ones (serde's derive would say neither for a wrong type, and would accept arrays for structs).
struct JsonBody {
    what: &'static str,
    obj: Map<String, Value>,
}

impl JsonBody {
    fn empty(what: &'static str) -> JsonBody {
        JsonBody {
            what,
            obj: Map::new(),
        }
    }

    fn parse(body: &[u8], what: &'static str) -> Result<JsonBody, ApiError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("the {what} body is not valid JSON: {e}"),
            )
        })?;
        match v {
            Value::Object(obj) => Ok(JsonBody { what, obj }),
            other => Err(ApiError::bad_request(
                "invalid_json",
                format!(
                    "the {what} body must be a JSON object, got {}",
                    json_kind(&other)
                ),
            )),
        }
    }

    /// Removes and converts one field; absent or null is `None`.
    fn take<T: DeserializeOwned>(
        &mut self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.obj.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let kind = json_kind(&v);
                serde_json::from_value(v).map(Some).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_json",
                        format!(
                            "field `{key}` of the {} body must be {expected}, got {kind}",
                            self.what
                        ),
                    )
                })
            }
        }
    }

    /// Fails on fields nobody took, naming them and the accepted ones.
    fn finish(self, accepted: &[&str]) -> Result<(), ApiError> {
        if self.obj.is_empty() {
            return Ok(());
        }
        let unknown: Vec<&str> = self.obj.keys().map(String::as_str).collect();
        Err(ApiError::bad_request(
            "invalid_json",
            format!(
                "unknown field(s) in the {} body: {}; accepted: {}",
                self.what,
                unknown.join(", "),
                accepted.join(", ")
            ),
        ))
    }
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A small optional JSON body: empty means no fields. A non-empty body must be JSON (declared
/// as such, or undeclared) — a form-encoded or text body is refused with 415.
async fn optional_json(
    req: Request,
    what: &'static str,
    limit: usize,
) -> Result<JsonBody, ApiError> {
    let media = media_type(req.headers());
    let body = read_body(req, &fmt_bytes(limit)).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(JsonBody::empty(what));
    }
    match media.as_deref() {
        None => {}
        Some(m) if is_json(m) => {}
        Some(m) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "the {what} body must be application/json, got `{m}`; send no body to use the defaults"
                ),
            ))
        }
    }
    JsonBody::parse(&body, what)
}

pub(super) fn ok_json(value: Value) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

pub(super) fn run_not_found(id: u64) -> ApiError {
    ApiError::not_found(
        "run_not_found",
        format!("no run with id {id}; GET /loadtests/v2/runs lists the runs"),
    )
}

fn test_not_found(id: u64) -> ApiError {
    ApiError::not_found(
        "test_not_found",
        format!("no test with id {id}; GET /loadtests/v2/tests lists the tests"),
    )
}

pub(super) fn run_id(raw: &str) -> Result<u64, ApiError> {
    parse_id(raw, "run", "/loadtests/v2/runs/12")
}

fn test_id(raw: &str) -> Result<u64, ApiError> {
    parse_id(raw, "test", "/loadtests/v2/tests/3")
}

// ---------------------------------------------------------------------------------------------
// Meta routes

async fn root() -> Response {
    ok_json(json!({
        "name": "volley-controller",
        "version": env!("CARGO_PKG_VERSION"),
        "links": {
            "openapi": "/openapi.json",
            "health": "/health",
            "tests": "/loadtests/v2/tests",
            "runs": "/loadtests/v2/runs",
            "agents": "/v1/agents",
        }
    }))
}

async fn health() -> Response {
    ok_json(json!({"status": "ok"}))
}

async fn openapi_json() -> Response {
    ok_json(openapi::openapi_document())
}

async fn route_not_found(uri: Uri) -> ApiError {
    let path = uri.path();
    let hint = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => format!(" (did you mean `{p}`, without the trailing slash?)"),
        _ => String::new(),
    };
    ApiError::not_found(
        "route_not_found",
        format!("no route for `{path}`{hint}; GET /openapi.json describes every route"),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on `{}`; the Allow header lists the methods that are, and GET /openapi.json describes every route",
            uri.path()
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Tests

const MULTIPART_FIELDS: &str = "`name`, `project_id` and the archive file `file` (or `k6_archive`)";

fn multipart_error(e: axum::extract::multipart::MultipartError, limit_hint: &str) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_error(e.status(), e.body_text(), limit_hint)
    } else {
        ApiError::bad_request(
            "invalid_multipart",
            format!(
                "the multipart/form-data body is malformed: {}",
                e.body_text()
            ),
        )
    }
}

/// Reads `name`, `project_id` and the archive from a multipart form.
async fn read_multipart(
    mut mp: Multipart,
    limit_hint: &str,
) -> Result<(Option<String>, Option<u64>, Option<Vec<u8>>), ApiError> {
    let mut name = None;
    let mut project_id = None;
    let mut archive: Option<Vec<u8>> = None;
    let dup = |f: &str| {
        ApiError::bad_request(
            "invalid_multipart",
            format!("the form field `{f}` is given more than once; give it once"),
        )
    };
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit_hint))?
    {
        let field_name = field.name().unwrap_or("").to_string();
        match field_name.as_str() {
            "name" => {
                if name.is_some() {
                    return Err(dup("name"));
                }
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e, limit_hint))?;
                name = Some(text);
            }
            "project_id" => {
                if project_id.is_some() {
                    return Err(dup("project_id"));
                }
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e, limit_hint))?;
                let text = text.trim();
                let id = text.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_field",
                        format!(
                            "form field `project_id` must be a non-negative integer, got `{text}`"
                        ),
                    )
                })?;
                project_id = Some(id);
            }
            "file" | "k6_archive" => {
                if archive.is_some() {
                    return Err(dup(&field_name));
                }
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e, limit_hint))?;
                // Zero-copy when the buffer is not shared.
                archive = Some(Vec::from(bytes));
            }
            "" => {
                return Err(ApiError::bad_request(
                    "invalid_multipart",
                    format!("a form part has no name; send {MULTIPART_FIELDS}"),
                ))
            }
            other => {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    format!("unknown form field `{other}`; send {MULTIPART_FIELDS}"),
                ))
            }
        }
    }
    Ok((name, project_id, archive))
}

fn decode_archive(b64: &str) -> Result<Vec<u8>, ApiError> {
    // `base64` tools wrap lines; padding is optional so hand-made payloads work too.
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(compact.as_bytes()).map_err(|e| {
        ApiError::bad_request(
            "invalid_field",
            format!("`k6_archive` must be the archive tar in standard base64: {e}"),
        )
    })
}

pub(super) fn validate_name(name: Option<String>, form: &str) -> Result<String, ApiError> {
    let name = name.ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            format!("the test `name` is missing from the {form}"),
        )
    })?;
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_field",
            "the test `name` is empty; give the test a name",
        ));
    }
    if name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "the test `name` must be at most 256 characters without control characters",
        ));
    }
    Ok(name)
}

async fn create_test(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let limit_hint = &fmt_bytes(app.limits.max_upload_bytes);
    let media = media_type(req.headers());
    let (name, project_id, archive, form) = match media.as_deref() {
        Some("multipart/form-data") => {
            let mp = Multipart::from_request(req, &app).await.map_err(|e| {
                ApiError::bad_request(
                    "invalid_multipart",
                    format!(
                        "the multipart/form-data request is malformed: {}",
                        e.body_text()
                    ),
                )
            })?;
            let (n, p, a) = read_multipart(mp, limit_hint).await?;
            (n, p, a, "form")
        }
        Some(m) if is_json(m) => {
            let body = read_body(req, limit_hint).await?;
            // `{"name", "project_id", "k6_archive": base64}`.
            let mut j = JsonBody::parse(&body, "test")?;
            let name: Option<String> = j.take("name", "a string")?;
            let project_id: Option<u64> = j.take("project_id", "a non-negative integer")?;
            let b64: Option<String> = j.take("k6_archive", "a base64 string")?;
            j.finish(&["name", "project_id", "k6_archive"])?;
            let archive = b64.as_deref().map(decode_archive).transpose()?;
            (name, project_id, archive, "JSON body")
        }
        other => {
            let got = other.map_or("no Content-Type".to_string(), |m| format!("`{m}`"));
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "create a test with multipart/form-data ({MULTIPART_FIELDS}) or application/json ({{\"name\", \"project_id\", \"k6_archive\": base64}}); got {got}"
                ),
            ));
        }
    };
    let name = validate_name(name, form)?;
    let archive = archive.ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            format!("the archive is missing from the {form}: send it as `file` (multipart) or `k6_archive` (JSON, base64); make one with `volley archive test.js -O test.tar`"),
        )
    })?;
    if archive.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_field",
            "the archive is empty; make one with `volley archive test.js -O test.tar`",
        ));
    }
    let project_id = project_id.unwrap_or(0);
    // Hashing and reading a large archive blocks; keep it off the async workers.
    let svc = app.svc.clone();
    let test = tokio::task::spawn_blocking(move || svc.create_test(name, project_id, archive))
        .await
        .map_err(|e| ApiError::internal(format!("creating the test failed: {e}")))??;
    let location = format!("/loadtests/v2/tests/{}", test.id);
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({"k6-test": Value::Object(test_json(&test))})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn list_tests(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let project_id = q.take_u64(&["project_id"])?;
    let ids = q.take_ids()?;
    let select = q.take_select(TEST_FIELDS)?;
    q.finish(&["project_id", "ids[]", "$select"])?;
    let mut tests = app.svc.list_tests(project_id);
    if let Some(ids) = &ids {
        tests.retain(|t| ids.contains(&t.id));
    }
    tests.sort_by_key(|t| t.id);
    let items: Vec<Value> = tests
        .iter()
        .map(|t| Value::Object(select.apply(test_json(t))))
        .collect();
    let count = items.len();
    Ok(ok_json(
        json!({"k6-tests": items, "meta": {"count": count}}),
    ))
}

async fn get_test(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = test_id(&raw_id)?;
    let mut q = Query::parse(raw.as_deref())?;
    let select = q.take_select(TEST_FIELDS)?;
    q.finish(&["$select"])?;
    let test = app.svc.get_test(id).ok_or_else(|| test_not_found(id))?;
    Ok(ok_json(
        json!({"k6-test": Value::Object(select.apply(test_json(&test)))}),
    ))
}

async fn start_testrun(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let id = test_id(&raw_id)?;
    Query::parse(raw.as_deref())?.finish(&[])?;
    // Optional `{"env": {..}, "note": ".."}`.
    let mut body = optional_json(req, "start-testrun", app.limits.max_body_bytes).await?;
    let env: BTreeMap<String, String> = body
        .take("env", "an object of string values")?
        .unwrap_or_default();
    let note: String = body.take("note", "a string")?.unwrap_or_default();
    body.finish(&["env", "note"])?;
    if let Some(bad) = env
        .keys()
        .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("env key `{bad}` is invalid: keys are non-empty and contain no `=` or NUL"),
        ));
    }
    if app.svc.get_test(id).is_none() {
        return Err(test_not_found(id));
    }
    let run = app.svc.start_run(id, env, note)?;
    Ok(ok_json(json!({"k6-run": Value::Object(run_json(&run))})))
}

// ---------------------------------------------------------------------------------------------
// Runs

async fn get_run(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    let mut q = Query::parse(raw.as_deref())?;
    let select = q.take_select(RUN_FIELDS)?;
    q.finish(&["$select"])?;
    let run = app.svc.get_run(id).ok_or_else(|| run_not_found(id))?;
    Ok(ok_json(
        json!({"k6-run": Value::Object(select.apply(run_json(&run)))}),
    ))
}

async fn list_runs(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    // The seed's own examples write `$test_id`; accept both spellings.
    let test_id = q.take_u64(&["test_id", "$test_id"])?;
    let ids = q.take_ids()?;
    let public_id = q.take_one(&["public_id"])?;
    let select = q.take_select(RUN_FIELDS)?;
    q.finish(&["test_id", "ids[]", "public_id", "$select"])?;
    if let Some(t) = test_id {
        if app.svc.get_test(t).is_none() {
            return Err(test_not_found(t));
        }
    }
    let mut runs = app.svc.list_runs(test_id);
    if let Some(ids) = &ids {
        runs.retain(|r| ids.contains(&r.id));
    }
    if let Some(p) = &public_id {
        runs.retain(|r| r.public_id.as_deref() == Some(p.as_str()));
    }
    runs.sort_by_key(|r| r.id);
    let items: Vec<Value> = runs
        .iter()
        .map(|r| Value::Object(select.apply(run_json(r))))
        .collect();
    let count = items.len();
    Ok(ok_json(json!({"k6-runs": items, "meta": {"count": count}})))
}

async fn stop_run(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    Query::parse(raw.as_deref())?.finish(&[])?;
    // Optional `{"stopped_by_id": N}`: until authentication exists, the caller says who it is.
    let mut body = optional_json(req, "stop", app.limits.max_body_bytes).await?;
    let stopped_by: Option<u64> = body.take("stopped_by_id", "a non-negative integer")?;
    // Volley: `{"reason": "signal"}` when a CLI following the run was interrupted (exit 105).
    let reason: Option<String> = body.take("reason", "\"api\" or \"signal\"")?;
    body.finish(&["stopped_by_id", "reason"])?;
    let signal = match reason.as_deref() {
        None | Some("api") => false,
        Some("signal") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_reason",
                format!("stop reason {other:?} is not known; use \"api\" or \"signal\""),
            ))
        }
    };
    let run = app.svc.get_run(id).ok_or_else(|| run_not_found(id))?;
    if run.run_status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_finished",
            format!(
                "run already finished: run {id} ended with status {} ({}); there is nothing to stop",
                run.run_status.number(),
                run.run_status.name()
            ),
        ));
    }
    let run = app.svc.stop_run_for(id, stopped_by, signal)?;
    Ok(ok_json(json!({"k6-run": Value::Object(run_json(&run))})))
}

// ---------------------------------------------------------------------------------------------
// Volley extensions

async fn list_agents(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let mut agents = app.svc.agents();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    let count = agents.len();
    Ok(ok_json(json!({"agents": agents, "meta": {"count": count}})))
}

async fn get_agent(
    State(app): State<AppState>,
    PathParam(name): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let agent = app.svc.agent(&name).ok_or_else(|| {
        ApiError::not_found(
            "agent_not_found",
            format!("no agent named `{name}` is registered; GET /v1/agents lists them"),
        )
    })?;
    Ok(ok_json(json!({"agent": agent})))
}

/// Parses the run id of a `/v1/runs/{id}/…` route and checks the run exists.
fn existing_run(
    app: &AppState,
    raw_id: &str,
    raw_query: Option<&str>,
) -> Result<crate::model::Run, ApiError> {
    let id = parse_id(raw_id, "run", "/v1/runs/12/summary")?;
    Query::parse(raw_query)?.finish(&[])?;
    app.svc.get_run(id).ok_or_else(|| run_not_found(id))
}

async fn run_agents(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &raw_id, raw.as_deref())?;
    let agents = app
        .svc
        .run_agents(run.id)
        .ok_or_else(|| run_not_found(run.id))?;
    Ok(ok_json(json!({"run_id": run.id, "agents": agents})))
}

async fn run_metrics(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &raw_id, raw.as_deref())?;
    let metrics = app.svc.run_metrics(run.id).ok_or_else(|| {
        ApiError::not_found(
            "metrics_not_available",
            format!(
                "run {} has no metrics yet (status {} {}); they appear once its agents send data",
                run.id,
                run.run_status.number(),
                run.run_status.name()
            ),
        )
    })?;
    Ok(ok_json(metrics))
}

async fn run_report(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &raw_id, raw.as_deref())?;
    let report = app.svc.run_report(run.id).ok_or_else(|| {
        ApiError::not_found(
            "summary_not_available",
            format!(
                "run {} has no summary yet: it is available once the run has ended",
                run.id
            ),
        )
    })?;
    Ok(ok_json(report))
}

async fn run_summary(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &raw_id, raw.as_deref())?;
    let summary = app.svc.run_summary(run.id).ok_or_else(|| {
        let when = if run.run_status.is_terminal() {
            "it was not produced (the run ended before any data was merged)"
        } else {
            "it is available once the run has ended"
        };
        ApiError::not_found(
            "summary_not_available",
            format!(
                "run {} has no summary (status {} {}): {when}",
                run.id,
                run.run_status.number(),
                run.run_status.name()
            ),
        )
    })?;
    Ok(ok_json(summary))
}
