//! An agent that never reads what it is sent, over a real connection: its link's queue fills
//! to [`AGENT_QUEUE`] messages and no further, then the link and the connection are closed
//! (docs/security.md, "A stream that never reads its answers").

use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::grpc_listener::{self, GrpcLimits};
use crate::registry::Registry;
use crate::run::config::CoordinatorConfig;
use crate::store::Db;
use crate::temp_dir::TempDir;

/// A message of `bytes` bytes (a refusal's text: any message is queued alike).
fn big(bytes: usize) -> pb::ControllerMessage {
    pb::ControllerMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(pb::controller_message::Body::Refused(pb::Refused {
            reason: "x".repeat(bytes),
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_reads_is_closed_with_its_queue_bounded() {
    let dir = TempDir::new("never-reads");
    let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
    let registry = Arc::new(Registry::new());
    let co = Coordinator::new(db, registry.clone(), CoordinatorConfig::default());
    co.start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Pings every 300 ms: a connection the service closed goes at its next read.
    let limits = GrpcLimits {
        keepalive: Duration::from_millis(300),
        ..GrpcLimits::default()
    };
    let incoming = tokio_stream::wrappers::ReceiverStream::new(grpc_listener::incoming(
        listener, limits, None,
    ));
    let server = tokio::spawn(
        limits
            .builder()
            .add_service(LinkService::server(co.clone(), None, false))
            .serve_with_incoming(incoming),
    );
    // The agent's HTTP/2 windows hold 64 KiB of what it is sent, and it reads nothing more.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .initial_stream_window_size(Some(64 * 1024))
        .initial_connection_window_size(Some(64 * 1024))
        .connect()
        .await
        .expect("connect");
    let mut client = pb::agent_link_client::AgentLinkClient::new(channel);
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::AgentMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(pb::agent_message::Body::Register(pb::Register {
            name: "deaf".into(),
            cpus: 2,
            memory_total_bytes: 1 << 30,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut inbound = client
        .link(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("the link call")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), inbound.message())
        .await
        .expect("an answer within 5 s")
        .expect("a message")
        .expect("not the end");
    assert!(matches!(
        first.body,
        Some(pb::controller_message::Body::Registered(_))
    ));
    assert!(registry.is_connected("deaf"));
    // 10,000 messages of 1 KiB, 10 MiB: the queue takes at most AGENT_QUEUE of them beyond
    // what the agent's windows and the connection's buffers hold, then refuses.
    let mut queued = 0;
    for _ in 0..10_000 {
        if !registry.send("deaf", big(1024)) {
            break;
        }
        queued += 1;
        // Let the connection take what its windows allow.
        if queued % 512 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(
        (AGENT_QUEUE..AGENT_QUEUE + 200).contains(&queued),
        "{queued} messages queued for an agent that reads nothing (queue {AGENT_QUEUE})"
    );
    // The link goes, and so does the connection: what the agent reads now ends within the
    // keep-alive interval and a margin, after at most what its windows held.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while registry.is_connected("deaf") {
        assert!(tokio::time::Instant::now() < deadline, "the link stayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut read = 0;
    let ended = tokio::time::timeout_at(deadline, async {
        loop {
            match inbound.message().await {
                Ok(Some(_)) => read += 1,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the connection stayed open ({read} messages read)"
    );
    assert!(read < 200, "{read} messages reached the agent");
    // The agent may register again (it reconnects and replays what was not acknowledged).
    assert!(!registry.send("deaf", big(1)));
    server.abort();
}
