//! Authentication: `/basic-auth/{user}/{pass}` (Basic credentials must match) and `/bearer`
//! (any Bearer token).

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use base64::Engine as _;
use serde_json::json;

use super::{error, json_ok, json_response, path_after, percent_decode};

pub fn routes() -> Router {
    Router::new()
        .route("/basic-auth/", any(basic_auth))
        .route("/basic-auth/{*rest}", any(basic_auth))
        .route("/bearer", any(bearer))
}

/// `/basic-auth/{user}/{pass}`: 200 when the request carries exactly those Basic credentials.
async fn basic_auth(uri: Uri, headers: HeaderMap) -> Response {
    let rest = path_after(&uri, "/basic-auth/");
    let Some((user, pass)) = rest.split_once('/') else {
        return error(
            StatusCode::BAD_REQUEST,
            "/basic-auth/{user}/{pass}: both user and password are required",
        );
    };
    let (Some(user), Some(pass)) = (percent_decode(user), percent_decode(pass)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "/basic-auth/{user}/{pass}: path is not valid percent-encoded UTF-8",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_prefix_ignore_case(v.trim(), "basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let ok =
        given.as_deref().and_then(|g| g.split_once(':')) == Some((user.as_str(), pass.as_str()));
    if ok {
        json_ok(&json!({ "authenticated": true, "user": user }))
    } else {
        let mut resp = json_response(StatusCode::UNAUTHORIZED, &json!({ "authenticated": false }));
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Fake Realm\""),
        );
        resp
    }
}

/// `/bearer`: 200 with the token when an `Authorization: Bearer <token>` header is present.
async fn bearer(headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_prefix_ignore_case(v.trim(), "bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match token {
        Some(t) => json_ok(&json!({ "authenticated": true, "token": t })),
        None => {
            let mut resp =
                json_response(StatusCode::UNAUTHORIZED, &json!({ "authenticated": false }));
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ignoring_case() {
        assert_eq!(strip_prefix_ignore_case("BASIC xyz", "basic "), Some("xyz"));
        assert_eq!(strip_prefix_ignore_case("é", "basic "), None);
    }
}
