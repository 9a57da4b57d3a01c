//! One controller's Raft replica as a pure core, in raft-rs' "Ready loop" style: a driver feeds
//! it inputs ([`Node::tick`] on its clock, [`Node::step`] for each message from a peer,
//! [`Node::propose`] for a command) and then calls [`Node::handle_ready`], which makes the Ready
//! durable in the node's [`RaftStorage`], applies the committed entries to the controller's
//! [`State`] and returns the effects for the driver to perform: the messages to send to peers and
//! the outcome of every applied command. The node reads no clock and opens no socket, so tests
//! drive three of them over a simulated network with a fake clock (see the replication tests),
//! as the run machine is driven (controller/src/run/machine.rs).
//!
//! Committed entries are the store's [`Command`]s, serialized as the store serializes them
//! (JSON), and are applied through the same [`State::apply`]: the state machine stays the one
//! truth, and a command the state rejects is rejected identically on every replica (the state
//! is unchanged, and the rejection is reported to the proposer). Snapshots are the [`State`] as
//! JSON, as the store's snapshots are. See docs/ha.md.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeType, ConfChangeV2, Entry, EntryType, Message, MessageType, Snapshot,
};
use raft::{RawNode, ReadOnlyOption, SnapshotStatus, StateRole};
use thiserror::Error;

use super::payload::{Payload, SideStore};
use super::storage::{Persist, RaftStorage, RaftStoreError};
use crate::state::{Applied, Command, Effect, State, StateError};

/// Election and heartbeat timing, in ticks of the driver's clock ([`TICK`] in production).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's id (1 or more, unique in the group).
    pub id: u64,
    /// A follower that heard nothing from a leader for a random number of ticks in
    /// `[election_tick, 2 × election_tick)` starts an election; a leader that heard from no
    /// quorum for `election_tick` ticks steps down (check-quorum).
    pub election_tick: usize,
    /// A leader sends heartbeats every this many ticks.
    pub heartbeat_tick: usize,
    /// Bounds of the randomized election timeout (0: raft-rs' defaults, `election_tick` and
    /// `2 × election_tick`). Tests pin them per node to make a simulation reproducible.
    pub min_election_tick: usize,
    pub max_election_tick: usize,
    /// Compact the log into a snapshot after this many applied entries (0: never).
    pub snapshot_every: u64,
    /// Compact it too once the entries applied since the last snapshot hold this many bytes
    /// (0: never): checkpoints are large entries, and the log must not grow by one per second
    /// per run until `snapshot_every` entries are reached.
    pub snapshot_bytes: u64,
    /// Largest batch of entries in one append message.
    pub max_size_per_msg: u64,
    /// Most append messages in flight to one follower.
    pub max_inflight_msgs: usize,
}

/// The production tick: election timeout 1–2 s, heartbeats every 200 ms (docs/ha.md).
pub const TICK: std::time::Duration = std::time::Duration::from_millis(100);

impl NodeConfig {
    /// Production timing (docs/ha.md#timeouts).
    pub fn new(id: u64) -> NodeConfig {
        NodeConfig {
            id,
            election_tick: 10,
            heartbeat_tick: 2,
            min_election_tick: 0,
            max_election_tick: 0,
            snapshot_every: 1000,
            snapshot_bytes: 64 << 20,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
        }
    }
}

/// A node's role in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Identifies one proposal: the proposing node and its sequence number there. Carried in the
/// entry's context, so the proposer can match the outcome when the entry is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId {
    pub node: u64,
    pub seq: u64,
}

impl ProposalId {
    fn encode(self) -> Vec<u8> {
        let mut v = self.node.to_le_bytes().to_vec();
        v.extend_from_slice(&self.seq.to_le_bytes());
        v
    }

    fn decode(b: &[u8]) -> Option<ProposalId> {
        let node = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        (b.len() == 16).then_some(ProposalId { node, seq })
    }
}

/// One committed command, applied.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedEntry {
    /// Its Raft index.
    pub index: u64,
    /// Who proposed it, if it came through [`Node::propose`].
    pub proposal: Option<ProposalId>,
    /// What the state machine did with it (a rejection leaves the state unchanged everywhere).
    pub outcome: Result<Applied, StateError>,
}

/// The effects of one [`Node::handle_ready`], for the driver to perform.
#[derive(Debug, Default)]
pub struct Output {
    /// To send to peers (`to` names the peer), after which the node may be told
    /// [`Node::report_unreachable`] or [`Node::report_snapshot`].
    pub messages: Vec<Message>,
    /// Commands applied to the state, in log order.
    pub applied: Vec<AppliedEntry>,
}

/// A change of the group's membership, one node at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    AddVoter(u64),
    Remove(u64),
}

/// Longest Raft port URL a membership change or a snapshot may carry for a node.
pub const MAX_RAFT_URL: usize = 2048;

/// Whether `url` can be a peer's Raft port URL (`http(s)://…`, bounded, printable).
pub fn valid_raft_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= MAX_RAFT_URL
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// A node's view of its group, for status pages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub id: u64,
    pub role: Role,
    pub term: u64,
    /// The leader this node knows of (0: none).
    pub leader: u64,
    pub commit: u64,
    pub applied: u64,
    pub snapshot_index: u64,
    pub last_index: u64,
    /// On the leader, the last log index each voter is known to hold (itself included), by
    /// node id; empty on other nodes.
    pub matched: Vec<(u64, u64)>,
    /// The voters as of the last applied membership change (empty on a node started with
    /// `--join` that was not added yet).
    pub voters: Vec<u64>,
}

/// Why a node operation failed.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error(
        "this controller (node {id}) is not the Raft leader{}; send writes to the leader",
        match .leader { Some(l) => format!(" (node {l} is)"), None => " and knows of no leader yet".into() }
    )]
    NotLeader { id: u64, leader: Option<u64> },
    #[error(transparent)]
    Storage(#[from] RaftStoreError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("cannot encode a command: {0}")]
    Encode(serde_json::Error),
    #[error(
        "the snapshot at index {index} does not hold a controller state ({detail}); move the \
         Raft log away and let the node catch up from the others"
    )]
    BadSnapshot { index: u64, detail: String },
    #[error("cannot store replicated data in the controller's store: {0}")]
    Side(String),
    /// A membership change this group cannot make (the message says why and what to do).
    #[error("{0}")]
    Membership(String),
}

/// The controller state a node applies to, shared with the readers of the store
/// ([`crate::store::Db::shared_state`]) so a replicated controller keeps one copy of it.
pub type SharedState = Arc<RwLock<State>>;

/// One replica: raft-rs' `RawNode` over redb, and the controller state it applies to.
pub struct Node {
    id: u64,
    raw: RawNode<RaftStorage>,
    state: SharedState,
    /// The last Raft index applied (commands, no-ops and membership changes alike).
    applied: u64,
    next_seq: u64,
    snapshot_every: u64,
    snapshot_bytes: u64,
    /// Bytes of the entries applied since the last compaction.
    applied_bytes: u64,
    /// A membership change was applied since the last compaction.
    membership_changed: bool,
    /// Where archives and checkpoints go (`None`: commands only, as in the Raft tests).
    side: Option<Arc<dyn SideStore>>,
    /// The Raft port URL of every other node this one knows: from `--peer`, from the
    /// membership changes that added them, and from the snapshots it installed.
    addresses: BTreeMap<u64, String>,
    /// Grows each time `addresses` changes, so the driver knows to reconnect.
    addresses_version: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("status", &self.status())
            .finish()
    }
}

impl Node {
    /// Starts a replica on `storage`. A new storage gets the static membership `voters` (the
    /// same list on every node); an existing one keeps its own. The state is the stored
    /// snapshot's; the committed entries after it are applied again by the first
    /// [`Self::handle_ready`], from the node's own log.
    pub fn open(
        config: &NodeConfig,
        storage: RaftStorage,
        voters: &[u64],
    ) -> Result<Node, NodeError> {
        Node::open_shared(config, storage, voters, SharedState::default())
    }

    /// [`Self::open`], applying to `shared` (which first gets the stored snapshot's state).
    pub fn open_shared(
        config: &NodeConfig,
        mut storage: RaftStorage,
        voters: &[u64],
        shared: SharedState,
    ) -> Result<Node, NodeError> {
        storage.initialize(voters)?;
        let snap = storage.load_snapshot()?;
        let applied = snap.get_metadata().index;
        // The store's checkpoints are as of the last entry applied before the stop, and the
        // entries after the snapshot are applied again: they are not replaced from it here.
        let decoded = decode_snapshot(&snap)?;
        *shared.write().unwrap_or_else(PoisonError::into_inner) = decoded.state;
        let mut addresses = decoded.extras.peers;
        addresses.remove(&config.id);
        let state = shared;
        let cfg = raft::Config {
            id: config.id,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            min_election_tick: config.min_election_tick,
            max_election_tick: config.max_election_tick,
            applied,
            max_size_per_msg: config.max_size_per_msg,
            max_inflight_msgs: config.max_inflight_msgs,
            // A leader that cannot reach a quorum steps down within an election timeout, and a
            // follower that hears from its leader ignores vote requests (leader lease).
            check_quorum: true,
            pre_vote: true,
            read_only_option: ReadOnlyOption::Safe,
            ..Default::default()
        };
        cfg.validate()?;
        let raw = RawNode::new(&cfg, storage, &super::raft_logger(config.id))?;
        Ok(Node {
            id: config.id,
            raw,
            state,
            applied,
            // A random start: an entry proposed by an earlier run of this node and committed
            // after its restart must not be taken for a new proposal with the same number.
            next_seq: getrandom::u64().unwrap_or(1) >> 1,
            snapshot_every: config.snapshot_every,
            snapshot_bytes: config.snapshot_bytes,
            applied_bytes: 0,
            membership_changed: false,
            side: None,
            addresses,
            addresses_version: 0,
        })
    }

    /// Adds the Raft port URLs this node was started with (`--peer`): they win over what its
    /// snapshot recorded for the same ids (the operator's latest word).
    pub fn with_peers(mut self, peers: &BTreeMap<u64, String>) -> Node {
        for (&id, url) in peers {
            if id != self.id {
                self.addresses.insert(id, url.clone());
            }
        }
        self.addresses_version += 1;
        self
    }

    /// The Raft port URL of every other node this one knows, and a number that grows each
    /// time they change.
    pub fn addresses(&self) -> (&BTreeMap<u64, String>, u64) {
        (&self.addresses, self.addresses_version)
    }

    /// Makes this node replicate archives and checkpoints too, into `side` (the controller's
    /// store), and carry the checkpoints in its snapshots.
    pub fn with_side(mut self, side: Arc<dyn SideStore>) -> Node {
        self.side = Some(side);
        self
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where this node keeps archives and checkpoints, if it does.
    pub fn side(&self) -> Option<Arc<dyn SideStore>> {
        self.side.clone()
    }

    /// The replicated controller state, as of the last applied entry.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// One tick of the driver's clock.
    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// A message from a peer. Messages from unknown peers or of local types are dropped with a
    /// debug log (a peer cannot make this node fail).
    pub fn step(&mut self, msg: Message) -> Result<(), NodeError> {
        match self.raw.step(msg) {
            Ok(()) => Ok(()),
            Err(raft::Error::StepPeerNotFound | raft::Error::StepLocalMsg) => {
                tracing::debug!(node = self.id, "dropped a Raft message it cannot take");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Proposes `cmd` for replication. Only the leader accepts proposals; its outcome comes
    /// back in [`Output::applied`] with the returned id once a quorum stored it. A proposal may
    /// also be lost (a leader change before it committed): the caller waits with a timeout.
    pub fn propose(&mut self, cmd: &Command) -> Result<ProposalId, NodeError> {
        self.propose_payload(&Payload::Command(Box::new(cmd.clone())))
    }

    /// Proposes a command or side data (an archive chunk, a checkpoint): see [`Self::propose`].
    /// Side data is applied as [`Effect::Stored`].
    pub fn propose_payload(&mut self, payload: &Payload) -> Result<ProposalId, NodeError> {
        if self.raw.raft.state != StateRole::Leader {
            return Err(self.not_leader());
        }
        let data = payload.encode().map_err(NodeError::Encode)?;
        let id = ProposalId {
            node: self.id,
            seq: self.next_seq,
        };
        self.raw.propose(id.encode(), data).map_err(|e| match e {
            raft::Error::ProposalDropped => self.not_leader(),
            e => e.into(),
        })?;
        self.next_seq += 1;
        Ok(id)
    }

    /// Proposes a membership change (only on the leader; one at a time). A node that lost its
    /// disk must be removed and added back, as it forgot its votes and its log
    /// (docs/ha.md#a-node-that-lost-its-disk).
    pub fn propose_membership(&mut self, change: Membership) -> Result<ProposalId, NodeError> {
        self.propose_membership_at(change, None)
    }

    /// [`Self::propose_membership`], telling every node the Raft port URL of a node added
    /// (carried in the change, so each node learns where to send to it). Refuses, naming the
    /// fix, what the group cannot do: a second change before the first is applied (raft-rs
    /// would drop it), adding a voter, removing a node that is not one, the last voter, or
    /// this leader itself (docs/ha.md#changing-the-membership). The outcome comes back in
    /// [`Output::applied`] with the returned id.
    pub fn propose_membership_at(
        &mut self,
        change: Membership,
        raft_url: Option<&str>,
    ) -> Result<ProposalId, NodeError> {
        if self.raw.raft.state != StateRole::Leader {
            return Err(self.not_leader());
        }
        let refuse = |m: String| Err(NodeError::Membership(m));
        if self.raw.raft.pending_conf_index > self.raw.raft.raft_log.applied {
            return refuse(
                "another membership change is not applied yet: the group changes one node at \
                 a time; retry in a moment"
                    .into(),
            );
        }
        let voters = self.voters();
        let mut cc = ConfChange::default();
        match change {
            Membership::AddVoter(0) | Membership::Remove(0) => {
                return refuse("node ids start at 1".into())
            }
            Membership::AddVoter(id) => {
                if voters.contains(&id) {
                    return refuse(already_a_voter(id, &voters));
                }
                if let Some(url) = raft_url {
                    if !valid_raft_url(url) {
                        return refuse(format!(
                            "{url:?} is not a Raft port URL: give HOST:PORT, e.g. 10.0.0.4:6567"
                        ));
                    }
                    cc.context = url.as_bytes().to_vec().into();
                }
                cc.set_change_type(ConfChangeType::AddNode);
                cc.node_id = id;
            }
            Membership::Remove(id) => {
                if !voters.contains(&id) {
                    return refuse(format!(
                        "node {id} is not in the group (voters {voters:?}): nothing to remove"
                    ));
                }
                if voters.len() == 1 {
                    return refuse(format!(
                        "node {id} is the group's only voter and cannot be removed: a group \
                         needs one controller; stop its process instead"
                    ));
                }
                if id == self.id {
                    return refuse(format!(
                        "node {id} is the leader and does not remove itself: stop node {id}'s \
                         process so that the others elect a new leader (within about 3 s), \
                         then remove it again through any of them{}",
                        if voters.len() == 2 {
                            "; in a group of two the other node alone has no quorum, so \
                             remove that one instead, or add a third node first"
                        } else {
                            ""
                        }
                    ));
                }
                cc.set_change_type(ConfChangeType::RemoveNode);
                cc.node_id = id;
            }
        }
        let id = ProposalId {
            node: self.id,
            seq: self.next_seq,
        };
        self.raw.propose_conf_change(id.encode(), cc)?;
        self.next_seq += 1;
        Ok(id)
    }

    /// The voters as of the last applied membership change.
    pub fn voters(&self) -> Vec<u64> {
        self.raw.store().conf_state().voters.clone()
    }

    /// Starts an election now (tests, and a future leadership transfer).
    pub fn campaign(&mut self) -> Result<(), NodeError> {
        Ok(self.raw.campaign()?)
    }

    /// The driver could not deliver a message to `to`.
    pub fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    /// Whether a snapshot message to `to` was delivered: a failed one is sent again later.
    pub fn report_snapshot(&mut self, to: u64, delivered: bool) {
        let status = if delivered {
            SnapshotStatus::Finish
        } else {
            SnapshotStatus::Failure
        };
        self.raw.report_snapshot(to, status);
    }

    /// Whether [`Self::handle_ready`] has work to do.
    pub fn has_ready(&self) -> bool {
        self.raw.has_ready()
    }

    /// The Ready loop: persist (one fsynced transaction), apply committed entries, advance.
    /// Returns the messages to send (only now: the entries and votes they acknowledge are
    /// durable) and the applied commands.
    pub fn handle_ready(&mut self) -> Result<Output, NodeError> {
        let mut out = Output::default();
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut ready = self.raw.ready();
        out.messages.extend(ready.take_messages());
        let snapshot = (!ready.snapshot().is_empty()).then(|| ready.snapshot().clone());
        if let Some(snap) = &snapshot {
            // Check before anything is written: a snapshot that is not a state is refused whole.
            let decoded = decode_snapshot(snap)?;
            self.raw.mut_store().persist(Persist {
                snapshot: Some(snap),
                ..Persist::default()
            })?;
            if let Some(side) = &self.side {
                side.replace_checkpoints(&decoded.checkpoints)
                    .map_err(NodeError::Side)?;
            }
            *self.state.write().unwrap_or_else(PoisonError::into_inner) = decoded.state;
            self.learn_addresses(decoded.extras.peers);
            self.applied = snap.get_metadata().index;
            self.applied_bytes = 0;
            tracing::info!(
                node = self.id,
                index = self.applied,
                "installed a snapshot from the leader"
            );
        }
        let committed = ready.take_committed_entries();
        self.apply_entries(committed, &mut out)?;
        self.raw.mut_store().persist(Persist {
            snapshot: None,
            entries: ready.entries(),
            hard_state: ready.hs(),
        })?;
        out.messages.extend(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().set_commit(commit)?;
        }
        out.messages.extend(light.take_messages());
        self.apply_entries(light.take_committed_entries(), &mut out)?;
        self.raw.advance_apply();
        self.maybe_compact()?;
        Ok(out)
    }

    /// Where this node stands.
    pub fn status(&self) -> NodeStatus {
        let r = &self.raw.raft;
        NodeStatus {
            id: self.id,
            role: match r.state {
                StateRole::Follower => Role::Follower,
                StateRole::PreCandidate => Role::PreCandidate,
                StateRole::Candidate => Role::Candidate,
                StateRole::Leader => Role::Leader,
            },
            term: r.term,
            leader: r.leader_id,
            commit: r.raft_log.committed,
            applied: self.applied,
            snapshot_index: self.raw.store().snapshot_index(),
            last_index: self.raw.store().last_log_index(),
            matched: if r.state == StateRole::Leader {
                let mut m: Vec<(u64, u64)> =
                    r.prs().iter().map(|(&id, p)| (id, p.matched)).collect();
                m.sort_unstable();
                m
            } else {
                Vec::new()
            },
            voters: self.voters(),
        }
    }

    /// Compacts the log into a snapshot of the current state now (also done on its own every
    /// `snapshot_every` applied entries).
    pub fn compact(&mut self) -> Result<(), NodeError> {
        let state = serde_json::to_vec(&*self.state()).map_err(NodeError::Encode)?;
        let data = match &self.side {
            None => state,
            Some(side) => {
                let extras = SnapshotExtras {
                    peers: self.addresses.clone(),
                };
                encode_snapshot(
                    &state,
                    &side.checkpoints().map_err(NodeError::Side)?,
                    &extras,
                )
                .map_err(NodeError::Encode)?
            }
        };
        self.raw.mut_store().compact(self.applied, &data)?;
        self.applied_bytes = 0;
        Ok(())
    }

    /// Compacts every `snapshot_every` entries, and after every membership change: the
    /// snapshot carries the membership, and a node just added must find itself in the snapshot
    /// it is sent, or it refuses it.
    fn maybe_compact(&mut self) -> Result<(), NodeError> {
        let since = self.applied - self.raw.store().snapshot_index();
        let by_bytes = self.snapshot_bytes > 0 && self.applied_bytes >= self.snapshot_bytes;
        if self.membership_changed
            || by_bytes
            || (self.snapshot_every > 0 && since >= self.snapshot_every)
        {
            self.compact()?;
            self.membership_changed = false;
        }
        Ok(())
    }

    fn apply_entries(&mut self, entries: Vec<Entry>, out: &mut Output) -> Result<(), NodeError> {
        for entry in entries {
            if entry.index <= self.applied {
                continue;
            }
            self.applied = entry.index;
            self.applied_bytes += entry.data.len() as u64;
            let proposal = ProposalId::decode(&entry.context);
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {} // a new leader's no-op
                EntryType::EntryNormal => {
                    let outcome = match Payload::decode(&entry.data) {
                        Ok(Payload::Command(cmd)) => self.apply_command(entry.index, &cmd)?,
                        Ok(side) => self.apply_side(entry.index, side)?,
                        // Every replica decodes the same bytes the same way, so all skip it.
                        Err(problem) => Err(StateError::Invalid {
                            subject: format!("Raft entry {}", entry.index),
                            problem,
                        }),
                    };
                    if let Err(e) = &outcome {
                        tracing::debug!(node = self.id, index = entry.index, error = %e, "replicated command rejected");
                    }
                    out.applied.push(AppliedEntry {
                        index: entry.index,
                        proposal,
                        outcome,
                    });
                }
                EntryType::EntryConfChange => {
                    let mut cc = ConfChange::default();
                    cc.merge_from_bytes(&entry.data)
                        .map_err(raft::Error::CodecError)?;
                    let cs = self.raw.apply_conf_change(&cc)?;
                    self.raw.mut_store().set_conf_state(cs)?;
                    self.membership_changed = true;
                    self.note_membership(&cc);
                    out.applied.push(AppliedEntry {
                        index: entry.index,
                        proposal,
                        outcome: Ok(Applied {
                            index: entry.index,
                            effect: Effect::Stored,
                        }),
                    });
                }
                EntryType::EntryConfChangeV2 => {
                    let mut cc = ConfChangeV2::default();
                    cc.merge_from_bytes(&entry.data)
                        .map_err(raft::Error::CodecError)?;
                    let cs = self.raw.apply_conf_change(&cc)?;
                    self.raw.mut_store().set_conf_state(cs)?;
                    self.membership_changed = true;
                }
            }
        }
        Ok(())
    }

    /// Applies a command to the state; the archives it leaves without a test (a `ForgetRuns`
    /// of streamed runs) leave the store too. An I/O failure stops the node, as in
    /// [`Self::apply_side`].
    fn apply_command(
        &self,
        index: u64,
        cmd: &Command,
    ) -> Result<Result<Applied, StateError>, NodeError> {
        let (outcome, freed) = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            match state.prepare(index, cmd) {
                Ok(prepared) => {
                    let freed = prepared.freed_archives().to_vec();
                    (state.commit(prepared), freed)
                }
                Err(e) => (Err(e), Vec::new()),
            }
        };
        if let (Ok(_), Some(store)) = (&outcome, &self.side) {
            if !freed.is_empty() {
                store.drop_contents(&freed).map_err(NodeError::Side)?;
            }
        }
        Ok(outcome)
    }

    /// Writes an entry's side data to the store. An I/O failure stops the node (its store
    /// would miss what the others hold); data the entry makes invalid is rejected everywhere.
    fn apply_side(
        &self,
        index: u64,
        side: Payload,
    ) -> Result<Result<Applied, StateError>, NodeError> {
        let stored = Ok(Applied {
            index,
            effect: Effect::Stored,
        });
        let Some(store) = &self.side else {
            // A node without a store (the Raft tests) keeps no side data.
            return Ok(stored);
        };
        match side {
            Payload::Command(_) => {}
            Payload::Content {
                sha256,
                total,
                offset,
                bytes,
            } => {
                if let Err(problem) = store
                    .put_content_chunk(&sha256, total, offset, &bytes)
                    .map_err(NodeError::Side)?
                {
                    return Ok(Err(StateError::Invalid {
                        subject: format!("the archive {sha256}"),
                        problem,
                    }));
                }
            }
            Payload::Checkpoint { run_id, bytes } => {
                store
                    .put_checkpoint(run_id, &bytes)
                    .map_err(NodeError::Side)?;
            }
            Payload::DropCheckpoint { run_id } => {
                store.drop_checkpoint(run_id).map_err(NodeError::Side)?;
            }
        }
        Ok(stored)
    }

    /// Learns where a node added lives (the change carries its Raft port URL), or forgets a
    /// node removed.
    fn note_membership(&mut self, cc: &ConfChange) {
        let id = cc.node_id;
        if id == self.id {
            return;
        }
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                let Ok(url) = std::str::from_utf8(&cc.context) else {
                    return;
                };
                if valid_raft_url(url) && self.addresses.get(&id).map(String::as_str) != Some(url) {
                    self.addresses.insert(id, url.to_string());
                    self.addresses_version += 1;
                }
            }
            ConfChangeType::RemoveNode => {
                if self.addresses.remove(&id).is_some() {
                    self.addresses_version += 1;
                }
            }
        }
    }

    /// Takes the addresses an installed snapshot recorded; keeps the ones this node knows of
    /// the other voters (a joining node knows the leader from `--peer`, and the leader's
    /// snapshot does not name the leader itself); forgets nodes that are no longer voters.
    fn learn_addresses(&mut self, peers: BTreeMap<u64, String>) {
        let voters = self.voters();
        let mut next = self.addresses.clone();
        next.extend(
            peers
                .into_iter()
                .filter(|(id, url)| *id != self.id && valid_raft_url(url)),
        );
        next.retain(|id, _| voters.contains(id));
        if next != self.addresses {
            self.addresses = next;
            self.addresses_version += 1;
        }
    }

    fn not_leader(&self) -> NodeError {
        let leader = self.raw.raft.leader_id;
        NodeError::NotLeader {
            id: self.id,
            leader: (leader != 0 && leader != self.id).then_some(leader),
        }
    }
}

/// Why node `id` cannot be added to a group whose voters are `voters`.
pub(crate) fn already_a_voter(id: u64, voters: &[u64]) -> String {
    format!(
        "node {id} is already in the group (voters {voters:?}): give the new controller an id \
         no node has, or remove node {id} first"
    )
}

/// Whether `m` carries a snapshot (the driver reports its delivery with
/// [`Node::report_snapshot`]).
pub fn is_snapshot(m: &Message) -> bool {
    m.get_msg_type() == MessageType::MsgSnapshot
}

/// Marks a snapshot that carries checkpoints besides the state (a bare state is JSON, `{…`).
const SNAPSHOT_MAGIC: &[u8; 8] = b"VSNAP1\0\0";
/// The same, followed by [`SnapshotExtras`].
const SNAPSHOT_MAGIC_2: &[u8; 8] = b"VSNAP2\0\0";

/// What a snapshot carries besides the state and the checkpoints: where the nodes are.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotExtras {
    /// The Raft port URL of every node the snapshotting node knew (not itself).
    #[serde(default)]
    pub peers: BTreeMap<u64, String>,
}

/// A snapshot with checkpoints: the magic, the state's length (u64 LE) and JSON, the number of
/// checkpoints (u64 LE), then each as run id, length (u64 LE) and bytes, then the extras'
/// length (u64 LE) and JSON.
fn encode_snapshot(
    state: &[u8],
    checkpoints: &[(u64, Vec<u8>)],
    extras: &SnapshotExtras,
) -> Result<Vec<u8>, serde_json::Error> {
    let extras = serde_json::to_vec(extras)?;
    let size = checkpoints.iter().map(|(_, b)| 16 + b.len()).sum::<usize>();
    let mut out = Vec::with_capacity(32 + state.len() + size + extras.len());
    out.extend_from_slice(SNAPSHOT_MAGIC_2);
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    out.extend_from_slice(&(checkpoints.len() as u64).to_le_bytes());
    for (run, bytes) in checkpoints {
        out.extend_from_slice(&run.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&(extras.len() as u64).to_le_bytes());
    out.extend_from_slice(&extras);
    Ok(out)
}

/// A snapshot's contents.
struct SnapshotData {
    state: State,
    checkpoints: Vec<(u64, Vec<u8>)>,
    extras: SnapshotExtras,
}

fn decode_snapshot(snap: &Snapshot) -> Result<SnapshotData, NodeError> {
    let index = snap.get_metadata().index;
    let bad = |detail: String| NodeError::BadSnapshot { index, detail };
    let data = snap.get_data();
    let bare = |state| SnapshotData {
        state,
        checkpoints: Vec::new(),
        extras: SnapshotExtras::default(),
    };
    if data.is_empty() {
        return Ok(bare(State::new()));
    }
    let (rest, with_extras) = if let Some(rest) = data.strip_prefix(SNAPSHOT_MAGIC_2.as_slice()) {
        (rest, true)
    } else if let Some(rest) = data.strip_prefix(SNAPSHOT_MAGIC.as_slice()) {
        (rest, false)
    } else {
        let state = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
        return Ok(bare(state));
    };
    let early = || bad("it ends early".into());
    let mut cur = Cursor(rest);
    let len = cur.number().ok_or_else(early)?;
    let state_bytes = cur.take(len).ok_or_else(early)?;
    let state = serde_json::from_slice(state_bytes).map_err(|e| bad(e.to_string()))?;
    let count = cur.number().ok_or_else(early)?;
    let mut checkpoints = Vec::new();
    for _ in 0..count {
        let (Some(run), Some(len)) = (cur.number(), cur.number()) else {
            return Err(early());
        };
        let bytes = cur.take(len).ok_or_else(early)?;
        checkpoints.push((run, bytes.to_vec()));
    }
    let extras = if with_extras {
        let len = cur.number().ok_or_else(early)?;
        let bytes = cur.take(len).ok_or_else(early)?;
        serde_json::from_slice(bytes).map_err(|e| bad(format!("its extras: {e}")))?
    } else {
        SnapshotExtras::default()
    };
    Ok(SnapshotData {
        state,
        checkpoints,
        extras,
    })
}

/// Reads a snapshot's fields in order.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn number(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}
