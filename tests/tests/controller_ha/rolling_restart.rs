//! A rolling restart of every controller, the leader among them, during a run.

use std::time::{Duration, Instant};

use volley_e2e::ha::{serial, Group, FAILOVER_BOUND, RUN_BOUND};
use volley_e2e::ha_runs::{events, wait_ended, wait_run, Exact, RUNNING};
use volley_e2e::k6_client::CountingTarget;
use volley_e2e::{temp_dir, workspace_root};

#[test]
fn a_rolling_restart_of_every_controller_during_a_run_loses_nothing() {
    let _serial = serial();
    let dir = temp_dir("controller-ha-rolling");
    // 40 requests a second for 20 s over two agents, one request and two checks each.
    let counted = workspace_root().join("tests/failure-scripts/resume.js");
    let target = CountingTarget::start();
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let _agents = group.agents(&["ha-1", "ha-2"], first);
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=20s"];
    let mut submit = group.submit_running(first, 1, &counted, true, &args);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    // Each controller in turn, the leader among them: stopped (SIGTERM), started again on its
    // data dir, and caught up with the group before the next one goes.
    for id in group.ids() {
        let leading = group.leader_now() == Some(id);
        let code = group.stop(id, RUN_BOUND);
        group.start(id);
        group.wait_caught_up(id, RUN_BOUND);
        println!(
            "{:>5.1} s  node {id} restarted{} (it exited {code}), caught up",
            t0.elapsed().as_secs_f64(),
            if leading { " while leading" } else { "" }
        );
        let run = wait_run(group.node(id), 1, |_| true, RUN_BOUND);
        assert_eq!(
            run["run_status"], RUNNING,
            "the run is still RUNNING after node {id}'s restart: {run}"
        );
    }
    let code = submit.exit_code(RUN_BOUND);
    let leader = group.leader(FAILOVER_BOUND);
    let exact = Exact {
        run: 1,
        requests: 800,
        checks: 2,
        plan: "40/s for 20 s",
        submit: Some((&submit, code)),
    };
    let run = group.assert_exact(leader, &target, &exact);
    assert!(
        !events(&run).iter().any(|m| m.contains("AGENT_LOST")),
        "no agent lost: {:?}",
        events(&run)
    );
    // Every node ends with the same record of the run, and the same state byte for byte.
    group.wait_same_state(RUN_BOUND);
    for n in &group.nodes {
        let there = wait_ended(n, 1);
        assert_eq!(there["transitions"], run["transitions"], "node {}", n.id);
        assert_eq!(there["events"], run["events"], "node {}", n.id);
    }
    group.clean_up();
}
