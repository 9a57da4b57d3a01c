//! The native half of `k6/http`: turns the request object built by `builtins/http.js` into an
//! [`HttpRequest`], runs it on the IO runtime while the VU is suspended, emits k6's HTTP metrics
//! for every hop (redirects included) and builds the response object.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rquickjs::function::Opt;
use rquickjs::{Array, ArrayBuffer, Ctx, Exception, Function, IntoJs, Object, Value};

use crate::http::{canonical_name, execute, CookieJar, CookieOptions, HttpExchange, HttpRequest};
use crate::metrics::builtin;
use crate::vu::{throw_interrupted, Phase, VuCtx};

use super::keys::{keys, Key, Keys};
use super::native::{bytes_of, tags_from_js};
use super::shapes;

type R<T> = rquickjs::Result<T>;

/// Largest request body a script may send in one request.
const MAX_REQUEST_BODY: usize = 256 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum ResponseType {
    Text,
    Binary,
    None,
}

/// One request as the VU will send it, plus what the metrics and the response need.
struct Prepared {
    req: HttpRequest,
    tags: Vec<(String, String)>,
    expected: Option<Vec<(u16, u16)>>,
    response_type: ResponseType,
}

pub fn install<'js>(ctx: &Ctx<'js>, v: &super::native::Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "request",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, spec: Object<'js>, shapes: Array<'js>| -> R<Object<'js>> {
                ensure_can_request(&ctx, &vu1)?;
                let shapes = ResponseShapes::from_js(&ctx, &shapes)?;
                let p = prepare(&ctx, &vu1, Spec::from_object(&ctx, &spec)?)?;
                let mut out = run_all(&ctx, &vu1, vec![p], &shapes)?;
                Ok(out.remove(0))
            },
        )?,
    )?;
    let vu_plain = vu.clone();
    v.set(
        "requestPlain",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  method: String,
                  url: String,
                  body: Value<'js>,
                  expected: Value<'js>,
                  shapes: Array<'js>|
                  -> R<Object<'js>> {
                ensure_can_request(&ctx, &vu_plain)?;
                let shapes = ResponseShapes::from_js(&ctx, &shapes)?;
                let spec = Spec::plain(&ctx, method, url, body, expected);
                let p = prepare(&ctx, &vu_plain, spec)?;
                let mut out = run_all(&ctx, &vu_plain, vec![p], &shapes)?;
                Ok(out.remove(0))
            },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "batch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, specs: Array<'js>, shapes: Array<'js>| -> R<Vec<Object<'js>>> {
                ensure_can_request(&ctx, &vu2)?;
                let shapes = ResponseShapes::from_js(&ctx, &shapes)?;
                let mut prepared = Vec::with_capacity(specs.len());
                for s in specs.iter::<Object>() {
                    prepared.push(prepare(&ctx, &vu2, Spec::from_object(&ctx, &s?)?)?);
                }
                run_all(&ctx, &vu2, prepared, &shapes)
            },
        )?,
    )?;
    v.set(
        "responseShapes",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, proto: Object<'js>| -> R<Array<'js>> {
                ResponseShapes::make(&ctx, &proto)
            },
        )?,
    )?;
    let vu3 = vu.clone();
    v.set(
        "jarNew",
        Function::new(ctx.clone(), move || -> usize {
            let mut jars = vu3.jars.borrow_mut();
            jars.push(Arc::new(CookieJar::new()));
            jars.len()
        })?,
    )?;
    let vu4 = vu.clone();
    v.set(
        "jarCookiesForURL",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: usize, url: String| -> R<Object<'js>> {
                let u = parse_url(&ctx, &url)?;
                let out = Object::new(ctx.clone())?;
                for (name, value) in with_jar(&ctx, &vu4, id, |j| j.cookies_for_url(&u))? {
                    let arr: Array = match out.get::<_, Option<Array>>(name.as_str())? {
                        Some(a) => a,
                        None => {
                            let a = Array::new(ctx.clone())?;
                            out.set(name.as_str(), a.clone())?;
                            a
                        }
                    };
                    arr.set(arr.len(), value)?;
                }
                Ok(out)
            },
        )?,
    )?;
    let vu5 = vu.clone();
    v.set(
        "jarSet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  id: usize,
                  url: String,
                  name: String,
                  value: String,
                  opts: Opt<Value<'js>>|
                  -> R<()> {
                let u = parse_url(&ctx, &url)?;
                let mut o = CookieOptions::default();
                if let Some(obj) = opts.0.as_ref().and_then(|v| v.as_object()) {
                    o.domain = obj.get::<_, Option<String>>("domain")?;
                    o.path = obj.get::<_, Option<String>>("path")?;
                    o.secure = obj.get::<_, Option<bool>>("secure")?.unwrap_or(false);
                    o.http_only = obj.get::<_, Option<bool>>("http_only")?.unwrap_or(false);
                    o.max_age = obj.get::<_, Option<f64>>("max_age")?.map(|x| x as i64);
                    if let Some(exp) = obj.get::<_, Option<String>>("expires")? {
                        o.expires = crate::http::parse_cookie_date(&exp);
                    }
                }
                with_jar(&ctx, &vu5, id, |j| j.set(&u, &name, &value, &o))?
                    .map_err(|e| Exception::throw_message(&ctx, &e.to_string()))
            },
        )?,
    )?;
    let vu6 = vu.clone();
    v.set(
        "jarClear",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: usize, url: String| -> R<()> {
                let u = parse_url(&ctx, &url)?;
                with_jar(&ctx, &vu6, id, |j| j.clear_url(&u))
            },
        )?,
    )?;
    let vu7 = vu.clone();
    v.set(
        "jarDelete",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: usize, url: String, name: String| -> R<()> {
                let u = parse_url(&ctx, &url)?;
                with_jar(&ctx, &vu7, id, |j| j.delete(&u, &name))
            },
        )?,
    )?;
    Ok(())
}

fn ensure_can_request(ctx: &Ctx<'_>, vu: &VuCtx) -> R<()> {
    if vu.phase.get() == Phase::Init || vu.http.is_none() {
        return Err(Exception::throw_message(
            ctx,
            "Making http requests in the init context is not supported",
        ));
    }
    Ok(())
}

/// Runs `f` on a cookie jar: 0 is the VU's own; others were made with `new http.CookieJar()`.
fn with_jar<T>(ctx: &Ctx<'_>, vu: &VuCtx, id: usize, f: impl FnOnce(&CookieJar) -> T) -> R<T> {
    if id == 0 {
        return match &vu.http {
            Some(h) => Ok(f(h.cookie_jar())),
            None => Err(Exception::throw_message(
                ctx,
                "the VU cookie jar is not available in the init context",
            )),
        };
    }
    let jar = jar_by_id(ctx, vu, id)?;
    Ok(f(&jar))
}

/// A jar made with `new http.CookieJar()` (ids from 1).
fn jar_by_id(ctx: &Ctx<'_>, vu: &VuCtx, id: usize) -> R<Arc<CookieJar>> {
    if id == 0 {
        return Err(Exception::throw_reference(ctx, "unknown cookie jar"));
    }
    vu.jars
        .borrow()
        .get(id - 1)
        .cloned()
        .ok_or_else(|| Exception::throw_reference(ctx, "unknown cookie jar"))
}

fn parse_url(ctx: &Ctx<'_>, s: &str) -> R<url::Url> {
    url::Url::parse(s).map_err(|e| {
        Exception::throw_message(
            ctx,
            &format!(
                "invalid URL \"{s}\": {e}; use an absolute URL such as http://127.0.0.1:8080/path"
            ),
        )
    })
}

/// A request as `k6/http` describes it (the object `parseRequest` builds in http.js).
struct Spec<'js> {
    method: String,
    url: String,
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
}

impl<'js> Spec<'js> {
    /// Reads the object built by `parseRequest` (by interned names: no atom lookups).
    fn from_object(ctx: &Ctx<'js>, o: &Object<'js>) -> R<Self> {
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
        })
    }

    /// A request without params (`http.get(url)` and the like): every option at its default.
    fn plain(
        ctx: &Ctx<'js>,
        method: String,
        url: String,
        body: Value<'js>,
        expected: Value<'js>,
    ) -> Self {
        let undefined = || Value::new_undefined(ctx.clone());
        Self {
            method,
            url,
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
        }
    }
}

/// `s` parsed, from the VU's one-entry cache when it is the URL of its last request.
fn request_url(ctx: &Ctx<'_>, vu: &VuCtx, s: &str) -> R<url::Url> {
    if let Some((last, url)) = &vu.state.borrow().last_url {
        if last == s {
            return Ok(url.clone());
        }
    }
    let url = parse_url(ctx, s)?;
    vu.state.borrow_mut().last_url = Some((s.to_owned(), url.clone()));
    Ok(url)
}

fn prepare<'js>(ctx: &Ctx<'js>, vu: &VuCtx, spec: Spec<'js>) -> R<Prepared> {
    let mut method = spec.method;
    method.make_ascii_uppercase();
    let url_s = spec.url;
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| Exception::throw_type(ctx, &format!("invalid HTTP method \"{method}\"")))?;
    let url = request_url(ctx, vu, url_s.as_str())?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Exception::throw_message(
            ctx,
            &format!(
                "unsupported protocol scheme \"{}\" in URL {url_s}",
                url.scheme()
            ),
        ));
    }
    let mut req = HttpRequest::new(method, url);
    let body = spec.body;
    if !body.is_null() && !body.is_undefined() {
        let b = bytes_of(&body).ok_or_else(|| {
            Exception::throw_type(
                ctx,
                "request body must be a string, an object or an ArrayBuffer",
            )
        })?;
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
    if let Some(auth) = spec.auth {
        if auth != "basic" {
            return Err(Exception::throw_message(
                ctx,
                &format!("auth \"{auth}\" is not supported; put the credentials in the URL (http://user:pass@host/) for basic auth"),
            ));
        }
    }
    // Credentials in the URL become a basic Authorization header, as in k6.
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
    // Per-request cookies (params.cookies): sent with the request; `replace` wins over the jar.
    if let Some(arr) = spec.cookies.as_array() {
        let mut parts = Vec::new();
        for c in arr.iter::<Array>() {
            let c = c?;
            let name: String = c.get(0)?;
            let value: String = c.get(1)?;
            parts.push(format!("{name}={value}"));
        }
        if !parts.is_empty() {
            req.headers.push(("Cookie".into(), parts.join("; ")));
        }
    }
    let timeout = spec.timeout;
    if let Some(ms) = timeout.as_number() {
        req.timeout = Some(Duration::from_secs_f64((ms.max(0.0)) / 1000.0));
    } else if let Some(s) = timeout.as_string() {
        let s = s.to_string()?;
        let d = volley_common::duration::parse_duration(&s)
            .map_err(|e| Exception::throw_type(ctx, &format!("invalid timeout \"{s}\": {e}")))?;
        req.timeout = Some(d);
    }
    if let Some(r) = spec.redirects {
        req.max_redirects = Some(r.max(0.0) as u32);
    }
    let discard_default = vu
        .run
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
            return Err(Exception::throw_type(
                ctx,
                &format!("unknown responseType \"{other}\"; use text, binary or none"),
            ))
        }
    };
    req.discard_body = response_type == ResponseType::None;
    let jar = spec.jar;
    if jar.is_null() {
        req.jar = false;
    } else if let Some(id) = jar.as_number() {
        if id as usize != 0 {
            req.cookie_jar = Some(jar_by_id(ctx, vu, id as usize)?);
        }
    }
    let tags = tags_from_js(Some(&spec.tags))?;
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
    })
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

/// Runs the prepared requests concurrently (one for `http.request`, several for `batch`) and
/// returns their response objects in order, made from `shapes` (instances of the `Response`
/// class of `k6/http`, so that no JS copies them into a second object).
fn run_all<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    prepared: Vec<Prepared>,
    shapes: &ResponseShapes<'js>,
) -> R<Vec<Object<'js>>> {
    let Some(client) = vu.http.clone() else {
        return Err(Exception::throw_message(ctx, "no HTTP client in this VU"));
    };
    let mut reqs: Vec<HttpRequest> = prepared.iter().map(|p| p.req.clone()).collect();
    let results = if reqs.len() == 1 {
        // One request (http.get & co.): run it in the VU's own IO task, no extra spawn.
        let r = reqs.remove(0);
        vu.block_on(async move { vec![execute(&client, r).await] })
    } else {
        vu.block_on(async move {
            let futs = reqs.into_iter().map(|r| {
                let c = client.clone();
                async move { execute(&c, r).await }
            });
            futures_join_all(futs).await
        })
    }
    .map_err(|_| throw_interrupted(ctx))?;
    let throw = vu.run.as_ref().is_some_and(|r| r.settings.throw);
    let mut out = Vec::with_capacity(results.len());
    for (p, hops) in prepared.into_iter().zip(results) {
        for hop in &hops {
            emit_hop_metrics(vu, &p, hop);
        }
        let Some(last) = hops.last() else {
            return Err(Exception::throw_message(
                ctx,
                "the HTTP client returned no response",
            ));
        };
        if throw {
            if let Some(e) = &last.error {
                return Err(Exception::throw_message(ctx, e));
            }
        }
        if let Some(e) = &last.error {
            crate::console::log(
                "warning",
                &format!("Request Failed: {e}"),
                &[("error", e.as_str())],
            );
        }
        out.push(response_object(ctx, &p, last, shapes)?);
    }
    Ok(out)
}

/// Awaits all futures, keeping their order (a tiny join_all without the futures crate).
async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

fn is_expected(ranges: &[(u16, u16)], status: u16) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
}

fn emit_hop_metrics(vu: &VuCtx, p: &Prepared, hop: &HttpExchange) {
    let url = hop.url.as_str();
    let status = hop.status.to_string();
    let mut extra: Vec<(&str, &str)> = Vec::with_capacity(12);
    let name = p
        .tags
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str());
    extra.push(("method", hop.method.as_str()));
    extra.push(("url", name.unwrap_or(url)));
    extra.push(("name", name.unwrap_or(url)));
    extra.push(("status", status.as_str()));
    if !hop.proto.is_empty() {
        extra.push(("proto", hop.proto.as_str()));
    }
    let expected = p.expected.as_ref().map(|r| is_expected(r, hop.status));
    if let Some(e) = expected {
        extra.push(("expected_response", if e { "true" } else { "false" }));
    }
    let code = hop.error_code.to_string();
    if hop.error_code != 0 {
        extra.push(("error_code", code.as_str()));
    }
    if let Some(e) = &hop.error {
        extra.push(("error", e.as_str()));
    }
    if let Some(t) = &hop.tls_version {
        extra.push(("tls_version", t.as_str()));
    }
    for (k, v) in &p.tags {
        if k != "name" {
            extra.push((k.as_str(), v.as_str()));
        }
    }
    let tags = vu.tags_with(&extra);
    let t = hop.started;
    let tm = &hop.timings;
    vu.emit(builtin::HTTP_REQS, &tags, 1.0, t);
    vu.emit(builtin::HTTP_REQ_DURATION, &tags, tm.duration, t);
    vu.emit(builtin::HTTP_REQ_BLOCKED, &tags, tm.blocked, t);
    vu.emit(builtin::HTTP_REQ_CONNECTING, &tags, tm.connecting, t);
    vu.emit(
        builtin::HTTP_REQ_TLS_HANDSHAKING,
        &tags,
        tm.tls_handshaking,
        t,
    );
    vu.emit(builtin::HTTP_REQ_SENDING, &tags, tm.sending, t);
    vu.emit(builtin::HTTP_REQ_WAITING, &tags, tm.waiting, t);
    vu.emit(builtin::HTTP_REQ_RECEIVING, &tags, tm.receiving, t);
    if let Some(e) = expected {
        vu.emit(
            builtin::HTTP_REQ_FAILED,
            &tags,
            if e { 0.0 } else { 1.0 },
            t,
        );
    }
    let mut st = vu.state.borrow_mut();
    st.bytes_sent += hop.bytes_sent;
    st.bytes_received += hop.bytes_received;
}

/// Go-style canonical header name (`content-type` → `Content-Type`), as k6 shows them.
fn status_text(code: u16) -> String {
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    if code == 0 {
        String::new()
    } else {
        format!("{code} {reason}").trim_end().to_string()
    }
}

/// The properties of a response, in order (the template made by `responseShapes`).
const RESPONSE_KEYS: [Key; 15] = [
    Key::Status,
    Key::StatusText,
    Key::Url,
    Key::Proto,
    Key::RemoteIp,
    Key::RemotePort,
    Key::TlsVersion,
    Key::TlsCipherSuite,
    Key::Error,
    Key::ErrorCode,
    Key::Body,
    Key::Headers,
    Key::Cookies,
    Key::Timings,
    Key::Request,
];
/// The properties of `res.timings`, in order.
const TIMINGS_KEYS: [Key; 7] = [
    Key::Blocked,
    Key::Connecting,
    Key::TlsHandshaking,
    Key::Sending,
    Key::Waiting,
    Key::Receiving,
    Key::Duration,
];
/// The properties of `res.request`, in order.
const REQUEST_KEYS: [Key; 5] = [Key::Method, Key::Url, Key::Headers, Key::Body, Key::Cookies];

/// Templates (see [`shapes`]) of a response, its `timings` and its `request`: made once per VU
/// by `V.responseShapes(Response.prototype)`, kept by `k6/http` and passed to every request.
struct ResponseShapes<'js> {
    response: Object<'js>,
    timings: Object<'js>,
    request: Object<'js>,
}

impl<'js> ResponseShapes<'js> {
    /// The three templates, as the array `k6/http` keeps (`V.responseShapes(Response.prototype)`).
    fn make(ctx: &Ctx<'js>, proto: &Object<'js>) -> R<Array<'js>> {
        let k = keys(ctx)?;
        let atoms = |ks: &[Key]| ks.iter().map(|&key| k.get(key)).collect::<Vec<_>>();
        let out = Array::new(ctx.clone())?;
        out.set(
            0,
            shapes::template(ctx, Some(proto), &atoms(&RESPONSE_KEYS))?,
        )?;
        out.set(1, shapes::template(ctx, None, &atoms(&TIMINGS_KEYS))?)?;
        out.set(2, shapes::template(ctx, None, &atoms(&REQUEST_KEYS))?)?;
        Ok(out)
    }

    fn from_js(ctx: &Ctx<'js>, arr: &Array<'js>) -> R<Self> {
        let get = |i: usize| {
            arr.get::<Object>(i).map_err(|_| {
                Exception::throw_type(ctx, "the response shapes must come from responseShapes()")
            })
        };
        Ok(Self {
            response: get(0)?,
            timings: get(1)?,
            request: get(2)?,
        })
    }
}

fn string<'js>(ctx: &Ctx<'js>, s: &str) -> R<Value<'js>> {
    Ok(rquickjs::String::from_str(ctx.clone(), s)?.into_value())
}

fn number<'js>(ctx: &Ctx<'js>, n: f64) -> Value<'js> {
    Value::new_number(ctx.clone(), n)
}

fn response_object<'js>(
    ctx: &Ctx<'js>,
    p: &Prepared,
    ex: &HttpExchange,
    shapes: &ResponseShapes<'js>,
) -> R<Object<'js>> {
    let body: Value = if ex.error.is_some() && ex.status == 0 {
        Value::new_null(ctx.clone())
    } else {
        match p.response_type {
            ResponseType::None => Value::new_null(ctx.clone()),
            ResponseType::Binary => ArrayBuffer::new_copy(ctx.clone(), &ex.body[..])?.into_value(),
            ResponseType::Text => string(ctx, &String::from_utf8_lossy(&ex.body))?,
        }
    };
    // Repeated headers are joined with ", " (as Go's Header.Get would show them to k6).
    let mut merged: Vec<(String, String)> = Vec::with_capacity(ex.headers.len());
    let mut set_cookies = Vec::new();
    for (name, v) in &ex.headers {
        let name = canonical_name(name);
        if name == "Set-Cookie" {
            set_cookies.push(v.clone());
        }
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            None => merged.push((name, v.clone())),
        }
    }
    let headers = Object::new(ctx.clone())?;
    for (name, v) in merged {
        headers.set(name, v)?;
    }
    let k = keys(ctx)?;
    let tm = &ex.timings;
    let timings = shapes::new_like(
        ctx,
        &shapes.timings,
        [
            number(ctx, tm.blocked),
            number(ctx, tm.connecting),
            number(ctx, tm.tls_handshaking),
            number(ctx, tm.sending),
            number(ctx, tm.waiting),
            number(ctx, tm.receiving),
            number(ctx, tm.duration),
        ],
    )?;
    // Request headers as k6 shows them: name → array of values.
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::with_capacity(ex.request_headers.len());
    for (name, v) in &ex.request_headers {
        let name = canonical_name(name);
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, vals)) => vals.push(v.as_str()),
            None => grouped.push((name, vec![v.as_str()])),
        }
    }
    let rh = Object::new(ctx.clone())?;
    for (name, vals) in grouped {
        rh.set(name, vals)?;
    }
    let request = shapes::new_like(
        ctx,
        &shapes.request,
        [
            string(ctx, ex.method.as_str())?,
            string(ctx, ex.url.as_str())?,
            rh.into_value(),
            string(ctx, &String::from_utf8_lossy(&ex.request_body))?,
            Object::new(ctx.clone())?.into_value(),
        ],
    )?;
    shapes::new_like(
        ctx,
        &shapes.response,
        [
            Value::new_int(ctx.clone(), i32::from(ex.status)),
            string(ctx, &status_text(ex.status))?,
            string(ctx, ex.url.as_str())?,
            string(ctx, ex.proto.as_str())?,
            string(ctx, ex.remote_ip.as_str())?,
            Value::new_int(ctx.clone(), i32::from(ex.remote_port)),
            string(ctx, ex.tls_version.as_deref().unwrap_or_default())?,
            string(ctx, "")?,
            string(ctx, ex.error.as_deref().unwrap_or_default())?,
            ex.error_code.into_js(ctx)?,
            body,
            headers.into_value(),
            response_cookies(ctx, &k, &set_cookies)?.into_value(),
            timings.into_value(),
            request.into_value(),
        ],
    )
}

/// `res.cookies`: the cookies the response set, `{name: [{name, value, domain, path, ...}]}`.
fn response_cookies<'js>(ctx: &Ctx<'js>, k: &Keys<'js>, set_cookies: &[String]) -> R<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    for sc in set_cookies {
        let Ok(c) = cookie::Cookie::parse(sc.clone()) else {
            continue;
        };
        let e = Object::new(ctx.clone())?;
        e.set(k.get(Key::Name), c.name())?;
        e.set(k.get(Key::Value), c.value())?;
        e.set(k.get(Key::Domain), c.domain().unwrap_or(""))?;
        e.set(k.get(Key::Path), c.path().unwrap_or(""))?;
        e.set(k.get(Key::HttpOnly), c.http_only().unwrap_or(false))?;
        e.set(k.get(Key::Secure), c.secure().unwrap_or(false))?;
        e.set(
            k.get(Key::MaxAge),
            c.max_age().map(|d| d.whole_seconds() as f64).unwrap_or(0.0),
        )?;
        let expires = match c.expires_datetime() {
            Some(dt) => dt.unix_timestamp() as f64 * 1000.0,
            None => 0.0,
        };
        e.set(k.get(Key::Expires), expires)?;
        let arr: Array = match out.get::<_, Option<Array>>(c.name())? {
            Some(a) => a,
            None => {
                let a = Array::new(ctx.clone())?;
                out.set(c.name(), a.clone())?;
                a
            }
        };
        arr.set(arr.len(), e)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_ranges() {
        let r = vec![(200, 399)];
        assert!(is_expected(&r, 200));
        assert!(is_expected(&r, 302));
        assert!(!is_expected(&r, 404));
        assert!(is_expected(&[(200, 200), (404, 404)], 404));
    }

    #[test]
    fn status_texts() {
        assert_eq!(status_text(200), "200 OK");
        assert_eq!(status_text(404), "404 Not Found");
        assert_eq!(status_text(0), "");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
