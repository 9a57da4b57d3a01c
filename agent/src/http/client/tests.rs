use super::*;
use crate::http::error as codes;
use crate::http::CookieOptions;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A loopback test server. Routes:
/// `/echo` echoes the body and reports method and some request headers in `X-*` headers;
/// `/redirect/N` redirects N more times then answers "done"; `/r303`, `/r307` redirect to
/// `/echo`; `/setcookie` sets `a=1`; `/cookie-redirect` sets `r=2` and redirects to `/echo`;
/// `/sleep/MS`; `/status/N`; `/close` answers with `Connection: close`; `/big` 100 KB.
pub(super) struct TestServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

async fn handle(
    req: Request<Incoming>,
    conn_id: usize,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().to_string();
    let hdr = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (auth, encoding) = (hdr("authorization"), hdr("content-encoding"));
    let (cookie, custom, host, ua, ctype, clen) = (
        hdr("cookie"),
        hdr("x-custom"),
        hdr("host"),
        hdr("user-agent"),
        hdr("content-type"),
        hdr("content-length"),
    );
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut resp = Response::builder()
        .header("X-Conn-Id", conn_id.to_string())
        .header("X-Method", method)
        .header("X-Cookie", cookie)
        .header("X-Custom", custom)
        .header("X-Host", host)
        .header("X-Ua", ua)
        .header("X-Content-Type", ctype)
        .header("X-Content-Length", clen);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let out = match parts.as_slice() {
        ["echo"] => resp.body(Full::new(body)),
        ["redirect", n] => {
            let n: u32 = n.parse().unwrap_or(0);
            if n == 0 {
                resp.body(Full::new(Bytes::from_static(b"done")))
            } else {
                resp.status(302)
                    .header("Location", format!("/redirect/{}", n - 1))
                    .body(Full::new(Bytes::new()))
            }
        }
        ["r303"] => resp
            .status(303)
            .header("Location", "/echo")
            .body(Full::new(Bytes::new())),
        ["r307"] => resp
            .status(307)
            .header("Location", "/echo")
            .body(Full::new(Bytes::new())),
        ["setcookie"] => resp
            .header("Set-Cookie", "a=1; Path=/")
            .body(Full::new(Bytes::from_static(b"ok"))),
        ["cookie-redirect"] => resp
            .status(302)
            .header("Set-Cookie", "r=2; Path=/")
            .header("Location", "/echo")
            .body(Full::new(Bytes::new())),
        ["sleep", ms] => {
            let ms: u64 = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp.body(Full::new(Bytes::from_static(b"slept")))
        }
        ["status", n] => {
            resp = resp.status(n.parse::<u16>().unwrap_or(500));
            resp.body(Full::new(Bytes::new()))
        }
        ["close"] => resp
            .header("Connection", "close")
            .body(Full::new(Bytes::from_static(b"bye"))),
        ["big"] => resp.body(Full::new(Bytes::from(vec![b'x'; 100_000]))),
        // Content codings (coding_tests.rs): `/coded/gzip,br` sends "coded body" so encoded.
        ["coded", codings] => {
            let list: Vec<_> = codings
                .split(',')
                .filter_map(crate::http::content_coding::Coding::from_name)
                .collect();
            let (body, names) = crate::http::content_coding::encode_all(&list, b"coded body");
            resp.header(
                "Content-Encoding",
                if list.is_empty() { *codings } else { &names },
            )
            .header("X-Content-Encoding", encoding)
            .body(Full::new(if list.is_empty() {
                Bytes::from_static(b"not coded")
            } else {
                body
            }))
        }
        ["lying"] => resp
            .header("Content-Encoding", "gzip")
            .body(Full::new(Bytes::from_static(b"notgzip"))),
        ["digest"] if auth.starts_with("Digest ") => resp
            .header("X-Authorization", auth)
            .body(Full::new(Bytes::from_static(b"welcome"))),
        ["digest"] => resp
            .status(401)
            .header(
                "WWW-Authenticate",
                "Digest realm=\"r\", qop=\"auth\", nonce=\"n1\"",
            )
            .header("X-Authorization", auth)
            .body(Full::new(Bytes::new())),
        _ => resp.status(404).body(Full::new(Bytes::new())),
    };
    Ok(out.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

async fn serve<S>(io: S, conn_id: usize)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, conn_id));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

impl TestServer {
    pub(super) async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let id = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acc) => {
                            if let Ok(tls) = acc.accept(stream).await {
                                serve(tls, id).await;
                            }
                        }
                        None => serve(stream, id).await,
                    }
                });
            }
        });
        Self { addr, connections }
    }

    pub(super) fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{}", self.addr, path)).unwrap()
    }

    fn https_url(&self, host: &str, path: &str) -> Url {
        Url::parse(&format!("https://{host}:{}{}", self.addr.port(), path)).unwrap()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn client_with(cfg: HttpConfig) -> VuHttpClient {
    VuHttpClient::new(Arc::new(HttpShared::new(cfg).unwrap()))
}

pub(super) fn client() -> VuHttpClient {
    client_with(HttpConfig::default())
}

async fn one(client: &VuHttpClient, req: HttpRequest) -> HttpExchange {
    let mut hops = execute(client, req).await;
    assert_eq!(hops.len(), 1, "expected a single hop: {hops:?}");
    hops.remove(0)
}

fn assert_timings_sane(t: &crate::http::Timings) {
    for v in [
        t.blocked,
        t.connecting,
        t.tls_handshaking,
        t.sending,
        t.waiting,
        t.receiving,
        t.duration,
    ] {
        assert!(v >= 0.0 && v.is_finite(), "{t:?}");
    }
    assert!(
        (t.duration - (t.sending + t.waiting + t.receiving)).abs() < 1e-9,
        "{t:?}"
    );
}

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
        assert!(
            ex.headers.iter().any(|(k, _)| k == "X-Conn-Id"),
            "canonical names: {:?}",
            ex.headers
        );
        assert_eq!(ex.remote_ip, "127.0.0.1");
        assert_eq!(ex.remote_port, srv.addr.port());
        assert_eq!(ex.tls_version, None);
        assert_timings_sane(&ex.timings);
        assert!(ex.request_headers.iter().any(|(k, _)| k == "User-Agent"));
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
        assert!(ex
            .request_headers
            .iter()
            .any(|(k, v)| k == "Connection" && v == "close"));
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

#[tokio::test]
async fn redirects_are_followed_hop_by_hop() {
    let srv = TestServer::start(None).await;
    let c = client();
    let hops = execute(&c, HttpRequest::new(Method::GET, srv.url("/redirect/3"))).await;
    assert_eq!(hops.len(), 4);
    let statuses: Vec<u16> = hops.iter().map(|h| h.status).collect();
    assert_eq!(statuses, vec![302, 302, 302, 200]);
    let paths: Vec<&str> = hops.iter().map(|h| h.url.path()).collect();
    assert_eq!(
        paths,
        vec!["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]
    );
    assert_eq!(hops[3].body, Bytes::from_static(b"done"));
    for h in &hops {
        assert_timings_sane(&h.timings);
        assert!(h.bytes_sent > 0 && h.bytes_received > 0);
    }
    // All hops ride the same keep-alive connection.
    assert_eq!(srv.connections(), 1);

    // The limit stops following and returns the redirection itself, without an error.
    let mut req = HttpRequest::new(Method::GET, srv.url("/redirect/3"));
    req.max_redirects = Some(2);
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 3);
    let last = hops.last().unwrap();
    assert_eq!(
        (last.status, last.error.as_deref(), last.error_code),
        (302, None, 0)
    );

    let mut req = HttpRequest::new(Method::GET, srv.url("/redirect/1"));
    req.max_redirects = Some(0);
    assert_eq!(execute(&c, req).await.len(), 1);

    // The run-wide limit applies when the request sets none.
    let c1 = client_with(HttpConfig {
        max_redirects: 1,
        ..HttpConfig::default()
    });
    assert_eq!(
        execute(&c1, HttpRequest::new(Method::GET, srv.url("/redirect/3")))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn see_other_switches_to_get_and_307_keeps_the_body() {
    let srv = TestServer::start(None).await;
    let c = client();
    let mut req = HttpRequest::new(Method::POST, srv.url("/r303"));
    req.body = Bytes::from_static(b"payload");
    req.headers
        .push(("Content-Type".into(), "text/plain".into()));
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].method, "POST");
    assert_eq!(hops[1].method, "GET");
    assert_eq!(hops[1].header("X-Method"), Some("GET"));
    assert!(hops[1].body.is_empty());
    assert_eq!(hops[1].header("X-Content-Type"), Some(""));

    let mut req = HttpRequest::new(Method::POST, srv.url("/r307"));
    req.body = Bytes::from_static(b"payload");
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1].header("X-Method"), Some("POST"));
    assert_eq!(hops[1].body, Bytes::from_static(b"payload"));
}

#[tokio::test]
async fn response_cookies_are_sent_later_and_on_redirect_hops() {
    let srv = TestServer::start(None).await;
    let c = client();
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/setcookie"))).await;
    assert_eq!(ex.header("Set-Cookie"), Some("a=1; Path=/"));
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(ex.header("X-Cookie"), Some("a=1"));
    assert!(ex
        .request_headers
        .iter()
        .any(|(k, v)| k == "Cookie" && v == "a=1"));

    let hops = execute(
        &c,
        HttpRequest::new(Method::GET, srv.url("/cookie-redirect")),
    )
    .await;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1].header("X-Cookie"), Some("a=1; r=2"));

    // Cookies set through the jar API go out too; a caller Cookie header wins on its names.
    c.cookie_jar()
        .set(&srv.url("/"), "manual", "m", &CookieOptions::default())
        .unwrap();
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.headers.push(("Cookie".into(), "a=override".into()));
    let ex = one(&c, req).await;
    assert_eq!(ex.header("X-Cookie"), Some("a=override; r=2; manual=m"));

    // jar: false neither sends nor stores.
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.jar = false;
    assert_eq!(one(&c, req).await.header("X-Cookie"), Some(""));

    // A script-created jar is used instead of the VU's.
    let custom = Arc::new(CookieJar::new());
    let mut req = HttpRequest::new(Method::GET, srv.url("/setcookie"));
    req.cookie_jar = Some(custom.clone());
    let before = c.cookie_jar().len();
    one(&c, req).await;
    assert_eq!(
        custom.cookies_for_url(&srv.url("/")),
        vec![("a".to_owned(), "1".to_owned())]
    );
    assert_eq!(c.cookie_jar().len(), before);
}

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
async fn byte_counts_cover_headers_and_bodies() {
    let srv = TestServer::start(None).await;
    let c = client();
    let mut req = HttpRequest::new(Method::POST, srv.url("/echo"));
    req.body = Bytes::from(vec![b'a'; 5000]);
    let ex = one(&c, req).await;
    let request_head: usize = ex
        .request_headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 4)
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
        .map(|(k, v)| k.len() + v.len() + 4)
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

fn tls_server_config() -> Arc<rustls::ServerConfig> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    Arc::new(cfg)
}

#[tokio::test]
async fn https_with_insecure_skip_verify() {
    let srv = TestServer::start(Some(tls_server_config())).await;
    let c = client_with(HttpConfig {
        insecure_skip_tls_verify: true,
        ..HttpConfig::default()
    });
    let first = one(
        &c,
        HttpRequest::new(Method::GET, srv.https_url("localhost", "/echo")),
    )
    .await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.tls_version.as_deref(), Some("tls1.3"));
    assert!(first.timings.tls_handshaking > 0.0);
    assert!(first.timings.connecting > 0.0);
    assert_timings_sane(&first.timings);
    // The handshake bytes count towards the first request.
    assert!(first.bytes_received > 500, "{}", first.bytes_received);

    let mut req = HttpRequest::new(Method::POST, srv.https_url("localhost", "/echo"));
    req.body = Bytes::from_static(b"secret");
    let second = one(&c, req).await;
    assert_eq!(second.body, Bytes::from_static(b"secret"));
    assert_eq!(second.timings.tls_handshaking, 0.0);
    assert_eq!(second.timings.connecting, 0.0);
    assert_eq!(second.tls_version.as_deref(), Some("tls1.3"));
    assert!(second.bytes_received < first.bytes_received);
    assert_eq!(srv.connections(), 1);

    // An IP address works too when verification is off.
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, srv.https_url("127.0.0.1", "/echo")),
    )
    .await;
    assert_eq!(ex.status, 200);
}

#[tokio::test]
async fn https_verification_fails_with_a_tls_code() {
    let srv = TestServer::start(Some(tls_server_config())).await;
    let c = client();
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, srv.https_url("localhost", "/echo")),
    )
    .await;
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::TLS_UNKNOWN_AUTHORITY, "{ex:?}");
    assert_eq!(ex.error.as_deref(), Some("x509: unknown authority"));
    assert!(ex.timings.tls_handshaking > 0.0);
    assert_timings_sane(&ex.timings);
    // https to a plain-http server is a TLS error too.
    let plain = TestServer::start(None).await;
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, plain.https_url("localhost", "/echo")),
    )
    .await;
    assert_eq!(ex.status, 0);
    assert!((1300..1400).contains(&ex.error_code), "{ex:?}");
}

#[test]
fn canonical_names_follow_go() {
    assert_eq!(canonical_name("content-type"), "Content-Type");
    assert_eq!(canonical_name("x-conn-id"), "X-Conn-Id");
    assert_eq!(canonical_name("ETAG"), "Etag");
}

#[test]
fn redirect_hops_drop_credentials_across_hosts() {
    let headers: Vec<(String, String)> = vec![
        ("Authorization".into(), "secret".into()),
        ("Cookie".into(), "c=1".into()),
        ("Content-Type".into(), "text/plain".into()),
        ("Host".into(), "override".into()),
        ("X-Keep".into(), "1".into()),
    ];
    let origin = Origin {
        method: Method::POST,
        url: Url::parse("http://a.test/x").unwrap(),
        headers: headers.clone(),
    };
    let hop = Hop {
        method: Method::POST,
        url: origin.url.clone(),
        headers,
        body: Bytes::from_static(b"b"),
        allow_host_override: true,
    };
    let names = |h: &Hop| h.headers.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();

    // 302 to another host: GET, no body, no credentials, no body headers, no Host override.
    let next = next_hop(hop, 302, Url::parse("http://other.test/").unwrap(), &origin);
    assert_eq!(next.method, Method::GET);
    assert!(next.body.is_empty());
    assert!(!next.allow_host_override);
    assert_eq!(names(&next), vec!["X-Keep"]);

    // Back on the original host, credentials come back (derived from the original request).
    let back = next_hop(next, 302, Url::parse("http://a.test/y").unwrap(), &origin);
    assert_eq!(names(&back), vec!["Authorization", "Cookie", "X-Keep"]);

    // 308 to a subdomain keeps method, body and headers (except the Host override).
    let origin = Origin {
        method: Method::PUT,
        url: Url::parse("http://a.test/x").unwrap(),
        headers: vec![("Authorization".into(), "secret".into())],
    };
    let hop = Hop {
        method: Method::PUT,
        url: origin.url.clone(),
        headers: origin.headers.clone(),
        body: Bytes::from_static(b"b"),
        allow_host_override: true,
    };
    let next = next_hop(hop, 308, Url::parse("http://sub.a.test/").unwrap(), &origin);
    assert_eq!(next.method, Method::PUT);
    assert_eq!(next.body, Bytes::from_static(b"b"));
    assert_eq!(names(&next), vec!["Authorization"]);
}
