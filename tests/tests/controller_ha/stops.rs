//! A stop acknowledged by a leader that dies right after: the next leader carries it out.

use std::time::Duration;

use volley_e2e::ha::{serial, Group, FAILOVER_BOUND, RUN_BOUND};
use volley_e2e::ha_runs::{events, wait_ended};
use volley_e2e::{http_request_to, temp_dir};

use super::write_script;

/// Runs until stopped: two agents, one VU each, an iteration every 200 ms, for up to 60 s.
const UNTIL_STOPPED: &str = r#"
import { sleep } from 'k6';

export const options = { vus: 2, duration: '60s', volley: { agents: 2 } };

export default function () {
  sleep(0.2);
}
"#;

/// A stop is committed by a quorum before it is acknowledged (docs/ha.md#stops): the leader
/// is killed right after its 200, before it could end the run, and the next leader stops the
/// run it resumes as the user asked.
#[test]
fn a_stop_acknowledged_just_before_the_leader_dies_is_carried_out_by_the_next_leader() {
    let _serial = serial();
    let dir = temp_dir("controller-ha-stop");
    let script = write_script(&dir, "until-stopped.js", UNTIL_STOPPED);
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let _agents = group.agents(&["ha-1", "ha-2"], first);
    let mut submit = group.submit_running(first, 1, &script, true, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = http_request_to(
        &group.node(first).rest_addr(),
        "POST",
        "/loadtests/v2/runs/1/stop",
        Some("{}"),
        Duration::from_secs(10),
    )
    .expect("the stop is answered");
    group.kill(first);
    assert_eq!(status, 200, "the stop is acknowledged: {body}");
    let second = group.leader(FAILOVER_BOUND);
    assert_ne!(second, first);

    let run = wait_ended(group.node(second), 1);
    let code = submit.exit_code(RUN_BOUND);
    let said = events(&run);
    let took_over = format!("node {second} became the Raft leader and resumed the run");
    assert!(
        said.iter().any(|m| m.starts_with(&took_over)),
        "the new leader resumed the run (the old one did not end it first): {said:?}"
    );
    assert_eq!(
        run["run_status"],
        5,
        "ABORTED_BY_USER: {run}\n{}",
        group.context(Some(&submit))
    );
    assert_eq!(run["abort_reason"]["reason"], "api_stop", "{run}");
    assert_eq!(run["exit_code"], 103, "{run}");
    assert_eq!(
        code,
        103,
        "submit --wait exits with the stop's code\n{}",
        group.context(Some(&submit))
    );
    group.clean_up();
}
