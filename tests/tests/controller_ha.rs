//! Three `volley controller` processes in one Raft group on loopback (docs/ha.md): the group
//! elects a leader; two agents given every controller's URL link to the leader; a run
//! submitted with the follower first in the list is redirected to the leader and finishes, and
//! its records reach every node; the leader is killed with SIGKILL while a second run (a fixed
//! number of requests to a counting target, over both agents) is RUNNING; the two others elect
//! a new leader within [`FAILOVER_BOUND`], which resumes the run from the last checkpoint a
//! quorum committed: the agents follow it and replay what was not acknowledged, and the run
//! FINISHES with its totals equal to the requests the target counted (every batch counted
//! once), no agent lost; a new submission with the dead controller first in the list runs to
//! the end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::k6_client::CountingTarget;
use volley_e2e::{
    free_port, http_request, printed_url, raw_http, summary_stat, temp_dir, volley_bin,
    workspace_root, Proc,
};

/// How long the survivors may take to elect a new leader. An election takes one election
/// timeout (1–2 s) and a vote round, a second timeout when a pre-vote meets a live leader
/// lease: 1.0–2.7 s measured in-process (docs/ha.md#timeouts). The bound leaves room for a
/// machine busy with other builds; the time taken is printed.
const FAILOVER_BOUND: Duration = Duration::from_secs(15);
/// How long a short run, or a node catching up with the leader, may take.
const RUN_BOUND: Duration = Duration::from_secs(60);

struct Node {
    id: u64,
    proc: Option<Proc>,
    rest_port: u16,
    grpc_url: String,
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url:?}"))
}

/// Starts node `id` of the group whose Raft ports are `raft` (node id - 1 → port).
fn start_node(id: u64, raft: &[u16], dir: &Path) -> Node {
    let mut cmd = Command::new(volley_bin());
    cmd.args([
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--grpc",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(dir.join(format!("node-{id}")))
    .args(["--node-id", &id.to_string()])
    .args(["--raft", &format!("127.0.0.1:{}", raft[id as usize - 1])])
    .env("RUST_LOG", "info");
    for (i, port) in raft.iter().enumerate() {
        let peer = i as u64 + 1;
        if peer != id {
            cmd.args(["--peer", &format!("{peer}=127.0.0.1:{port}")]);
        }
    }
    let proc = Proc::spawn(&mut cmd);
    let rest_port = port_of(&printed_url(&proc, "REST API on"));
    let grpc_url = printed_url(&proc, "gRPC for agents on");
    Node {
        id,
        proc: Some(proc),
        rest_port,
        grpc_url,
    }
}

/// What a node says to a write: 404 from the leader (no such run), 307 from a follower that
/// knows the leader, 503 while none is known.
fn write_probe(node: &Node) -> u16 {
    raw_http(
        node.rest_port,
        "POST /loadtests/v2/runs/999999/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json",
        "{}",
    )
    .0
}

/// Waits until exactly one of the live `nodes` takes writes and the others redirect to it.
fn leader(nodes: &[&Node], within: Duration) -> u64 {
    let started = Instant::now();
    loop {
        let answers: Vec<(u64, u16)> = nodes.iter().map(|n| (n.id, write_probe(n))).collect();
        let leaders: Vec<u64> = answers
            .iter()
            .filter(|(_, s)| *s == 404)
            .map(|(id, _)| *id)
            .collect();
        if leaders.len() == 1 && answers.iter().all(|(_, s)| *s == 404 || *s == 307) {
            return leaders[0];
        }
        assert!(
            started.elapsed() < within,
            "no single leader within {within:?}: {answers:?}\n{}",
            logs(nodes)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logs(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .filter_map(|n| n.proc.as_ref().map(|p| (n.id, p)))
        .map(|(id, p)| format!("--- node {id}\n{}{}", p.stdout.text(), p.stderr.text()))
        .collect()
}

fn get(node: &Node, path: &str) -> Value {
    let (status, body) = http_request(node.rest_port, "GET", path, None, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("GET {path} on node {}: {e}", node.id));
    assert_eq!(status, 200, "GET {path} on node {}: {body}", node.id);
    serde_json::from_str(&body).expect("JSON")
}

/// Waits until `node` holds run `id` in a status `done` accepts; returns the run.
fn wait_run(node: &Node, id: u64, done: impl Fn(i64) -> bool, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = http_request(
            node.rest_port,
            "GET",
            &format!("/loadtests/v2/runs/{id}"),
            None,
            Duration::from_secs(5),
        )
        .expect("GET run");
        if status == 200 {
            let run: Value = serde_json::from_str(&body).expect("JSON");
            if run["k6-run"]["run_status"].as_i64().is_some_and(&done) {
                return run["k6-run"].clone();
            }
        }
        assert!(
            started.elapsed() < within,
            "node {} does not hold run {id} as expected within {within:?}: {status} {body}",
            node.id
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An agent given every controller's gRPC URL.
fn agent(name: &str, nodes: &[Node], dir: &Path) -> Proc {
    let tmp = dir.join(format!("tmp-{name}"));
    std::fs::create_dir_all(&tmp).expect("agent tmp");
    let urls: Vec<&str> = nodes.iter().map(|n| n.grpc_url.as_str()).collect();
    let mut cmd = Command::new(volley_bin());
    cmd.args(["agent", "--controller", &urls.join(","), "--name", name])
        .env("TMPDIR", tmp);
    Proc::spawn(&mut cmd)
}

/// The controllers' REST URLs, `first` first.
fn rest_urls(nodes: &[Node], first: u64) -> String {
    let mut ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    ids.sort_by_key(|&id| id != first);
    ids.iter()
        .map(|id| format!("http://127.0.0.1:{}", nodes[(id - 1) as usize].rest_port))
        .collect::<Vec<_>>()
        .join(",")
}

/// Waits until `node` lists agent `name` as connected and idle.
fn wait_agent(node: &Node, name: &str) {
    let started = Instant::now();
    while !get(node, "/v1/agents")["agents"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["name"] == name && a["state"] == "idle"))
    {
        assert!(
            started.elapsed() < RUN_BOUND,
            "agent {name} did not register with node {}",
            node.id
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn submit(controllers: &str, script: &Path, wait: bool, args: &[&str]) -> Proc {
    let mut cmd = Command::new(volley_bin());
    cmd.args(["submit", "--controller", controllers]);
    if wait {
        cmd.arg("--wait");
    }
    Proc::spawn(cmd.args(args).arg(script))
}

/// The messages of a run's events.
fn events(run: &Value) -> Vec<String> {
    run["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["message"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn test_ids(node: &Node) -> Vec<u64> {
    get(node, "/loadtests/v2/tests")["k6-tests"]
        .as_array()
        .expect("k6-tests")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect()
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("script");
    p
}

#[test]
fn a_killed_leader_is_replaced_and_the_group_keeps_every_record() {
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
    let raft: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<Node> = (1..=3).map(|id| start_node(id, &raft, &dir)).collect();
    let first = leader(&nodes.iter().collect::<Vec<_>>(), FAILOVER_BOUND);
    let at = |id: u64| (id - 1) as usize;
    let follower = nodes.iter().find(|n| n.id != first).expect("a follower").id;
    phase(&format!("node {first} leads"));

    // A run submitted through a follower is redirected to the leader and finishes there.
    let _agents = [agent("ha-1", &nodes, &dir), agent("ha-2", &nodes, &dir)];
    wait_agent(&nodes[at(first)], "ha-1");
    wait_agent(&nodes[at(first)], "ha-2");
    let mut s = submit(&rest_urls(&nodes, follower), &short, true, &[]);
    let code = s.exit_code(RUN_BOUND);
    assert_eq!(
        code,
        0,
        "submit through follower {follower}\n{}\n{}\n{}",
        s.stdout.text(),
        s.stderr.text(),
        logs(&nodes.iter().collect::<Vec<_>>())
    );
    for n in &nodes {
        wait_run(n, 1, |s| s == 3, RUN_BOUND);
    }
    phase("run 1 finished, on every node");

    // A second run is RUNNING, on both agents, when the leader dies.
    let base_url = format!("BASE_URL={}", target.url);
    let args = ["-e", base_url.as_str(), "-e", "DURATION=12s"];
    let mut s2 = submit(&rest_urls(&nodes, first), &counted, false, &args);
    assert_eq!(s2.exit_code(RUN_BOUND), 0, "{}", s2.stderr.text());
    wait_run(&nodes[at(first)], 2, |s| s == 2, RUN_BOUND);
    std::thread::sleep(Duration::from_secs(4));
    let tests_before = test_ids(&nodes[at(first)]);
    assert!(tests_before.len() >= 2, "{tests_before:?}");
    let before = target.count();
    assert!(before > 0, "the run sent no request in its first 4 s");
    phase(&format!(
        "run 2 running ({before} requests so far); killing the leader"
    ));
    let killed = Instant::now();
    nodes[at(first)].proc.take().expect("leader process").kill();
    let survivors: Vec<&Node> = nodes.iter().filter(|n| n.id != first).collect();
    let second = leader(&survivors, FAILOVER_BOUND);
    let failover = killed.elapsed();
    println!("new leader: node {second} in {failover:?} after node {first} was killed");
    assert_ne!(second, first);
    let new = &nodes[at(second)];

    // The new leader holds the tests and the finished run, resumes run 2 from the committed
    // checkpoint, takes both agents back and finishes it with every request counted once.
    assert_eq!(test_ids(new), tests_before);
    assert_eq!(wait_run(new, 1, |s| s == 3, RUN_BOUND)["id"], 1);
    let run = wait_run(new, 2, |s| s >= 3, RUN_BOUND);
    let said = events(&run);
    phase("run 2 ended on the new leader");
    assert_eq!(
        run["run_status"],
        3,
        "FINISHED: {run}\n{}",
        logs(&survivors)
    );
    assert_eq!(run["result_status"], 0, "{run}");
    assert!(
        said.iter().filter(|m| m.contains("re-attached")).count() == 2
            && !said.iter().any(|m| m.contains("AGENT_LOST")),
        "both agents re-attach, none is lost: {said:?}"
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
    let (status, metrics) = http_request(
        new.rest_port,
        "GET",
        "/metrics",
        None,
        Duration::from_secs(5),
    )
    .expect("GET /metrics");
    assert_eq!(status, 200, "{metrics}");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
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
    assert_eq!(value("volley_raft_leader"), 1.0, "{metrics}");
    assert!(
        value("volley_raft_leader_changes_total") >= 1.0,
        "{metrics}"
    );
    let took = value("volley_checkpoint_duration_seconds_sum");
    println!(
        "the new leader committed {count} checkpoints of run 2, {:.0} bytes and {:.1} ms each \
         on average",
        bytes / count,
        1000.0 * took / count
    );

    // `volley controllers` shows the new leader, its follower and the dead node.
    let mut ctl = Command::new(volley_bin());
    ctl.args(["controllers", "--controller", &rest_urls(&nodes, first)]);
    let mut ctl = Proc::spawn(&mut ctl);
    assert_eq!(ctl.exit_code(RUN_BOUND), 0, "{}", ctl.stderr.text());
    let table = ctl.stdout.text();
    println!("{table}");
    let line_of = |id: u64| {
        let url = format!("http://127.0.0.1:{}", nodes[at(id)].rest_port);
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
    let other = survivors.iter().find(|n| n.id != second).expect("other").id;
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
    wait_agent(new, "ha-1");
    phase("the agent is back, on the new leader");
    let mut s3 = submit(&rest_urls(&nodes, first), &short, true, &[]);
    assert_eq!(
        s3.exit_code(RUN_BOUND),
        0,
        "{}\n{}\n{}",
        s3.stdout.text(),
        s3.stderr.text(),
        logs(&survivors)
    );
    for n in &survivors {
        wait_run(n, 3, |s| s == 3, RUN_BOUND);
    }
    phase("run 3 finished on the new leader, on both survivors");
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}
