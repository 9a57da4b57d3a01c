//! Executing requests: the per-VU client, redirect following, and a request's wire exchange.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use url::{Position, Url};

use super::content_coding;
use super::cookies::CookieJar;
use super::digest;
use super::error::{self, code_for_status, RequestError};
use super::pool::{self, Conn, Pool};
use super::shared::HttpShared;
use super::timing::{HopTrace, Meter};
use super::{HttpExchange, HttpRequest};
use prepare::{prepare, LastPrepared, Prepared};

/// A VU's HTTP client: its own idle connections and cookie jar.
#[derive(Debug)]
pub struct VuHttpClient {
    shared: Arc<HttpShared>,
    pool: Pool,
    jar: CookieJar,
    /// The last request's URL and headers as prepared, for the identical ones that follow.
    last_prepared: LastPrepared,
}

impl VuHttpClient {
    pub fn new(shared: Arc<HttpShared>) -> Self {
        Self {
            shared,
            pool: Pool::default(),
            jar: CookieJar::new(),
            last_prepared: LastPrepared::default(),
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
        req.discard_body = self.shared.config().discard_response_bodies;
        req
    }
}

/// One hop to send.
struct Hop {
    method: Method,
    url: Url,
    /// The first hop's target as written, when the `url` crate's differs.
    target: Option<Arc<str>>,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// A caller `Host` header applies to the first hop only.
    allow_host_override: bool,
    /// The request's `cookies` param, sent on every hop (crate::http::RequestCookies).
    cookies: Option<Arc<crate::http::RequestCookies>>,
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
    tls_cipher_suite: Option<&'static str>,
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
///
/// A VU passes its request boxed: the request (a few hundred bytes) then moves as a pointer
/// from the VU's thread into this future, where by value it was copied about nine times per
/// request, with many VUs into stack and heap lines gone cold
/// (docs/benchmarks.md#what-each-change-bought).
pub async fn execute(client: &VuHttpClient, req: impl Into<Box<HttpRequest>>) -> Vec<HttpExchange> {
    let mut req: Box<HttpRequest> = req.into();
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
        target: req.target,
        headers: req.headers,
        body: req.body,
        allow_host_override: true,
        cookies: req.cookies.take(),
    };
    // Only needed (and cloned) when a redirect actually happens; boxed, so the future of a
    // request that is not redirected does not carry its room.
    let mut origin: Option<Box<Origin>> = None;
    let mut out = Vec::with_capacity(1);
    let mut followed = 0u32;
    loop {
        let (mut exchange, location) = run_hop(client, &hop, jar, req.discard_body, deadline).await;
        let status = exchange.status;
        if status == 401 {
            if let Some(answer) = req.digest_auth.take().and_then(|(user, pass)| {
                let challenges: Vec<&str> = exchange
                    .headers
                    .get_all(header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                let uri = match (
                    &hop.target,
                    &hop.url[Position::BeforePath..Position::AfterQuery],
                ) {
                    (Some(written), _) => written,
                    (None, "") => "/",
                    (None, target) => target,
                };
                digest::authorization(&challenges, hop.method.as_str(), uri, &user, &pass)
            }) {
                // Sent again with the answer; the challenge counts as an expected response.
                exchange.auth_challenge = true;
                out.push(exchange);
                hop.headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
                hop.headers.push(("Authorization".to_owned(), answer));
                continue;
            }
        }
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
        let origin = origin.get_or_insert_with(|| {
            Box::new(Origin {
                method: hop.method.clone(),
                url: hop.url.clone(),
                headers: hop.headers.clone(),
            })
        });
        hop = next_hop(hop, status, next_url, origin);
        if jar.is_some() {
            // With a jar, k6 v1.1.0 sends a redirect hop the `cookies` param and the jar's
            // cookies, not the caller's `Cookie` header (crate::http::RequestCookies).
            hop.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("cookie"));
        }
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
        target: None,
        headers,
        body: if keep_body { prev.body } else { Bytes::new() },
        allow_host_override: false,
        cookies: prev.cookies,
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
    let prepared = match prepare(&client.shared, &client.last_prepared, hop, jar) {
        Ok(p) => p,
        Err(e) => {
            let mut ex = blank_exchange(hop, started);
            ex.error = Some(e.message);
            ex.error_detail = e.detail;
            ex.error_code = e.code;
            return (ex, None);
        }
    };

    let mut trace = HopTrace::new(Instant::now());
    let mut info = ConnInfo::default();
    let outcome = tokio::time::timeout_at(
        deadline,
        send(client, hop, &prepared, discard, &mut trace, &mut info),
    )
    .await;
    let end = Instant::now();
    // Made only now: the exchange (~500 bytes) is not part of the future while it waits.
    let mut ex = blank_exchange(hop, started);
    if let Some(meter) = info.meter.take() {
        // The request failed or timed out on this connection: it is ours alone (never pooled).
        trace.io = meter.marks();
        info.collect_bytes(&meter);
    }
    // The headers as sent, names and values as they are: scripts see the names' canonical
    // texts (`super::canonical`), made where JS needs them.
    ex.request_headers = prepared.headers;
    ex.timings = trace.timings(end);
    ex.bytes_sent = info.sent;
    ex.bytes_received = info.received;
    if let Some(addr) = info.remote {
        ex.remote_ip = ip_text(addr.ip());
        ex.remote_port = addr.port();
    }
    ex.tls_version = info.tls_version.map(str::to_owned);
    ex.tls_cipher_suite = info.tls_cipher_suite.map(str::to_owned);

    let received = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            ex.error = Some(e.message);
            ex.error_detail = e.detail;
            ex.error_code = e.code;
            return (ex, None);
        }
        Err(_) => {
            let e = RequestError::timeout();
            ex.error = Some(e.message);
            ex.error_detail = e.detail;
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
    };
    ex.body = received.body;
    if !discard && !ex.body.is_empty() {
        let codings: Vec<&str> = received
            .headers
            .get_all(header::CONTENT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        match content_coding::decode_response(&codings, &ex.body) {
            Ok(Some(decoded)) => ex.body = decoded,
            Ok(None) => {}
            Err(message) => {
                // k6 reports a body that does not decode as a failed request without a
                // response: status 0, no headers, no body.
                ex.error = Some(message);
                ex.error_code = error::DECOMPRESSION;
                ex.status = 0;
                ex.proto = "";
                ex.body = Bytes::new();
                return (ex, None);
            }
        }
    }
    ex.headers = received.headers;
    (ex, location)
}

/// The exchange of `hop` before anything is known of its outcome.
fn blank_exchange(hop: &Hop, started: SystemTime) -> HttpExchange {
    HttpExchange::blank(
        hop.url.clone(),
        hop.method.clone(),
        hop.body.clone(),
        started,
    )
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
            // Boxed: dialing (DNS, TCP, TLS, hyper's handshake) is by far the largest state of
            // a request's future, and a request on a kept-alive connection never enters it;
            // unboxed, every request's future carried those kilobytes and the VU copied them
            // on every request (docs/benchmarks.md#what-each-change-bought).
            None => (
                Box::pin(pool::connect(
                    &client.shared,
                    p.base.https,
                    &p.base.host,
                    p.base.port,
                    trace,
                ))
                .await?,
                false,
            ),
        };
        info.remote = Some(conn.remote);
        info.tls_version = conn.tls_version;
        info.tls_cipher_suite = conn.tls_cipher_suite;
        info.meter = Some(conn.meter.clone());
        conn.meter.begin_request();
        trace.got_conn = Some(Instant::now());

        let mut request = http::Request::new(Full::new(hop.body.clone()));
        *request.method_mut() = hop.method.clone();
        *request.uri_mut() = p.base.uri.clone();
        *request.headers_mut() = HeaderMap::clone(&p.headers);

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
            client
                .pool
                .put(p.base.https, &p.base.host, p.base.port, conn);
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
    while let Some(mut conn) = client.pool.take(p.base.https, &p.base.host, p.base.port) {
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

/// Appends `n` in decimal (what `format!` would, without its machinery).
fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// The peer's address as k6's `remote_ip` shows it; IPv4 without the formatting machinery
/// (`Display` for an address costed ~1.3k instructions a request).
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(&mut out, octet.into());
            }
            out
        }
        v6 => v6.to_string(),
    }
}

mod prepare;

#[cfg(test)]
mod coding_tests;
#[cfg(test)]
mod tests;
