//! A leader cut off from both followers (network namespaces, a black hole between them).

use std::time::{Duration, Instant};

use volley_e2e::ha::{serial, FAILOVER_BOUND, RUN_BOUND};
use volley_e2e::ha_lab::HaLab;
use volley_e2e::ha_runs::{histories, Exact};
use volley_e2e::k6_client::CountingTarget;
use volley_e2e::workspace_root;

#[test]
fn a_leader_partitioned_from_both_followers_steps_down_and_the_majority_goes_on() {
    let _serial = serial();
    let Some(mut lab) = HaLab::start(
        "controller_ha partition",
        "controller-ha-partition",
        "10.253.1",
        "02:00:5e:00:5e:11",
    ) else {
        return;
    };
    let group = &mut lab.group;
    // 40 requests a second for 24 s over two agents (in the root namespace, against a target
    // on its loopback), one request and two checks each.
    let counted = workspace_root().join("tests/failure-scripts/resume.js");
    let target = CountingTarget::start();
    let old = group.leader(FAILOVER_BOUND);
    let _agents = group.agents(&["ha-1", "ha-2"], old);
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=24s"];
    let mut submit = group.submit_running(old, 1, &counted, true, &args);
    std::thread::sleep(Duration::from_secs(4));

    // The leader loses both followers; it still reaches the agents, the clients and the test.
    let before = target.count();
    let cut = Instant::now();
    for id in group.ids().into_iter().filter(|&id| id != old) {
        lab.links.cut(old, id);
    }
    // Check-quorum: without a quorum it steps down, and a deposed leader stops its process
    // (docs/ha.md#leadership), so it drives no run and acknowledges no batch.
    let code = group.wait_exit(old, FAILOVER_BOUND);
    let stepped_down = cut.elapsed();
    let said = group.node(old).log();
    assert_eq!(code, 1, "the cut-off leader exits 1\n{said}");
    assert!(
        said.contains("lost the Raft leadership"),
        "it says why it stopped\n{said}"
    );
    let new = group.leader(FAILOVER_BOUND);
    let elected = cut.elapsed();
    assert_ne!(new, old);
    println!(
        "node {old} cut off after {before} requests: it stepped down and stopped after {} ms; \
         node {new} leads the majority {} ms after the cut",
        stepped_down.as_millis(),
        elected.as_millis()
    );

    // Healed, the old leader starts again (as a supervisor would start it) and catches up:
    // the entries it appended alone in its term are replaced by the majority's log.
    for id in group.ids().into_iter().filter(|&id| id != old) {
        lab.links.mend(old, id);
    }
    group.start(old);
    group.wait_caught_up(old, RUN_BOUND);
    assert_eq!(
        group.leader(FAILOVER_BOUND),
        new,
        "the majority's leader stays"
    );

    let code = submit.exit_code(RUN_BOUND);
    let exact = Exact {
        run: 1,
        requests: 960,
        checks: 2,
        plan: "40/s for 24 s",
        submit: Some((&submit, code)),
    };
    group.assert_exact(new, &target, &exact);

    // Every run's history, transitions and events with their times, is the same on all three,
    // and so is the whole state machine, byte for byte.
    let state = group.wait_same_state(RUN_BOUND);
    let leader_view = histories(group.node(new));
    for id in group.ids() {
        assert_eq!(
            histories(group.node(id)),
            leader_view,
            "node {id}'s run history differs from leader {new}'s"
        );
    }
    println!("every node holds the same state: {state}");
    lab.finish();
}
