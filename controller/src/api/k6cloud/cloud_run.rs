//! `k6 cloud run` against the controller: validate the options, upload the archive (it
//! becomes a normal Volley test and run), poll the run's progress, stop it on Ctrl+C.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use volley_api::{
    k6_run_status_text, CreateTestMultipart, ErrorBody, K6CloudError, K6CloudOk, K6CloudProgress,
    K6CloudUploaded, K6CloudValidateOptions, RunEnvelope,
};
use volley_common::status::{ResultStatus, RunStatus};

use super::super::extract::{
    fmt_bytes, is_json, media_type, read_body, AppState, CallerOf, PathParam,
};
use super::super::handlers::{
    get_run, idempotency_key, mark_replayed, read_multipart, validate_name, visible_run,
    IDEMPOTENCY_KEY,
};
use super::super::ApiError;
use super::{run_ref, K6Error};
use crate::audit::AUDIT;

/// The note of a run started by `k6 cloud run`.
pub const K6_CLOUD_RUN_NOTE: &str = "k6 cloud run";

/// Check the options of a k6 cloud test
///
/// k6 sends the script's consolidated options before uploading its archive; Volley checks them
/// as it checks an archive's, so `k6 cloud run` fails early with the option named.
#[utoipa::path(post, path = "/v1/validate-options", tag = "k6-cloud", operation_id = "k6_validate_options",
    request_body = K6CloudValidateOptions,
    responses(
        (status = 200, description = "The options are valid.", body = K6CloudOk),
        (status = 400, description = "Not JSON, no `options`, or invalid options.", body = K6CloudError),
        (status = 413, description = "Body too large.", body = K6CloudError),
    ))]
pub(in crate::api) async fn validate_options(
    State(app): State<AppState>,
    req: Request,
) -> Result<Response, K6Error> {
    if !media_type(req.headers()).is_some_and(|m| is_json(&m)) {
        return Err(K6Error(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the options must be sent as application/json: {\"options\": {...}}",
        )));
    }
    let body = read_body(req, &fmt_bytes(app.limits.max_body_bytes)).await?;
    let parsed: K6CloudValidateOptions = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "the validate-options body is not valid: {e}; expected {{\"options\": {{...}}}}"
            ),
        )
    })?;
    // As they will be read from the archive k6 uploads next.
    let options = volley_common::archive::k6::options_from_k6(parsed.options);
    crate::coordinator::validate_options(&options)
        .map_err(|e| ApiError::bad_request("invalid_options", e))?;
    Ok(Json(K6CloudOk {}).into_response())
}

/// Upload a k6 archive and run it
///
/// The multipart form `k6 cloud run` sends (`name`, the `k6 archive` tar as `file`, optional
/// `project_id`): the archive becomes a test and a run of it is queued at once, as
/// `POST /loadtests/v2/tests` then `start-testrun` would. `reference_id` is the run's id. Sent
/// again with the same `Idempotency-Key`, it makes no second test or run.
#[utoipa::path(post, path = "/v1/archive-upload", tag = "k6-cloud", operation_id = "k6_archive_upload",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body(content = CreateTestMultipart, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The run made from the archive; with `Idempotent-Replayed: true`, the run the first upload with this `Idempotency-Key` made.", body = K6CloudUploaded),
        (status = 400, description = "Missing/invalid field, bad multipart, invalid archive, malformed `Idempotency-Key`.", body = K6CloudError),
        (status = 413, description = "Body over the upload limit.", body = K6CloudError),
        (status = 415, description = "Not multipart/form-data.", body = K6CloudError),
        (status = 422, description = "A limit or the placement refuses the run, or the `Idempotency-Key` was sent with another request (`idempotency_key_reused`).", body = K6CloudError),
        (status = 429, description = "`--max-concurrent-uploads` uploads are being received already (`too_many_uploads`); send it again after `Retry-After` seconds.", body = K6CloudError,
            headers(("Retry-After" = String, description = "Seconds to wait."))),
        (status = 429, description = "The token has `--max-active-runs-per-token` runs not finished (`too_many_active_runs`): wait for some to finish or stop them.", body = K6CloudError),
    ))]
pub(in crate::api) async fn archive_upload(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    req: Request,
) -> Result<Response, K6Error> {
    let limit_hint = fmt_bytes(app.limits.max_upload_bytes);
    let key = idempotency_key(req.headers())?;
    if media_type(req.headers()).as_deref() != Some("multipart/form-data") {
        return Err(K6Error(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "upload the archive as multipart/form-data (`name`, `file`), as `k6 cloud run` does",
        )));
    }
    let mp = Multipart::from_request(req, &app).await.map_err(|e| {
        ApiError::bad_request(
            "invalid_multipart",
            format!(
                "the multipart/form-data request is malformed: {}",
                e.body_text()
            ),
        )
    })?;
    let (name, project_id, archive) = read_multipart(mp, &limit_hint).await?;
    let name = validate_name(name, "form")?;
    let archive = archive.filter(|a| !a.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            "the archive is missing or empty: send the `k6 archive` tar as the form field `file`",
        )
    })?;
    // Hashing and reading a large archive blocks; keep it off the async workers.
    // One key for both creates: the test and the run are kept apart by kind.
    let svc = app.svc.clone();
    let by = caller.clone();
    let test_key = key.clone();
    let (test, test_replayed) = tokio::task::spawn_blocking(move || {
        svc.create_test_keyed(name, project_id, archive, &by, test_key)
    })
    .await
    .map_err(|e| ApiError::internal(format!("creating the test failed: {e}")))??;
    if test_replayed {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = test.id, "test create replayed (k6 cloud run, idempotency key seen)");
    } else {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = test.id, project = test.project_id, "test created (k6 cloud run)");
    }
    let (run, replayed) = app.svc.start_run_keyed(
        test.id,
        BTreeMap::new(),
        K6_CLOUD_RUN_NOTE.into(),
        caller.user_id(),
        key,
    )?;
    if replayed {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = test.id, run = run.id, "run submit replayed (k6 cloud run, idempotency key seen)");
    } else {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = test.id, run = run.id, project = run.project_id, "run submitted (k6 cloud run)");
    }
    let mut resp = Json(K6CloudUploaded {
        reference_id: run.id.to_string(),
        test_id: run.test_id,
        url: format!("/loadtests/v2/runs/{}", run.id),
    })
    .into_response();
    mark_replayed(&mut resp, replayed);
    Ok(resp)
}

/// The progress of a run, as k6 polls it
///
/// Polled by `k6 cloud run` about once a second until `run_status` is terminal.
#[utoipa::path(get, path = "/v1/test-progress/{id}", tag = "k6-cloud", operation_id = "k6_test_progress",
    params(("id" = u64, Path, description = "ID of the test run (k6's reference_id).")),
    responses(
        (status = 200, description = "Where the run is.", body = K6CloudProgress),
        (status = 400, description = "Not a run id.", body = K6CloudError),
        (status = 404, description = "No such run.", body = K6CloudError),
    ))]
pub(in crate::api) async fn test_progress(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw): PathParam,
) -> Result<Response, K6Error> {
    let id = run_ref(&raw)?;
    let run = visible_run(&app, &caller, id)?;
    // Only a RUNNING run's progress needs its planned duration: the options are resolved for
    // those polls alone, not for the queued and ended runs k6 also polls.
    let planned = if run.run_status == RunStatus::Running {
        volley_common::options::Options::from_script_json(&run.config)
            .and_then(|o| o.resolve())
            .map(|r| r.max_duration_incl_graceful_stop().as_secs_f64())
            .unwrap_or(0.0)
    } else {
        0.0
    };
    Ok(Json(progress_of(
        run.run_status,
        run.result_status,
        run.duration,
        planned,
    ))
    .into_response())
}

/// The progress answer for a run in `status` that has run `elapsed` of `planned` seconds.
pub(in crate::api) fn progress_of(
    status: RunStatus,
    result: ResultStatus,
    elapsed: f64,
    planned: f64,
) -> K6CloudProgress {
    let progress = if status.is_terminal() {
        1.0
    } else if status == RunStatus::Running && planned > 0.0 && elapsed.is_finite() {
        (elapsed / planned).clamp(0.0, 1.0)
    } else {
        0.0
    };
    K6CloudProgress {
        progress,
        run_status: status,
        run_status_text: k6_run_status_text(status).into(),
        result_status: result,
        tainted: false,
    }
}

/// Stop a run, as k6 does on Ctrl+C
///
/// What `k6 cloud run` sends when interrupted: the run stops as for a Ctrl+C in
/// `volley submit --wait` (ABORTED_BY_USER, exit code 105); k6 goes on polling until it has
/// ended. A run that has already ended is answered 200 too (nothing to stop).
#[utoipa::path(post, path = "/v1/tests/{id}/stop", tag = "k6-cloud", operation_id = "k6_stop_test",
    params(("id" = u64, Path, description = "ID of the test run (k6's reference_id).")),
    responses(
        (status = 200, description = "The run is stopping (or had ended).", body = K6CloudOk),
        (status = 400, description = "Not a run id.", body = K6CloudError),
        (status = 404, description = "No such run.", body = K6CloudError),
    ))]
pub(in crate::api) async fn stop(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw): PathParam,
) -> Result<Response, K6Error> {
    let id = run_ref(&raw)?;
    let run = visible_run(&app, &caller, id)?;
    if !run.run_status.is_terminal() {
        let by = caller.user_id();
        match app.svc.stop_run_for(id, Some(by), Some("interrupt")) {
            Ok(_) => {
                tracing::info!(target: AUDIT, token = by, run = id, "run stop requested (k6 cloud run, Ctrl+C)")
            }
            // It ended between the look and the stop: nothing left to stop.
            Err(e) if e.status == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(K6CloudOk {}).into_response())
}

/// The run page k6 links to
///
/// k6 prints `$K6_CLOUD_WEB_APP_URL/runs/{id}` for `k6 cloud run` and `k6 run --out cloud`
/// alike; with `K6_CLOUD_WEB_APP_URL` set to the controller, the link shows the run as
/// `GET /loadtests/v2/runs/{id}` does (a token is needed, as for every read).
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", operation_id = "k6_run_link",
    params(("id" = u64, Path, description = "ID of the test run (k6's reference_id).")),
    responses(
        (status = 200, description = "The run, as `GET /loadtests/v2/runs/{id}` answers it.", body = RunEnvelope),
        (status = 400, description = "Not a run id.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    ))]
pub(in crate::api) async fn run_link(
    app: State<AppState>,
    caller: CallerOf,
    id: PathParam,
) -> Result<Response, ApiError> {
    get_run(app, caller, id, RawQuery(None)).await
}
