//! Executing requests: per-run state, the per-VU client, and redirect following.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use url::{Position, Url};

use super::cookies::CookieJar;
use super::error::{self, code_for_status, HttpSetupError, RequestError};
use super::pool::{self, Conn, Pool, PoolKey};
use super::timing::{HopTrace, Meter};
use super::{HttpConfig, HttpExchange, HttpRequest};

/// Per-run HTTP state shared by all VUs: the options, the TLS config and hyper's connection
/// settings. Build it once per run; it is `Send + Sync` and meant to sit in an `Arc`.
pub struct HttpShared {
    config: HttpConfig,
    pub(crate) tls: tokio_rustls::TlsConnector,
    pub(crate) h1: hyper::client::conn::http1::Builder,
}

impl std::fmt::Debug for HttpShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpShared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpShared {
    pub fn new(config: HttpConfig) -> Result<Self, HttpSetupError> {
        let tls = super::tls::client_config(config.insecure_skip_tls_verify)?;
        let mut h1 = hyper::client::conn::http1::Builder::new();
        // Go (and so k6) sends canonical header names ("Content-Type"); some servers care.
        h1.title_case_headers(true);
        Ok(Self {
            config,
            tls: tokio_rustls::TlsConnector::from(tls),
            h1,
        })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }
}

/// A VU's HTTP client: its own idle connections and cookie jar.
#[derive(Debug)]
pub struct VuHttpClient {
    shared: Arc<HttpShared>,
    pool: Pool,
    jar: CookieJar,
}

impl VuHttpClient {
    pub fn new(shared: Arc<HttpShared>) -> Self {
        Self {
            shared,
            pool: Pool::default(),
            jar: CookieJar::new(),
        }
    }

    pub fn shared(&self) -> &Arc<HttpShared> {
        &self.shared
    }

    /// Closes the VU's idle connections (k6 `noVUConnectionReuse`: call between iterations).
    pub fn reset_connections(&self) {
        self.pool.clear();
    }

    /// The VU's own jar (k6 `http.cookieJar()`).
    pub fn cookie_jar(&self) -> &CookieJar {
        &self.jar
    }

    /// A request with the run's defaults applied (`discardResponseBodies`).
    pub fn request(&self, method: Method, url: Url) -> HttpRequest {
        let mut req = HttpRequest::new(method, url);
        req.discard_body = self.shared.config.discard_response_bodies;
        req
    }
}

/// One hop to send.
struct Hop {
    method: Method,
    url: Url,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// A caller `Host` header applies to the first hop only.
    allow_host_override: bool,
}

/// A hop ready for the wire.
struct Prepared {
    https: bool,
    host: String,
    port: u16,
    uri: http::Uri,
    headers: HeaderMap,
}

/// A response read to the end.
struct Received {
    status: u16,
    version: http::Version,
    headers: HeaderMap,
    body: Bytes,
}

/// What one hop learned about its connection (kept outside the hop future so it survives a
/// timeout that drops that future).
#[derive(Default)]
struct ConnInfo {
    remote: Option<std::net::SocketAddr>,
    tls_version: Option<&'static str>,
    /// The meter of the connection in use while it is exclusively ours.
    meter: Option<Arc<Meter>>,
    sent: u64,
    received: u64,
}

impl ConnInfo {
    fn collect_bytes(&mut self, meter: &Meter) {
        let (s, r) = meter.take_bytes();
        self.sent += s;
        self.received += r;
    }
}

/// Sends `req`, following redirects, and returns every hop in order; the last one is the final
/// response (or the failure). Never panics on bad input: problems become k6 error codes.
pub async fn execute(client: &VuHttpClient, req: HttpRequest) -> Vec<HttpExchange> {
    let cfg = client.shared.config();
    let timeout = req.timeout.unwrap_or(cfg.default_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let max_redirects = req.max_redirects.unwrap_or(cfg.max_redirects);
    let jar: Option<&CookieJar> = match (&req.cookie_jar, req.jar) {
        (Some(custom), _) => Some(custom.as_ref()),
        (None, true) => Some(&client.jar),
        (None, false) => None,
    };
    let mut hop = Hop {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: req.body,
        allow_host_override: true,
    };
    // Only needed (and cloned) when a redirect actually happens.
    let mut origin: Option<Origin> = None;
    let mut out = Vec::with_capacity(1);
    let mut followed = 0u32;
    loop {
        let (exchange, location) = run_hop(client, &hop, jar, req.discard_body, deadline).await;
        let status = exchange.status;
        out.push(exchange);
        let Some(next_url) = location else { break };
        if followed >= max_redirects {
            // k6 warns like this when the limit is its default: neither the request's
            // `redirects` nor the global `maxRedirects` was set (it counts the requests made).
            if req.max_redirects.is_none() && !cfg.max_redirects_set {
                tracing::warn!(
                    url = %out[0].url,
                    "Stopped after {} redirects and returned the redirection; pass {{ redirects: n }} in request params or set global maxRedirects to silence this",
                    followed + 1
                );
            }
            break;
        }
        followed += 1;
        let origin = origin.get_or_insert_with(|| Origin {
            method: hop.method.clone(),
            url: hop.url.clone(),
            headers: hop.headers.clone(),
        });
        hop = next_hop(hop, status, next_url, origin);
    }
    out
}

/// What a redirect chain starts from: Go derives every hop's headers from the original request.
struct Origin {
    method: Method,
    url: Url,
    headers: Vec<(String, String)>,
}

/// The request for the `Location` of a redirect, with Go's rules: 301/302/303 become a body-less
/// GET (HEAD stays HEAD), 307/308 repeat method and body. Headers are the original request's,
/// minus credentials and caller cookies when the target is not the original host or one of its
/// subdomains, minus body headers once the method changed, and minus a `Host` override.
fn next_hop(prev: Hop, status: u16, url: Url, origin: &Origin) -> Hop {
    let keep_body = matches!(status, 307 | 308);
    let method = if keep_body || prev.method == Method::GET || prev.method == Method::HEAD {
        prev.method.clone()
    } else {
        Method::GET
    };
    let same_site = match (origin.url.host_str(), url.host_str()) {
        (Some(old), Some(new)) => {
            new == old
                || (new.len() > old.len()
                    && new.ends_with(old)
                    && new.as_bytes()[new.len() - old.len() - 1] == b'.')
        }
        _ => false,
    };
    let method_changed = method != origin.method;
    let headers = origin
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            if k.eq_ignore_ascii_case("host") {
                return false;
            }
            if method_changed
                && (k.eq_ignore_ascii_case("content-length")
                    || k.eq_ignore_ascii_case("content-type")
                    || k.eq_ignore_ascii_case("transfer-encoding"))
            {
                return false;
            }
            same_site
                || !(k.eq_ignore_ascii_case("authorization")
                    || k.eq_ignore_ascii_case("www-authenticate")
                    || k.eq_ignore_ascii_case("cookie")
                    || k.eq_ignore_ascii_case("cookie2"))
        })
        .cloned()
        .collect();
    Hop {
        method,
        url,
        headers,
        body: if keep_body { prev.body } else { Bytes::new() },
        allow_host_override: false,
    }
}

/// Runs one hop under the request deadline. Returns the exchange and, for a redirect response
/// with a usable `Location`, the URL to go to next.
async fn run_hop(
    client: &VuHttpClient,
    hop: &Hop,
    jar: Option<&CookieJar>,
    discard: bool,
    deadline: tokio::time::Instant,
) -> (HttpExchange, Option<Url>) {
    let started = SystemTime::now();
    let mut ex = HttpExchange {
        url: hop.url.clone(),
        method: hop.method.as_str().to_owned(),
        status: 0,
        proto: String::new(),
        headers: Vec::new(),
        body: Bytes::new(),
        timings: Default::default(),
        error: None,
        error_code: 0,
        bytes_sent: 0,
        bytes_received: 0,
        remote_ip: String::new(),
        remote_port: 0,
        tls_version: None,
        started,
        request_headers: Vec::new(),
        request_body: hop.body.clone(),
    };
    let prepared = match prepare(client.shared.config(), hop, jar) {
        Ok(p) => p,
        Err(e) => {
            ex.error = Some(e.message);
            ex.error_code = e.code;
            return (ex, None);
        }
    };
    ex.request_headers = prepared
        .headers
        .iter()
        .map(|(k, v)| {
            (
                canonical_name(k.as_str()),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();

    let mut trace = HopTrace::new(Instant::now());
    let mut info = ConnInfo::default();
    let outcome = tokio::time::timeout_at(
        deadline,
        send(client, hop, &prepared, discard, &mut trace, &mut info),
    )
    .await;
    let end = Instant::now();
    if let Some(meter) = info.meter.take() {
        // The request failed or timed out on this connection: it is ours alone (never pooled).
        trace.io = meter.marks();
        info.collect_bytes(&meter);
    }
    ex.timings = trace.timings(end);
    ex.bytes_sent = info.sent;
    ex.bytes_received = info.received;
    if let Some(addr) = info.remote {
        ex.remote_ip = addr.ip().to_string();
        ex.remote_port = addr.port();
    }
    ex.tls_version = info.tls_version.map(str::to_owned);

    let received = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            ex.error = Some(e.message);
            ex.error_code = e.code;
            return (ex, None);
        }
        Err(_) => {
            let e = RequestError::timeout();
            ex.error = Some(e.message);
            ex.error_code = e.code;
            return (ex, None);
        }
    };

    if let Some(jar) = jar {
        let values = received
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        jar.store_response_cookies(&hop.url, values);
    }
    let location = if matches!(received.status, 301 | 302 | 303 | 307 | 308) {
        received
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|loc| hop.url.join(loc).ok())
    } else {
        None
    };

    ex.status = received.status;
    ex.error_code = code_for_status(received.status);
    ex.proto = match received.version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
    .to_owned();
    ex.headers = received
        .headers
        .iter()
        .map(|(k, v)| {
            (
                canonical_name(k.as_str()),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    ex.body = received.body;
    (ex, location)
}

/// Validates the URL and builds the headers that go on the wire.
fn prepare(cfg: &HttpConfig, hop: &Hop, jar: Option<&CookieJar>) -> Result<Prepared, RequestError> {
    let url = &hop.url;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(RequestError::new(
                error::GENERIC,
                format!("unsupported protocol scheme {other:?}"),
            ))
        }
    };
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => return Err(RequestError::new(error::INVALID_URL, "invalid URL")),
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let target = &url[Position::BeforePath..Position::AfterQuery];
    let target = if target.is_empty() { "/" } else { target };
    let uri: http::Uri = target
        .parse()
        .map_err(|e| RequestError::new(error::INVALID_URL, format!("invalid URL: {e}")))?;

    let given = |name: &str| {
        hop.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let mut headers = HeaderMap::with_capacity(hop.headers.len() + 4);

    let host_value = match hop
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
    {
        Some((_, v)) if hop.allow_host_override => v.clone(),
        _ => match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        },
    };
    headers.insert(header::HOST, header_value("Host", &host_value)?);
    if !cfg.user_agent.is_empty() && !given("user-agent") {
        headers.insert(
            header::USER_AGENT,
            header_value("User-Agent", &cfg.user_agent)?,
        );
    }
    for (k, v) in &hop.headers {
        if k.eq_ignore_ascii_case("host") {
            continue;
        }
        let name = HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| {
            RequestError::new(
                error::GENERIC,
                format!("net/http: invalid header field name {k:?}"),
            )
        })?;
        headers.append(name, header_value(k, v)?);
    }
    if !given("content-length") && !given("transfer-encoding") {
        let needs_length = !hop.body.is_empty()
            || hop.method == Method::POST
            || hop.method == Method::PUT
            || hop.method == Method::PATCH;
        if needs_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(hop.body.len()));
        }
    }
    if let Some(jar) = jar {
        let caller = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let caller_names: Vec<&str> = caller
            .as_deref()
            .map(|c| {
                c.split(';')
                    .filter_map(|p| p.split('=').next())
                    .map(str::trim)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(from_jar) = jar.header_for(url, &caller_names) {
            let value = match &caller {
                Some(c) if !c.trim().is_empty() => format!("{c}; {from_jar}"),
                _ => from_jar,
            };
            headers.insert(header::COOKIE, header_value("Cookie", &value)?);
        }
    }
    if cfg.no_connection_reuse && !given("connection") {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(Prepared {
        https,
        host,
        port,
        uri,
        headers,
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, RequestError> {
    HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
        RequestError::new(
            error::GENERIC,
            format!("net/http: invalid header field value for {name:?}"),
        )
    })
}

/// Gets a connection, sends, reads the whole response. A pooled connection that turns out to be
/// dead before any response byte arrived is replaced by a fresh one once, for idempotent requests
/// or when nothing was written (Go's rule), so servers closing idle connections do not produce
/// spurious errors.
async fn send(
    client: &VuHttpClient,
    hop: &Hop,
    p: &Prepared,
    discard: bool,
    trace: &mut HopTrace,
    info: &mut ConnInfo,
) -> Result<Received, RequestError> {
    let cfg = client.shared.config();
    let reuse = !cfg.no_connection_reuse;
    let mut may_retry = true;
    loop {
        let (mut conn, reused) = match take_ready(client, p, reuse).await {
            Some(conn) => (conn, true),
            None => (
                pool::connect(&client.shared, p.https, &p.host, p.port, trace).await?,
                false,
            ),
        };
        info.remote = Some(conn.remote);
        info.tls_version = conn.tls_version;
        info.meter = Some(conn.meter.clone());
        conn.meter.begin_request();
        trace.got_conn = Some(Instant::now());

        let mut request = http::Request::new(Full::new(hop.body.clone()));
        *request.method_mut() = hop.method.clone();
        *request.uri_mut() = p.uri.clone();
        *request.headers_mut() = p.headers.clone();

        let response = match conn.sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                let marks = conn.meter.marks();
                let idempotent = matches!(
                    hop.method,
                    Method::GET
                        | Method::HEAD
                        | Method::OPTIONS
                        | Method::TRACE
                        | Method::PUT
                        | Method::DELETE
                );
                if reused
                    && may_retry
                    && marks.first_read.is_none()
                    && (idempotent || marks.first_write.is_none())
                    && (e.is_incomplete_message()
                        || e.is_canceled()
                        || e.is_closed()
                        || io_failure(&e))
                {
                    may_retry = false;
                    info.collect_bytes(&conn.meter);
                    info.meter = None;
                    trace.reset_connection();
                    continue;
                }
                return Err(RequestError::from_hyper(&e));
            }
        };

        let (parts, mut body) = response.into_parts();
        let mut collected = Collector::with_hint(body.size_hint().exact());
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                if e.is_incomplete_message() {
                    // The body was cut short: Go reports "unexpected EOF".
                    RequestError::new(error::GENERIC, "unexpected EOF")
                } else {
                    RequestError::from_hyper(&e)
                }
            })?;
            if let Ok(data) = frame.into_data() {
                if !discard {
                    collected.push(data);
                }
            }
        }
        trace.body_end = Some(Instant::now());
        trace.io = conn.meter.marks();
        info.collect_bytes(&conn.meter);
        info.meter = None;

        let server_closes = parts
            .headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if reuse && !server_closes && parts.version != http::Version::HTTP_10 {
            let key = PoolKey {
                https: p.https,
                host: p.host.clone(),
                port: p.port,
            };
            client.pool.put(key, conn);
        }
        return Ok(Received {
            status: parts.status.as_u16(),
            version: parts.version,
            headers: parts.headers,
            body: collected.finish(),
        });
    }
}

/// A pooled connection to the target that is ready for a request, skipping dead ones.
async fn take_ready(client: &VuHttpClient, p: &Prepared, reuse: bool) -> Option<Conn> {
    if !reuse {
        return None;
    }
    while let Some(mut conn) = client.pool.take(p.https, &p.host, p.port) {
        if conn.sender.ready().await.is_ok() {
            return Some(conn);
        }
    }
    None
}

fn io_failure(e: &hyper::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        if err.is::<std::io::Error>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Gathers body chunks without copying when the body comes in one piece.
#[derive(Default)]
struct Collector {
    first: Option<Bytes>,
    rest: Option<BytesMut>,
    /// The announced length, to size the buffer once (capped: a header is not a promise).
    hint: usize,
}

/// The most we preallocate on the strength of a `Content-Length` alone.
const MAX_PREALLOCATION: u64 = 16 << 20;

impl Collector {
    fn with_hint(exact: Option<u64>) -> Self {
        Self {
            hint: usize::try_from(exact.unwrap_or(0).min(MAX_PREALLOCATION)).unwrap_or(0),
            ..Self::default()
        }
    }

    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        match (&mut self.first, &mut self.rest) {
            (None, _) => self.first = Some(chunk),
            (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
            (Some(first), None) => {
                let needed = first.len() + chunk.len();
                let mut buf = BytesMut::with_capacity(needed.max(self.hint));
                buf.extend_from_slice(first);
                buf.extend_from_slice(&chunk);
                self.rest = Some(buf);
            }
        }
    }

    fn finish(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}

/// Go's canonical header name: "content-type" → "Content-Type".
pub fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error as codes;
    use crate::http::CookieOptions;
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    /// A loopback test server. Routes:
    /// `/echo` echoes the body and reports method and some request headers in `X-*` headers;
    /// `/redirect/N` redirects N more times then answers "done"; `/r303`, `/r307` redirect to
    /// `/echo`; `/setcookie` sets `a=1`; `/cookie-redirect` sets `r=2` and redirects to `/echo`;
    /// `/sleep/MS`; `/status/N`; `/close` answers with `Connection: close`; `/big` 100 KB.
    struct TestServer {
        addr: SocketAddr,
        connections: Arc<AtomicUsize>,
    }

    async fn handle(
        req: Request<Incoming>,
        conn_id: usize,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path().to_owned();
        let method = req.method().to_string();
        let hdr = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (cookie, custom, host, ua, ctype, clen) = (
            hdr("cookie"),
            hdr("x-custom"),
            hdr("host"),
            hdr("user-agent"),
            hdr("content-type"),
            hdr("content-length"),
        );
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut resp = Response::builder()
            .header("X-Conn-Id", conn_id.to_string())
            .header("X-Method", method)
            .header("X-Cookie", cookie)
            .header("X-Custom", custom)
            .header("X-Host", host)
            .header("X-Ua", ua)
            .header("X-Content-Type", ctype)
            .header("X-Content-Length", clen);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let out = match parts.as_slice() {
            ["echo"] => resp.body(Full::new(body)),
            ["redirect", n] => {
                let n: u32 = n.parse().unwrap_or(0);
                if n == 0 {
                    resp.body(Full::new(Bytes::from_static(b"done")))
                } else {
                    resp.status(302)
                        .header("Location", format!("/redirect/{}", n - 1))
                        .body(Full::new(Bytes::new()))
                }
            }
            ["r303"] => resp
                .status(303)
                .header("Location", "/echo")
                .body(Full::new(Bytes::new())),
            ["r307"] => resp
                .status(307)
                .header("Location", "/echo")
                .body(Full::new(Bytes::new())),
            ["setcookie"] => resp
                .header("Set-Cookie", "a=1; Path=/")
                .body(Full::new(Bytes::from_static(b"ok"))),
            ["cookie-redirect"] => resp
                .status(302)
                .header("Set-Cookie", "r=2; Path=/")
                .header("Location", "/echo")
                .body(Full::new(Bytes::new())),
            ["sleep", ms] => {
                let ms: u64 = ms.parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                resp.body(Full::new(Bytes::from_static(b"slept")))
            }
            ["status", n] => {
                resp = resp.status(n.parse::<u16>().unwrap_or(500));
                resp.body(Full::new(Bytes::new()))
            }
            ["close"] => resp
                .header("Connection", "close")
                .body(Full::new(Bytes::from_static(b"bye"))),
            ["big"] => resp.body(Full::new(Bytes::from(vec![b'x'; 100_000]))),
            _ => resp.status(404).body(Full::new(Bytes::new())),
        };
        Ok(out.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
    }

    async fn serve<S>(io: S, conn_id: usize)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |req| handle(req, conn_id));
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
    }

    impl TestServer {
        async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let connections = Arc::new(AtomicUsize::new(0));
            let counter = connections.clone();
            let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let id = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match acceptor {
                            Some(acc) => {
                                if let Ok(tls) = acc.accept(stream).await {
                                    serve(tls, id).await;
                                }
                            }
                            None => serve(stream, id).await,
                        }
                    });
                }
            });
            Self { addr, connections }
        }

        fn url(&self, path: &str) -> Url {
            Url::parse(&format!("http://{}{}", self.addr, path)).unwrap()
        }

        fn https_url(&self, host: &str, path: &str) -> Url {
            Url::parse(&format!("https://{host}:{}{}", self.addr.port(), path)).unwrap()
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    fn client_with(cfg: HttpConfig) -> VuHttpClient {
        VuHttpClient::new(Arc::new(HttpShared::new(cfg).unwrap()))
    }

    fn client() -> VuHttpClient {
        client_with(HttpConfig::default())
    }

    async fn one(client: &VuHttpClient, req: HttpRequest) -> HttpExchange {
        let mut hops = execute(client, req).await;
        assert_eq!(hops.len(), 1, "expected a single hop: {hops:?}");
        hops.remove(0)
    }

    fn assert_timings_sane(t: &crate::http::Timings) {
        for v in [
            t.blocked,
            t.connecting,
            t.tls_handshaking,
            t.sending,
            t.waiting,
            t.receiving,
            t.duration,
        ] {
            assert!(v >= 0.0 && v.is_finite(), "{t:?}");
        }
        assert!(
            (t.duration - (t.sending + t.waiting + t.receiving)).abs() < 1e-9,
            "{t:?}"
        );
    }

    #[test]
    fn clients_are_small_and_thread_safe() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<VuHttpClient>();
        send_sync::<HttpShared>();
        assert!(std::mem::size_of::<VuHttpClient>() < 1024);
    }

    #[tokio::test]
    async fn all_methods_round_trip() {
        let srv = TestServer::start(None).await;
        let c = client();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = HttpRequest::new(m.clone(), srv.url("/echo?x=1"));
            let has_body = !matches!(method, "GET" | "HEAD");
            if has_body {
                req.body = Bytes::from(format!("body of {method}"));
                req.headers
                    .push(("Content-Type".into(), "text/plain".into()));
            }
            req.headers.push(("X-Custom".into(), "yes".into()));
            let ex = one(&c, req).await;
            assert_eq!(ex.status, 200, "{method}: {ex:?}");
            assert_eq!(ex.error, None);
            assert_eq!(ex.error_code, 0);
            assert_eq!(ex.proto, "HTTP/1.1");
            assert_eq!(ex.method, method);
            assert_eq!(ex.header("x-method"), Some(method));
            assert_eq!(ex.header("X-Custom"), Some("yes"));
            assert_eq!(
                ex.header("X-Ua"),
                Some(HttpConfig::default().user_agent.as_str())
            );
            assert_eq!(ex.header("X-Host"), Some(srv.addr.to_string().as_str()));
            if method == "HEAD" {
                assert!(ex.body.is_empty());
            } else if has_body {
                assert_eq!(ex.body, Bytes::from(format!("body of {method}")));
                assert_eq!(ex.header("X-Content-Type"), Some("text/plain"));
            }
            assert!(
                ex.headers.iter().any(|(k, _)| k == "X-Conn-Id"),
                "canonical names: {:?}",
                ex.headers
            );
            assert_eq!(ex.remote_ip, "127.0.0.1");
            assert_eq!(ex.remote_port, srv.addr.port());
            assert_eq!(ex.tls_version, None);
            assert_timings_sane(&ex.timings);
            assert!(ex.request_headers.iter().any(|(k, _)| k == "User-Agent"));
        }
    }

    #[tokio::test]
    async fn default_and_overridden_headers() {
        let srv = TestServer::start(None).await;
        let c = client();
        // POST without a body still says Content-Length: 0, as Go does.
        let ex = one(&c, HttpRequest::new(Method::POST, srv.url("/echo"))).await;
        assert_eq!(ex.header("X-Content-Length"), Some("0"));
        // GET without a body sends none.
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(ex.header("X-Content-Length"), Some(""));
        // Caller User-Agent and Host win.
        let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
        req.headers
            .push(("user-agent".into(), "custom-agent".into()));
        req.headers.push(("Host".into(), "example.test".into()));
        let ex = one(&c, req).await;
        assert_eq!(ex.header("X-Ua"), Some("custom-agent"));
        assert_eq!(ex.header("X-Host"), Some("example.test"));
        // An empty configured user agent sends none.
        let c2 = client_with(HttpConfig {
            user_agent: String::new(),
            ..HttpConfig::default()
        });
        let ex = one(&c2, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(ex.header("X-Ua"), Some(""));
        // Invalid header names fail the request with a generic error instead of panicking.
        let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
        req.headers.push(("bad header".into(), "x".into()));
        let ex = one(&c, req).await;
        assert_eq!((ex.status, ex.error_code), (0, codes::GENERIC));
        assert!(ex.error.unwrap().contains("bad header"));
    }

    #[tokio::test]
    async fn keep_alive_reuses_the_connection() {
        let srv = TestServer::start(None).await;
        let c = client();
        let first = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        let second = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(srv.connections(), 1);
        assert_eq!(first.header("X-Conn-Id"), second.header("X-Conn-Id"));
        assert!(first.timings.connecting > 0.0);
        assert_eq!(second.timings.connecting, 0.0);
        assert_eq!(second.timings.tls_handshaking, 0.0);
        assert_timings_sane(&second.timings);
        assert_eq!(c.pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn no_connection_reuse_opens_a_connection_per_request() {
        let srv = TestServer::start(None).await;
        let c = client_with(HttpConfig {
            no_connection_reuse: true,
            ..HttpConfig::default()
        });
        for _ in 0..3 {
            let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
            assert_eq!(ex.status, 200);
            assert!(ex.timings.connecting > 0.0);
            assert!(ex
                .request_headers
                .iter()
                .any(|(k, v)| k == "Connection" && v == "close"));
        }
        assert_eq!(srv.connections(), 3);
        assert_eq!(c.pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn reset_connections_forces_a_new_connection() {
        let srv = TestServer::start(None).await;
        let c = client();
        one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(srv.connections(), 1);
        c.reset_connections();
        assert_eq!(c.pool.idle_count(), 0);
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(srv.connections(), 2);
        assert!(ex.timings.connecting > 0.0);
    }

    #[tokio::test]
    async fn vus_do_not_share_connections() {
        let srv = TestServer::start(None).await;
        let shared = Arc::new(HttpShared::new(HttpConfig::default()).unwrap());
        let (a, b) = (VuHttpClient::new(shared.clone()), VuHttpClient::new(shared));
        one(&a, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        one(&b, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(srv.connections(), 2);
    }

    #[tokio::test]
    async fn server_closed_connections_are_not_reused() {
        let srv = TestServer::start(None).await;
        let c = client();
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/close"))).await;
        assert_eq!(ex.body, Bytes::from_static(b"bye"));
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(ex.status, 200);
        assert_eq!(ex.error, None);
        assert_eq!(srv.connections(), 2);
    }

    #[tokio::test]
    async fn redirects_are_followed_hop_by_hop() {
        let srv = TestServer::start(None).await;
        let c = client();
        let hops = execute(&c, HttpRequest::new(Method::GET, srv.url("/redirect/3"))).await;
        assert_eq!(hops.len(), 4);
        let statuses: Vec<u16> = hops.iter().map(|h| h.status).collect();
        assert_eq!(statuses, vec![302, 302, 302, 200]);
        let paths: Vec<&str> = hops.iter().map(|h| h.url.path()).collect();
        assert_eq!(
            paths,
            vec!["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]
        );
        assert_eq!(hops[3].body, Bytes::from_static(b"done"));
        for h in &hops {
            assert_timings_sane(&h.timings);
            assert!(h.bytes_sent > 0 && h.bytes_received > 0);
        }
        // All hops ride the same keep-alive connection.
        assert_eq!(srv.connections(), 1);

        // The limit stops following and returns the redirection itself, without an error.
        let mut req = HttpRequest::new(Method::GET, srv.url("/redirect/3"));
        req.max_redirects = Some(2);
        let hops = execute(&c, req).await;
        assert_eq!(hops.len(), 3);
        let last = hops.last().unwrap();
        assert_eq!(
            (last.status, last.error.as_deref(), last.error_code),
            (302, None, 0)
        );

        let mut req = HttpRequest::new(Method::GET, srv.url("/redirect/1"));
        req.max_redirects = Some(0);
        assert_eq!(execute(&c, req).await.len(), 1);

        // The run-wide limit applies when the request sets none.
        let c1 = client_with(HttpConfig {
            max_redirects: 1,
            ..HttpConfig::default()
        });
        assert_eq!(
            execute(&c1, HttpRequest::new(Method::GET, srv.url("/redirect/3")))
                .await
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn see_other_switches_to_get_and_307_keeps_the_body() {
        let srv = TestServer::start(None).await;
        let c = client();
        let mut req = HttpRequest::new(Method::POST, srv.url("/r303"));
        req.body = Bytes::from_static(b"payload");
        req.headers
            .push(("Content-Type".into(), "text/plain".into()));
        let hops = execute(&c, req).await;
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[0].method, "POST");
        assert_eq!(hops[1].method, "GET");
        assert_eq!(hops[1].header("X-Method"), Some("GET"));
        assert!(hops[1].body.is_empty());
        assert_eq!(hops[1].header("X-Content-Type"), Some(""));

        let mut req = HttpRequest::new(Method::POST, srv.url("/r307"));
        req.body = Bytes::from_static(b"payload");
        let hops = execute(&c, req).await;
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1].header("X-Method"), Some("POST"));
        assert_eq!(hops[1].body, Bytes::from_static(b"payload"));
    }

    #[tokio::test]
    async fn response_cookies_are_sent_later_and_on_redirect_hops() {
        let srv = TestServer::start(None).await;
        let c = client();
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/setcookie"))).await;
        assert_eq!(ex.header("Set-Cookie"), Some("a=1; Path=/"));
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(ex.header("X-Cookie"), Some("a=1"));
        assert!(ex
            .request_headers
            .iter()
            .any(|(k, v)| k == "Cookie" && v == "a=1"));

        let hops = execute(
            &c,
            HttpRequest::new(Method::GET, srv.url("/cookie-redirect")),
        )
        .await;
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1].header("X-Cookie"), Some("a=1; r=2"));

        // Cookies set through the jar API go out too; a caller Cookie header wins on its names.
        c.cookie_jar()
            .set(&srv.url("/"), "manual", "m", &CookieOptions::default())
            .unwrap();
        let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
        req.headers.push(("Cookie".into(), "a=override".into()));
        let ex = one(&c, req).await;
        assert_eq!(ex.header("X-Cookie"), Some("a=override; r=2; manual=m"));

        // jar: false neither sends nor stores.
        let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
        req.jar = false;
        assert_eq!(one(&c, req).await.header("X-Cookie"), Some(""));

        // A script-created jar is used instead of the VU's.
        let custom = Arc::new(CookieJar::new());
        let mut req = HttpRequest::new(Method::GET, srv.url("/setcookie"));
        req.cookie_jar = Some(custom.clone());
        let before = c.cookie_jar().len();
        one(&c, req).await;
        assert_eq!(
            custom.cookies_for_url(&srv.url("/")),
            vec![("a".to_owned(), "1".to_owned())]
        );
        assert_eq!(c.cookie_jar().len(), before);
    }

    #[tokio::test]
    async fn timeouts_fail_with_1050_within_the_timeout() {
        let srv = TestServer::start(None).await;
        let c = client();
        let mut req = HttpRequest::new(Method::GET, srv.url("/sleep/2000"));
        req.timeout = Some(Duration::from_millis(200));
        let t0 = Instant::now();
        let ex = one(&c, req).await;
        let took = t0.elapsed();
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        assert_eq!(ex.status, 0);
        assert_eq!(ex.error_code, codes::REQUEST_TIMEOUT);
        assert_eq!(ex.error.as_deref(), Some("request timeout"));
        assert_eq!(ex.proto, "");
        assert_timings_sane(&ex.timings);
        assert!(ex.timings.waiting >= 150.0, "{:?}", ex.timings);
        assert!(ex.bytes_sent > 0);
        // The timed-out connection is not reused.
        assert_eq!(c.pool.idle_count(), 0);
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(ex.status, 200);
        assert_eq!(srv.connections(), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_1212() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let c = client();
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        let ex = one(&c, HttpRequest::new(Method::GET, url)).await;
        assert_eq!(ex.status, 0);
        assert_eq!(ex.error_code, codes::TCP_DIAL_REFUSED);
        assert_eq!(ex.error.as_deref(), Some("dial: connection refused"));
        assert_eq!((ex.bytes_sent, ex.bytes_received), (0, 0));
        assert_timings_sane(&ex.timings);
        assert_eq!(ex.timings.duration, 0.0);
    }

    #[tokio::test]
    async fn bad_urls_and_statuses_map_to_k6_codes() {
        let srv = TestServer::start(None).await;
        let c = client();
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/status/404"))).await;
        assert_eq!(
            (ex.status, ex.error_code, ex.error.as_deref()),
            (404, 1404, None)
        );
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/status/503"))).await;
        assert_eq!(ex.error_code, 1503);
        let ex = one(
            &c,
            HttpRequest::new(Method::GET, Url::parse("ftp://example.com/").unwrap()),
        )
        .await;
        assert_eq!(ex.error_code, codes::GENERIC);
        assert!(ex.error.unwrap().contains("unsupported protocol scheme"));
        // `.invalid` never resolves (RFC 6761); the timeout only guards against slow resolvers.
        let mut req = HttpRequest::new(
            Method::GET,
            Url::parse("http://nonexistent.invalid/").unwrap(),
        );
        req.timeout = Some(Duration::from_secs(10));
        let ex = one(&c, req).await;
        assert!(
            matches!(ex.error_code, codes::DNS_NO_SUCH_HOST | codes::DNS_GENERIC),
            "{ex:?}"
        );
    }

    #[tokio::test]
    async fn byte_counts_cover_headers_and_bodies() {
        let srv = TestServer::start(None).await;
        let c = client();
        let mut req = HttpRequest::new(Method::POST, srv.url("/echo"));
        req.body = Bytes::from(vec![b'a'; 5000]);
        let ex = one(&c, req).await;
        let request_head: usize = ex
            .request_headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
            + "POST /echo HTTP/1.1\r\n\r\n".len();
        assert!(
            ex.bytes_sent as usize >= request_head + 5000,
            "{} < {}",
            ex.bytes_sent,
            request_head + 5000
        );
        let response_head: usize = ex
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
            + "HTTP/1.1 200 OK\r\n\r\n".len();
        assert!(ex.bytes_received as usize >= response_head + 5000);
        assert!(ex.bytes_received < 7000);

        // Discarded bodies are still read (and counted) but not kept.
        let mut req = c.request(Method::GET, srv.url("/big"));
        req.discard_body = true;
        let ex = one(&c, req).await;
        assert!(ex.body.is_empty());
        assert!(ex.bytes_received >= 100_000);
        assert!(ex.timings.receiving >= 0.0);
        // Kept bodies arrive whole.
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/big"))).await;
        assert_eq!(ex.body.len(), 100_000);
    }

    #[tokio::test]
    async fn discard_response_bodies_is_the_default_from_the_config() {
        let srv = TestServer::start(None).await;
        let c = client_with(HttpConfig {
            discard_response_bodies: true,
            ..HttpConfig::default()
        });
        let ex = one(&c, c.request(Method::GET, srv.url("/big"))).await;
        assert!(ex.body.is_empty());
        let mut req = c.request(Method::GET, srv.url("/big"));
        req.discard_body = false; // responseType: "text" overrides
        assert_eq!(one(&c, req).await.body.len(), 100_000);
    }

    #[tokio::test]
    async fn waiting_covers_the_server_think_time() {
        let srv = TestServer::start(None).await;
        let c = client();
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/sleep/60"))).await;
        let t = ex.timings;
        assert!(t.waiting >= 55.0, "{t:?}");
        assert!(t.sending < 50.0 && t.receiving < 50.0, "{t:?}");
        assert!(t.duration >= t.waiting);
        assert_timings_sane(&t);
    }

    #[tokio::test]
    async fn concurrent_requests_from_one_vu() {
        // http.batch runs requests of one VU in parallel.
        let srv = TestServer::start(None).await;
        let c = Arc::new(client());
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let c = c.clone();
            let url = srv.url("/sleep/50");
            tasks.push(tokio::spawn(async move {
                execute(&c, HttpRequest::new(Method::GET, url)).await
            }));
        }
        for t in tasks {
            let hops = t.await.unwrap();
            assert_eq!(hops[0].status, 200);
        }
        assert_eq!(srv.connections(), 4);
        assert_eq!(c.pool.idle_count(), 4);
    }

    /// A raw HTTP/1.1 server that answers the first request of each connection (keep-alive) and
    /// hangs up on the second without answering: what a server closing idle connections looks
    /// like to a client that reuses one at the wrong moment.
    async fn start_hang_up_server() -> (SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read one request head (the tests send no bodies to this server).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                    // Wait for the next request, then close without answering.
                    let _ = stream.read(&mut chunk).await;
                });
            }
        });
        (addr, connections)
    }

    #[tokio::test]
    async fn a_dead_pooled_connection_is_replaced_for_idempotent_requests() {
        let (addr, connections) = start_hang_up_server().await;
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        let c = client();
        assert_eq!(
            one(&c, HttpRequest::new(Method::GET, url.clone()))
                .await
                .status,
            200
        );
        let ex = one(&c, HttpRequest::new(Method::GET, url.clone())).await;
        assert_eq!((ex.status, ex.error.as_deref()), (200, None), "{ex:?}");
        assert_eq!(ex.body, Bytes::from_static(b"ok"));
        assert!(
            ex.timings.connecting > 0.0,
            "the retry dialled: {:?}",
            ex.timings
        );
        assert_timings_sane(&ex.timings);
        assert_eq!(connections.load(Ordering::SeqCst), 2);

        // A POST that was already written is not replayed: it fails like Go's "EOF".
        let ex = one(&c, HttpRequest::new(Method::POST, url)).await;
        assert_eq!(ex.status, 0);
        assert_eq!(ex.error_code, codes::GENERIC, "{ex:?}");
        assert_eq!(ex.error.as_deref(), Some("EOF"));
        assert!(ex.bytes_sent > 0);
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_unexpected_eof() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut chunk = [0u8; 4096];
                let _ = stream.read(&mut chunk).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                    .await;
            }
        });
        let c = client();
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        let ex = one(&c, HttpRequest::new(Method::GET, url)).await;
        assert_eq!(ex.status, 0);
        assert_eq!(ex.error_code, codes::GENERIC);
        assert_eq!(ex.error.as_deref(), Some("unexpected EOF"));
        assert!(ex.timings.receiving >= 0.0 && ex.bytes_received > 0);
        assert_timings_sane(&ex.timings);
    }

    fn tls_server_config() -> Arc<rustls::ServerConfig> {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = cert.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
        Arc::new(cfg)
    }

    #[tokio::test]
    async fn https_with_insecure_skip_verify() {
        let srv = TestServer::start(Some(tls_server_config())).await;
        let c = client_with(HttpConfig {
            insecure_skip_tls_verify: true,
            ..HttpConfig::default()
        });
        let first = one(
            &c,
            HttpRequest::new(Method::GET, srv.https_url("localhost", "/echo")),
        )
        .await;
        assert_eq!(first.status, 200, "{first:?}");
        assert_eq!(first.tls_version.as_deref(), Some("tls1.3"));
        assert!(first.timings.tls_handshaking > 0.0);
        assert!(first.timings.connecting > 0.0);
        assert_timings_sane(&first.timings);
        // The handshake bytes count towards the first request.
        assert!(first.bytes_received > 500, "{}", first.bytes_received);

        let mut req = HttpRequest::new(Method::POST, srv.https_url("localhost", "/echo"));
        req.body = Bytes::from_static(b"secret");
        let second = one(&c, req).await;
        assert_eq!(second.body, Bytes::from_static(b"secret"));
        assert_eq!(second.timings.tls_handshaking, 0.0);
        assert_eq!(second.timings.connecting, 0.0);
        assert_eq!(second.tls_version.as_deref(), Some("tls1.3"));
        assert!(second.bytes_received < first.bytes_received);
        assert_eq!(srv.connections(), 1);

        // An IP address works too when verification is off.
        let ex = one(
            &c,
            HttpRequest::new(Method::GET, srv.https_url("127.0.0.1", "/echo")),
        )
        .await;
        assert_eq!(ex.status, 200);
    }

    #[tokio::test]
    async fn https_verification_fails_with_a_tls_code() {
        let srv = TestServer::start(Some(tls_server_config())).await;
        let c = client();
        let ex = one(
            &c,
            HttpRequest::new(Method::GET, srv.https_url("localhost", "/echo")),
        )
        .await;
        assert_eq!(ex.status, 0);
        assert_eq!(ex.error_code, codes::TLS_UNKNOWN_AUTHORITY, "{ex:?}");
        assert_eq!(ex.error.as_deref(), Some("x509: unknown authority"));
        assert!(ex.timings.tls_handshaking > 0.0);
        assert_timings_sane(&ex.timings);
        // https to a plain-http server is a TLS error too.
        let plain = TestServer::start(None).await;
        let ex = one(
            &c,
            HttpRequest::new(Method::GET, plain.https_url("localhost", "/echo")),
        )
        .await;
        assert_eq!(ex.status, 0);
        assert!((1300..1400).contains(&ex.error_code), "{ex:?}");
    }

    #[test]
    fn canonical_names_follow_go() {
        assert_eq!(canonical_name("content-type"), "Content-Type");
        assert_eq!(canonical_name("x-conn-id"), "X-Conn-Id");
        assert_eq!(canonical_name("ETAG"), "Etag");
    }

    #[test]
    fn redirect_hops_drop_credentials_across_hosts() {
        let headers: Vec<(String, String)> = vec![
            ("Authorization".into(), "secret".into()),
            ("Cookie".into(), "c=1".into()),
            ("Content-Type".into(), "text/plain".into()),
            ("Host".into(), "override".into()),
            ("X-Keep".into(), "1".into()),
        ];
        let origin = Origin {
            method: Method::POST,
            url: Url::parse("http://a.test/x").unwrap(),
            headers: headers.clone(),
        };
        let hop = Hop {
            method: Method::POST,
            url: origin.url.clone(),
            headers,
            body: Bytes::from_static(b"b"),
            allow_host_override: true,
        };
        let names = |h: &Hop| h.headers.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();

        // 302 to another host: GET, no body, no credentials, no body headers, no Host override.
        let next = next_hop(hop, 302, Url::parse("http://other.test/").unwrap(), &origin);
        assert_eq!(next.method, Method::GET);
        assert!(next.body.is_empty());
        assert!(!next.allow_host_override);
        assert_eq!(names(&next), vec!["X-Keep"]);

        // Back on the original host, credentials come back (derived from the original request).
        let back = next_hop(next, 302, Url::parse("http://a.test/y").unwrap(), &origin);
        assert_eq!(names(&back), vec!["Authorization", "Cookie", "X-Keep"]);

        // 308 to a subdomain keeps method, body and headers (except the Host override).
        let origin = Origin {
            method: Method::PUT,
            url: Url::parse("http://a.test/x").unwrap(),
            headers: vec![("Authorization".into(), "secret".into())],
        };
        let hop = Hop {
            method: Method::PUT,
            url: origin.url.clone(),
            headers: origin.headers.clone(),
            body: Bytes::from_static(b"b"),
            allow_host_override: true,
        };
        let next = next_hop(hop, 308, Url::parse("http://sub.a.test/").unwrap(), &origin);
        assert_eq!(next.method, Method::PUT);
        assert_eq!(next.body, Bytes::from_static(b"b"));
        assert_eq!(names(&next), vec!["Authorization"]);
    }
}
