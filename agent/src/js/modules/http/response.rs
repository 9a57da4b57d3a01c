//! The response object a script gets: made natively from the templates of `Response` and its
//! `timings` and `request` (see [`crate::js::shapes`]), with k6's header and cookie shapes.

use rquickjs::{Array, ArrayBuffer, Ctx, Exception, IntoJs, Object, Value};

use super::request::{Prepared, ResponseType};
use crate::http::HttpExchange;
use crate::js::keys::{keys, Key, Keys};
use crate::js::shapes;

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
pub(super) struct ResponseShapes<'js> {
    response: Object<'js>,
    timings: Object<'js>,
    request: Object<'js>,
}

impl<'js> ResponseShapes<'js> {
    /// The three templates, as the array `k6/http` keeps (`V.responseShapes(Response.prototype)`).
    pub fn make(ctx: &Ctx<'js>, proto: &Object<'js>) -> R<Array<'js>> {
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

    pub fn from_js(ctx: &Ctx<'js>, arr: &Array<'js>) -> R<Self> {
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

pub(super) fn response_object<'js>(
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
    // Repeated headers are joined with ", " (as Go's Header.Get would show them to k6). The
    // exchange's names are canonical already (`HttpExchange::headers`).
    let mut merged: Vec<(&str, String)> = Vec::with_capacity(ex.headers.len());
    let mut set_cookies = Vec::new();
    for (name, v) in &ex.headers {
        let name = name.as_str();
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
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::with_capacity(ex.request_headers.len());
    for (name, v) in &ex.request_headers {
        let name = name.as_str();
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
            string(ctx, ex.tls_cipher_suite.as_deref().unwrap_or_default())?,
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
    fn status_texts() {
        assert_eq!(status_text(200), "200 OK");
        assert_eq!(status_text(404), "404 Not Found");
        assert_eq!(status_text(0), "");
        // A code without a reason is the number alone, as Go's `Status` shows it.
        assert_eq!(status_text(599), "599");
        assert_eq!(status_text(42), "42");
    }
}
