//! The natives of `http.CookieJar` and `http.cookieJar()`: cookies by URL, set, clear and
//! delete, on the VU's own jar (id 0) or on one the script made. `set` is as lenient as k6's
//! ([docs/k6-compatibility.md](../../../../../docs/k6-compatibility.md#cookie-jars)).

use std::rc::Rc;
use std::sync::Arc;

use rquickjs::function::Opt;
use rquickjs::{Array, Ctx, Exception, Function, Object, Value};

use super::state::{parse_url, with_jar, HttpVu};
use crate::http::{CookieError, CookieJar, CookieOptions};
use crate::js::modules::natives::Natives;

type R<T> = rquickjs::Result<T>;

pub(super) fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, h: &Rc<HttpVu>) -> R<()> {
    let vu3 = h.clone();
    v.set(
        "jarNew",
        Function::new(ctx.clone(), move || -> usize {
            let mut jars = vu3.jars.borrow_mut();
            jars.push(Arc::new(CookieJar::new()));
            jars.len()
        })?,
    )?;
    let vu4 = h.clone();
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
    let vu5 = h.clone();
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
                  -> R<bool> {
                // k6 ignores a cookie it cannot store for the URL (not a URL, no host, a
                // domain that does not match) and still returns true.
                let Ok(u) = url::Url::parse(&url) else {
                    return Ok(true);
                };
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
                match with_jar(&ctx, &vu5, id, |j| j.set(&u, &name, &value, &o))? {
                    Ok(()) => Ok(true),
                    Err(e @ CookieError::InvalidName { .. }) => {
                        Err(Exception::throw_message(&ctx, &e.to_string()))
                    }
                    Err(e) => {
                        tracing::debug!("cookie {name:?} not stored: {e}");
                        Ok(true)
                    }
                }
            },
        )?,
    )?;
    let vu6 = h.clone();
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
    let vu7 = h.clone();
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
