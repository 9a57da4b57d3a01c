//! The peer RPC between controllers, on the same tonic stack as the agents' link: the
//! `RaftPeer.Send` service of `proto/raft.proto`. A call carries a batch of raft-rs messages
//! for one peer, each in raft's own protobuf encoding, as bytes.
//!
//! Bounds: a batch is at most [`MAX_RAFT_BATCH_BYTES`] (both directions, checked by tonic before
//! decoding) and [`MAX_MESSAGES_PER_BATCH`] messages; a sender waits at most
//! [`TransportLimits::connect_timeout`] to connect and [`TransportLimits::request_timeout`] for
//! the answer, and then reports the peer unreachable so Raft retries later; the receiver
//! hands messages to its node through a bounded queue and waits at most
//! [`TransportLimits::inbox_timeout`] for room. A message whose `from`/`to` disagree with the
//! batch, or a batch of another protocol version, is refused whole with a message naming why.
//! With a peer token (`--peer-token`) every batch must carry it (`authorization: Bearer …`),
//! compared in constant time (docs/security.md#the-raft-port).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::Message;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use volley_proto::raft::raft_peer_client::RaftPeerClient;
use volley_proto::raft::raft_peer_server::{RaftPeer, RaftPeerServer};
use volley_proto::raft::{RaftAck, RaftBatch, MAX_RAFT_BATCH_BYTES, RAFT_PROTOCOL_VERSION};

/// Most messages in one batch (a node's Ready rarely holds more than a few dozen).
pub const MAX_MESSAGES_PER_BATCH: usize = 4096;

/// Timeouts of the peer RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportLimits {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub inbox_timeout: Duration,
}

impl Default for TransportLimits {
    /// The connect timeout is below the election timeout, so a dead peer costs a sender less
    /// than one election; the answer may take longer, for a snapshot (docs/ha.md#timeouts).
    fn default() -> Self {
        TransportLimits {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            inbox_timeout: Duration::from_millis(500),
        }
    }
}

/// Longest REST API URL a peer may advertise (a longer one is ignored).
const MAX_API_URL: usize = 2048;

/// The REST API URL each peer advertised in its batches (`RaftBatch.api`), by node id: where a
/// follower redirects writes once it knows the leader (docs/ha.md#followers-redirect-writes-they-do-not-forward-them).
#[derive(Debug, Clone, Default)]
pub struct ApiBook(Arc<Mutex<BTreeMap<u64, String>>>);

impl ApiBook {
    /// The API URL node `id` advertised last, if any.
    pub fn get(&self, id: u64) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Notes what node `id` advertised; an empty, overlong or non-printable URL is ignored.
    pub fn note(&self, id: u64, api: &str) {
        if api.is_empty() || api.len() > MAX_API_URL || api.chars().any(char::is_control) {
            return;
        }
        let mut book = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if book.get(&id).map(String::as_str) != Some(api) {
            book.insert(id, api.to_string());
        }
    }
}

/// Checks the peer token a batch carries (`authorization: Bearer …`), when the group has one.
#[derive(Clone)]
pub struct PeerAuth(Option<Arc<str>>);

/// Never shows the token.
impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "PeerAuth(token)"
        } else {
            "PeerAuth(none)"
        })
    }
}

impl PeerAuth {
    /// `token`: the secret every controller of the group shares (`--peer-token`), or `None`.
    pub fn new(token: Option<String>) -> PeerAuth {
        PeerAuth(token.map(Arc::from))
    }

    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        use subtle::ConstantTimeEq as _;
        let Some(token) = &self.0 else {
            return Ok(());
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "this controller's Raft port needs the group's peer token: start every \
                 controller of the group with the same --peer-token (or VOLLEY_PEER_TOKEN)",
            ))
        }
    }
}

/// The receiving side: checks each batch and queues its messages for the local node.
#[derive(Debug, Clone)]
pub struct PeerService {
    node_id: u64,
    inbox: mpsc::Sender<Message>,
    limits: TransportLimits,
    apis: ApiBook,
    auth: PeerAuth,
}

impl PeerService {
    /// The tonic service for node `node_id`, delivering into `inbox`, noting each sender's
    /// API URL in `apis` and refusing a batch without the peer token of `auth`.
    pub fn server(
        node_id: u64,
        inbox: mpsc::Sender<Message>,
        limits: TransportLimits,
        apis: ApiBook,
        auth: PeerAuth,
    ) -> RaftPeerServer<PeerService> {
        RaftPeerServer::new(PeerService {
            node_id,
            inbox,
            limits,
            apis,
            auth,
        })
        .max_decoding_message_size(MAX_RAFT_BATCH_BYTES)
        .max_encoding_message_size(MAX_RAFT_BATCH_BYTES)
    }
}

/// Decodes and checks a batch addressed to `node_id`.
pub fn decode_batch(node_id: u64, batch: &RaftBatch) -> Result<Vec<Message>, Status> {
    if batch.version != RAFT_PROTOCOL_VERSION {
        return Err(Status::failed_precondition(format!(
            "replication protocol version {} is not supported; this controller speaks {}: run \
             the same Volley version on every controller",
            batch.version, RAFT_PROTOCOL_VERSION
        )));
    }
    if batch.to != node_id {
        return Err(Status::invalid_argument(format!(
            "the batch is for node {}, this controller is node {node_id}: check the --peer \
             addresses",
            batch.to
        )));
    }
    if batch.messages.len() > MAX_MESSAGES_PER_BATCH {
        return Err(Status::invalid_argument(format!(
            "the batch has {} messages, more than {MAX_MESSAGES_PER_BATCH}",
            batch.messages.len()
        )));
    }
    let mut out = Vec::with_capacity(batch.messages.len());
    for (i, bytes) in batch.messages.iter().enumerate() {
        let mut m = Message::default();
        m.merge_from_bytes(bytes).map_err(|e| {
            Status::invalid_argument(format!(
                "message {i} of the batch is not a Raft message: {e}"
            ))
        })?;
        if m.from != batch.from || m.to != batch.to {
            return Err(Status::invalid_argument(format!(
                "message {i} goes from {} to {}, the batch from {} to {}",
                m.from, m.to, batch.from, batch.to
            )));
        }
        out.push(m);
    }
    Ok(out)
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn send(&self, request: Request<RaftBatch>) -> Result<Response<RaftAck>, Status> {
        self.auth.check(&request)?;
        let batch = request.into_inner();
        let messages = decode_batch(self.node_id, &batch)?;
        self.apis.note(batch.from, &batch.api);
        for m in messages {
            match tokio::time::timeout(self.limits.inbox_timeout, self.inbox.send(m)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(Status::unavailable("this controller's Raft node stopped"))
                }
                Err(_) => {
                    return Err(Status::resource_exhausted(format!(
                        "this controller's Raft inbox stayed full for {:?}",
                        self.limits.inbox_timeout
                    )))
                }
            }
        }
        Ok(Response::new(RaftAck {
            version: RAFT_PROTOCOL_VERSION,
        }))
    }
}

/// Why a batch did not reach a peer (Raft retries; the driver reports the peer unreachable).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("peer {to} at {addr}: {detail}")]
    Address {
        to: u64,
        addr: String,
        detail: String,
    },
    #[error("peer {to}: no answer within {timeout:?}")]
    Timeout { to: u64, timeout: Duration },
    #[error("peer {to} refused the batch: {status}")]
    Refused { to: u64, status: Box<Status> },
    #[error("cannot encode a Raft message for peer {to}: {detail}")]
    Encode { to: u64, detail: String },
}

/// The sending side for one peer: a lazily connected channel. The driver gives each peer its
/// own client on its own task, so a slow or dead peer holds up nobody else.
#[derive(Debug)]
pub struct PeerClient {
    node_id: u64,
    to: u64,
    addr: String,
    client: Option<RaftPeerClient<Channel>>,
    limits: TransportLimits,
    /// This node's REST API URL, sent in every batch.
    api: String,
    /// `Bearer <peer token>`, sent with every batch when the group has a token.
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl PeerClient {
    /// The client of node `node_id` for peer `to` at `addr` (`http://host:port`).
    pub fn new(node_id: u64, to: u64, addr: String, limits: TransportLimits) -> PeerClient {
        PeerClient {
            node_id,
            to,
            addr,
            client: None,
            limits,
            api: String::new(),
            authorization: None,
        }
    }

    /// Sends `api` (this node's REST API URL) and the peer token `token` with every batch. A
    /// token that cannot be an HTTP header value is not sent (the peer then refuses the batch,
    /// naming the token).
    pub fn identify(mut self, api: String, token: Option<&str>) -> PeerClient {
        self.api = api;
        self.authorization = token.and_then(|t| format!("Bearer {t}").parse().ok());
        self
    }

    /// The peer this client sends to.
    pub fn to(&self) -> u64 {
        self.to
    }

    /// The peer's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `messages` (all for this peer) in one call, bounded by the timeouts.
    pub async fn send(&mut self, messages: &[Message]) -> Result<(), SendError> {
        let to = self.to;
        let mut batch = RaftBatch {
            version: RAFT_PROTOCOL_VERSION,
            from: self.node_id,
            to,
            messages: Vec::with_capacity(messages.len()),
            api: self.api.clone(),
        };
        for m in messages {
            batch
                .messages
                .push(m.write_to_bytes().map_err(|e| SendError::Encode {
                    to,
                    detail: e.to_string(),
                })?);
        }
        let limits = &self.limits;
        let client = match &mut self.client {
            Some(c) => c,
            None => {
                let endpoint = Endpoint::from_shared(self.addr.clone())
                    .map_err(|e| SendError::Address {
                        to,
                        addr: self.addr.clone(),
                        detail: e.to_string(),
                    })?
                    .connect_timeout(limits.connect_timeout)
                    .timeout(limits.request_timeout);
                let channel = endpoint.connect_lazy();
                self.client.insert(
                    RaftPeerClient::new(channel)
                        .max_decoding_message_size(MAX_RAFT_BATCH_BYTES)
                        .max_encoding_message_size(MAX_RAFT_BATCH_BYTES),
                )
            }
        };
        let total = limits.connect_timeout + limits.request_timeout;
        let mut request = Request::new(batch);
        if let Some(auth) = &self.authorization {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        match tokio::time::timeout(total, client.send(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(SendError::Refused {
                to,
                status: Box::new(status),
            }),
            Err(_) => Err(SendError::Timeout { to, timeout: total }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::MessageType;

    fn msg(from: u64, to: u64, term: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeat);
        m.from = from;
        m.to = to;
        m.term = term;
        m
    }

    fn batch(from: u64, to: u64, msgs: &[Message]) -> RaftBatch {
        RaftBatch {
            version: RAFT_PROTOCOL_VERSION,
            from,
            to,
            messages: msgs.iter().map(|m| m.write_to_bytes().unwrap()).collect(),
            api: String::new(),
        }
    }

    #[test]
    fn batches_are_checked_before_delivery() {
        let good = batch(1, 2, &[msg(1, 2, 5), msg(1, 2, 6)]);
        let got = decode_batch(2, &good).unwrap();
        assert_eq!(got, vec![msg(1, 2, 5), msg(1, 2, 6)]);

        let err = decode_batch(3, &good).unwrap_err();
        assert!(
            err.message()
                .contains("for node 2, this controller is node 3"),
            "{err}"
        );

        let mut old = good.clone();
        old.version = 0;
        let err = decode_batch(2, &old).unwrap_err();
        assert!(err.message().contains("protocol version 0"), "{err}");

        let spoofed = batch(1, 2, &[msg(3, 2, 5)]);
        let err = decode_batch(2, &spoofed).unwrap_err();
        assert!(
            err.message().contains("message 0 goes from 3 to 2"),
            "{err}"
        );

        let mut junk = good.clone();
        junk.messages[1] = vec![0xff; 7];
        let err = decode_batch(2, &junk).unwrap_err();
        assert!(
            err.message()
                .contains("message 1 of the batch is not a Raft message"),
            "{err}"
        );
    }

    /// Two endpoints on loopback: a batch arrives in the receiver's inbox in order; a peer that
    /// is not listening gives a bounded, named error.
    #[tokio::test]
    async fn a_batch_crosses_grpc() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerService::server(
                    2,
                    tx,
                    TransportLimits::default(),
                    ApiBook::default(),
                    PeerAuth::new(None),
                ))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let limits = TransportLimits {
            connect_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(5),
            inbox_timeout: Duration::from_millis(100),
        };
        // A port nobody listens on: bind one, then free it.
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut to_2 = PeerClient::new(1, 2, format!("http://{addr}"), limits.clone());
        let mut to_3 = PeerClient::new(1, 3, format!("http://{dead}"), limits);
        to_2.send(&[msg(1, 2, 7), msg(1, 2, 8)]).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!((first.unwrap().term, second.unwrap().term), (7, 8));

        let started = std::time::Instant::now();
        let err = to_3.send(&[msg(1, 3, 7)]).await.unwrap_err();
        assert!(
            matches!(
                err,
                SendError::Refused { to: 3, .. } | SendError::Timeout { to: 3, .. }
            ),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        server.abort();
    }

    /// With a peer token, a batch without it (or with another) is refused before anything is
    /// delivered; one with it is delivered, and its sender's API URL is noted.
    #[tokio::test]
    async fn the_peer_token_guards_the_raft_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let (tx, mut rx) = mpsc::channel(16);
        let apis = ApiBook::default();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerService::server(
                    2,
                    tx,
                    TransportLimits::default(),
                    apis.clone(),
                    PeerAuth::new(Some("s3cret-peer-token".into())),
                ))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let limits = TransportLimits::default();
        for token in [None, Some("wrong")] {
            let mut c = PeerClient::new(1, 2, addr.clone(), limits.clone())
                .identify("http://c1:6565".into(), token);
            let err = c.send(&[msg(1, 2, 7)]).await.unwrap_err();
            assert!(err.to_string().contains("--peer-token"), "{err}");
        }
        assert!(rx.try_recv().is_err(), "nothing delivered");
        assert_eq!(apis.get(1), None);
        let mut c = PeerClient::new(1, 2, addr, limits)
            .identify("http://c1:6565".into(), Some("s3cret-peer-token"));
        c.send(&[msg(1, 2, 9)]).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(got.unwrap().term, 9);
        assert_eq!(apis.get(1).as_deref(), Some("http://c1:6565"));
        server.abort();
    }
}
