//! The per-VU cookie jar (k6's `http.cookieJar()`).
//!
//! Like k6 (Go's `net/http/cookiejar`), every response's `Set-Cookie` headers are stored, redirect
//! hops included, and matching cookies are sent on later requests and hops. Matching follows
//! RFC 6265 basics: host-only vs. domain cookies, path prefixes, expiry (`Max-Age` wins over
//! `Expires`), and `Secure` cookies only over https. Not implemented: the public-suffix list (a
//! `Domain=com` cookie is accepted for `example.com`), `SameSite` (meaningless without a browser)
//! and per-domain size limits.
//!
//! A VU's requests run one at a time (or a few at once under `http.batch`), so a plain mutex over
//! a small vector is both the cheapest and the simplest store.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

/// Options of [`CookieJar::set`], mirroring k6's `jar.set(url, name, value, options)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieOptions {
    /// Makes it a domain cookie (sent to subdomains too); must be the URL host or a parent of it.
    pub domain: Option<String>,
    /// Defaults to the URL's directory, as for `Set-Cookie` without `Path`.
    pub path: Option<String>,
    /// Absolute expiry; see [`parse_cookie_date`] for k6's string form.
    pub expires: Option<SystemTime>,
    /// Seconds to live; ≤ 0 deletes the cookie. Wins over `expires`.
    pub max_age: Option<i64>,
    pub secure: bool,
    /// Accepted for k6 compatibility; it only matters to browsers' scripts, not to requests.
    pub http_only: bool,
}

/// Why [`CookieJar::set`] refused a cookie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("cannot set a cookie for URL {url:?}: it has no host; pass an absolute URL such as \"https://example.com/\"")]
    NoHost { url: String },
    #[error("cookie domain {domain:?} does not match the URL host {host:?}; use the host itself or one of its parent domains")]
    DomainMismatch { domain: String, host: String },
    #[error("cookie name {name:?} is invalid: it must be non-empty and contain no '=', ';', ',' or whitespace")]
    InvalidName { name: String },
}

/// When a cookie expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A session cookie: lives as long as the jar.
    Session,
    At(SystemTime),
    /// Already expired: remove any stored cookie with the same identity.
    Delete,
}

#[derive(Debug, Clone)]
struct StoredCookie {
    name: String,
    value: String,
    /// Lower-case host (host-only) or domain (without a leading dot).
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    expires: Option<SystemTime>,
    /// Creation order; ties in the Cookie header are broken by it (RFC 6265 §5.4).
    created: u64,
}

/// A cookie about to be stored, from a `Set-Cookie` header or from [`CookieJar::set`].
struct NewCookie<'a> {
    name: &'a str,
    value: &'a str,
    domain: Option<&'a str>,
    path: Option<&'a str>,
    expiry: Expiry,
    secure: bool,
}

#[derive(Debug, Default)]
struct JarInner {
    cookies: Vec<StoredCookie>,
    next_created: u64,
}

/// A VU's cookies. Cheap to create (no allocation until the first cookie).
#[derive(Debug, Default)]
pub struct CookieJar {
    inner: Mutex<JarInner>,
}

impl CookieJar {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, JarInner> {
        // A panic elsewhere cannot leave the vector half-updated in a harmful way.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a cookie as if `url` had answered with it (k6's `jar.set`).
    pub fn set(
        &self,
        url: &Url,
        name: &str,
        value: &str,
        opts: &CookieOptions,
    ) -> Result<(), CookieError> {
        if name.is_empty()
            || name
                .chars()
                .any(|c| c == '=' || c == ';' || c == ',' || c.is_whitespace() || c.is_control())
        {
            return Err(CookieError::InvalidName {
                name: name.to_owned(),
            });
        }
        let expiry = match (opts.max_age, opts.expires) {
            (Some(secs), _) if secs <= 0 => Expiry::Delete,
            (Some(secs), _) => {
                Expiry::At(SystemTime::now() + Duration::from_secs(secs.unsigned_abs()))
            }
            (None, Some(at)) if at <= SystemTime::now() => Expiry::Delete,
            (None, Some(at)) => Expiry::At(at),
            (None, None) => Expiry::Session,
        };
        self.store(
            url,
            NewCookie {
                name,
                value,
                domain: opts.domain.as_deref(),
                path: opts.path.as_deref(),
                expiry,
                secure: opts.secure,
            },
        )
    }

    /// The cookies that a request to `url` would carry, in `Cookie` header order
    /// (k6's `jar.cookiesForURL`, before grouping by name).
    pub fn cookies_for_url(&self, url: &Url) -> Vec<(String, String)> {
        let mut inner = self.lock();
        if inner.cookies.is_empty() {
            return Vec::new();
        }
        let now = SystemTime::now();
        inner.cookies.retain(|c| c.expires.is_none_or(|e| e > now));
        let mut matching: Vec<&StoredCookie> = inner
            .cookies
            .iter()
            .filter(|c| matches_url(c, url))
            .collect();
        matching.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then(a.created.cmp(&b.created))
        });
        matching
            .into_iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect()
    }

    /// Removes every cookie.
    pub fn clear(&self) {
        self.lock().cookies.clear();
    }

    /// Removes the cookies that would be sent to `url` (k6's `jar.clear(url)`).
    pub fn clear_url(&self, url: &Url) {
        self.lock().cookies.retain(|c| !matches_url(c, url));
    }

    /// Removes the cookie `name` that would be sent to `url` (k6's `jar.delete(url, name)`).
    pub fn delete(&self, url: &Url, name: &str) {
        self.lock()
            .cookies
            .retain(|c| !(c.name == name && matches_url(c, url)));
    }

    /// Number of cookies held (expired ones included until the next lookup).
    pub fn len(&self) -> usize {
        self.lock().cookies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores the `Set-Cookie` header values of a response from `url`; malformed or foreign
    /// cookies are ignored, as browsers and Go do.
    pub(crate) fn store_response_cookies<'a>(
        &self,
        url: &Url,
        values: impl Iterator<Item = &'a str>,
    ) {
        for raw in values {
            let Ok(parsed) = cookie::Cookie::parse(raw) else {
                continue;
            };
            let expiry = match (parsed.max_age(), parsed.expires_datetime()) {
                (Some(age), _) if age.whole_seconds() <= 0 => Expiry::Delete,
                (Some(age), _) => Expiry::At(
                    SystemTime::now() + Duration::from_secs(age.whole_seconds().unsigned_abs()),
                ),
                (None, Some(at)) => {
                    let at = system_time(at.unix_timestamp());
                    if at <= SystemTime::now() {
                        Expiry::Delete
                    } else {
                        Expiry::At(at)
                    }
                }
                (None, None) => Expiry::Session,
            };
            let (name, value) = parsed.name_value_trimmed();
            if name.is_empty() {
                continue;
            }
            let _ = self.store(
                url,
                NewCookie {
                    name,
                    value,
                    domain: parsed.domain(),
                    path: parsed.path(),
                    expiry,
                    secure: parsed.secure().unwrap_or(false),
                },
            );
        }
    }

    /// The `Cookie` header value for `url`, skipping names in `skip` (the `cookies` param's
    /// with `replace: true`). `None` when there is nothing to send.
    pub(crate) fn header_for(&self, url: &Url, skip: &[String]) -> Option<String> {
        let cookies = self.cookies_for_url(url);
        let mut out = String::new();
        for (name, value) in cookies.iter().filter(|(n, _)| !skip.contains(n)) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            out.push('=');
            // Go quotes values with spaces or commas when it sends them; servers expect that.
            if value.contains([' ', ',']) {
                out.push('"');
                out.push_str(value);
                out.push('"');
            } else {
                out.push_str(value);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn store(&self, url: &Url, c: NewCookie<'_>) -> Result<(), CookieError> {
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => {
                return Err(CookieError::NoHost {
                    url: url.to_string(),
                })
            }
        };
        let (domain, host_only) = match c
            .domain
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
        {
            None => (host.clone(), true),
            Some(d) if d.is_empty() => (host.clone(), true),
            Some(d) if d == host => {
                let host_only = !d.contains('.') || is_ip(&host);
                (d, host_only)
            }
            Some(d) if !is_ip(&host) && d.contains('.') && host.ends_with(&format!(".{d}")) => {
                (d, false)
            }
            Some(d) => return Err(CookieError::DomainMismatch { domain: d, host }),
        };
        let path = match c.path {
            Some(p) if p.starts_with('/') => p.to_owned(),
            _ => default_path(url.path()),
        };

        let mut inner = self.lock();
        let existing = inner
            .cookies
            .iter()
            .position(|s| s.name == c.name && s.domain == domain && s.path == path);
        let expires = match c.expiry {
            Expiry::Delete => {
                if let Some(i) = existing {
                    inner.cookies.swap_remove(i);
                }
                return Ok(());
            }
            Expiry::Session => None,
            Expiry::At(t) => Some(t),
        };
        let created = match existing {
            // Replacing keeps the original creation order (RFC 6265 §5.3 step 11.3).
            Some(i) => inner.cookies.swap_remove(i).created,
            None => {
                inner.next_created += 1;
                inner.next_created
            }
        };
        inner.cookies.push(StoredCookie {
            name: c.name.to_owned(),
            value: c.value.to_owned(),
            domain,
            host_only,
            path,
            secure: c.secure,
            expires,
            created,
        });
        Ok(())
    }
}

/// Parses a cookie date (`Expires` syntax, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"), the form k6's
/// `jar.set` takes for `options.expires`.
pub fn parse_cookie_date(s: &str) -> Option<SystemTime> {
    let probe = cookie::Cookie::parse(format!("x=y; Expires={s}")).ok()?;
    probe
        .expires_datetime()
        .map(|at| system_time(at.unix_timestamp()))
}

fn system_time(unix_secs: i64) -> SystemTime {
    if unix_secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix_secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(unix_secs.unsigned_abs())
    }
}

fn is_ip(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok()
}

/// RFC 6265 §5.1.4 default-path: the request path up to (not including) its last '/'.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

fn matches_url(c: &StoredCookie, url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let domain_ok = if c.host_only {
        host == c.domain
    } else {
        host == c.domain
            || (host.len() > c.domain.len()
                && host.ends_with(&c.domain)
                && host.as_bytes()[host.len() - c.domain.len() - 1] == b'.')
    };
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    let secure_ok = !c.secure || matches!(url.scheme(), "https" | "wss");
    domain_ok && secure_ok && path_matches(&c.path, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn names(jar: &CookieJar, url: &str) -> Vec<String> {
        jar.cookies_for_url(&u(url))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn response_cookies_are_host_only_by_default() {
        let jar = CookieJar::new();
        jar.store_response_cookies(&u("http://example.com/a/b"), ["sid=1"].into_iter());
        assert_eq!(
            jar.cookies_for_url(&u("http://example.com/a/c")),
            vec![("sid".into(), "1".into())]
        );
        // Default path is the directory of the request path.
        assert!(names(&jar, "http://example.com/other").is_empty());
        // Host-only: not for subdomains.
        assert!(names(&jar, "http://www.example.com/a/x").is_empty());
    }

    #[test]
    fn domain_cookies_reach_subdomains_but_not_lookalikes() {
        let jar = CookieJar::new();
        jar.store_response_cookies(
            &u("http://www.example.com/"),
            ["d=1; Domain=.example.com; Path=/"].into_iter(),
        );
        assert_eq!(names(&jar, "http://example.com/"), vec!["d"]);
        assert_eq!(names(&jar, "http://a.b.example.com/x"), vec!["d"]);
        assert!(names(&jar, "http://badexample.com/").is_empty());
        // A foreign domain is rejected.
        jar.store_response_cookies(
            &u("http://www.example.com/"),
            ["e=1; Domain=other.com"].into_iter(),
        );
        assert_eq!(jar.len(), 1);
    }

    #[test]
    fn paths_match_on_segment_boundaries() {
        assert!(path_matches("/a", "/a"));
        assert!(path_matches("/a", "/a/b"));
        assert!(path_matches("/a/", "/a/b"));
        assert!(!path_matches("/a", "/ab"));
        assert_eq!(default_path("/"), "/");
        assert_eq!(default_path("/x"), "/");
        assert_eq!(default_path("/x/y/z"), "/x/y");
    }

    #[test]
    fn longer_paths_come_first_then_creation_order() {
        let jar = CookieJar::new();
        let url = u("http://h.test/a/b/c");
        jar.store_response_cookies(
            &url,
            ["root=1; Path=/", "deep=2; Path=/a/b", "root2=3; Path=/"].into_iter(),
        );
        assert_eq!(
            names(&jar, "http://h.test/a/b/c"),
            vec!["deep", "root", "root2"]
        );
        assert_eq!(
            jar.header_for(&url, &[]).as_deref(),
            Some("deep=2; root=1; root2=3")
        );
        assert_eq!(
            jar.header_for(&url, &["root".to_owned()]).as_deref(),
            Some("deep=2; root2=3")
        );
    }

    #[test]
    fn replacing_updates_value_and_expiry_deletes() {
        let jar = CookieJar::new();
        let url = u("http://h.test/");
        jar.store_response_cookies(&url, ["a=1", "b=1"].into_iter());
        jar.store_response_cookies(&url, ["a=2"].into_iter());
        assert_eq!(
            jar.cookies_for_url(&url),
            vec![("a".into(), "2".into()), ("b".into(), "1".into())]
        );
        jar.store_response_cookies(&url, ["a=x; Max-Age=0"].into_iter());
        jar.store_response_cookies(
            &url,
            ["b=x; Expires=Thu, 01 Jan 1970 00:00:01 GMT"].into_iter(),
        );
        assert!(jar.is_empty());
        jar.store_response_cookies(
            &url,
            [
                "c=1; Max-Age=3600",
                "d=1; Expires=Wed, 01 Jan 2200 00:00:00 GMT",
            ]
            .into_iter(),
        );
        assert_eq!(names(&jar, "http://h.test/"), vec!["c", "d"]);
    }

    #[test]
    fn secure_cookies_only_over_https() {
        let jar = CookieJar::new();
        jar.store_response_cookies(&u("https://h.test/"), ["s=1; Secure", "p=2"].into_iter());
        assert_eq!(names(&jar, "https://h.test/"), vec!["s", "p"]);
        assert_eq!(names(&jar, "http://h.test/"), vec!["p"]);
    }

    #[test]
    fn set_follows_k6_options() {
        let jar = CookieJar::new();
        let url = u("https://www.example.com/cookies");
        let opts = CookieOptions {
            domain: Some("example.com".into()),
            path: Some("/cookies".into()),
            secure: true,
            max_age: Some(600),
            ..Default::default()
        };
        jar.set(&url, "my_cookie", "hello world", &opts).unwrap();
        assert_eq!(
            jar.cookies_for_url(&u("https://api.example.com/cookies/x")),
            vec![("my_cookie".into(), "hello world".into())]
        );
        // Values with spaces are quoted on the wire, as Go does.
        assert_eq!(
            jar.header_for(&url, &[]).as_deref(),
            Some("my_cookie=\"hello world\"")
        );
        let err = jar
            .set(
                &url,
                "x",
                "1",
                &CookieOptions {
                    domain: Some("other.org".into()),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(err, CookieError::DomainMismatch { .. }));
        assert!(err.to_string().contains("other.org"));
        assert!(matches!(
            jar.set(&url, "bad name", "1", &CookieOptions::default()),
            Err(CookieError::InvalidName { .. })
        ));
        assert!(matches!(
            jar.set(
                &u("data:text/plain,hi"),
                "n",
                "1",
                &CookieOptions::default()
            ),
            Err(CookieError::NoHost { .. })
        ));
        // max_age <= 0 deletes.
        jar.set(
            &url,
            "my_cookie",
            "",
            &CookieOptions {
                max_age: Some(0),
                ..opts.clone()
            },
        )
        .unwrap();
        assert!(jar.is_empty());
        // An expiry in the past deletes too; one in the future keeps.
        let past = parse_cookie_date("Thu, 01 Jan 1970 00:00:01 GMT").unwrap();
        let future = parse_cookie_date("Wed, 01 Jan 2200 00:00:00 GMT").unwrap();
        jar.set(
            &url,
            "f",
            "1",
            &CookieOptions {
                expires: Some(future),
                ..Default::default()
            },
        )
        .unwrap();
        jar.set(
            &url,
            "p",
            "1",
            &CookieOptions {
                expires: Some(past),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(jar.len(), 1);
    }

    #[test]
    fn clear_delete_and_ip_hosts() {
        let jar = CookieJar::new();
        let a = u("http://127.0.0.1:8080/");
        jar.store_response_cookies(&a, ["x=1", "y=2", "z=3; Domain=127.0.0.1"].into_iter());
        assert_eq!(names(&jar, "http://127.0.0.1:9999/"), vec!["x", "y", "z"]);
        jar.delete(&a, "x");
        assert_eq!(names(&jar, "http://127.0.0.1/"), vec!["y", "z"]);
        jar.store_response_cookies(&u("http://other.test/"), ["o=1"].into_iter());
        jar.clear_url(&a);
        assert_eq!(jar.len(), 1);
        jar.clear();
        assert!(jar.is_empty());
    }

    #[test]
    fn quoted_values_are_unquoted_and_garbage_is_ignored() {
        let jar = CookieJar::new();
        let url = u("http://h.test/");
        jar.store_response_cookies(&url, ["q=\"v\"", "=novalue", "noequals", ""].into_iter());
        assert_eq!(jar.cookies_for_url(&url), vec![("q".into(), "v".into())]);
    }

    #[test]
    fn cookie_dates_parse() {
        let t = parse_cookie_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_445_412_480
        );
        assert!(parse_cookie_date("not a date").is_none());
    }
}
