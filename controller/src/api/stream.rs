//! Runs streamed from a local `volley run --out cloud=URL` (seed 001): the local run creates
//! its run here (RUNNING at once), sends a protobuf `MetricBatch` every interval (each answered
//! with what is durable and whether the run was stopped here), and finishes it. A run whose
//! data stops for `data_timeout` is TIMED_OUT.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::handlers::{
    fmt_bytes, is_json, media_type, ok_json, read_body, run_id, validate_name, AppState, PathParam,
};
use super::{ApiError, StreamFinish, StreamedRunRequest};

/// The media type of metric batches.
pub const PROTOBUF: &str = "application/x-protobuf";

fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
    example: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the {what} body is not valid: {e}; expected e.g. {example}"),
        )
    })
}

fn require_media(req: &Request, want: &str, what: &str) -> Result<(), ApiError> {
    match media_type(req.headers()) {
        Some(m) if m == want || (want == "application/json" && is_json(&m)) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the {what} body must be {want}, got {}",
                other.as_deref().unwrap_or("no Content-Type")
            ),
        )),
    }
}

/// `POST /v1/streamed-runs`: creates the test and its run, RUNNING.
pub(super) async fn create(
    State(app): State<AppState>,
    req: Request,
) -> Result<Response, ApiError> {
    require_media(&req, "application/json", "streamed run")?;
    let body = read_body(req, &fmt_bytes(app.limits.max_upload_bytes)).await?;
    let mut r: StreamedRunRequest = parse_json(
        &body,
        "streamed run",
        r#"{"entry":"test.js","script":"...","options":{},"source":"host"}"#,
    )?;
    // Names are shown everywhere: the same rules as for uploaded tests.
    if !r.name.trim().is_empty() {
        r.name = validate_name(Some(r.name), "streamed run body")?;
    }
    r.entry = validate_name(Some(r.entry), "streamed run body (`entry`)")?;
    let run = app.svc.create_streamed_run(r)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": run.id,
            "test_id": run.test_id,
            "run_status": run.run_status,
            "url": format!("/loadtests/v2/runs/{}", run.id),
        })),
    )
        .into_response())
}

/// `POST /v1/streamed-runs/{id}/metrics`: one protobuf `MetricBatch`.
pub(super) async fn metrics(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    req: Request,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    require_media(&req, PROTOBUF, "metric batch")?;
    let body = read_body(req, &fmt_bytes(app.limits.max_upload_bytes)).await?;
    let status = app.svc.stream_batch(id, &body)?;
    Ok(ok_json(serde_json::to_value(status).unwrap_or_default()))
}

/// `POST /v1/streamed-runs/{id}/finish`: `{"last_batch_seq": N, "abort_reason": ...}`.
pub(super) async fn finish(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    req: Request,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    require_media(&req, "application/json", "finish")?;
    let body = read_body(req, &fmt_bytes(app.limits.max_body_bytes)).await?;
    let fin: StreamFinish = parse_json(&body, "finish", r#"{"last_batch_seq":12}"#)?;
    let status = app.svc.stream_finish(id, fin)?;
    Ok(ok_json(serde_json::to_value(status).unwrap_or_default()))
}
