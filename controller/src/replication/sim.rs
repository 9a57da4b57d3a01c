//! A deterministic simulation for the replication tests: nodes on their own redb files, a fake
//! clock (one [`Sim::step`] = one tick of every live node) and an in-memory network that drops,
//! delays and partitions messages with a seeded generator. Each node's election timeout is
//! pinned (node 1 shortest) so a seed always plays out the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use raft::eraftpb::Message;

use super::node::{is_snapshot, AppliedEntry, Node, NodeConfig, NodeError, ProposalId, Role};
use super::payload::SideStore;
use super::storage::RaftStorage;
use crate::state::Command;
use crate::temp_dir::TempDir;

pub const ELECTION_TICK: u64 = 10;

struct InFlight {
    deliver_at: u64,
    seq: u64,
    msg: Message,
}

pub struct Sim {
    nodes: BTreeMap<u64, Option<Node>>,
    dirs: BTreeMap<u64, TempDir>,
    voters: Vec<u64>,
    snapshot_every: u64,
    pub now: u64,
    rng: u64,
    seq: u64,
    in_flight: Vec<InFlight>,
    /// Percent of messages lost.
    pub drop_percent: u64,
    /// Messages take 0..=max_delay ticks (0: within the tick they were sent in).
    pub max_delay: u64,
    /// Directed links that lose everything.
    cut: BTreeSet<(u64, u64)>,
    /// Everything each node applied, in order (across restarts).
    pub applied: BTreeMap<u64, Vec<AppliedEntry>>,
    /// Snapshot messages delivered, by receiver.
    pub snapshots_delivered: BTreeMap<u64, u64>,
    /// Each node's side data (archives, checkpoints), when the nodes keep it.
    pub sides: BTreeMap<u64, Arc<MemSide>>,
    with_sides: bool,
    /// Nodes that were wiped to join again as `--join` does: no membership, no `--peer`.
    joining: BTreeSet<u64>,
}

/// Side data in memory, as a controller's store keeps it (`crate::store::Db`): an archive is
/// stored once all its chunks are there.
#[derive(Debug, Default)]
pub struct MemSide {
    pub content: Mutex<BTreeMap<String, Vec<u8>>>,
    parts: Mutex<BTreeMap<(String, u64), Vec<u8>>>,
    pub checkpoints: Mutex<BTreeMap<u64, Vec<u8>>>,
}

impl SideStore for MemSide {
    fn archive(&self, sha256: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.content.lock().unwrap().get(sha256).cloned())
    }

    fn put_content_chunk(
        &self,
        sha256: &str,
        total: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<Result<(), String>, String> {
        let mut parts = self.parts.lock().unwrap();
        parts.insert((sha256.to_string(), offset), bytes.to_vec());
        let mine: Vec<u8> = parts
            .iter()
            .filter(|((s, _), _)| s == sha256)
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        if mine.len() as u64 == total {
            parts.retain(|(s, _), _| s != sha256);
            self.content
                .lock()
                .unwrap()
                .insert(sha256.to_string(), mine);
        }
        Ok(Ok(()))
    }

    fn put_checkpoint(&self, run_id: u64, bytes: &[u8]) -> Result<(), String> {
        self.checkpoints
            .lock()
            .unwrap()
            .insert(run_id, bytes.to_vec());
        Ok(())
    }

    fn drop_checkpoint(&self, run_id: u64) -> Result<(), String> {
        self.checkpoints.lock().unwrap().remove(&run_id);
        Ok(())
    }

    fn drop_contents(&self, sha256s: &[String]) -> Result<(), String> {
        let mut content = self.content.lock().unwrap();
        for sha in sha256s {
            content.remove(sha);
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, String> {
        Ok(self
            .checkpoints
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    fn replace_checkpoints(&self, checkpoints: &[(u64, Vec<u8>)]) -> Result<(), String> {
        *self.checkpoints.lock().unwrap() = checkpoints.iter().cloned().collect();
        Ok(())
    }
}

impl Sim {
    pub fn new(n: u64, seed: u64, snapshot_every: u64) -> Sim {
        Sim::build(n, seed, snapshot_every, false)
    }

    /// [`Sim::new`] with nodes that keep side data, each in its own [`MemSide`].
    pub fn with_sides(n: u64, seed: u64, snapshot_every: u64) -> Sim {
        Sim::build(n, seed, snapshot_every, true)
    }

    fn build(n: u64, seed: u64, snapshot_every: u64, with_sides: bool) -> Sim {
        let voters: Vec<u64> = (1..=n).collect();
        let mut sim = Sim {
            nodes: BTreeMap::new(),
            dirs: BTreeMap::new(),
            voters: voters.clone(),
            snapshot_every,
            now: 0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            seq: 0,
            in_flight: Vec::new(),
            drop_percent: 0,
            max_delay: 0,
            cut: BTreeSet::new(),
            applied: BTreeMap::new(),
            snapshots_delivered: BTreeMap::new(),
            sides: BTreeMap::new(),
            with_sides,
            joining: BTreeSet::new(),
        };
        for id in voters {
            sim.dirs.insert(id, TempDir::new(&format!("raft-n{id}")));
            sim.open(id);
        }
        sim
    }

    fn config(&self, id: u64) -> NodeConfig {
        let min = ELECTION_TICK as usize + 4 * (id as usize - 1);
        NodeConfig {
            min_election_tick: min,
            max_election_tick: min + 1,
            snapshot_every: self.snapshot_every,
            ..NodeConfig::new(id)
        }
    }

    fn open(&mut self, id: u64) {
        let storage = RaftStorage::open(&self.dirs[&id].0).expect("open the Raft storage");
        let joining = self.joining.contains(&id);
        let voters = if joining { &[][..] } else { &self.voters[..] };
        let mut node = Node::open(&self.config(id), storage, voters).expect("open the node");
        if !joining {
            // Every node is told where the others are, as `--peer` does.
            let peers = self
                .voters
                .iter()
                .filter(|&&v| v != id)
                .map(|&v| (v, format!("http://sim-{v}:1")))
                .collect();
            node = node.with_peers(&peers);
        }
        if self.with_sides {
            let side = self.sides.entry(id).or_default().clone();
            node = node.with_side(side);
        }
        self.nodes.insert(id, Some(node));
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes[&id].as_ref().expect("the node is up")
    }

    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .get_mut(&id)
            .and_then(Option::as_mut)
            .expect("the node is up")
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(Option::is_some)
    }

    /// Kills a node: its in-memory state is gone, its file stays.
    pub fn crash(&mut self, id: u64) {
        self.nodes.insert(id, None);
    }

    /// Starts a crashed node again from its file.
    pub fn restart(&mut self, id: u64) {
        assert!(!self.is_up(id), "node {id} is running");
        self.open(id);
    }

    /// Kills a node and loses its disk: it restarts empty.
    pub fn wipe(&mut self, id: u64) {
        self.crash(id);
        self.sides.remove(&id);
        self.dirs
            .insert(id, TempDir::new(&format!("raft-n{id}-wiped")));
        self.open(id);
    }

    /// [`Sim::wipe`], the node then opening as a controller started with `--join`: no
    /// membership of its own and no `--peer`.
    pub fn wipe_to_join(&mut self, id: u64) {
        self.joining.insert(id);
        self.wipe(id);
    }

    /// Cuts every link between `group` and the other nodes, both ways.
    pub fn partition(&mut self, group: &[u64]) {
        for &a in group {
            for &b in &self.voters {
                if !group.contains(&b) {
                    self.cut.insert((a, b));
                    self.cut.insert((b, a));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// The live leader of the highest term, if any.
    pub fn leader(&self) -> Option<u64> {
        self.nodes
            .values()
            .flatten()
            .filter(|n| n.status().role == Role::Leader)
            .max_by_key(|n| n.status().term)
            .map(|n| n.id())
    }

    pub fn propose(&mut self, on: u64, cmd: &Command) -> Result<ProposalId, NodeError> {
        self.node_mut(on).propose(cmd)
    }

    /// One tick: every live node ticks, then messages due are delivered and Readies handled
    /// until the network is quiet for this tick.
    pub fn step(&mut self) {
        self.now += 1;
        for node in self.nodes.values_mut().flatten() {
            node.tick();
        }
        for _round in 0..1000 {
            let delivered = self.deliver_due();
            let sent = self.handle_readies();
            if delivered == 0 && sent == 0 {
                return;
            }
        }
        panic!("the simulated network did not settle within one tick");
    }

    /// Steps until `done` holds (true) or `max_ticks` passed (false).
    pub fn run_until(&mut self, max_ticks: u64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        for _ in 0..max_ticks {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.step();
        }
    }

    /// Serialized state of a node, for byte-for-byte comparison.
    pub fn state_bytes(&self, id: u64) -> Vec<u8> {
        serde_json::to_vec(&*self.node(id).state()).expect("serialize the state")
    }

    /// Whether the proposal was applied (successfully or rejected) on node `id`.
    pub fn applied_on(&self, id: u64, p: ProposalId) -> bool {
        self.applied
            .get(&id)
            .is_some_and(|v| v.iter().any(|a| a.proposal == Some(p)))
    }

    fn deliver_due(&mut self) -> usize {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|m| m.deliver_at <= now);
        self.in_flight = later;
        let mut due = due;
        due.sort_by_key(|m| (m.deliver_at, m.seq));
        let n = due.len();
        for InFlight { msg, .. } in due {
            let (from, to) = (msg.from, msg.to);
            let snapshot = is_snapshot(&msg);
            let lost = self.cut.contains(&(from, to))
                || !self.is_up(to)
                || self.rand() % 100 < self.drop_percent;
            if lost {
                if self.is_up(from) {
                    let sender = self.node_mut(from);
                    if snapshot {
                        sender.report_snapshot(to, false);
                    }
                    sender.report_unreachable(to);
                }
                continue;
            }
            self.node_mut(to).step(msg).expect("step a message");
            if snapshot {
                *self.snapshots_delivered.entry(to).or_default() += 1;
                if self.is_up(from) {
                    self.node_mut(from).report_snapshot(to, true);
                }
            }
        }
        n
    }

    fn handle_readies(&mut self) -> usize {
        let mut outgoing = Vec::new();
        let ids: Vec<u64> = self.voters.clone();
        for id in ids {
            let Some(node) = self.nodes.get_mut(&id).and_then(Option::as_mut) else {
                continue;
            };
            while node.has_ready() {
                let out = node.handle_ready().expect("handle a Ready");
                outgoing.extend(out.messages);
                self.applied.entry(id).or_default().extend(out.applied);
            }
        }
        let n = outgoing.len();
        for msg in outgoing {
            let delay = if self.max_delay == 0 {
                0
            } else {
                self.rand() % (self.max_delay + 1)
            };
            self.seq += 1;
            self.in_flight.push(InFlight {
                deliver_at: self.now + delay,
                seq: self.seq,
                msg,
            });
        }
        n
    }
}
