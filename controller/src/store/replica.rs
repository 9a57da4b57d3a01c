//! A replicated store: with `--peer`, [`Db::execute`] proposes each command through the Raft
//! driver instead of writing it to the store's own log, and the Raft node applies committed
//! commands to the one state the store's readers see ([`Db::shared_state`]). Archives (in
//! chunks, before the `CreateTest` that names them) and run checkpoints go through the log too,
//! and every node writes them to its own `controller.redb` (`side.rs`,
//! docs/ha.md#which-writes-go-through-raft).

use std::sync::Arc;
use std::time::Duration;

use super::{Db, StoreError};
use crate::replication::{DriverError, DriverHandle, Payload, Role};
use crate::state::{Applied, Command};

/// What a proposal may wait beyond the driver's own timeout before the caller gives up (a
/// starved runtime may deliver the driver's answer late).
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// The Raft side of a replicated store: where its commands are proposed.
#[derive(Debug, Clone)]
pub struct Replica {
    pub handle: DriverHandle,
    /// The runtime the driver runs on; proposals are started there.
    pub runtime: tokio::runtime::Handle,
}

/// Who leads the controllers' group, as this controller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This controller leads (or runs alone, without Raft): it takes writes and drives runs.
    Here,
    /// Node `id` leads; `api` is its REST API URL once it has told this node.
    Elsewhere { id: u64, api: Option<String> },
    /// No leader is known (an election is under way).
    Unknown,
}

/// Where a replicated store's commands go: the Raft driver ([`Replica`]), or in tests a
/// stand-in whose proposals time out on demand.
pub trait Proposer: Send + Sync + std::fmt::Debug {
    /// Proposes `payload` and blocks until it is applied here, rejected, or the proposal
    /// fails.
    fn propose(&self, payload: Payload) -> Result<Applied, DriverError>;
    /// Who leads the group.
    fn leadership(&self) -> Leadership;
}

impl Proposer for Replica {
    fn propose(&self, payload: Payload) -> Result<Applied, DriverError> {
        Replica::propose(self, payload)
    }

    fn leadership(&self) -> Leadership {
        Replica::leadership(self)
    }
}

impl Replica {
    /// Who leads, from the driver's latest status.
    pub fn leadership(&self) -> Leadership {
        let status = self.handle.status().node;
        if status.role == Role::Leader {
            Leadership::Here
        } else if status.leader == 0 || status.leader == status.id {
            Leadership::Unknown
        } else {
            Leadership::Elsewhere {
                id: status.leader,
                api: self.handle.api_of(status.leader),
            }
        }
    }

    /// Proposes `cmd` and blocks until it is applied here, rejected, or the proposal fails.
    /// Callable from blocking threads and from the workers of a multi-threaded runtime (the
    /// wait then hands the worker's other tasks to another thread).
    fn propose(&self, payload: Payload) -> Result<Applied, DriverError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = self.handle.clone();
        self.runtime.spawn(async move {
            let _ = tx.send(handle.propose_payload(payload).await);
        });
        let waited = self.handle.proposal_timeout() + ANSWER_MARGIN;
        let wait = move || rx.recv_timeout(waited);
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        match answer {
            Ok(outcome) => outcome,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(DriverError::Timeout { waited }),
            // The proposal's task was dropped unanswered: the driver's runtime is gone (the
            // controller is stopping). Nothing more will commit here; a write sent again until
            // committed must not wait for it (docs/ha.md#writes-sent-again).
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(DriverError::Stopped {
                reason: "its runtime stopped before the proposal had an outcome (the \
                         controller is shutting down)"
                    .into(),
            }),
        }
    }
}

impl Db {
    /// Makes this store replicated: from now on commands are proposed through `replica`. The
    /// store must not hold a state of its own (a single controller's data dir).
    pub fn replicate(&self, replica: Replica) -> Result<(), StoreError> {
        let proposer: Arc<dyn Proposer> = Arc::new(replica.clone());
        self.replica
            .set(replica)
            .map_err(|_| StoreError::Replication("the store is replicated already".into()))?;
        self.replicate_through(proposer)
    }

    /// Makes this store replicated through `proposer` alone (in tests, a stand-in for the
    /// Raft driver; [`Self::replica`] stays `None`).
    pub(crate) fn replicate_through(&self, proposer: Arc<dyn Proposer>) -> Result<(), StoreError> {
        self.proposer
            .set(proposer)
            .map_err(|_| StoreError::Replication("the store is replicated already".into()))
    }

    /// Where commands are proposed, when the store is replicated.
    pub(crate) fn proposer(&self) -> Option<&dyn Proposer> {
        self.proposer.get().map(|p| p.as_ref())
    }

    /// Who leads the group (always [`Leadership::Here`] without Raft).
    pub fn leadership(&self) -> Leadership {
        self.proposer()
            .map_or(Leadership::Here, Proposer::leadership)
    }

    /// The Raft driver, when the store is replicated.
    pub fn replica(&self) -> Option<&Replica> {
        self.replica.get()
    }

    /// A replicated command: the quota is checked here; the archive (if any) is proposed in
    /// chunks first, unless this node holds it already (then a quorum does: archives only
    /// arrive through the log), so the `CreateTest` is committed only after its archive is on
    /// a quorum; the outcome is the Raft group's.
    pub(super) fn execute_replicated(
        &self,
        replica: &dyn Proposer,
        cmd: &Command,
        archive: Option<&[u8]>,
    ) -> Result<Applied, StoreError> {
        if let (Some(archive), Command::CreateTest { archive_sha256, .. }) = (archive, cmd) {
            self.read(|state| self.check_quota(state, cmd))?;
            let sha = archive_sha256.to_ascii_lowercase();
            if self.get_content(&sha)?.is_none() {
                for chunk in Payload::content_chunks(&sha, archive) {
                    self.propose_replicated(replica, chunk)?;
                }
            }
        }
        self.propose_replicated(replica, Payload::Command(Box::new(cmd.clone())))
    }

    /// Proposes `payload` and waits for the group's outcome.
    pub(super) fn propose_replicated(
        &self,
        replica: &dyn Proposer,
        payload: Payload,
    ) -> Result<Applied, StoreError> {
        replica.propose(payload).map_err(|e| match e {
            DriverError::Rejected(e) => StoreError::Rejected(e),
            // Not committed in time, or not taken yet: sending it again may succeed.
            e @ (DriverError::Timeout { .. } | DriverError::Busy) => {
                StoreError::NotCommitted(e.to_string())
            }
            e => StoreError::Replication(e.to_string()),
        })
    }
}
