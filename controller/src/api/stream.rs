//! Runs streamed from a local `volley run --out cloud=URL`: the local run creates
//! its run here (RUNNING at once), sends a protobuf `MetricBatch` every interval (each answered
//! with what is durable and whether the run was stopped here), and finishes it. A run whose
//! data stops for `data_timeout` is TIMED_OUT.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use volley_api::{
    ErrorBody, StreamFinish, StreamStatus, StreamedRunCreated, StreamedRunRequest,
    STREAM_SECRET_HEADER,
};

use super::extract::{
    fmt_bytes, is_json, media_type, ok, read_body, run_id, AppState, CallerOf, PathParam, PROTOBUF,
};
use super::handlers::{
    idempotency_key, mark_replayed, validate_name, validate_text, IDEMPOTENCY_KEY,
};
use super::ApiError;
use crate::audit::AUDIT;

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

/// Create a run streamed from a local volley run
///
/// Creates a test (holding the entry script) and its run, RUNNING at once (`run_process`
/// "Volley run to controller"). A run that sends nothing for `data_timeout` becomes TIMED_OUT.
/// Sent again with the same `Idempotency-Key`, it makes no second run.
#[utoipa::path(post, path = "/v1/streamed-runs", tag = "streams", operation_id = "create_streamed_run",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body = StreamedRunRequest,
    responses(
        (status = 201, description = "The run.", body = StreamedRunCreated),
        (status = 200, description = "The `Idempotency-Key` was seen: the run its first create made (nothing new), with `Idempotent-Replayed: true`.", body = StreamedRunCreated,
            headers(("Idempotent-Replayed" = String, description = "`true`."))),
        (status = 400, description = "Invalid body or options (or options that declare more than a test may: 1,000 scenarios, 10,000 thresholds, tags, env entries or stages), malformed `Idempotency-Key`.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Not JSON.", body = ErrorBody),
        (status = 422, description = "A limit refuses the run (`limit_exceeded`), or the `Idempotency-Key` was sent with another request (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "`--max-concurrent-uploads` uploads are being received already (`too_many_uploads`); send it again after `Retry-After` seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait."))),
        (status = 429, description = "The token has `--max-active-runs-per-token` runs not finished (`too_many_active_runs`): wait for some to finish or stop them.", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    req: Request,
) -> Result<Response, ApiError> {
    require_media(&req, "application/json", "streamed run")?;
    let key = idempotency_key(req.headers())?;
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
    r.entry = validate_text("entry", Some(r.entry), "streamed run body")?;
    let (run, replayed) = app.svc.create_streamed_run(r, &caller, key)?;
    if replayed {
        tracing::info!(target: AUDIT, token = caller.user_id(), run = run.id, "streamed run create replayed (idempotency key seen)");
    } else {
        tracing::info!(target: AUDIT, token = caller.user_id(), run = run.id, project = run.project_id, "streamed run created");
    }
    let created = StreamedRunCreated {
        id: run.id,
        test_id: run.test_id,
        run_status: run.run_status,
        url: format!("/loadtests/v2/runs/{}", run.id),
        secret: app.svc.stream_secret(run.id),
    };
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = (status, Json(created)).into_response();
    mark_replayed(&mut resp, replayed);
    Ok(resp)
}

/// Checks the streamed run's secret (the `Volley-Stream-Secret` header): 401 without it.
fn check_secret(app: &AppState, req: &Request, id: u64) -> Result<(), ApiError> {
    let presented = req
        .headers()
        .get(STREAM_SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if app.svc.verify_stream_secret(id, presented) {
        return Ok(());
    }
    tracing::warn!(target: AUDIT, run = id, path = %req.uri().path(), "streamed run: missing or wrong secret");
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_stream_secret",
        format!(
            "streamed run {id}: the `Volley-Stream-Secret` header must carry the secret returned when the run was created"
        ),
    ))
}

/// One interval's metric batch of a streamed run
///
/// Body: a protobuf `volley.v1.MetricBatch` (`application/x-protobuf`), sequence numbers from 1
/// without gaps. Each sequence number is merged once; resending is safe.
#[utoipa::path(post, path = "/v1/streamed-runs/{id}/metrics", tag = "streams", operation_id = "post_streamed_run_batch",
    params(("id" = u64, Path, description = "ID of the test run.")),
    request_body(content = Vec<u8>, content_type = "application/x-protobuf"),
    responses(
        (status = 200, description = "What is durable and whether the run was stopped here.", body = StreamStatus),
        (status = 400, description = "Not a MetricBatch, or seq 0.", body = ErrorBody),
        (status = 401, description = "Missing or wrong `Volley-Stream-Secret`.", body = ErrorBody),
        (status = 404, description = "No such streamed run.", body = ErrorBody),
        (status = 415, description = "Not application/x-protobuf.", body = ErrorBody),
    ))]
pub(super) async fn metrics(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    req: Request,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    check_secret(&app, &req, id)?;
    require_media(&req, PROTOBUF, "metric batch")?;
    let body = read_body(req, &fmt_bytes(app.limits.max_upload_bytes)).await?;
    let status: StreamStatus = app.svc.stream_batch(id, &body)?;
    Ok(ok(&status))
}

/// End a streamed run
#[utoipa::path(post, path = "/v1/streamed-runs/{id}/finish", tag = "streams", operation_id = "finish_streamed_run",
    params(("id" = u64, Path, description = "ID of the test run.")),
    request_body = StreamFinish,
    responses(
        (status = 200, description = "What is durable and whether the run was stopped here.", body = StreamStatus),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "Missing or wrong `Volley-Stream-Secret`.", body = ErrorBody),
        (status = 404, description = "No such streamed run.", body = ErrorBody),
    ))]
pub(super) async fn finish(
    State(app): State<AppState>,
    PathParam(raw_id): PathParam,
    req: Request,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    check_secret(&app, &req, id)?;
    require_media(&req, "application/json", "finish")?;
    let body = read_body(req, &fmt_bytes(app.limits.max_body_bytes)).await?;
    let fin: StreamFinish = parse_json(&body, "finish", r#"{"last_batch_seq":12}"#)?;
    let status = app.svc.stream_finish(id, fin)?;
    Ok(ok(&status))
}
