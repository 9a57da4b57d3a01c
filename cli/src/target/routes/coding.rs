//! Compressed bodies and digest authentication, as httpbin has them:
//!
//! * `/gzip`, `/deflate`, `/brotli`, `/zstd`: a JSON document (`{"gzipped": true, "method": …}`
//!   and the like) sent with that `Content-Encoding`.
//! * `/decompress`: decodes the request body by its `Content-Encoding` (the codings of k6's
//!   `compression` param) and answers `{"encoding", "compressed_length", "body"}`.
//! * `/digest-auth/{qop}/{user}/{passwd}[/{algorithm}]`: 401 with a digest challenge (`qop`
//!   `auth`; algorithm `MD5` by default, or `SHA-256`, `MD5-sess`, `SHA-256-sess`) unless the
//!   request answers it for that user and password. The nonce is not remembered, so any nonce
//!   the answer was computed with is accepted.
//!
//! The codecs are the agent's ([`volley_agent::http::content_coding`]).

use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use md5::Md5;
use serde_json::json;
use sha2::{Digest, Sha256};
use volley_agent::http::content_coding::{self, Coding};
use volley_agent::http::digest::auth_params;

use super::echo::read_body;
use super::{
    error, json_ok, json_response, path_after, percent_decode, with_type, APPLICATION_JSON,
};
use crate::target::MAX_REQUEST_BODY;

pub fn routes() -> Router {
    Router::new()
        .route("/gzip", any(|m: Method| coded(m, Coding::Gzip, "gzipped")))
        .route(
            "/deflate",
            any(|m: Method| coded(m, Coding::Deflate, "deflated")),
        )
        .route(
            "/brotli",
            any(|m: Method| coded(m, Coding::Brotli, "brotli")),
        )
        .route("/zstd", any(|m: Method| coded(m, Coding::Zstd, "zstd")))
        .route("/decompress", any(decompress))
        .route("/digest-auth/{*rest}", any(digest_auth))
}

async fn coded(method: Method, coding: Coding, flag: &'static str) -> Response {
    let doc = json!({ flag: true, "method": method.as_str() });
    let body = content_coding::encode(coding, doc.to_string().as_bytes());
    let mut resp = with_type(StatusCode::OK, APPLICATION_JSON, Bytes::from(body));
    resp.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.name()),
    );
    resp
}

async fn decompress(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut data = body.clone();
    // Request codings were applied in the order listed: undo them last first.
    for name in encoding
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .rev()
    {
        let Some(coding) = Coding::from_name(name) else {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "/decompress: unknown Content-Encoding {name:?}; use gzip, deflate, br or zstd"
                ),
            );
        };
        match content_coding::decode(coding, &data, MAX_REQUEST_BODY as u64) {
            Ok(d) => data = d,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("/decompress: the body is not valid {name}: {e}"),
                )
            }
        }
    }
    json_ok(&json!({
        "encoding": encoding,
        "compressed_length": body.len(),
        "body": String::from_utf8_lossy(&data),
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn digest_auth(uri: Uri, method: Method, headers: HeaderMap) -> Response {
    let rest = path_after(&uri, "/digest-auth/");
    let parts: Vec<&str> = rest.split('/').collect();
    let (qop, user, pass, algorithm) = match parts.as_slice() {
        [q, u, p] => (*q, *u, *p, "MD5"),
        [q, u, p, a] => (*q, *u, *p, *a),
        _ => return error(
            StatusCode::BAD_REQUEST,
            "/digest-auth/{qop}/{user}/{passwd}[/{algorithm}]: qop, user and password are required",
        ),
    };
    let (Some(user), Some(pass)) = (percent_decode(user), percent_decode(pass)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "/digest-auth: the path is not valid percent-encoded UTF-8",
        );
    };
    let algo = algorithm.to_ascii_uppercase();
    if !matches!(
        algo.as_str(),
        "MD5" | "MD5-SESS" | "SHA-256" | "SHA-256-SESS"
    ) || qop != "auth"
    {
        return error(
            StatusCode::BAD_REQUEST,
            "/digest-auth: qop must be auth and the algorithm MD5, MD5-sess, SHA-256 or SHA-256-sess",
        );
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth_params)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("digest"))
        .map(|(_, params)| params);
    if let Some(params) = given {
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map_or("", |(_, v)| v.as_str())
        };
        let h = |s: String| {
            if algo.starts_with("SHA-256") {
                hex(&Sha256::digest(s.as_bytes()))
            } else {
                hex(&Md5::digest(s.as_bytes()))
            }
        };
        let (nonce, cnonce, nc) = (get("nonce"), get("cnonce"), get("nc"));
        let mut ha1 = h(format!("{user}:{REALM}:{pass}"));
        if algo.ends_with("-SESS") {
            ha1 = h(format!("{ha1}:{nonce}:{cnonce}"));
        }
        let ha2 = h(format!("{}:{}", method.as_str(), get("uri")));
        let want = h(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        if get("username") == user && get("qop") == "auth" && get("response") == want {
            return json_ok(&json!({ "authenticated": true, "user": user }));
        }
    }
    let mut nonce = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut nonce);
    let challenge = format!(
        "Digest realm=\"{REALM}\", qop=\"auth\", nonce=\"{}\", opaque=\"{}\", algorithm={algorithm}, stale=FALSE",
        hex(&nonce),
        hex(&Md5::digest(REALM.as_bytes())),
    );
    let mut resp = json_response(StatusCode::UNAUTHORIZED, &json!({ "authenticated": false }));
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

const REALM: &str = "me@volley.target";
