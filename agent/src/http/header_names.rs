//! Header names as scripts see them: Go's canonical form (`Content-Type`), which k6 shows in
//! `res.headers` and `res.request.headers`.
//!
//! The HTTP client keeps names as `http::HeaderName`s (an exchange's headers are the
//! `HeaderMap`s that went over the wire); the text is made only where JS needs it, and once per
//! distinct name on a thread: a test's requests and responses repeat the same few names, and
//! canonicalizing (an allocation and a loop per name) every header of every exchange was ~2k
//! instructions per request (docs/benchmarks.md#what-each-change-bought).

use std::cell::RefCell;
use std::rc::Rc;

use http::header::HeaderName;

/// Go's canonical header name: "content-type" → "Content-Type". Byte by byte, without a
/// `char` at a time.
pub fn canonical_name(name: &str) -> String {
    // Changing the case of ASCII letters keeps a string valid UTF-8, so `str` allows it.
    let mut out = name.to_ascii_lowercase();
    let mut upper = true;
    for (i, &b) in name.as_bytes().iter().enumerate() {
        if upper {
            if let Some(first) = out.get_mut(i..i + 1) {
                first.make_ascii_uppercase();
            }
        }
        upper = b == b'-';
    }
    out
}

/// How many distinct names a thread keeps; names beyond these are canonicalized on every use
/// (a script whose header names never repeat gains nothing from keeping them).
const MAX_CACHED: usize = 256;

/// The canonical texts of the names a thread has seen, in the order first seen.
#[derive(Default)]
struct Cache {
    names: Vec<(HeaderName, Rc<str>)>,
    /// Where the last lookup hit: headers come in the same order exchange after exchange, so
    /// the next name is nearly always the next entry.
    last: usize,
}

impl Cache {
    fn get(&mut self, name: &HeaderName) -> Rc<str> {
        let n = self.names.len();
        // `HeaderName` equality compares the standard header's identity for the standard
        // names and the bytes for others.
        let hit = (0..n)
            .map(|i| (self.last + 1 + i) % n)
            .find(|&i| self.names[i].0 == *name);
        if let Some(i) = hit {
            self.last = i;
            return self.names[i].1.clone();
        }
        let text: Rc<str> = Rc::from(canonical_name(name.as_str()));
        if n < MAX_CACHED {
            self.names.push((name.clone(), text.clone()));
            self.last = n;
        }
        text
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

/// The canonical text of `name` (see [`canonical_name`]), made once per distinct name on this
/// thread (a JS worker's VUs share it).
pub fn canonical(name: &HeaderName) -> Rc<str> {
    CACHE.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.get(name),
        // Not reentrant in practice; never fail a response over the cache.
        Err(_) => Rc::from(canonical_name(name.as_str())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn canonical_names_follow_go() {
        assert_eq!(canonical_name("content-type"), "Content-Type");
        assert_eq!(canonical_name("x-conn-id"), "X-Conn-Id");
        assert_eq!(canonical_name("ETAG"), "Etag");
    }

    #[test]
    fn cached_names_are_the_canonical_texts_in_any_order() {
        let custom = HeaderName::from_static("x-request-id");
        let names = [
            header::CONTENT_TYPE,
            custom.clone(),
            header::WWW_AUTHENTICATE,
            header::CONTENT_TYPE,
        ];
        for _ in 0..2 {
            let got: Vec<String> = names.iter().map(|n| canonical(n).to_string()).collect();
            assert_eq!(
                got,
                [
                    "Content-Type",
                    "X-Request-Id",
                    "Www-Authenticate",
                    "Content-Type"
                ]
            );
        }
        // Out of the order first seen, and a custom name made anew (other bytes, same text).
        let again = HeaderName::from_bytes(b"X-Request-ID").unwrap();
        assert_eq!(&*canonical(&header::WWW_AUTHENTICATE), "Www-Authenticate");
        assert_eq!(&*canonical(&again), "X-Request-Id");
        assert_eq!(&*canonical(&header::CONTENT_TYPE), "Content-Type");
    }

    #[test]
    fn names_past_the_cache_bound_are_still_canonical() {
        for i in 0..MAX_CACHED + 10 {
            let name = HeaderName::from_bytes(format!("x-n-{i}").as_bytes()).unwrap();
            assert_eq!(&*canonical(&name), format!("X-N-{i}"));
        }
        CACHE.with(|c| assert!(c.borrow().names.len() <= MAX_CACHED));
        assert_eq!(&*canonical(&header::HOST), "Host");
    }
}
