//! `k6 run --out cloud` against the controller: a k6 run on the user's machine streams its
//! metrics into a Volley run. It is a streamed run like `volley run --out cloud=URL`
//! (`crate::coordinator::streamed`: RUNNING at once, merged batches, TIMED_OUT after `data_timeout`,
//! thresholds evaluated on the controller); only the wire differs:
//!
//! - `POST /v1/tests` creates the run; the answer's `config` sets k6's aggregation to 1 s
//!   periods pushed every second, and `stopOnError`, so that a push answered 403 with error
//!   code 4 stops the k6 test: that is how a stop on the controller (the API, `volley stop`,
//!   a limit, `data_timeout`) reaches k6, which then exits 105;
//! - `POST /v2/metrics/{id}` carries k6's snappy protobuf pushes, decoded into Volley batches
//!   (`pushes.rs`) that the controller numbers in arrival order (k6 does not number them);
//! - `POST /v1/tests/{id}` says how k6 ended (its run status), which becomes the abort reason.
//!
//! What k6 does with each answer is in [docs/k6-cloud-client.md](../../../../docs/k6-cloud-client.md).

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use volley_api::{
    K6CloudCreateTestRun, K6CloudError, K6CloudErrorDetail, K6CloudOk, K6CloudOutputConfig,
    K6CloudTestRunCreated, K6CloudTestRunFinished, StreamFinish, StreamedRunRequest,
};
use volley_common::exit::AbortReason;

use super::super::extract::{
    fmt_bytes, is_json, media_type, read_body, AppState, CallerOf, PathParam, PROTOBUF,
};
use super::super::handlers::{
    idempotency_key, mark_replayed, validate_name, visible_run, IDEMPOTENCY_KEY,
};
use super::super::ApiError;
use super::pushes::{decompress, to_batch};
use super::{run_ref, K6Error};
use crate::audit::AUDIT;
use crate::auth::Caller;
use crate::state::STREAMED_RUN_PROCESS;

/// What a run streamed from k6 shows as its one "agent" (`local:k6`).
const K6_SOURCE: &str = "k6";

/// k6 Cloud's error code for "test run aborted": with `stopOnError`, k6 stops its test when a
/// push is answered 403 with it.
const ABORTED_CODE: u32 = 4;

/// The output settings every k6 gets: 1 s periods (the run's timeline step), sent within ~2 s.
fn output_config() -> K6CloudOutputConfig {
    K6CloudOutputConfig {
        aggregation_period: "1s".into(),
        aggregation_wait_period: "1s".into(),
        metric_push_interval: "1s".into(),
        stop_on_error: true,
    }
}

fn require_json(req: &Request, what: &str) -> Result<(), K6Error> {
    if media_type(req.headers()).is_some_and(|m| is_json(&m)) {
        return Ok(());
    }
    Err(K6Error(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("the {what} must be sent as application/json, as k6 does"),
    )))
}

fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
    example: &str,
) -> Result<T, K6Error> {
    serde_json::from_slice(body).map_err(|e| {
        K6Error(ApiError::bad_request(
            "invalid_json",
            format!("the {what} body is not valid: {e}; expected e.g. {example}"),
        ))
    })
}

/// The options of the Volley run k6 streams into: what k6 announced (its VUs, its longest
/// duration with graceful stops, its thresholds), as one scenario.
fn run_options(req: &K6CloudCreateTestRun) -> Result<Value, K6Error> {
    let thresholds = match &req.thresholds {
        Value::Null => json!({}),
        t @ Value::Object(_) => t.clone(),
        _ => {
            return Err(K6Error(ApiError::bad_request(
                "invalid_options",
                "field `thresholds` must be an object: metric → list of expressions",
            )))
        }
    };
    let mut options = json!({
        "scenarios": {
            "k6": {
                "executor": "constant-vus",
                "vus": req.vus.max(1),
                "duration": format!("{}s", req.duration.max(1)),
                "gracefulStop": "0s",
            }
        },
        "thresholds": thresholds,
    });
    if let Some(p) = req.project_id {
        options["cloud"] = json!({ "projectID": p });
    }
    Ok(options)
}

/// The script's file name when k6's test name is one (its default), else `script.js`.
fn entry_of(name: &str) -> String {
    let is_file = [".js", ".mjs", ".cjs", ".ts"]
        .iter()
        .any(|e| name.ends_with(e))
        && !name.contains(['/', '\\'])
        && !name.starts_with('.');
    if is_file {
        name.to_string()
    } else {
        "script.js".into()
    }
}

/// Create the run a `k6 run --out cloud` streams into
///
/// The run is RUNNING at once (as `POST /v1/streamed-runs` makes it) in the script's
/// `options.cloud.projectID` or the token's project; `reference_id` is its id. Sent again with
/// the same `Idempotency-Key`, it makes no second run.
#[utoipa::path(post, path = "/v1/tests", tag = "k6-cloud", operation_id = "k6_create_test_run",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body = K6CloudCreateTestRun,
    responses(
        (status = 200, description = "The run, and how k6 must send its metrics; with `Idempotent-Replayed: true`, the run the first create with this `Idempotency-Key` made.", body = K6CloudTestRunCreated),
        (status = 400, description = "Invalid body or options, malformed `Idempotency-Key`.", body = K6CloudError),
        (status = 403, description = "The token does not work in the project asked for.", body = K6CloudError),
        (status = 415, description = "Not JSON.", body = K6CloudError),
        (status = 422, description = "A limit refuses the run (`limit_exceeded`), or the `Idempotency-Key` was sent with another request (`idempotency_key_reused`).", body = K6CloudError),
        (status = 429, description = "The token has `--max-active-runs-per-token` runs not finished (`too_many_active_runs`): wait for some to finish or stop them.", body = K6CloudError),
    ))]
pub(in crate::api) async fn create_test_run(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    req: Request,
) -> Result<Response, K6Error> {
    require_json(&req, "test run")?;
    let key = idempotency_key(req.headers())?;
    let body = read_body(req, &fmt_bytes(app.limits.max_body_bytes)).await?;
    let r: K6CloudCreateTestRun = parse(
        &body,
        "test run",
        r#"{"name":"test.js","vus":10,"duration":60,"thresholds":{}}"#,
    )?;
    let name = if r.name.trim().is_empty() {
        "k6 run --out cloud".to_string()
    } else {
        validate_name(Some(r.name.clone()), "test run body")?
    };
    let entry = entry_of(&name);
    let script =
        format!("// {entry} ran in k6 (`k6 run --out cloud`), which does not send its script.\n");
    let options = run_options(&r)?;
    let (run, replayed) = app.svc.create_streamed_run(
        StreamedRunRequest {
            name,
            entry,
            script,
            options,
            source: K6_SOURCE.into(),
        },
        &caller,
        key,
    )?;
    if replayed {
        tracing::info!(target: AUDIT, token = caller.user_id(), run = run.id, "streamed run create replayed (k6 run --out cloud, idempotency key seen)");
    } else {
        tracing::info!(target: AUDIT, token = caller.user_id(), run = run.id, project = run.project_id, "streamed run created (k6 run --out cloud)");
    }
    let mut resp = Json(K6CloudTestRunCreated {
        reference_id: run.id.to_string(),
        config: output_config(),
    })
    .into_response();
    mark_replayed(&mut resp, replayed);
    Ok(resp)
}

/// The run `id` if the caller sees it and k6 streams into it (404 otherwise: another kind of
/// run is not k6's to feed).
fn k6_run(app: &AppState, caller: &Caller, id: u64) -> Result<crate::model::Run, K6Error> {
    let run = visible_run(app, caller, id)?;
    let ours = run.run_process == STREAMED_RUN_PROCESS
        && run
            .assignments
            .first()
            .is_some_and(|a| a.agent == format!("local:{K6_SOURCE}"));
    if !ours {
        return Err(K6Error(ApiError::not_found(
            "run_not_found",
            format!("run {id} is not streamed from `k6 run --out cloud`"),
        )));
    }
    Ok(run)
}

/// One metric push of `k6 run --out cloud`
///
/// Body: k6's protobuf metric set, snappy-compressed (`Content-Encoding: snappy`). Merged into
/// the run; answered 403 with error code 4 once the run was stopped on the controller, which
/// makes k6 stop its test.
#[utoipa::path(post, path = "/v2/metrics/{id}", tag = "k6-cloud", operation_id = "k6_push_metrics",
    params(("id" = u64, Path, description = "ID of the test run (k6's reference_id).")),
    request_body(content = Vec<u8>, content_type = "application/x-protobuf"),
    responses(
        (status = 200, description = "Taken in.", body = K6CloudOk),
        (status = 400, description = "Not snappy, not k6's protobuf, or an invalid series.", body = K6CloudError),
        (status = 403, description = "The run was stopped on the controller (error code 4: k6 stops).", body = K6CloudError),
        (status = 404, description = "No such run streamed from k6.", body = K6CloudError),
        (status = 413, description = "Body too large, compressed or not.", body = K6CloudError),
        (status = 415, description = "Not application/x-protobuf, or another encoding than snappy.", body = K6CloudError),
    ))]
pub(in crate::api) async fn push_metrics(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw): PathParam,
    req: Request,
) -> Result<Response, K6Error> {
    let id = run_ref(&raw)?;
    k6_run(&app, &caller, id)?;
    if media_type(req.headers()).as_deref() != Some(PROTOBUF) {
        return Err(K6Error(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a metric push must be {PROTOBUF}, as k6 sends it"),
        )));
    }
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let snappy = match encoding.as_deref() {
        None | Some("identity") => false,
        Some("snappy") => true,
        Some(other) => {
            return Err(K6Error(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Encoding `{}` is not supported: send snappy, as k6 does",
                    volley_common::text::echo(other)
                ),
            )))
        }
    };
    let limit = app.limits.max_upload_bytes;
    let body = read_body(req, &fmt_bytes(limit)).await?;
    let batch = decompress(&body, snappy, limit)
        .and_then(|raw| to_batch(&raw, id))
        .map_err(|e| {
            let status = if matches!(e, super::pushes::PushError::TooLarge { .. }) {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            K6Error(ApiError::new(
                status,
                "invalid_batch",
                format!("metric push for run {id}: {e}"),
            ))
        })?;
    let status = app.svc.stream_push(id, batch)?;
    if let Some(reason) = status.stop {
        let message = format!(
            "test run {id} was stopped on the Volley controller: {}",
            reason.message()
        );
        return Ok(aborted(message));
    }
    Ok(Json(K6CloudOk {}).into_response())
}

/// 403 with k6 Cloud's "test run aborted" code: k6 stops sending and, told `stopOnError`,
/// stops its test.
fn aborted(message: String) -> Response {
    let body = K6CloudError {
        error: K6CloudErrorDetail {
            message,
            volley_code: "run_stopped".into(),
            status: 403,
            code: Some(ABORTED_CODE),
        },
    };
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// The abort reason of the run status k6 ends with (k6 Cloud's numbers).
fn reason_of(fin: &K6CloudTestRunFinished) -> Result<Option<AbortReason>, K6Error> {
    let by_k6 = |what: &str| format!("k6 ended the test: {what}");
    Ok(Some(match fin.run_status {
        3 => return Ok(None),
        // Ctrl+C where k6 runs: FINISHED here, as for `volley run --out cloud`.
        5 => AbortReason::Signal {
            signal: "interrupt".into(),
        },
        4 => AbortReason::TimedOut {
            message: by_k6("timed out"),
        },
        6 => AbortReason::System {
            message: by_k6("aborted by system"),
        },
        7 => AbortReason::ScriptException {
            phase: "k6".into(),
            message: by_k6("aborted by a script error (the error is in k6's output)"),
        },
        8 => AbortReason::Threshold {
            metrics: crossed(&fin.thresholds),
        },
        9 => AbortReason::Limit {
            limit: "k6".into(),
            message: by_k6("aborted by a limit"),
        },
        other => {
            return Err(K6Error(ApiError::bad_request(
                "invalid_field",
                format!("field `run_status` is {other}; a finished k6 test reports 3 to 9"),
            )))
        }
    }))
}

/// The metrics k6 says crossed a threshold (`{metric: {expression: crossed}}`).
fn crossed(thresholds: &Value) -> Vec<String> {
    let Some(map) = thresholds.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter(|(_, exprs)| {
            exprs
                .as_object()
                .is_some_and(|e| e.values().any(|v| v.as_bool() == Some(true)))
        })
        .map(|(m, _)| volley_common::text::echo(m).into_owned())
        .collect()
}

/// The end of a `k6 run --out cloud`
///
/// k6's run status becomes the run's abort reason (5, Ctrl+C: FINISHED; 8: ABORTED_BY_THRESHOLD;
/// 3: none). Thresholds are evaluated on the controller's merged data, not taken from k6.
#[utoipa::path(post, path = "/v1/tests/{id}", tag = "k6-cloud", operation_id = "k6_finish_test_run",
    params(("id" = u64, Path, description = "ID of the test run (k6's reference_id).")),
    request_body = K6CloudTestRunFinished,
    responses(
        (status = 200, description = "The run is ending (or had ended).", body = K6CloudOk),
        (status = 400, description = "Invalid body.", body = K6CloudError),
        (status = 404, description = "No such run streamed from k6.", body = K6CloudError),
    ))]
pub(in crate::api) async fn finish_test_run(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw): PathParam,
    req: Request,
) -> Result<Response, K6Error> {
    let id = run_ref(&raw)?;
    k6_run(&app, &caller, id)?;
    require_json(&req, "test run's end")?;
    let body = read_body(req, &fmt_bytes(app.limits.max_body_bytes)).await?;
    let fin: K6CloudTestRunFinished = parse(
        &body,
        "test run's end",
        r#"{"run_status":3,"result_status":0,"thresholds":{}}"#,
    )?;
    let abort_reason = reason_of(&fin)?;
    app.svc.stream_finish_pushed(
        id,
        StreamFinish {
            last_batch_seq: 0,
            abort_reason,
            marked_failed: None,
            iterations: 0,
        },
    )?;
    tracing::info!(target: AUDIT, token = caller.user_id(), run = id, k6_run_status = fin.run_status, "streamed run finished (k6 run --out cloud)");
    Ok(Json(K6CloudOk {}).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_takes_what_k6_announced() {
        let req: K6CloudCreateTestRun = serde_json::from_value(json!({
            "name": "s.js", "project_id": 5, "vus": 9, "duration": 33,
            "thresholds": {"http_reqs": ["count>10"]}
        }))
        .unwrap();
        let o = run_options(&req).unwrap();
        assert_eq!(o["scenarios"]["k6"]["vus"], 9);
        assert_eq!(o["scenarios"]["k6"]["duration"], "33s");
        assert_eq!(o["thresholds"]["http_reqs"][0], "count>10");
        assert_eq!(o["cloud"]["projectID"], 5);
        let resolved = volley_common::options::Options::from_script_json(&o)
            .and_then(|o| o.resolve())
            .unwrap();
        assert_eq!(resolved.max_duration_incl_graceful_stop().as_secs(), 33);
        assert_eq!(entry_of("s.js"), "s.js");
        assert_eq!(entry_of("my cloud name"), "script.js");
        assert_eq!(entry_of("../x.js"), "script.js");
    }

    #[test]
    fn k6_run_statuses_become_abort_reasons() {
        let fin = |s: i32, t: Value| K6CloudTestRunFinished {
            run_status: s,
            result_status: 0,
            thresholds: t,
        };
        assert_eq!(reason_of(&fin(3, json!({}))).unwrap(), None);
        let ctrl_c = reason_of(&fin(5, json!({}))).unwrap().unwrap();
        assert!(matches!(ctrl_c, AbortReason::Signal { .. }));
        let t = json!({"a": {"count<3": true}, "b": {"rate>0": false}});
        assert_eq!(
            reason_of(&fin(8, t)).unwrap(),
            Some(AbortReason::Threshold {
                metrics: vec!["a".into()]
            })
        );
        assert!(reason_of(&fin(2, json!({}))).is_err());
    }
}
