//! Three replicas over the simulated network of `sim.rs`: election, ordering, leader crash,
//! a partitioned minority leader, a restart from the node's own log, a wiped node rejoining
//! from a snapshot. States are compared byte for byte.

use super::node::{Membership, NodeError, ProposalId, Role};
use super::payload::Payload;
use super::sim::{Sim, ELECTION_TICK};
use crate::state::Command;
use volley_api::Role as ApiRole;

const AT: &str = "2024-05-01T12:00:00Z";

/// The i-th command of a workload: tests, runs (of tests that may not exist yet: those are
/// rejected, identically everywhere) and tokens.
fn cmd(i: u64) -> Command {
    match i % 3 {
        0 => Command::CreateTest {
            name: format!("test {i}"),
            project_id: 1,
            archive_sha256: format!("{i:064x}"),
            archive_size: i,
            config: serde_json::json!({ "vus": i }),
            at: AT.into(),
            idempotency_key: None,
        },
        1 => Command::CreateRun {
            test_id: i % 7 + 1,
            env: Default::default(),
            note: format!("run {i}"),
            config: None,
            run_process: None,
            user_id: 1,
            started_by: String::new(),
            at: AT.into(),
            idempotency_key: None,
        },
        _ => Command::CreateToken {
            name: format!("token {i}"),
            role: ApiRole::Admin,
            project_id: 0,
            sha256: format!("{i:064x}"),
            at: AT.into(),
            idempotency_key: None,
        },
    }
}

fn elect(sim: &mut Sim) -> u64 {
    assert!(
        sim.run_until(10 * ELECTION_TICK, |s| s.leader().is_some()),
        "no leader within {} ticks",
        10 * ELECTION_TICK
    );
    sim.leader().unwrap()
}

/// Proposes commands `range` on the current leader, one per tick, and waits until every live
/// node applied all of them. Returns their ids.
fn replicate(sim: &mut Sim, range: std::ops::Range<u64>, live: &[u64]) -> Vec<ProposalId> {
    let mut ids = Vec::new();
    for i in range {
        let leader = elect(sim);
        ids.push(
            sim.propose(leader, &cmd(i))
                .expect("the leader takes a proposal"),
        );
        sim.step();
    }
    let all = ids.clone();
    let live = live.to_vec();
    assert!(
        sim.run_until(30 * ELECTION_TICK, |s| live
            .iter()
            .all(|&n| all.iter().all(|&p| s.applied_on(n, p)))),
        "not every proposal was applied on {live:?}"
    );
    ids
}

fn assert_same_states(sim: &Sim, nodes: &[u64]) {
    let first = sim.state_bytes(nodes[0]);
    for &n in &nodes[1..] {
        assert!(
            sim.state_bytes(n) == first,
            "node {n}'s state differs from node {}'s",
            nodes[0]
        );
    }
}

#[test]
fn a_leader_is_elected_and_commands_apply_in_the_same_order_on_all_nodes() {
    for seed in [1, 2, 3] {
        let mut sim = Sim::new(3, seed, 0);
        sim.drop_percent = 10;
        sim.max_delay = 2;
        let leader = elect(&mut sim);
        assert!(
            sim.run_until(5 * ELECTION_TICK, |s| [1, 2, 3].iter().all(|&n| s
                .node(n)
                .status()
                .leader
                == leader))
        );
        let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != leader).collect();
        for f in &followers {
            let e = sim.propose(*f, &cmd(0)).unwrap_err();
            assert!(
                matches!(e, NodeError::NotLeader { leader: Some(l), .. } if l == leader),
                "{e}"
            );
        }
        let ids = replicate(&mut sim, 0..30, &[1, 2, 3]);
        assert_same_states(&sim, &[1, 2, 3]);
        // Same entries, same order, same outcomes everywhere.
        let order = |n: u64| -> Vec<_> {
            sim.applied[&n]
                .iter()
                .map(|a| (a.index, a.proposal, a.outcome.clone()))
                .collect()
        };
        assert_eq!(order(1), order(2), "seed {seed}");
        assert_eq!(order(1), order(3), "seed {seed}");
        let applied: Vec<_> = order(1).iter().filter_map(|a| a.1).collect();
        assert_eq!(applied, ids, "proposals apply in proposal order");
        let state = sim.node(1).state();
        assert_eq!(state.tests().count(), 10);
        // Runs of tests that did not exist yet were rejected, on every node alike.
        let rejected = order(1).iter().filter(|a| a.2.is_err()).count();
        assert!(rejected > 0, "seed {seed}: the workload has rejections");
        assert_eq!(state.runs().count() + rejected, 10, "seed {seed}");
    }
}

#[test]
fn leader_crash_elects_a_new_leader_and_loses_no_committed_command() {
    let mut sim = Sim::new(3, 7, 0);
    let old = elect(&mut sim);
    replicate(&mut sim, 0..12, &[1, 2, 3]);
    let committed = sim.state_bytes(old);
    sim.crash(old);
    let crashed_at = sim.now;
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != old).collect();
    assert!(sim.run_until(6 * ELECTION_TICK, |s| s.leader().is_some_and(|l| l != old)));
    let new = sim.leader().unwrap();
    let took = sim.now - crashed_at;
    // Pinned timeouts: the fastest survivor times out within 2 election timeouts (+ pre-vote).
    assert!(took <= 3 * ELECTION_TICK, "a new leader after {took} ticks");
    for &n in &others {
        assert_eq!(
            sim.state_bytes(n),
            committed,
            "node {n} lost a committed command"
        );
    }
    replicate(&mut sim, 12..18, &others);
    sim.restart(old);
    assert!(sim.run_until(30 * ELECTION_TICK, |s| *s.node(old).state()
        == *s.node(new).state()));
    assert_same_states(&sim, &[1, 2, 3]);
    assert_eq!(sim.node(old).state().tests().count(), 6);
}

#[test]
fn a_partitioned_minority_leader_cannot_commit_and_steps_down() {
    let mut sim = Sim::new(3, 11, 0);
    let old = elect(&mut sim);
    replicate(&mut sim, 0..6, &[1, 2, 3]);
    let before = sim.state_bytes(old);
    sim.partition(&[old]);
    let cut_at = sim.now;
    let lost = sim
        .propose(old, &cmd(6))
        .expect("a leader still takes proposals");
    // check-quorum: it notices within an election timeout or two and steps down.
    assert!(
        sim.run_until(3 * ELECTION_TICK, |s| s.node(old).status().role
            != Role::Leader)
    );
    assert!(
        sim.now - cut_at <= 2 * ELECTION_TICK + 1,
        "stepped down after {} ticks",
        sim.now - cut_at
    );
    assert_eq!(
        sim.state_bytes(old),
        before,
        "the minority applied something"
    );
    assert!(!sim.applied_on(old, lost));
    let majority: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != old).collect();
    assert!(sim.run_until(6 * ELECTION_TICK, |s| s
        .leader()
        .is_some_and(|l| l != old && s.node(l).status().role == Role::Leader)));
    let kept = replicate(&mut sim, 7..10, &majority);
    sim.run(4 * ELECTION_TICK);
    assert_eq!(
        sim.state_bytes(old),
        before,
        "the cut-off node applied something"
    );
    sim.heal();
    assert!(sim.run_until(30 * ELECTION_TICK, |s| kept
        .iter()
        .all(|&p| s.applied_on(old, p))));
    assert_same_states(&sim, &[1, 2, 3]);
    for n in [1, 2, 3] {
        assert!(
            !sim.applied_on(n, lost),
            "node {n} applied the minority's proposal"
        );
    }
}

#[test]
fn a_restarted_node_catches_up_from_its_own_log_then_from_the_leader() {
    // Compaction every 7 entries: the restart reads its snapshot and replays its log after it.
    let mut sim = Sim::new(3, 5, 7);
    let leader = elect(&mut sim);
    replicate(&mut sim, 0..10, &[1, 2, 3]);
    let follower = if leader == 3 { 2 } else { 3 };
    let before_crash = sim.state_bytes(follower);
    assert!(sim.node(follower).status().snapshot_index > 0);
    sim.crash(follower);
    let live: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != follower).collect();
    replicate(&mut sim, 10..20, &live);
    sim.restart(follower);
    // Before it hears from anyone: its own snapshot and log give back its state.
    let out = sim.node_mut(follower).handle_ready().expect("first Ready");
    assert!(out.messages.is_empty() || sim.node(follower).status().role == Role::Follower);
    assert_eq!(
        sim.state_bytes(follower),
        before_crash,
        "the restarted node's own log does not rebuild its state"
    );
    assert!(
        sim.run_until(30 * ELECTION_TICK, |s| *s.node(follower).state()
            == *s.node(leader).state())
    );
    assert_same_states(&sim, &[1, 2, 3]);
}

/// A node that lost its disk forgot its votes and its log, so it must not simply rejoin under
/// its id (the leader would believe it still holds entries it acknowledged): it is removed from
/// the group, and added back empty, and then gets a snapshot.
#[test]
fn a_wiped_node_is_removed_added_back_and_catches_up_from_a_snapshot() {
    let mut sim = Sim::new(3, 9, 5);
    let leader = elect(&mut sim);
    replicate(&mut sim, 0..20, &[1, 2, 3]);
    assert!(sim.node(leader).status().snapshot_index >= 15);
    let follower = if leader == 1 { 2 } else { 1 };
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != follower).collect();

    sim.node_mut(leader)
        .propose_membership(Membership::Remove(follower))
        .unwrap();
    assert!(sim.run_until(10 * ELECTION_TICK, |s| rest
        .iter()
        .all(|&n| !s.node(n).voters().contains(&follower))));
    sim.wipe(follower);
    assert_eq!(sim.node(follower).state().applied_index(), 0);
    replicate(&mut sim, 20..23, &rest);

    sim.node_mut(leader)
        .propose_membership(Membership::AddVoter(follower))
        .unwrap();
    assert!(
        sim.run_until(30 * ELECTION_TICK, |s| *s.node(follower).state()
            == *s.node(leader).state())
    );
    assert!(
        sim.snapshots_delivered.get(&follower).copied().unwrap_or(0) >= 1,
        "the wiped node did not get a snapshot"
    );
    assert_eq!(sim.node(follower).voters(), vec![1, 2, 3]);
    assert_same_states(&sim, &[1, 2, 3]);
    assert_eq!(sim.node(follower).state().tests().count(), 8);
    // And it takes part again: the group commits with it.
    replicate(&mut sim, 23..26, &[1, 2, 3]);
    assert_same_states(&sim, &[1, 2, 3]);
}

/// Membership changes the group cannot make are refused naming why (the leader itself, the
/// last voter, a voter added again, a node not in the group, a second change before the first
/// is applied, an unusable address); a node added carries its Raft port URL to every node, and
/// a wiped node joining with no membership and no addresses gets both from its snapshot.
#[test]
fn membership_changes_are_checked_and_tell_every_node_where_a_new_one_lives() {
    let mut sim = Sim::with_sides(3, 11, 5);
    let leader = elect(&mut sim);
    replicate(&mut sim, 0..8, &[1, 2, 3]);
    let follower = if leader == 1 { 2 } else { 1 };
    let other = 6 - leader - follower;
    let refused = |sim: &mut Sim, change: Membership, url: Option<&str>| -> String {
        match sim.node_mut(leader).propose_membership_at(change, url) {
            Err(NodeError::Membership(m)) => m,
            other => panic!("{change:?} was not refused: {other:?}"),
        }
    };
    let m = refused(&mut sim, Membership::Remove(leader), None);
    assert!(m.contains(&format!("node {leader} is the leader")), "{m}");
    assert!(m.contains("stop node"), "{m}");
    let m = refused(&mut sim, Membership::AddVoter(follower), Some("http://h:1"));
    assert!(m.contains("already in the group"), "{m}");
    let m = refused(&mut sim, Membership::Remove(9), None);
    assert!(m.contains("node 9 is not in the group"), "{m}");
    let m = refused(&mut sim, Membership::AddVoter(4), Some("nowhere"));
    assert!(m.contains("HOST:PORT"), "{m}");
    let follower_of = |s: &Sim, n: u64| s.node(n).addresses().0.get(&follower).cloned();

    let removed = sim
        .node_mut(leader)
        .propose_membership(Membership::Remove(follower))
        .expect("a follower can be removed");
    let m = refused(&mut sim, Membership::AddVoter(7), Some("http://h:1"));
    assert!(m.contains("not applied yet"), "{m}");
    assert!(
        sim.run_until(10 * ELECTION_TICK, |s| s.applied_on(leader, removed)
            && s.applied_on(other, removed))
    );
    assert_eq!(
        follower_of(&sim, leader),
        None,
        "a node removed is forgotten"
    );
    assert_eq!(follower_of(&sim, other), None);

    sim.wipe_to_join(follower);
    assert!(sim.node(follower).voters().is_empty());
    assert!(sim.node(follower).addresses().0.is_empty());
    let url = "http://127.0.0.1:7777";
    let added = sim
        .node_mut(leader)
        .propose_membership_at(Membership::AddVoter(follower), Some(url))
        .expect("a new node can be added");
    assert!(
        sim.run_until(30 * ELECTION_TICK, |s| s.applied_on(leader, added)
            && s.applied_on(other, added)
            && *s.node(follower).state() == *s.node(leader).state())
    );
    assert_eq!(follower_of(&sim, leader).as_deref(), Some(url));
    assert_eq!(follower_of(&sim, other).as_deref(), Some(url));
    let mut voters = sim.node(follower).voters();
    voters.sort_unstable();
    assert_eq!(voters, vec![1, 2, 3]);
    // Its snapshot told it where the other follower lives (the leader it knows from --peer).
    assert_eq!(
        sim.node(follower)
            .addresses()
            .0
            .get(&other)
            .map(String::as_str),
        Some(format!("http://sim-{other}:1").as_str())
    );
    replicate(&mut sim, 8..11, &[1, 2, 3]);
    assert_same_states(&sim, &[1, 2, 3]);
}

/// Proposes side data on the leader and waits until every node in `live` applied it.
fn replicate_side(sim: &mut Sim, payloads: Vec<Payload>, live: &[u64]) {
    let mut ids = Vec::new();
    for p in payloads {
        let leader = elect(sim);
        ids.push(sim.node_mut(leader).propose_payload(&p).expect("proposed"));
        sim.step();
    }
    let live = live.to_vec();
    assert!(
        sim.run_until(30 * ELECTION_TICK, |s| live
            .iter()
            .all(|&n| ids.iter().all(|&p| s.applied_on(n, p)))),
        "not every side entry was applied on {live:?}"
    );
}

fn checkpoint(run_id: u64, v: &str) -> Payload {
    Payload::Checkpoint {
        run_id,
        bytes: v.as_bytes().to_vec(),
    }
}

/// Archives (in chunks) and checkpoints reach every node's store; a node that fell so far
/// behind that it catches up from a snapshot gets the checkpoints as of the snapshot (a
/// dropped one is gone, a replaced one is the new one), so a new leader never resumes a run
/// from a checkpoint older than the one a quorum committed.
#[test]
fn side_data_reaches_every_node_and_a_snapshot_carries_the_checkpoints() {
    let mut sim = Sim::with_sides(3, 11, 5);
    let leader = elect(&mut sim);
    let sha = "feed".to_string();
    let chunk = |offset: u64, b: &[u8]| Payload::Content {
        sha256: sha.clone(),
        total: 6,
        offset,
        bytes: b.to_vec(),
    };
    replicate_side(
        &mut sim,
        vec![
            chunk(0, b"abc"),
            chunk(3, b"def"),
            checkpoint(1, "one"),
            checkpoint(2, "two"),
        ],
        &[1, 2, 3],
    );
    for n in [1, 2, 3] {
        assert_eq!(
            sim.sides[&n].content.lock().unwrap().get(&sha).cloned(),
            Some(b"abcdef".to_vec()),
            "node {n}"
        );
        assert_eq!(sim.sides[&n].checkpoints.lock().unwrap().len(), 2);
    }
    // Every side entry came back to the proposer as stored, not as a state change.
    let stored = sim.applied[&leader]
        .iter()
        .filter(|a| {
            matches!(
                a.outcome,
                Ok(crate::state::Applied {
                    effect: crate::state::Effect::Stored,
                    ..
                })
            )
        })
        .count();
    assert_eq!(stored, 4);

    let follower = if leader == 1 { 2 } else { 1 };
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != follower).collect();
    sim.partition(&[follower]);
    replicate_side(
        &mut sim,
        vec![
            checkpoint(1, "one, later"),
            Payload::DropCheckpoint { run_id: 2 },
            checkpoint(3, "three"),
        ],
        &rest,
    );
    replicate(&mut sim, 0..8, &rest);
    assert!(sim.node(leader).status().snapshot_index > 0);
    sim.heal();
    assert!(
        sim.run_until(30 * ELECTION_TICK, |s| *s.node(follower).state()
            == *s.node(leader).state())
    );
    assert!(
        sim.snapshots_delivered.get(&follower).copied().unwrap_or(0) >= 1,
        "the lagging node did not get a snapshot"
    );
    let want: Vec<(u64, Vec<u8>)> = vec![(1, b"one, later".to_vec()), (3, b"three".to_vec())];
    for n in [1, 2, 3] {
        let got: Vec<(u64, Vec<u8>)> = sim.sides[&n]
            .checkpoints
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        assert_eq!(got, want, "node {n}");
    }
}
