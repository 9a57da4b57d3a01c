//! A killed leader (SIGKILL): a new one is elected, resumes the running run from the committed
//! checkpoint, the agents follow it, and `submit --wait` rides the change out.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use volley_e2e::ha::{get, metric, serial, Group, FAILOVER_BOUND, RUN_BOUND};
use volley_e2e::ha_runs::{events, test_ids, wait_agent, wait_ended, wait_run, Exact, FINISHED};
use volley_e2e::k6_client::CountingTarget;
use volley_e2e::{temp_dir, volley_bin, workspace_root, Proc};

use super::{ms_after, write_script};

/// How soon after the leader's death a new one must lead: each node draws its election
/// timeout in [1 s, 2 s) and a vote round follows; with a pre-vote that meets a live leader
/// lease, a second timeout (measured 1.0–2.7 s, docs/ha.md#timeouts). The issue's bound.
pub const ELECTION_BOUND: Duration = Duration::from_secs(3);

/// The time of the first event of `run` whose message contains `what`.
fn event_at(run: &serde_json::Value, what: &str) -> Option<String> {
    run["events"].as_array()?.iter().find_map(|e| {
        e["message"]
            .as_str()?
            .contains(what)
            .then(|| e["at"].as_str().map(String::from))?
    })
}

#[test]
fn a_killed_leader_is_replaced_and_the_group_keeps_every_record() {
    let _serial = serial();
    let dir = temp_dir("controller-ha");
    let short = write_script(
        &dir,
        "short.js",
        "export const options = { vus: 1, iterations: 5 };\nexport default function () {}\n",
    );
    // 40 requests a second for 12 s over two agents, two checks each: the totals are exact.
    let counted = workspace_root().join("tests/failure-scripts/resume.js");
    let target = CountingTarget::start();
    let t0 = Instant::now();
    let phase = |what: &str| println!("{:>6.1} s  {what}", t0.elapsed().as_secs_f64());
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let follower = group
        .ids()
        .into_iter()
        .find(|&id| id != first)
        .expect("a follower");
    phase(&format!("node {first} leads"));

    // A run submitted through a follower is forwarded to the leader and finishes there.
    let _agents = group.agents(&["ha-1", "ha-2"], first);
    let mut s = group.submit(follower, &short, true, &[]);
    let code = s.exit_code(RUN_BOUND);
    assert_eq!(
        code,
        0,
        "submit through follower {follower}\n{}",
        group.context(Some(&s))
    );
    for n in &group.nodes {
        wait_run(n, 1, |s| s == FINISHED, RUN_BOUND);
    }
    phase("run 1 finished, on every node");

    // A second run is RUNNING, on both agents, when the leader dies.
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=12s"];
    let mut s2 = group.submit_running(first, 2, &counted, false, &args);
    assert_eq!(s2.exit_code(RUN_BOUND), 0, "{}", s2.stderr.text());
    std::thread::sleep(Duration::from_secs(4));
    let tests_before = test_ids(group.node(first));
    assert!(tests_before.len() >= 2, "{tests_before:?}");
    let before = target.count();
    assert!(before > 0, "the run sent no request in its first 4 s");
    phase(&format!(
        "run 2 running ({before} requests so far); killing the leader"
    ));
    let killed = group.kill(first);
    let second = group.leader(FAILOVER_BOUND);
    let failover = killed.elapsed();
    println!("new leader: node {second} in {failover:?} after node {first} was killed");
    assert_ne!(second, first);
    let new = group.node(second);

    // The new leader holds the tests and the finished run, resumes run 2 from the committed
    // checkpoint, takes both agents back and finishes it with every request counted once.
    assert_eq!(test_ids(new), tests_before);
    assert_eq!(wait_run(new, 1, |s| s == FINISHED, RUN_BOUND)["id"], 1);
    let run = wait_ended(new, 2);
    phase("run 2 ended on the new leader");
    let exact = Exact {
        run: 2,
        requests: 480,
        checks: 2,
        plan: "40/s for 12 s",
        submit: None,
    };
    group.assert_exact(second, &target, &exact);
    let said = events(&run);
    assert!(
        said.iter().filter(|m| m.contains("re-attached")).count() == 2
            && !said.iter().any(|m| m.contains("AGENT_LOST")),
        "both agents re-attach, none is lost: {said:?}"
    );
    // Its events say a new leader took it over, not that a controller restarted.
    let took_over = format!("node {second} became the Raft leader and resumed the run");
    assert!(
        said.iter().any(|m| m.starts_with(&took_over))
            && !said.iter().any(|m| m.contains("the controller restarted")),
        "{said:?}"
    );
    println!(
        "the target counted {} requests ({before} before the leader died)",
        target.count()
    );
    // What replicating the run's checkpoints cost (docs/ha.md#what-is-replicated).
    let value = |name: &str| {
        metric(new, name).unwrap_or_else(|| panic!("no {name} in node {second}'s /metrics"))
    };
    let (count, bytes) = (
        value("volley_checkpoint_size_bytes_count"),
        value("volley_checkpoint_size_bytes_sum"),
    );
    assert!(
        count > 0.0,
        "the new leader committed no checkpoint of run 2"
    );
    // The new leader says so in its Raft metrics, and saw at least its own election.
    assert_eq!(value("volley_raft_leader"), 1.0);
    assert!(value("volley_raft_leader_changes_total") >= 1.0);
    let took = value("volley_checkpoint_duration_seconds_sum");
    println!(
        "the new leader committed {count} checkpoints of run 2, {:.0} bytes and {:.1} ms each \
         on average",
        bytes / count,
        1000.0 * took / count
    );

    // `volley controllers` shows the new leader, its follower and the dead node.
    let mut ctl = Command::new(volley_bin());
    ctl.args(["controllers", "--controller", &group.rest_urls(first)]);
    let mut ctl = Proc::spawn(&mut ctl);
    assert_eq!(ctl.exit_code(RUN_BOUND), 0, "{}", ctl.stderr.text());
    let table = ctl.stdout.text();
    println!("{table}");
    let line_of = |id: u64| {
        let url = group.node(id).rest_url();
        table
            .lines()
            .find(|l| l.trim_end().ends_with(&url))
            .unwrap_or_else(|| panic!("no line for node {id} in\n{table}"))
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line_of(second), format!("{second} leader"), "{table}");
    assert_eq!(line_of(first), "? unreachable", "{table}");
    let other = group
        .ids()
        .into_iter()
        .find(|&id| id != first && id != second)
        .expect("other");
    assert_eq!(line_of(other), format!("{other} follower"), "{table}");
    let view = get(new, "/v1/controllers");
    assert_eq!(view["node"], second, "{view}");
    assert_eq!(
        view["controllers"].as_array().map(Vec::len),
        Some(3),
        "{view}"
    );

    // The agent follows the new leader; a run submitted with the dead controller first in the
    // list reaches the new leader and finishes, and the other survivor has it too.
    wait_agent(new, "ha-1", RUN_BOUND);
    phase("the agent is back, on the new leader");
    let mut s3 = group.submit(first, &short, true, &[]);
    assert_eq!(s3.exit_code(RUN_BOUND), 0, "{}", group.context(Some(&s3)));
    for n in group.live() {
        wait_run(n, 3, |s| s == FINISHED, RUN_BOUND);
    }
    phase("run 3 finished on the new leader, on both survivors");
    group.clean_up();
}

/// Shared iterations over three agents, one request and one check each, about 20 s: 6 VUs
/// (2 per agent) doing about 5 iterations a second each.
const SHARED_ITERATIONS: &str = r#"
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', vus: 6, iterations: 540, maxDuration: '90s' },
  },
  volley: { agents: 3 },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status 200': (r) => r.status === 200 });
  sleep(0.2);
}
"#;

#[test]
fn a_leader_killed_mid_run_is_replaced_and_submit_wait_rides_it_out() {
    let _serial = serial();
    let dir = temp_dir("controller-ha-kill");
    let script = write_script(&dir, "shared.js", SHARED_ITERATIONS);
    let target = CountingTarget::start();
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let _agents = group.agents(&["ha-1", "ha-2", "ha-3"], first);
    let base_url = format!("BASE_URL={}", target.url);
    let mut submit = group.submit_running(first, 1, &script, true, &["-e", &base_url]);
    std::thread::sleep(Duration::from_secs(5));
    let before = target.count();
    assert!(before > 0, "the run sent no request in its first 5 s");
    let (killed, killed_wall) = (group.kill(first), SystemTime::now());
    let second = group.leader(FAILOVER_BOUND);
    let elected = killed.elapsed();
    assert_ne!(second, first);

    let code = submit.exit_code(RUN_BOUND);
    let exact = Exact {
        run: 1,
        requests: 540,
        checks: 1,
        plan: "540 shared iterations",
        submit: Some((&submit, code)),
    };
    let run = group.assert_exact(second, &target, &exact);
    let said = events(&run);
    assert!(
        said.iter().filter(|m| m.contains("re-attached")).count() == 3
            && !said.iter().any(|m| m.contains("AGENT_LOST")),
        "all three agents re-attach, none is lost: {said:?}"
    );
    // `submit --wait` printed the leader change, naming the new leader.
    let change = format!("Raft leader changed: node {second} leads now");
    let printed = submit
        .stderr
        .lines()
        .into_iter()
        .find(|(_, l)| l.contains(&change))
        .map(|(at, _)| at.duration_since(killed))
        .unwrap_or_else(|| {
            panic!(
                "submit --wait did not print {change:?}\n{}",
                group.context(Some(&submit))
            )
        });

    // The failover's phases: election (seen by polling every controller), the run driven
    // again (the new leader's resume event, on its clock), the first agent back, and
    // `submit --wait` following through another controller.
    let resumed = event_at(&run, "checkpoint").map(|at| ms_after(killed_wall, &at));
    let back = event_at(&run, "re-attached").map(|at| ms_after(killed_wall, &at));
    println!(
        "failover after killing node {first} with {before} of 540 requests done: node \
         {second} leads after {} ms, resumes the run after {resumed:?} ms, first agent back \
         after {back:?} ms, submit --wait printed the change after {} ms",
        elected.as_millis(),
        printed.as_millis()
    );
    assert!(
        elected <= ELECTION_BOUND,
        "a new leader within {ELECTION_BOUND:?} of the kill, took {elected:?}"
    );
    group.clean_up();
}
