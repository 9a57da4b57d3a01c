//! Property names the k6 modules read and set on every request and response, interned once per
//! runtime.
//!
//! Setting a property by a Rust `&str` makes QuickJS hash the string and look it up in its atom
//! table every time: for the ~30 fixed names of a `k6/http` response that was the largest cost
//! of an iteration (profiled: 16 % of a JS worker's time). The atoms are made once per runtime
//! and kept in the runtime's userdata; setting a property by atom skips the lookup.

use rquickjs::{Atom, Ctx, JsLifetime, Result};

/// A fixed property name (the order matches `NAMES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Key {
    Status,
    StatusText,
    Url,
    Proto,
    RemoteIp,
    RemotePort,
    TlsVersion,
    TlsCipherSuite,
    Error,
    ErrorCode,
    Body,
    Headers,
    Cookies,
    Timings,
    Blocked,
    Connecting,
    TlsHandshaking,
    Sending,
    Waiting,
    Receiving,
    Duration,
    Request,
    Method,
    Name,
    Value,
    Domain,
    Path,
    HttpOnly,
    Secure,
    MaxAge,
    Expires,
    Auth,
    Timeout,
    Redirects,
    ResponseType,
    Jar,
    Tags,
    Compression,
    Expected,
    LookingUp,
    Ocsp,
    Throw,
}

const NAMES: &[&str] = &[
    "status",
    "status_text",
    "url",
    "proto",
    "remote_ip",
    "remote_port",
    "tls_version",
    "tls_cipher_suite",
    "error",
    "error_code",
    "body",
    "headers",
    "cookies",
    "timings",
    "blocked",
    "connecting",
    "tls_handshaking",
    "sending",
    "waiting",
    "receiving",
    "duration",
    "request",
    "method",
    "name",
    "value",
    "domain",
    "path",
    "http_only",
    "secure",
    "max_age",
    "expires",
    "auth",
    "timeout",
    "redirects",
    "responseType",
    "jar",
    "tags",
    "compression",
    "expected",
    "looking_up",
    "ocsp",
    "throw",
];

/// The interned names of one runtime.
pub struct Keys<'js> {
    atoms: Vec<Atom<'js>>,
}

// SAFETY: `Keys` only holds `Atom<'js>` values of the runtime it is stored in.
unsafe impl<'js> JsLifetime<'js> for Keys<'js> {
    type Changed<'to> = Keys<'to>;
}

impl<'js> Keys<'js> {
    /// The atom of `k` (a cheap reference-count increment).
    pub fn get(&self, k: Key) -> Atom<'js> {
        self.atoms[k as usize].clone()
    }
}

/// The runtime's keys, interned on first use.
pub fn keys<'a, 'js>(ctx: &'a Ctx<'js>) -> Result<rquickjs::runtime::UserDataGuard<'a, Keys<'js>>> {
    if let Some(k) = ctx.userdata::<Keys<'js>>() {
        return Ok(k);
    }
    let atoms = NAMES
        .iter()
        .map(|n| Atom::from_str(ctx.clone(), n))
        .collect::<Result<Vec<_>>>()?;
    // Only fails while the userdata is borrowed, which it is not here.
    let _ = ctx.store_userdata(Keys { atoms });
    ctx.userdata::<Keys<'js>>()
        .ok_or_else(|| rquickjs::Error::new_from_js("keys", "userdata"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rquickjs::{Context, Object, Runtime};

    #[test]
    fn names_match_keys_and_set_properties() {
        // One name per key, the last key last.
        assert_eq!(NAMES.len(), Key::Throw as usize + 1);
        assert_eq!(NAMES[Key::Throw as usize], "throw");
        assert_eq!(NAMES[Key::LookingUp as usize], "looking_up");
        assert_eq!(NAMES[Key::TlsHandshaking as usize], "tls_handshaking");
        assert_eq!(NAMES[Key::MaxAge as usize], "max_age");
        let rt = Runtime::new().unwrap();
        let cx = Context::full(&rt).unwrap();
        cx.with(|ctx| {
            let o = Object::new(ctx.clone()).unwrap();
            {
                let k = keys(&ctx).unwrap();
                o.set(k.get(Key::Status), 200).unwrap();
                o.set(k.get(Key::StatusText), "200 OK").unwrap();
            }
            // A second lookup finds the same stored atoms.
            let k = keys(&ctx).unwrap();
            assert_eq!(k.get(Key::Status).to_string().unwrap(), "status");
            ctx.globals().set("o", o).unwrap();
            let s: String = ctx.eval("JSON.stringify(o)").unwrap();
            assert_eq!(s, r#"{"status":200,"status_text":"200 OK"}"#);
        });
    }
}
