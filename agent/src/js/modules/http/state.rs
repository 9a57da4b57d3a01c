//! The per-VU state of `k6/http`: the cookie jars the script made and the parse of the VU's
//! last URL.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::{Ctx, Exception};

use crate::http::CookieJar;
use crate::js::vu_ctx::VuCtx;

type R<T> = rquickjs::Result<T>;

/// What the natives of `k6/http` share in one VU.
pub(super) struct HttpVu {
    pub vu: Rc<VuCtx>,
    /// Extra cookie jars made with `new http.CookieJar()` (id 0 is the VU's own jar).
    pub jars: RefCell<Vec<Arc<CookieJar>>>,
    /// The URL string of the VU's last request, its parse and, when k6 shows it otherwise than
    /// the `url` crate writes it, how k6 shows it (`go_url::shown`): a loop usually requests the
    /// same URLs again, and parsing one was ~6 % of an `http.get` iteration.
    pub last_url: RefCell<Option<LastUrl>>,
    /// The header names of the VU's last response and request (`response::ResponseShapes`).
    pub header_names: Rc<RefCell<HeaderNames>>,
}

/// A URL string, its parse and how k6 shows it and sends its target when that differs (see
/// [`HttpVu::last_url`]).
type LastUrl = (String, url::Url, Written);

/// What k6 shows of a URL and sends as its request target, where that is not how the `url`
/// crate writes them (`go_url::shown`, `go_url::request_uri`).
#[derive(Clone, Default)]
pub(super) struct Written {
    pub shown: Option<Rc<str>>,
    pub target: Option<Arc<str>>,
}

impl HttpVu {
    pub fn new(vu: Rc<VuCtx>) -> Self {
        HttpVu {
            vu,
            jars: RefCell::new(Vec::new()),
            last_url: RefCell::new(None),
            header_names: Rc::default(),
        }
    }
}

/// The header names of a VU's last response and last request, in order, and whether the
/// shapes array of `k6/http` holds a template with exactly those names (see `response.rs`).
#[derive(Default)]
pub(super) struct HeaderNames {
    pub response: SeenNames,
    pub request: SeenNames,
}

#[derive(Default)]
pub(super) struct SeenNames {
    pub names: Vec<String>,
    pub templated: bool,
    /// A template of these names did not come out as one (see `response.rs`).
    pub refused: bool,
}

/// Runs `f` on a cookie jar: 0 is the VU's own; others were made with `new http.CookieJar()`.
pub(super) fn with_jar<T>(
    ctx: &Ctx<'_>,
    h: &HttpVu,
    id: usize,
    f: impl FnOnce(&CookieJar) -> T,
) -> R<T> {
    if id == 0 {
        return match &h.vu.http {
            Some(h) => Ok(f(h.cookie_jar())),
            None => Err(Exception::throw_message(
                ctx,
                "the VU cookie jar is not available in the init context",
            )),
        };
    }
    let jar = jar_by_id(ctx, h, id)?;
    Ok(f(&jar))
}

/// A jar made with `new http.CookieJar()` (ids from 1).
pub(super) fn jar_by_id(ctx: &Ctx<'_>, h: &HttpVu, id: usize) -> R<Arc<CookieJar>> {
    if id == 0 {
        return Err(Exception::throw_reference(ctx, "unknown cookie jar"));
    }
    h.jars
        .borrow()
        .get(id - 1)
        .cloned()
        .ok_or_else(|| Exception::throw_reference(ctx, "unknown cookie jar"))
}

pub(super) fn parse_url(ctx: &Ctx<'_>, s: &str) -> R<url::Url> {
    url::Url::parse(s).map_err(|e| {
        Exception::throw_message(
            ctx,
            &format!(
                "invalid URL \"{s}\": {e}; use an absolute URL such as http://127.0.0.1:8080/path"
            ),
        )
    })
}

/// `s` parsed (and shown), from the VU's one-entry cache when it is the URL of its last request.
pub(super) fn cached_url(h: &HttpVu, s: &str) -> Option<(url::Url, Written)> {
    match &*h.last_url.borrow() {
        Some((last, url, written)) if last == s => Some((url.clone(), written.clone())),
        _ => None,
    }
}

/// Keeps `url` (the parse of `s`) and how it is `written` as the VU's last request URL.
pub(super) fn cache_url(h: &HttpVu, s: &str, url: &url::Url, written: Written) {
    *h.last_url.borrow_mut() = Some((s.to_owned(), url.clone(), written));
}
