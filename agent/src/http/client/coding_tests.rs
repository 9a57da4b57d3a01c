//! Response decoding and digest authentication through the client, against the loopback
//! server of `tests.rs`.

use super::tests::{client, TestServer};
use super::*;
use crate::http::error as codes;

#[tokio::test]
async fn coded_bodies_are_decoded_and_keep_their_headers() {
    let srv = TestServer::start(None).await;
    let c = client();
    for codings in ["gzip", "deflate", "br", "zstd", "deflate,gzip", "zstd,br"] {
        let hops = execute(
            &c,
            HttpRequest::new(Method::GET, srv.url(&format!("/coded/{codings}"))),
        )
        .await;
        let ex = &hops[0];
        assert_eq!(ex.status, 200, "{codings}: {ex:?}");
        assert_eq!(&ex.body[..], b"coded body", "{codings}");
        // As in k6, the header stays (and no Accept-Encoding was sent).
        assert!(ex.header("Content-Encoding").is_some(), "{codings}");
        assert!(!ex.request_headers.contains_key("accept-encoding"));
    }
    // An unknown coding leaves the body as it came.
    let ex = &execute(&c, HttpRequest::new(Method::GET, srv.url("/coded/foo"))).await[0];
    assert_eq!((ex.status, &ex.body[..]), (200, &b"not coded"[..]));
}

#[tokio::test]
async fn a_body_that_does_not_decode_fails_with_1701_and_no_response() {
    let srv = TestServer::start(None).await;
    let c = client();
    // `/lying` labels a plain body gzip.
    let hops = execute(&c, HttpRequest::new(Method::GET, srv.url("/lying"))).await;
    let ex = &hops[0];
    assert_eq!(ex.status, 0, "{ex:?}");
    assert_eq!(ex.error_code, codes::DECOMPRESSION);
    assert!(
        ex.error
            .as_deref()
            .unwrap()
            .starts_with("error decompressing response body ("),
        "{ex:?}"
    );
    assert!(ex.headers.is_empty() && ex.body.is_empty());
}

#[tokio::test]
async fn digest_auth_answers_the_challenge_with_a_second_request() {
    let srv = TestServer::start(None).await;
    let c = client();
    let mut req = HttpRequest::new(Method::GET, srv.url("/digest?x=1"));
    req.digest_auth = Some(("u".into(), "p".into()));
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 2, "{hops:?}");
    assert_eq!((hops[0].status, hops[0].auth_challenge), (401, true));
    assert_eq!((hops[1].status, hops[1].auth_challenge), (200, false));
    let auth = hops[1].header("X-Authorization").unwrap();
    assert!(auth.starts_with("Digest username=\"u\", realm=\"r\", nonce=\"n1\", uri=\"/digest?x=1\", algorithm=MD5, response=\""), "{auth}");
    assert!(auth.contains("qop=auth, nc=00000001, cnonce=\""), "{auth}");

    // Without digest auth the 401 is the answer.
    let hops = execute(&c, HttpRequest::new(Method::GET, srv.url("/digest"))).await;
    assert_eq!(hops.len(), 1);
    assert_eq!((hops[0].status, hops[0].auth_challenge), (401, false));
}
