//! The target's endpoints as one axum router, merged from one module per family. Every route
//! takes any method (as httpbin does; `/get`, `/post` … check theirs themselves), and handlers
//! read path parameters from the raw path, not percent-decoded, except where a family says so.
//! Every client mistake gets a JSON `{"error": …}` so tests can see why.

use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};

mod auth;
mod bodies;
mod coding;
mod cookies;
mod echo;
mod forms;
mod redirects;
mod status;

#[cfg(test)]
pub(super) use echo::read_body;

/// Every endpoint of the target.
pub fn router() -> Router {
    Router::new()
        .route("/", any(|| async { root() }))
        .merge(echo::routes())
        .merge(bodies::routes())
        .merge(status::routes())
        .merge(redirects::routes())
        .merge(cookies::routes())
        .merge(auth::routes())
        .merge(coding::routes())
        .fallback(not_found)
}

/// `GET /`, the benchmark route: a static body and one header. The server answers it before
/// routing; the route is here for completeness (and for the router's own tests).
pub(super) fn root() -> Response {
    with_type(StatusCode::OK, TEXT_PLAIN, Bytes::from_static(b"ok"))
}

/// Anything else: 404 with the path, never cached.
async fn not_found(uri: Uri) -> Response {
    let mut resp = json_response(
        StatusCode::NOT_FOUND,
        &json!({ "error": "not found", "path": uri.path() }),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The part of the request's path after `prefix`, as sent (not percent-decoded).
fn path_after<'a>(uri: &'a Uri, prefix: &str) -> &'a str {
    uri.path().strip_prefix(prefix).unwrap_or_default()
}

fn with_type(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    resp
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    // Serialising a `Value` cannot fail (all keys are strings); fall back to `null` regardless.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    with_type(status, APPLICATION_JSON, Bytes::from(body))
}

fn json_ok(value: &Value) -> Response {
    json_response(StatusCode::OK, value)
}

/// A JSON `{"error": msg}` response.
fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &json!({ "error": msg.into() }))
}

fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// A bodiless redirect; `location` must already be a valid header value.
fn redirect(status: StatusCode, location: HeaderValue) -> Response {
    let mut resp = empty(status);
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}

/// Decodes `%XX` escapes in a path segment (`+` stays literal); `None` if the result is not UTF-8.
/// Malformed escapes are kept verbatim, as browsers do.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz+%4").as_deref(), Some("%zz+%4"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(path_after(&Uri::from_static("/a/b%20c?q"), "/a/"), "b%20c");
    }
}
