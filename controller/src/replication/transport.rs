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
//!
//! With TLS (`--raft-ca`, [`PeerTls`]) the port speaks mutual TLS: the receiver accepts only
//! controller certificates of the group's CA ([`crate::tls::peers`]) and the sender dials
//! `https://` peers with its own certificate, trusting only that CA, both read again when
//! their files change ([`crate::tls::peers::ClientTls`]). Either way the port's
//! connections are bounded as the agents' gRPC port's are ([`incoming`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::Message;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

use crate::grpc_listener::{Bounded, GrpcLimits};
use crate::tls::peers::ClientTls;
use crate::tls::ServerTls;
use tonic::{Request, Response, Status};
use volley_proto::raft::raft_peer_client::RaftPeerClient;
use volley_proto::raft::raft_peer_server::{RaftPeer, RaftPeerServer};
use volley_proto::raft::{
    ArchiveChunk, ArchiveRequest, RaftAck, RaftBatch, MAX_RAFT_BATCH_BYTES, RAFT_PROTOCOL_VERSION,
};

use super::payload::{SideStore, CONTENT_CHUNK};

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

/// Most connections the Raft port keeps open at once (a group has a handful of controllers,
/// each with one connection to each peer). At the cap the oldest connection on which no batch
/// was accepted is closed to make room, so connections that never authenticate cannot keep
/// the group's controllers out; only when every one did is a new one closed at once.
pub const MAX_PEER_CONNECTIONS: usize = 64;

/// The Raft port as its connection bound sees it: a connection is authenticated once the
/// service accepted a batch or an archive request on it ([`authenticated`]).
const RAFT_PORT: crate::grpc_listener::Port = crate::grpc_listener::Port {
    what: "Raft port",
    cap_flag: "",
    must_register: false,
    evicted: "closed to make room for a new connection: no batch of a peer was accepted on \
              it, and every slot of the Raft port was taken",
};

/// Marks the connection of `request` authenticated: it checked out (token, destination,
/// well-formed), so it is a peer's and may not be evicted at the cap
/// ([`crate::grpc_listener::Registered`]).
fn authenticated<T>(request: &Request<T>) {
    if let Some(p) = request
        .extensions()
        .get::<crate::grpc_listener::AgentPeer>()
    {
        p.registered.set();
    }
}
/// Longest a new connection to the Raft port may take to finish its TLS handshake and send
/// the HTTP/2 preface.
pub const PEER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The Raft port's TLS (`--raft-ca`): what it serves with, and what it dials peers with.
#[derive(Debug, Clone)]
pub struct PeerTls {
    /// The port's server configuration (controller certificates of the CA required), reloaded
    /// when its files change.
    pub server: Arc<ServerTls>,
    /// This controller's certificate as a client, trusting only the group's CA, reloaded
    /// when its files change.
    pub client: Arc<ClientTls>,
}

/// The Raft port's connections from `listener`: at most [`MAX_PEER_CONNECTIONS`] (the oldest
/// not authenticated makes room), each with [`PEER_HANDSHAKE_TIMEOUT`] to finish its
/// handshakes, over TLS when `tls` is given (a peer that is refused is logged with its address
/// and why).
pub fn incoming(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerTls>>,
) -> tokio_stream::wrappers::ReceiverStream<Result<Bounded, std::io::Error>> {
    let limits = GrpcLimits {
        max_connections: MAX_PEER_CONNECTIONS,
        handshake_timeout: PEER_HANDSHAKE_TIMEOUT,
        ..GrpcLimits::default()
    };
    tokio_stream::wrappers::ReceiverStream::new(crate::grpc_listener::incoming_on(
        listener, limits, tls, RAFT_PORT,
    ))
}

/// Longest REST API URL a peer may advertise (a longer one is ignored).
const MAX_API_URL: usize = 2048;

/// The REST API URL each peer advertised in its batches (`RaftBatch.api`), by node id: where a
/// follower forwards writes once it knows the leader (docs/ha.md#followers-forward-writes-to-the-leader).
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
        let Some(token) = &self.0 else {
            return Ok(());
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if crate::secret::matches(presented, token) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "this controller's Raft port needs the group's peer token: start every \
                 controller of the group with the same --peer-token (or VOLLEY_PEER_TOKEN)",
            ))
        }
    }
}

/// The receiving side: checks each batch and queues its messages for the local node; serves
/// the archives this node holds to peers that lack them.
#[derive(Clone)]
pub struct PeerService {
    node_id: u64,
    inbox: mpsc::Sender<Message>,
    limits: TransportLimits,
    apis: ApiBook,
    auth: PeerAuth,
    /// Where this node's archives are (`None`: it serves none, as in the Raft tests).
    archives: Option<Arc<dyn SideStore>>,
}

impl std::fmt::Debug for PeerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerService")
            .field("node_id", &self.node_id)
            .field("archives", &self.archives.is_some())
            .finish()
    }
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
        PeerService::serving(node_id, inbox, limits, apis, auth, None)
    }

    /// [`Self::server`], serving the archives of `archives` too.
    pub fn serving(
        node_id: u64,
        inbox: mpsc::Sender<Message>,
        limits: TransportLimits,
        apis: ApiBook,
        auth: PeerAuth,
        archives: Option<Arc<dyn SideStore>>,
    ) -> RaftPeerServer<PeerService> {
        RaftPeerServer::new(PeerService {
            node_id,
            inbox,
            limits,
            apis,
            auth,
            archives,
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

/// Whether `sha256` is 64 hex digits.
fn is_sha256(sha256: &str) -> bool {
    sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())
}

type ChunkStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<ArchiveChunk, Status>> + Send>>;

#[tonic::async_trait]
impl RaftPeer for PeerService {
    type FetchArchiveStream = ChunkStream;

    async fn fetch_archive(
        &self,
        request: Request<ArchiveRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        self.auth.check(&request)?;
        let req = request.get_ref();
        if req.version != RAFT_PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "replication protocol version {} is not supported; this controller speaks {}",
                req.version, RAFT_PROTOCOL_VERSION
            )));
        }
        if req.to != self.node_id {
            return Err(Status::invalid_argument(format!(
                "the request is for node {}, this controller is node {}",
                req.to, self.node_id
            )));
        }
        if !is_sha256(&req.sha256) {
            return Err(Status::invalid_argument(
                "`sha256` must be an archive's SHA-256, 64 hex digits",
            ));
        }
        authenticated(&request);
        let req = request.into_inner();
        let Some(store) = self.archives.clone() else {
            return Err(Status::not_found("this controller serves no archives"));
        };
        let sha = req.sha256.to_ascii_lowercase();
        let read = tokio::task::spawn_blocking(move || store.archive(&sha))
            .await
            .map_err(|e| Status::internal(format!("reading the archive: {e}")))?
            .map_err(|e| Status::internal(format!("reading the archive: {e}")))?;
        let Some(archive) = read else {
            return Err(Status::not_found(format!(
                "node {} does not hold the archive {}",
                self.node_id, req.sha256
            )));
        };
        let total = archive.len() as u64;
        let chunks: Vec<Result<ArchiveChunk, Status>> = if archive.is_empty() {
            vec![Ok(ArchiveChunk {
                total,
                offset: 0,
                bytes: Vec::new(),
            })]
        } else {
            archive
                .chunks(CONTENT_CHUNK)
                .enumerate()
                .map(|(i, c)| {
                    Ok(ArchiveChunk {
                        total,
                        offset: (i * CONTENT_CHUNK) as u64,
                        bytes: c.to_vec(),
                    })
                })
                .collect()
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn send(&self, request: Request<RaftBatch>) -> Result<Response<RaftAck>, Status> {
        self.auth.check(&request)?;
        let messages = decode_batch(self.node_id, request.get_ref())?;
        authenticated(&request);
        let batch = request.into_inner();
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
    #[error("peer {to} sent the archive {sha256} wrong: {detail}")]
    BadArchive {
        to: u64,
        sha256: String,
        detail: String,
    },
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
    /// How an `https://` peer is dialled (`--raft-ca`).
    tls: Option<Arc<ClientTls>>,
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
            tls: None,
        }
    }

    /// Dials the peer with `tls` (this controller's certificate, the group's CA): every peer
    /// of a group with TLS on its Raft port is, also one added as `HOST:PORT` or `http://`
    /// (`volley controllers add`), since the port speaks nothing else. Without it, an
    /// `https://` peer cannot be reached (each send says so).
    pub fn with_tls(mut self, tls: Option<Arc<ClientTls>>) -> PeerClient {
        if tls.is_some() {
            if let Some(rest) = self.addr.strip_prefix("http://") {
                self.addr = format!("https://{rest}");
            }
        }
        self.tls = tls;
        self
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

    /// The channel to the peer, connected lazily.
    fn client(&mut self) -> Result<&mut RaftPeerClient<Channel>, SendError> {
        if self.client.is_none() {
            let endpoint = Endpoint::from_shared(self.addr.clone())
                .map_err(|e| SendError::Address {
                    to: self.to,
                    addr: self.addr.clone(),
                    detail: e.to_string(),
                })?
                .connect_timeout(self.limits.connect_timeout)
                .timeout(self.limits.request_timeout);
            let channel = match (self.addr.starts_with("https://"), &self.tls) {
                (false, _) => endpoint.connect_lazy(),
                (true, Some(tls)) => endpoint.connect_with_connector_lazy(tls_connector(
                    tls.clone(),
                    self.limits.connect_timeout,
                )),
                (true, None) => {
                    return Err(SendError::Address {
                        to: self.to,
                        addr: self.addr.clone(),
                        detail: "an https:// peer needs TLS on this controller's Raft port: \
                                 start it with --raft-ca"
                            .into(),
                    })
                }
            };
            self.client = Some(
                RaftPeerClient::new(channel)
                    .max_decoding_message_size(MAX_RAFT_BATCH_BYTES)
                    .max_encoding_message_size(MAX_RAFT_BATCH_BYTES),
            );
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    /// Fetches the archive `sha256`, of `size` bytes (as its test says), from this peer: chunks
    /// in order, each within the answer timeout, none past `size`. The caller checks the hash.
    pub async fn fetch_archive(&mut self, sha256: &str, size: u64) -> Result<Vec<u8>, SendError> {
        let to = self.to;
        let bad = |detail: String| SendError::BadArchive {
            to,
            sha256: sha256.to_string(),
            detail,
        };
        let mut request = Request::new(ArchiveRequest {
            version: RAFT_PROTOCOL_VERSION,
            from: self.node_id,
            to,
            sha256: sha256.to_string(),
        });
        if let Some(auth) = &self.authorization {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        // One answer timeout per chunk, plus the connection.
        let chunks = size / CONTENT_CHUNK as u64 + 1;
        let total = self.limits.connect_timeout
            + self.limits.request_timeout * u32::try_from(chunks + 1).unwrap_or(u32::MAX);
        let fetch = async {
            let mut stream = match self.client()?.fetch_archive(request).await {
                Ok(r) => r.into_inner(),
                Err(status) => {
                    return Err(SendError::Refused {
                        to,
                        status: Box::new(status),
                    })
                }
            };
            let mut archive = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            loop {
                let next = stream
                    .message()
                    .await
                    .map_err(|status| SendError::Refused {
                        to,
                        status: Box::new(status),
                    })?;
                let Some(chunk) = next else { break };
                if chunk.total != size {
                    return Err(bad(format!("{} bytes, the test says {size}", chunk.total)));
                }
                if chunk.offset != archive.len() as u64 {
                    return Err(bad(format!(
                        "a chunk at {} where {} was next",
                        chunk.offset,
                        archive.len()
                    )));
                }
                if chunk.bytes.len() > CONTENT_CHUNK
                    || archive.len() as u64 + chunk.bytes.len() as u64 > size
                {
                    return Err(bad(format!(
                        "a chunk of {} bytes at {} goes past {size} bytes",
                        chunk.bytes.len(),
                        chunk.offset
                    )));
                }
                archive.extend_from_slice(&chunk.bytes);
            }
            if archive.len() as u64 != size {
                return Err(bad(format!(
                    "it ended at {} of {size} bytes",
                    archive.len()
                )));
            }
            Ok(archive)
        };
        tokio::time::timeout(total, fetch)
            .await
            .unwrap_or(Err(SendError::Timeout { to, timeout: total }))
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
        let limits = self.limits.clone();
        let authorization = self.authorization.clone();
        let client = self.client()?;
        let total = limits.connect_timeout + limits.request_timeout;
        let mut request = Request::new(batch);
        if let Some(auth) = authorization {
            request.metadata_mut().insert("authorization", auth);
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

/// Dials a peer's Raft port over TLS with `tls`'s configuration as of each connection (a
/// renewed certificate is presented from the next one on), the peer's certificate checked
/// against the host name of its URL; the TCP connect and the handshake together take at most
/// `timeout`.
fn tls_connector(
    tls: Arc<ClientTls>,
    timeout: Duration,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Error = std::io::Error,
    Future = impl Send,
> + Clone
       + Send {
    tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let config = tls.config();
        async move {
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
            })?;
            let dial = async {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                let _ = tcp.set_nodelay(true);
                tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
            };
            match tokio::time::timeout(timeout, dial).await {
                Ok(Ok(stream)) => Ok(hyper_util::rt::TokioIo::new(stream)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no TLS connection to {host}:{port} within {timeout:?}"),
                )),
            }
        }
    })
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

    /// Whether the other end closes `s` within `within` (what it sends is read and dropped).
    async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 256];
        tokio::time::timeout(within, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    /// Node 2's Raft port on `listener` as a controller serves it (the listener's slots and
    /// eviction, `incoming`), guarded by the peer token `s3cret-peer-token`; accepted batches
    /// go to `tx`.
    fn serve_guarded_raft_port(
        listener: tokio::net::TcpListener,
        tx: mpsc::Sender<Message>,
    ) -> tokio::task::JoinHandle<Result<(), tonic::transport::Error>> {
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerService::server(
                    2,
                    tx,
                    TransportLimits::default(),
                    ApiBook::default(),
                    PeerAuth::new(Some("s3cret-peer-token".into())),
                ))
                .serve_with_incoming(incoming(listener, None)),
        )
    }

    /// Connections that speak HTTP/2 and never send an accepted batch (no token, a wrong
    /// one) cannot keep the group's controllers off the Raft port: with every slot taken, a
    /// peer's connection makes room, and once its batch is accepted the next squatters make
    /// room among themselves. Before, the 65th connection was closed at once.
    #[tokio::test]
    async fn squatters_at_the_cap_cannot_keep_peers_off_the_raft_port() {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let server = serve_guarded_raft_port(listener, tx);
        let squat = || async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap();
            // An empty SETTINGS frame: a live HTTP/2 connection, idle.
            s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
            s
        };
        let mut squatters = Vec::new();
        for _ in 0..MAX_PEER_CONNECTIONS - 1 {
            squatters.push(squat().await);
        }
        // One more with a wrong token: refused, and not authenticated by trying.
        let mut wrong = PeerClient::new(1, 2, format!("http://{addr}"), TransportLimits::default())
            .identify("http://c1:6565".into(), Some("wrong"));
        let err = wrong.send(&[msg(1, 2, 7)]).await.unwrap_err();
        assert!(err.to_string().contains("--peer-token"), "{err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let limits = TransportLimits::default();
        let mut peer = PeerClient::new(1, 2, format!("http://{addr}"), limits)
            .identify("http://c1:6565".into(), Some("s3cret-peer-token"));
        peer.send(&[msg(1, 2, 9)])
            .await
            .expect("the peer is let in");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(got.unwrap().term, 9);
        // More squatters than slots: they take each other's places, not the peer's. The peer
        // took the oldest squatter's slot; the next 63 evicted are the other older squatters
        // and the wrong token's connection, then the oldest new ones, as the peer's
        // connection is authenticated (without that, it would be the 64th to go).
        let mut again = Vec::new();
        for _ in 0..=MAX_PEER_CONNECTIONS {
            again.push(squat().await);
        }
        for s in squatters.iter_mut().chain(again.iter_mut().take(2)) {
            assert!(closed_within(s, Duration::from_secs(2)).await);
        }
        assert!(!closed_within(&mut again[2], Duration::from_millis(200)).await);
        peer.send(&[msg(1, 2, 10)]).await.expect("the peer stays");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(got.unwrap().term, 10);
        drop(wrong);
        server.abort();
    }

    /// A TCP proxy to `upstream` on a port of its own, and how many connections it took.
    async fn counting_proxy(
        upstream: std::net::SocketAddr,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        (at, count)
    }

    /// Waits for the batch of `term` to be delivered.
    async fn delivered(rx: &mut mpsc::Receiver<Message>, term: u64) {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(
            got.ok().flatten().map(|m| m.term),
            Some(term),
            "batch of term {term}"
        );
    }

    /// A flood of silent connections (TCP only, not a byte sent) at the Raft port evicts only
    /// itself: a peer linked before it, and a peer that dials in the middle of it, keep their
    /// connections and every batch they send is delivered at the first try
    /// (`grpc_listener/slots.rs`: the least advanced connection makes room first).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_silent_connections_does_not_evict_a_peer_from_the_raft_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let server = serve_guarded_raft_port(listener, tx);
        // Each peer dials through a proxy that counts its connections: one each means none
        // was closed (a peer whose connection is closed dials again, and its batches still
        // arrive).
        let (early_at, early_dials) = counting_proxy(addr).await;
        let (late_at, late_dials) = counting_proxy(addr).await;
        let peer = |from: u64, at: std::net::SocketAddr| {
            PeerClient::new(from, 2, format!("http://{at}"), TransportLimits::default())
                .identify(format!("http://c{from}:6565"), Some("s3cret-peer-token"))
        };
        let mut early = peer(1, early_at);
        early
            .send(&[msg(1, 2, 1)])
            .await
            .expect("the first peer links");
        delivered(&mut rx, 1).await;
        // 600 silent connections, held open, nine times the port's slots (fewer than the
        // open-files limit of this process, which serves the port too).
        const FLOOD: usize = 600;
        let flood = tokio::spawn(async move {
            let mut held = Vec::with_capacity(FLOOD);
            for _ in 0..FLOOD {
                if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
                    held.push(s);
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            held
        });
        let mut late = peer(3, late_at);
        let mut term = 1;
        while !flood.is_finished() {
            term += 1;
            early
                .send(&[msg(1, 2, term)])
                .await
                .expect("the early peer stays");
            delivered(&mut rx, term).await;
            term += 1;
            late.send(&[msg(3, 2, term)])
                .await
                .expect("the late peer gets in and stays");
            delivered(&mut rx, term).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let held = flood.await.unwrap();
        assert!(
            held.len() > MAX_PEER_CONNECTIONS * 8,
            "{} connections",
            held.len()
        );
        assert!(term > 10, "only {term} batches during the flood");
        early
            .send(&[msg(1, 2, 1_000)])
            .await
            .expect("the early peer stays");
        delivered(&mut rx, 1_000).await;
        let dials =
            |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            (dials(&early_dials), dials(&late_dials)),
            (1, 1),
            "connections each peer made (early, late)"
        );
        server.abort();
    }

    /// A node serves the archives it holds by hash, in bounded chunks, to a peer with the
    /// group's token; the fetcher refuses an archive of another size and reports one the node
    /// does not hold.
    #[tokio::test]
    async fn archives_are_fetched_by_hash_in_chunks() {
        use super::super::payload::SideStore as _;
        let side = Arc::new(super::super::sim::MemSide::default());
        let archive: Vec<u8> = (0..(2 * CONTENT_CHUNK + 77))
            .map(|i| (i % 251) as u8)
            .collect();
        let sha = "ab".repeat(32);
        side.put_content_chunk(&sha, archive.len() as u64, 0, &archive)
            .unwrap()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let (tx, _rx) = mpsc::channel(16);
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerService::serving(
                    2,
                    tx,
                    TransportLimits::default(),
                    ApiBook::default(),
                    PeerAuth::new(Some("tok".into())),
                    Some(side),
                ))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let limits = TransportLimits::default();
        let mut c = PeerClient::new(1, 2, addr.clone(), limits.clone())
            .identify(String::new(), Some("tok"));
        let got = c.fetch_archive(&sha, archive.len() as u64).await.unwrap();
        assert_eq!(got, archive);
        let err = c.fetch_archive(&sha, 10).await.unwrap_err();
        assert!(matches!(err, SendError::BadArchive { .. }), "{err}");
        let err = c.fetch_archive(&"cd".repeat(32), 10).await.unwrap_err();
        assert!(
            err.to_string().contains("does not hold the archive"),
            "{err}"
        );
        let mut stranger = PeerClient::new(1, 2, addr, limits);
        let err = stranger
            .fetch_archive(&sha, archive.len() as u64)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--peer-token"), "{err}");
        server.abort();
    }
}

/// Mutual TLS on the Raft port, with certificates made here as `volley certs init` makes them.
#[cfg(test)]
mod tls_tests {
    use std::path::{Path, PathBuf};

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
        KeyPair,
    };

    use super::*;
    use crate::tls::{Port, TlsFiles};

    /// A CA in `dir` named `stem`, and a function that writes a leaf certificate it signs.
    struct Ca {
        dir: PathBuf,
        params: CertificateParams,
        key: KeyPair,
        crt: PathBuf,
    }

    impl Ca {
        fn new(dir: &Path, stem: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, stem);
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let crt = dir.join(format!("{stem}.crt"));
            std::fs::write(&crt, cert.pem()).unwrap();
            Ca {
                dir: dir.to_path_buf(),
                params,
                key,
                crt,
            }
        }

        /// A certificate for 127.0.0.1 named `cn` with `uses`, signed by this CA, with the
        /// files of a Raft port trusting `ca`.
        fn leaf(&self, cn: &str, uses: Vec<Eku>, ca: &Path) -> TlsFiles {
            let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = uses;
            let key = KeyPair::generate().unwrap();
            let cert = p
                .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
                .unwrap();
            let (c, k) = (
                self.dir.join(format!("{cn}.crt")),
                self.dir.join(format!("{cn}.key")),
            );
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            TlsFiles {
                cert: c,
                cert_flag: "--tls-cert",
                key: k,
                key_flag: "--tls-key",
                client_ca: Some(ca.to_path_buf()),
            }
        }
    }

    fn msg(from: u64, to: u64, term: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(raft::eraftpb::MessageType::MsgHeartbeat);
        m.from = from;
        m.to = to;
        m.term = term;
        m
    }

    /// A controller certificate of the group's CA is delivered over TLS; an agent's certificate
    /// of the same CA (client use only), a controller certificate of another CA and a plaintext
    /// sender are refused and nothing of theirs is delivered; a certificate without client use
    /// cannot be a controller's on the Raft port at all.
    #[tokio::test]
    async fn only_controller_certificates_of_the_ca_reach_the_raft_port() {
        let dir = std::env::temp_dir().join(format!("volley-raft-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::new(&dir, "group-ca");
        let other = Ca::new(&dir, "other-ca");
        let both = vec![Eku::ServerAuth, Eku::ClientAuth];
        let server_files = ca.leaf("c2", both.clone(), &ca.crt);
        let good = ca.leaf("c1", both.clone(), &ca.crt);
        let agent = ca.leaf("agent-1", vec![Eku::ClientAuth], &ca.crt);
        let foreign = other.leaf("c9", both, &ca.crt);
        let server_only = ca.leaf("web", vec![Eku::ServerAuth], &ca.crt);

        let e = ClientTls::load(server_only).unwrap_err();
        assert!(e.to_string().contains("server use only"), "{e}");
        let e = ClientTls::load(agent.clone()).unwrap_err();
        assert!(e.to_string().contains("client use only"), "{e}");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let (tx, mut rx) = mpsc::channel(16);
        let server_tls = ServerTls::load(server_files, Port::Raft).unwrap();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerService::server(
                    2,
                    tx,
                    TransportLimits::default(),
                    ApiBook::default(),
                    PeerAuth::new(None),
                ))
                .serve_with_incoming(incoming(listener, Some(server_tls))),
        );
        let limits = TransportLimits::default();
        // The agent's certificate presented as a client, bypassing check_own.
        let agent_client = {
            let certs = crate::tls::load_certs("--cert", &agent.cert).unwrap();
            let key = crate::tls::load_key("--key", &agent.key).unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(crate::tls::load_certs("--ca", &ca.crt).unwrap().remove(0))
                .unwrap();
            let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap();
            c.alpn_protocols = vec![b"h2".to_vec()];
            c
        };
        let foreign_client = ClientTls::load(foreign.clone()).unwrap();
        for (what, tls) in [
            ("agent", ClientTls::fixed(agent_client)),
            ("foreign", foreign_client.clone()),
        ] {
            let mut c = PeerClient::new(1, 2, url.clone(), limits.clone()).with_tls(Some(tls));
            let err = c.send(&[msg(1, 2, 7)]).await.unwrap_err();
            assert!(
                matches!(err, SendError::Refused { .. } | SendError::Timeout { .. }),
                "{what}: {err}"
            );
        }
        let plain = format!("http://{}", url.trim_start_matches("https://"));
        let mut c = PeerClient::new(1, 2, plain, limits.clone());
        c.send(&[msg(1, 2, 7)]).await.unwrap_err();
        let mut c = PeerClient::new(1, 2, url.clone(), limits.clone());
        let err = c.send(&[msg(1, 2, 7)]).await.unwrap_err();
        assert!(err.to_string().contains("--raft-ca"), "{err}");
        assert!(rx.try_recv().is_err(), "nothing delivered");

        let tls = ClientTls::load(good.clone()).unwrap();
        let mut c = PeerClient::new(1, 2, url.clone(), limits.clone()).with_tls(Some(tls));
        c.send(&[msg(1, 2, 9)]).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(got.unwrap().term, 9);

        // The refused controller's files renewed with a certificate of the group's CA: once
        // reloaded, the same client's next connection presents it and is let in, no restart.
        let mut c = PeerClient::new(1, 2, url, limits).with_tls(Some(foreign_client.clone()));
        c.send(&[msg(1, 2, 10)]).await.unwrap_err();
        std::fs::copy(&good.cert, &foreign.cert).unwrap();
        std::fs::copy(&good.key, &foreign.key).unwrap();
        assert!(
            matches!(foreign_client.reload_if_changed(), Some(Ok(()))),
            "the renewed files load"
        );
        // The connection the refusal broke may fail one more call before the client dials again.
        let mut sent = c.send(&[msg(1, 2, 11)]).await;
        for _ in 0..3 {
            if sent.is_ok() {
                break;
            }
            sent = c.send(&[msg(1, 2, 11)]).await;
        }
        sent.expect("the renewed certificate is let in");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(got.unwrap().term, 11);
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
