//! Controllers in one Raft group, as real processes (docs/ha.md), driven through
//! `volley_e2e::ha`:
//!
//! - three controllers and two agents on loopback: a run submitted with a follower first in the
//!   list is forwarded to the leader and finishes, and its records reach every node; the leader
//!   is killed with SIGKILL while a second run (a fixed number of requests to a counting target,
//!   over both agents) is RUNNING; the two others elect a new leader, which resumes the run from
//!   the last checkpoint a quorum committed: the agents follow it and replay what was not
//!   acknowledged, and the run FINISHES with its totals equal to the requests the target
//!   counted (every batch counted once), no agent lost; a new submission with the dead
//!   controller first in the list runs to the end;
//! - three controllers and three agents, a shared-iterations run of about 20 s followed by
//!   `submit --wait` given all three controllers; the leader is killed with SIGKILL about 5 s
//!   in: a new leader within [`ELECTION_BOUND`], the run FINISHES with exactly the planned
//!   iterations counted at the target and in the merged counters, and `submit --wait` exits 0
//!   after printing the leader change. The failover's phases are printed (`--nocapture`);
//! - three controllers and two agents: a run is stopped through the leader, which is killed
//!   with SIGKILL right after its 200: the new leader resumes the run and stops it as the user
//!   asked (the stop was committed before it was acknowledged), ABORTED_BY_USER, and
//!   `submit --wait` exits 103;
//! - three controllers: a test's create and a run's start, each sent twice with one
//!   `Idempotency-Key` — the second time to the next leader, the first one killed after
//!   answering — make one test and one run, the second answered with the first one's; the key
//!   with another request is refused; every node ends with the same state;
//! - each controller in its own network namespace on a private bridge (`10.253.1.0/24`), the
//!   agents and the target in the root namespace: the leader is cut off from both followers (a
//!   black hole, `netns::Bridged::black_hole`) during a run; it steps down (check-quorum) and
//!   stops its process, the majority elects a new leader and the run FINISHES with exact
//!   totals (the cut-off leader acknowledged no batch it could not commit); healed and started
//!   again, the old leader catches up, and every run's history (transitions and events with
//!   their times) and the whole state machine (`GET /v1/controllers/state`) are identical on
//!   the three nodes. Needs root (CAP_NET_ADMIN) and iproute2: skipped with a message without
//!   them, except under `CI`, where it fails;
//! - a rolling restart (SIGTERM, start again on the same data dir, caught up) of all three
//!   controllers one by one, the leader among them, during a run: it FINISHES with exact
//!   totals, and every node holds the same state.
//!
//! - a history checker, Jepsen-style: three clients submit (each with a unique note) and stop
//!   runs through every controller for 40 s while leaders are killed and cut off and followers
//!   killed and cut off; then every run must end within 90 s (the queue drains: no agent stays
//!   busy with a run nobody drives, no run is left half submitted or half torn down), every
//!   acknowledged submit must exist exactly once with the run id its client was told, no
//!   submit may make two runs, an acknowledged stop must end its run (ABORTED_BY_USER, or it
//!   had ended before), and every node must hold the same state digest.
//!
//! The tests run one at a time (`ha::serial`): each runs three controllers. About 160 s in all
//! on a loaded 2-core machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use volley_e2e::ha::{
    events, get, metric, serial, test_ids, wait_agent, wait_run, Group, Node, FAILOVER_BOUND,
    RUN_BOUND,
};
use volley_e2e::k6_client::CountingTarget;
use volley_e2e::netns::{lab, leftovers, Bridged};
use volley_e2e::{http_request_to, summary_stat, temp_dir, volley_bin, workspace_root, Proc};

/// How soon after the leader's death a new one must lead: each node draws its election
/// timeout in [1 s, 2 s) and a vote round follows; with a pre-vote that meets a live leader
/// lease, a second timeout (measured 1.0–2.7 s, docs/ha.md#timeouts). The issue's bound.
const ELECTION_BOUND: Duration = Duration::from_secs(3);

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("script");
    p
}

/// Milliseconds from `since` to the RFC 3339 time `at` (a run event's), negative when earlier.
fn ms_after(since: SystemTime, at: &str) -> i64 {
    let unix_ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    };
    // 2026-12-06T06:40:01.123Z: the seconds of the day and the milliseconds are enough, the
    // date being today's.
    let time = at
        .split('T')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, rest) = (
        parts
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0),
        parts
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0),
        parts.next().unwrap_or("0"),
    );
    let secs: f64 = rest.parse().unwrap_or(0.0);
    let of_day = (h * 3600 + m * 60) * 1000 + (secs * 1000.0).round() as i64;
    let since_ms = unix_ms(since);
    let day_start = since_ms - since_ms.rem_euclid(86_400_000);
    day_start + of_day - since_ms
}

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
    // 40 requests a second for 12 s over two agents, one check each: the totals are exact.
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
    let _agents = [group.agent("ha-1"), group.agent("ha-2")];
    wait_agent(group.node(first), "ha-1", RUN_BOUND);
    wait_agent(group.node(first), "ha-2", RUN_BOUND);
    let mut s = group.submit(follower, &short, true, &[]);
    let code = s.exit_code(RUN_BOUND);
    assert_eq!(
        code,
        0,
        "submit through follower {follower}\n{}\n{}\n{}",
        s.stdout.text(),
        s.stderr.text(),
        group.logs()
    );
    for n in &group.nodes {
        wait_run(n, 1, |s| s == 3, RUN_BOUND);
    }
    phase("run 1 finished, on every node");

    // A second run is RUNNING, on both agents, when the leader dies.
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=12s"];
    let mut s2 = group.submit(first, &counted, false, &args);
    assert_eq!(s2.exit_code(RUN_BOUND), 0, "{}", s2.stderr.text());
    wait_run(group.node(first), 2, |s| s == 2, RUN_BOUND);
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
    assert_eq!(wait_run(new, 1, |s| s == 3, RUN_BOUND)["id"], 1);
    let run = wait_run(new, 2, |s| s >= 3, RUN_BOUND);
    let said = events(&run);
    phase("run 2 ended on the new leader");
    assert_eq!(run["run_status"], 3, "FINISHED: {run}\n{}", group.logs());
    assert_eq!(run["result_status"], 0, "{run}");
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
    let summary = get(new, "/v1/runs/2/summary");
    let sent = target.count();
    println!("the target counted {sent} requests ({before} before the leader died)");
    assert_eq!(sent, 480, "40/s for 12 s: every planned request once");
    assert_eq!(summary_stat(&summary, "http_reqs", "count"), sent as f64);
    assert_eq!(summary_stat(&summary, "iterations", "count"), sent as f64);
    assert_eq!(
        summary_stat(&summary, "checks", "passes"),
        2.0 * sent as f64
    );
    assert_eq!(summary_stat(&summary, "checks", "fails"), 0.0);
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
    assert_eq!(
        s3.exit_code(RUN_BOUND),
        0,
        "{}\n{}\n{}",
        s3.stdout.text(),
        s3.stderr.text(),
        group.logs()
    );
    for n in group.live() {
        wait_run(n, 3, |s| s == 3, RUN_BOUND);
    }
    phase("run 3 finished on the new leader, on both survivors");
    drop(group);
    let _ = std::fs::remove_dir_all(&dir);
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
    let _agents = [
        group.agent("ha-1"),
        group.agent("ha-2"),
        group.agent("ha-3"),
    ];
    for a in ["ha-1", "ha-2", "ha-3"] {
        wait_agent(group.node(first), a, RUN_BOUND);
    }
    let base_url = format!("BASE_URL={}", target.url);
    let mut submit = group.submit(first, &script, true, &["-e", &base_url]);
    let run = wait_run(group.node(first), 1, |s| s == 2, RUN_BOUND);
    assert_eq!(run["id"], 1);
    std::thread::sleep(Duration::from_secs(5));
    let before = target.count();
    assert!(before > 0, "the run sent no request in its first 5 s");
    let (killed, killed_wall) = (group.kill(first), SystemTime::now());
    let second = group.leader(FAILOVER_BOUND);
    let elected = killed.elapsed();
    assert_ne!(second, first);

    let code = submit.exit_code(RUN_BOUND);
    let (out, err) = (submit.stdout.text(), submit.stderr.text());
    let new = group.node(second);
    let run = wait_run(new, 1, |s| s >= 3, RUN_BOUND);
    let sent = target.count();
    let context = || format!("--- submit\n{out}{err}\n{}", group.logs());
    assert_eq!(code, 0, "submit --wait exits 0\n{}", context());
    assert_eq!(run["run_status"], 3, "FINISHED: {run}\n{}", context());
    assert_eq!(run["result_status"], 0, "{run}");
    assert_eq!(
        sent,
        540,
        "every planned iteration once at the target\n{}",
        context()
    );
    let summary = get(new, "/v1/runs/1/summary");
    for (name, stat, want) in [
        ("iterations", "count", 540.0),
        ("http_reqs", "count", 540.0),
        ("checks", "passes", 540.0),
        ("checks", "fails", 0.0),
    ] {
        assert_eq!(summary_stat(&summary, name, stat), want, "{name} {stat}");
    }
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
        .unwrap_or_else(|| panic!("submit --wait did not print {change:?}\n{}", context()));

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
    drop(group);
    let _ = std::fs::remove_dir_all(&dir);
}

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
    let _agents = [group.agent("ha-1"), group.agent("ha-2")];
    for a in ["ha-1", "ha-2"] {
        wait_agent(group.node(first), a, RUN_BOUND);
    }
    let mut submit = group.submit(first, &script, true, &[]);
    wait_run(group.node(first), 1, |s| s == 2, RUN_BOUND);
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

    let run = wait_run(group.node(second), 1, |s| s >= 3, RUN_BOUND);
    let code = submit.exit_code(RUN_BOUND);
    let context = || {
        format!(
            "--- submit\n{}{}\n{}",
            submit.stdout.text(),
            submit.stderr.text(),
            group.logs()
        )
    };
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
        context()
    );
    assert_eq!(run["abort_reason"]["reason"], "api_stop", "{run}");
    assert_eq!(run["exit_code"], 103, "{run}");
    assert_eq!(
        code,
        103,
        "submit --wait exits with the stop's code\n{}",
        context()
    );
    drop(group);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Creates sent twice (docs/ha.md#submits-sent-twice): with one `Idempotency-Key`, a test's
/// create and a run's start sent twice make one test and one run — the second answered with
/// the first one's (200, `Idempotent-Replayed: true`) — also when the second goes to the next
/// leader because the first leader was killed after answering; the key sent with another
/// request is refused (422); the keys are state every node holds; and each `volley submit`
/// makes one test and one run.
#[test]
fn creates_sent_twice_with_one_idempotency_key_make_one_test_and_one_run() {
    use base64::Engine as _;
    let _serial = serial();
    let dir = temp_dir("controller-ha-keys");
    let script = write_script(
        &dir,
        "short.js",
        "export const options = { vus: 1, iterations: 1 };\nexport default function () {}\n",
    );
    let tar = dir.join("short.tar");
    let made = Command::new(volley_bin())
        .arg("archive")
        .arg(&script)
        .arg("-O")
        .arg(&tar)
        .output()
        .expect("volley archive");
    assert!(made.status.success(), "{made:?}");
    let archive = std::fs::read(&tar).expect("archive");
    let test_body = |name: &str| {
        serde_json::json!({
            "name": name,
            "k6_archive": base64::engine::general_purpose::STANDARD.encode(&archive),
        })
    };
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let client = volley_api::client::Client::new(&group.rest_urls(first))
        .and_then(|c| c.with_timeout(Duration::from_secs(10)))
        .expect("client");
    let key = "e2e-submit-1";
    let send = |path: &str, body: &serde_json::Value| {
        let answer = client
            .request_keyed("POST", path, body, key)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (answer.status, answer.replayed, answer.json())
    };

    let (status, replayed, created) = send("/loadtests/v2/tests", &test_body("keyed"));
    assert_eq!((status, replayed), (201, false), "{created}");
    let test_id = created["k6-test"]["id"].as_u64().expect("test id");
    let start = format!("/loadtests/v2/tests/{test_id}/start-testrun");
    let (status, replayed, started) = send(&start, &serde_json::json!({}));
    assert_eq!((status, replayed), (200, false), "{started}");
    let run_id = started["k6-run"]["id"].as_u64().expect("run id");

    // The leader dies after answering; the same creates sent again reach its successor.
    for id in group.ids() {
        group.wait_caught_up(id, RUN_BOUND);
    }
    group.kill(first);
    let second = group.leader(FAILOVER_BOUND);
    let (status, replayed, again) = send("/loadtests/v2/tests", &test_body("keyed"));
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again["k6-test"]["id"], test_id);
    let (status, replayed, again) = send(&start, &serde_json::json!({}));
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again["k6-run"]["id"], run_id);

    // The key with another request (a run of another test) is refused.
    let other = client
        .request("POST", "/loadtests/v2/tests", Some(&test_body("other")))
        .expect("create another test");
    assert_eq!(other.status, 201);
    let other_id = other.json()["k6-test"]["id"].as_u64().expect("test id");
    let path = format!("/loadtests/v2/tests/{other_id}/start-testrun");
    let (status, _, refused) = send(&path, &serde_json::json!({}));
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");

    // One submit, one test and one run, with a key of its own.
    let mut submit = group.submit(second, &script, false, &[]);
    assert_eq!(submit.exit_code(RUN_BOUND), 0, "{}", submit.stderr.text());
    let new = group.node(second);
    assert_eq!(test_ids(new), [test_id, other_id, other_id + 1]);
    let runs: Vec<(u64, u64)> = get(new, "/loadtests/v2/runs")["k6-runs"]
        .as_array()
        .expect("k6-runs")
        .iter()
        .map(|r| {
            (
                r["id"].as_u64().unwrap_or(0),
                r["test_id"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(runs, [(run_id, test_id), (run_id + 1, other_id + 1)]);

    // The keys are state like any other: the old leader, back, holds the same.
    group.start(first);
    group.wait_same_state(RUN_BOUND);
    drop(group);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The end of a run that must lose nothing: run 1 is FINISHED on `leader`, `submit --wait`
/// exited `code` 0, the target counted exactly `want` requests (`plan` says why that many), and
/// the run's summary counts each once (one iteration and two passed checks per request).
/// Returns the run's record as `leader` holds it.
fn assert_finished_exactly(
    group: &Group,
    leader: u64,
    code: i32,
    submit: &Proc,
    target: &CountingTarget,
    want: u64,
    plan: &str,
) -> serde_json::Value {
    let run = wait_run(group.node(leader), 1, |s| s >= 3, RUN_BOUND);
    let context = || {
        format!(
            "--- submit\n{}{}\n{}",
            submit.stdout.text(),
            submit.stderr.text(),
            group.logs()
        )
    };
    assert_eq!(run["run_status"], 3, "FINISHED: {run}\n{}", context());
    assert_eq!(code, 0, "submit --wait exits 0\n{}", context());
    let sent = target.count();
    assert_eq!(sent, want, "{plan}: every planned request once");
    let summary = get(group.node(leader), "/v1/runs/1/summary");
    // On a mismatch, everything needed to tell a lost batch from a doubled one: the run (its
    // events say who resumed it and from which checkpoint), the summary and every log.
    let merged = |name: &str, stat: &str| summary_stat(&summary, name, stat);
    for (name, stat, want) in [
        ("http_reqs", "count", sent as f64),
        ("iterations", "count", sent as f64),
        ("checks", "passes", 2.0 * sent as f64),
    ] {
        assert_eq!(
            merged(name, stat),
            want,
            "{plan}: merged {name} {stat} against the target's {sent}\nrun: {run}\nsummary: {summary}\n{}",
            context()
        );
    }
    run
}

#[test]
fn a_rolling_restart_of_every_controller_during_a_run_loses_nothing() {
    let _serial = serial();
    let dir = temp_dir("controller-ha-rolling");
    // 40 requests a second for 20 s over two agents, one request and two checks each.
    let counted = workspace_root().join("tests/failure-scripts/resume.js");
    let target = CountingTarget::start();
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let _agents = [group.agent("ha-1"), group.agent("ha-2")];
    wait_agent(group.node(first), "ha-1", RUN_BOUND);
    wait_agent(group.node(first), "ha-2", RUN_BOUND);
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=20s"];
    let mut submit = group.submit(first, &counted, true, &args);
    wait_run(group.node(first), 1, |s| s == 2, RUN_BOUND);
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
        assert_eq!(
            wait_run(group.node(id), 1, |_| true, RUN_BOUND)["run_status"],
            2,
            "the run is still RUNNING after node {id}'s restart"
        );
    }
    let code = submit.exit_code(RUN_BOUND);
    let leader = group.leader(FAILOVER_BOUND);
    let run = assert_finished_exactly(&group, leader, code, &submit, &target, 800, "40/s for 20 s");
    assert!(
        !events(&run).iter().any(|m| m.contains("AGENT_LOST")),
        "no agent lost: {:?}",
        events(&run)
    );
    // Every node ends with the same record of the run, and the same state byte for byte.
    group.wait_same_state(RUN_BOUND);
    for n in &group.nodes {
        let there = wait_run(n, 1, |s| s >= 3, RUN_BOUND);
        assert_eq!(there["transitions"], run["transitions"], "node {}", n.id);
        assert_eq!(there["events"], run["events"], "node {}", n.id);
    }
    drop(group);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every namespace, veth and bridge of the partition test starts with this (a crashed run's
/// leftovers are swept at the next start).
const NET_PREFIX: &str = "vlyh";

/// Three namespaces c1..c3 on one bridge (`subnet`.0/24), one per controller, and each one's
/// (namespace, address) as [`Group::in_namespaces`] takes them.
fn controller_namespaces(subnet: &str, mac_prefix: &str) -> (Bridged, Vec<(String, String)>) {
    let net = Bridged::create(NET_PREFIX, subnet, mac_prefix, &["c1", "c2", "c3"]);
    let hosts = (1..=3)
        .map(|id| {
            let h = net.host(&format!("c{id}"));
            (h.ns.clone(), h.addr.clone())
        })
        .collect();
    (net, hosts)
}
/// Serializes the tests that build network namespaces named [`NET_PREFIX`]…, across test
/// processes.
const NET_LOCK: &str = "/tmp/volley-e2e-controller-ha.lock";

/// The history of every run `node` holds: id, status, transitions (with their times) and
/// events (with theirs), as its API shows them.
fn histories(node: &Node) -> Vec<serde_json::Value> {
    let runs = get(node, "/loadtests/v2/runs?page_size=1000");
    let mut ids: Vec<u64> = runs["k6-runs"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let run = wait_run(node, id, |_| true, RUN_BOUND);
            serde_json::json!({
                "id": id,
                "run_status": run["run_status"],
                "result_status": run["result_status"],
                "transitions": run["transitions"],
                "events": run["events"],
            })
        })
        .collect()
}

#[test]
fn a_leader_partitioned_from_both_followers_steps_down_and_the_majority_goes_on() {
    let _serial = serial();
    let Some(_lab) = lab("controller_ha partition", NET_LOCK, NET_PREFIX) else {
        return;
    };
    let dir = temp_dir("controller-ha-partition");
    let (net, hosts) = controller_namespaces("10.253.1", "02:00:5e:00:5e:11");
    let name = |id: u64| format!("c{id}");
    // 40 requests a second for 24 s over two agents (in the root namespace, against a target
    // on its loopback), one request and two checks each.
    let counted = workspace_root().join("tests/failure-scripts/resume.js");
    let target = CountingTarget::start();
    let mut group = Group::in_namespaces(&dir, &hosts);
    let old = group.leader(FAILOVER_BOUND);
    let _agents = [group.agent("ha-1"), group.agent("ha-2")];
    wait_agent(group.node(old), "ha-1", RUN_BOUND);
    wait_agent(group.node(old), "ha-2", RUN_BOUND);
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=24s"];
    let mut submit = group.submit(old, &counted, true, &args);
    wait_run(group.node(old), 1, |s| s == 2, RUN_BOUND);
    std::thread::sleep(Duration::from_secs(4));

    // The leader loses both followers; it still reaches the agents, the clients and the test.
    let before = target.count();
    let cut = Instant::now();
    for id in group.ids().into_iter().filter(|&id| id != old) {
        net.black_hole(&name(old), &name(id));
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
        net.mend(&name(old), &name(id));
    }
    group.start(old);
    group.wait_caught_up(old, RUN_BOUND);
    assert_eq!(
        group.leader(FAILOVER_BOUND),
        new,
        "the majority's leader stays"
    );

    let code = submit.exit_code(RUN_BOUND);
    assert_finished_exactly(&group, new, code, &submit, &target, 960, "40/s for 24 s");

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
    drop(group);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        leftovers(NET_PREFIX).is_empty(),
        "{:?}",
        leftovers(NET_PREFIX)
    );
}
/// One client operation of the history test, as the client saw it.
#[derive(Debug, Clone)]
struct Op {
    client: usize,
    /// `submit` (its note, unique per attempt) or `stop` (the run).
    kind: OpKind,
    /// When the client got its answer.
    ended: SystemTime,
    /// Exit code 0: acknowledged; otherwise the attempt may or may not have taken effect.
    acked: bool,
    /// What the client printed.
    said: String,
}

#[derive(Debug, Clone, PartialEq)]
enum OpKind {
    Submit { note: String, run: Option<u64> },
    Stop { run: u64 },
}

/// A run of two short iterations (about 1 s on an agent).
const TINY: &str = "import { sleep } from 'k6';\n\
export const options = { vus: 1, iterations: 2 };\n\
export default function () { sleep(0.3); }\n";

/// How long the clients and the nemesis go on.
const CHAOS: Duration = Duration::from_secs(40);

/// Runs `volley submit` or `volley stop` through every controller and records the outcome.
fn client_loop(
    client: usize,
    urls: String,
    script: PathBuf,
    until: Instant,
    ops: std::sync::Arc<std::sync::Mutex<Vec<Op>>>,
) {
    let mut mine: Vec<u64> = Vec::new();
    let mut k = 0u64;
    while Instant::now() < until {
        k += 1;
        // Two submits for one stop, the stop of one of this client's own runs.
        let stop = k
            .is_multiple_of(3)
            .then(|| mine.get((k as usize * 7) % mine.len().max(1)).copied());
        let mut cmd = Command::new(volley_bin());
        let kind = match stop.flatten() {
            Some(run) => {
                cmd.args(["stop", &run.to_string(), "--controller", &urls]);
                OpKind::Stop { run }
            }
            None => {
                let note = format!("c{client}-op{k}");
                cmd.args(["submit", "--controller", &urls, "--note", &note])
                    .args(["--name", &note])
                    .arg(&script);
                OpKind::Submit { note, run: None }
            }
        };
        cmd.env_remove("VOLLEY_TOKEN");
        let mut p = Proc::spawn(&mut cmd);
        let code = p.wait_exit(Duration::from_secs(90)).and_then(|s| s.code());
        let said = format!("{}{}", p.stdout.text(), p.stderr.text());
        let acked = code == Some(0);
        let kind = match kind {
            OpKind::Submit { note, .. } => {
                // "run 7 submitted (test 9); …"
                let run = said
                    .lines()
                    .find_map(|l| l.strip_prefix("run ")?.split(' ').next()?.parse().ok());
                if acked {
                    mine.extend(run);
                }
                OpKind::Submit { note, run }
            }
            stop => stop,
        };
        ops.lock().unwrap_or_else(|e| e.into_inner()).push(Op {
            client,
            kind,
            ended: SystemTime::now(),
            acked,
            said,
        });
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// The RFC 3339 time `at` as a `SystemTime` (today's date assumed, as in [`ms_after`]).
fn at_time(at: &str) -> SystemTime {
    let now = SystemTime::now();
    let ms = ms_after(now, at);
    if ms >= 0 {
        now + Duration::from_millis(ms as u64)
    } else {
        now - Duration::from_millis(ms.unsigned_abs())
    }
}

/// The history checker. It found liveness bugs of failover (docs/ha.md#leadership): agents
/// left busy with runs the new leader did not drive, so the queue drained at one run per
/// `agent_lost_after`, and runs left VALIDATED by a submit cut short, never ended. About
/// 50–90 s on a loaded 2-core machine.
#[test]
fn concurrent_submits_and_stops_through_kills_and_partitions_keep_one_history() {
    let _serial = serial();
    let Some(_lab) = lab("controller_ha history", NET_LOCK, NET_PREFIX) else {
        return;
    };
    let dir = temp_dir("controller-ha-history");
    let script = write_script(&dir, "tiny.js", TINY);
    let (net, hosts) = controller_namespaces("10.253.2", "02:00:5e:00:5e:12");
    let name = |id: u64| format!("c{id}");
    let mut group = Group::in_namespaces(&dir, &hosts);
    let first = group.leader(FAILOVER_BOUND);
    let _agents = [
        group.agent("ha-1"),
        group.agent("ha-2"),
        group.agent("ha-3"),
    ];
    for a in ["ha-1", "ha-2", "ha-3"] {
        wait_agent(group.node(first), a, RUN_BOUND);
    }

    // Three clients submit and stop runs through every controller while the nemesis below
    // kills and cuts off controllers.
    let t0 = Instant::now();
    let until = t0 + CHAOS;
    let ops = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (1..=3)
        .map(|c| {
            let (urls, script, ops) = (group.rest_urls(c), script.clone(), ops.clone());
            std::thread::spawn(move || client_loop(c as usize, urls, script, until, ops))
        })
        .collect();
    let at = |secs: u64| {
        let when = t0 + Duration::from_secs(secs);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
    };
    let log = |what: String| println!("{:>5.1} s  {what}", t0.elapsed().as_secs_f64());
    let others = |g: &Group, id: u64| g.ids().into_iter().filter(move |&o| o != id);
    // 1. The leader is killed, and started again 3 s later.
    at(4);
    let leader = group.leader(FAILOVER_BOUND);
    group.kill(leader);
    log(format!("killed leader {leader}"));
    at(7);
    group.start(leader);
    // 2. The leader is cut off from both followers; it steps down and stops; healed, it is
    //    started again.
    at(12);
    let leader = group.leader(FAILOVER_BOUND);
    for o in others(&group, leader).collect::<Vec<_>>() {
        net.black_hole(&name(leader), &name(o));
    }
    log(format!("cut off leader {leader}"));
    let code = group.wait_exit(leader, FAILOVER_BOUND);
    log(format!("node {leader} stopped (exit {code})"));
    for o in others(&group, leader).collect::<Vec<_>>() {
        net.mend(&name(leader), &name(o));
    }
    group.start(leader);
    // 3. A follower is killed and started again.
    at(22);
    let leader = group.leader(FAILOVER_BOUND);
    let follower = others(&group, leader).next().expect("a follower");
    group.kill(follower);
    log(format!("killed follower {follower}"));
    at(25);
    group.start(follower);
    // 4. A follower is cut off from the others (a minority partition), then healed.
    at(28);
    let leader = group.leader(FAILOVER_BOUND);
    let follower = others(&group, leader).next_back().expect("a follower");
    for o in others(&group, follower).collect::<Vec<_>>() {
        net.black_hole(&name(follower), &name(o));
    }
    log(format!("cut off follower {follower}"));
    at(32);
    for o in others(&group, follower).collect::<Vec<_>>() {
        net.mend(&name(follower), &name(o));
    }
    // 5. The leader is killed once more.
    at(34);
    let leader = group.leader(FAILOVER_BOUND);
    group.kill(leader);
    log(format!("killed leader {leader}"));
    at(36);
    group.start(leader);
    for c in clients {
        c.join().expect("client thread");
    }
    let ops = ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
    log(format!("{} client operations", ops.len()));

    // Settle: every run ends (the queued ones run), and the nodes agree.
    let leader = group.leader(FAILOVER_BOUND);
    let settle = Instant::now();
    let runs = loop {
        let list = get(group.node(leader), "/loadtests/v2/runs?page_size=1000");
        let runs: Vec<serde_json::Value> = list["k6-runs"].as_array().cloned().unwrap_or_default();
        if runs
            .iter()
            .all(|r| r["run_status"].as_i64().is_some_and(|s| s >= 3))
        {
            break runs;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(90),
            "runs still not ended 90 s after the chaos: {:?}\n{}",
            runs.iter()
                .filter(|r| r["run_status"].as_i64().is_none_or(|s| s < 3))
                .map(|r| (r["id"].clone(), r["run_status"].clone(), r["note"].clone()))
                .collect::<Vec<_>>(),
            group.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let state = group.wait_same_state(RUN_BOUND);
    log(format!(
        "{} runs, all ended; every node holds {state}",
        runs.len()
    ));

    // The checker.
    let mut problems: Vec<String> = Vec::new();
    let mut by_note: std::collections::BTreeMap<String, Vec<&serde_json::Value>> =
        Default::default();
    let mut ids = std::collections::BTreeSet::new();
    let mut tests = std::collections::BTreeSet::new();
    for r in &runs {
        if !ids.insert(r["id"].as_u64()) {
            problems.push(format!("run id {} listed twice", r["id"]));
        }
        if !tests.insert(r["test_id"].as_u64()) {
            problems.push(format!(
                "test {} has two runs (one submit each)",
                r["test_id"]
            ));
        }
        by_note
            .entry(r["note"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(r);
    }
    let attempted: std::collections::BTreeSet<String> = ops
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Submit { note, .. } => Some(note.clone()),
            OpKind::Stop { .. } => None,
        })
        .collect();
    for (note, rs) in &by_note {
        if !attempted.contains(note) {
            problems.push(format!(
                "run(s) {rs:?} with note {note:?} that no client submitted"
            ));
        }
        if rs.len() > 1 {
            let ids: Vec<_> = rs.iter().map(|r| r["id"].clone()).collect();
            problems.push(format!(
                "one submit ({note}) made {} runs: {ids:?}",
                rs.len()
            ));
        }
    }
    let mut acked_submits = 0;
    let mut acked_stops = 0;
    for op in &ops {
        match (&op.kind, op.acked) {
            (OpKind::Submit { note, run }, true) => {
                acked_submits += 1;
                let found = by_note.get(note).map_or(0, Vec::len);
                if found != 1 {
                    problems.push(format!(
                        "acknowledged submit {note} (run {run:?}) exists {found} times"
                    ));
                } else if by_note[note][0]["id"].as_u64() != *run {
                    problems.push(format!(
                        "acknowledged submit {note} was told run {run:?}, the group holds run {} for it",
                        by_note[note][0]["id"]
                    ));
                }
            }
            (OpKind::Stop { run }, true) => {
                acked_stops += 1;
                let Some(r) = runs.iter().find(|r| r["id"].as_u64() == Some(*run)) else {
                    problems.push(format!("stopped run {run} does not exist"));
                    continue;
                };
                // Stopped: ABORTED_BY_USER, unless it had ended before the stop was answered.
                let ended = r["transitions"]
                    .as_array()
                    .and_then(|t| t.last())
                    .and_then(|t| t["at"].as_str())
                    .map(at_time);
                let before = ended.is_some_and(|e| e <= op.ended + Duration::from_secs(1));
                if r["run_status"] != 5 && !before {
                    problems.push(format!(
                        "run {run}'s stop was acknowledged ({:?}) but it ended {} later: {}",
                        op.said.trim(),
                        r["run_status"],
                        r["transitions"]
                    ));
                }
            }
            _ => {}
        }
    }
    println!(
        "history: {} operations ({acked_submits} submits and {acked_stops} stops acknowledged, \
         {} not), {} runs",
        ops.len(),
        ops.iter().filter(|o| !o.acked).count(),
        runs.len()
    );
    for o in ops.iter().filter(|o| !o.acked) {
        println!(
            "  not acknowledged (client {}): {:?}: {}",
            o.client,
            o.kind,
            o.said.trim()
        );
    }
    assert!(acked_submits >= 10, "too few submits got through: {ops:?}");
    assert!(
        problems.is_empty(),
        "the history is not linear:\n{}\n{}",
        problems.join("\n"),
        group.logs()
    );
    drop(group);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        leftovers(NET_PREFIX).is_empty(),
        "{:?}",
        leftovers(NET_PREFIX)
    );
}
