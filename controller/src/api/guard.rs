//! The door of every route: browser protections, authentication and the role a route needs,
//! before any handler runs. Handlers then read the [`Caller`] to scope what they show to its
//! project (see `crate::auth` for the model).
//!
//! Browser protections, because a web page in an operator's browser can send requests to the
//! controller without reading the answers:
//! - a request with an `Origin` that is not the controller's own (scheme and `Host`) is refused:
//!   browsers send `Origin` on cross-origin requests, so a foreign page cannot act through it;
//! - a state-changing request (not GET/HEAD) must carry an `Authorization` or
//!   `Volley-Stream-Secret` header, or a JSON or protobuf body: the bodies a form or a
//!   `fetch` without CORS pre-flight can send (`text/plain`, `multipart/form-data`,
//!   `application/x-www-form-urlencoded`) are refused without credentials;
//! - on an open API (no tokens) the `Host` must be loopback or an IP address, so a DNS name
//!   rebound to 127.0.0.1 by a foreign page does not reach it. With tokens, browsers never send
//!   the token by themselves, so a rebound name gets 401.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use volley_api::{Role, STREAM_SECRET_HEADER};
use volley_common::text::echo;

use super::extract::{is_json, media_type, AppState, PROTOBUF};
use super::ApiError;
use crate::audit::AUDIT;
use crate::auth::{parse_authorization, AuthError, Caller};

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone: the index, `/health`, the probes `/healthz` and `/readyz`, `/openapi.json`, the dashboard's files (no data in them).
    Public,
    /// A token with at least this role (anyone on an open API).
    Role(Role),
    /// The streamed run's own secret, checked by its handler.
    StreamSecret,
}

/// The access rule of a route, by method and matched path.
pub(crate) fn access(method: &Method, path: &str) -> Access {
    match path {
        "/" | "/health" | "/healthz" | "/readyz" | "/openapi.json" | "/ui/{file}" => Access::Public,
        "/v1/streamed-runs/{id}/metrics" | "/v1/streamed-runs/{id}/finish" => Access::StreamSecret,
        p if p.starts_with("/v1/tokens")
            || p.starts_with("/v1/agents")
            || p.starts_with("/v1/controllers")
            || p == "/v1/live/agents" =>
        {
            Access::Role(Role::Admin)
        }
        _ if method == Method::GET || method == Method::HEAD => Access::Role(Role::Read),
        _ => Access::Role(Role::Submit),
    }
}

fn peer_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The middleware: refuses what it must, else runs the handler with the [`Caller`] attached.
pub(crate) async fn guard(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let rule = access(req.method(), &path);
    if rule == Access::Public {
        return next.run(req).await;
    }
    let peer = peer_ip(&req);
    let open = !app.svc.auth_required();
    if let Err(e) = browser_checks(req.method(), req.headers(), open) {
        tracing::warn!(target: AUDIT, %peer, method = %req.method(), path = %echo(req.uri().path()), code = %e.code, "request refused: {}", e.message);
        return e.into_response();
    }
    let caller = if open || rule == Access::StreamSecret {
        Caller::open_or_stream(open)
    } else {
        match authenticate(&app, &req, peer) {
            Ok(c) => c,
            Err(resp) => return resp,
        }
    };
    if let Access::Role(need) = rule {
        if !caller.has(need) {
            let e = ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this token's role is {}; {} {} needs the {} role{}",
                    caller.role,
                    req.method(),
                    req.uri().path(),
                    need,
                    if need == Role::Admin {
                        ""
                    } else {
                        " or higher"
                    }
                ),
            );
            tracing::warn!(target: AUDIT, %peer, token = caller.user_id(), role = %caller.role, method = %req.method(), path = %echo(req.uri().path()), "refused: role {} needed", need);
            return e.into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

impl Caller {
    /// The caller of a route on an open API, or of a streamed run's route (whose secret the
    /// handler checks): no token, and on a closed API no role beyond reading its own run.
    fn open_or_stream(open: bool) -> Caller {
        if open {
            Caller::open()
        } else {
            Caller {
                token_id: None,
                role: Role::Read,
                project_id: 0,
            }
        }
    }
}

/// Checks the token of a request on a closed API, with the per-peer back-off and audit lines.
#[allow(clippy::result_large_err)]
fn authenticate(app: &AppState, req: &Request, peer: IpAddr) -> Result<Caller, Response> {
    let now = Instant::now();
    // A path can be 64 KiB (hyper's bound on a request head): the audit lines repeat 200 bytes.
    let (method, path) = (req.method(), echo(req.uri().path()));
    if let Err(wait) = app.backoff.check(peer, now) {
        tracing::warn!(target: AUDIT, %peer, %method, %path, "refused: too many failed attempts from this address");
        let secs = wait.as_secs() + 1;
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!(
                "too many requests with invalid credentials from {peer}; try again in {secs} s"
            ),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(resp);
    }
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let result = match (values.next(), values.next()) {
        (None, _) => Err(AuthError::Missing),
        (Some(_), Some(_)) => Err(AuthError::Malformed),
        (Some(v), None) => parse_authorization(v.as_bytes()).and_then(|s| app.svc.authenticate(s)),
    };
    match result {
        Ok(caller) => {
            app.backoff.succeeded(peer);
            tracing::info!(target: AUDIT, %peer, token = caller.user_id(), role = %caller.role, project = caller.project_id, %method, %path, "token used");
            Ok(caller)
        }
        Err(e) => {
            let lockout = if e == AuthError::Missing {
                std::time::Duration::ZERO
            } else {
                app.backoff.failed(peer, now)
            };
            tracing::warn!(target: AUDIT, %peer, %method, %path, lockout_s = lockout.as_secs_f64(), "authentication failed: {e}");
            let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
                .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Token realm=\"volley\""),
            );
            Err(resp)
        }
    }
}

/// The browser protections of the module doc.
fn browser_checks(method: &Method, headers: &HeaderMap, open: bool) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        let same = host
            .as_deref()
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
        if !same {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin_refused",
                format!(
                    "requests from web pages of another origin ({origin}) are refused; call the API from a program, not a browser page"
                ),
            ));
        }
    }
    if open {
        if let Some(h) = &host {
            if !local_host(h) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "host_refused",
                    format!(
                        "this controller has no API tokens, so it answers only requests addressed to loopback or an IP address, not `{h}`; configure an admin token (VOLLEY_ADMIN_TOKEN or --admin-token-file) to serve other names"
                    ),
                ));
            }
        }
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let credentials =
        headers.contains_key(header::AUTHORIZATION) || headers.contains_key(STREAM_SECRET_HEADER);
    let typed = media_type(headers).is_some_and(|m| is_json(&m) || m == PROTOBUF);
    if changes_state && !credentials && !typed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "credentials_or_json_required",
            "a request that changes state must carry an Authorization header (the API token) or a JSON body (Content-Type: application/json); forms and text bodies without credentials are refused, as a web page could send them",
        ));
    }
    Ok(())
}

/// `localhost`, `*.localhost` or an IP literal, with or without a port.
fn local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<IpAddr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(n, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                n
            } else {
                host
            }
        }),
    };
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_documented_roles() {
        assert_eq!(access(&Method::GET, "/health"), Access::Public);
        assert_eq!(access(&Method::GET, "/healthz"), Access::Public);
        assert_eq!(access(&Method::GET, "/readyz"), Access::Public);
        // Metrics name agents and count runs: a scraper needs a read token (docs/security.md).
        assert_eq!(access(&Method::GET, "/metrics"), Access::Role(Role::Read));
        assert_eq!(
            access(&Method::GET, "/loadtests/v2/runs"),
            Access::Role(Role::Read)
        );
        assert_eq!(
            access(&Method::POST, "/loadtests/v2/tests"),
            Access::Role(Role::Submit)
        );
        assert_eq!(
            access(&Method::GET, "/v1/agents"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::GET, "/v1/controllers"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::DELETE, "/v1/controllers/{id}"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::POST, "/v1/controllers"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::GET, "/v1/controllers/state"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::GET, "/v1/live/agents"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::GET, "/v1/live/runs/{id}"),
            Access::Role(Role::Read)
        );
        assert_eq!(access(&Method::GET, "/ui/{file}"), Access::Public);
        assert_eq!(
            access(&Method::DELETE, "/v1/tokens/{id}"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::POST, "/v1/streamed-runs/{id}/metrics"),
            Access::StreamSecret
        );
        assert_eq!(
            access(&Method::POST, "/v1/streamed-runs"),
            Access::Role(Role::Submit)
        );
    }

    #[test]
    fn local_hosts() {
        for h in [
            "localhost",
            "localhost:6565",
            "127.0.0.1:6565",
            "[::1]:6565",
            "10.1.2.3",
        ] {
            assert!(local_host(h), "{h}");
        }
        for h in ["evil.example", "evil.example:6565", "127.0.0.1.nip.io"] {
            assert!(!local_host(h), "{h}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn browser_requests_are_refused() {
        let post = Method::POST;
        let text = headers(&[("content-type", "text/plain")]);
        assert!(browser_checks(&post, &text, false).is_err());
        assert!(browser_checks(&Method::GET, &text, false).is_ok());
        let json = headers(&[("content-type", "application/json")]);
        assert!(browser_checks(&post, &json, false).is_ok());
        let authed = headers(&[
            ("content-type", "multipart/form-data"),
            ("authorization", "Token x"),
        ]);
        assert!(browser_checks(&post, &authed, false).is_ok());
        let foreign = headers(&[
            ("host", "127.0.0.1:6565"),
            ("origin", "http://evil.example"),
            ("content-type", "application/json"),
        ]);
        assert!(browser_checks(&post, &foreign, false).is_err());
        let same = headers(&[
            ("host", "127.0.0.1:6565"),
            ("origin", "http://127.0.0.1:6565"),
            ("content-type", "application/json"),
        ]);
        assert!(browser_checks(&post, &same, false).is_ok());
        let rebound = headers(&[("host", "evil.example:6565")]);
        assert!(browser_checks(&Method::GET, &rebound, true).is_err());
        assert!(browser_checks(&Method::GET, &rebound, false).is_ok());
    }
}
