//! What every handler shares: the state, path and body extraction with JSON errors that name
//! the problem, and the common error answers.

use std::sync::Arc;
use volley_common::text::echo;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{ApiError, ApiLimits, ControllerService};
use crate::auth::Caller;

/// Shared by every handler: the service, the limits and the failed-authentication back-off.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) svc: Arc<dyn ControllerService>,
    pub(super) limits: ApiLimits,
    pub(super) backoff: Arc<crate::auth::backoff::Backoff>,
    /// The runs' live feeds, shared by their open dashboard pages.
    pub(crate) hubs: Arc<super::dashboard::Hubs>,
}

/// The caller the guard authenticated (`super::guard`); every route behind the guard has one.
pub(crate) struct CallerOf(pub(crate) Caller);

impl<S: Send + Sync> FromRequestParts<S> for CallerOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(CallerOf)
            .ok_or_else(|| ApiError::internal("the route was reached without authentication"))
    }
}

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

pub(super) fn parse_id(raw: &str, what: &str, example: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!(
                "`{}` is not a valid {what} id: ids are non-negative integers, e.g. {example}",
                echo(raw)
            ),
        )
    })
}

/// The media type of metric batches (streamed runs and k6's cloud output).
pub(super) const PROTOBUF: &str = "application/x-protobuf";

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
pub(super) fn body_error(status: StatusCode, detail: String, limit_hint: &str) -> ApiError {
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
pub(super) struct JsonBody {
    what: &'static str,
    obj: Map<String, Value>,
}

impl JsonBody {
    pub(super) fn empty(what: &'static str) -> JsonBody {
        JsonBody {
            what,
            obj: Map::new(),
        }
    }

    pub(super) fn parse(body: &[u8], what: &'static str) -> Result<JsonBody, ApiError> {
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
    pub(super) fn take<T: DeserializeOwned>(
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
                            "field `{}` of the {} body must be {expected}, got {kind}",
                            echo(key),
                            self.what
                        ),
                    )
                })
            }
        }
    }

    /// Fails on fields nobody took, naming them and the accepted ones.
    pub(super) fn finish(self, accepted: &[impl AsRef<str>]) -> Result<(), ApiError> {
        if self.obj.is_empty() {
            return Ok(());
        }
        let unknown: Vec<&str> = self.obj.keys().map(String::as_str).collect();
        Err(ApiError::bad_request(
            "invalid_json",
            format!(
                "unknown field(s) in the {} body: {}; accepted: {}",
                self.what,
                echo(&unknown.join(", ")),
                accepted
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<&str>>()
                    .join(", ")
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
pub(super) async fn optional_json(
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
                    "the {what} body must be application/json, got `{}`; send no body to use the defaults",
                    echo(m)
                ),
            ))
        }
    }
    JsonBody::parse(&body, what)
}

/// 200 with a JSON body.
pub(super) fn ok<T: Serialize>(body: &T) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

pub(super) fn run_not_found(id: u64) -> ApiError {
    ApiError::not_found(
        "run_not_found",
        format!("no run with id {id}; GET /loadtests/v2/runs lists the runs"),
    )
}

pub(super) fn test_not_found(id: u64) -> ApiError {
    ApiError::not_found(
        "test_not_found",
        format!("no test with id {id}; GET /loadtests/v2/tests lists the tests"),
    )
}

pub(super) fn run_id(raw: &str) -> Result<u64, ApiError> {
    parse_id(raw, "run", "/loadtests/v2/runs/12")
}

pub(super) fn test_id(raw: &str) -> Result<u64, ApiError> {
    parse_id(raw, "test", "/loadtests/v2/tests/3")
}
