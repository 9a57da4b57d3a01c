//! The handlers of the tests and runs routes (the agents' are in `agents.rs`, the service routes
//! in `meta.rs`). Each validates its input (→ 4xx JSON errors), calls the
//! [`super::ControllerService`], and answers with a [`volley_api`] type; its `#[utoipa::path]`
//! attribute is its OpenAPI description.

use std::collections::BTreeMap;
use volley_common::text::echo;

use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use volley_api::{
    CreateTestJson, CreateTestMultipart, ErrorBody, Meta, RunAgents, RunEnvelope, RunList,
    StartTestRun, StopRun, TestEnvelope, TestList, IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_REPLAYED_HEADER,
};

use super::extract::{
    body_error, fmt_bytes, is_json, media_type, ok, optional_json, parse_id, read_body, run_id,
    run_not_found, test_id, test_not_found, AppState, CallerOf, JsonBody, PathParam,
};
use super::page::Page;
use super::query::{Query, Select, INVALID_QUERY};
use super::views::{run_fields, run_view, schema_fields, test_fields, test_view};
use super::ApiError;
use crate::audit::AUDIT;
use crate::auth::Caller;

const IDS: &str =
    "Only these ids; repeat it (`ids[]=1&ids[]=3`) or give a comma list (alias `ids`).";
const SELECT_RUNS: &str = "Comma-separated subset of the fields of K6Run to return (alias \
    `select`). Unknown names → 400 `unknown_select_field` naming them.";
const SELECT_TESTS: &str = "Comma-separated subset of the fields of K6Test to return (alias \
    `select`). Unknown names → 400 `unknown_select_field` naming them.";
pub(super) const PAGE: &str =
    "Page number, from 1 (default 1); a page past the end is empty. Not a whole \
    number from 1 → 400 naming `page`.";
pub(super) const PAGE_SIZE: &str =
    "Items per page, 1 to 1000 (default 100); `meta.count` is the number of \
    items on all pages. Out of range → 400 naming `page_size`.";

/// The entry script of a test for a view of one test or run, read only if `select` keeps it.
fn script_for(app: &AppState, select: &Select, test_id: u64) -> String {
    if select.wants("script") {
        app.svc.script(test_id).unwrap_or_default()
    } else {
        String::new()
    }
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
pub(super) async fn read_multipart(
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
                    format!(
                        "unknown form field `{}`; send {MULTIPART_FIELDS}",
                        echo(other)
                    ),
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
    validate_text("name", name, form)
}

/// A short text field shown everywhere (a test's `name`, a streamed run's `entry`): present,
/// not blank, at most 256 characters without control characters. Errors name `field`.
pub(super) fn validate_text(
    field: &str,
    value: Option<String>,
    form: &str,
) -> Result<String, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            format!("the test `{field}` is missing from the {form}"),
        )
    })?;
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("the test `{field}` is empty; give the test a {field}"),
        ));
    }
    if value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("the test `{field}` must be at most 256 characters without control characters"),
        ));
    }
    Ok(value)
}

/// The longest run note taken (characters): a sentence or a paragraph, not a document.
const MAX_NOTE_CHARS: usize = 4096;

/// What the `Idempotency-Key` header does, for the OpenAPI document.
pub(in crate::api) const IDEMPOTENCY_KEY: &str =
    "Optional, 1 to 255 visible ASCII characters (a UUID, say), the \
    same when the request is sent again: a create whose key was seen in the last 24 hours makes \
    nothing new and answers what the first one made, with `Idempotent-Replayed: true`. The same \
    key with another request → 422 `idempotency_key_reused`; a malformed one → 400 \
    `invalid_idempotency_key`.";

/// The `Idempotency-Key` of a create, if the client sent one: at most one, 1 to 255 visible
/// ASCII characters (docs/rest-api.md#idempotency-keys).
pub(in crate::api) fn idempotency_key(
    headers: &axum::http::HeaderMap,
) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |problem: String| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!("the Idempotency-Key header is not usable: {problem}"),
        )
    };
    if values.next().is_some() {
        return Err(bad("it is given more than once; give it once".into()));
    }
    let key = value
        .to_str()
        .map_err(|_| bad("it is not visible ASCII".into()))?;
    crate::state::idempotency::check_key(key).map_err(bad)?;
    Ok(Some(key.to_string()))
}

/// Marks the answer of a create whose idempotency key was seen before.
pub(in crate::api) fn mark_replayed(resp: &mut Response, replayed: bool) {
    if replayed {
        resp.headers_mut()
            .insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
}

/// Create a load test with its archive
///
/// The body is limited (80 MiB by default); base64 in JSON costs a third more.
#[utoipa::path(post, path = "/loadtests/v2/tests", tag = "tests",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body(content(
        (CreateTestMultipart = "multipart/form-data"),
        (CreateTestJson = "application/json"),
    )),
    responses(
        (status = 201, description = "Created; `Location` names the new test.", body = TestEnvelope,
            headers(("Location" = String, description = "The new test's path."))),
        (status = 200, description = "The `Idempotency-Key` was seen: the test its first create made (nothing new).", body = TestEnvelope,
            headers(("Location" = String, description = "The test's path."),
                ("Idempotent-Replayed" = String, description = "`true`."))),
        (status = 400, description = "Missing/invalid field, bad JSON or multipart, bad base64, invalid archive, malformed `Idempotency-Key`; options that declare more than a test may (`invalid_options`: 1,000 scenarios, 10,000 thresholds, tags, env entries or stages).", body = ErrorBody),
        (status = 413, description = "Body over the upload limit.", body = ErrorBody),
        (status = 415, description = "Neither multipart/form-data nor application/json.", body = ErrorBody),
        (status = 422, description = "The archive is well-formed but its options are not acceptable, or the `Idempotency-Key` was sent with another request (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "`--max-concurrent-uploads` uploads are being received already (`too_many_uploads`); send it again after `Retry-After` seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait."))),
    ))]
pub(super) async fn create_test(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let key = idempotency_key(req.headers())?;
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
            j.finish(&schema_fields::<CreateTestJson>())?;
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
    // Hashing and reading a large archive blocks; keep it off the async workers.
    let svc = app.svc.clone();
    let by = caller.clone();
    let (test, replayed) = tokio::task::spawn_blocking(move || {
        svc.create_test_keyed(name, project_id, archive, &by, key)
    })
    .await
    .map_err(|e| ApiError::internal(format!("creating the test failed: {e}")))??;
    if replayed {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = test.id, "test create replayed (idempotency key seen)");
    } else {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = test.id, project = test.project_id, "test created");
    }
    let location = format!("/loadtests/v2/tests/{}", test.id);
    let mut view = test_view(&test);
    view.script = script_for(&app, &Select::all(), test.id);
    let body = TestEnvelope { test: view };
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = (status, Json(body)).into_response();
    mark_replayed(&mut resp, replayed);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// List load tests
#[utoipa::path(get, path = "/loadtests/v2/tests", tag = "tests",
    params(
        ("project_id" = Option<u64>, Query, description = "Only the tests of this project."),
        ("ids[]" = Option<Vec<u64>>, Query, description = IDS),
        ("$select" = Option<String>, Query, description = SELECT_TESTS),
        ("page" = Option<u64>, Query, description = PAGE),
        ("page_size" = Option<u64>, Query, description = PAGE_SIZE),
    ),
    responses(
        (status = 200, description = "One page of the tests, by id; `script` is empty in lists (read one test for it).", body = TestList),
        (status = 400, description = "Bad query (non-integer id, unknown parameter or `$select` field).", body = ErrorBody),
    ))]
pub(super) async fn list_tests(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let project_id = q.take_u64(&["project_id"])?;
    let ids = q.take_ids()?;
    let select = q.take_select(test_fields())?;
    let page = Page::take(&mut q)?;
    q.finish(&["project_id", "ids[]", "$select", "page", "page_size"])?;
    let keep = |t: &crate::model::Test| {
        caller.sees(t.project_id)
            && project_id.is_none_or(|p| t.project_id == p)
            && ids.as_ref().is_none_or(|ids| ids.contains(&t.id))
    };
    let listed = app.svc.list_tests(&keep, page);
    let list = TestList {
        meta: Meta {
            count: listed.count,
        },
        tests: listed.items.iter().map(test_view).collect(),
    };
    Ok(select.answer(&list))
}

/// Read a load test
#[utoipa::path(get, path = "/loadtests/v2/tests/{id}", tag = "tests",
    params(
        ("id" = u64, Path, description = "A unique integer value identifying this test."),
        ("$select" = Option<String>, Query, description = SELECT_TESTS),
    ),
    responses(
        (status = 200, description = "The test.", body = TestEnvelope),
        (status = 400, description = "Bad id or query.", body = ErrorBody),
        (status = 404, description = "No such test.", body = ErrorBody),
    ))]
pub(super) async fn get_test(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = test_id(&raw_id)?;
    let mut q = Query::parse(raw.as_deref())?;
    let select = q.take_select(test_fields())?;
    q.finish(&["$select"])?;
    let test = visible_test(&app, &caller, id)?;
    let mut view = test_view(&test);
    view.script = script_for(&app, &select, id);
    Ok(select.answer(&TestEnvelope { test: view }))
}

/// Start a run of a load test
///
/// Creates a run (CREATED → VALIDATED → QUEUED) and returns it; it starts when enough agents
/// are idle.
#[utoipa::path(post, path = "/loadtests/v2/tests/{id}/start-testrun", tag = "runs",
    params(
        ("id" = u64, Path, description = "A unique integer value identifying this test."),
        ("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY),
    ),
    request_body(content = Option<StartTestRun>, description = "Optional; an empty body uses no env and an empty note."),
    responses(
        (status = 200, description = "The new run; with `Idempotent-Replayed: true`, the run the first create with this `Idempotency-Key` made.", body = RunEnvelope),
        (status = 400, description = "Bad id, query, body or `Idempotency-Key`; an `env` of more than 10,000 entries (`invalid_env`).", body = ErrorBody),
        (status = 404, description = "No such test.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "A limit or placement refuses the run, or the `Idempotency-Key` was sent with another request (`idempotency_key_reused`).", body = ErrorBody),
        (status = 429, description = "The token has `--max-active-runs-per-token` runs not finished (`too_many_active_runs`): wait for some to finish or stop them.", body = ErrorBody),
    ))]
pub(super) async fn start_testrun(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let id = test_id(&raw_id)?;
    Query::parse(raw.as_deref())?.finish(&[])?;
    let key = idempotency_key(req.headers())?;
    // Optional `{"env": {..}, "note": ".."}`.
    let mut body = optional_json(req, "start-testrun", app.limits.max_body_bytes).await?;
    let env: BTreeMap<String, String> = body
        .take("env", "an object of string values")?
        .unwrap_or_default();
    let note: String = body.take("note", "a string")?.unwrap_or_default();
    body.finish(&schema_fields::<StartTestRun>())?;
    // The note reaches operators' terminals (`volley status`) and every run list.
    if note.chars().count() > MAX_NOTE_CHARS
        || note
            .chars()
            .any(|c| c != '\n' && c != '\t' && volley_common::text::is_terminal_control(c))
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "the run `note` must be at most {MAX_NOTE_CHARS} characters, without control \
                 characters (but newline and tab) or bidirectional controls"
            ),
        ));
    }
    if let Some(bad) = env
        .keys()
        .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "env key `{}` is invalid: keys are non-empty and contain no `=` or NUL",
                echo(bad)
            ),
        ));
    }
    visible_test(&app, &caller, id)?;
    let (run, replayed) = app
        .svc
        .start_run_keyed(id, env, note, caller.user_id(), key)?;
    if replayed {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = id, run = run.id, "run submit replayed (idempotency key seen)");
    } else {
        tracing::info!(target: AUDIT, token = caller.user_id(), test = id, run = run.id, project = run.project_id, "run submitted");
    }
    let mut view = run_view(&run);
    view.script = script_for(&app, &Select::all(), run.test_id);
    let mut resp = ok(&RunEnvelope { run: view });
    mark_replayed(&mut resp, replayed);
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Runs

/// Read a test run
#[utoipa::path(get, path = "/loadtests/v2/runs/{id}", tag = "runs",
    params(
        ("id" = u64, Path, description = "ID of the test run."),
        ("$select" = Option<String>, Query, description = SELECT_RUNS),
    ),
    responses(
        (status = 200, description = "The run (only the `$select`ed fields, if given).", body = RunEnvelope),
        (status = 400, description = "Bad id or query.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    ))]
pub(super) async fn get_run(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    let mut q = Query::parse(raw.as_deref())?;
    let select = q.take_select(run_fields())?;
    q.finish(&["$select"])?;
    let run = visible_run(&app, &caller, id)?;
    let mut view = run_view(&run);
    view.script = script_for(&app, &select, run.test_id);
    Ok(select.answer(&RunEnvelope { run: view }))
}

/// List test runs
#[utoipa::path(get, path = "/loadtests/v2/runs", tag = "runs",
    params(
        ("test_id" = Option<u64>, Query, description = "Only the runs of this test (alias `$test_id`, as in the k6 docs' example); 404 if no such test."),
        ("ids[]" = Option<Vec<u64>>, Query, description = IDS),
        ("public_id" = Option<String>, Query, description = "Only the run with this public id."),
        ("$select" = Option<String>, Query, description = SELECT_RUNS),
        ("page" = Option<u64>, Query, description = PAGE),
        ("page_size" = Option<u64>, Query, description = PAGE_SIZE),
    ),
    responses(
        (status = 200, description = "One page of the runs, by id; `script` is empty in lists (read one run for it).", body = RunList),
        (status = 400, description = "Bad query (non-integer id, unknown parameter or `$select` field).", body = ErrorBody),
        (status = 404, description = "No such test.", body = ErrorBody),
    ))]
pub(super) async fn list_runs(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    // k6's own examples write `$test_id`; accept both spellings.
    let test_id = q.take_u64(&["test_id", "$test_id"])?;
    let ids = q.take_ids()?;
    let public_id = q.take_one(&["public_id"])?;
    let select = q.take_select(run_fields())?;
    let page = Page::take(&mut q)?;
    q.finish(&[
        "test_id",
        "ids[]",
        "public_id",
        "$select",
        "page",
        "page_size",
    ])?;
    if let Some(t) = test_id {
        visible_test(&app, &caller, t)?;
    }
    let keep = |r: &crate::model::Run| {
        caller.sees(r.project_id)
            && test_id.is_none_or(|t| r.test_id == t)
            && ids.as_ref().is_none_or(|ids| ids.contains(&r.id))
            && public_id
                .as_ref()
                .is_none_or(|p| r.public_id.as_deref() == Some(p.as_str()))
    };
    let listed = app.svc.list_runs(&keep, page);
    let list = RunList {
        meta: Meta {
            count: listed.count,
        },
        runs: listed.items.iter().map(run_view).collect(),
    };
    Ok(select.answer(&list))
}

/// Stop a test run
///
/// Asks every agent of the run to stop; the run ends as ABORTED_BY_USER (5). Returns the run as
/// it is now (it may take a moment to reach status 5). Answered once the stop is stored (in a
/// Raft group, committed: a new leader carries it out, docs/ha.md#stops).
#[utoipa::path(post, path = "/loadtests/v2/runs/{id}/stop", tag = "runs",
    params(("id" = u64, Path, description = "ID of the test run.")),
    request_body(content = Option<StopRun>),
    responses(
        (status = 200, description = "The stop is stored; the run.", body = RunEnvelope),
        (status = 400, description = "Bad id, query or body.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 409, description = "Run already finished (`run_finished`).", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 503, description = "The stop could not be stored or committed (`stop_not_committed`): the run may go on; check it and stop it again.", body = ErrorBody),
    ))]
pub(super) async fn stop_run(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let id = run_id(&raw_id)?;
    Query::parse(raw.as_deref())?.finish(&[])?;
    // `stopped_by_id` is accepted for compatibility but never believed: who stopped the run is
    // the caller's token.
    let mut body = optional_json(req, "stop", app.limits.max_body_bytes).await?;
    let claimed: Option<u64> = body.take("stopped_by_id", "a non-negative integer")?;
    // Volley: `{"reason": "signal", "signal": "terminated"}` when a CLI following the run was
    // stopped by a signal (exit 105; the name defaults to "interrupt").
    let reason: Option<String> = body.take("reason", "\"api\" or \"signal\"")?;
    let signal_name: Option<String> = body.take("signal", "\"interrupt\" or \"terminated\"")?;
    body.finish(&schema_fields::<StopRun>())?;
    let signal = match (reason.as_deref(), signal_name.as_deref()) {
        (None | Some("api"), None) => None,
        (Some("signal"), None | Some("interrupt")) => Some("interrupt"),
        (Some("signal"), Some("terminated")) => Some("terminated"),
        (Some("signal"), Some(other)) => {
            return Err(ApiError::bad_request(
                "invalid_signal",
                format!(
                    "signal {:?} is not known; use \"interrupt\" or \"terminated\"",
                    other.chars().take(64).collect::<String>()
                ),
            ))
        }
        (None | Some("api"), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_signal",
                "\"signal\" goes with \"reason\": \"signal\"",
            ))
        }
        (Some(other), _) => {
            return Err(ApiError::bad_request(
                "invalid_reason",
                format!(
                    "stop reason {} is not known; use \"api\" or \"signal\"",
                    volley_common::text::quoted(other)
                ),
            ))
        }
    };
    let run = visible_run(&app, &caller, id)?;
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
    let stopped_by = caller.user_id();
    if claimed.is_some_and(|c| c != stopped_by) {
        tracing::warn!(target: AUDIT, token = stopped_by, run = id, claimed = ?claimed, "stop: the body's stopped_by_id is ignored; the token says who stops");
    }
    let run = app.svc.stop_run_for(id, Some(stopped_by), signal)?;
    tracing::info!(target: AUDIT, token = stopped_by, run = id, signal = ?signal, "run stop requested");
    let mut view = run_view(&run);
    view.script = script_for(&app, &Select::all(), run.test_id);
    Ok(ok(&RunEnvelope { run: view }))
}

// ---------------------------------------------------------------------------------------------
// Volley extensions

/// Parses the run id of a `/v1/runs/{id}/…` route and checks the run exists for the caller.
fn existing_run(
    app: &AppState,
    caller: &Caller,
    raw_id: &str,
    raw_query: Option<&str>,
) -> Result<crate::model::RunHead, ApiError> {
    let id = parse_id(raw_id, "run", "/v1/runs/12/summary")?;
    Query::parse(raw_query)?.finish(&[])?;
    visible_run_head(app, caller, id)
}

/// The run, if it exists in a project the caller sees: other projects' runs are 404, as if
/// they did not exist.
pub(super) fn visible_run(
    app: &AppState,
    caller: &Caller,
    id: u64,
) -> Result<crate::model::Run, ApiError> {
    app.svc
        .get_run(id)
        .filter(|r| caller.sees(r.project_id))
        .ok_or_else(|| run_not_found(id))
}

/// [`visible_run`] for the routes that read a run's data rather than the run: its id, test,
/// project and status, without copying the run (a whole run grows with the square of its
/// agents, [`crate::model::RunHead`]).
fn visible_run_head(
    app: &AppState,
    caller: &Caller,
    id: u64,
) -> Result<crate::model::RunHead, ApiError> {
    app.svc
        .run_head(id)
        .filter(|r| caller.sees(r.project_id))
        .ok_or_else(|| run_not_found(id))
}

/// The test, if it exists in a project the caller sees.
fn visible_test(app: &AppState, caller: &Caller, id: u64) -> Result<crate::model::Test, ApiError> {
    app.svc
        .get_test(id)
        .filter(|t| caller.sees(t.project_id))
        .ok_or_else(|| test_not_found(id))
}

/// Per-agent utilization over a run
#[utoipa::path(get, path = "/v1/runs/{id}/agents", tag = "runs",
    params(("id" = u64, Path, description = "ID of the test run.")),
    responses(
        (status = 200, description = "One entry per agent of the run, with telemetry samples.", body = RunAgents),
        (status = 400, description = "Bad id or query.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    ))]
pub(super) async fn run_agents(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &caller, &raw_id, raw.as_deref())?;
    let agents = app
        .svc
        .run_agents(run.id)
        .ok_or_else(|| run_not_found(run.id))?;
    Ok(ok(&RunAgents {
        run_id: run.id,
        agents,
    }))
}

/// Live merged metric series of a run
///
/// The controller's merged per-interval series (exactly merged across agents), as the
/// controller produces them. `intervals=none` leaves the per-interval series out: the run's
/// totals alone cost the same at any age of the run, while every interval (up to an hour's
/// worth at 1 s) is merged again on each request, which is what a client polling the live
/// figures (`volley submit --wait` on a terminal) should not pay for.
#[utoipa::path(get, path = "/v1/runs/{id}/metrics", tag = "runs",
    params(
        ("id" = u64, Path, description = "ID of the test run."),
        ("intervals" = Option<String>, Query, description = "`all` (default): the totals and every interval's merged series; `none`: the totals only."),
    ),
    responses(
        (status = 200, description = "The merged series.", body = Object),
        (status = 400, description = "Bad id or query.", body = ErrorBody),
        (status = 404, description = "No such run (`run_not_found`), or no data yet (`metrics_not_available`).", body = ErrorBody),
    ))]
pub(super) async fn run_metrics(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let with_intervals = match q.take_one(&["intervals"])?.as_deref() {
        None | Some("all") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                INVALID_QUERY,
                format!(
                    "query parameter `intervals` is `{}`; use `all` (every interval's series) or `none` (the totals only)",
                    echo(other)
                ),
            ))
        }
    };
    q.finish(&["intervals"])?;
    let id = parse_id(&raw_id, "run", "/v1/runs/12/metrics")?;
    let run = visible_run_head(&app, &caller, id)?;
    let metrics = if with_intervals {
        app.svc.run_metrics(run.id)
    } else {
        app.svc.run_totals(run.id, &|_| true)
    };
    let metrics = metrics.ok_or_else(|| {
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
    Ok(ok(&metrics))
}

/// End-of-test summary of a run, as Volley's SummaryReport
///
/// The data `volley submit --wait` renders as the text summary (metrics with their values and
/// thresholds, the group tree, options, state and result).
#[utoipa::path(get, path = "/v1/runs/{id}/report", tag = "runs",
    params(("id" = u64, Path, description = "ID of the test run.")),
    responses(
        (status = 200, description = "The SummaryReport.", body = Object),
        (status = 400, description = "Bad id or query.", body = ErrorBody),
        (status = 404, description = "No such run (`run_not_found`), or no summary yet (`summary_not_available`).", body = ErrorBody),
    ))]
pub(super) async fn run_report(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &caller, &raw_id, raw.as_deref())?;
    let report = app.svc.run_report(run.id).ok_or_else(|| {
        ApiError::not_found(
            "summary_not_available",
            format!(
                "run {} has no summary yet: it is available once the run has ended",
                run.id
            ),
        )
    })?;
    Ok(ok(&report))
}

/// End-of-test summary of a run
///
/// The merged summary in the shape k6 passes to handleSummary(data).
#[utoipa::path(get, path = "/v1/runs/{id}/summary", tag = "runs",
    params(("id" = u64, Path, description = "ID of the test run.")),
    responses(
        (status = 200, description = "handleSummary-shaped data.", body = Object),
        (status = 400, description = "Bad id or query.", body = ErrorBody),
        (status = 404, description = "No such run (`run_not_found`), or no summary yet (`summary_not_available`).", body = ErrorBody),
    ))]
pub(super) async fn run_summary(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let run = existing_run(&app, &caller, &raw_id, raw.as_deref())?;
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
    Ok(ok(&summary))
}
