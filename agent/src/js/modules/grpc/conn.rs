//! A client's connection and its calls, on the IO runtime: a tonic `Channel` (HTTP/2) over a
//! connection dialed as `k6/http` dials (`blockHostnames`, `blacklistIPs` and an agent's
//! target policy refuse it alike, and its wire bytes count in `data_sent`/`data_received`).
//!
//! Messages cross the channel as bytes ([`RawCodec`]): the VU encodes and decodes them with
//! the client's descriptors on its own thread (`codec.rs`), so these tasks never touch JS.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use hyper_util::rt::TokioIo;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::http::{dial_checked, HopTrace, HttpShared, Meter};

/// grpc-go's default limit on a received message (k6's `maxReceiveSize` of 0).
pub const DEFAULT_MAX_RECEIVE: usize = 4 << 20;
/// The largest message sent when the script sets no `maxSendSize` (grpc-go has no limit; an
/// unbounded one would let a script exhaust the generator's memory).
pub const DEFAULT_MAX_SEND: usize = 64 << 20;
/// How many of a channel's connections (it redials after a drop) keep their byte counters.
const METERS_KEPT: usize = 4;

/// What `connect` was asked for.
pub struct ConnectParams {
    pub timeout: Duration,
    pub max_receive: usize,
    pub max_send: usize,
    /// `authority`: the `:authority` of every call instead of the address.
    pub authority: Option<String>,
    pub user_agent: String,
    /// TLS (`plaintext: false`, the default), with this client config.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// An open connection of a client.
#[derive(Clone)]
pub struct Conn {
    channel: Channel,
    /// The address as the script gave it (`host:port`).
    pub addr: String,
    meters: Arc<Mutex<Vec<Arc<Meter>>>>,
    max_receive: usize,
    max_send: usize,
}

impl Conn {
    /// Bytes (sent, received) on the connection's wire since the last call.
    pub fn take_bytes(&self) -> (u64, u64) {
        let meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        meters.iter().fold((0, 0), |(s, r), m| {
            let (a, b) = m.take_bytes();
            (s + a, r + b)
        })
    }
}

/// `host:port` split, IPv6 literals in brackets; the port must be a number (k6's words for
/// what is wrong, as Go's dialer says them).
pub fn split_addr(addr: &str) -> Result<(String, u16), String> {
    let Some((host, port)) = addr
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with('[') && (!h.starts_with('[') || h.ends_with(']')))
    else {
        return Err(format!("address {addr}: missing port in address"));
    };
    let port: u16 = port.parse().map_err(|_| {
        format!("address {addr}: invalid port {port:?} (use a number, as in 127.0.0.1:50051)")
    })?;
    Ok((host.to_owned(), port))
}

/// Why one attempt to connect failed, in grpc-go's words (what follows `connection error:
/// desc =`), and whether grpc-go tries again until the timeout (a bad certificate) or gives
/// up at once (a refused dial).
#[derive(Clone)]
struct Failure {
    text: String,
    retry: bool,
}

/// How long grpc-go waits before its first retry, and the factor of each next wait.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const BACKOFF_FACTOR: f64 = 1.6;

/// The connection under HTTP/2: TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// Dials `addr` and opens an HTTP/2 connection on it (over TLS with `p.tls`), within
/// `p.timeout`. The error is k6's text (grpc-go's, as k6 passes it on).
pub async fn connect(
    shared: Arc<HttpShared>,
    addr: String,
    p: ConnectParams,
) -> Result<Conn, String> {
    let dialing =
        |e: &str| format!("connection error: desc = \"transport: error while dialing: {e}\"");
    let (host, port) = split_addr(&addr).map_err(|e| dialing(&e))?;
    let scheme = if p.tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| dialing(&format!("address {addr}: {e}")))?
        .connect_timeout(p.timeout);
    if !p.user_agent.is_empty() {
        endpoint = endpoint
            .user_agent(p.user_agent.clone())
            .map_err(|e| format!("invalid userAgent {:?}: {e}", p.user_agent))?;
    }
    if let Some(a) = &p.authority {
        let uri: http::Uri = format!("{scheme}://{a}")
            .parse()
            .map_err(|e| format!("invalid authority {a:?} in the connect params: {e}"))?;
        endpoint = endpoint.origin(uri);
    }
    let tls = match &p.tls {
        Some(cfg) => {
            let name = crate::http::tls::server_name(&host).ok_or_else(|| {
                dialing(&format!(
                    "address {addr}: {host:?} is not a valid TLS server name"
                ))
            })?;
            Some((tokio_rustls::TlsConnector::from(cfg.clone()), name))
        }
        None => None,
    };
    let meters: Arc<Mutex<Vec<Arc<Meter>>>> = Arc::default();
    let failure: Arc<Mutex<Option<Failure>>> = Arc::default();
    let (m, f) = (meters.clone(), failure.clone());
    let dial = move |_uri: http::Uri| {
        let (shared, host, meters, failure, tls) = (
            shared.clone(),
            host.clone(),
            m.clone(),
            f.clone(),
            tls.clone(),
        );
        async move {
            let mut trace = HopTrace::new(Instant::now());
            let failed = |text: String, retry: bool| {
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Failure {
                    text: text.clone(),
                    retry,
                });
                Err(std::io::Error::other(text))
            };
            let d = match dial_checked(&shared, false, &host, port, &mut trace).await {
                Ok(d) => d,
                Err(e) => {
                    return failed(
                        format!(
                            "transport: error while dialing: {}",
                            e.dial_text(&host, port)
                        ),
                        false,
                    )
                }
            };
            {
                let mut kept = meters.lock().unwrap_or_else(|e| e.into_inner());
                if kept.len() >= METERS_KEPT {
                    kept.remove(0);
                }
                kept.push(d.meter.clone());
            }
            let io: Box<dyn Io> = match tls {
                None => Box::new(d.stream),
                Some((connector, name)) => match connector.connect(name, d.stream).await {
                    Ok(s) if s.get_ref().1.alpn_protocol() == Some(b"h2") => Box::new(s),
                    Ok(_) => return failed(super::tls::NO_ALPN.to_owned(), true),
                    Err(e) => {
                        let (text, retry) = match super::tls::rustls_error_in(&e) {
                            Some(t) => super::tls::handshake_failure(t),
                            // The server hung up during the handshake.
                            None => (
                                format!(
                                    "transport: authentication handshake failed: {}",
                                    go_io(&e)
                                ),
                                true,
                            ),
                        };
                        return failed(text, retry);
                    }
                },
            };
            match ReadAhead::preface(io).await {
                Ok(io) => Ok(TokioIo::new(io)),
                Err(text) => failed(text, true),
            }
        }
    };
    let take_failure = || failure.lock().unwrap_or_else(|e| e.into_inner()).take();
    let deadline = tokio::time::Instant::now() + p.timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut last: Option<Failure> = None;
    loop {
        let attempt = tokio::time::timeout_at(
            deadline,
            endpoint.connect_with_connector(tower::service_fn(dial.clone())),
        )
        .await;
        let failed = match attempt {
            Ok(Ok(channel)) => {
                return Ok(Conn {
                    channel,
                    addr,
                    meters,
                    max_receive: p.max_receive,
                    max_send: p.max_send,
                })
            }
            Ok(Err(e)) => take_failure().unwrap_or_else(|| after_handshake(&e)),
            Err(_) => {
                let text = take_failure().or(last).map(|f| f.text);
                return Err(match text {
                    Some(t) => format!("context deadline exceeded: connection error: desc = {t:?}"),
                    None => "context deadline exceeded".into(),
                });
            }
        };
        if !failed.retry {
            return Err(format!("connection error: desc = {:?}", failed.text));
        }
        last = Some(failed);
        // grpc-go tries again after a growing pause; the deadline ends the waiting too.
        let next = tokio::time::Instant::now() + backoff;
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            let text = last.map(|f| f.text).unwrap_or_default();
            return Err(format!(
                "context deadline exceeded: connection error: desc = {text:?}"
            ));
        }
        tokio::time::sleep_until(next).await;
        backoff = backoff.mul_f64(BACKOFF_FACTOR);
    }
}

/// Why a connection whose dial and handshake went through failed: the server ended it
/// before its HTTP/2 preface (a TLS alert sent after the handshake, as a server that wants a
/// client certificate does, or a hang-up), which grpc-go retries; or HTTP/2 itself failed.
fn after_handshake(e: &tonic::transport::Error) -> Failure {
    if let Some(t) = super::tls::rustls_error_in(e) {
        return Failure {
            text: format!("error reading server preface: {}", super::tls::go_text(t)),
            retry: true,
        };
    }
    let chain = error_chain(e);
    if chain.contains("connection closed") || chain.contains("unexpected end of file") {
        return Failure {
            text: "error reading server preface: EOF".into(),
            retry: true,
        };
    }
    Failure {
        text: format!("transport: {chain}"),
        retry: false,
    }
}

/// An IO error as Go words it (`EOF` for a hang-up).
fn go_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "EOF".into(),
        std::io::ErrorKind::ConnectionReset => "read: connection reset by peer".into(),
        _ => e.to_string(),
    }
}

/// A connection whose first bytes were read ahead and are given back first: grpc-go counts a
/// connection as made once the server's HTTP/2 preface came, so that a server that ends the
/// connection at once (a TLS alert after the handshake, as one that wants a client
/// certificate sends in TLS 1.3; a hang-up) fails `connect` rather than the first call.
struct ReadAhead {
    first: Bytes,
    inner: Box<dyn Io>,
}

impl ReadAhead {
    /// Waits for the server's first bytes. `Err` is grpc-go's text.
    async fn preface(mut inner: Box<dyn Io>) -> Result<ReadAhead, String> {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1024];
        match inner.read(&mut buf).await {
            Ok(0) => Err("error reading server preface: EOF".into()),
            Ok(n) => {
                buf.truncate(n);
                Ok(ReadAhead {
                    first: Bytes::from(buf),
                    inner,
                })
            }
            Err(e) => Err(format!(
                "error reading server preface: {}",
                match super::tls::rustls_error_in(&e) {
                    Some(t) => super::tls::go_text(t),
                    None => go_io(&e),
                }
            )),
        }
    }
}

impl tokio::io::AsyncRead for ReadAhead {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            let chunk = self.first.split_to(n);
            buf.put_slice(&chunk);
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ReadAhead {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An error and its sources, joined by ": ".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// How a call ended.
pub struct Outcome {
    /// The gRPC status code.
    pub code: Code,
    /// The status message (empty on success).
    pub message: String,
    /// The reply (unary calls that got one).
    pub reply: Option<Bytes>,
    pub headers: MetadataMap,
    pub trailers: MetadataMap,
    pub duration: Duration,
    /// k6 records no `grpc_req_duration` for it: the call's own deadline passed, or the client
    /// failed before the server could answer.
    pub unrecorded: bool,
}

impl Outcome {
    fn failed(status: &Status, headers: MetadataMap, duration: Duration) -> Outcome {
        let (code, message) = status_text(status);
        Outcome {
            code,
            message,
            reply: None,
            headers,
            // A status without a header block before it (a "trailers-only" answer) carries
            // the whole answer's metadata; after headers, its metadata are the trailers.
            trailers: status.metadata().clone(),
            duration,
            unrecorded: false,
        }
    }

    fn deadline(duration: Duration) -> Outcome {
        Outcome {
            code: Code::DeadlineExceeded,
            message: "context deadline exceeded".into(),
            reply: None,
            headers: MetadataMap::new(),
            trailers: MetadataMap::new(),
            duration,
            unrecorded: true,
        }
    }
}

/// How early a server's deadline may end a call before the client's own timer does (the
/// server got the deadline in `grpc-timeout` and its timer may beat the client's by a hair).
const DEADLINE_SLACK: Duration = Duration::from_millis(25);

/// Whether `status` is the server ending the call for its deadline: the call then ends as the
/// client's deadline ends it in k6 ("context deadline exceeded", not recorded).
fn deadline_status(status: &Status, elapsed: Duration, timeout: Option<Duration>) -> bool {
    matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded)
        && timeout.is_some_and(|t| elapsed + DEADLINE_SLACK >= t)
}

/// grpc-go's words for a unary call that got more than one answer.
const PROTOCOL_VIOLATION: &str = "grpc: client streaming protocol violation: get <nil>, want <EOF>";

/// Trailers as k6 shows them: without the status, which the response has in its own fields.
fn without_status(mut md: MetadataMap) -> MetadataMap {
    for k in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        md.remove(k);
    }
    md
}

/// A status' code and message, in grpc-go's terms where tonic has its own for the same thing.
fn status_text(status: &Status) -> (Code, String) {
    let m = status.message();
    // tonic: "Error, decoded message length too large: found 208 bytes, the limit is: 100 bytes"
    if let Some(rest) = m.strip_prefix("Error, decoded message length too large: found ") {
        let mut nums = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty());
        if let (Some(found), Some(limit)) = (nums.next(), nums.next()) {
            return (
                Code::ResourceExhausted,
                format!("grpc: received message larger than max ({found} vs. {limit})"),
            );
        }
    }
    (status.code(), m.to_owned())
}

/// A status code's name as Go's `codes.Code` prints it (`Unimplemented`, `Canceled`).
pub fn go_code_name(code: Code) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("Unknown")
}

/// The channel's client with the connection's message size limits.
pub fn client(conn: &Conn) -> tonic::client::Grpc<Channel> {
    tonic::client::Grpc::new(conn.channel.clone())
        .max_decoding_message_size(conn.max_receive)
        .max_encoding_message_size(conn.max_send)
}

fn call_path(path: String) -> Result<http::uri::PathAndQuery, Status> {
    http::uri::PathAndQuery::from_maybe_shared(path).map_err(|e| Status::internal(e.to_string()))
}

/// A unary call of `path` (`/pkg.Service/Method`) with an encoded request.
pub async fn unary(
    conn: Conn,
    path: String,
    body: Bytes,
    metadata: MetadataMap,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let call = async {
        let mut grpc = client(&conn);
        grpc.ready()
            .await
            .map_err(|e| (Status::unavailable(error_chain(&e)), MetadataMap::new()))?;
        let mut req = tonic::Request::new(tokio_stream::once(body));
        *req.metadata_mut() = metadata;
        req.set_timeout(timeout);
        let path = call_path(path).map_err(|s| (s, MetadataMap::new()))?;
        let resp = grpc
            .streaming(req, path, RawCodec)
            .await
            .map_err(|s| (s, MetadataMap::new()))?;
        let headers = resp.metadata().clone();
        let mut stream = resp.into_inner();
        let reply = stream.message().await.map_err(|s| (s, headers.clone()))?;
        // A unary call answers once: a second answer fails the call as grpc-go fails it for
        // k6, showing the second message.
        if reply.is_some() {
            if let Some(more) = stream.message().await.map_err(|s| (s, headers.clone()))? {
                return Ok((
                    headers,
                    Some(more),
                    MetadataMap::new(),
                    Some(PROTOCOL_VIOLATION),
                ));
            }
        }
        let trailers = stream
            .trailers()
            .await
            .map_err(|s| (s, headers.clone()))?
            .map(without_status)
            .unwrap_or_default();
        Ok::<_, (Status, MetadataMap)>((headers, reply, trailers, None))
    };
    let result = tokio::time::timeout(timeout, call).await;
    let duration = started.elapsed();
    match result {
        Ok(Ok((headers, reply, _, Some(violation)))) => Outcome {
            reply,
            ..Outcome::failed(&Status::unknown(violation), headers, duration)
        },
        Ok(Ok((headers, reply, trailers, None))) => match reply {
            Some(reply) => Outcome {
                code: Code::Ok,
                message: String::new(),
                reply: Some(reply),
                headers,
                trailers,
                duration,
                unrecorded: false,
            },
            None => Outcome::failed(
                &Status::internal("the server ended a unary call without a reply"),
                headers,
                duration,
            ),
        },
        Ok(Err((status, headers))) => {
            if deadline_status(&status, duration, Some(timeout)) {
                return Outcome::deadline(duration);
            }
            Outcome::failed(&status, headers, duration)
        }
        Err(_) => Outcome::deadline(duration),
    }
}

/// What the script does to a stream.
pub enum StreamCmd {
    /// Send a message.
    Write(Bytes),
    /// The client has finished sending (`stream.end()`).
    End,
    /// End the call with an error the client found (a message it could not encode).
    Fail(String),
}

/// What a stream reports to its VU: messages, then at most one error, then `End`.
pub enum StreamEvent {
    Data(Bytes),
    Error { code: Code, message: String },
    End(Box<Outcome>),
}

/// Runs one stream (any kind: the script's writes and ends go up as they come, the server's
/// messages come down as they arrive) until the call ends. Dropping the command sender (the
/// VU's iteration ended) cancels the call without events.
pub async fn stream(
    conn: Conn,
    path: String,
    metadata: MetadataMap,
    timeout: Option<Duration>,
    mut cmds: tokio::sync::mpsc::UnboundedReceiver<StreamCmd>,
    post: impl Fn(StreamEvent),
) {
    let started = Instant::now();
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let until_deadline = || async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    let (out, out_rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let mut out = Some(out);
    let fail = |status: &Status, headers: MetadataMap| {
        let o = if deadline_status(status, started.elapsed(), timeout) {
            Outcome::deadline(started.elapsed())
        } else {
            Outcome::failed(status, headers, started.elapsed())
        };
        post(StreamEvent::Error {
            code: o.code,
            message: o.message.clone(),
        });
        post(StreamEvent::End(Box::new(o)));
    };
    let timed_out = || {
        let o = Outcome::deadline(started.elapsed());
        post(StreamEvent::Error {
            code: o.code,
            message: o.message.clone(),
        });
        post(StreamEvent::End(Box::new(o)));
    };
    let client_failed = |text: String| {
        let mut o = Outcome::failed(
            &Status::unknown(text),
            MetadataMap::new(),
            started.elapsed(),
        );
        // The client's own failure: no request went wrong on the server, none is timed.
        o.unrecorded = true;
        post(StreamEvent::Error {
            code: o.code,
            message: o.message.clone(),
        });
        post(StreamEvent::End(Box::new(o)));
    };

    // Until the server's headers come, the script's messages still go up.
    let mut grpc = client(&conn);
    let call = async {
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(error_chain(&e)))?;
        let mut req =
            tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(out_rx));
        *req.metadata_mut() = metadata;
        if let Some(t) = timeout {
            req.set_timeout(t);
        }
        grpc.streaming(req, call_path(path)?, RawCodec).await
    };
    tokio::pin!(call);
    let resp = loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(StreamCmd::Write(b)) => {
                    if let Some(o) = &out {
                        let _ = o.send(b);
                    }
                }
                Some(StreamCmd::End) => out = None,
                Some(StreamCmd::Fail(text)) => return client_failed(text),
                None => return,
            },
            r = &mut call => match r {
                Ok(resp) => break resp,
                Err(status) => return fail(&status, MetadataMap::new()),
            },
            _ = until_deadline() => return timed_out(),
        }
    };
    let headers = resp.metadata().clone();
    let mut inbound = resp.into_inner();
    enum Step {
        Cmd(Option<StreamCmd>),
        Msg(Result<Option<Bytes>, Status>),
        Deadline,
    }
    loop {
        let step = tokio::select! {
            cmd = cmds.recv() => Step::Cmd(cmd),
            m = inbound.message() => Step::Msg(m),
            _ = until_deadline() => Step::Deadline,
        };
        match step {
            Step::Cmd(Some(StreamCmd::Write(b))) => {
                if let Some(o) = &out {
                    let _ = o.send(b);
                }
            }
            Step::Cmd(Some(StreamCmd::End)) => out = None,
            Step::Cmd(Some(StreamCmd::Fail(text))) => return client_failed(text),
            Step::Cmd(None) => return,
            Step::Msg(Ok(Some(b))) => post(StreamEvent::Data(b)),
            Step::Msg(Ok(None)) => {
                let trailers = match inbound.trailers().await {
                    Ok(t) => t.map(without_status).unwrap_or_default(),
                    Err(status) => return fail(&status, headers),
                };
                post(StreamEvent::End(Box::new(Outcome {
                    code: Code::Ok,
                    message: String::new(),
                    reply: None,
                    headers,
                    trailers,
                    duration: started.elapsed(),
                    unrecorded: false,
                })));
                return;
            }
            Step::Msg(Err(status)) => return fail(&status, headers),
            Step::Deadline => return timed_out(),
        }
    }
}

/// Messages as bytes: the VU encodes and decodes them with the client's descriptors.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port_or_say_what_is_wrong() {
        assert_eq!(
            split_addr("127.0.0.1:50051").unwrap(),
            ("127.0.0.1".into(), 50051)
        );
        assert_eq!(split_addr("[::1]:443").unwrap(), ("[::1]".into(), 443));
        assert_eq!(
            split_addr("127.0.0.1").unwrap_err(),
            "address 127.0.0.1: missing port in address"
        );
        assert_eq!(
            split_addr("[::1]").unwrap_err(),
            "address [::1]: missing port in address"
        );
        assert!(split_addr("h:http").unwrap_err().contains("invalid port"));
    }
}
