//! The REST API's accept loop, hardened for networks the controller does not control.
//!
//! `axum::serve` keeps every connection for as long as the peer likes: a client that sends its
//! headers one byte at a time (slowloris) or opens connections and never uses them holds a file
//! descriptor each until the process runs out and stops answering even `/health`. This loop
//! serves the same axum router over hyper directly, with:
//! - a **header-read timeout**: the request head must arrive within it, and a kept-alive
//!   connection must start its next request within it (hyper runs the timer from the moment it
//!   waits for a head), so it is also the idle timeout;
//! - a **connection cap**: at the cap, the connection idle the longest (no request in flight)
//!   is closed to make room, so new clients — an operator's `/health` or `volley status` — are
//!   still served while idle connections hoard the slots; if every connection is busy, the new
//!   one is closed at once (better than running out of file descriptors). A kept-alive client
//!   whose idle connection is closed this way reconnects, as HTTP clients do.
//!
//! With `--tls-cert`, each connection does its TLS handshake within the header-read timeout
//! (under the same cap) before hyper sees it; a plaintext client is told to use `https://`
//! ([`crate::tls::accept`]).
//!
//! The defaults are set from the process's open-files limit (see [`ListenerLimits::from_env`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Notify;

/// How the REST listener bounds its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest a client may take to send a request's head, and longest a kept-alive
    /// connection may sit idle between requests.
    pub header_read_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

impl ListenerLimits {
    /// The defaults for this process: at most half of the open-files limit (the rest is for the
    /// store, the agents' gRPC streams and the runs' files), between 16 and 10,000.
    pub fn from_env() -> Self {
        let nofile = open_files_limit().unwrap_or(1024);
        ListenerLimits {
            max_connections: (nofile / 2).clamp(16, 10_000) as usize,
            ..ListenerLimits::default()
        }
    }
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (no libc call needed).
pub(crate) fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// One open connection as the cap sees it.
struct Slot {
    /// Requests in flight on it (0: idle).
    in_flight: Arc<AtomicUsize>,
    /// When it last went idle (or opened).
    idle_since: Arc<Mutex<Instant>>,
    /// Wakes its task to close it gracefully.
    close: Arc<Notify>,
}

/// The open connections, by an increasing id.
#[derive(Default)]
struct Slots {
    open: Mutex<BTreeMap<u64, Slot>>,
    next_id: AtomicU64,
}

impl Slots {
    fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Closes the connection idle the longest (it leaves the map at once, so the next call
    /// picks another); false when every connection is busy.
    fn evict_idlest(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let idlest = open
            .iter()
            .filter(|(_, s)| s.in_flight.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, s)| *s.idle_since.lock().unwrap_or_else(|e| e.into_inner()))
            .map(|(id, _)| *id);
        match idlest.and_then(|id| open.remove(&id)) {
            Some(slot) => {
                slot.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` within `limits` (over TLS when `tls` is given) until
/// `shutdown` completes.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: Option<Arc<crate::tls::ServerTls>>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Slots::default());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: keep going.
                    tracing::warn!("REST API: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        if slots.len() >= limits.max_connections && !slots.evict_idlest() {
            tracing::warn!(
                "REST API: {} connections open, all busy: closing the new one from {peer}",
                limits.max_connections
            );
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let id = slots.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            in_flight: Arc::new(AtomicUsize::new(0)),
            idle_since: Arc::new(Mutex::new(Instant::now())),
            close: Arc::new(Notify::new()),
        };
        let (in_flight, idle_since, close) = (
            slot.in_flight.clone(),
            slot.idle_since.clone(),
            slot.close.clone(),
        );
        slots
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, slot);
        let router = router.clone();
        let slots = slots.clone();
        let in_flight_now = in_flight.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let forget = || {
                slots
                    .open
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            };
            let io = match tls {
                None => Io::Plain(stream),
                Some(tls) => {
                    // The handshake counts as reading the head: same timeout, same slot (an
                    // idle-connection eviction closes it too).
                    let accepted = tokio::select! {
                        r = crate::tls::accept(&tls, stream, limits.header_read_timeout) => r,
                        _ = close.notified() => {
                            forget();
                            return;
                        }
                    };
                    match accepted {
                        Ok(s) => Io::Tls(Box::new(s)),
                        Err(e) => {
                            tracing::debug!("REST API: connection from {peer} closed: {e}");
                            forget();
                            return;
                        }
                    }
                }
            };
            let svc = tower::ServiceBuilder::new()
                .map_request({
                    let in_flight = in_flight.clone();
                    move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        // Who is asking: the API's per-peer back-off and audit lines use it.
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        req
                    }
                })
                .map_response(move |res: axum::response::Response| {
                    if in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                        *idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                    }
                    res
                })
                .service(router);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(64 * 1024);
            let conn = builder
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => log_end(r),
                _ = close.notified() => {
                    // Idle: close now (hyper's graceful shutdown would wait for the header-read
                    // timeout on a connection that never sent a request). Busy: let the
                    // request in flight finish first.
                    if in_flight_now.load(Ordering::SeqCst) > 0 {
                        conn.as_mut().graceful_shutdown();
                        log_end(conn.await);
                    }
                }
            }
            forget();
        });
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
enum Io {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

macro_rules! io_delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Io::Plain($s) => {
                let $s = std::pin::Pin::new($s);
                $e
            }
            Io::Tls($s) => {
                let $s = std::pin::Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        io_delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        io_delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        io_delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        io_delegate!(self, s => s.poll_shutdown(cx))
    }
}

fn log_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        if e.is_timeout() {
            tracing::debug!("REST API: connection closed: {e}");
        } else {
            tracing::debug!("REST API: connection ended: {e}");
        }
    }
}
