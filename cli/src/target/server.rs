//! The accept loop: hyper's HTTP/1.1 connections feeding the axum router of [`super::routes`].
//!
//! The loop is ours rather than `axum::serve` because the target needs what that does not offer:
//! pipelined responses flushed together, `TCP_NODELAY` on every socket (Nagle plus delayed ACKs
//! otherwise add ~40 ms to small responses), the local address for httpbin's `url`, and
//! connections that end when the server future is dropped.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use axum::http::{header, Method};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::ConnInfo;

/// Accepts and serves connections until this future is dropped. Connection tasks live in a
/// `JoinSet`, so dropping the future also aborts every open connection.
///
/// Per-connection accept errors are skipped and resource exhaustion (e.g. too many open files)
/// is retried after a short pause; only an error meaning the listener itself is unusable is
/// returned.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    let local = listener.local_addr()?;
    let router = super::routes::router();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Aggregating flushes lets pipelined requests share one write; sequential keep-alive
    // traffic still flushes as soon as the read side would block.
    http.keep_alive(true).pipeline_flush(true);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Best effort: a failure only costs latency, never correctness.
                    let _ = stream.set_nodelay(true);
                    let conn = ConnInfo { peer, local };
                    let http = http.clone();
                    let router = router.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| respond(router.clone(), req, conn));
                        // Errors here are the client's (reset, malformed request): nothing to do.
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "target: accept failed; retrying in 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One request: `/` straight away (the benchmark route: measured under callgrind, routing it
/// through axum cost ~4,600 more instructions per request, +67 %), anything else through the
/// router.
async fn respond(
    router: Router,
    mut req: Request<Incoming>,
    conn: ConnInfo,
) -> Result<Response, Infallible> {
    if req.uri().path() == "/" {
        return Ok(super::routes::root());
    }
    let head = req.method() == Method::HEAD;
    req.extensions_mut().insert(conn);
    let mut resp = router.oneshot(req).await?;
    // axum writes `content-length: 0` on bodiless HEAD answers (even 204/304, where it is not
    // allowed); hyper alone, as before the router, leaves it out.
    if head
        && resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0")
    {
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    }
    Ok(resp)
}

/// Errors that concern one pending connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
