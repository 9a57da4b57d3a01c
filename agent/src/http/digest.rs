//! HTTP digest authentication (RFC 7616) for `auth: 'digest'`
//! ([docs/k6-compatibility.md](../../../docs/k6-compatibility.md#digest-authentication)): the
//! answer to a server's `WWW-Authenticate: Digest …` challenge.
//!
//! Like k6, a request with `auth: 'digest'` is sent once as it is (with the URL's credentials
//! as Basic auth); when the answer is a 401 with a digest challenge, it is sent again with the
//! computed `Authorization` header, and both requests are measured. `MD5`, `MD5-sess`,
//! `SHA-256` and `SHA-256-sess` are computed, with `qop=auth` when the server offers it (RFC
//! 2069's form without `qop` otherwise). Hand-written because it is one small formula over the
//! challenge's fields; the hashes are RustCrypto's.

use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The fields of a digest challenge that the answer needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: String,
    qop: Vec<String>,
}

/// Splits an authentication header value (`Digest realm="x", qop="auth,auth-int", nonce=n`)
/// into its scheme and its parameters (names lower-cased; values quoted or bare, with
/// backslash escapes in quoted ones). `None` when it is malformed.
pub fn auth_params(header: &str) -> Option<(&str, Vec<(String, String)>)> {
    let header = header.trim();
    let (scheme, params) = header.split_once(char::is_whitespace)?;
    let mut out = Vec::new();
    let mut rest = params.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            v.push(next);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => v.push(ch),
                }
            }
            rest = &quoted[end? + 1..];
            value = v;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((name, value));
    }
    Some((scheme, out))
}

/// The fields of a `Digest` challenge; `None` when it is no digest challenge or has no nonce.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = auth_params(header)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut c = Challenge::default();
    let mut nonce = None;
    for (name, value) in params {
        match name.as_str() {
            "realm" => c.realm = value,
            "nonce" => nonce = Some(value),
            "opaque" => c.opaque = Some(value),
            "algorithm" => c.algorithm = value,
            "qop" => {
                c.qop = value
                    .split(',')
                    .map(|q| q.trim().to_ascii_lowercase())
                    .filter(|q| !q.is_empty())
                    .collect()
            }
            _ => {}
        }
    }
    c.nonce = nonce?;
    Some(c)
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The `Authorization` value answering the first digest challenge among `www_authenticate`
/// (the 401's header values) for `method` on `uri` (the request target: path and query).
/// `None` when no challenge is usable (none, no nonce, or an algorithm other than MD5 and
/// SHA-256 and their `-sess` forms).
pub fn authorization(
    www_authenticate: &[&str],
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
) -> Option<String> {
    let mut cnonce = [0u8; 16];
    rand::rng().fill_bytes(&mut cnonce);
    answer(
        www_authenticate,
        method,
        uri,
        user,
        password,
        &hex_of(&cnonce),
    )
}

fn answer(
    www_authenticate: &[&str],
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    cnonce: &str,
) -> Option<String> {
    let c = www_authenticate.iter().find_map(|h| parse_challenge(h))?;
    let algorithm = if c.algorithm.is_empty() {
        "MD5".to_owned()
    } else {
        c.algorithm.clone()
    };
    let upper = algorithm.to_ascii_uppercase();
    let (sha256, sess) = match upper.as_str() {
        "MD5" => (false, false),
        "MD5-SESS" => (false, true),
        "SHA-256" => (true, false),
        "SHA-256-SESS" => (true, true),
        _ => return None,
    };
    let h = |s: &str| {
        if sha256 {
            hex_of(&Sha256::digest(s.as_bytes()))
        } else {
            hex_of(&Md5::digest(s.as_bytes()))
        }
    };
    let nc = "00000001";
    let mut ha1 = h(&format!("{user}:{}:{password}", c.realm));
    if sess {
        ha1 = h(&format!("{ha1}:{}:{cnonce}", c.nonce));
    }
    let ha2 = h(&format!("{method}:{uri}"));
    let qop_auth = c.qop.iter().any(|q| q == "auth");
    let response = if qop_auth {
        h(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        h(&format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={algorithm}, response=\"{response}\"",
        quote(user),
        quote(&c.realm),
        quote(&c.nonce),
        quote(uri),
    );
    if qop_auth {
        out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
    }
    if let Some(o) = &c.opaque {
        out.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed_with_quotes_escapes_and_bare_values() {
        let c = parse_challenge(
            r#"Digest realm="a \"b\", c", qop="auth,auth-int", nonce=xyz, opaque="o", algorithm=SHA-256, stale=FALSE"#,
        )
        .unwrap();
        assert_eq!(c.realm, "a \"b\", c");
        assert_eq!(c.qop, ["auth", "auth-int"]);
        assert_eq!(c.nonce, "xyz");
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert_eq!(c.algorithm, "SHA-256");
        assert_eq!(parse_challenge("Basic realm=\"x\""), None);
        assert_eq!(parse_challenge("Digest realm=\"x\""), None, "no nonce");
    }

    /// RFC 2617 section 3.5's worked example (MD5, qop=auth).
    #[test]
    fn md5_answer_matches_rfc_2617() {
        let got = answer(
            &[r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#],
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
        )
        .unwrap();
        assert!(
            got.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{got}"
        );
        assert!(
            got.contains("qop=auth, nc=00000001, cnonce=\"0a4f113b\""),
            "{got}"
        );
        assert!(
            got.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{got}"
        );
        assert!(got.starts_with("Digest username=\"Mufasa\""), "{got}");
    }

    /// RFC 7616 section 3.9.1's worked example (SHA-256, qop=auth).
    #[test]
    fn sha256_answer_matches_rfc_7616() {
        let got = answer(
            &[
                "Basic realm=\"other\"",
                r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
            ],
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        .unwrap();
        assert!(
            got.contains(
                "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
            ),
            "{got}"
        );
        assert!(got.contains("algorithm=SHA-256"), "{got}");
    }

    #[test]
    fn without_qop_the_rfc_2069_form_is_used_and_unknown_algorithms_refused() {
        let got = answer(
            &["Digest realm=\"r\", nonce=\"n\""],
            "POST",
            "/p?q=1",
            "u",
            "p",
            "c",
        )
        .unwrap();
        let ha1 = hex_of(&Md5::digest(b"u:r:p"));
        let ha2 = hex_of(&Md5::digest(b"POST:/p?q=1"));
        let want = hex_of(&Md5::digest(format!("{ha1}:n:{ha2}").as_bytes()));
        assert!(got.contains(&format!("response=\"{want}\"")), "{got}");
        assert!(!got.contains("qop"), "{got}");
        assert_eq!(
            answer(
                &["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"],
                "GET",
                "/",
                "u",
                "p",
                "c"
            ),
            None
        );
    }
}
