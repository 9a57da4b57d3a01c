//! The service routes: the index (the dashboard's page for browsers), health and the probes,
//! Prometheus metrics, the OpenAPI document, and the answers for unknown routes and methods.
//! Each route's `#[utoipa::path]` attribute is its OpenAPI description.

use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use volley_api::{ErrorBody, Health, Index, Links, Probe, StoreHealth};
use volley_common::text::echo;

use super::extract::{ok, AppState};
use super::ApiError;

/// Name, version and links (the dashboard for browsers)
///
/// A request whose `Accept` names `text/html` (a browser's) gets the web dashboard's page
/// instead (docs/dashboard.md).
#[utoipa::path(get, path = "/", tag = "meta",
    responses((status = 200, description = "Links to the main resources (JSON); the dashboard's HTML page when `Accept` names `text/html`.", body = Index)))]
pub(super) async fn root(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if super::dashboard::wants_html(&headers) {
        return super::dashboard::index_page();
    }
    ok(&Index {
        name: "volley-controller".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        links: Links {
            openapi: "/openapi.json".into(),
            health: "/health".into(),
            tests: "/loadtests/v2/tests".into(),
            runs: "/loadtests/v2/runs".into(),
            agents: "/v1/agents".into(),
        },
        auth_required: app.svc.auth_required(),
    })
}

/// Health: serving, and whether the store accepts writes
#[utoipa::path(get, path = "/health", tag = "meta",
    responses(
        (status = 200, description = "The controller is serving and its store accepts writes.", body = Health),
        (status = 503, description = "`store_degraded`: the store does not accept writes (e.g. its disk is full); reads work, writes answer 503 until it reopens itself. The message says why and since when.", body = ErrorBody),
    ))]
pub(super) async fn health(State(app): State<AppState>) -> Result<Response, ApiError> {
    match app.svc.store_health() {
        crate::store::StoreHealth::Ok => Ok(ok(&Health {
            status: "ok".into(),
            store: StoreHealth {
                status: "ok".into(),
            },
        })),
        crate::store::StoreHealth::Degraded {
            reason,
            since,
            attempts,
        } => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_degraded",
            format!(
                "the controller's store is degraded since {since}: {reason}; reads work, writes \
                 answer 503 until the store reopens itself ({attempts} reopen attempts so far; \
                 it retries with back-off, free space on the --data-dir filesystem)"
            ),
        )),
    }
}

/// Liveness: the process answers
///
/// For orchestrators' liveness probes (docs/rest-api.md#health-probes): public, says nothing but `ok`.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "The controller's process answers.", body = Probe)))]
pub(super) async fn healthz() -> Response {
    ok(&Probe {
        status: "ok".into(),
    })
}

/// Readiness: the store is open and accepts writes, and in a Raft group a leader is known
///
/// For orchestrators' readiness probes (docs/rest-api.md#health-probes): public, so the 503's reason is
/// short and names no path or error; `GET /health` (also public) and the logs say more. A
/// member of a Raft group that knows no leader (or not yet its API address) could neither take
/// a write nor send it on, so it is not ready.
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "The controller is ready: its store accepts writes and, in a Raft group, it knows the leader.", body = Probe),
        (status = 503, description = "`not_ready`: the store does not accept writes (it reopens itself; `GET /health` says why), or no Raft leader is known yet.", body = ErrorBody),
    ))]
pub(super) async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    use crate::store::Leadership;
    let not_ready = |message| {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            message,
        ))
    };
    if !app.svc.store_health().is_ok() {
        return not_ready("not ready: the store does not accept writes; GET /health says why");
    }
    match app.svc.leadership() {
        Leadership::Here | Leadership::Elsewhere { api: Some(_), .. } => Ok(ok(&Probe {
            status: "ok".into(),
        })),
        Leadership::Elsewhere { api: None, .. } | Leadership::Unknown => {
            not_ready("not ready: no Raft leader known yet")
        }
    }
}

/// Prometheus metrics
///
/// Runs by status, the queue, agents by state and their heartbeat age, read at scrape time,
/// and the batches merged and checkpoints written (docs/rest-api.md#prometheus-metrics). Like every `GET`, it needs a `read`-role token once
/// the controller has tokens.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus' text exposition format 0.0.4.", content_type = "text/plain", body = String)))]
pub(super) async fn metrics(State(app): State<AppState>) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let body = super::metrics::render(app.svc.as_ref(), now);
    ([(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], body).into_response()
}

/// This document
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object)))]
pub(super) async fn openapi_json() -> Response {
    ok(super::openapi_document())
}

pub(super) async fn route_not_found(uri: Uri) -> ApiError {
    let path = echo(uri.path());
    let hint = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => format!(" (did you mean `{p}`, without the trailing slash?)"),
        _ => String::new(),
    };
    ApiError::not_found(
        "route_not_found",
        format!("no route for `{path}`{hint}; GET /openapi.json describes every route"),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on `{}`; the Allow header lists the methods that are, and GET /openapi.json describes every route",
            echo(uri.path())
        ),
    )
}
