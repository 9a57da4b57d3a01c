//! The agents' gRPC port, bounded for networks the controller does not control.
//!
//! tonic's own accept loop keeps every connection for as long as the peer likes, and a peer
//! that opens connections and never speaks holds a file descriptor each until the process runs
//! out (the store and the REST API with it). This loop accepts the connections itself and hands
//! tonic only those within:
//! - a **connection cap**, so the process keeps file descriptors for the store and the REST
//!   API: when every connection is authenticated, a new one is closed at once (an agent
//!   retries with back-off);
//! - a **handshake timeout**: a connection must send the HTTP/2 preface within it, or it is
//!   closed (a silent connection cannot keep a slot); on the agents' port an agent must also
//!   have registered on it by then ([`Registered`]);
//! - **room at the cap**: the oldest connection not authenticated (no agent registered; on the
//!   Raft port, no batch of a peer accepted) is closed to make room (`slots.rs`), so a peer
//!   that speaks HTTP/2, answers pings and never authenticates (or is refused) cannot keep
//!   agents or controllers out: before, four such connections held a `--grpc-max-connections
//!   4` port, agents out, for as long as the peer liked, and 64 idle ones the Raft port;
//! - per connection, at most `max_streams` concurrent streams (an agent uses one), HTTP/2
//!   keep-alive pings that close a dead peer's connection, and a bound on header sizes. Message
//!   sizes are bounded by the service itself (`volley_proto::MAX_MESSAGE_BYTES`);
//! - per connection and per stream, an HTTP/2 receive window of `recv_window` bytes: what an
//!   agent may send before the controller has read it. A run whose task falls behind stops
//!   reading its agents' streams (docs/failures.md#a-controller-that-falls-behind), so this is
//!   what each agent's unread batches can hold of the controller's memory (hyper's default,
//!   1 MiB each, let 5,000 agents hold gigabytes).
//!
//! With TLS (`--tls-cert`, [`crate::tls`]), the TLS handshake runs in a task of its own per
//! connection, within the same handshake timeout and holding its slot under the cap; the HTTP/2
//! preface must then arrive before the same deadline. Each connection tells the service who is
//! on the other end ([`AgentPeer`]: the address and, with mTLS, the client certificate's name).
//!
//! See docs/failures.md#the-controllers-ports for the flags, docs/security.md#tls for TLS.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use crate::tls::ServerTls;

mod slots;

use slots::{Admitted, Progress, SlotGuard, Slots};
pub use slots::{Closer, Registered};

/// The HTTP/2 client preface (RFC 9113 §3.4): the bytes a connection must send in time.
const PREFACE_BYTES: usize = 24;

/// How the gRPC listener bounds its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest a new connection may take to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Most concurrent streams on one connection.
    pub max_streams: u32,
    /// HTTP/2 ping interval; a peer that does not answer within the same time is dropped.
    pub keepalive: Duration,
    /// Largest header list a request may carry, in bytes.
    pub max_header_bytes: u32,
    /// HTTP/2 receive window of each connection and of each stream, in bytes.
    pub recv_window: u32,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        GrpcLimits {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            max_streams: 8,
            keepalive: Duration::from_secs(20),
            max_header_bytes: 16 * 1024,
            // Several metric batches of a typical agent (~20 KiB each), and 1.3 MB/s for one
            // stream at 100 ms of round trip.
            recv_window: 128 * 1024,
        }
    }
}

impl GrpcLimits {
    /// The defaults for this process: at most a quarter of the open-files limit (the REST API
    /// may take half), between 16 and 10,000 connections.
    pub fn from_env() -> Self {
        let nofile = crate::rest_listener::open_files_limit().unwrap_or(1024);
        GrpcLimits {
            max_connections: (nofile / 4).clamp(16, 10_000) as usize,
            ..GrpcLimits::default()
        }
    }

    /// A tonic server builder with the per-connection limits.
    pub fn builder(&self) -> tonic::transport::Server {
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .max_concurrent_streams(Some(self.max_streams))
            .http2_keepalive_interval(Some(self.keepalive))
            .http2_keepalive_timeout(Some(self.keepalive))
            .http2_max_header_list_size(Some(self.max_header_bytes))
            .initial_connection_window_size(Some(self.recv_window))
            .initial_stream_window_size(Some(self.recv_window))
    }
}

/// Accepts connections on `listener` within `limits` (over TLS when `tls` is given); the
/// receiver is what `serve_with_incoming` takes (wrap it in a `ReceiverStream`).
pub fn incoming(
    listener: TcpListener,
    limits: GrpcLimits,
    tls: Option<Arc<ServerTls>>,
) -> mpsc::Receiver<Result<Bounded, io::Error>> {
    accept_loop(listener, limits, tls, Port::AGENTS)
}

/// [`incoming`] for a port of another kind (the Raft port, `crate::replication::transport`):
/// its connections need not register an agent, and are authenticated by what its service says
/// ([`Registered::set`]).
pub fn incoming_on(
    listener: TcpListener,
    limits: GrpcLimits,
    tls: Option<Arc<ServerTls>>,
    port: Port,
) -> mpsc::Receiver<Result<Bounded, io::Error>> {
    accept_loop(listener, limits, tls, port)
}

/// What a port is called in its logs and how its connections authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// Its name in logs (`gRPC`, `Raft port`).
    pub what: &'static str,
    /// What the cap's log line adds (the flag that sets it).
    pub cap_flag: &'static str,
    /// Whether a connection on which no agent registered within the handshake timeout is
    /// closed (the agents' port).
    pub must_register: bool,
    /// Why a connection evicted at the cap was closed.
    pub evicted: &'static str,
}

impl Port {
    /// The agents' port.
    pub const AGENTS: Port = Port {
        what: "gRPC",
        cap_flag: "; --grpc-max-connections",
        must_register: true,
        evicted: "closed to make room for a new connection: no agent registered on it, and \
                  every slot was taken (--grpc-max-connections)",
    };
}

/// The accept loop of [`incoming`] and [`incoming_on`].
fn accept_loop(
    listener: TcpListener,
    limits: GrpcLimits,
    tls: Option<Arc<ServerTls>>,
    port: Port,
) -> mpsc::Receiver<Result<Bounded, io::Error>> {
    let Port {
        what,
        cap_flag,
        evicted: evicted_why,
        ..
    } = port;
    let (tx, rx) = mpsc::channel(64);
    let slots = Slots::new(limits.max_connections);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to be freed.
                    tracing::warn!("{what}: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = match slots.admit() {
                // (the evicted connection logs why it was closed)
                Admitted::Free(slot) | Admitted::Evicted(slot) => {
                    slot.slot.progressed(arrived(&stream, tls.is_some()));
                    slot
                }
                Admitted::Full => {
                    tracing::warn!(
                        %peer,
                        "{what}: connection refused: {} connections are open, all \
                         authenticated (the cap{cap_flag})",
                        limits.max_connections
                    );
                    drop(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
            let Some(tls) = tls.clone() else {
                let conn = Bounded {
                    peer: AgentPeer {
                        addr: Some(peer),
                        tls: false,
                        cert_name: None,
                        registered: slot.slot.registered.clone(),
                        closer: slot.slot.closer.clone(),
                    },
                    inner: Stream::Plain(stream),
                    slot,
                    preface_left: PREFACE_BYTES,
                    port,
                    deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
                    timed_out: None,
                    kept: false,
                };
                if tx.send(Ok(conn)).await.is_err() {
                    return;
                }
                continue;
            };
            // The handshake must not hold up the accept loop: a task per connection.
            let tx = tx.clone();
            tokio::spawn(async move {
                let evicted = slot.slot.clone();
                // Its first bytes (a ClientHello) put it ahead of silent connections at the
                // cap (`slots.rs`); the handshake's timeout counts from the accept.
                let handshake = async {
                    if tokio::time::timeout_at(deadline, stream.readable())
                        .await
                        .is_err()
                    {
                        return Err(crate::tls::AcceptError::Timeout(limits.handshake_timeout));
                    }
                    evicted.progressed(Progress::Spoke);
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    crate::tls::accept(&tls, stream, left)
                        .await
                        .map_err(|e| match e {
                            crate::tls::AcceptError::Timeout(_) => {
                                crate::tls::AcceptError::Timeout(limits.handshake_timeout)
                            }
                            e => e,
                        })
                };
                let stream = tokio::select! {
                    r = handshake => match r {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(%peer, "{what}: connection closed: {e}");
                            return;
                        }
                    },
                    () = evicted.evicted_wait() => {
                        tracing::warn!(%peer, "{what}: connection closed in its TLS handshake: {evicted_why}");
                        return;
                    }
                };
                evicted.progressed(Progress::Speaking);
                let cert_name = crate::tls::peer_cert_name(&stream);
                let conn = Bounded {
                    peer: AgentPeer {
                        addr: Some(peer),
                        tls: true,
                        cert_name,
                        registered: slot.slot.registered.clone(),
                        closer: slot.slot.closer.clone(),
                    },
                    inner: Stream::Tls(Box::new(stream)),
                    slot,
                    preface_left: PREFACE_BYTES,
                    port,
                    deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
                    timed_out: None,
                    kept: false,
                };
                let _ = tx.send(Ok(conn)).await;
            });
        }
    });
    rx
}

/// How far a connection just accepted got already: a real agent's or peer's first bytes
/// (the ClientHello, the HTTP/2 preface) are usually waiting by the time it is accepted, and
/// put it ahead of silent connections at the cap (`slots.rs`). Peeks without waiting.
fn arrived(stream: &TcpStream, tls: bool) -> Progress {
    let mut bytes = [std::mem::MaybeUninit::<u8>::uninit(); PREFACE_BYTES];
    // The socket does not block (tokio's): nothing waiting is `WouldBlock`.
    match socket2::SockRef::from(stream).peek(&mut bytes) {
        Ok(n) if n == PREFACE_BYTES && !tls => Progress::Speaking,
        Ok(n) if n > 0 => Progress::Spoke,
        _ => Progress::Silent,
    }
}

/// Who is on the other end of an agent's connection; the gRPC service reads it from the
/// request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPeer {
    pub addr: Option<SocketAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The name of the client certificate it presented ([`crate::tls::cert_name`]).
    pub cert_name: Option<String>,
    /// Whether the connection is authenticated: an agent registered on it, or on the Raft
    /// port a peer's batch was accepted (the service says so).
    pub registered: Registered,
    /// Closes the connection when the service decides to.
    pub closer: Closer,
}

/// A connection's byte stream: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

macro_rules! stream_delegate {
    ($stream:expr, $s:ident => $e:expr) => {
        match $stream {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

/// One accepted connection: holds its slot under the cap until it is dropped, fails reads once
/// the handshake timeout passes before the preface has arrived (or, on the agents' port,
/// before an agent registered on it), once it is evicted at the cap, and once its service
/// closed it ([`Closer`]).
pub struct Bounded {
    peer: AgentPeer,
    inner: Stream,
    /// Its place under the cap.
    slot: SlotGuard,
    /// Preface bytes still to come before the deadline stops applying.
    preface_left: usize,
    /// Its port: whether the deadline applies until an agent registered, not only until the
    /// preface, and what its logs say.
    port: Port,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Why the connection was closed, once it was: every later read fails with it.
    timed_out: Option<&'static str>,
    /// Whether the connection authenticated and left the eviction candidates.
    kept: bool,
}

impl Bounded {
    /// Fails this read and every later one with `why`, logged once with the peer.
    fn fail(&mut self, why: &'static str) -> Poll<io::Result<()>> {
        let peer = self.peer.addr.map(|a| a.to_string()).unwrap_or_default();
        tracing::warn!(%peer, "{}: connection closed: {why}", self.port.what);
        self.timed_out = Some(why);
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
    }

    /// Whether the connection has done what the deadline asks of it.
    fn past_deadline_rules(&self) -> bool {
        self.preface_left == 0 && (!self.port.must_register || self.peer.registered.get())
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        if let Some(why) = this.timed_out {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)));
        }
        if let Some(why) = this.peer.closer.why() {
            return this.fail(why);
        }
        // Until it authenticates, the connection may be evicted at the cap.
        if !this.kept {
            if this.peer.registered.get() {
                this.kept = true;
                this.slot.keep();
            } else if this.slot.slot.wake_on_evict(cx.waker()) {
                return this.fail(this.port.evicted);
            }
        }
        match stream_delegate!(&mut this.inner, s => s.poll_read(cx, buf)) {
            Poll::Ready(Ok(())) => {
                let got = buf.filled().len() - before;
                if got > 0 && this.preface_left > 0 {
                    this.preface_left = this.preface_left.saturating_sub(got);
                    this.slot.slot.progressed(if this.preface_left == 0 {
                        Progress::Speaking
                    } else {
                        Progress::Spoke
                    });
                }
                if this.deadline.is_some() && this.past_deadline_rules() {
                    this.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.deadline.is_some() && this.past_deadline_rules() {
                    this.deadline = None;
                }
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    if this.preface_left > 0 {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the HTTP/2 preface did not arrive within the gRPC handshake timeout",
                        )));
                    }
                    return this.fail(
                        "no agent registered on it within the gRPC handshake timeout \
                         (--grpc-handshake-timeout)",
                    );
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        stream_delegate!(&mut self.inner, s => s.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        stream_delegate!(&mut self.inner, s => s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        stream_delegate!(&mut self.inner, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        stream_delegate!(&mut self.inner, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl Connected for Bounded {
    type ConnectInfo = AgentPeer;

    /// The peer's address and certificate name (the service reads them from the request's
    /// extensions).
    fn connect_info(&self) -> AgentPeer {
        self.peer.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Reads until EOF or an error; true if the peer closed within `within`.
    async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(within, async {
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await,
            Ok(())
        )
    }

    /// The frames a server sends first (until it says nothing for 500 ms): (type, stream,
    /// payload) each.
    async fn first_frames(s: &mut TcpStream) -> Vec<(u8, u32, Vec<u8>)> {
        let mut frames = Vec::new();
        while frames.len() < 16 {
            let mut head = [0u8; 9];
            let read = tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut head));
            if !matches!(read.await, Ok(Ok(_))) {
                break;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).await.unwrap();
            frames.push((head[3], stream, payload));
        }
        frames
    }

    #[tokio::test]
    async fn agents_may_send_at_most_the_receive_window_unread() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = GrpcLimits::default();
        let incoming =
            tokio_stream::wrappers::ReceiverStream::new(incoming(listener, limits, None));
        let server = tokio::spawn(
            limits
                .builder()
                .add_routes(tonic::service::Routes::default())
                .serve_with_incoming(incoming),
        );
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        // An empty SETTINGS frame.
        s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
        let frames = first_frames(&mut s).await;
        server.abort();
        // SETTINGS_INITIAL_WINDOW_SIZE (0x4): each stream's window.
        let stream_window = frames
            .iter()
            .filter(|(kind, _, _)| *kind == 4)
            .flat_map(|(_, _, p)| p.chunks_exact(6))
            .find(|c| u16::from_be_bytes([c[0], c[1]]) == 4)
            .map(|c| u32::from_be_bytes([c[2], c[3], c[4], c[5]]));
        assert_eq!(stream_window, Some(limits.recv_window), "{frames:?}");
        // The connection's window: 65,535 bytes (RFC 9113 §6.9.2) plus its WINDOW_UPDATEs.
        let connection_window = 65_535
            + frames
                .iter()
                .filter(|(kind, stream, _)| *kind == 8 && *stream == 0)
                .map(|(_, _, p)| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff)
                .sum::<u32>();
        assert_eq!(connection_window, limits.recv_window, "{frames:?}");
        assert!(limits.recv_window <= 256 * 1024);
    }

    /// A port like the Raft port's: connections need not register an agent, only send the
    /// preface in time, and are authenticated by what the service says.
    const PEERS: Port = Port {
        what: "test",
        cap_flag: "",
        must_register: false,
        evicted: "evicted",
    };

    #[tokio::test]
    async fn at_the_cap_an_unauthenticated_connection_makes_room_and_silent_ones_time_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = GrpcLimits {
            max_connections: 2,
            handshake_timeout: Duration::from_millis(500),
            ..GrpcLimits::default()
        };
        let rx = incoming_on(listener, limits, None, PEERS);
        // The second connection authenticates (what the Raft port's service does).
        let served = serve(rx, 4, 1);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut squatter = TcpStream::connect(addr).await.unwrap();
        squatter.write_all(preface).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut peer = TcpStream::connect(addr).await.unwrap();
        peer.write_all(preface).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Two are open: the third takes the squatter's slot at once, not the peer's.
        let t = Instant::now();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut squatter, Duration::from_millis(300)).await);
        // The third sends nothing: it is closed after the handshake timeout.
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        fourth.write_all(&[b'P'; PREFACE_BYTES]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        // One that sent its preface is kept past the timeout; the peer all along.
        assert!(!closed_within(&mut peer, Duration::from_millis(10)).await);
        drop(peer);
        drop(fourth);
        assert_eq!(
            served.await.unwrap(),
            vec![
                Err(io::ErrorKind::TimedOut),
                Ok(24),
                Err(io::ErrorKind::TimedOut),
                Ok(24)
            ],
            "squatter, peer, silent, fourth"
        );
    }

    /// Reads what `conn` sends until it ends or fails: the bytes read, or the error's kind.
    async fn drain(mut conn: Bounded) -> Result<usize, io::ErrorKind> {
        let mut buf = [0u8; 64];
        let mut got = 0;
        loop {
            match conn.read(&mut buf).await {
                Ok(0) => return Ok(got),
                Ok(n) => got += n,
                Err(e) => return Err(e.kind()),
            }
        }
    }

    /// Accepts `n` connections, marks the `agent`-th one's agent registered (what `crate::grpc`
    /// does), and drains each: what each read, in order of arrival.
    fn serve(
        mut rx: tokio::sync::mpsc::Receiver<io::Result<Bounded>>,
        n: usize,
        agent: usize,
    ) -> tokio::task::JoinHandle<Vec<Result<usize, io::ErrorKind>>> {
        tokio::spawn(async move {
            let mut reads = Vec::new();
            for i in 0..n {
                let Some(Ok(conn)) = rx.recv().await else {
                    break;
                };
                if i == agent {
                    conn.peer.registered.set();
                }
                reads.push(tokio::spawn(drain(conn)));
            }
            let mut out = Vec::new();
            for r in reads {
                out.push(r.await.unwrap());
            }
            out
        })
    }

    #[tokio::test]
    async fn agents_port_closes_a_connection_on_which_no_agent_registered() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = GrpcLimits {
            max_connections: 4,
            handshake_timeout: Duration::from_millis(500),
            ..GrpcLimits::default()
        };
        let rx = incoming(listener, limits, None);
        // The second connection's agent registers (what `crate::grpc` does).
        let served = serve(rx, 2, 1);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(preface).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut agent = TcpStream::connect(addr).await.unwrap();
        agent.write_all(preface).await.unwrap();
        // A preface is not enough: without an agent the connection goes at the timeout.
        let t = Instant::now();
        assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        // The one with an agent stays past it.
        tokio::time::sleep(Duration::from_millis(700)).await;
        drop(agent);
        assert_eq!(
            served.await.unwrap(),
            vec![Err(io::ErrorKind::TimedOut), Ok(24)],
            "no agent, an agent"
        );
    }

    #[tokio::test]
    async fn at_the_cap_a_connection_without_an_agent_makes_room() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = GrpcLimits {
            max_connections: 2,
            handshake_timeout: Duration::from_secs(30),
            ..GrpcLimits::default()
        };
        let rx = incoming(listener, limits, None);
        // The first connection's agent registers; the second's never does.
        let served = serve(rx, 3, 0);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut agent = TcpStream::connect(addr).await.unwrap();
        agent.write_all(preface).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut squatter = TcpStream::connect(addr).await.unwrap();
        squatter.write_all(preface).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // At the cap, a new connection takes the squatter's slot at once, not the agent's.
        let mut newcomer = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut squatter, Duration::from_secs(2)).await);
        newcomer.write_all(preface).await.unwrap();
        assert!(!closed_within(&mut agent, Duration::from_millis(300)).await);
        drop(agent);
        drop(newcomer);
        assert_eq!(
            served.await.unwrap(),
            vec![Ok(24), Err(io::ErrorKind::TimedOut), Ok(24)],
            "agent, squatter, newcomer"
        );
    }
}
