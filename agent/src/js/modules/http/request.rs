//! A request as a script describes it (`http.get(url)`, or the object `parseRequest` in
//! `http.js` builds from method, URL, body and params), checked and turned into an
//! [`HttpRequest`].

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use rquickjs::{Array, Ctx, Exception, Object, Value};

use super::go_url;
use super::state::{cache_url, cached_url, jar_by_id, HttpVu, Written};
use crate::http::{content_coding, HttpRequest};
use crate::js::keys::{keys, Key};
use crate::js::modules::convert::{bytes_of, tags_from_js};

type R<T> = rquickjs::Result<T>;

/// Largest request body a script may send in one request.
pub(super) const MAX_REQUEST_BODY: usize = 256 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ResponseType {
    Text,
    Binary,
    None,
}

/// One request as the VU will send it, plus what the metrics and the response need.
pub(super) struct Prepared {
    pub req: HttpRequest,
    pub tags: Vec<(String, String)>,
    pub expected: Option<Vec<(u16, u16)>>,
    pub response_type: ResponseType,
    /// Why the request cannot be sent (a URL, `timeout`, `responseType` or `compression` k6
    /// cannot use): k6 then returns a response with only this error instead of throwing,
    /// unless the run sets `throw`.
    pub failure: Option<Failure>,
    /// The request's own `throw` param, over the run's `throw` option for a request that
    /// failed once sent or was refused by Go's client (a URL or param k6 itself refuses
    /// follows the option only).
    pub throw: Option<bool>,
    /// The URL as k6 shows it (`res.url`, `res.request.url`, the first hop's `url` tag) when
    /// that is not how the `url` crate writes it: `http://host` stays without a `/`
    /// ([`go_url::shown`]).
    pub shown_url: Option<Rc<str>>,
}

/// A request k6 refuses without sending it (docs/k6-compatibility.md#request-errors).
pub(super) struct Failure {
    /// The response's `error` (and the `error` tag when recorded).
    pub error: String,
    /// The response's `error_code`.
    pub code: u32,
    /// What k6 logs and throws when it says more than `error` (`Get "url": error`).
    pub detail: Option<String>,
    /// Go's client refused a URL k6 passed on: the request's metrics are recorded, status 0.
    pub recorded: bool,
    /// The response's `url` when the URL has no parse of its own (k6 shows the text as written,
    /// or nothing when it cannot parse it).
    pub url: Option<String>,
}

impl Failure {
    /// A parameter k6 rejects before making the request: no metrics, `error_code` 0, no `url`.
    fn param(error: String) -> Self {
        Failure {
            error,
            code: 0,
            detail: None,
            recorded: false,
            url: Some(String::new()),
        }
    }

    /// A URL Go's client refuses (error code 1000, metrics recorded), in k6's words: the
    /// logged and thrown text names the method and the URL as Go does (`Get "x": …`).
    fn refused(error: String, method: &http::Method, url: &str) -> Self {
        Self::unsent(error, crate::http::error::GENERIC, method, url)
    }

    /// A request Go's client would make but that fails before sending, with `code`; its
    /// metrics are recorded.
    fn unsent(error: String, code: u32, method: &http::Method, url: &str) -> Self {
        let m = method.as_str();
        let (first, rest) = m.split_at(m.len().min(1));
        let go_method = format!("{first}{}", rest.to_ascii_lowercase());
        let escaped = url.replace(' ', "%20");
        Failure {
            detail: Some(format!("{go_method} \"{escaped}\": {error}")),
            error,
            code,
            recorded: true,
            url: Some(url.to_owned()),
        }
    }
}

/// The headers k6 shows in `res.request` for a request Go's client refused (another scheme, no
/// host): the run's `User-Agent` unless the script set one, then the script's.
pub(super) fn refused_request_headers(req: &HttpRequest, user_agent: &str) -> http::HeaderMap {
    let mut shown = http::HeaderMap::with_capacity(req.headers.len() + 1);
    let given = req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"));
    if !given && !user_agent.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(user_agent) {
            shown.insert(http::header::USER_AGENT, v);
        }
    }
    for (k, v) in &req.headers {
        let name = http::HeaderName::from_bytes(k.trim().as_bytes());
        if let (Ok(name), Ok(v)) = (name, http::HeaderValue::from_str(v)) {
            shown.append(name, v);
        }
    }
    shown
}

/// The URL of a request, or why k6 would not send it: what Go's `net/url` cannot parse is an
/// invalid URL (code 1020, not recorded, [`go_url`]); Go's client refuses a scheme other than
/// http and https and a URL without a host (code 1000, recorded). What Go takes and the `url`
/// crate does not (a port above 65535, a host that is no name or address) fails where Go's
/// would: dialing, or looking the name up.
fn request_target(
    h: &HttpVu,
    method: &http::Method,
    url_s: &str,
) -> Result<(url::Url, Written), Failure> {
    if let Some(u) = cached_url(h, url_s) {
        return Ok(u);
    }
    let go = go_url::parse(url_s).map_err(|e| Failure {
        error: format!("invalid URL: {e}"),
        code: crate::http::error::INVALID_URL,
        detail: None,
        recorded: false,
        url: Some(String::new()),
    })?;
    if !go.scheme.eq_ignore_ascii_case("http") && !go.scheme.eq_ignore_ascii_case("https") {
        let scheme = go.scheme.to_ascii_lowercase();
        return Err(Failure::refused(
            format!(
                "unsupported protocol scheme {}",
                volley_common::text::go_quote(&scheme)
            ),
            method,
            url_s,
        ));
    }
    if go.host.is_empty() {
        return Err(Failure::refused(
            "http: no Host in request URL".to_owned(),
            method,
            url_s,
        ));
    }
    match url::Url::parse(url_s) {
        Ok(u) => {
            // Credentials leave the URL for an `Authorization` header: k6 still shows them.
            let shown = go_url::shown(url_s)
                .filter(|s| s != u.as_str() || !u.username().is_empty())
                .map(Rc::from);
            // Only a target the wire can carry: Go sends a space in the query as is, which
            // `http::Uri` refuses, so that one goes as the `url` crate escapes it.
            let target = go_url::request_uri(url_s)
                .filter(|t| {
                    t != &u[url::Position::BeforePath..url::Position::AfterQuery]
                        && t.parse::<http::Uri>().is_ok()
                })
                .map(std::sync::Arc::from);
            let written = Written { shown, target };
            cache_url(h, url_s, &u, written.clone());
            Ok((u, written))
        }
        Err(url::ParseError::InvalidPort) => {
            let port = go.host.rsplit_once(':').map_or("", |(_, p)| p);
            Err(Failure::unsent(
                format!("dial tcp: address {port}: invalid port"),
                crate::http::error::TCP_DIAL,
                method,
                url_s,
            ))
        }
        Err(_) => Err(Failure::unsent(
            "lookup: no such host".to_owned(),
            crate::http::error::DNS_NO_SUCH_HOST,
            method,
            url_s,
        )),
    }
}

/// A request as `k6/http` describes it (the object `parseRequest` builds in http.js).
pub(super) struct Spec<'js> {
    method: String,
    /// `None`: the script gave `undefined` or `null` (k6: `invalid URL: '#<nil>'`).
    url: Option<String>,
    body: Value<'js>,
    headers: Option<Object<'js>>,
    auth: Option<String>,
    cookies: Value<'js>,
    timeout: Value<'js>,
    redirects: Option<f64>,
    response_type: Option<String>,
    jar: Value<'js>,
    tags: Value<'js>,
    expected: Value<'js>,
    compression: Option<String>,
    throw: Option<bool>,
}

impl<'js> Spec<'js> {
    /// Reads the object built by `parseRequest` (by interned names: no atom lookups).
    pub fn from_object(ctx: &Ctx<'js>, o: &Object<'js>) -> R<Self> {
        let k = keys(ctx)?;
        Ok(Self {
            method: o.get(k.get(Key::Method))?,
            url: o.get(k.get(Key::Url))?,
            body: o.get(k.get(Key::Body))?,
            headers: o.get(k.get(Key::Headers))?,
            auth: o.get(k.get(Key::Auth))?,
            cookies: o.get(k.get(Key::Cookies))?,
            timeout: o.get(k.get(Key::Timeout))?,
            redirects: o.get(k.get(Key::Redirects))?,
            response_type: o.get(k.get(Key::ResponseType))?,
            jar: o.get(k.get(Key::Jar))?,
            tags: o.get(k.get(Key::Tags))?,
            expected: o.get(k.get(Key::Expected))?,
            compression: o.get(k.get(Key::Compression))?,
            throw: o.get(k.get(Key::Throw))?,
        })
    }

    /// A request without params (`http.get(url)` and the like): every option at its default.
    pub fn plain(
        ctx: &Ctx<'js>,
        method: String,
        url: String,
        body: Value<'js>,
        expected: Value<'js>,
    ) -> Self {
        let undefined = || Value::new_undefined(ctx.clone());
        Self {
            method,
            url: Some(url),
            body,
            headers: None,
            auth: None,
            cookies: undefined(),
            timeout: undefined(),
            redirects: None,
            response_type: None,
            jar: undefined(),
            tags: undefined(),
            expected,
            compression: None,
            throw: None,
        }
    }
}

pub(super) fn prepare<'js>(ctx: &Ctx<'js>, h: &HttpVu, spec: Spec<'js>) -> R<Prepared> {
    // The method as written, as Go sends it: `get` is not `GET` to a server.
    let method = spec.method;
    let url_s = spec.url;
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| Exception::throw_type(ctx, &format!("invalid HTTP method \"{method}\"")))?;
    let target = match url_s.as_deref() {
        Some(u) => request_target(h, &method, u),
        // No URL at all (`http.get(__ENV.API_URL)` with the variable unset): k6 v1.1.0's words
        // for Go's nil, a URL it refuses itself (code 1020, nothing recorded).
        None => Err(Failure {
            error: "invalid URL: '#<nil>'".to_owned(),
            code: crate::http::error::INVALID_URL,
            detail: None,
            recorded: false,
            url: Some(String::new()),
        }),
    };
    let (url, written, mut failure) = match target {
        Ok((url, written)) => (url, written, None),
        Err(f) => {
            // A stand-in that is never sent: the failure decides the response and its tags.
            let stand_in = url::Url::parse("http://invalid.invalid/")
                .map_err(|e| Exception::throw_internal(ctx, &e.to_string()))?;
            (stand_in, Written::default(), Some(f))
        }
    };
    let Written {
        shown: shown_url,
        target,
    } = written;
    let mut req = HttpRequest::new(method, url);
    req.target = target;
    let body = spec.body;
    let bytes = if body.is_null() || body.is_undefined() {
        None
    } else if let Some(b) = bytes_of(&body) {
        Some(b)
    } else if let Some(o) = body.as_object() {
        // http.js's marks for a request k6 v1.1.0 refuses before sending, as for a bad param
        // (docs/k6-compatibility.md#scripts-from-the-wild-sixth-sweep): a body of a kind it
        // does not send (a number, a boolean, an array), or a tag value that is not a string,
        // number or boolean.
        let mark = |key: &str| o.get::<_, Option<String>>(key).ok().flatten();
        let error = match (mark("goType"), mark("paramError")) {
            (Some(go_type), _) => format!("unknown request body type {go_type}"),
            (None, Some(error)) => error,
            (None, None) => {
                return Err(Exception::throw_type(
                    ctx,
                    "request body must be a string, an object or an ArrayBuffer",
                ))
            }
        };
        failure.get_or_insert(Failure::param(error));
        None
    } else {
        return Err(Exception::throw_type(
            ctx,
            "request body must be a string, an object or an ArrayBuffer",
        ));
    };
    if let Some(b) = bytes {
        if b.len() > MAX_REQUEST_BODY {
            return Err(Exception::throw_range(
                ctx,
                &format!(
                    "request body is {} bytes; the limit is {MAX_REQUEST_BODY}",
                    b.len()
                ),
            ));
        }
        req.body = Bytes::from(b);
    }
    if let Some(headers) = spec.headers {
        for item in headers.props::<String, String>() {
            let (k, v) = item?;
            req.headers.push((k, v));
        }
    }
    let digest = match spec.auth.as_deref() {
        None | Some("basic") => false,
        Some("digest") => true,
        Some(auth) => {
            return Err(Exception::throw_message(
                ctx,
                &format!("auth \"{auth}\" is not supported; use \"basic\" or \"digest\" with the credentials in the URL (http://user:pass@host/)"),
            ));
        }
    };
    if digest {
        req.digest_auth = Some((
            percent_decode(req.url.username()),
            percent_decode(req.url.password().unwrap_or("")),
        ));
    }
    // Credentials in the URL become a basic Authorization header, as in k6 (with digest auth
    // too: k6 sends them so on the first request, before the server's challenge).
    if !req.url.username().is_empty()
        && !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        use base64::Engine as _;
        let user = percent_decode(req.url.username());
        let pass = percent_decode(req.url.password().unwrap_or(""));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.headers
            .push(("Authorization".into(), format!("Basic {token}")));
        let _ = req.url.set_username("");
        let _ = req.url.set_password(None);
    }
    // Per-request cookies (params.cookies): sent after a caller `Cookie` header and before the
    // jar's, which they replace only with `replace: true` (crate::http::RequestCookies).
    if let Some(arr) = spec.cookies.as_array() {
        let mut cookies = crate::http::RequestCookies::default();
        for c in arr.iter::<Array>() {
            let c = c?;
            let name: String = c.get(0)?;
            let value: String = c.get(1)?;
            let replace: bool = c.get(2)?;
            if !cookies.text.is_empty() {
                cookies.text.push_str("; ");
            }
            cookies.text.push_str(&name);
            cookies.text.push('=');
            cookies.text.push_str(&value);
            if replace {
                cookies.replaced.push(name);
            }
        }
        if !cookies.text.is_empty() {
            req.cookies = Some(std::sync::Arc::new(cookies));
        }
    }
    if let Some(param) = spec.compression.as_deref() {
        if let Err(e) = compress_body(&mut req, param) {
            failure.get_or_insert(Failure::param(e));
        }
    }
    // k6 reads `timeout` with its duration parser; a negative or zero one (`-1s`, `0`, `NaN`)
    // times the request out at once (error code 1050).
    let timeout = spec.timeout;
    let nanos = if let Some(ms) = timeout.as_number() {
        Some(Ok(volley_common::duration::go_millis_to_nanos(ms)))
    } else if let Some(s) = timeout.as_string() {
        let s = s.to_string()?;
        Some(volley_common::duration::parse_duration_signed(&s).map_err(|e| e.to_string()))
    } else if let Some(o) = timeout.as_object() {
        // http.js names the Go type a value of another kind became (`bool`, `<nil>` …).
        let go_type: String = o.get("goType")?;
        Some(Err(format!(
            "unable to use type {go_type} as a duration value"
        )))
    } else {
        None
    };
    match nanos {
        Some(Ok(n)) => {
            req.timeout = Some(Duration::from_nanos(n.clamp(0, i128::from(i64::MAX)) as u64));
        }
        Some(Err(e)) => {
            failure.get_or_insert(Failure::param(format!("invalid timeout value: {e}")));
        }
        None => {}
    }
    if let Some(r) = spec.redirects {
        req.max_redirects = Some(r.max(0.0) as u32);
    }
    let discard_default =
        h.vu.run
            .as_ref()
            .is_some_and(|r| r.settings.discard_response_bodies);
    let response_type = match spec.response_type.as_deref() {
        None => {
            if discard_default {
                ResponseType::None
            } else {
                ResponseType::Text
            }
        }
        Some("text") => ResponseType::Text,
        Some("binary") => ResponseType::Binary,
        Some("none") => ResponseType::None,
        Some(other) => {
            failure.get_or_insert(Failure::param(format!(
                "{other} does not belong to ResponseType values"
            )));
            ResponseType::Text
        }
    };
    req.discard_body = response_type == ResponseType::None;
    let jar = spec.jar;
    if jar.is_null() {
        req.jar = false;
    } else if let Some(id) = jar.as_number() {
        if id as usize != 0 {
            req.cookie_jar = Some(jar_by_id(ctx, h, id as usize)?);
        }
    }
    let mut tags = tags_from_js(Some(&spec.tags))?;
    if let Some(Failure {
        recorded: true,
        url: Some(written),
        ..
    }) = &failure
    {
        // Its `url` and `name` tags are the URL as written (emit_hop_metrics takes the name).
        if !tags.iter().any(|(k, _)| k == "name") {
            tags.push(("name".to_owned(), written.clone()));
        }
    }
    let expected = if let Some(arr) = spec.expected.as_array() {
        let mut ranges = Vec::new();
        for r in arr.iter::<Array>() {
            let r = r?;
            let lo: f64 = r.get(0)?;
            let hi: f64 = r.get(1)?;
            ranges.push((lo.clamp(0.0, 65535.0) as u16, hi.clamp(0.0, 65535.0) as u16));
        }
        Some(ranges)
    } else {
        None
    };
    Ok(Prepared {
        req,
        tags,
        expected,
        response_type,
        failure,
        throw: spec.throw,
        shown_url,
    })
}

/// k6's `compression` param: compresses the body with the listed codings and names them in
/// `Content-Encoding`, unless the script set that header itself (k6 then keeps the script's
/// header, compresses all the same and warns when the two differ).
fn compress_body(req: &mut HttpRequest, param: &str) -> Result<(), String> {
    let codings = content_coding::parse_compression(param)?;
    if codings.is_empty() {
        return Ok(());
    }
    let (body, names) = content_coding::encode_all(&codings, &req.body);
    req.body = body;
    match req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
    {
        Some((_, given)) if *given != names => crate::console::log(
            "warning",
            &format!(
                "There's a mismatch between the desired `compression` the manually set `Content-Encoding` header in the {} request for '{}', the custom header has precedence and won't be overwritten. This may result in invalid data being sent to the server.",
                req.method, req.url
            ),
            &[],
        ),
        Some(_) => {}
        None => req.headers.push(("Content-Encoding".to_owned(), names)),
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
