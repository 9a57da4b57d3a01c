//! The response object a script gets: made natively from the templates of `Response` and its
//! `timings` and `request` (see [`crate::js::shapes`]), with k6's header and cookie shapes.
//! Its `headers`, `cookies` and `request` are made when first read ([`crate::js::lazy`]).
//! The `headers` and `request.headers` objects are made from templates too once a VU has seen
//! the same header names twice in a row (a load test's responses nearly always repeat them).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::{Array, ArrayBuffer, Atom, Ctx, Exception, IntoJs, Object, Value};

use super::request::{Prepared, ResponseType};
use super::state::{HeaderNames, SeenNames};
use crate::http::HttpExchange;
use crate::js::keys::{keys, Key, Keys};
use crate::js::lazy::{Lazy, LazyValue};
use crate::js::shapes::{self, Raw};

type R<T> = rquickjs::Result<T>;

/// The status line's text (`200 OK`), empty for no response.
fn status_text(code: u16) -> String {
    if code == 0 {
        return String::new();
    }
    let Ok(status) = http::StatusCode::from_u16(code) else {
        return code.to_string();
    };
    let reason = status.canonical_reason().unwrap_or("");
    let mut out = String::with_capacity(4 + reason.len());
    out.push_str(status.as_str());
    if !reason.is_empty() {
        out.push(' ');
        out.push_str(reason);
    }
    out
}

/// The properties of a response, in the order k6 v1.1.0 lists them (its Go struct's fields:
/// `Object.keys(res)`, `JSON.stringify(res)`); the template made by `responseShapes`.
const RESPONSE_KEYS: [Key; 16] = [
    Key::RemoteIp,
    Key::RemotePort,
    Key::Url,
    Key::Status,
    Key::StatusText,
    Key::Proto,
    Key::Headers,
    Key::Cookies,
    Key::Body,
    Key::Timings,
    Key::TlsVersion,
    Key::TlsCipherSuite,
    Key::Ocsp,
    Key::Error,
    Key::ErrorCode,
    Key::Request,
];
/// The methods a response has as its own properties after [`RESPONSE_KEYS`], in k6 v1.1.0's
/// order: constants of its template (`shapes::define_constant`), from `Response.prototype`.
const RESPONSE_METHODS: [&str; 4] = ["clickLink", "html", "json", "submitForm"];
/// The properties of `res.timings`, in k6 v1.1.0's order (`JSON.stringify(res.timings)`).
const TIMINGS_KEYS: [Key; 8] = [
    Key::Duration,
    Key::Blocked,
    Key::LookingUp,
    Key::Connecting,
    Key::TlsHandshaking,
    Key::Sending,
    Key::Waiting,
    Key::Receiving,
];
/// The properties of `res.request`, in order.
const REQUEST_KEYS: [Key; 5] = [Key::Method, Key::Url, Key::Headers, Key::Body, Key::Cookies];

/// Where the array of [`ResponseShapes`] keeps the template of the last response's `headers`.
const RESPONSE_HEADERS_SLOT: usize = 3;
/// ... and of the last request's `headers` (`res.request.headers`).
const REQUEST_HEADERS_SLOT: usize = 4;
/// Header lists longer than this are never templated (a template is an object the VU keeps).
const MAX_TEMPLATE_NAMES: usize = 32;

/// The record of `names`'s kind of headers object (response or request headers).
fn seen_for(names: &mut HeaderNames, slot: usize) -> &mut SeenNames {
    if slot == RESPONSE_HEADERS_SLOT {
        &mut names.response
    } else {
        &mut names.request
    }
}

/// Templates (see [`shapes`]) of a response, its `timings` and its `request`: made once per VU
/// by `V.responseShapes(Response.prototype)`, kept by `k6/http` and passed to every request.
/// The same array keeps the templates of the headers objects (made on the VU's requests).
pub(super) struct ResponseShapes<'js> {
    arr: Array<'js>,
    response: Object<'js>,
    timings: Object<'js>,
    request: Object<'js>,
    names: Rc<RefCell<HeaderNames>>,
}

impl<'js> ResponseShapes<'js> {
    /// The three templates, as the array `k6/http` keeps (`V.responseShapes(Response.prototype)`).
    pub fn make(ctx: &Ctx<'js>, proto: &Object<'js>) -> R<Array<'js>> {
        let k = keys(ctx)?;
        let atoms = |ks: &[Key]| ks.iter().map(|&key| k.get(key)).collect::<Vec<_>>();
        let out = Array::new(ctx.clone())?;
        let lazy = |i: usize| {
            matches!(
                RESPONSE_KEYS[i],
                Key::Ocsp | Key::Headers | Key::Cookies | Key::Request
            )
        };
        let response = shapes::template_lazy(ctx, Some(proto), &atoms(&RESPONSE_KEYS), lazy)?;
        // k6 v1.1.0's responses have their methods as own enumerable read-only properties, after
        // the data (`Object.keys(res)`); made from the template, each response shares them
        // (docs/k6-compatibility.md#scripts-from-the-wild-sixth-sweep).
        for name in RESPONSE_METHODS {
            shapes::define_constant(&response, name, proto.get(name)?)?;
        }
        out.set(0, response)?;
        out.set(1, shapes::template(ctx, None, &atoms(&TIMINGS_KEYS))?)?;
        out.set(2, shapes::template(ctx, None, &atoms(&REQUEST_KEYS))?)?;
        Ok(out)
    }

    pub fn from_js(ctx: &Ctx<'js>, arr: &Array<'js>, names: &Rc<RefCell<HeaderNames>>) -> R<Self> {
        let get = |i: usize| {
            arr.get::<Value>(i)
                .ok()
                .and_then(shapes::object_by_tag)
                .ok_or_else(|| {
                    Exception::throw_type(
                        ctx,
                        "the response shapes must come from responseShapes()",
                    )
                })
        };
        Ok(Self {
            arr: arr.clone(),
            response: get(0)?,
            timings: get(1)?,
            request: get(2)?,
            names: names.clone(),
        })
    }

    /// An object with the properties `names` (distinct) set to `values`, in order: from the
    /// template in `slot` when the VU's last object of this kind had the same names and a
    /// template was made for them, else property by property (each a name lookup and a
    /// change of shape, ~1.8k instructions a header). A template is made when the same names
    /// come twice in a row, so responses whose headers keep changing never pay for one.
    fn keyed_object(
        &self,
        ctx: &Ctx<'js>,
        slot: usize,
        names: &[&str],
        values: &mut Raw<'_, 'js>,
    ) -> R<Object<'js>> {
        // The borrow is never held across a call into QuickJS (which may run script code).
        let (same, templated, refused) = {
            let mut all = self.names.borrow_mut();
            let s = seen_for(&mut all, slot);
            let same =
                s.names.len() == names.len() && s.names.iter().zip(names).all(|(a, b)| a == b);
            (same, s.templated, s.refused)
        };
        if same && templated {
            if let Some(t) = self.arr.get::<Option<Object>>(slot)? {
                return values.object_like(&t);
            }
        }
        // `__proto__` would set the prototype instead of making a property.
        if same
            && !refused
            && !names.is_empty()
            && names.len() <= MAX_TEMPLATE_NAMES
            && !names.contains(&"__proto__")
        {
            let atoms = names
                .iter()
                .map(|n| Atom::from_str(ctx.clone(), n))
                .collect::<R<Vec<_>>>()?;
            let t = shapes::template(ctx, None, &atoms)?;
            let values = values.take_values();
            // SAFETY: `t` is a live object of this context.
            match unsafe { shapes::new_like_raw(ctx, t.as_raw(), &values) } {
                Ok(o) => {
                    self.arr.set(slot, t)?;
                    seen_for(&mut self.names.borrow_mut(), slot).templated = true;
                    return Ok(o);
                }
                Err(_) => {
                    // The template did not come out as one (its properties are defined, so
                    // only a failure such as running out of memory): build these objects
                    // property by property from now on.
                    let _ = ctx.catch();
                    seen_for(&mut self.names.borrow_mut(), slot).refused = true;
                    return plain_object(ctx, names, values);
                }
            }
        }
        if !same {
            let mut all = self.names.borrow_mut();
            let s = seen_for(&mut all, slot);
            s.names.clear();
            s.names.extend(names.iter().map(|n| (*n).to_owned()));
            s.templated = false;
            s.refused = false;
        }
        plain_object(ctx, names, values.take_values())
    }
}

/// An object with the properties `names` set to `values`, one by one (defined: no setter runs).
fn plain_object<'js>(ctx: &Ctx<'js>, names: &[&str], values: Vec<Value<'js>>) -> R<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    for (name, v) in names.iter().zip(values) {
        shapes::define_str(&o, name, v)?;
    }
    Ok(o)
}

fn string<'js>(ctx: &Ctx<'js>, s: &str) -> R<Value<'js>> {
    Ok(rquickjs::String::from_str(ctx.clone(), s)?.into_value())
}

/// The response object of `ex`. Its `headers`, `cookies` and `request` are lazy properties
/// ([`crate::js::lazy`]) made from the exchange's [`Parts`] when first read: most scripts read
/// only `status` and the body. The parts it keeps are taken out of `ex`, which stays where it
/// is: passed by value, the ~500-byte exchange was copied twice more (~160 instructions a
/// request, docs/benchmarks.md#what-each-change-bought).
pub(super) fn response_object<'js>(
    ctx: &Ctx<'js>,
    p: &Prepared,
    ex: &mut HttpExchange,
    first_url: Option<String>,
    shapes: &ResponseShapes<'js>,
) -> R<Object<'js>> {
    // A request k6 would not make (an invalid URL or param) has no request and an empty array
    // for a body.
    let unmade = p.failure.as_ref().is_some_and(|f| !f.recorded);
    // k6 reads no body for the statuses that cannot have one (204, 304): `null`, not "".
    let body: Value = if unmade {
        rquickjs::Array::new(ctx.clone())?.into_value()
    } else if ex.error.is_some() && ex.status == 0 || matches!(ex.status, 204 | 304) {
        Value::new_null(ctx.clone())
    } else {
        match p.response_type {
            ResponseType::None => Value::new_null(ctx.clone()),
            ResponseType::Binary => ArrayBuffer::new_copy(ctx.clone(), &ex.body[..])?.into_value(),
            ResponseType::Text => string(ctx, &String::from_utf8_lossy(&ex.body))?,
        }
    };
    let tm = &ex.timings;
    let mut t = Raw::new(ctx);
    // `looking_up` is always 0: k6 v1.1.0 still lists it, but DNS time is part of `blocked`.
    for n in [
        tm.duration,
        tm.blocked,
        0.0,
        tm.connecting,
        tm.tls_handshaking,
        tm.sending,
        tm.waiting,
        tm.receiving,
    ] {
        t.number(n)?;
    }
    let timings = t.object_like(&shapes.timings)?;
    let mut o = Raw::new(ctx);
    // In RESPONSE_KEYS's order.
    o.string(ex.remote_ip.as_str())?;
    o.int(i32::from(ex.remote_port))?;
    // The URL as written (a failure) or as k6 shows it (not redirected: the request's own).
    let written = match &p.failure {
        Some(f) => f.url.as_deref(),
        None if first_url.is_none() => p.shown_url.as_deref(),
        None => None,
    };
    o.string(written.unwrap_or(ex.url.as_str()))?;
    o.int(i32::from(ex.status))?;
    o.string(&status_text(ex.status))?;
    o.string(ex.proto)?;
    o.undefined()?; // headers
    o.undefined()?; // cookies
    o.value(body)?;
    o.value(timings.into_value())?;
    o.string(ex.tls_version.as_deref().unwrap_or_default())?;
    o.string(ex.tls_cipher_suite.as_deref().unwrap_or_default())?;
    o.undefined()?; // ocsp
    o.string(ex.error.as_deref().unwrap_or_default())?;
    o.value(ex.error_code.into_js(ctx)?)?;
    o.undefined()?; // request
    let parts = Lazy::new(
        ctx,
        shapes.arr.as_value(),
        Parts {
            names: shapes.names.clone(),
            headers: std::mem::take(&mut ex.headers),
            method: std::mem::take(&mut ex.method),
            url: match (written, first_url) {
                (Some(w), _) => w.to_owned(),
                (None, Some(first)) => p.shown_url.as_deref().map_or(first, str::to_owned),
                (None, None) => ex.url.as_str().to_owned(),
            },
            request_headers: ex.request_headers.clone(),
            request_body: std::mem::take(&mut ex.request_body),
            unmade,
        },
    );
    o.object_like_lazy(&shapes.response, &parts)
}

/// What a response's lazy properties are made from: the parts of its exchange that only they
/// show. The source holds the shapes array of `k6/http` (the templates the objects are made
/// from, [`ResponseShapes`]).
struct Parts {
    names: Rc<RefCell<HeaderNames>>,
    headers: http::HeaderMap,
    method: http::Method,
    url: String,
    request_headers: std::sync::Arc<http::HeaderMap>,
    request_body: bytes::Bytes,
    /// The request was never made: `res.request` is `null`.
    unmade: bool,
}

impl LazyValue for Parts {
    fn make<'js>(&self, ctx: &Ctx<'js>, held: &Value<'js>, name: &Atom<'js>) -> R<Value<'js>> {
        let k = keys(ctx)?;
        let arr = held
            .as_array()
            .ok_or_else(|| Exception::throw_internal(ctx, "k6/http: no response shapes"))?;
        let shapes = ResponseShapes::from_js(ctx, arr, &self.names)?;
        let made = if *name == k.get(Key::Headers) {
            self.response_headers(ctx, &shapes)?
        } else if *name == k.get(Key::Cookies) {
            let texts: Vec<Cow<str>> = self
                .headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .map(header_text)
                .collect();
            let set_cookies: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
            response_cookies(ctx, &k, &set_cookies)?
        } else if *name == k.get(Key::Request) {
            if self.unmade {
                return Ok(Value::new_null(ctx.clone()));
            }
            self.request(ctx, &shapes)?
        } else if *name == k.get(Key::Ocsp) {
            no_ocsp(ctx)?
        } else {
            return Ok(Value::new_undefined(ctx.clone()));
        };
        Ok(made.into_value())
    }
}

impl Parts {
    /// `res.headers`: repeated headers are joined with ", " (as Go's Header.Get would show them
    /// to k6), under the names' canonical texts (`Content-Type`, [`crate::http::canonical`]).
    fn response_headers<'js>(
        &self,
        ctx: &Ctx<'js>,
        shapes: &ResponseShapes<'js>,
    ) -> R<Object<'js>> {
        let mut texts: Vec<Rc<str>> = Vec::with_capacity(self.headers.keys_len());
        let mut merged: Vec<Cow<str>> = Vec::with_capacity(self.headers.keys_len());
        let mut last: Option<&http::HeaderName> = None;
        for (name, v) in &self.headers {
            let v = header_text(v);
            // A map's values of one name come one after the other, under the same key.
            if last.is_some_and(|l| std::ptr::eq(l, name)) {
                if let Some(prev) = merged.last_mut() {
                    let prev = prev.to_mut();
                    prev.push_str(", ");
                    prev.push_str(&v);
                }
            } else {
                last = Some(name);
                texts.push(crate::http::canonical(name));
                merged.push(v);
            }
        }
        let names: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let mut values = Raw::new(ctx);
        for v in &merged {
            values.string(v)?;
        }
        shapes.keyed_object(ctx, RESPONSE_HEADERS_SLOT, &names, &mut values)
    }

    /// `res.request`, with its headers as k6 shows them: name → array of values, without the
    /// `Host` and `Content-Length` that Go's client writes on the wire and k6 never lists.
    fn request<'js>(&self, ctx: &Ctx<'js>, shapes: &ResponseShapes<'js>) -> R<Object<'js>> {
        let mut texts: Vec<Rc<str>> = Vec::with_capacity(self.request_headers.keys_len());
        let mut values = Raw::new(ctx);
        let mut arr: Option<Raw> = None;
        let mut last: Option<&http::HeaderName> = None;
        for (name, v) in self.request_headers.iter() {
            if name == http::header::HOST || name == http::header::CONTENT_LENGTH {
                continue;
            }
            if !last.is_some_and(|l| std::ptr::eq(l, name)) {
                if let Some(mut done) = arr.take() {
                    values.push_raw(done.array()?)?;
                }
                last = Some(name);
                texts.push(crate::http::canonical(name));
            }
            arr.get_or_insert_with(|| Raw::new(ctx))
                .string(&header_text(v))?;
        }
        if let Some(mut done) = arr.take() {
            values.push_raw(done.array()?)?;
        }
        let names: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let rh = shapes.keyed_object(ctx, REQUEST_HEADERS_SLOT, &names, &mut values)?;
        let mut r = Raw::new(ctx);
        r.string(self.method.as_str())?;
        r.string(&self.url)?;
        r.value(rh.into_value())?;
        r.string(&String::from_utf8_lossy(&self.request_body))?;
        r.value(self.request_cookies(ctx)?.into_value())?;
        r.object_like(&shapes.request)
    }

    /// `res.request.cookies`: the cookies sent (the params' and the jar's, as the `Cookie`
    /// header carried them), `{name: [{name, value, replace}]}`; k6 v1.1.0 shows `replace`
    /// false even for a params cookie that asked for it.
    fn request_cookies<'js>(&self, ctx: &Ctx<'js>) -> R<Object<'js>> {
        let out = Object::new(ctx.clone())?;
        for header in self.request_headers.get_all(http::header::COOKIE) {
            for pair in header_text(header).split(';') {
                let pair = pair.trim();
                if pair.is_empty() {
                    continue;
                }
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let c = Object::new(ctx.clone())?;
                c.set("name", name)?;
                c.set("value", value)?;
                c.set("replace", false)?;
                let list: Array = match out.get::<_, Option<Array>>(name)? {
                    Some(l) => l,
                    None => {
                        let l = Array::new(ctx.clone())?;
                        out.set(name, l.clone())?;
                        l
                    }
                };
                list.set(list.len(), c)?;
            }
        }
        Ok(out)
    }
}

/// `res.ocsp` as k6 v1.1.0 shows it without a stapled OCSP response (Volley asks for none):
/// zero times, empty reason and status.
fn no_ocsp<'js>(ctx: &Ctx<'js>) -> R<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    for key in ["produced_at", "this_update", "next_update", "revoked_at"] {
        o.set(key, 0)?;
    }
    o.set("revocation_reason", "")?;
    o.set("status", "")?;
    Ok(o)
}

/// A header value as text: the bytes themselves when they are UTF-8 (nearly always: ASCII),
/// else with invalid UTF-8 replaced.
fn header_text(v: &http::HeaderValue) -> Cow<'_, str> {
    match std::str::from_utf8(v.as_bytes()) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(v.as_bytes()),
    }
}

/// The `expires` k6 v1.1.0 gives a cookie without one: Go's zero time in Unix nanoseconds
/// (which overflows int64) divided down to milliseconds. Measured; scripts that test for a
/// session cookie compare with it.
const SESSION_COOKIE_EXPIRES: f64 = -6_795_364_578_871.0;

/// `res.cookies`: the cookies the response set, `{name: [{name, value, domain, path, ...}]}`.
fn response_cookies<'js>(ctx: &Ctx<'js>, k: &Keys<'js>, set_cookies: &[&str]) -> R<Object<'js>> {
    // Grouped by name first, so each array is made whole (no index set on an array).
    let mut by_name: Vec<(&str, Raw<'_, 'js>)> = Vec::new();
    let parsed: Vec<cookie::Cookie> = set_cookies
        .iter()
        .filter_map(|sc| cookie::Cookie::parse(*sc).ok())
        .collect();
    for c in &parsed {
        let e = Object::new(ctx.clone())?;
        let str_value = |s: &str| string(ctx, s);
        shapes::define(&e, &k.get(Key::Name), str_value(c.name())?)?;
        shapes::define(&e, &k.get(Key::Value), str_value(c.value())?)?;
        shapes::define(
            &e,
            &k.get(Key::Domain),
            str_value(c.domain().unwrap_or(""))?,
        )?;
        shapes::define(&e, &k.get(Key::Path), str_value(c.path().unwrap_or(""))?)?;
        let flag = |b: Option<bool>| Value::new_bool(ctx.clone(), b.unwrap_or(false));
        shapes::define(&e, &k.get(Key::HttpOnly), flag(c.http_only()))?;
        shapes::define(&e, &k.get(Key::Secure), flag(c.secure()))?;
        let max_age = c.max_age().map(|d| d.whole_seconds() as f64).unwrap_or(0.0);
        shapes::define(
            &e,
            &k.get(Key::MaxAge),
            Value::new_number(ctx.clone(), max_age),
        )?;
        let expires = match c.expires_datetime() {
            Some(dt) => dt.unix_timestamp() as f64 * 1000.0,
            None => SESSION_COOKIE_EXPIRES,
        };
        shapes::define(
            &e,
            &k.get(Key::Expires),
            Value::new_number(ctx.clone(), expires),
        )?;
        let i = match by_name.iter().position(|(n, _)| *n == c.name()) {
            Some(i) => i,
            None => {
                by_name.push((c.name(), Raw::new(ctx)));
                by_name.len() - 1
            }
        };
        by_name[i].1.value(e.into_value())?;
    }
    let out = Object::new(ctx.clone())?;
    for (name, mut values) in by_name {
        // SAFETY: an owned array value of this context, given to its `Value`.
        let arr = unsafe { Value::from_raw(ctx.clone(), values.array()?) };
        shapes::define_str(&out, name, arr)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts() {
        assert_eq!(status_text(200), "200 OK");
        assert_eq!(status_text(404), "404 Not Found");
        assert_eq!(status_text(0), "");
        // A code without a reason is the number alone, as Go's `Status` shows it.
        assert_eq!(status_text(599), "599");
        assert_eq!(status_text(42), "42");
    }
}
