//! httpbin's request inspection: `/echo`, `/anything[/…]`, the method-checked `/get`, `/post`,
//! `/put`, `/patch`, `/delete`, `/delay/{ms}` (wait, then echo), `/headers`, `/ip` and
//! `/user-agent`.

use std::time::Duration;

use axum::extract::{Extension, Request};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body as HttpBody;
use serde_json::{json, Map, Value};
use url::form_urlencoded;

use super::forms::{body_string, form_and_files, multi_map};
use super::{error, json_ok, path_after};
use crate::target::ConnInfo;
use crate::target::{MAX_DELAY, MAX_REQUEST_BODY};

pub fn routes() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/anything", any(echo))
        .route("/anything/", any(echo))
        .route("/anything/{*rest}", any(echo))
        .route("/get", any(get))
        .route("/post", any(post))
        .route("/put", any(put))
        .route("/patch", any(patch))
        .route("/delete", any(delete))
        .route("/delay/", any(delay))
        .route("/delay/{*ms}", any(delay))
        .route("/headers", any(headers))
        .route("/ip", any(ip))
        .route("/user-agent", any(user_agent))
}

/// `/echo`, `/anything` …: the request as httpbin-style JSON.
async fn echo(Extension(conn): Extension<ConnInfo>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    match read_body(&parts.headers, body).await {
        Ok(body) => json_ok(&echo_json(&parts, &body, conn)),
        Err(resp) => resp,
    }
}

async fn get(conn: Extension<ConnInfo>, req: Request) -> Response {
    checked_echo(conn, req, &[Method::GET, Method::HEAD], "GET, HEAD").await
}

async fn post(conn: Extension<ConnInfo>, req: Request) -> Response {
    checked_echo(conn, req, &[Method::POST], "POST").await
}

async fn put(conn: Extension<ConnInfo>, req: Request) -> Response {
    checked_echo(conn, req, &[Method::PUT], "PUT").await
}

async fn patch(conn: Extension<ConnInfo>, req: Request) -> Response {
    checked_echo(conn, req, &[Method::PATCH], "PATCH").await
}

async fn delete(conn: Extension<ConnInfo>, req: Request) -> Response {
    checked_echo(conn, req, &[Method::DELETE], "DELETE").await
}

/// An echo for the `allowed` methods; 405 with `Allow: {allow}` for the others.
async fn checked_echo(
    conn: Extension<ConnInfo>,
    req: Request,
    allowed: &[Method],
    allow: &'static str,
) -> Response {
    if allowed.contains(req.method()) {
        return echo(conn, req).await;
    }
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not accept {}; use {allow}",
            req.uri().path(),
            req.method()
        ),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// `/delay/{ms}`: waits (at most [`MAX_DELAY`]), then echoes.
async fn delay(conn: Extension<ConnInfo>, req: Request) -> Response {
    match parse_delay(path_after(req.uri(), "/delay/")) {
        Ok(wait) => {
            tokio::time::sleep(wait).await;
            echo(conn, req).await
        }
        Err(msg) => error(StatusCode::BAD_REQUEST, msg),
    }
}

/// Parses `/delay/{ms}`, clamping to [`MAX_DELAY`]; the error is the message for a 400.
pub(in crate::target) fn parse_delay(ms: &str) -> Result<Duration, String> {
    let ms = ms
        .parse::<u64>()
        .map_err(|_| format!("/delay/{{ms}}: {ms:?} is not a whole number of milliseconds"))?;
    Ok(Duration::from_millis(ms).min(MAX_DELAY))
}

async fn headers(headers: HeaderMap) -> Response {
    json_ok(&json!({ "headers": headers_json(&headers) }))
}

async fn ip(Extension(conn): Extension<ConnInfo>) -> Response {
    json_ok(&json!({ "origin": conn.peer.ip().to_string() }))
}

async fn user_agent(headers: HeaderMap) -> Response {
    json_ok(&json!({ "user-agent": header_str(&headers, &header::USER_AGENT) }))
}

/// Reads the whole request body, at most [`MAX_REQUEST_BODY`]; a declared or actual larger body
/// gets 413 without buffering it.
pub(in crate::target) async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, Response>
where
    B: HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the {MAX_REQUEST_BODY}-byte limit of the target server"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        )),
    }
}

fn echo_json(parts: &Parts, body: &[u8], conn: ConnInfo) -> Value {
    let (form, files) = form_and_files(header_str(&parts.headers, &header::CONTENT_TYPE), body);
    let json_body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    json!({
        "method": parts.method.as_str(),
        "url": full_url(&parts.uri, &parts.headers, conn),
        "path": parts.uri.path(),
        "args": multi_map(form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))),
        "headers": headers_json(&parts.headers),
        "origin": conn.peer.ip().to_string(),
        "body": body_string(body, "application/octet-stream"),
        "json": json_body,
        "form": form,
        "files": files,
    })
}

/// The request URL as the client addressed it (`http://host/path?query`).
fn full_url(uri: &Uri, headers: &HeaderMap, conn: ConnInfo) -> String {
    if uri.scheme().is_some() {
        return uri.to_string();
    }
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    format!("http://{}{pq}", request_host(headers, conn))
}

/// The `Host` the client sent, else the address it connected to.
pub(super) fn request_host(headers: &HeaderMap, conn: ConnInfo) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map_or_else(|| conn.local.to_string(), str::to_owned)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Request headers with httpbin's Title-Case names; repeated headers are joined with `, `
/// (`; ` for `Cookie`, whose grammar uses semicolons).
fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let sep = if name == header::COOKIE { "; " } else { ", " };
        let mut joined = String::new();
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                joined.push_str(sep);
            }
            joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
        out.insert(title_case(name.as_str()), Value::String(joined));
    }
    out
}

fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_capped() {
        assert_eq!(parse_delay("250").ok(), Some(Duration::from_millis(250)));
        assert_eq!(parse_delay("999999999").ok(), Some(MAX_DELAY));
        assert_eq!(parse_delay("18446744073709551615").ok(), Some(MAX_DELAY));
        assert!(parse_delay("1.5").is_err());
    }

    #[test]
    fn header_names_in_title_case() {
        assert_eq!(title_case("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(title_case("host"), "Host");
    }
}
