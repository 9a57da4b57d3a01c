//! The load-generation HTTP client: k6's `k6/http` semantics on hyper 1.x.
//!
//! * [`HttpShared`] is built once per run from [`HttpConfig`] (it owns the one rustls config every
//!   VU uses); [`VuHttpClient`] is one per VU: its own connection pool and cookie jar, as in k6
//!   where VUs never share connections. A client costs well under 1 KiB and allocates nothing
//!   until its first request.
//! * [`execute`] sends a request, follows redirects like k6 (each hop is its own request with its
//!   own metrics) and returns one [`HttpExchange`] per hop with k6's [`Timings`], wire byte counts
//!   and k6 error codes ([`error`]).
//!
//! Response bodies are decoded by their `Content-Encoding` as k6 does ([`content_coding`]; like
//! k6, no `Accept-Encoding` is sent by default, so servers only compress when the script asks).
//!
//! Connections are HTTP/1.1 (over TLS for https, ALPN `http/1.1`, with the run's `tlsVersion` and
//! `tlsCipherSuites` ([`cipher_suites`]); [`tls`] builds the configs, `k6/net/grpc`'s too). Not done (yet): HTTP/2, proxies, custom DNS
//! resolution options, and the public-suffix check of cookie domains.

pub mod cipher_suites;
mod client;
pub mod content_coding;
mod cookies;
pub mod digest;
pub mod error;
mod header_names;
mod pem_key;
mod pool;
mod shared;
pub mod targets;
mod timing;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use client::{execute, VuHttpClient};
pub use cookies::{parse_cookie_date, CookieError, CookieJar, CookieOptions};
pub use error::HttpSetupError;
pub use header_names::{canonical, canonical_name};
pub use shared::HttpShared;
// For `k6/ws` (js/modules/ws): a connection dialed as HTTP's are, without HTTP on it.
pub(crate) use pool::{dial_checked, Stream};
pub(crate) use timing::{HopTrace, Meter};

/// Run-wide HTTP options (k6 options of the same meaning in comments).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// `userAgent`; sent unless the request sets its own `User-Agent`. Empty: send none.
    pub user_agent: String,
    /// `insecureSkipTLSVerify`.
    pub insecure_skip_tls_verify: bool,
    /// `tlsVersion`: the TLS versions connections may use.
    pub tls_versions: tls::TlsVersions,
    /// `tlsCipherSuites`: the TLS 1.2 suites connections may use.
    pub tls_cipher_suites: cipher_suites::CipherSuites,
    /// `tlsAuth`: client certificates. `k6/net/grpc` presents the first, as k6 does; HTTP and
    /// WebSocket connections the first one the server accepts (see [`tls`]).
    pub tls_auth: Vec<tls::ClientCert>,
    /// `noConnectionReuse`: every request opens (and closes) its own connection.
    pub no_connection_reuse: bool,
    /// `maxRedirects` (k6 default 10); a request's own `redirects` overrides it.
    pub max_redirects: u32,
    /// Whether the script set `maxRedirects` (k6 warns about a cut redirect chain only when
    /// neither it nor the request's `redirects` was set).
    pub max_redirects_set: bool,
    /// `discardResponseBodies`: the default of [`HttpRequest::discard_body`] as filled in by
    /// [`VuHttpClient::request`].
    pub discard_response_bodies: bool,
    /// The timeout of requests that set none (k6: 60 s).
    pub default_timeout: Duration,
    /// Where requests may go: `blacklistIPs`, `blockHostnames` and, on an agent, the target
    /// policy; checked on every connection dialed.
    pub targets: targets::TargetFilter,
    /// `hosts`: names answered with a fixed address instead of DNS, before the target checks.
    pub hosts: volley_common::hosts::HostsMap,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            user_agent: format!(
                "volley/{} (https://github.com/volley)",
                env!("CARGO_PKG_VERSION")
            ),
            insecure_skip_tls_verify: false,
            tls_versions: tls::TlsVersions::default(),
            tls_cipher_suites: cipher_suites::CipherSuites::default(),
            tls_auth: Vec::new(),
            no_connection_reuse: false,
            max_redirects: 10,
            max_redirects_set: false,
            discard_response_bodies: false,
            default_timeout: Duration::from_secs(60),
            targets: targets::TargetFilter::default(),
            hosts: volley_common::hosts::HostsMap::default(),
        }
    }
}

/// One request as the script made it (before redirects).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: http::Method,
    pub url: url::Url,
    /// The request target as the script wrote it (Go's `URL.RequestURI()`: `/a/../b` stays
    /// as is) where the `url` crate's differs; the first hop sends it, redirects do not.
    pub target: Option<Arc<str>>,
    /// Caller headers in order. A `Host` header overrides the Host sent on the first hop (not on
    /// redirect hops, as in Go); `User-Agent`, `Content-Length` and `Cookie` given here win over
    /// the defaults (jar cookies with other names are appended to a caller `Cookie`).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Whole-request deadline, redirects included (k6 `timeout`); `None`: the config default.
    pub timeout: Option<Duration>,
    /// k6 `redirects`; `None`: the config's `max_redirects`.
    pub max_redirects: Option<u32>,
    /// k6 `responseType: "none"`: read the body off the wire but keep none of it.
    pub discard_body: bool,
    /// Use the VU's cookie jar (store response cookies, send matching ones).
    pub jar: bool,
    /// A script-created jar (k6 `params.jar = new http.CookieJar()`), used instead of the VU's.
    pub cookie_jar: Option<Arc<CookieJar>>,
    /// k6 `auth: 'digest'`: the user and password to answer a digest challenge with.
    pub digest_auth: Option<(String, String)>,
    /// k6's `cookies` param, sent on every hop between a caller `Cookie` header and the jar's.
    pub cookies: Option<Arc<RequestCookies>>,
}

/// A request's `cookies` param. k6 v1.1.0 sends, in one `Cookie` header, the caller's own
/// `Cookie` header (first hop only), then these, then the jar's cookies for the URL, leaving
/// out only the jar's cookies of a name whose param asked `replace: true`; a name may so go
/// out twice (docs/k6-compatibility.md#scripts-from-the-wild-sixth-sweep).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RequestCookies {
    /// `name=value; …` in the param's order.
    pub text: String,
    /// The names whose param asked `replace: true`.
    pub replaced: Vec<String>,
}

impl HttpRequest {
    /// A request with k6's defaults: no headers or body, the config's timeout and redirect limit,
    /// the body kept, the VU jar used. [`VuHttpClient::request`] also applies
    /// `discardResponseBodies`.
    pub fn new(method: http::Method, url: url::Url) -> Self {
        Self {
            method,
            url,
            target: None,
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: None,
            max_redirects: None,
            discard_body: false,
            jar: true,
            cookie_jar: None,
            digest_auth: None,
            cookies: None,
        }
    }
}

/// One request/response on the wire: a redirect hop or the final response.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    /// The URL requested in this hop (k6's `url` tag).
    pub url: url::Url,
    /// The method (standard ones without an allocation of their own).
    pub method: http::Method,
    /// 0 when the request failed (then `error` is set).
    pub status: u16,
    /// "HTTP/1.1"; empty when the request failed. One of a few fixed texts, so the exchange
    /// allocates none for it.
    pub proto: &'static str,
    /// Response headers as received (scripts see the names in Go's canonical form,
    /// "Content-Type": [`canonical`]).
    pub headers: http::HeaderMap,
    /// Empty when discarded or failed.
    pub body: Bytes,
    pub timings: Timings,
    /// k6's normalised error message (`error` tag); `None` on success, including 4xx/5xx.
    pub error: Option<String>,
    /// The longer explanation of `error` that k6 logs and throws, when there is one (a
    /// blocked host name or address).
    pub error_detail: Option<String>,
    /// k6's `error_code`: a code from [`error`] on failure, 1000 + status for status ≥ 400, else 0.
    pub error_code: u32,
    /// Bytes written to / read from the socket for this hop, headers and TLS included (a new
    /// connection's TLS handshake counts towards its first request), for `data_sent` /
    /// `data_received`.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Peer address; empty / 0 when no connection was made.
    pub remote_ip: String,
    pub remote_port: u16,
    /// "tls1.2" / "tls1.3" for https (k6's `tls_version` tag).
    pub tls_version: Option<String>,
    /// The negotiated suite in k6's words (`TLS_AES_128_GCM_SHA256`; k6's `tls_cipher_suite`).
    pub tls_cipher_suite: Option<String>,
    /// When the hop started (the sample time base).
    pub started: SystemTime,
    /// The headers actually sent (defaults and cookies included); shared with the client's
    /// copy for the identical requests that follow.
    pub request_headers: Arc<http::HeaderMap>,
    pub request_body: Bytes,
    /// The 401 that a digest-auth request answered with a second request: k6 counts it as an
    /// expected response.
    pub auth_challenge: bool,
}

impl HttpExchange {
    /// An exchange of `method url` with `body` that has not happened yet (status 0, nothing
    /// received, nothing on the wire): each hop starts from it and fills it in.
    pub fn blank(url: url::Url, method: http::Method, body: Bytes, started: SystemTime) -> Self {
        Self {
            url,
            method,
            status: 0,
            proto: "",
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            timings: Timings::default(),
            error: None,
            error_detail: None,
            error_code: 0,
            bytes_sent: 0,
            bytes_received: 0,
            remote_ip: String::new(),
            remote_port: 0,
            tls_version: None,
            tls_cipher_suite: None,
            started,
            request_headers: no_headers(),
            request_body: body,
            auth_challenge: false,
        }
    }

    /// The exchange of a request that was never sent because of `error` (status 0, error
    /// code 0, nothing on the wire).
    pub fn unsent(req: &HttpRequest, error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::blank(
                req.url.clone(),
                req.method.clone(),
                req.body.clone(),
                SystemTime::now(),
            )
        }
    }

    /// The first response header named `name` (case-insensitive), if its value is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An empty header map to share: an exchange's request headers until its hop has some.
fn no_headers() -> Arc<http::HeaderMap> {
    static EMPTY: std::sync::LazyLock<Arc<http::HeaderMap>> =
        std::sync::LazyLock::new(Arc::default);
    EMPTY.clone()
}

/// k6's `Response.timings`, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Waiting before the request could start: pool lookup for a reused connection; pool lookup
    /// and DNS for a new one.
    pub blocked: f64,
    /// TCP connect; 0 on a reused connection.
    pub connecting: f64,
    /// TLS handshake; 0 on a reused connection and for plain http.
    pub tls_handshaking: f64,
    /// From the connection being ready to the last request byte written.
    pub sending: f64,
    /// From the last request byte written to the first response byte.
    pub waiting: f64,
    /// From the first response byte to the end of the body.
    pub receiving: f64,
    /// `sending + waiting + receiving` (k6's `http_req_duration`).
    pub duration: f64,
}
