//! Redirects: the 302 chains `/redirect/{n}`, `/relative-redirect/{n}` and
//! `/absolute-redirect/{n}` ending at `/get`, and `/redirect-to?url=..&status_code=..`.

use axum::extract::{Extension, Request};
use axum::http::header::HeaderValue;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use url::form_urlencoded;

use super::echo::request_host;
use super::{error, path_after, redirect};
use crate::target::ConnInfo;

pub fn routes() -> Router {
    Router::new()
        .route("/redirect-to", any(redirect_to_handler))
        .route("/redirect/", any(redirect_chain))
        .route("/redirect/{*n}", any(redirect_chain))
        .route("/relative-redirect/", any(relative_chain))
        .route("/relative-redirect/{*n}", any(relative_chain))
        .route("/absolute-redirect/", any(absolute_chain))
        .route("/absolute-redirect/{*n}", any(absolute_chain))
}

async fn redirect_to_handler(req: Request) -> Response {
    redirect_to(req.uri().query())
}

async fn redirect_chain(req: Request) -> Response {
    redirect_n(path_after(req.uri(), "/redirect/"), "/redirect", None)
}

async fn relative_chain(req: Request) -> Response {
    redirect_n(
        path_after(req.uri(), "/relative-redirect/"),
        "/relative-redirect",
        None,
    )
}

async fn absolute_chain(Extension(conn): Extension<ConnInfo>, req: Request) -> Response {
    let base = format!("http://{}", request_host(req.headers(), conn));
    redirect_n(
        path_after(req.uri(), "/absolute-redirect/"),
        "/absolute-redirect",
        Some(&base),
    )
}

/// `/redirect/{n}` and friends: a 302 chain `{prefix}/{n-1}` … ending at `/get`.
fn redirect_n(n: &str, prefix: &str, base: Option<&str>) -> Response {
    let n = match n.parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{prefix}/{{n}}: {n:?} must be a whole number >= 1"),
            )
        }
    };
    let base = base.unwrap_or("");
    let location = if n == 1 {
        format!("{base}/get")
    } else {
        format!("{base}{prefix}/{}", n - 1)
    };
    match HeaderValue::try_from(location) {
        Ok(loc) => redirect(StatusCode::FOUND, loc),
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "redirect: the Host header makes an invalid Location",
        ),
    }
}

/// `/redirect-to?url=..&status_code=..`: redirect anywhere with a 3xx status (default 302).
fn redirect_to(query: Option<&str>) -> Response {
    let mut url = None;
    let mut code = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "url" => url = Some(v.into_owned()),
            "status_code" => code = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(url) = url else {
        return error(
            StatusCode::BAD_REQUEST,
            "/redirect-to: the `url` query parameter is required",
        );
    };
    let status = match code {
        None => StatusCode::FOUND,
        Some(c) => match c
            .parse::<u16>()
            .ok()
            .filter(|c| (300..=399).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(s) => s,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("/redirect-to: status_code {c:?} must be a number in 300..=399"),
                )
            }
        },
    };
    match HeaderValue::try_from(url) {
        Ok(loc) => redirect(status, loc),
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "/redirect-to: `url` contains characters not allowed in a header",
        ),
    }
}
