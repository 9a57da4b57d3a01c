//! A VU's own connections (k6 semantics: connections are never shared between VUs).
//!
//! Each connection is a hyper HTTP/1 client connection over a metered TCP (or TLS) stream; its
//! `Connection` future runs on a tokio task while the pool keeps the `SendRequest` half. A VU talks
//! to a handful of hosts, so the idle set is a small vector searched linearly: cheaper than a
//! `HashMap` (no key allocation per lookup) and empty (no allocation) until first use.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::error::RequestError;
use super::shared::HttpShared;
use super::timing::{Counted, HopTrace, Meter, Timed};
use super::tls;

/// The request body type of every connection.
pub(crate) type ReqBody = Full<Bytes>;

/// Idle connections kept per (scheme, host, port); more than `http.batch`'s default per-host
/// parallelism (6) so a batch does not churn connections.
const MAX_IDLE_PER_HOST: usize = 8;

/// k6's dialer gives up on a TCP connect after 30 s (then: 1211 "dial: i/o timeout").
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolKey {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl PoolKey {
    fn is(&self, https: bool, host: &str, port: u16) -> bool {
        self.https == https && self.port == port && self.host == host
    }
}

/// One established connection.
pub(crate) struct Conn {
    pub sender: SendRequest<ReqBody>,
    pub meter: Arc<Meter>,
    pub remote: SocketAddr,
    pub tls_version: Option<&'static str>,
    /// The negotiated suite, k6's name for it.
    pub tls_cipher_suite: Option<&'static str>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("remote", &self.remote)
            .field("tls_version", &self.tls_version)
            .field("closed", &self.sender.is_closed())
            .finish()
    }
}

/// A VU's idle connections.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<(PoolKey, Vec<Conn>)>>,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Vec<(PoolKey, Vec<Conn>)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection to the target that is still open.
    pub fn take(&self, https: bool, host: &str, port: u16) -> Option<Conn> {
        let mut idle = self.lock();
        let (_, conns) = idle.iter_mut().find(|(k, _)| k.is(https, host, port))?;
        while let Some(conn) = conns.pop() {
            if !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a connection for reuse (dropped instead if the host already has enough idle ones).
    pub fn put(&self, https: bool, host: &str, port: u16, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        match idle.iter_mut().find(|(k, _)| k.is(https, host, port)) {
            Some((_, conns)) => {
                conns.retain(|c| !c.sender.is_closed());
                if conns.len() < MAX_IDLE_PER_HOST {
                    conns.push(conn);
                }
            }
            None => idle.push((
                PoolKey {
                    https,
                    host: host.to_owned(),
                    port,
                },
                vec![conn],
            )),
        }
    }

    /// Closes every idle connection (dropping a `SendRequest` ends its connection task).
    pub fn clear(&self) {
        let drained = std::mem::take(&mut *self.lock());
        drop(drained);
    }

    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.lock().iter().map(|(_, c)| c.len()).sum()
    }
}

/// The byte stream under hyper (and under a WebSocket): plain TCP or TLS over TCP, counted at
/// the socket.
pub(crate) enum Stream {
    Plain(Counted<TcpStream>),
    Tls(Box<TlsStream<Counted<TcpStream>>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A dialed connection before any HTTP: what `k6/ws` speaks WebSocket over.
pub(crate) struct Dialed {
    pub stream: Stream,
    /// Counts the wire bytes (TLS included).
    pub meter: Arc<Meter>,
    pub remote: SocketAddr,
    pub tls_version: Option<&'static str>,
    /// The negotiated suite, k6's name for it.
    pub tls_cipher_suite: Option<&'static str>,
}

/// Resolves, dials, (TLS-)handshakes and starts a new connection, recording each phase in
/// `trace`. `host` is the URL host (brackets around IPv6 literals allowed).
pub(crate) async fn connect(
    shared: &HttpShared,
    https: bool,
    host: &str,
    port: u16,
    trace: &mut HopTrace,
) -> Result<Conn, RequestError> {
    let Dialed {
        stream,
        meter,
        remote,
        tls_version,
        tls_cipher_suite,
    } = dial_checked(shared, https, host, port, trace).await?;
    let io = TokioIo::new(Timed::new(stream, meter.clone()));
    let (sender, connection) = shared
        .h1
        .handshake::<_, ReqBody>(io)
        .await
        .map_err(|e| RequestError::from_hyper(&e))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::trace!(%err, "HTTP connection ended with an error");
        }
    });
    Ok(Conn {
        sender,
        meter,
        remote,
        tls_version,
        tls_cipher_suite,
    })
}

/// Resolves, checks against the run's target filter, dials and (for `https`) TLS-handshakes
/// with the run's TLS config: everything [`connect`] does before HTTP.
pub(crate) async fn dial_checked(
    shared: &HttpShared,
    https: bool,
    host: &str,
    port: u16,
    trace: &mut HopTrace,
) -> Result<Dialed, RequestError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let targets = &shared.config().targets;
    targets.check_name(bare, port)?;
    // `hosts` answers instead of DNS; its address is checked below like any DNS answer.
    let mapped = shared.config().hosts.lookup(bare, port);
    let addrs: Vec<SocketAddr> = match (mapped, bare.parse::<std::net::IpAddr>()) {
        (Some(addr), _) => vec![addr],
        (None, Ok(ip)) => vec![SocketAddr::new(ip, port)],
        (None, Err(_)) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| RequestError::from_dns(bare, &e))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(RequestError::no_such_host(bare));
    }

    // Every address this connection might dial is checked, after DNS: a name that resolves
    // to a refused address is refused, however it was spelled.
    for addr in &addrs {
        targets.check_addr(bare, *addr)?;
    }

    trace.connect_start = Some(Instant::now());
    let tcp = dial(&addrs).await?;
    trace.connect_end = Some(Instant::now());
    let remote = tcp.peer_addr().unwrap_or(addrs[0]);
    // Requests are small and latency matters more than packet count (Go sets this too).
    let _ = tcp.set_nodelay(true);

    let meter = Meter::new();
    let counted = Counted::new(tcp, meter.clone());
    let (stream, tls_version, tls_cipher_suite) = if https {
        let name = tls::server_name(host).ok_or_else(|| {
            RequestError::new(
                super::error::INVALID_URL,
                format!("invalid URL: {host:?} is not a valid TLS server name"),
            )
        })?;
        trace.tls_start = Some(Instant::now());
        if let Some(refused) = &shared.tls_refused {
            return Err(RequestError::new(
                super::error::NON_TCP_NETWORK,
                refused.clone(),
            ));
        }
        let tls = shared
            .tls
            .connect(name, counted)
            .await
            .map_err(|e| handshake_error(shared, &e))?;
        trace.tls_end = Some(Instant::now());
        let session = tls.get_ref().1;
        let version = session.protocol_version().map(tls::version_name);
        let suite = session.negotiated_cipher_suite();
        let suite = suite.map(|s| super::cipher_suites::k6_name(s.suite()));
        (Stream::Tls(Box::new(tls)), version, suite)
    } else {
        (Stream::Plain(counted), None, None)
    };
    Ok(Dialed {
        stream,
        meter,
        remote,
        tls_version,
        tls_cipher_suite,
    })
}

/// A failed handshake in k6's words. With no TLS 1.2 suite to offer (`tlsCipherSuites`), Volley
/// offers TLS 1.3 alone and a TLS 1.2 server refuses the version; k6 offers TLS 1.2 with suites
/// the server does not share and gets `handshake failure` for the same cause, so that is said.
fn handshake_error(shared: &HttpShared, e: &std::io::Error) -> RequestError {
    let mut err = RequestError::from_tls_handshake(e);
    let version_refused = format!(
        "remote error: tls: {}",
        super::error::alert_name(rustls::AlertDescription::ProtocolVersion)
    );
    if shared.config().tls_cipher_suites.no_tls12_suite() && err.message == version_refused {
        err.message = format!(
            "remote error: tls: {}",
            super::error::alert_name(rustls::AlertDescription::HandshakeFailure)
        );
    }
    err
}

/// Tries each resolved address in turn, as Go's dialer does for a single family; reports the
/// last error.
async fn dial(addrs: &[SocketAddr]) -> Result<TcpStream, RequestError> {
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = Some(RequestError::from_connect(&addr.to_string(), &e)),
            Err(_) => {
                last = Some(RequestError::from_connect(
                    &addr.to_string(),
                    &std::io::Error::from(std::io::ErrorKind::TimedOut),
                ))
            }
        }
    }
    Err(last.unwrap_or_else(|| RequestError::new(super::error::TCP_DIAL, "dial: no addresses")))
}
