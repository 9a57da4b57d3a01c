//! `volley target`: a local httpbin-like HTTP/1.1 server.
//!
//! Examples, tests and benchmarks point at this server so that nothing needs the internet. It is
//! also the benchmark target for wrk/k6 comparisons, so the hot `/` path does no allocation-heavy
//! work (static body, one header), accepted sockets get `TCP_NODELAY` (Nagle plus delayed ACKs
//! otherwise add ~40 ms to small responses) and the worker count is configurable.
//!
//! Everything read from the network is bounded: request bodies are capped at
//! [`MAX_REQUEST_BODY`] (413 beyond), header size and count use hyper's limits, `/delay` is capped
//! at [`MAX_DELAY`] and `/bytes` at [`MAX_BYTES`].

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use url::form_urlencoded;

/// Largest request body the server reads; larger bodies get 413 so a client cannot exhaust memory.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// Longest `/delay/{ms}` wait; longer requests are clamped (like httpbin) so a typo cannot park a
/// connection for hours.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Largest `/bytes/{n}` response; larger requests get 400 rather than a silently shorter body,
/// which would skew data-received metrics without anyone noticing.
pub const MAX_BYTES: u64 = 100 * 1024 * 1024;

/// How to run the target server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Address to bind; port 0 picks a free port (the real one is printed).
    pub listen: SocketAddr,
    /// Runtime worker threads. `1` uses a current-thread runtime (lowest overhead for single-core
    /// benchmarks); `0` means one worker per available CPU.
    pub threads: usize,
}

/// Builds the runtime, binds `cfg.listen`, prints `volley target listening on http://ADDR` to
/// stdout (flushed, so a parent process can wait for it) and serves until SIGINT or SIGTERM.
pub fn run_blocking(cfg: TargetConfig) -> anyhow::Result<()> {
    run_until(&cfg, &mut io::stdout(), shutdown_signal())
}

/// [`run_blocking`] with the output sink and the shutdown trigger injected, so it can be tested.
/// `shutdown` is only polled inside the runtime (signal handlers need one); an error from it
/// stops the server and is returned.
fn run_until<W, F>(cfg: &TargetConfig, out: &mut W, shutdown: F) -> anyhow::Result<()>
where
    W: Write + ?Sized,
    F: Future<Output = io::Result<()>>,
{
    let runtime = build_runtime(cfg.threads)?;
    runtime.block_on(async {
        let listener = TcpListener::bind(cfg.listen).await.with_context(|| {
            format!(
                "cannot bind target --listen {}; pick a free address or port 0",
                cfg.listen
            )
        })?;
        let addr = listener
            .local_addr()
            .context("cannot read the target's bound address")?;
        writeln!(out, "volley target listening on http://{addr}")
            .and_then(|()| out.flush())
            .context("cannot write the target's listening line to stdout")?;
        tokio::select! {
            res = serve(listener) => res.context("target server stopped accepting connections"),
            res = shutdown => res.context("cannot install the target's SIGINT/SIGTERM handlers"),
        }
    })
}

/// A current-thread runtime for one worker (no cross-thread wake-ups), multi-thread otherwise.
fn build_runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder
        .enable_all()
        .thread_name("volley-target")
        .build()
        .with_context(|| format!("cannot start the target runtime with {threads} worker threads; try a smaller --threads"))
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() -> io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            res = tokio::signal::ctrl_c() => res,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Accepts and serves connections until this future is dropped. Connection tasks live in a
/// `JoinSet`, so dropping the future also aborts every open connection.
///
/// Per-connection accept errors are skipped and resource exhaustion (e.g. too many open files)
/// is retried after a short pause; only an error meaning the listener itself is unusable is
/// returned.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    let local = listener.local_addr()?;
    let mut http = hyper::server::conn::http1::Builder::new();
    // Aggregating flushes lets pipelined requests share one write; sequential keep-alive
    // traffic still flushes as soon as the read side would block.
    http.keep_alive(true).pipeline_flush(true);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Best effort: a failure only costs latency, never correctness.
                    let _ = stream.set_nodelay(true);
                    let conn = ConnInfo { peer, local };
                    let http = http.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| handle(req, conn));
                        // Errors here are the client's (reset, malformed request): nothing to do.
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "target: accept failed; retrying in 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Errors that concern one pending connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Per-connection facts the handlers need (httpbin's `origin`, fallback host for `url`).
#[derive(Debug, Clone, Copy)]
struct ConnInfo {
    peer: SocketAddr,
    local: SocketAddr,
}

// ---------------------------------------------------------------------------------------------
// Response body
// ---------------------------------------------------------------------------------------------

/// Response body: either one in-memory chunk or a streamed deterministic pattern for `/bytes`.
/// A concrete enum (not a boxed body) keeps the hot path free of per-response boxing.
#[derive(Debug)]
enum Body {
    /// A single chunk; `None` once sent (or for an empty body).
    Full(Option<Bytes>),
    /// `remaining` bytes of [`PATTERN`], streamed in chunks of at most `PATTERN.len()`.
    Pattern {
        /// Bytes still to send.
        remaining: u64,
    },
}

impl Body {
    fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        if data.is_empty() {
            Body::Full(None)
        } else {
            Body::Full(Some(data))
        }
    }

    fn empty() -> Self {
        Body::Full(None)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Body::Pattern { remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                // Chunks always start at a multiple of PATTERN.len() (itself a multiple of 256),
                // so restarting the pattern keeps `byte[i] == i % 256` across chunks.
                let n = usize::try_from(*remaining).map_or(PATTERN.len(), |r| r.min(PATTERN.len()));
                *remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&PATTERN[..n])))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(data) => data.is_none(),
            Body::Pattern { remaining } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Body::Pattern { remaining } => SizeHint::with_exact(*remaining),
        }
    }
}

/// `/bytes/{n}` data: byte `i` is `i % 256`, so clients can verify integrity without a seed.
static PATTERN: [u8; 64 * 1024] = pattern();

const fn pattern() -> [u8; 64 * 1024] {
    let mut buf = [0u8; 64 * 1024];
    let mut i = 0;
    while i < buf.len() {
        buf[i] = (i % 256) as u8;
        i += 1;
    }
    buf
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

type Resp = Response<Body>;

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The fixed document served by `/json` (httpbin's sample slideshow), handy for
/// `res.json('slideshow.slides.#')`.
const JSON_DOC: &str = r#"{"slideshow":{"author":"Yours Truly","date":"date of publication","slides":[{"title":"Wake up to WonderWidgets!","type":"all"},{"items":["Why <em>WonderWidgets</em> are great","Who <em>buys</em> WonderWidgets"],"title":"Overview","type":"all"}],"title":"Sample Slide Show"}}"#;

const HTML_DOC: &str = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Volley target</title>\n  </head>\n  <body>\n    <h1>Volley target</h1>\n    <p>A local <a href=\"/json\">httpbin-like</a> server for load tests.</p>\n    <form action=\"/post\" method=\"post\"><input name=\"name\" value=\"volley\"><button type=\"submit\">Send</button></form>\n  </body>\n</html>\n";

async fn handle(req: Request<Incoming>, conn: ConnInfo) -> Result<Resp, Infallible> {
    // Hot path first: no allocation beyond hyper's own and one header insert.
    if req.uri().path() == "/" {
        return Ok(with_type(
            StatusCode::OK,
            TEXT_PLAIN,
            Bytes::from_static(b"ok"),
        ));
    }
    Ok(route(req, conn).await)
}

async fn route(req: Request<Incoming>, conn: ConnInfo) -> Resp {
    let path = req.uri().path();
    match path {
        "/json" => with_type(
            StatusCode::OK,
            APPLICATION_JSON,
            Bytes::from_static(JSON_DOC.as_bytes()),
        ),
        "/html" => with_type(
            StatusCode::OK,
            TEXT_HTML,
            Bytes::from_static(HTML_DOC.as_bytes()),
        ),
        "/echo" | "/anything" => echo(req, conn).await,
        "/get" => checked_echo(req, conn, &[Method::GET, Method::HEAD], "GET, HEAD").await,
        "/post" => checked_echo(req, conn, &[Method::POST], "POST").await,
        "/put" => checked_echo(req, conn, &[Method::PUT], "PUT").await,
        "/patch" => checked_echo(req, conn, &[Method::PATCH], "PATCH").await,
        "/delete" => checked_echo(req, conn, &[Method::DELETE], "DELETE").await,
        "/headers" => json_ok(&json!({ "headers": headers_json(req.headers()) })),
        "/ip" => json_ok(&json!({ "origin": conn.peer.ip().to_string() })),
        "/user-agent" => {
            json_ok(&json!({ "user-agent": header_str(req.headers(), &header::USER_AGENT) }))
        }
        "/cookies" => json_ok(&json!({ "cookies": request_cookies(req.headers()) })),
        "/cookies/set" => set_cookies(req.uri().query()),
        "/cookies/delete" => delete_cookies(req.uri().query()),
        "/redirect-to" => redirect_to(req.uri().query()),
        "/bearer" => bearer(req.headers()),
        _ => {
            if path.starts_with("/anything/") {
                echo(req, conn).await
            } else if let Some(code) = path.strip_prefix("/status/") {
                status(code)
            } else if let Some(ms) = path.strip_prefix("/delay/") {
                match parse_delay(ms) {
                    Ok(wait) => {
                        tokio::time::sleep(wait).await;
                        echo(req, conn).await
                    }
                    Err(msg) => error(StatusCode::BAD_REQUEST, msg),
                }
            } else if let Some(n) = path.strip_prefix("/bytes/") {
                bytes_response(n)
            } else if let Some(n) = path.strip_prefix("/redirect/") {
                redirect_n(n, "/redirect", None)
            } else if let Some(n) = path.strip_prefix("/relative-redirect/") {
                redirect_n(n, "/relative-redirect", None)
            } else if let Some(n) = path.strip_prefix("/absolute-redirect/") {
                let base = format!("http://{}", request_host(req.headers(), conn));
                redirect_n(n, "/absolute-redirect", Some(&base))
            } else if let Some(rest) = path.strip_prefix("/basic-auth/") {
                basic_auth(rest, req.headers())
            } else if let Some(rest) = path.strip_prefix("/cookies/set/") {
                set_cookie_path(rest)
            } else {
                let mut resp = json_response(
                    StatusCode::NOT_FOUND,
                    &json!({ "error": "not found", "path": path }),
                );
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Response helpers
// ---------------------------------------------------------------------------------------------

fn with_type(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Resp {
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    resp
}

fn json_response(status: StatusCode, value: &Value) -> Resp {
    // Serialising a `Value` cannot fail (all keys are strings); fall back to `null` regardless.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    with_type(status, APPLICATION_JSON, Bytes::from(body))
}

fn json_ok(value: &Value) -> Resp {
    json_response(StatusCode::OK, value)
}

/// A JSON `{"error": msg}` response; every client mistake gets one so tests can see why.
fn error(status: StatusCode, msg: impl Into<String>) -> Resp {
    json_response(status, &json!({ "error": msg.into() }))
}

fn empty(status: StatusCode) -> Resp {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// A bodiless redirect; `location` must already be a valid header value.
fn redirect(status: StatusCode, location: HeaderValue) -> Resp {
    let mut resp = empty(status);
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

/// `/status/{code}`: empty body with that status. 1xx codes are rejected because HTTP/1.1 cannot
/// carry them as a final response (hyper would turn them into a 500).
fn status(code: &str) -> Resp {
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

/// Parses `/delay/{ms}`, clamping to [`MAX_DELAY`]; the error is the message for a 400.
fn parse_delay(ms: &str) -> Result<Duration, String> {
    let ms = ms
        .parse::<u64>()
        .map_err(|_| format!("/delay/{{ms}}: {ms:?} is not a whole number of milliseconds"))?;
    Ok(Duration::from_millis(ms).min(MAX_DELAY))
}

/// `/bytes/{n}`: `n` deterministic bytes, streamed so 100 MB costs no memory.
fn bytes_response(n: &str) -> Resp {
    let Ok(n) = n.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/bytes/{{n}}: {n:?} is not a whole number of bytes"),
        );
    };
    if n > MAX_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!("/bytes/{{n}}: {n} exceeds the {MAX_BYTES}-byte cap"),
        );
    }
    let mut resp = Response::new(Body::Pattern { remaining: n });
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, OCTET_STREAM);
    resp
}

/// `/redirect/{n}` and friends: a 302 chain `{prefix}/{n-1}` … ending at `/get`.
fn redirect_n(n: &str, prefix: &str, base: Option<&str>) -> Resp {
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
fn redirect_to(query: Option<&str>) -> Resp {
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

/// `/basic-auth/{user}/{pass}`: 200 when the request carries exactly those Basic credentials.
fn basic_auth(rest: &str, headers: &HeaderMap) -> Resp {
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
fn bearer(headers: &HeaderMap) -> Resp {
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

/// `/cookies/set?k=v&...`: one `Set-Cookie` per pair, then 302 to `/cookies`.
fn set_cookies(query: Option<&str>) -> Resp {
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
fn set_cookie_path(rest: &str) -> Resp {
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
fn delete_cookies(query: Option<&str>) -> Resp {
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

// ---------------------------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------------------------

async fn checked_echo(
    req: Request<Incoming>,
    conn: ConnInfo,
    allowed: &[Method],
    allow: &'static str,
) -> Resp {
    if allowed.contains(req.method()) {
        return echo(req, conn).await;
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

/// `/echo`, `/anything`, `/get` …: the request as httpbin-style JSON.
async fn echo(req: Request<Incoming>, conn: ConnInfo) -> Resp {
    let (parts, body) = req.into_parts();
    match read_body(&parts.headers, body).await {
        Ok(body) => json_ok(&echo_json(&parts, &body, conn)),
        Err(resp) => resp,
    }
}

/// Reads the whole request body, at most [`MAX_REQUEST_BODY`]; a declared or actual larger body
/// gets 413 without buffering it.
async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, Resp>
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
    let content_type = header_str(&parts.headers, &header::CONTENT_TYPE);
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let (form, files) = if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        (
            multi_map(
                form_urlencoded::parse(body)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))),
            ),
            Map::new(),
        )
    } else if mime.eq_ignore_ascii_case("multipart/form-data") {
        header_params(content_type)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .and_then(|(_, b)| parse_multipart(body, &b))
            .unwrap_or_default()
    } else {
        (Map::new(), Map::new())
    };
    let json_body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    json!({
        "method": parts.method.as_str(),
        "url": full_url(parts, conn),
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
fn full_url(parts: &Parts, conn: ConnInfo) -> String {
    if parts.uri.scheme().is_some() {
        return parts.uri.to_string();
    }
    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    format!("http://{}{pq}", request_host(&parts.headers, conn))
}

fn request_host(headers: &HeaderMap, conn: ConnInfo) -> String {
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

/// Query/form pairs as a JSON object; a repeated key becomes an array, like httpbin.
fn multi_map(pairs: impl Iterator<Item = (String, Value)>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in pairs {
        match out.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

/// UTF-8 text as is; anything else as a base64 `data:` URL, as httpbin does.
fn body_string(body: &[u8], content_type: &str) -> String {
    match std::str::from_utf8(body) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = format!("data:{content_type};base64,");
            base64::engine::general_purpose::STANDARD.encode_string(body, &mut out);
            out
        }
    }
}

/// Splits `type; a=1; b="x;y"` into its parameters, honouring quoted strings.
fn header_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, rest)) => rest,
        None => return params,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return params;
        }
        let Some(eq) = rest.find('=') else {
            return params;
        };
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let mut val = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &quoted[end..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            val.push_str(rest[..end].trim());
            rest = &rest[end..];
        }
        params.push((key, val));
    }
}

/// Parses a `multipart/form-data` body into httpbin's `(form, files)`; parts with a `filename`
/// go to `files`. Returns `None` when the body does not use `boundary`.
fn parse_multipart(
    body: &[u8],
    boundary: &str,
) -> Option<(Map<String, Value>, Map<String, Value>)> {
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let mut form = Vec::new();
    let mut files = Vec::new();
    let start = find(body, delim.as_bytes())?;
    let mut rest = &body[start + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let header_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..header_end]).ok()?;
        let content_start = header_end + 4;
        let content_len = find(&rest[content_start..], next_delim.as_bytes())?;
        let content = &rest[content_start..content_start + content_len];
        rest = &rest[content_start + content_len + next_delim.len()..];

        let mut name = None;
        let mut filename = None;
        let mut part_type = "application/octet-stream";
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                for (pk, pv) in header_params(v) {
                    if pk.eq_ignore_ascii_case("name") {
                        name = Some(pv);
                    } else if pk.eq_ignore_ascii_case("filename") {
                        filename = Some(pv);
                    }
                }
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                part_type = v.trim();
            }
        }
        let Some(name) = name else { continue };
        let value = Value::String(body_string(content, part_type));
        if filename.is_some() {
            files.push((name, value));
        } else {
            form.push((name, value));
        }
    }
    Some((multi_map(form.into_iter()), multi_map(files.into_iter())))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let first = needle[0];
    (0..=haystack.len() - needle.len())
        .find(|&i| haystack[i] == first && haystack[i..].starts_with(needle))
}

/// Decodes `%XX` escapes in a path segment (`+` stays literal); `None` if the result is not UTF-8.
/// Malformed escapes are kept verbatim, as browsers do.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::client::conn::http1::SendRequest;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        addr
    }

    async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    }

    impl Reply {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
        }
        fn header(&self, name: &str) -> &str {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        }
    }

    async fn send(
        sender: &mut SendRequest<Full<Bytes>>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        sender.ready().await.unwrap();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "target.test");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> Reply {
        send(&mut connect(addr).await, "GET", path, &[], b"").await
    }

    /// Reads raw bytes until `done` says the buffer is complete (or 5 s pass).
    async fn read_until(stream: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
        let mut buf = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut chunk = [0u8; 4096];
        while !done(&String::from_utf8_lossy(&buf)) {
            // A reset or EOF ends the read; the caller's assertion then shows what arrived.
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn root_is_small_ok_text() {
        let addr = start().await;
        let r = get(addr, "/").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], b"ok");
        assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
        assert_eq!(r.header("content-length"), "2");
    }

    #[tokio::test]
    async fn keep_alive_serves_many_requests_on_one_connection() {
        let addr = start().await;
        let mut c = connect(addr).await;
        for i in 0..5 {
            assert_eq!(
                send(&mut c, "GET", "/", &[], b"").await.status,
                StatusCode::OK,
                "request {i}"
            );
        }
        assert_eq!(
            send(&mut c, "GET", "/nope", &[], b"").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&mut c, "GET", "/status/503", &[], b"").await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let r = send(&mut c, "POST", "/post", &[], b"hello").await;
        assert_eq!(r.json()["body"], "hello");
        assert_eq!(
            send(&mut c, "GET", "/bytes/100000", &[], b"")
                .await
                .body
                .len(),
            100_000
        );
        assert_eq!(
            send(&mut c, "GET", "/json", &[], b"").await.status,
            StatusCode::OK
        );
        assert!(!c.is_closed());
    }

    #[tokio::test]
    async fn pipelined_raw_requests_all_answered_in_order() {
        let addr = start().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /status/201 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        s.write_all(req.as_bytes()).await.unwrap();
        let out = read_until(&mut s, |b| {
            b.matches("HTTP/1.1 ").count() == 3 && b.ends_with("ok")
        })
        .await;
        let statuses: Vec<&str> = out
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i + 9..i + 12])
            .collect();
        assert_eq!(statuses, ["200", "201", "200"], "{out}");
    }

    #[tokio::test]
    async fn status_endpoint_validates_codes() {
        let addr = start().await;
        for code in [200u16, 201, 204, 404, 418, 500, 599] {
            let r = get(addr, &format!("/status/{code}")).await;
            assert_eq!(r.status.as_u16(), code);
            assert!(r.body.is_empty());
        }
        let r = get(addr, "/status/302").await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.header("location"), "/redirect/1");
        assert_eq!(
            get(addr, "/status/401").await.header("www-authenticate"),
            "Basic realm=\"Fake Realm\""
        );
        for bad in ["abc", "", "99", "600", "100", "199", "-1", "70000"] {
            let r = get(addr, &format!("/status/{bad}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "/status/{bad}");
            assert!(r.json()["error"].as_str().unwrap().contains("/status/"));
        }
    }

    #[tokio::test]
    async fn delay_waits_then_echoes() {
        let addr = start().await;
        let t = std::time::Instant::now();
        let r = get(addr, "/delay/120?x=1").await;
        assert!(t.elapsed() >= Duration::from_millis(120));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["args"]["x"], "1");
        assert_eq!(
            get(addr, "/delay/abc").await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(get(addr, "/delay/-5").await.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn delay_is_capped() {
        assert_eq!(parse_delay("250").ok(), Some(Duration::from_millis(250)));
        assert_eq!(parse_delay("999999999").ok(), Some(MAX_DELAY));
        assert_eq!(parse_delay("18446744073709551615").ok(), Some(MAX_DELAY));
        assert!(parse_delay("1.5").is_err());
    }

    #[tokio::test]
    async fn json_has_nested_slideshow() {
        let addr = start().await;
        let r = get(addr, "/json").await;
        assert_eq!(r.header("content-type"), "application/json");
        let v = r.json();
        assert_eq!(v["slideshow"]["slides"].as_array().unwrap().len(), 2);
        assert_eq!(v["slideshow"]["title"], "Sample Slide Show");
        assert_eq!(
            v["slideshow"]["slides"][1]["items"][0],
            "Why <em>WonderWidgets</em> are great"
        );
    }

    #[tokio::test]
    async fn echo_reports_method_args_headers_and_json_body() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let r = send(
            &mut c,
            "PUT",
            "/echo?a=1&a=2&b=x%20y",
            &[
                ("x-test", "yes"),
                ("content-type", "application/json"),
                ("cookie", "c=1"),
            ],
            br#"{"k":[1,2]}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let v = r.json();
        assert_eq!(v["method"], "PUT");
        assert_eq!(v["url"], "http://target.test/echo?a=1&a=2&b=x%20y");
        assert_eq!(v["path"], "/echo");
        assert_eq!(v["args"], json!({"a": ["1", "2"], "b": "x y"}));
        assert_eq!(v["headers"]["X-Test"], "yes");
        assert_eq!(v["headers"]["Host"], "target.test");
        assert_eq!(v["headers"]["Cookie"], "c=1");
        assert_eq!(v["body"], r#"{"k":[1,2]}"#);
        assert_eq!(v["json"], json!({"k": [1, 2]}));
        assert_eq!(v["form"], json!({}));
        assert_eq!(v["origin"], "127.0.0.1");

        let r = send(&mut c, "GET", "/echo", &[], b"").await;
        let v = r.json();
        assert_eq!(v["json"], Value::Null);
        assert_eq!(v["body"], "");
        assert_eq!(v["args"], json!({}));
    }

    #[tokio::test]
    async fn echo_parses_urlencoded_form_and_binary_body() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let r = send(
            &mut c,
            "POST",
            "/anything",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"name=volley&tag=a&tag=b&sp=x+y",
        )
        .await;
        let v = r.json();
        assert_eq!(
            v["form"],
            json!({"name": "volley", "tag": ["a", "b"], "sp": "x y"})
        );
        assert_eq!(v["json"], Value::Null);

        let r = send(
            &mut c,
            "POST",
            "/anything/deep/path",
            &[],
            &[0xff, 0x00, 0x01],
        )
        .await;
        let v = r.json();
        assert_eq!(v["path"], "/anything/deep/path");
        assert_eq!(v["body"], "data:application/octet-stream;base64,/wAB");
    }

    #[tokio::test]
    async fn echo_parses_multipart_fields_and_files() {
        let addr = start().await;
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue 1\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n\
                    --XyZ--\r\n";
        let r = send(
            &mut connect(addr).await,
            "POST",
            "/post",
            &[("content-type", "multipart/form-data; boundary=\"XyZ\"")],
            body.as_bytes(),
        )
        .await;
        let v = r.json();
        assert_eq!(v["form"], json!({"field": "value 1"}));
        assert_eq!(v["files"], json!({"file": "line1\r\nline2"}));
    }

    #[test]
    fn multipart_parser_handles_binary_and_garbage() {
        let body = b"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\nContent-Type: image/png\r\n\r\n\xff\xfe\r\n--b--";
        let (form, files) = parse_multipart(body, "b").unwrap();
        assert!(form.is_empty());
        assert_eq!(files["f"], "data:image/png;base64,//4=");
        assert!(parse_multipart(b"no delimiters here", "b").is_none());
        assert!(parse_multipart(
            b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated",
            "b"
        )
        .is_none());
        assert!(parse_multipart(b"--b--", "").is_none());
        let (form, _) = parse_multipart(b"--b--\r\n", "b").unwrap();
        assert!(form.is_empty());
    }

    #[tokio::test]
    async fn method_checked_echoes_reject_other_methods() {
        let addr = start().await;
        let mut c = connect(addr).await;
        for (path, method) in [
            ("/get", "GET"),
            ("/post", "POST"),
            ("/put", "PUT"),
            ("/patch", "PATCH"),
            ("/delete", "DELETE"),
        ] {
            let r = send(&mut c, method, path, &[], b"").await;
            assert_eq!(r.status, StatusCode::OK, "{method} {path}");
            assert_eq!(r.json()["method"], method);
            let wrong = if method == "POST" { "GET" } else { "POST" };
            let r = send(&mut c, wrong, path, &[], b"x").await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{wrong} {path}");
            assert!(r.header("allow").contains(method));
        }
        let r = send(&mut c, "HEAD", "/get", &[], b"").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());
    }

    #[tokio::test]
    async fn bytes_are_deterministic_and_bounded() {
        let addr = start().await;
        let r = get(addr, "/bytes/1000").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "application/octet-stream");
        assert_eq!(r.header("content-length"), "1000");
        assert!(r
            .body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 256) as u8));

        // Spans several pattern chunks, including a partial last one.
        let n = 3 * PATTERN.len() + 17;
        let r = get(addr, &format!("/bytes/{n}")).await;
        assert_eq!(r.body.len(), n);
        assert!(r
            .body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 256) as u8));

        let r = get(addr, "/bytes/0").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());

        for bad in [
            format!("{}", MAX_BYTES + 1),
            "abc".into(),
            "99999999999999999999999".into(),
            "-1".into(),
        ] {
            let r = get(addr, &format!("/bytes/{bad}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "/bytes/{bad}");
        }
        assert_eq!(
            bytes_response(&MAX_BYTES.to_string())
                .body()
                .size_hint()
                .exact(),
            Some(MAX_BYTES)
        );
    }

    #[tokio::test]
    async fn cookies_set_redirect_read_and_delete() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let r = send(&mut c, "GET", "/cookies/set?a=1&b=two", &[], b"").await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.header("location"), "/cookies");
        let set: Vec<&str> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(set, ["a=1; Path=/", "b=two; Path=/"]);

        let r = send(
            &mut c,
            "GET",
            "/cookies",
            &[("cookie", "a=1; b=two"), ("cookie", "q=\"x\"")],
            b"",
        )
        .await;
        assert_eq!(
            r.json(),
            json!({"cookies": {"a": "1", "b": "two", "q": "x"}})
        );
        assert_eq!(
            send(&mut c, "GET", "/cookies", &[], b"").await.json(),
            json!({"cookies": {}})
        );

        let r = send(&mut c, "GET", "/cookies/set/sess/abc", &[], b"").await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.header("set-cookie"), "sess=abc; Path=/");

        let r = send(&mut c, "GET", "/cookies/delete?a&b", &[], b"").await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.header("location"), "/cookies");
        let set: Vec<&str> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(set.len(), 2);
        assert!(set[0].starts_with("a=; Expires=Thu, 01 Jan 1970") && set[0].contains("Max-Age=0"));

        for bad in [
            "/cookies/set?a=x%0d%0aEvil:1",
            "/cookies/set?a=b%3Bc",
            "/cookies/set?a%20b=1",
            "/cookies/delete?a%3Db",
            "/cookies/set/onlyname",
        ] {
            assert_eq!(
                send(&mut c, "GET", bad, &[], b"").await.status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn redirect_chain_ends_at_get() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let mut path = "/redirect/3".to_owned();
        let mut hops = 0;
        loop {
            let r = send(&mut c, "GET", &path, &[], b"").await;
            if r.status != StatusCode::FOUND {
                assert_eq!(r.status, StatusCode::OK);
                assert_eq!(r.json()["path"], "/get");
                break;
            }
            path = r.header("location").to_owned();
            hops += 1;
        }
        assert_eq!(hops, 3);
        assert_eq!(
            send(&mut c, "GET", "/redirect/2", &[], b"")
                .await
                .header("location"),
            "/redirect/1"
        );
        assert_eq!(
            send(&mut c, "GET", "/relative-redirect/2", &[], b"")
                .await
                .header("location"),
            "/relative-redirect/1"
        );
        assert_eq!(
            send(&mut c, "GET", "/absolute-redirect/2", &[], b"")
                .await
                .header("location"),
            "http://target.test/absolute-redirect/1"
        );
        assert_eq!(
            send(&mut c, "GET", "/absolute-redirect/1", &[], b"")
                .await
                .header("location"),
            "http://target.test/get"
        );
        for bad in ["/redirect/0", "/redirect/x", "/redirect/"] {
            assert_eq!(
                send(&mut c, "GET", bad, &[], b"").await.status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn redirect_to_uses_url_and_status() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let r = send(
            &mut c,
            "GET",
            "/redirect-to?url=http%3A%2F%2F127.0.0.1%2Fjson",
            &[],
            b"",
        )
        .await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.header("location"), "http://127.0.0.1/json");
        let r = send(
            &mut c,
            "POST",
            "/redirect-to?url=/get&status_code=307",
            &[],
            b"",
        )
        .await;
        assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(r.header("location"), "/get");
        for bad in [
            "/redirect-to",
            "/redirect-to?url=/x&status_code=200",
            "/redirect-to?url=/x&status_code=abc",
            "/redirect-to?url=%0a",
        ] {
            assert_eq!(
                send(&mut c, "GET", bad, &[], b"").await.status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn basic_auth_accepts_only_matching_credentials() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let b64 = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        let r = send(
            &mut c,
            "GET",
            "/basic-auth/user/p%40ss",
            &[("authorization", &b64("user:p@ss"))],
            b"",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), json!({"authenticated": true, "user": "user"}));
        // Colons are allowed in the password.
        let r = send(
            &mut c,
            "GET",
            "/basic-auth/u/a:b",
            &[("authorization", &b64("u:a:b"))],
            b"",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);

        for auth in [
            Some(b64("user:wrong")),
            Some(b64("other:p@ss")),
            Some("Basic !!!".into()),
            Some("Bearer x".into()),
            None,
        ] {
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let r = send(&mut c, "GET", "/basic-auth/user/p%40ss", &headers, b"").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
            assert_eq!(r.header("www-authenticate"), "Basic realm=\"Fake Realm\"");
            assert_eq!(r.json()["authenticated"], false);
        }
        assert_eq!(
            send(&mut c, "GET", "/basic-auth/only", &[], b"")
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            send(&mut c, "GET", "/basic-auth/%ff/x", &[], b"")
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn bearer_requires_a_token() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let r = send(
            &mut c,
            "GET",
            "/bearer",
            &[("authorization", "Bearer tok123")],
            b"",
        )
        .await;
        assert_eq!(r.json(), json!({"authenticated": true, "token": "tok123"}));
        let r = send(
            &mut c,
            "GET",
            "/bearer",
            &[("authorization", "Bearer ")],
            b"",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.header("www-authenticate"), "Bearer");
    }

    #[tokio::test]
    async fn headers_ip_user_agent_html_and_not_found() {
        let addr = start().await;
        let mut c = connect(addr).await;
        let r = send(
            &mut c,
            "GET",
            "/headers",
            &[
                ("x-multi", "a"),
                ("x-multi", "b"),
                ("user-agent", "volley/1"),
            ],
            b"",
        )
        .await;
        let v = r.json();
        assert_eq!(v["headers"]["X-Multi"], "a, b");
        assert_eq!(v["headers"]["User-Agent"], "volley/1");
        assert_eq!(
            send(&mut c, "GET", "/ip", &[], b"").await.json(),
            json!({"origin": "127.0.0.1"})
        );
        let r = send(
            &mut c,
            "GET",
            "/user-agent",
            &[("user-agent", "k6/1.1")],
            b"",
        )
        .await;
        assert_eq!(r.json(), json!({"user-agent": "k6/1.1"}));
        let r = send(&mut c, "GET", "/html", &[], b"").await;
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert!(std::str::from_utf8(&r.body)
            .unwrap()
            .contains("<h1>Volley target</h1>"));
        let r = send(&mut c, "GET", "/no/such/thing", &[], b"").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            r.json(),
            json!({"error": "not found", "path": "/no/such/thing"})
        );
    }

    #[tokio::test]
    async fn oversized_bodies_get_413() {
        let addr = start().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            MAX_REQUEST_BODY + 1
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let out = read_until(&mut s, |b| b.contains("\r\n\r\n{") && b.ends_with('}')).await;
        assert!(out.starts_with("HTTP/1.1 413 "), "{out}");

        // A body without Content-Length (e.g. chunked) is cut off by the limit while reading.
        let big = Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BODY + 1]));
        let resp = read_body(&HeaderMap::new(), big).await.unwrap_err();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let exact = Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BODY]));
        assert_eq!(
            read_body(&HeaderMap::new(), exact).await.unwrap().len(),
            MAX_REQUEST_BODY
        );
    }

    #[tokio::test]
    async fn chunked_oversized_body_over_the_wire_gets_413() {
        let addr = start().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        // Exactly one byte over the limit and no terminating chunk: the server consumes everything
        // we send before answering, so its close cannot race with unread data (which would RST).
        let mut chunk = format!("{:x}\r\n", 1024 * 1024).into_bytes();
        chunk.extend_from_slice(&[b'y'; 1024 * 1024]);
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..MAX_REQUEST_BODY / (1024 * 1024) {
            s.write_all(&chunk).await.unwrap();
        }
        s.write_all(b"1\r\ny\r\n").await.unwrap();
        let out = read_until(&mut s, |b| b.ends_with('}')).await;
        assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    }

    #[test]
    fn helpers_behave() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz+%4").as_deref(), Some("%zz+%4"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(title_case("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(title_case("host"), "Host");
        assert_eq!(
            header_params("form-data; name=\"a;b\"; filename=\"q\\\"x\"; size=3"),
            vec![
                ("name".into(), "a;b".into()),
                ("filename".into(), "q\"x".into()),
                ("size".into(), "3".into())
            ]
        );
        assert!(header_params("text/plain").is_empty());
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(strip_prefix_ignore_case("BASIC xyz", "basic "), Some("xyz"));
        assert_eq!(strip_prefix_ignore_case("é", "basic "), None);
        assert!(is_cookie_name("session_id"));
        assert!(!is_cookie_name("a=b") && !is_cookie_name("") && !is_cookie_name("a b"));
    }

    #[tokio::test]
    async fn dropping_serve_closes_open_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener));
        let mut c = connect(addr).await;
        assert_eq!(
            send(&mut c, "GET", "/", &[], b"").await.status,
            StatusCode::OK
        );
        task.abort();
        let _ = task.await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while !c.is_closed() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
    }

    /// Collects written text and hands each flushed chunk to a channel, like a parent process
    /// reading the child's stdout.
    struct ChannelWriter(std::sync::mpsc::Sender<String>, Vec<u8>);

    impl Write for ChannelWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.1)).into_owned();
            let _ = self.0.send(text);
            Ok(())
        }
    }

    fn run_in_thread(threads: usize) {
        use std::io::{Read, Write as _};
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            let cfg = TargetConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                threads,
            };
            run_until(&cfg, &mut ChannelWriter(line_tx, Vec::new()), async {
                let _ = stop_rx.await;
                Ok(())
            })
        });
        let line = line_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let addr: SocketAddr = line
            .trim_end()
            .strip_prefix("volley target listening on http://")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .parse()
            .unwrap();
        assert_ne!(addr.port(), 0, "the real bound port is printed");
        assert!(line.ends_with('\n'));

        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 200 OK") && out.ends_with("\r\n\r\nok"),
            "{out}"
        );

        stop_tx.send(()).unwrap();
        server.join().unwrap().unwrap();
    }

    #[test]
    fn run_until_prints_address_serves_and_stops_single_thread() {
        run_in_thread(1);
    }

    #[test]
    fn run_until_prints_address_serves_and_stops_multi_thread() {
        run_in_thread(2);
    }

    #[test]
    fn run_until_reports_bind_failure_with_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = TargetConfig {
            listen: taken.local_addr().unwrap(),
            threads: 1,
        };
        let mut out = Vec::new();
        let err = run_until(&cfg, &mut out, std::future::pending()).unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("--listen {}", cfg.listen)),
            "{err:#}"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn runtime_thread_counts() {
        assert!(build_runtime(0).is_ok());
        assert!(build_runtime(1).is_ok());
        assert!(build_runtime(3).is_ok());
    }
}
