//! The web dashboard (`docs/dashboard.md`): its page at `/` for browsers, its files under
//! `/ui/` (embedded in the binary, so serving it needs nothing on disk and building Volley needs
//! no Node), and its live streams under `/v1/live/` (`live.rs`, `hub.rs`). The routes sit behind the API's
//! guard, so the dashboard works with API tokens like any other client (ARCHITECTURE.md). A
//! run's self-contained HTML report is `report.rs`; the dashboard of one `volley run` is
//! [`crate::local_dashboard`].

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::ApiError;

mod agent_series;
mod checks;
mod hub;
mod live;
mod report;

pub(crate) use agent_series::since as agent_since;
pub use agent_series::{AgentSeries, AgentSince, MAX_AGENT_POINTS};
pub use checks::{checks as live_checks, CheckCount, MAX_CHECKS};
pub(crate) use hub::Hubs;
pub use live::RunPoint;
pub(crate) use live::{open_streams, run_points};
pub use report::report_html;

/// The dashboard's files: name, media type, contents.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/pages.js"),
    ),
    (
        "feed.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/feed.js"),
    ),
    (
        "checks.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/checks.js"),
    ),
    (
        "generators.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/generators.js"),
    ),
    (
        "markers.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/markers.js"),
    ),
    (
        "sparkline.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/sparkline.js"),
    ),
    (
        "metrics.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/metrics.js"),
    ),
    (
        "format.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/format.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("assets/uPlot.LICENSE"),
    ),
];

/// The page itself: a shell the ES modules fill in.
const INDEX: &str = include_str!("assets/index.html");

/// Only the dashboard's own files run: no inline script, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes (merged into the API's router, behind its guard).
pub(crate) fn routes() -> Router<crate::api::AppState> {
    Router::new()
        .route("/ui/{file}", get(asset))
        .route("/v1/live/runs", get(live::runs))
        .route("/v1/live/runs/{id}", get(hub::run))
        .route("/v1/live/agents", get(live::agents))
        .route("/v1/test-runs/{id}/report", get(report::report))
}

/// Whether a request to `/` is a browser's asking for a page (its `Accept` names `text/html`),
/// rather than a program's asking for the JSON index.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// The dashboard's page.
pub(crate) fn index_page() -> Response {
    let mut resp = (StatusCode::OK, INDEX).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    secured(resp)
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let Some((_, mime, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        let known: Vec<&str> = ASSETS.iter().map(|(n, _, _)| *n).collect();
        return Err(ApiError::not_found(
            "asset_not_found",
            format!(
                "the dashboard has no file `{}`; it has {}",
                volley_common::text::echo(&file),
                known.join(", ")
            ),
        ));
    };
    let mut resp = (StatusCode::OK, *body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // The files change only with the binary; a reload after an upgrade revalidates them.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(secured(resp))
}

#[cfg(test)]
mod tests;
