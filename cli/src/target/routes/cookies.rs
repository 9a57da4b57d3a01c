//! Cookies: `/cookies` shows the request's, `/cookies/set?k=v` and `/cookies/set/{name}/{value}`
//! set them, `/cookies/delete?k` expires them (each then redirects to `/cookies`).

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use serde_json::{json, Map, Value};
use url::form_urlencoded;

use super::{error, json_ok, path_after, percent_decode, redirect};

pub fn routes() -> Router {
    Router::new()
        .route("/cookies", any(cookies))
        .route("/cookies/set", any(set_query))
        .route("/cookies/set/", any(set_path))
        .route("/cookies/set/{*rest}", any(set_path))
        .route("/cookies/delete", any(delete_query))
}

async fn cookies(headers: HeaderMap) -> Response {
    json_ok(&json!({ "cookies": request_cookies(&headers) }))
}

async fn set_query(uri: Uri) -> Response {
    set_cookies(uri.query())
}

async fn set_path(uri: Uri) -> Response {
    set_cookie_path(path_after(&uri, "/cookies/set/"))
}

async fn delete_query(uri: Uri) -> Response {
    delete_cookies(uri.query())
}

/// `/cookies/set?k=v&...`: one `Set-Cookie` per pair, then 302 to `/cookies`.
fn set_cookies(query: Option<&str>) -> Response {
    let mut resp = redirect(StatusCode::FOUND, HeaderValue::from_static("/cookies"));
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match set_cookie_header(&name, &value) {
            Ok(h) => {
                resp.headers_mut().append(header::SET_COOKIE, h);
            }
            Err(msg) => return error(StatusCode::BAD_REQUEST, format!("/cookies/set: {msg}")),
        }
    }
    resp
}

/// `/cookies/set/{name}/{value}`: httpbin's path form of [`set_cookies`].
fn set_cookie_path(rest: &str) -> Response {
    let Some((name, value)) = rest.split_once('/') else {
        return error(
            StatusCode::BAD_REQUEST,
            "/cookies/set/{name}/{value}: both name and value are required",
        );
    };
    let (Some(name), Some(value)) = (percent_decode(name), percent_decode(value)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "/cookies/set/{name}/{value}: path is not valid percent-encoded UTF-8",
        );
    };
    match set_cookie_header(&name, &value) {
        Ok(h) => {
            let mut resp = redirect(StatusCode::FOUND, HeaderValue::from_static("/cookies"));
            resp.headers_mut().append(header::SET_COOKIE, h);
            resp
        }
        Err(msg) => error(StatusCode::BAD_REQUEST, format!("/cookies/set: {msg}")),
    }
}

/// `/cookies/delete?k&...`: expires each named cookie, then 302 to `/cookies`.
fn delete_cookies(query: Option<&str>) -> Response {
    let mut resp = redirect(StatusCode::FOUND, HeaderValue::from_static("/cookies"));
    for (name, _) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !is_cookie_name(&name) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("/cookies/delete: {name:?} is not a valid cookie name"),
            );
        }
        let value = format!("{name}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/");
        match HeaderValue::try_from(value) {
            Ok(h) => {
                resp.headers_mut().append(header::SET_COOKIE, h);
            }
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("/cookies/delete: {name:?} is not a valid cookie name"),
                )
            }
        }
    }
    resp
}

/// Builds `name=value; Path=/`, rejecting anything RFC 6265 forbids (which also rules out
/// header injection through the query string).
fn set_cookie_header(name: &str, value: &str) -> Result<HeaderValue, String> {
    if !is_cookie_name(name) {
        return Err(format!(
            "{name:?} is not a valid cookie name (RFC 6265 token)"
        ));
    }
    if !value.bytes().all(is_cookie_octet) {
        return Err(format!(
            "value of {name:?} contains characters not allowed in a cookie (space, quote, comma, semicolon, backslash or control)"
        ));
    }
    HeaderValue::try_from(format!("{name}={value}; Path=/"))
        .map_err(|_| format!("cookie {name:?} is not a valid header"))
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
}

fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Cookies sent by the client, from every `Cookie` header; last duplicate wins.
fn request_cookies(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            out.insert(k.trim().to_owned(), Value::String(v.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_names() {
        assert!(is_cookie_name("session_id"));
        assert!(!is_cookie_name("a=b") && !is_cookie_name("") && !is_cookie_name("a b"));
    }
}
