//! Failures and k6's error codes: timeouts, refused connections, bad URLs, truncated bodies.

use super::*;

#[tokio::test]
async fn timeouts_fail_with_1050_within_the_timeout() {
    let srv = TestServer::start(None).await;
    let c = client();
    let mut req = HttpRequest::new(Method::GET, srv.url("/sleep/2000"));
    req.timeout = Some(Duration::from_millis(200));
    let t0 = Instant::now();
    let ex = one(&c, req).await;
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::REQUEST_TIMEOUT);
    assert_eq!(ex.error.as_deref(), Some("request timeout"));
    assert_eq!(ex.proto, "");
    assert_timings_sane(&ex.timings);
    assert!(ex.timings.waiting >= 150.0, "{:?}", ex.timings);
    assert!(ex.bytes_sent > 0);
    // The timed-out connection is not reused.
    assert_eq!(c.pool.idle_count(), 0);
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(ex.status, 200);
    assert_eq!(srv.connections(), 2);
}

#[tokio::test]
async fn connection_refused_is_1212() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let c = client();
    let url = Url::parse(&format!("http://{addr}/")).unwrap();
    let ex = one(&c, HttpRequest::new(Method::GET, url)).await;
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::TCP_DIAL_REFUSED);
    assert_eq!(ex.error.as_deref(), Some("dial: connection refused"));
    assert_eq!((ex.bytes_sent, ex.bytes_received), (0, 0));
    assert_timings_sane(&ex.timings);
    assert_eq!(ex.timings.duration, 0.0);
}

#[tokio::test]
async fn bad_urls_and_statuses_map_to_k6_codes() {
    let srv = TestServer::start(None).await;
    let c = client();
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/status/404"))).await;
    assert_eq!(
        (ex.status, ex.error_code, ex.error.as_deref()),
        (404, 1404, None)
    );
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/status/503"))).await;
    assert_eq!(ex.error_code, 1503);
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, Url::parse("ftp://example.com/").unwrap()),
    )
    .await;
    assert_eq!(ex.error_code, codes::GENERIC);
    assert!(ex.error.unwrap().contains("unsupported protocol scheme"));
    // `.invalid` never resolves (RFC 6761); the timeout only guards against slow resolvers.
    let mut req = HttpRequest::new(
        Method::GET,
        Url::parse("http://nonexistent.invalid/").unwrap(),
    );
    req.timeout = Some(Duration::from_secs(10));
    let ex = one(&c, req).await;
    assert!(
        matches!(ex.error_code, codes::DNS_NO_SUCH_HOST | codes::DNS_GENERIC),
        "{ex:?}"
    );
}

#[tokio::test]
async fn a_truncated_body_is_an_unexpected_eof() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let mut chunk = [0u8; 4096];
            let _ = stream.read(&mut chunk).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                .await;
        }
    });
    let c = client();
    let url = Url::parse(&format!("http://{addr}/")).unwrap();
    let ex = one(&c, HttpRequest::new(Method::GET, url)).await;
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::GENERIC);
    assert_eq!(ex.error.as_deref(), Some("unexpected EOF"));
    assert!(ex.timings.receiving >= 0.0 && ex.bytes_received > 0);
    assert_timings_sane(&ex.timings);
}
