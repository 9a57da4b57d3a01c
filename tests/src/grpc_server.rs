//! A gRPC server on 127.0.0.1 for the end-to-end and differential tests of `k6/net/grpc`
//! (tonic, on its own thread and runtime; stopped on drop). Its service, `volley.echo.Echo`, is
//! built from the test scripts' own `k6-scripts/grpc/echo.proto`:
//!
//! * `Say` answers with the request in `echo`, the request's `x-…` metadata in `metadata`
//!   (binary values base64-encoded) and a per-server `sequence`; its response headers carry
//!   `x-served-by: volley-echo`.
//! * `Fail` ends with the status `code` and `message` it was asked for, with `x-reason: asked`
//!   in the status' metadata.
//! * `Slow` answers after `millis` ms (for deadlines).
//! * `Count` streams `count` replies `gap_millis` apart; `Collect` answers once the client has
//!   finished sending, with the texts joined by `,`; `Chat` answers every message at once.
//!
//! It also serves server reflection (v1 and v1alpha) and the standard health service, where
//! `volley.echo.Echo` is SERVING and `volley.echo.Down` NOT_SERVING. [`GrpcServer::start_tls`]
//! serves the same over TLS (certificates of a [`TestCa`]), with or without client
//! certificates.

use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::{Stream, StreamExt};
use tonic::metadata::{KeyAndValueRef, MetadataValue};
use tonic::{Request, Response, Status, Streaming};

use crate::loopback_tls::TestCa;
use crate::server_thread::ServerThread;

/// The code tonic-prost-build generated from `k6-scripts/grpc/echo.proto`.
pub mod pb {
    pub mod shared {
        tonic::include_proto!("volley.shared");
    }
    pub mod echo {
        tonic::include_proto!("volley.echo");
    }
}

use pb::echo::echo_server::{Echo, EchoServer};
use pb::echo::{CountRequest, FailRequest, SayReply, SayRequest, SlowRequest};

/// The descriptor set of the service, for reflection.
const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/echo_descriptor.bin"));

/// Which versions of server reflection a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reflection {
    /// `grpc.reflection.v1` and `grpc.reflection.v1alpha` (what `start` serves).
    Both,
    /// Only the older `grpc.reflection.v1alpha`, as grpc-go servers before 1.57.
    V1alphaOnly,
    /// None.
    None,
}

/// A running server.
pub struct GrpcServer {
    /// `127.0.0.1:PORT`, as `client.connect` takes it.
    pub addr: String,
    _thread: ServerThread,
}

impl GrpcServer {
    /// A plaintext server (`connect(addr, { plaintext: true })`).
    pub fn start() -> GrpcServer {
        Self::start_with(None, Reflection::Both)
    }

    /// A plaintext server whose reflection speaks only `reflection`'s versions.
    pub fn start_reflecting(reflection: Reflection) -> GrpcServer {
        Self::start_with(None, reflection)
    }

    /// A server over TLS with the certificate `ca` signed for 127.0.0.1 and ALPN `h2`; with
    /// `client_auth`, clients must present a certificate `ca` signed (mutual TLS).
    pub fn start_tls(ca: &TestCa, client_auth: bool) -> GrpcServer {
        let config = ca.server_config(client_auth, &[b"h2"]);
        Self::start_with(
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            Reflection::Both,
        )
    }

    fn start_with(tls: Option<tokio_rustls::TlsAcceptor>, reflection: Reflection) -> GrpcServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let thread = ServerThread::spawn(listener, move |listener, stopped| async move {
            let reflection_v1 = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(DESCRIPTORS)
                .build_v1()
                .expect("reflection v1");
            let reflection_v1alpha = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(DESCRIPTORS)
                .build_v1alpha()
                .expect("reflection v1alpha");
            let (health, health_service) = tonic_health::server::health_reporter();
            health.set_serving::<EchoServer<EchoService>>().await;
            health
                .set_service_status("volley.echo.Down", tonic_health::ServingStatus::NotServing)
                .await;
            let (v1, v1alpha) = match reflection {
                Reflection::Both => (Some(reflection_v1), Some(reflection_v1alpha)),
                Reflection::V1alphaOnly => (None, Some(reflection_v1alpha)),
                Reflection::None => (None, None),
            };
            let router = tonic::transport::Server::builder()
                .add_service(EchoServer::new(EchoService::default()))
                .add_service(health_service)
                .add_optional_service(v1)
                .add_optional_service(v1alpha);
            let stopped = async {
                let _ = stopped.await;
            };
            let _ = match tls {
                None => {
                    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                    router.serve_with_incoming_shutdown(incoming, stopped).await
                }
                Some(acceptor) => {
                    router
                        .serve_with_incoming_shutdown(tls_incoming(listener, acceptor), stopped)
                        .await
                }
            };
        });
        GrpcServer {
            addr: addr.to_string(),
            _thread: thread,
        }
    }
}

/// The connections of `listener` once their TLS handshakes succeeded (each handshake on its own
/// task, so that a client that fails it holds up no other; failed ones are dropped).
fn tls_incoming(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Stream<Item = Result<TlsIo, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                if let Ok(s) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok(TlsIo(s))).await;
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A server-side TLS connection as tonic takes it.
struct TlsIo(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl tonic::transport::server::Connected for TlsIo {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl tokio::io::AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[derive(Default)]
struct EchoService {
    sequence: Arc<AtomicI32>,
}

impl EchoService {
    fn next(&self) -> i32 {
        self.sequence.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// The request's metadata whose keys start with `x-` (binary values in standard base64).
fn x_metadata<T>(req: &Request<T>) -> std::collections::HashMap<String, String> {
    use base64::Engine;
    let mut out = std::collections::HashMap::new();
    for kv in req.metadata().iter() {
        match kv {
            KeyAndValueRef::Ascii(k, v) if k.as_str().starts_with("x-") => {
                out.insert(
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                );
            }
            KeyAndValueRef::Binary(k, v) if k.as_str().starts_with("x-") => {
                let bytes = v.to_bytes().map(|b| b.to_vec()).unwrap_or_default();
                out.insert(
                    k.as_str().to_owned(),
                    base64::engine::general_purpose::STANDARD.encode(&bytes),
                );
            }
            _ => {}
        }
    }
    out
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<SayReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, req: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        let metadata = x_metadata(&req);
        let mut resp = Response::new(SayReply {
            echo: Some(req.into_inner()),
            metadata,
            sequence: self.next(),
        });
        resp.metadata_mut()
            .insert("x-served-by", MetadataValue::from_static("volley-echo"));
        Ok(resp)
    }

    async fn fail(&self, req: Request<FailRequest>) -> Result<Response<SayReply>, Status> {
        let r = req.into_inner();
        let mut md = tonic::metadata::MetadataMap::new();
        md.insert("x-reason", MetadataValue::from_static("asked"));
        Err(Status::with_metadata(r.code.into(), r.message, md))
    }

    async fn slow(&self, req: Request<SlowRequest>) -> Result<Response<SayReply>, Status> {
        let millis = req.get_ref().millis.clamp(0, 60_000) as u64;
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(Response::new(SayReply {
            echo: None,
            metadata: Default::default(),
            sequence: self.next(),
        }))
    }

    type CountStream = ReplyStream;

    async fn count(&self, req: Request<CountRequest>) -> Result<Response<ReplyStream>, Status> {
        let r = req.into_inner();
        let count = r.count.clamp(0, 1000);
        let gap = Duration::from_millis(r.gap_millis.clamp(0, 10_000) as u64);
        let stream = async_stream_of(count, gap);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn collect(
        &self,
        req: Request<Streaming<SayRequest>>,
    ) -> Result<Response<SayReply>, Status> {
        let mut stream = req.into_inner();
        let mut texts = Vec::new();
        while let Some(msg) = stream.next().await {
            texts.push(msg?.text);
        }
        Ok(Response::new(SayReply {
            echo: Some(SayRequest {
                text: texts.join(","),
                ..Default::default()
            }),
            metadata: Default::default(),
            sequence: texts.len() as i32,
        }))
    }

    type ChatStream = ReplyStream;

    async fn chat(
        &self,
        req: Request<Streaming<SayRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut n = 0;
            while let Some(msg) = inbound.next().await {
                n += 1;
                let reply = msg.map(|m| SayReply {
                    echo: Some(m),
                    metadata: Default::default(),
                    sequence: n,
                });
                if tx.send(reply).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// `count` replies numbered from 1, `gap` apart.
fn async_stream_of(
    count: i32,
    gap: Duration,
) -> impl Stream<Item = Result<SayReply, Status>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for n in 1..=count {
            if n > 1 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            let reply = SayReply {
                echo: Some(SayRequest {
                    text: format!("reply {n}"),
                    ..Default::default()
                }),
                metadata: Default::default(),
                sequence: n,
            };
            if tx.send(Ok(reply)).await.is_err() {
                break;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
