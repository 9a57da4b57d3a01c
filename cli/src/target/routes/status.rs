//! `/status/{code}`: an empty response with that status, plus what httpbin adds (a working
//! `Location` for redirects, the authentication challenges of 401 and 407).

use axum::http::header::{self, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;

use super::{empty, error, path_after};

pub fn routes() -> Router {
    Router::new()
        .route("/status/", any(status))
        .route("/status/{*code}", any(status))
}

/// `/status/{code}`: empty body with that status. 1xx codes are rejected because HTTP/1.1 cannot
/// carry them as a final response (hyper would turn them into a 500).
async fn status(uri: Uri) -> Response {
    let code = path_after(&uri, "/status/");
    let Ok(n) = code.parse::<u16>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/status/{{code}}: {code:?} is not a number; use 200..=599"),
        );
    };
    if !(100..=599).contains(&n) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/status/{{code}}: {n} is outside 100..=599"),
        );
    }
    if n < 200 {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/status/{{code}}: {n} is informational and cannot be a final HTTP/1.1 response; use 200..=599"),
        );
    }
    let Ok(status) = StatusCode::from_u16(n) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/status/{{code}}: {n} is not a valid status"),
        );
    };
    let mut resp = empty(status);
    let headers = resp.headers_mut();
    match n {
        // Like httpbin: redirect statuses lead somewhere that works, so followers end at 200.
        301 | 302 | 303 | 305 | 307 | 308 => {
            headers.insert(header::LOCATION, HeaderValue::from_static("/redirect/1"));
        }
        401 => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Fake Realm\""),
            );
        }
        407 => {
            headers.insert(
                header::PROXY_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Fake Realm\""),
            );
        }
        _ => {}
    }
    resp
}
