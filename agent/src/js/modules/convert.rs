//! Conversions between JS values and what the natives of several modules take: bytes from
//! strings and buffers, tags from objects, numbers formatted as JS formats them.

use rquickjs::{ArrayBuffer, Ctx, Exception, Object, TypedArray, Value};

type R<T> = rquickjs::Result<T>;

/// Bytes from a JS string (UTF-8), ArrayBuffer or typed array.
pub fn bytes_of(v: &Value<'_>) -> Option<Vec<u8>> {
    if let Some(s) = v.as_string() {
        return s.to_string().ok().map(String::into_bytes);
    }
    let obj = v.as_object()?;
    if let Some(ab) = ArrayBuffer::from_object(obj.clone()) {
        // SAFETY: the buffer is alive for this call and we copy its bytes at once.
        return unsafe { ab.as_bytes() }.map(<[u8]>::to_vec);
    }
    if let Ok(ta) = TypedArray::<u8>::from_object(obj.clone()) {
        // SAFETY: the typed array is alive for this call and we copy its bytes at once.
        return ta.as_raw().map(|p| unsafe { p.as_ref() }.to_vec());
    }
    // Other typed arrays / DataView: go through their buffer.
    let buf: Option<Object> = obj.get("buffer").ok();
    let off: usize = obj.get("byteOffset").unwrap_or(0);
    let len: Option<usize> = obj.get("byteLength").ok();
    match (buf.and_then(ArrayBuffer::from_object), len) {
        // SAFETY: as above.
        (Some(ab), Some(len)) => unsafe { ab.as_bytes() }
            .and_then(|b| b.get(off..off + len))
            .map(<[u8]>::to_vec),
        _ => None,
    }
}

/// A `TypeError` with this message.
pub fn type_error(ctx: &Ctx<'_>, msg: &str) -> rquickjs::Error {
    Exception::throw_type(ctx, msg)
}

/// Turns a JS tags object into pairs (values stringified). `null`/`undefined` gives none.
pub fn tags_from_js(v: Option<&Value<'_>>) -> R<Vec<(String, String)>> {
    let mut out = Vec::new();
    let Some(v) = v else { return Ok(out) };
    let Some(o) = v.as_object() else {
        return Ok(out);
    };
    for item in o.props::<String, Value>() {
        let (k, val) = item?;
        let s = if let Some(s) = val.as_string() {
            s.to_string()?
        } else if let Some(b) = val.as_bool() {
            b.to_string()
        } else if let Some(n) = val.as_number() {
            js_number(n)
        } else {
            // null, undefined and objects are not tag values.
            continue;
        };
        out.push((k, s));
    }
    Ok(out)
}

/// Formats a number as JS does for integers and plain floats.
pub fn js_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}
