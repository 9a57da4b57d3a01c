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
//! `volley.echo.Echo` is SERVING and `volley.echo.Down` NOT_SERVING.

use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::{Stream, StreamExt};
use tonic::metadata::{KeyAndValueRef, MetadataValue};
use tonic::{Request, Response, Status, Streaming};

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

/// A running server.
pub struct GrpcServer {
    /// `127.0.0.1:PORT`, as `client.connect` takes it.
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl GrpcServer {
    /// A plaintext server (`connect(addr, { plaintext: true })`).
    pub fn start() -> GrpcServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
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
                let served = tonic::transport::Server::builder()
                    .add_service(EchoServer::new(EchoService::default()))
                    .add_service(reflection_v1)
                    .add_service(reflection_v1alpha)
                    .add_service(health_service)
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    });
                let _ = served.await;
            });
        });
        GrpcServer {
            addr: addr.to_string(),
            stop: Some(stop),
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
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
