//! A controller as one member of a Raft group (`volley controller --node-id N --raft ADDR
//! --peer M=ADDR …`): opens its Raft node on the data dir's `raft.redb`, starts the driver on
//! the Raft port, makes the store propose every command through it, and drives runs only while
//! it leads. Without `--peer` none of this runs (docs/ha.md#the-wiring).
//!
//! A leader that loses its leadership stops the process ([`lead`] returns): a deposed leader
//! must not go on driving runs beside its successor, and stopping is the one way to be sure
//! every run task, agent stream and timer of the old term is gone. Restarted, it rejoins as a
//! follower (docs/ha.md#leadership).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::coordinator::Coordinator;
use crate::replication::storage::RAFT_FILE;
use crate::replication::{Driver, DriverConfig, Node, NodeConfig, RaftStorage, Role};
use crate::service_error::ServiceError;
use crate::store::{Db, Replica};

/// A controller's place in its Raft group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This controller's node id (1 or more, unique in the group).
    pub node_id: u64,
    /// The address of its Raft port (`--raft`).
    pub listen: SocketAddr,
    /// The other voters: node id → `http://host:port` of their Raft port.
    pub peers: BTreeMap<u64, String>,
    /// The REST API URL peers redirect writes to while this node leads (`--advertise-api`;
    /// `None`: the REST listener's own address).
    pub advertise_api: Option<String>,
    /// The secret the group's controllers share on their Raft ports (`--peer-token`).
    pub peer_token: Option<String>,
    /// `--join`: this controller is not a voter yet; it waits, with no membership of its own,
    /// until the group's leader adds it (`volley controllers add`), then catches up from a
    /// snapshot and the log. `peers` names the group's current members.
    pub join: bool,
    /// Mutual TLS on the Raft port (`--raft-ca`): this controller's certificate and key, and
    /// in `client_ca` the CA of the group's controller certificates. `None`: plaintext.
    pub tls: Option<crate::tls::TlsFiles>,
    /// What this controller does with a write while it follows (`--follower-writes`).
    pub follower_writes: FollowerWrites,
}

/// What a follower does with a write (`--follower-writes`,
/// docs/ha.md#followers-forward-writes-to-the-leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FollowerWrites {
    /// Sends it on to the leader and passes the leader's answer back: one address (a
    /// Service, a port-forward, a load balancer) serves every request.
    #[default]
    Forward,
    /// Answers `307` to the same path on the leader's advertised API: the client must reach
    /// the leader itself.
    Redirect,
}

/// Why a controller could not join or stay in its group.
#[derive(Debug, Error)]
pub enum GroupError {
    #[error(
        "the data dir {} holds a single controller's state (controller.redb, {commands} \
         commands applied); a member of a Raft group starts from an empty data dir and gets \
         its state from the group: give it a new --data-dir, or start it without --peer",
        .dir.display()
    )]
    NotEmpty {
        dir: std::path::PathBuf,
        commands: u64,
    },
    #[error(
        "the data dir {} belongs to a member of a Raft group ({RAFT_FILE}): start it with its \
         --node-id, --raft and --peer flags, or give a single controller another --data-dir",
        .dir.display()
    )]
    Replicated { dir: std::path::PathBuf },
    #[error("cannot open the Raft node: {0}")]
    Node(String),
    #[error("cannot listen on --raft {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "this controller (node {id}) lost the Raft leadership in term {term}: it stops so that \
         only one controller drives runs; restarted, it rejoins the group as a follower"
    )]
    Deposed { id: u64, term: u64 },
    #[error("this controller's Raft node stopped: {0}")]
    Stopped(String),
    #[error(
        "this controller (node {id}) was removed from the controllers' Raft group: it stops; to \
         bring it back, give it an empty --data-dir, start it with --join and add it again \
         (`volley controllers add {id}=HOST:PORT`)"
    )]
    Removed { id: u64 },
    #[error("cannot set up TLS on the Raft port: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// The group as this controller sees it (`GET /v1/controllers`): every voter with its role,
/// this node's term and indexes, and on the leader each voter's lag behind its log. A
/// controller without Raft lists itself alone.
pub fn controllers(db: &Db) -> volley_api::ControllerList {
    use volley_api::{ControllerList, ControllerView};
    let Some(replica) = db.replica() else {
        let applied = db.read(|s| s.applied_index());
        return ControllerList {
            replicated: false,
            node: 0,
            controllers: vec![ControllerView {
                node: 0,
                role: "leader".into(),
                api: None,
                term: None,
                commit: Some(applied),
                applied: Some(applied),
                lag: Some(0),
            }],
        };
    };
    let status = replica.handle.status().node;
    let me = status.id;
    let mut ids = status.voters.clone();
    let member = ids.contains(&me);
    if !member {
        ids.push(me);
    }
    ids.sort_unstable();
    let lag = |id: u64| {
        status
            .matched
            .iter()
            .find(|(n, _)| *n == id)
            .map(|(_, m)| status.last_index.saturating_sub(*m))
    };
    let controllers = ids
        .into_iter()
        .map(|id| {
            let own = id == me;
            let role = if own && !member {
                // Started with --join and not added yet (or removed).
                "not a voter"
            } else if own {
                match status.role {
                    Role::Leader => "leader",
                    Role::Follower => "follower",
                    Role::Candidate => "candidate",
                    Role::PreCandidate => "pre-candidate",
                }
            } else if status.leader == 0 {
                "unknown"
            } else if id == status.leader {
                "leader"
            } else {
                "follower"
            };
            ControllerView {
                node: id,
                role: role.into(),
                api: replica.handle.api_of(id),
                term: own.then_some(status.term),
                commit: own.then_some(status.commit),
                applied: own.then_some(status.applied),
                lag: lag(id),
            }
        })
        .collect();
    ControllerList {
        replicated: true,
        node: me,
        controllers,
    }
}

/// A digest of the state machine `db` holds: its serialized form (what a snapshot stores) is
/// the same on every node that applied the same commands, so equal digests mean equal states.
pub fn state_digest(db: &Db) -> Option<volley_api::StateDigest> {
    let (applied, bytes) = db.read(|s| (s.applied_index(), serde_json::to_vec(s)));
    let bytes = bytes
        .map_err(|e| tracing::warn!("cannot serialize the state for its digest: {e}"))
        .ok()?;
    let sha256 = crate::store::sha256_hex(&bytes);
    Some(volley_api::StateDigest {
        node: db.replica().map_or(0, |r| r.handle.id()),
        applied,
        bytes: bytes.len() as u64,
        sha256,
    })
}

/// Refuses to start a single controller on a group member's data dir (its state is in the
/// Raft log, which a single controller would ignore).
pub fn check_single(data_dir: &Path) -> Result<(), GroupError> {
    if data_dir.join(RAFT_FILE).exists() {
        return Err(GroupError::Replicated {
            dir: data_dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Opens the node, binds the Raft port and starts the driver; from then on `db` proposes every
/// command through it. `api` is this node's REST API URL, told to its peers. Must run inside
/// the controller's runtime. Dropping the returned driver stops the node.
pub async fn join(
    db: &Arc<Db>,
    cfg: &RaftConfig,
    data_dir: &Path,
    api: String,
) -> Result<Driver, GroupError> {
    let commands = db.read(|s| s.applied_index());
    if commands > 0 {
        return Err(GroupError::NotEmpty {
            dir: data_dir.to_path_buf(),
            commands,
        });
    }
    let storage = RaftStorage::open(data_dir).map_err(|e| GroupError::Node(e.to_string()))?;
    // A node that joins has no membership of its own: the leader's snapshot gives it one.
    let mut voters: Vec<u64> = Vec::new();
    if !cfg.join {
        voters.extend(cfg.peers.keys().copied());
        voters.push(cfg.node_id);
        voters.sort_unstable();
    }
    let node = Node::open_shared(
        &NodeConfig::new(cfg.node_id),
        storage,
        &voters,
        db.shared_state(),
    )
    .map_err(|e| GroupError::Node(e.to_string()))?
    .with_side(db.clone());
    let tls = match &cfg.tls {
        None => None,
        Some(files) => {
            let client = crate::tls::peers::ClientTls::load(files.clone())?;
            let server = crate::tls::ServerTls::load(files.clone(), crate::tls::Port::Raft)?;
            server.watch(crate::tls::RELOAD_EVERY);
            client.watch(crate::tls::RELOAD_EVERY);
            Some(crate::replication::transport::PeerTls { server, client })
        }
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| GroupError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let mut config = DriverConfig::new(cfg.peers.clone());
    config.api = cfg.advertise_api.clone().unwrap_or(api);
    config.peer_token = cfg.peer_token.clone();
    config.tls = tls;
    let driver =
        Driver::start(node, config, listener).map_err(|e| GroupError::Node(e.to_string()))?;
    db.replicate(Replica {
        handle: driver.handle(),
        runtime: driver.runtime(),
    })
    .map_err(|e| GroupError::Node(e.to_string()))?;
    // Archives are not in snapshots: a node that caught up from one fetches them from its peers.
    tokio::spawn(crate::store::fill::fill_archives(
        db.clone(),
        driver.handle(),
    ));
    let voters = driver.handle().voters();
    if voters.contains(&cfg.node_id) {
        tracing::info!(
            node = cfg.node_id,
            raft = %cfg.listen,
            voters = ?voters,
            "joined the controllers' Raft group"
        );
    } else {
        tracing::info!(
            node = cfg.node_id,
            raft = %cfg.listen,
            "waiting to be added to the controllers' Raft group (`volley controllers add {}=HOST:PORT` on any of them)",
            cfg.node_id
        );
    }
    Ok(driver)
}

/// Adds node `id`, whose Raft port is `raft` (`HOST:PORT` or a URL), to the group, or removes
/// it (`raft` is `None`): only on the leader, one node at a time, after checking that a node
/// added answers on its Raft port (docs/ha.md#changing-the-membership). Blocks until the
/// change is applied here or refused; answers with the group as this node then sees it.
pub fn change_membership(
    db: &Db,
    id: u64,
    raft: Option<&str>,
) -> Result<volley_api::ControllerList, ServiceError> {
    use crate::replication::{DriverError, Membership, NodeError};
    let Some(replica) = db.replica() else {
        return Err(ServiceError::not_replicated());
    };
    if id == 0 {
        return Err(ServiceError::bad_request(
            "invalid_node",
            "node ids start at 1: give the controller's --node-id",
        ));
    }
    let (change, url) = match raft {
        Some(addr) => {
            let url = raft_url(addr).ok_or_else(|| {
                ServiceError::bad_request(
                    "invalid_raft_address",
                    format!(
                        "field `raft` {addr:?} is not a Raft port address: give HOST:PORT, e.g. \
                         10.0.0.4:6567 (the new controller's --raft)"
                    ),
                )
            })?;
            (Membership::AddVoter(id), Some(url))
        }
        None => (Membership::Remove(id), None),
    };
    let handle = replica.handle.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    replica.runtime.spawn(async move {
        let _ = tx.send(handle.change_membership(change, url).await);
    });
    // The probe of a new node, then the proposal, each bounded; a margin for a starved runtime.
    let waited = replica.handle.proposal_timeout() * 2 + std::time::Duration::from_secs(5);
    let wait = move || rx.recv_timeout(waited);
    let answer = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
    .unwrap_or(Err(DriverError::Timeout { waited }));
    match answer {
        Ok(_) => {
            tracing::info!(target: crate::audit::AUDIT, node = id, change = ?change, "controllers' membership changed");
            Ok(controllers(db))
        }
        Err(DriverError::Node(NodeError::Membership(m))) => {
            Err(ServiceError::conflict("membership", m))
        }
        Err(e @ DriverError::Unreachable { .. }) => {
            Err(ServiceError::new(502, "peer_unreachable", e.to_string()))
        }
        Err(e @ DriverError::NotLeader { .. }) => {
            Err(ServiceError::new(503, "no_leader", e.to_string()))
        }
        Err(e @ DriverError::Timeout { .. }) => {
            Err(ServiceError::new(504, "not_committed", e.to_string()))
        }
        Err(e) => Err(ServiceError::new(503, "replication", e.to_string())),
    }
}

/// `HOST:PORT` (or an `http(s)://` URL) as the URL of a Raft port; `None` if it is not one.
pub fn raft_url(addr: &str) -> Option<String> {
    let addr = addr.trim();
    let url = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let host_port = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let port_ok = host_port
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    (port_ok && crate::replication::node::valid_raft_url(&url)).then_some(url)
}

/// Waits until this node leads with every committed command applied, then stores the
/// bootstrap admin token (`admin_token`) and starts driving runs; returns when the node loses
/// the leadership or its Raft node stops (the caller then stops the process).
pub async fn lead(co: Arc<Coordinator>, admin_token: Option<String>) -> GroupError {
    let Some(replica) = co.db.replica().cloned() else {
        return GroupError::Stopped("the store is not replicated".into());
    };
    let mut status = replica.handle.watch();
    let mut was_voter = false;
    loop {
        {
            let s = status.borrow_and_update();
            if let Some(why) = &s.stopped {
                return GroupError::Stopped(why.clone());
            }
            let voter = s.node.voters.contains(&s.node.id);
            if was_voter && !voter {
                return GroupError::Removed { id: s.node.id };
            }
            was_voter |= voter;
            // Its own first entry of the term is applied: so is everything committed before.
            if s.node.role == Role::Leader && s.node.applied >= s.node.last_index {
                break;
            }
        }
        if status.changed().await.is_err() {
            return GroupError::Stopped("its driver was shut down".into());
        }
    }
    let (id, term) = {
        let s = status.borrow();
        (s.node.id, s.node.term)
    };
    tracing::info!(
        node = id,
        term,
        "this controller leads the group: it drives the runs now"
    );
    if let Some(secret) = admin_token {
        let db = co.db.clone();
        let stored =
            tokio::task::spawn_blocking(move || crate::auth::tokens::bootstrap(&db, &secret)).await;
        match stored {
            Ok(Ok(done)) => tracing::debug!(?done, "bootstrap admin token checked"),
            Ok(Err(e)) => tracing::warn!(
                "the bootstrap admin token could not be stored: {}",
                e.message
            ),
            Err(e) => tracing::warn!("the bootstrap admin token could not be stored: {e}"),
        }
    }
    co.set_resume_cause(crate::run::machine::ResumeCause::LeaderChange { node: id });
    co.start();
    loop {
        if status.changed().await.is_err() {
            return GroupError::Stopped("its driver was shut down".into());
        }
        let s = status.borrow_and_update();
        if let Some(why) = &s.stopped {
            return GroupError::Stopped(why.clone());
        }
        if s.node.role != Role::Leader {
            return GroupError::Deposed {
                id: s.node.id,
                term: s.node.term,
            };
        }
    }
}
