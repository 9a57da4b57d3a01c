//! Connections: keep-alive, reuse and its opt-outs, per-VU pools, connections the server
//! closed.

use super::*;

#[tokio::test]
async fn keep_alive_reuses_the_connection() {
    let srv = TestServer::start(None).await;
    let c = client();
    let first = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    let second = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(srv.connections(), 1);
    assert_eq!(first.header("X-Conn-Id"), second.header("X-Conn-Id"));
    assert!(first.timings.connecting > 0.0);
    assert_eq!(second.timings.connecting, 0.0);
    assert_eq!(second.timings.tls_handshaking, 0.0);
    assert_timings_sane(&second.timings);
    assert_eq!(c.pool.idle_count(), 1);
}

#[tokio::test]
async fn no_connection_reuse_opens_a_connection_per_request() {
    let srv = TestServer::start(None).await;
    let c = client_with(HttpConfig {
        no_connection_reuse: true,
        ..HttpConfig::default()
    });
    for _ in 0..3 {
        let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
        assert_eq!(ex.status, 200);
        assert!(ex.timings.connecting > 0.0);
        assert_eq!(ex.request_headers["connection"], "close");
    }
    assert_eq!(srv.connections(), 3);
    assert_eq!(c.pool.idle_count(), 0);
}

#[tokio::test]
async fn reset_connections_forces_a_new_connection() {
    let srv = TestServer::start(None).await;
    let c = client();
    one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(srv.connections(), 1);
    c.reset_connections();
    assert_eq!(c.pool.idle_count(), 0);
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(srv.connections(), 2);
    assert!(ex.timings.connecting > 0.0);
}

#[tokio::test]
async fn vus_do_not_share_connections() {
    let srv = TestServer::start(None).await;
    let shared = Arc::new(HttpShared::new(HttpConfig::default()).unwrap());
    let (a, b) = (VuHttpClient::new(shared.clone()), VuHttpClient::new(shared));
    one(&a, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    one(&b, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(srv.connections(), 2);
}

#[tokio::test]
async fn server_closed_connections_are_not_reused() {
    let srv = TestServer::start(None).await;
    let c = client();
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/close"))).await;
    assert_eq!(ex.body, Bytes::from_static(b"bye"));
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(ex.status, 200);
    assert_eq!(ex.error, None);
    assert_eq!(srv.connections(), 2);
}

/// A raw HTTP/1.1 server that answers the first request of each connection (keep-alive) and
/// hangs up on the second without answering: what a server closing idle connections looks
/// like to a client that reuses one at the wrong moment.
async fn start_hang_up_server() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read one request head (the tests send no bodies to this server).
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                // Wait for the next request, then close without answering.
                let _ = stream.read(&mut chunk).await;
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn a_dead_pooled_connection_is_replaced_for_idempotent_requests() {
    let (addr, connections) = start_hang_up_server().await;
    let url = Url::parse(&format!("http://{addr}/")).unwrap();
    let c = client();
    assert_eq!(
        one(&c, HttpRequest::new(Method::GET, url.clone()))
            .await
            .status,
        200
    );
    let ex = one(&c, HttpRequest::new(Method::GET, url.clone())).await;
    assert_eq!((ex.status, ex.error.as_deref()), (200, None), "{ex:?}");
    assert_eq!(ex.body, Bytes::from_static(b"ok"));
    assert!(
        ex.timings.connecting > 0.0,
        "the retry dialled: {:?}",
        ex.timings
    );
    assert_timings_sane(&ex.timings);
    assert_eq!(connections.load(Ordering::SeqCst), 2);

    // A POST that was already written is not replayed: it fails like Go's "EOF".
    let ex = one(&c, HttpRequest::new(Method::POST, url)).await;
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::GENERIC, "{ex:?}");
    assert_eq!(ex.error.as_deref(), Some("EOF"));
    assert!(ex.bytes_sent > 0);
}

#[tokio::test]
async fn hosts_entries_answer_instead_of_dns_and_the_policy_still_holds() {
    use volley_common::hosts::HostsMap;
    use volley_common::target::{builtin_denies, TargetPolicy};
    let srv = TestServer::start(None).await;
    let hosts = HostsMap::new(
        &[
            ("staging.volley.test".to_string(), srv.addr.to_string()),
            (
                "metadata.volley.test".to_string(),
                "169.254.169.254".to_string(),
            ),
        ]
        .into_iter()
        .collect(),
    )
    .unwrap();
    let policy = TargetPolicy {
        deny: builtin_denies(),
        allow: Vec::new(),
    };
    let c = client_with(HttpConfig {
        hosts,
        targets: crate::http::targets::TargetFilter::new(&[], &[], policy).unwrap(),
        ..HttpConfig::default()
    });
    let url = Url::parse("http://staging.volley.test/echo").unwrap();
    let ex = one(&c, HttpRequest::new(Method::GET, url)).await;
    assert_eq!(ex.status, 200, "{:?}", ex.error);
    assert_eq!(
        (ex.remote_ip.as_str(), ex.remote_port),
        ("127.0.0.1", srv.addr.port())
    );
    // A mapped address is checked as a DNS answer would be: refused, naming the rule.
    let url = Url::parse("http://metadata.volley.test/").unwrap();
    let ex = one(&c, HttpRequest::new(Method::GET, url)).await;
    assert_eq!((ex.status, ex.error_code), (0, codes::BLACKLISTED_IP));
    let detail = ex.error_detail.unwrap_or_default();
    assert!(detail.contains("169.254.0.0/16"), "{detail}");
}

/// What a VU's thread moves for a request stays small: the request's future (kilobytes) is made
/// on the IO runtime (`VuCtx::block_on_with`), and dialing, its largest state, is boxed, so a
/// request on a kept-alive connection does not carry it (docs/benchmarks.md#what-each-change-bought).
#[test]
fn a_request_moves_little_on_the_vus_thread() {
    let c = Arc::new(client());
    let url = Url::parse("http://127.0.0.1:1/").unwrap();
    let request = execute(&c, HttpRequest::new(Method::GET, url.clone()));
    let size = std::mem::size_of_val(&request);
    // 3.9 KiB in a debug build with dialing inline, 2.8 KiB with it boxed, 1.8 KiB with the
    // exchange made after the wait and a redirect's origin boxed.
    assert!(size <= 2_000, "the future of execute() is {size} bytes");
    drop(request);
    // The request itself moves boxed, as `k6/http` passes it.
    let req = Box::new(HttpRequest::new(Method::GET, url));
    let on_vu = crate::js::vu_ctx::made_on_io(move || async move { execute(&c, req).await });
    let moved = std::mem::size_of_val(&on_vu);
    assert!(moved <= 64, "a VU's thread moves {moved} bytes per request");
}
