//! Request URLs as Go's `net/url` parses them: k6 refuses what it refuses, with its reason
//! (`invalid URL: parse "http://[::1": missing ']' in host`, error code 1020), and Go's client
//! then refuses a parsed URL without a scheme or a host
//! (docs/k6-compatibility.md#request-errors).
//!
//! Only the verdict and the parts those checks need are kept: the request is sent from the
//! `url` crate's parse, with the path as written ([`request_uri`]) where that crate would
//! rewrite it. Written from Go's documented behaviour and checked against k6
//! v1.1.0 (go1.24) URL by URL; the unit tests hold what k6 said.

use volley_common::text::go_quote;

/// What the checks after parsing need of a URL Go parsed (parts of the text, escapes and all:
/// a request's URL is checked without allocating).
#[derive(Debug, PartialEq)]
pub(super) struct GoUrl<'a> {
    /// The scheme as written (Go lowercases it); empty for a URL without one.
    pub scheme: &'a str,
    /// The host with its port; empty when the URL has none (`http:a.com`, `http:///path`).
    pub host: &'a str,
}

/// Parses `raw` as Go's `url.Parse` does, or gives its error: `parse "raw": reason`.
pub(super) fn parse(raw: &str) -> Result<GoUrl<'_>, String> {
    // The fragment is cut off first; only its escapes are checked, and then the whole URL is
    // quoted in the error (before, only the part without the fragment).
    let (u, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let url = parse_without_fragment(u).map_err(|why| format!("parse {}: {why}", go_quote(u)))?;
    if let Some(f) = frag {
        unescape(f, Mode::Fragment).map_err(|why| format!("parse {}: {why}", go_quote(raw)))?;
    }
    Ok(url)
}

fn parse_without_fragment(raw: &str) -> Result<GoUrl<'_>, String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".to_owned());
    }
    if raw == "*" {
        return Ok(GoUrl {
            scheme: "",
            host: "",
        });
    }
    let (scheme, rest) = scheme(raw)?;
    let rest = match rest.strip_suffix('?') {
        Some(r) if !r.contains('?') => r,
        _ => rest.split_once('?').map_or(rest, |(path, _query)| path),
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // `http:a.com`: an opaque URL, which has no host.
            return Ok(GoUrl { scheme, host: "" });
        }
        let segment = rest.split_once('/').map_or(rest, |(s, _)| s);
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".to_owned());
        }
    }
    let mut host = "";
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = &rest[2..];
        let (authority, after) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        parse_authority(authority)?;
        host = authority
            .rfind('@')
            .map_or(authority, |i| &authority[i + 1..]);
        path = after;
    }
    unescape(path, Mode::Path)?;
    Ok(GoUrl { scheme, host })
}

/// Splits off the scheme: letters first, then letters, digits, `+`, `-` and `.`, up to a `:`.
/// Anything else before the first `:` means there is no scheme.
fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_owned()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    parse_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("net/url: invalid userinfo".to_owned());
        }
        for part in userinfo.splitn(2, ':') {
            unescape(part, Mode::UserPassword)?;
        }
    }
    Ok(())
}

fn parse_host(host: &str) -> Result<(), String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".to_owned());
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
        // An IPv6 zone (`%25` then the zone) has escapes of its own.
        if let Some(zone) = host[..i].find("%25") {
            unescape(&host[..zone], Mode::Host)?;
            unescape(&host[zone..i], Mode::Zone)?;
            return unescape(&host[i..], Mode::Host);
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
    }
    unescape(host, Mode::Host)
}

/// `""`, or `:` and digits.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// The checks of Go's `unescape`: every `%XX`, and in a host every character.
fn unescape(s: &str, mode: Mode) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    let bad = &s[i..(i + 3).min(s.len())];
                    return Err(format!("invalid URL escape {}", go_quote(bad)));
                };
                let escape = &s[i..i + 3];
                // In a host, an escape may only stand for a byte that is not ASCII (or `%25`).
                if mode == Mode::Host && hi < 8 && escape != "%25" {
                    return Err(format!("invalid URL escape {}", go_quote(escape)));
                }
                let v = (hi << 4 | lo) as u8;
                if mode == Mode::Zone && escape != "%25" && v != b' ' && !host_byte(v) {
                    return Err(format!("invalid URL escape {}", go_quote(escape)));
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && !host_byte(c) {
                    let bad = (c as char).to_string();
                    return Err(format!("invalid character {} in host name", go_quote(&bad)));
                }
                i += 1;
            }
        }
    }
    Ok(())
}

/// The ASCII bytes Go leaves unescaped in a host: letters, digits, `-._~`, the sub-delimiters,
/// `:[]` and `<>"`.
fn host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

/// A URL Go parsed, as Go's `URL.String()` gives it back, which is how k6 shows a request's URL
/// (`res.url`, the `url` and `name` tags): the scheme lowercased, nothing added (no `/` after
/// the host, no dot segments removed), the path and fragment escaped only where Go's escaping
/// needs it (`/caf%C3%A9`, `/%20x`), the query as written. `None` when `raw` has no host (the
/// request is refused before it could be shown).
pub(super) fn shown(raw: &str) -> Option<String> {
    let p = Parts::of(raw)?;
    let mut out = String::with_capacity(raw.len() + 8);
    out.push_str(&p.scheme.to_ascii_lowercase());
    out.push_str("://");
    out.push_str(p.authority);
    push_escaped(&mut out, p.path, Mode::Path);
    if let Some(q) = p.query {
        out.push('?');
        out.push_str(q);
    }
    if !p.fragment.is_empty() {
        out.push('#');
        push_escaped(&mut out, p.fragment, Mode::Fragment);
    }
    Some(out)
}

/// The request target Go's client sends for a URL as written (`URL.RequestURI()`): the path
/// escaped as [`shown`] escapes it, dot segments and doubled slashes kept (`/a/../b` stays
/// `/a/../b`, where the `url` crate sends `/b`), `/` for an empty path, then the query as written.
/// `None` when `raw` has no host.
pub(super) fn request_uri(raw: &str) -> Option<String> {
    let p = Parts::of(raw)?;
    let mut out = String::with_capacity(p.path.len() + p.query.map_or(0, str::len) + 2);
    push_escaped(&mut out, p.path, Mode::Path);
    if out.is_empty() {
        out.push('/');
    }
    if let Some(q) = p.query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// A URL with a host split as Go's parser splits it, every part as written.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    /// `Some("")` for a URL that ends in `?` (Go's `ForceQuery`).
    query: Option<&'a str>,
    fragment: &'a str,
}

impl<'a> Parts<'a> {
    fn of(raw: &'a str) -> Option<Self> {
        let (u, fragment) = match raw.split_once('#') {
            Some((u, f)) => (u, f),
            None => (raw, ""),
        };
        let (scheme, rest) = scheme(u).ok()?;
        let (rest, query) = match rest.strip_suffix('?') {
            Some(r) if !r.contains('?') => (r, Some("")),
            _ => match rest.split_once('?') {
                Some((r, q)) => (r, Some(q)),
                None => (rest, None),
            },
        };
        let authority = rest.strip_prefix("//")?;
        let (authority, path) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        Some(Parts {
            scheme,
            authority,
            path,
            query,
            fragment,
        })
    }
}

/// `shown` with the credentials of the URL masked, as k6 tags it: `http://****:****@host/`.
pub(super) fn masked(shown: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = shown.split_once("://") else {
        return shown.into();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return shown.into();
    };
    let mask = if rest[..at].contains(':') {
        "****:****"
    } else {
        "****"
    };
    format!("{scheme}://{mask}{}", &rest[at..]).into()
}

/// Appends `part` as Go's `EscapedPath` and `EscapedFragment` give it: as written when every
/// byte may stand there (escapes included), otherwise decoded and escaped again.
fn push_escaped(out: &mut String, part: &str, mode: Mode) {
    let b = part.as_bytes();
    let valid = b.iter().all(|&c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    });
    if valid {
        out.push_str(part);
        return;
    }
    let mut i = 0;
    while i < b.len() {
        let mut c = b[i];
        if c == b'%' && i + 2 < b.len() {
            let hex = |j: usize| (b[j] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                c = (hi << 4 | lo) as u8;
                i += 2;
            }
        }
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
        i += 1;
    }
}

/// Go's `shouldEscape` for paths and fragments.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
        return false;
    }
    match c {
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@' => false,
        b'?' => mode == Mode::Path,
        b'!' | b'(' | b')' | b'*' => mode != Mode::Fragment,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each URL with the reason k6 v1.1.0 gave for it (`invalid URL: parse "…": reason`).
    #[test]
    fn the_urls_go_refuses_with_its_reasons() {
        let cases: &[(&str, &str)] = &[
            ("http://[::1", "missing ']' in host"),
            ("http://a b.com/", "invalid character \" \" in host name"),
            ("http://%zz/", "invalid URL escape \"%zz\""),
            ("http://host:port/", "invalid port \":port\" after host"),
            ("http://[fe80::1%en0]/", "invalid URL escape \"%en\""),
            ("http://a.com/%zz", "invalid URL escape \"%zz\""),
            ("http://a.com:-1/", "invalid port \":-1\" after host"),
            (":foo", "missing protocol scheme"),
            (
                "http://a.com/\u{7f}",
                "net/url: invalid control character in URL",
            ),
            ("http://[::1]:80:80/", "invalid port \":80:80\" after host"),
            ("http://[::1]x/", "invalid port \"x\" after host"),
            (
                "http://a.com\\b/",
                "invalid character \"\\\\\" in host name",
            ),
            (
                "1http://a.com",
                "first path segment in URL cannot contain colon",
            ),
            (
                "ht tp://a.com",
                "first path segment in URL cannot contain colon",
            ),
            ("http://a.com/%", "invalid URL escape \"%\""),
            ("http://%41.com/", "invalid URL escape \"%41\""),
            ("http://a%20b.com/", "invalid URL escape \"%20\""),
            ("http://a.com:8o/", "invalid port \":8o\" after host"),
            ("http://us\u{e9}r@a.com/", "net/url: invalid userinfo"),
        ];
        for (url, why) in cases {
            let want = format!("parse {}: {why}", go_quote(url));
            assert_eq!(parse(url), Err(want), "{url:?}");
        }
        // A bad escape in the fragment quotes the whole URL; any other error the part before it.
        assert_eq!(
            parse("http://a.com/#%zz"),
            Err("parse \"http://a.com/#%zz\": invalid URL escape \"%zz\"".to_owned())
        );
        assert_eq!(
            parse("http://[::1#x"),
            Err("parse \"http://[::1\": missing ']' in host".to_owned())
        );
        assert_eq!(
            parse("http://a\u{0}.com/"),
            Err(
                "parse \"http://a\\x00.com/\": net/url: invalid control character in URL"
                    .to_owned()
            )
        );
    }

    /// URLs as k6 v1.1.0 showed them in `res.url` and the `url` tag.
    #[test]
    fn urls_are_shown_as_go_writes_them_back() {
        for (raw, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("HTTP://127.0.0.1:8080/get", "http://127.0.0.1:8080/get"),
            ("http://h/get/ x", "http://h/get/%20x"),
            ("http://h/get?a=1 2", "http://h/get?a=1 2"),
            (
                "http://h/anything/caf\u{e9}?x=\u{e9}",
                "http://h/anything/caf%C3%A9?x=\u{e9}",
            ),
            ("http://user:pw@h/get", "http://user:pw@h/get"),
            ("http://h/anything/%7e?q=%7e", "http://h/anything/%7e?q=%7e"),
            ("http://h/anything/a//b/./c", "http://h/anything/a//b/./c"),
            ("http://h?x=1", "http://h?x=1"),
            ("http://h/?", "http://h/?"),
            ("http://h#frag", "http://h#frag"),
            ("http://h/#", "http://h/"),
            ("http://h/anything/[x]", "http://h/anything/[x]"),
            ("http://h/a b/%41(x)", "http://h/a%20b/A%28x%29"),
        ] {
            assert_eq!(shown(raw).as_deref(), Some(want), "{raw:?}");
        }
        assert_eq!(shown("undefined/login"), None);
        assert_eq!(
            masked("http://user:pw@h/get?a=b@c"),
            "http://****:****@h/get?a=b@c"
        );
        assert_eq!(masked("http://user@h/"), "http://****@h/");
        assert_eq!(masked("http://h/a@b"), "http://h/a@b");
    }

    /// The request lines k6 v1.1.0 sent for these URLs (a listener printed them).
    #[test]
    fn the_target_is_sent_as_written_as_go_sends_it() {
        for (raw, want) in [
            ("http://h/a/../b", "/a/../b"),
            ("http://h/a/./b", "/a/./b"),
            ("http://h/../d", "/../d"),
            ("http://h//e//f", "//e//f"),
            ("http://h/o/..", "/o/.."),
            ("http://h/g%2Fh", "/g%2Fh"),
            ("http://h/s/%2e%2e/t", "/s/%2e%2e/t"),
            ("http://h/k l", "/k%20l"),
            ("http://h/x|y{z}", "/x%7Cy%7Bz%7D"),
            ("http://h/a'b\"c<d>", "/a%27b%22c%3Cd%3E"),
            ("http://h/a\\b", "/a%5Cb"),
            ("http://h/a;b=c/../d", "/a;b=c/../d"),
            ("http://h/\u{fc}", "/%C3%BC"),
            ("http://h/n?q=a/../b", "/n?q=a/../b"),
            ("http://h/v#frag", "/v"),
            ("http://h/w/?", "/w/?"),
            ("http://h", "/"),
            ("http://h?x=1", "/?x=1"),
        ] {
            assert_eq!(request_uri(raw).as_deref(), Some(want), "{raw:?}");
        }
        assert_eq!(request_uri("undefined/login"), None);
    }

    #[test]
    fn what_go_accepts_keeps_its_scheme_and_host() {
        let ok = |scheme, host| Ok(GoUrl { scheme, host });
        assert_eq!(parse("HTTP://A.COM/"), ok("HTTP", "A.COM"));
        assert_eq!(parse("http://a.com/?q=%zz"), ok("http", "a.com"));
        assert_eq!(
            parse("http://user:p@ss@a.com:80:80/ b"),
            ok("http", "a.com:80:80")
        );
        assert_eq!(parse("http://1.2.3.4.5/"), ok("http", "1.2.3.4.5"));
        assert_eq!(parse("http://[]/"), ok("http", "[]"));
        assert_eq!(parse("http://%C3%A9.com/"), ok("http", "%C3%A9.com"));
        assert_eq!(
            parse("http://[fe80::1%25en0]:80/"),
            ok("http", "[fe80::1%25en0]:80")
        );
        assert_eq!(parse("http:a.com"), ok("http", ""));
        assert_eq!(parse("http:///path"), ok("http", ""));
        assert_eq!(parse("undefined/login"), ok("", ""));
        assert_eq!(parse("/relative"), ok("", ""));
        assert_eq!(parse("mailto:x@y"), ok("mailto", ""));
    }
}
