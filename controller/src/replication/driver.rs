//! The driver: the async task that owns one [`Node`] and plays the part the simulated network
//! plays in the replication tests (docs/ha.md#the-driver). It ticks the node every [`TICK`],
//! steps the messages the `RaftPeer` service queues for it, takes proposals, runs the Ready loop
//! and hands each peer's messages to that peer's own sending task, so a slow or dead peer never
//! holds up the loop: each peer has a bounded queue, and a message that finds it full is dropped
//! and the peer reported unreachable (Raft sends again). Failed sends come back as
//! `report_unreachable` / `report_snapshot`.
//!
//! A proposer awaits its command's outcome through [`DriverHandle::propose`], bounded by
//! [`DriverConfig::proposal_timeout`]; on a node that is not the leader it fails at once naming
//! the leader (and its address) if known. Dropping the [`Driver`] stops the loop, the peer
//! tasks and the peer service.
//!
//! All of them run on the driver's own small runtime (threads `volley-raft-N`), not on the
//! controller's: a controller busy merging many agents' batches would otherwise delay the
//! ticks, the heartbeats and the peer service past an election timeout, and a leader would
//! lose its leadership to CPU load alone (docs/ha.md#the-driver). Proposals and reads cross
//! from the controller's runtime by channels.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::Message;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::node::{is_snapshot, Membership, Node, NodeError, NodeStatus, ProposalId, Role, TICK};
use super::payload::Payload;
use super::transport::{
    ApiBook, PeerAuth, PeerClient, PeerService, PeerTls, TransportLimits, MAX_MESSAGES_PER_BATCH,
};
use crate::state::{Applied, Command, State, StateError};

/// Most proposals waiting for their outcome on one node; more are refused at once.
pub const MAX_PENDING_PROPOSALS: usize = 4096;
/// Most messages queued for one peer's sending task.
pub const PEER_QUEUE: usize = 1024;
/// Most bytes of messages a peer task puts in one batch (a larger single message, a snapshot,
/// goes alone).
pub const MAX_BATCH_BYTES: usize = 16 << 20;
/// Most messages from peers the loop queues before the peer service waits (then refuses).
const INBOX: usize = 4096;
/// Most inputs of one kind the loop takes before it runs the Ready loop, so one fsync covers
/// many messages or proposals.
const DRAIN: usize = 256;
/// Worker threads of the driver's own runtime: one can sit in the Ready loop's fsync while the
/// other serves peers and sends heartbeats.
const RAFT_WORKERS: usize = 2;

/// What a driver needs besides its node.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The other voters: node id → URL of its Raft port (`http://host:port`).
    pub peers: BTreeMap<u64, String>,
    pub limits: TransportLimits,
    /// How long [`DriverHandle::propose`] waits for a command to be committed and applied.
    pub proposal_timeout: Duration,
    /// This node's REST API URL, told to its peers with every batch (`--advertise-api`), so
    /// their followers can redirect writes here when this node leads.
    pub api: String,
    /// The secret every node of the group shares (`--peer-token`): sent with every batch, and
    /// required of every batch received. `None`: no token (loopback, TLS or `--insecure` only).
    pub peer_token: Option<String>,
    /// Mutual TLS on the Raft port (`--raft-ca`): how it serves and how it dials `https://`
    /// peers. `None`: plaintext.
    pub tls: Option<PeerTls>,
}

impl DriverConfig {
    /// Production settings: a proposal waits 5 s, more than a leader election (docs/ha.md#timeouts).
    pub fn new(peers: BTreeMap<u64, String>) -> DriverConfig {
        DriverConfig {
            peers,
            limits: TransportLimits::default(),
            proposal_timeout: Duration::from_secs(5),
            api: String::new(),
            peer_token: None,
            tls: None,
        }
    }
}

/// Why a proposal or a read through the driver failed.
#[derive(Debug, Error)]
pub enum DriverError {
    #[error(
        "this controller (node {id}) is not the Raft leader{}; send writes to the leader",
        match .leader {
            Some((l, addr)) => format!(" (node {l} at {addr} is)"),
            None => " and knows of no leader yet".into(),
        }
    )]
    NotLeader {
        id: u64,
        leader: Option<(u64, String)>,
    },
    #[error(
        "no outcome for the command within {waited:?}: it was not committed by a quorum of \
         controllers in time (a leader change, or peers unreachable); it may still be applied \
         later, so check before sending it again"
    )]
    Timeout { waited: Duration },
    #[error(
        "{MAX_PENDING_PROPOSALS} commands are already waiting to be committed on this controller; \
         retry shortly"
    )]
    Busy,
    #[error("the replicated state machine rejected the command: {0}")]
    Rejected(StateError),
    #[error("this controller's Raft node stopped: {reason}")]
    Stopped { reason: String },
    #[error(
        "cannot reach node {id}'s Raft port at {addr}: {detail}; start that controller first \
         (`volley controller --node-id {id} --raft HOST:PORT --join --peer …`, docs/ha.md) and \
         check the address and the peer token"
    )]
    Unreachable {
        id: u64,
        addr: String,
        detail: String,
    },
    #[error("cannot fetch an archive from node {id}: {detail}")]
    Fetch { id: u64, detail: String },
    #[error(transparent)]
    Node(NodeError),
    #[error("cannot start the Raft node's own threads and Raft port: {0}")]
    Runtime(std::io::Error),
}

/// What the loop publishes after every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverStatus {
    pub node: NodeStatus,
    /// Set when the loop stopped on an error (a storage failure): it says why.
    pub stopped: Option<String>,
    /// Leaders this node saw elected since it started (a new leader id or a new term with a
    /// leader), for `GET /metrics`.
    pub leader_changes: u64,
    /// The Raft port URL of every other node this one sends to.
    pub peers: BTreeMap<u64, String>,
}

type Reply = oneshot::Sender<Result<Applied, DriverError>>;
type ReadFn = Box<dyn FnOnce(&State) + Send>;

enum Request {
    Propose {
        payload: Box<Payload>,
        reply: Reply,
    },
    Membership {
        change: Membership,
        raft_url: Option<String>,
        reply: Reply,
    },
    Read(ReadFn),
}

/// Builds the client this node sends to one peer with (its id, the peer RPC's limits, the
/// API URL and peer token it identifies with).
#[derive(Debug, Clone)]
struct Dialer {
    id: u64,
    limits: TransportLimits,
    api: String,
    token: Option<String>,
    /// With TLS on the Raft port (`--raft-ca`), how every peer is dialled.
    tls: Option<std::sync::Arc<crate::tls::peers::ClientTls>>,
}

impl Dialer {
    fn client(&self, to: u64, addr: String) -> PeerClient {
        PeerClient::new(self.id, to, addr, self.limits.clone())
            .identify(self.api.clone(), self.token.as_deref())
            .with_tls(self.tls.clone())
    }
}

/// What a peer task tells the loop about a batch it could not deliver.
enum Report {
    Unreachable(u64),
    Snapshot { to: u64, delivered: bool },
}

/// A cheap handle to a running driver: propose commands, read the state, watch the status.
#[derive(Debug, Clone)]
pub struct DriverHandle {
    id: u64,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<DriverStatus>,
    dialer: Dialer,
    proposal_timeout: Duration,
    /// This node's own REST API URL, and what its peers advertised.
    api: String,
    apis: ApiBook,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Propose { payload, .. } => match &**payload {
                Payload::Command(cmd) => write!(f, "Propose({cmd:?})"),
                Payload::Content { sha256, offset, .. } => {
                    write!(f, "Propose(archive {sha256} at {offset})")
                }
                Payload::Checkpoint { run_id, bytes } => {
                    write!(
                        f,
                        "Propose(checkpoint of run {run_id}, {} bytes)",
                        bytes.len()
                    )
                }
                Payload::DropCheckpoint { run_id } => {
                    write!(f, "Propose(drop the checkpoint of run {run_id})")
                }
            },
            Request::Membership {
                change, raft_url, ..
            } => write!(f, "Membership({change:?}, {raft_url:?})"),
            Request::Read(_) => f.write_str("Read"),
        }
    }
}

impl DriverHandle {
    /// Proposes `cmd` and waits, at most [`DriverConfig::proposal_timeout`], until it is
    /// committed by a quorum and applied here. A rejection by the state machine is
    /// [`DriverError::Rejected`] (identical on every node); on a follower the proposal fails at
    /// once with [`DriverError::NotLeader`].
    pub async fn propose(&self, cmd: Command) -> Result<Applied, DriverError> {
        self.propose_payload(Payload::Command(Box::new(cmd))).await
    }

    /// [`Self::propose`] for a command or side data (an archive chunk, a checkpoint), which is
    /// applied as [`crate::state::Effect::Stored`] once a quorum holds it.
    pub async fn propose_payload(&self, payload: Payload) -> Result<Applied, DriverError> {
        let waited = self.proposal_timeout;
        let (reply, outcome) = oneshot::channel();
        let wait = async {
            self.requests
                .send(Request::Propose {
                    payload: Box::new(payload),
                    reply,
                })
                .await
                .map_err(|_| self.stopped())?;
            outcome.await.map_err(|_| self.stopped())?
        };
        match tokio::time::timeout(waited, wait).await {
            Ok(result) => result.map_err(|e| match e {
                DriverError::NotLeader { id, leader } => DriverError::NotLeader {
                    id,
                    leader: leader.map(|(l, _)| (l, self.addr_of(l))),
                },
                e => e,
            }),
            Err(_) => Err(DriverError::Timeout { waited }),
        }
    }

    /// Adds a voter (at `raft_url`, its Raft port) or removes one, and waits, at most
    /// [`DriverConfig::proposal_timeout`], until the change is committed and applied here.
    /// Before adding a node it checks that the node answers on `raft_url` as that id with
    /// the group's peer token, within the peer RPC's timeouts. Only the leader changes the
    /// membership; what the group cannot do is refused naming why
    /// ([`Node::propose_membership_at`]).
    pub async fn change_membership(
        &self,
        change: Membership,
        raft_url: Option<String>,
    ) -> Result<Applied, DriverError> {
        let status = self.status();
        if status.node.role != Role::Leader {
            let leader = (status.node.leader != 0 && status.node.leader != self.id)
                .then(|| (status.node.leader, self.addr_of(status.node.leader)));
            return Err(DriverError::NotLeader {
                id: self.id,
                leader,
            });
        }
        if let (Membership::AddVoter(id), Some(url)) = (change, &raft_url) {
            // Refused here first, before a probe that would only delay the answer.
            if status.node.voters.contains(&id) {
                return Err(DriverError::Node(NodeError::Membership(
                    super::node::already_a_voter(id, &status.node.voters),
                )));
            }
            let mut client = self.dialer.client(id, url.clone());
            if let Err(e) = client.send(&[]).await {
                return Err(DriverError::Unreachable {
                    id,
                    addr: url.clone(),
                    detail: e.to_string(),
                });
            }
        }
        let waited = self.proposal_timeout;
        let (reply, outcome) = oneshot::channel();
        let wait = async {
            self.requests
                .send(Request::Membership {
                    change,
                    raft_url,
                    reply,
                })
                .await
                .map_err(|_| self.stopped())?;
            outcome.await.map_err(|_| self.stopped())?
        };
        match tokio::time::timeout(waited, wait).await {
            Ok(result) => result,
            Err(_) => Err(DriverError::Timeout { waited }),
        }
    }

    /// Fetches the archive `sha256` of `size` bytes from node `from` over the peer RPC,
    /// bounded by one answer timeout per chunk (docs/ha.md#archives-after-a-snapshot). The
    /// caller checks its hash before storing it.
    pub async fn fetch_archive(
        &self,
        from: u64,
        sha256: &str,
        size: u64,
    ) -> Result<Vec<u8>, DriverError> {
        let addr = self.status.borrow().peers.get(&from).cloned();
        let Some(addr) = addr else {
            return Err(DriverError::Fetch {
                id: from,
                detail: "this node knows no Raft port URL for it".into(),
            });
        };
        self.dialer
            .client(from, addr.clone())
            .fetch_archive(sha256, size)
            .await
            .map_err(|e| DriverError::Fetch {
                id: from,
                detail: e.to_string(),
            })
    }

    /// Runs `f` on this node's state as of its last applied entry, on the loop (a local read:
    /// on a follower or a deposed leader it may be behind the leader's).
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&State) -> R + Send + 'static,
    ) -> Result<R, DriverError> {
        let (tx, rx) = oneshot::channel();
        let job: ReadFn = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        let wait = async {
            self.requests
                .send(Request::Read(job))
                .await
                .map_err(|_| self.stopped())?;
            rx.await.map_err(|_| self.stopped())
        };
        tokio::time::timeout(self.proposal_timeout, wait)
            .await
            .map_err(|_| DriverError::Timeout {
                waited: self.proposal_timeout,
            })?
    }

    /// The node's latest status.
    pub fn status(&self) -> DriverStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch(&self) -> watch::Receiver<DriverStatus> {
        self.status.clone()
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The voters as of the last membership change this node applied.
    pub fn voters(&self) -> Vec<u64> {
        self.status.borrow().node.voters.clone()
    }

    /// How long [`Self::propose`] waits at most.
    pub fn proposal_timeout(&self) -> Duration {
        self.proposal_timeout
    }

    /// The REST API URL of node `id`: this node's own, or what that peer advertised in its
    /// last batch (`None` until it sent one).
    pub fn api_of(&self, id: u64) -> Option<String> {
        if id == self.id {
            return (!self.api.is_empty()).then(|| self.api.clone());
        }
        self.apis.get(id)
    }

    fn addr_of(&self, id: u64) -> String {
        self.status
            .borrow()
            .peers
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "an address this node does not know".into())
    }

    fn stopped(&self) -> DriverError {
        DriverError::Stopped {
            reason: self
                .status
                .borrow()
                .stopped
                .clone()
                .unwrap_or_else(|| "its driver was shut down".into()),
        }
    }
}

/// A running driver; dropping it stops the node's loop, its peer tasks and its peer service.
#[derive(Debug)]
pub struct Driver {
    handle: DriverHandle,
    tasks: Vec<JoinHandle<()>>,
    /// The runtime they all run on, the driver's own (taken when dropped), and its handle.
    runtime: Option<tokio::runtime::Runtime>,
    on: tokio::runtime::Handle,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Without waiting: a driver is dropped from the controller's async code, where a
        // runtime may not block (a loop in the middle of an fsync ends right after it).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Driver {
    /// Starts driving `node` on a runtime of its own: its peer service on `listener` (its Raft
    /// port, moved to that runtime), one sending task per peer, and the loop. Fails only if
    /// the threads cannot be started or the listener moved.
    pub fn start(
        node: Node,
        config: DriverConfig,
        listener: tokio::net::TcpListener,
    ) -> Result<Driver, DriverError> {
        let id = node.id();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RAFT_WORKERS)
            .thread_name(format!("volley-raft-{id}"))
            .enable_all()
            .build()
            .map_err(DriverError::Runtime)?;
        // The listener was registered with the caller's runtime, whose I/O driver a busy
        // controller polls late: it is registered again with the driver's.
        let listener = listener.into_std().map_err(DriverError::Runtime)?;
        let _on_raft_runtime = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener).map_err(DriverError::Runtime)?;
        let (inbox_tx, inbox) = mpsc::channel(INBOX);
        let (requests_tx, requests) = mpsc::channel(DRAIN);
        // Peer tasks wait for room here rather than drop a report: a lost snapshot report would
        // leave the leader waiting for that follower forever.
        let (reports_tx, reports) = mpsc::channel(PEER_QUEUE);
        let (status_tx, status) = watch::channel(DriverStatus {
            node: node.status(),
            stopped: None,
            leader_changes: 0,
            peers: BTreeMap::new(),
        });
        let mut tasks = Vec::new();
        let apis = ApiBook::default();
        let service = PeerService::serving(
            id,
            inbox_tx,
            config.limits.clone(),
            apis.clone(),
            PeerAuth::new(config.peer_token.clone()),
            node.side(),
        );
        let local: Option<SocketAddr> = listener.local_addr().ok();
        let server_tls = config.tls.as_ref().map(|t| t.server.clone());
        tasks.push(tokio::spawn(async move {
            let incoming = super::transport::incoming(listener, server_tls);
            if let Err(e) = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!(node = id, addr = ?local, error = %e, "the Raft peer service stopped");
            }
        }));
        let dialer = Dialer {
            id,
            limits: config.limits.clone(),
            api: config.api.clone(),
            token: config.peer_token.clone(),
            tls: config.tls.as_ref().map(|t| t.client.clone()),
        };
        let mut lp = Loop {
            node: node.with_peers(&config.peers),
            inbox,
            requests,
            reports,
            reports_tx,
            outboxes: BTreeMap::new(),
            dialer: dialer.clone(),
            addresses_version: None,
            status: status_tx,
            pending: HashMap::new(),
        };
        lp.connect_peers();
        tasks.push(tokio::spawn(lp.run()));
        drop(_on_raft_runtime);
        Ok(Driver {
            handle: DriverHandle {
                id,
                requests: requests_tx,
                status,
                dialer,
                proposal_timeout: config.proposal_timeout,
                api: config.api,
                apis,
            },
            tasks,
            on: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// The driver's own runtime: where a caller on a busy runtime starts a proposal, so that
    /// it reaches the loop and its timeout runs on time.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.on.clone()
    }
}

/// Sends one peer's messages, in order, in batches; reports what could not be delivered.
async fn peer_task(
    mut client: PeerClient,
    mut queue: mpsc::Receiver<Message>,
    reports: mpsc::Sender<Report>,
) {
    let to = client.to();
    while let Some(first) = queue.recv().await {
        let mut bytes = first.compute_size() as usize;
        let mut batch = vec![first];
        while batch.len() < MAX_MESSAGES_PER_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(m) => {
                    bytes += m.compute_size() as usize;
                    batch.push(m);
                }
                Err(_) => break,
            }
        }
        let result = client.send(&batch).await;
        if let Err(e) = &result {
            tracing::debug!(peer = to, addr = client.addr(), error = %e, "Raft messages not delivered");
        }
        let delivered = result.is_ok();
        if !delivered && reports.send(Report::Unreachable(to)).await.is_err() {
            return;
        }
        for m in batch.iter().filter(|m| is_snapshot(m)) {
            let report = Report::Snapshot {
                to: m.to,
                delivered,
            };
            if reports.send(report).await.is_err() {
                return;
            }
        }
    }
}

/// A peer's queue and its sending task, stopped when this is dropped (a peer removed, or the
/// loop stopped), so that nothing queued before is sent afterwards.
struct Outbox {
    addr: String,
    queue: mpsc::Sender<Message>,
    task: JoinHandle<()>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Loop {
    node: Node,
    inbox: mpsc::Receiver<Message>,
    requests: mpsc::Receiver<Request>,
    reports: mpsc::Receiver<Report>,
    reports_tx: mpsc::Sender<Report>,
    /// One queue per peer, drained by that peer's sending task (which ends when its queue is
    /// dropped: a peer removed, or the loop stopped).
    outboxes: BTreeMap<u64, Outbox>,
    dialer: Dialer,
    /// The node's address book as last connected (`None`: never).
    addresses_version: Option<u64>,
    status: watch::Sender<DriverStatus>,
    pending: HashMap<ProposalId, Reply>,
}

impl Loop {
    /// Gives every peer the node knows a sending task at its current address: starts one for
    /// a node added, restarts one whose address changed, drops the queue of a node removed.
    fn connect_peers(&mut self) {
        let (book, version) = self.node.addresses();
        if self.addresses_version == Some(version) {
            return;
        }
        let book = book.clone();
        self.addresses_version = Some(version);
        self.outboxes
            .retain(|id, o| book.get(id).is_some_and(|a| *a == o.addr));
        for (&peer, addr) in &book {
            if self.outboxes.contains_key(&peer) {
                continue;
            }
            let (queue, rx) = mpsc::channel(PEER_QUEUE);
            let client = self.dialer.client(peer, addr.clone());
            let task = tokio::spawn(peer_task(client, rx, self.reports_tx.clone()));
            let addr = addr.clone();
            self.outboxes.insert(peer, Outbox { addr, queue, task });
            tracing::debug!(node = self.node.id(), peer, "sending to a Raft peer");
        }
        self.status.send_modify(|s| s.peers = book);
    }

    async fn run(mut self) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.node.tick(),
                Some(m) = self.inbox.recv() => {
                    self.step(m);
                    for _ in 1..DRAIN {
                        match self.inbox.try_recv() {
                            Ok(m) => self.step(m),
                            Err(_) => break,
                        }
                    }
                }
                Some(r) = self.requests.recv() => {
                    self.request(r);
                    for _ in 1..DRAIN {
                        match self.requests.try_recv() {
                            Ok(r) => self.request(r),
                            Err(_) => break,
                        }
                    }
                }
                Some(r) = self.reports.recv() => self.report(r),
                else => return,
            }
            if let Err(e) = self.ready() {
                let reason = e.to_string();
                tracing::error!(node = self.node.id(), error = %reason, "the Raft node stopped");
                for (_, reply) in self.pending.drain() {
                    let _ = reply.send(Err(DriverError::Stopped {
                        reason: reason.clone(),
                    }));
                }
                self.status.send_modify(|s| s.stopped = Some(reason));
                return;
            }
            let now = self.node.status();
            self.status.send_if_modified(|s| {
                let changed = s.node != now;
                let new_leader =
                    now.leader != 0 && (now.leader != s.node.leader || now.term != s.node.term);
                if new_leader {
                    s.leader_changes += 1;
                }
                s.node = now;
                changed
            });
        }
    }

    fn step(&mut self, m: Message) {
        if let Err(e) = self.node.step(m) {
            tracing::warn!(node = self.node.id(), error = %e, "a Raft message from a peer was refused");
        }
    }

    fn request(&mut self, r: Request) {
        match r {
            Request::Read(f) => f(&self.node.state()),
            Request::Propose { payload, reply } => {
                // Forget proposers that gave up (their timeout passed) before counting.
                if self.pending.len() >= MAX_PENDING_PROPOSALS {
                    self.pending.retain(|_, r| !r.is_closed());
                }
                if self.pending.len() >= MAX_PENDING_PROPOSALS {
                    let _ = reply.send(Err(DriverError::Busy));
                    return;
                }
                match self.node.propose_payload(&payload) {
                    Ok(id) => {
                        self.pending.insert(id, reply);
                    }
                    Err(NodeError::NotLeader { id, leader }) => {
                        let _ = reply.send(Err(DriverError::NotLeader {
                            id,
                            leader: leader.map(|l| (l, String::new())),
                        }));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(DriverError::Node(e)));
                    }
                }
            }
            Request::Membership {
                change,
                raft_url,
                reply,
            } => match self.node.propose_membership_at(change, raft_url.as_deref()) {
                Ok(id) => {
                    self.pending.insert(id, reply);
                }
                Err(NodeError::NotLeader { id, leader }) => {
                    let _ = reply.send(Err(DriverError::NotLeader {
                        id,
                        leader: leader.map(|l| (l, String::new())),
                    }));
                }
                Err(e) => {
                    let _ = reply.send(Err(DriverError::Node(e)));
                }
            },
        }
    }

    fn report(&mut self, r: Report) {
        match r {
            Report::Unreachable(to) => self.node.report_unreachable(to),
            Report::Snapshot { to, delivered } => self.node.report_snapshot(to, delivered),
        }
    }

    /// Runs the Ready loop until the node has nothing left, sending and resolving as it goes.
    fn ready(&mut self) -> Result<(), NodeError> {
        while self.node.has_ready() {
            let out = self.node.handle_ready()?;
            // A node just added gets its sending task before the messages to it go out.
            self.connect_peers();
            for m in out.messages {
                let to = m.to;
                let snapshot = is_snapshot(&m);
                let queued = match self.outboxes.get(&to) {
                    Some(o) => o.queue.try_send(m).is_ok(),
                    None => {
                        tracing::debug!(node = self.node.id(), to, "no address for a Raft peer");
                        false
                    }
                };
                if !queued {
                    self.node.report_unreachable(to);
                    if snapshot {
                        self.node.report_snapshot(to, false);
                    }
                }
            }
            for applied in out.applied {
                let Some(reply) = applied.proposal.and_then(|p| self.pending.remove(&p)) else {
                    continue;
                };
                let _ = reply.send(applied.outcome.map_err(DriverError::Rejected));
            }
        }
        if self.node.status().role != Role::Leader && !self.pending.is_empty() {
            // A deposed leader's proposals may still be committed by the new leader; the
            // proposers wait out their timeout. Those that already gave up are forgotten.
            self.pending.retain(|_, r| !r.is_closed());
        }
        Ok(())
    }
}
