//! Tests of the VU HTTP client against the loopback test server below, split by concern:
//! requests and responses, connections, redirects, errors and TLS.

use super::*;
use crate::http::error as codes;
use crate::http::{CookieOptions, HttpConfig};
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

mod basics;
mod connections;
mod errors;
mod redirects;
mod tls;
