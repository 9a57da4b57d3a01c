//! The Raft loop keeps its leadership while the controller's own runtime is starved
//! (docs/ha.md#the-driver): three drivers, each started from its own "controller runtime" (a
//! two-worker tokio runtime, as on a two-core machine), over real gRPC on 127.0.0.1. The
//! leader's runtime, then a follower's, has every worker taken by CPU-bound tasks that never
//! yield — as a heavy merge of many agents' batches does — for [`STARVED`], more than three
//! election timeouts. No term may change meanwhile, and the leader still commits a proposal.
//! With the loop on the controller's runtime, a starved leader sends no heartbeats and the
//! followers elect another (measured: 1.2–1.6 s in); with only its peer service there, it
//! hears no follower and steps down (check-quorum, 1.5 s in). A starved follower's pre-votes
//! fail while the others hear the leader, so that phase passes either way: it guards that the
//! follower's side stays harmless.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{Driver, DriverConfig, DriverHandle};
use super::node::{Node, NodeConfig, NodeStatus, Role};
use super::storage::RaftStorage;
use crate::state::{Command, Effect};
use crate::temp_dir::TempDir;

/// Longer than three election timeouts (each at most 2 s, docs/ha.md#timeouts).
const STARVED: Duration = Duration::from_secs(7);
/// Workers of each controller runtime.
const WORKERS: usize = 2;
/// How long the group may take to elect its first leader on a machine busy with other builds.
const ELECTION_BOUND: Duration = Duration::from_secs(20);

/// A controller's runtime, as `volley controller` builds it on a two-core machine.
fn controller_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("build a controller runtime")
}

/// Takes every worker of `rt` with a CPU-bound task that never yields, until dropped (or, as a
/// safety net, for a minute).
struct Saturation {
    stop: Arc<AtomicBool>,
}

impl Saturation {
    /// Returns once every worker spins (within 10 s, or the test fails saying so).
    fn start(rt: &tokio::runtime::Runtime) -> Saturation {
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = Arc::new(AtomicUsize::new(0));
        for _ in 0..WORKERS {
            let (stop, spinning) = (stop.clone(), spinning.clone());
            rt.spawn(async move {
                spinning.fetch_add(1, Ordering::SeqCst);
                let end = Instant::now() + Duration::from_secs(60);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                    n = n.wrapping_add(1);
                    std::hint::spin_loop();
                }
                n
            });
        }
        let saturation = Saturation { stop };
        let started = Instant::now();
        while spinning.load(Ordering::SeqCst) < WORKERS {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "only {} of the runtime's {WORKERS} workers took a spinning task within 10 s",
                spinning.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        saturation
    }
}

impl Drop for Saturation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Group {
    // Drivers before runtimes: a driver is stopped before the runtime it was started from.
    drivers: BTreeMap<u64, Driver>,
    runtimes: BTreeMap<u64, tokio::runtime::Runtime>,
    _dirs: Vec<TempDir>,
}

impl Group {
    /// Three nodes, each driver started from within its own controller runtime.
    fn start() -> Group {
        let dirs: Vec<TempDir> = (1..=3).map(|_| TempDir::new("starved")).collect();
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for id in 1..=3u64 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a Raft port");
            l.set_nonblocking(true).expect("a non-blocking listener");
            addrs.insert(id, format!("http://{}", l.local_addr().unwrap()));
            listeners.insert(id, l);
        }
        let voters: Vec<u64> = addrs.keys().copied().collect();
        let mut drivers = BTreeMap::new();
        let mut runtimes = BTreeMap::new();
        for (id, l) in listeners {
            let rt = controller_runtime();
            let storage = RaftStorage::open(&dirs[id as usize - 1].0).expect("open the storage");
            let node = Node::open(&NodeConfig::new(id), storage, &voters).expect("open the node");
            let peers = addrs
                .iter()
                .filter(|(&p, _)| p != id)
                .map(|(&p, a)| (p, a.clone()))
                .collect();
            let driver = {
                let _in = rt.enter();
                let listener = tokio::net::TcpListener::from_std(l).expect("register the port");
                Driver::start(node, DriverConfig::new(peers), listener).expect("start the driver")
            };
            drivers.insert(id, driver);
            runtimes.insert(id, rt);
        }
        Group {
            drivers,
            runtimes,
            _dirs: dirs,
        }
    }

    fn handle(&self, id: u64) -> DriverHandle {
        self.drivers[&id].handle()
    }

    fn statuses(&self) -> Vec<NodeStatus> {
        self.drivers
            .values()
            .map(|d| d.handle().status().node)
            .collect()
    }

    /// Waits until all three name the same leader; returns it and its term.
    fn agreed_leader(&self) -> (u64, u64) {
        let started = Instant::now();
        loop {
            let s = self.statuses();
            let leader = s[0].leader;
            if leader != 0
                && s.iter().all(|n| n.leader == leader && n.term == s[0].term)
                && s.iter().any(|n| n.id == leader && n.role == Role::Leader)
            {
                return (leader, s[0].term);
            }
            assert!(
                started.elapsed() < ELECTION_BOUND,
                "no agreed leader within {ELECTION_BOUND:?}: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starves node `starved`'s controller runtime for [`STARVED`] while watching every node:
    /// the leader must stay the leader in its term on all three, and commit a proposal made
    /// halfway through.
    fn starve_and_watch(&self, starved: u64, leader: u64, term: u64, i: u64) {
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build the test's client runtime");
        let saturation = Saturation::start(&self.runtimes[&starved]);
        let began = Instant::now();
        let mut proposed = None;
        let mut broken: Option<(Duration, Vec<NodeStatus>)> = None;
        while began.elapsed() < STARVED {
            let s = self.statuses();
            // A pre-vote that fails changes no term and no leader; an election does.
            let kept = s.iter().all(|n| n.term == term)
                && s.iter().any(|n| n.id == leader && n.role == Role::Leader);
            if !kept && broken.is_none() {
                broken = Some((began.elapsed(), s));
            }
            if proposed.is_none() && began.elapsed() > STARVED / 2 {
                let started = Instant::now();
                let outcome = client.block_on(self.handle(leader).propose(create_test(i)));
                proposed = Some((outcome, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(saturation);
        if let Some((at, s)) = broken {
            panic!(
                "with node {starved}'s controller runtime starved, node {leader} lost the \
                 leadership of term {term} {at:?} into the starvation: {s:?}"
            );
        }
        match proposed {
            Some((Ok(applied), took)) => {
                assert!(
                    matches!(applied.effect, Effect::TestCreated { .. }),
                    "{:?}",
                    applied.effect
                );
                eprintln!(
                    "node {starved} starved for {STARVED:?}: node {leader} kept term {term}, and \
                     committed a proposal in {took:?} meanwhile"
                );
            }
            Some((Err(e), took)) => panic!(
                "with node {starved}'s controller runtime starved, a proposal on the leader \
                 failed after {took:?}: {e}"
            ),
            None => panic!("no proposal was made during the starvation"),
        }
    }
}

fn create_test(i: u64) -> Command {
    Command::CreateTest {
        name: format!("test {i}"),
        project_id: 1,
        archive_sha256: format!("{i:064x}"),
        archive_size: i,
        config: serde_json::json!({}),
        at: "2024-05-01T12:00:00Z".into(),
        idempotency_key: None,
    }
}

#[test]
fn a_leader_keeps_its_term_while_its_controller_runtime_or_a_followers_is_starved() {
    let group = Group::start();
    let (leader, term) = group.agreed_leader();
    let follower = (1..=3).find(|&n| n != leader).expect("a follower");
    group.starve_and_watch(follower, leader, term, 1);
    group.starve_and_watch(leader, leader, term, 2);
}
