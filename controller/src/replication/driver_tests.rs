//! Three drivers in one process over real gRPC on 127.0.0.1: a leader is elected, proposals
//! replicate in order (states byte-identical), a follower names the leader, and after the
//! leader's driver is dropped a new leader is elected within [`FAILOVER_BOUND`] with no
//! committed command lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::driver::{Driver, DriverConfig, DriverError, DriverHandle};
use super::node::{Node, NodeConfig, Role};
use super::storage::RaftStorage;
use crate::state::{Command, Effect};
use crate::temp_dir::TempDir;

/// How long the test waits for a new leader after the old one's death. On an idle machine it
/// takes one election timeout (1–2 s) and a pre-vote and a vote round on loopback, a second
/// timeout when a follower ignores the pre-vote while its leader lease holds: 1.0–2.7 s over
/// 10 trials (docs/ha.md#timeouts). The test proves that a leader is elected and nothing is
/// lost, not the speed: the bound is wide enough for a machine busy with other builds (the
/// ticks of three nodes on a starved runtime come late), and the time taken is printed.
const FAILOVER_BOUND: Duration = Duration::from_secs(20);

fn create_test(i: u64) -> Command {
    Command::CreateTest {
        name: format!("test {i}"),
        project_id: 1,
        archive_sha256: format!("{i:064x}"),
        archive_size: i,
        config: serde_json::json!({ "vus": i }),
        at: "2024-05-01T12:00:00Z".into(),
        idempotency_key: None,
    }
}

/// Starts node `id` of the group `addrs` (node id → loopback address) on its own listener.
fn start(
    id: u64,
    dir: &TempDir,
    listener: tokio::net::TcpListener,
    addrs: &BTreeMap<u64, String>,
) -> Driver {
    let voters: Vec<u64> = addrs.keys().copied().collect();
    let storage = RaftStorage::open(&dir.0).expect("open the Raft storage");
    let node = Node::open(&NodeConfig::new(id), storage, &voters).expect("open the node");
    let peers = addrs
        .iter()
        .filter(|(&p, _)| p != id)
        .map(|(&p, a)| (p, a.clone()))
        .collect();
    Driver::start(node, DriverConfig::new(peers), listener).expect("start the driver")
}

/// Waits until every handle names the same leader, other than `not`; returns it.
async fn agreed_leader(handles: &[DriverHandle], not: u64, within: Duration) -> u64 {
    let started = Instant::now();
    loop {
        let statuses: Vec<_> = handles.iter().map(|h| h.status().node).collect();
        let leader = statuses[0].leader;
        if leader != 0
            && leader != not
            && statuses.iter().all(|s| s.leader == leader)
            && statuses
                .iter()
                .any(|s| s.id == leader && s.role == Role::Leader)
        {
            return leader;
        }
        assert!(
            started.elapsed() < within,
            "no agreed leader within {within:?}: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every handle applied at least `index`, then returns each state as JSON.
async fn states_at(handles: &[DriverHandle], index: u64) -> Vec<Vec<u8>> {
    let started = Instant::now();
    while handles.iter().any(|h| h.status().node.applied < index) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not every node applied index {index} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(
            h.read(|s| serde_json::to_vec(s).expect("serialize the state"))
                .await
                .expect("read the state"),
        );
    }
    out
}

/// Proposes commands `range` one after another on `leader`; returns the created test ids in
/// order and the last index.
async fn propose_all(leader: &DriverHandle, range: std::ops::Range<u64>) -> (Vec<u64>, u64) {
    let mut ids = Vec::new();
    let mut last = 0;
    for i in range {
        let applied = leader
            .propose(create_test(i))
            .await
            .unwrap_or_else(|e| panic!("command {i} on the leader: {e}"));
        assert!(
            applied.index > last,
            "indexes go up: {} after {last}",
            applied.index
        );
        last = applied.index;
        match applied.effect {
            Effect::TestCreated { test_id } => ids.push(test_id),
            other => panic!("command {i}: {other:?}"),
        }
    }
    (ids, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_drivers_elect_replicate_and_survive_the_leaders_death() {
    let dirs: Vec<TempDir> = (1..=3).map(|_| TempDir::new("driver")).collect();
    let mut listeners = BTreeMap::new();
    let mut addrs = BTreeMap::new();
    for id in 1..=3u64 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.insert(id, format!("http://{}", l.local_addr().unwrap()));
        listeners.insert(id, l);
    }
    let mut drivers: BTreeMap<u64, Driver> = BTreeMap::new();
    for (id, l) in listeners {
        drivers.insert(id, start(id, &dirs[id as usize - 1], l, &addrs));
    }
    let handles: Vec<DriverHandle> = drivers.values().map(Driver::handle).collect();

    let leader = agreed_leader(&handles, 0, FAILOVER_BOUND).await;
    let on = |id: u64| handles.iter().find(|h| h.id() == id).unwrap().clone();

    // A follower refuses at once and names the leader with its address.
    let follower = (1..=3).find(|&n| n != leader).unwrap();
    let started = Instant::now();
    let err = on(follower).propose(create_test(999)).await.unwrap_err();
    // At once: no round trip to anyone (3 s leaves room for a busy machine's scheduler).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    match &err {
        DriverError::NotLeader {
            id,
            leader: Some((l, addr)),
        } => {
            assert_eq!((*id, *l, addr), (follower, leader, &addrs[&leader]));
        }
        other => panic!("expected NotLeader naming node {leader}: {other}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("node {leader} at {}", addrs[&leader])),
        "{err}"
    );

    // Commands apply in order on all three; the states are byte-identical.
    let (before, last) = propose_all(&on(leader), 0..20).await;
    assert_eq!(
        before,
        (1..=20).collect::<Vec<u64>>(),
        "test ids in proposal order"
    );
    let states = states_at(&handles, last).await;
    assert!(
        states[0] == states[1] && states[1] == states[2],
        "states differ after 20 commands"
    );

    // A state-machine rejection reaches the proposer and changes nothing anywhere.
    let rejected = on(leader)
        .propose(Command::CreateRun {
            test_id: 12345,
            env: Default::default(),
            note: String::new(),
            config: None,
            run_process: None,
            user_id: 1,
            started_by: String::new(),
            at: "2024-05-01T12:00:00Z".into(),
            idempotency_key: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(rejected, DriverError::Rejected(_)), "{rejected}");

    // The leader dies: the other two elect a new one within the bound.
    let killed = Instant::now();
    drop(drivers.remove(&leader));
    let survivors: Vec<DriverHandle> = handles
        .iter()
        .filter(|h| h.id() != leader)
        .cloned()
        .collect();
    let new_leader = agreed_leader(&survivors, leader, FAILOVER_BOUND).await;
    let failover = killed.elapsed();
    eprintln!(
        "new leader {new_leader} elected {failover:?} after node {leader}'s driver was dropped"
    );

    // Nothing committed is lost, and the new leader goes on where the old one stopped.
    let (after, last) = propose_all(&on(new_leader), 20..30).await;
    assert_eq!(after, (21..=30).collect::<Vec<u64>>());
    let states = states_at(&survivors, last).await;
    assert!(states[0] == states[1], "the survivors' states differ");
    let names = survivors[0]
        .read(|s| s.tests().map(|t| t.name.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    let expected: Vec<String> = (0..30).map(|i| format!("test {i}")).collect();
    assert_eq!(
        names, expected,
        "every committed command is in the state, once, in order"
    );

    // The dead node's proposals fail with a message saying the driver stopped.
    let dead = handles.iter().find(|h| h.id() == leader).unwrap();
    let err = dead.propose(create_test(1000)).await.unwrap_err();
    assert!(matches!(err, DriverError::Stopped { .. }), "{err}");
}
