//! Requests and responses: methods, headers, byte counts, timings, concurrency, header names.

use super::*;

#[test]
fn clients_are_small_and_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<VuHttpClient>();
    send_sync::<HttpShared>();
    assert!(std::mem::size_of::<VuHttpClient>() < 1024);
}

#[tokio::test]
async fn all_methods_round_trip() {
    let srv = TestServer::start(None).await;
    let c = client();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = HttpRequest::new(m.clone(), srv.url("/echo?x=1"));
        let has_body = !matches!(method, "GET" | "HEAD");
        if has_body {
            req.body = Bytes::from(format!("body of {method}"));
            req.headers
                .push(("Content-Type".into(), "text/plain".into()));
        }
        req.headers.push(("X-Custom".into(), "yes".into()));
        let ex = one(&c, req).await;
        assert_eq!(ex.status, 200, "{method}: {ex:?}");
        assert_eq!(ex.error, None);
        assert_eq!(ex.error_code, 0);
        assert_eq!(ex.proto, "HTTP/1.1");
        assert_eq!(ex.method, method);
        assert_eq!(ex.header("x-method"), Some(method));
        assert_eq!(ex.header("X-Custom"), Some("yes"));
        assert_eq!(
            ex.header("X-Ua"),
            Some(HttpConfig::default().user_agent.as_str())
        );
        assert_eq!(ex.header("X-Host"), Some(srv.addr.to_string().as_str()));
        if method == "HEAD" {
            assert!(ex.body.is_empty());
        } else if has_body {
            assert_eq!(ex.body, Bytes::from(format!("body of {method}")));
            assert_eq!(ex.header("X-Content-Type"), Some("text/plain"));
        }
        assert!(ex.headers.contains_key("x-conn-id"), "{:?}", ex.headers);
        assert_eq!(ex.remote_ip, "127.0.0.1");
        assert_eq!(ex.remote_port, srv.addr.port());
        assert_eq!(ex.tls_version, None);
        assert_timings_sane(&ex.timings);
        assert!(ex.request_headers.contains_key(http::header::USER_AGENT));
    }
}

#[tokio::test]
async fn default_and_overridden_headers() {
    let srv = TestServer::start(None).await;
    let c = client();
    // POST without a body still says Content-Length: 0, as Go does.
    let ex = one(&c, HttpRequest::new(Method::POST, srv.url("/echo"))).await;
    assert_eq!(ex.header("X-Content-Length"), Some("0"));
    // GET without a body sends none.
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(ex.header("X-Content-Length"), Some(""));
    // Caller User-Agent and Host win.
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.headers
        .push(("user-agent".into(), "custom-agent".into()));
    req.headers.push(("Host".into(), "example.test".into()));
    let ex = one(&c, req).await;
    assert_eq!(ex.header("X-Ua"), Some("custom-agent"));
    assert_eq!(ex.header("X-Host"), Some("example.test"));
    // An empty configured user agent sends none.
    let c2 = client_with(HttpConfig {
        user_agent: String::new(),
        ..HttpConfig::default()
    });
    let ex = one(&c2, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(ex.header("X-Ua"), Some(""));
    // Invalid header names fail the request with a generic error instead of panicking.
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.headers.push(("bad header".into(), "x".into()));
    let ex = one(&c, req).await;
    assert_eq!((ex.status, ex.error_code), (0, codes::GENERIC));
    assert!(ex.error.unwrap().contains("bad header"));
}

#[tokio::test]
async fn byte_counts_cover_headers_and_bodies() {
    let srv = TestServer::start(None).await;
    let c = client();
    let mut req = HttpRequest::new(Method::POST, srv.url("/echo"));
    req.body = Bytes::from(vec![b'a'; 5000]);
    let ex = one(&c, req).await;
    let request_head: usize = ex
        .request_headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + "POST /echo HTTP/1.1\r\n\r\n".len();
    assert!(
        ex.bytes_sent as usize >= request_head + 5000,
        "{} < {}",
        ex.bytes_sent,
        request_head + 5000
    );
    let response_head: usize = ex
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + "HTTP/1.1 200 OK\r\n\r\n".len();
    assert!(ex.bytes_received as usize >= response_head + 5000);
    assert!(ex.bytes_received < 7000);

    // Discarded bodies are still read (and counted) but not kept.
    let mut req = c.request(Method::GET, srv.url("/big"));
    req.discard_body = true;
    let ex = one(&c, req).await;
    assert!(ex.body.is_empty());
    assert!(ex.bytes_received >= 100_000);
    assert!(ex.timings.receiving >= 0.0);
    // Kept bodies arrive whole.
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/big"))).await;
    assert_eq!(ex.body.len(), 100_000);
}

#[tokio::test]
async fn discard_response_bodies_is_the_default_from_the_config() {
    let srv = TestServer::start(None).await;
    let c = client_with(HttpConfig {
        discard_response_bodies: true,
        ..HttpConfig::default()
    });
    let ex = one(&c, c.request(Method::GET, srv.url("/big"))).await;
    assert!(ex.body.is_empty());
    let mut req = c.request(Method::GET, srv.url("/big"));
    req.discard_body = false; // responseType: "text" overrides
    assert_eq!(one(&c, req).await.body.len(), 100_000);
}

#[tokio::test]
async fn waiting_covers_the_server_think_time() {
    let srv = TestServer::start(None).await;
    let c = client();
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/sleep/60"))).await;
    let t = ex.timings;
    assert!(t.waiting >= 55.0, "{t:?}");
    assert!(t.sending < 50.0 && t.receiving < 50.0, "{t:?}");
    assert!(t.duration >= t.waiting);
    assert_timings_sane(&t);
}

#[tokio::test]
async fn concurrent_requests_from_one_vu() {
    // http.batch runs requests of one VU in parallel.
    let srv = TestServer::start(None).await;
    let c = Arc::new(client());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = c.clone();
        let url = srv.url("/sleep/50");
        tasks.push(tokio::spawn(async move {
            execute(&c, HttpRequest::new(Method::GET, url)).await
        }));
    }
    for t in tasks {
        let hops = t.await.unwrap();
        assert_eq!(hops[0].status, 200);
    }
    assert_eq!(srv.connections(), 4);
    assert_eq!(c.pool.idle_count(), 4);
}

#[tokio::test]
async fn repeated_requests_share_their_prepared_headers_and_changes_are_sent() {
    let srv = TestServer::start(None).await;
    let c = client();
    let get = |custom: &str, path: &str| {
        let mut req = HttpRequest::new(Method::GET, srv.url(path));
        req.headers.push(("X-Custom".into(), custom.into()));
        req
    };
    // The same request three times: kept from the second on, and shared by the third.
    let a1 = one(&c, get("a", "/echo")).await;
    let a2 = one(&c, get("a", "/echo")).await;
    let a3 = one(&c, get("a", "/echo")).await;
    for ex in [&a1, &a2, &a3] {
        assert_eq!(ex.header("X-Custom"), Some("a"));
        assert_eq!(ex.request_headers["x-custom"], "a");
    }
    assert!(!Arc::ptr_eq(&a1.request_headers, &a2.request_headers));
    assert!(Arc::ptr_eq(&a2.request_headers, &a3.request_headers));
    // Another header value, another URL, another method: each sent as asked.
    let b = one(&c, get("b", "/echo")).await;
    assert_eq!(b.header("X-Custom"), Some("b"));
    let q = one(&c, get("a", "/echo?q=1")).await;
    assert_eq!(q.url.query(), Some("q=1"));
    assert_eq!(q.header("X-Custom"), Some("a"));
    let mut post = get("a", "/echo");
    post.method = Method::POST;
    let post = one(&c, post).await;
    assert_eq!(post.header("X-Method"), Some("POST"));
    assert_eq!(post.header("X-Content-Length"), Some("0"));
    // The jar's cookies are added to the kept headers on each request, not kept with them.
    let a4 = one(&c, get("a", "/echo")).await;
    let a5 = one(&c, get("a", "/echo")).await;
    assert!(Arc::ptr_eq(&a4.request_headers, &a5.request_headers));
    assert_eq!(a5.header("X-Cookie"), Some(""));
    one(&c, HttpRequest::new(Method::GET, srv.url("/setcookie"))).await;
    for _ in 0..2 {
        let ex = one(&c, get("a", "/echo")).await;
        assert_eq!(ex.header("X-Cookie"), Some("a=1"));
        assert_eq!(ex.request_headers["cookie"], "a=1");
        assert_eq!(ex.header("X-Custom"), Some("a"));
    }
}
