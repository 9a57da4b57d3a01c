//! A hop made ready for the wire: its URL checked and split, the headers that go with it.
//!
//! A load test sends the same request over and over, so a VU's client keeps the last hop's
//! result and hands it out again for a hop identical in shape (method, URL, caller headers,
//! body length), instead of parsing the URL's target and building and validating the header
//! map anew (~2.6k instructions a request; docs/benchmarks.md#what-each-change-bought). The jar's
//! cookies change between requests, so they are added to each hop's copy.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;
use url::Position;

use super::super::cookies::CookieJar;
use super::super::error::{self, RequestError};
use super::super::shared::HttpShared;
use super::Hop;

/// What a hop's URL and headers make, shared by the identical hops that follow.
pub(super) struct Base {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub uri: http::Uri,
    /// Every header but the jar's cookies.
    headers: Arc<HeaderMap>,
    /// `headers` ends with the `Connection: close` of noConnectionReuse.
    closes: bool,
}

/// A hop ready for the wire.
pub(super) struct Prepared {
    pub base: Arc<Base>,
    /// The headers to send: the base's, with the jar's cookies when it has any for the URL.
    pub headers: Arc<HeaderMap>,
}

/// The shape of a hop: what [`Base`] is made from.
struct Shape {
    method: Method,
    url: String,
    target: Option<Arc<str>>,
    headers: Vec<(String, String)>,
    body_len: usize,
    allow_host_override: bool,
}

impl Shape {
    fn is(&self, hop: &Hop) -> bool {
        self.body_len == hop.body.len()
            && self.allow_host_override == hop.allow_host_override
            && self.method == hop.method
            && self.url == hop.url.as_str()
            && self.target == hop.target
            && self.headers == hop.headers
    }
}

/// A fingerprint of a hop's shape: a shape is kept only when two hops in a row have it, so
/// requests that keep changing (a new URL each time) do not pay for copying it.
fn fingerprint(hop: &Hop) -> u64 {
    let mut h = DefaultHasher::new();
    hop.method.hash(&mut h);
    hop.url.as_str().hash(&mut h);
    hop.target.hash(&mut h);
    hop.headers.hash(&mut h);
    hop.body.len().hash(&mut h);
    hop.allow_host_override.hash(&mut h);
    h.finish()
}

/// A VU client's last prepared shape (one: a VU sends one request at a time, nearly always).
#[derive(Default)]
pub(super) struct LastPrepared {
    inner: Mutex<Last>,
}

#[derive(Default)]
struct Last {
    kept: Option<(Shape, Arc<Base>)>,
    /// The fingerprint of the last hop that was not `kept`'s shape.
    missed: u64,
}

impl std::fmt::Debug for LastPrepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastPrepared").finish_non_exhaustive()
    }
}

impl LastPrepared {
    fn base(&self, shared: &HttpShared, hop: &Hop) -> Result<Arc<Base>, RequestError> {
        let mut last = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((shape, base)) = &last.kept {
            if shape.is(hop) {
                return Ok(base.clone());
            }
        }
        let base = Arc::new(make_base(shared, hop)?);
        let print = fingerprint(hop);
        if print == last.missed {
            last.kept = Some((
                Shape {
                    method: hop.method.clone(),
                    url: hop.url.as_str().to_owned(),
                    target: hop.target.clone(),
                    headers: hop.headers.clone(),
                    body_len: hop.body.len(),
                    allow_host_override: hop.allow_host_override,
                },
                base.clone(),
            ));
        }
        last.missed = print;
        Ok(base)
    }
}

/// Validates the URL and builds the headers that go on the wire: the shape's (kept from the
/// previous identical hop when there was one), then the `cookies` param's and the jar's.
pub(super) fn prepare(
    shared: &HttpShared,
    last: &LastPrepared,
    hop: &Hop,
    jar: Option<&CookieJar>,
) -> Result<Prepared, RequestError> {
    let base = last.base(shared, hop)?;
    let mut headers = base.headers.clone();
    let param = hop.cookies.as_deref();
    let replaced: &[String] = param.map_or(&[], |p| &p.replaced);
    let from_jar = jar.and_then(|jar| jar.header_for(&hop.url, replaced));
    if param.is_some() || from_jar.is_some() {
        // One `Cookie` header, as k6 v1.1.0 sends it: the caller's, the `cookies` param's, then
        // the jar's (crate::http::RequestCookies).
        let caller = base
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .filter(|c| !c.trim().is_empty());
        let mut value = String::new();
        for part in [caller, param.map(|p| p.text.as_str()), from_jar.as_deref()]
            .into_iter()
            .flatten()
        {
            if !value.is_empty() {
                value.push_str("; ");
            }
            value.push_str(part);
        }
        let mut with_cookies = HeaderMap::clone(&base.headers);
        // The `Connection: close` of noConnectionReuse, the base's last header, stays
        // after the cookies.
        let close = if base.closes && !base.headers.contains_key(header::COOKIE) {
            with_cookies.remove(header::CONNECTION)
        } else {
            None
        };
        with_cookies.insert(header::COOKIE, header_value("Cookie", &value)?);
        if let Some(close) = close {
            with_cookies.insert(header::CONNECTION, close);
        }
        headers = Arc::new(with_cookies);
    }
    Ok(Prepared { base, headers })
}

/// The hop's URL split for the wire and every header but the jar's cookies.
fn make_base(shared: &HttpShared, hop: &Hop) -> Result<Base, RequestError> {
    let cfg = shared.config();
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
    let target = match &hop.target {
        Some(written) => written,
        None => &url[Position::BeforePath..Position::AfterQuery],
    };
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
            Some(p) => {
                let mut v = String::with_capacity(host.len() + 6);
                v.push_str(&host);
                v.push(':');
                super::push_decimal(&mut v, p.into());
                v
            }
            None => host.clone(),
        },
    };
    headers.insert(header::HOST, header_value("Host", &host_value)?);
    if !cfg.user_agent.is_empty() && !given("user-agent") {
        let ua = match &shared.user_agent {
            Some(ua) => ua.clone(),
            None => header_value("User-Agent", &cfg.user_agent)?,
        };
        headers.insert(header::USER_AGENT, ua);
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
    let closes = cfg.no_connection_reuse && !given("connection");
    if closes {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(Base {
        https,
        host,
        port,
        uri,
        headers: Arc::new(headers),
        closes,
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
