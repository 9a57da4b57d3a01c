//! The membership of a controllers' Raft group changed at run time (docs/ha.md#changing-the-membership):
//! one controller started as a group of one (`--node-id 1 --raft …`), grown to three by
//! starting each new controller with `--join` and adding it with `volley controllers add`
//! (once through a follower, which forwards it to the leader), then shrunk to two with `volley
//! controllers remove`, while a client keeps submitting tests and an agent runs them. Every
//! submit is accepted, every node added catches up with every test created before it joined,
//! and after each change every member's `GET /v1/controllers` lists the same voters. The
//! refusals name their fix: an id already in the group, a controller that does not answer on
//! its Raft port (within a bounded wait), the last voter, the leader itself.
//!
//! Nodes added after a test was created catch up from a snapshot, which carries no archives:
//! they fetch the test's archive from a peer by hash, and one of them, leading once the first
//! node is killed, runs that test to the end (docs/ha.md#archives-after-a-snapshot).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::ha::{member_logs, Member as Node};
use volley_e2e::{free_port, http_request, temp_dir, volley_bin, Proc};

/// How long a node may take to lead, join or catch up on a busy machine.
const BOUND: Duration = Duration::from_secs(60);

/// Starts controller `id` (REST and gRPC on ports the system picks, the Raft port on a free
/// one); `peers` are the current members' (id, Raft port) and `join` makes it wait to be added.
fn start(id: u64, peers: &[(u64, u16)], join: bool, dir: &Path) -> Node {
    let join: &[&OsStr] = if join { &[OsStr::new("--join")] } else { &[] };
    Node::start_on_a_free_port(id, peers, dir, join)
}

fn logs(nodes: &[&Node]) -> String {
    member_logs(nodes)
}

fn get(node: &Node, path: &str) -> Value {
    node.get(path)
}

fn write_probe(node: &Node) -> u16 {
    node.write_probe()
}

/// The voters `node` lists, and the role it gives itself.
fn group(node: &Node) -> (Vec<u64>, String) {
    let list = get(node, "/v1/controllers");
    let me = list["node"].as_u64().expect("node");
    let mut voters = Vec::new();
    let mut role = String::new();
    for c in list["controllers"].as_array().expect("controllers") {
        let id = c["node"].as_u64().expect("node id");
        let r = c["role"].as_str().unwrap_or_default();
        if id == me {
            role = r.to_string();
        }
        if r != "not a voter" {
            voters.push(id);
        }
    }
    (voters, role)
}

/// Waits until every node in `nodes` lists exactly `voters`, one of them says it leads and
/// the others that they follow; returns the leader.
fn agreed(nodes: &[&Node], voters: &[u64]) -> u64 {
    let started = Instant::now();
    loop {
        let views: Vec<(u64, Vec<u64>, String)> = nodes
            .iter()
            .map(|n| {
                let (v, r) = group(n);
                (n.id, v, r)
            })
            .collect();
        let leaders: Vec<u64> = views
            .iter()
            .filter(|(_, _, r)| r == "leader")
            .map(|(id, _, _)| *id)
            .collect();
        if leaders.len() == 1
            && views
                .iter()
                .all(|(_, v, r)| v == voters && (r == "leader" || r == "follower"))
        {
            return leaders[0];
        }
        assert!(
            started.elapsed() < BOUND,
            "the nodes do not agree on voters {voters:?} within {BOUND:?}: {views:?}\n{}",
            logs(nodes)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn test_ids(node: &Node) -> Vec<u64> {
    get(node, "/loadtests/v2/tests")["k6-tests"]
        .as_array()
        .expect("k6-tests")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect()
}

/// Waits until `node` holds the same tests as `leader`.
fn caught_up(node: &Node, leader: &Node) {
    let started = Instant::now();
    loop {
        let (mine, theirs) = (test_ids(node), test_ids(leader));
        if mine == theirs && !mine.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < BOUND,
            "node {} holds tests {mine:?}, the leader {theirs:?}",
            node.id
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `volley controllers ARGS --controller URLS`: exit code, stdout, stderr.
fn controllers(urls: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(volley_bin());
    cmd.arg("controllers")
        .args(args)
        .args(["--controller", urls]);
    let mut p = Proc::spawn(&mut cmd);
    let code = p.exit_code(BOUND);
    (code, p.stdout.text(), p.stderr.text())
}

/// Submits `script` in a loop (without waiting for the runs) to the controllers in `urls`
/// until `stop`; returns each submit's exit code and output.
fn submitter(
    urls: Arc<Mutex<String>>,
    script: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(i32, String)>> {
    std::thread::spawn(move || {
        let mut outcomes = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let to = urls.lock().expect("urls").clone();
            let mut cmd = Command::new(volley_bin());
            cmd.args(["submit", "--controller", &to]).arg(&script);
            let mut p = Proc::spawn(&mut cmd);
            let code = p.exit_code(BOUND);
            outcomes.push((code, format!("{}{}", p.stdout.text(), p.stderr.text())));
            std::thread::sleep(Duration::from_millis(200));
        }
        outcomes
    })
}

#[test]
fn a_group_grows_from_one_to_three_and_shrinks_to_two_while_taking_submits() {
    let dir = temp_dir("controller-membership");
    let script = dir.join("short.js");
    std::fs::write(
        &script,
        "export const options = { vus: 1, iterations: 3 };\nexport default function () {}\n",
    )
    .expect("script");
    let t0 = Instant::now();
    let phase = |what: &str| println!("{:>6.1} s  {what}", t0.elapsed().as_secs_f64());

    // A group of one: node 1 leads alone and takes writes. Nodes 2 and 3 start now with
    // --join (so that the agent can be given every controller) and wait to be added.
    let n1 = start(1, &[], false, &dir);
    let n2 = start(2, &[(1, n1.raft_port)], true, &dir);
    let n3 = start(3, &[(1, n1.raft_port), (2, n2.raft_port)], true, &dir);
    let started = Instant::now();
    while write_probe(&n1) != 404 {
        assert!(started.elapsed() < BOUND, "node 1 does not lead alone");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(agreed(&[&n1], &[1]), 1);
    phase("node 1 leads a group of one");
    let grpc: Vec<&str> = [&n1, &n2, &n3].map(|n| n.grpc_url.as_str()).to_vec();
    let mut agent_cmd = Command::new(volley_bin());
    let tmp = dir.join("tmp-agent");
    std::fs::create_dir_all(&tmp).expect("agent tmp");
    agent_cmd
        .args(["agent", "--controller", &grpc.join(","), "--name", "m-1"])
        .env("TMPDIR", tmp);
    let _agent = Proc::spawn(&mut agent_cmd);

    let urls = Arc::new(Mutex::new(n1.url()));
    let stop = Arc::new(AtomicBool::new(false));
    let submits = submitter(urls.clone(), script.clone(), stop.clone());

    // Refusals of a group of one: the last voter, an id already in it, a node not running.
    let (code, _, err) = controllers(&n1.url(), &["remove", "1"]);
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("only voter"), "{err}");
    let (code, _, err) = controllers(
        &n1.url(),
        &["add", &format!("1=127.0.0.1:{}", n1.raft_port)],
    );
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("node 1 is already in the group"), "{err}");
    let dead = free_port();
    let asked = Instant::now();
    let (code, _, err) = controllers(&n1.url(), &["add", &format!("5=127.0.0.1:{dead}")]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("cannot reach node 5's Raft port") && err.contains("--join"),
        "{err}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
    let (code, _, err) = controllers(&n1.url(), &["add", "2=nowhere"]);
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("HOST:PORT"), "{err}");
    assert_eq!(agreed(&[&n1], &[1]), 1, "a refused change changed nothing");

    // 1 → 2: node 2, started with --join, is not a voter until added, then catches up.
    assert_eq!(group(&n2).1, "not a voter");
    assert_eq!(group(&n3).1, "not a voter");
    // Tests exist before node 2 joins: it must catch up with them.
    let started = Instant::now();
    while test_ids(&n1).is_empty() {
        assert!(started.elapsed() < BOUND, "no submit accepted by node 1");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out, err) = controllers(
        &n1.url(),
        &["add", &format!("2=127.0.0.1:{}", n2.raft_port)],
    );
    assert_eq!(code, 0, "{out}{err}\n{}", logs(&[&n1, &n2]));
    assert!(out.contains("node 2 added"), "{out}");
    let leader = agreed(&[&n1, &n2], &[1, 2]);
    assert_eq!(leader, 1);
    caught_up(&n2, &n1);
    *urls.lock().expect("urls") = format!("{},{}", n1.url(), n2.url());
    phase("node 2 added; it holds every test");

    // 2 → 3, asked of the follower (node 2), which forwards it to the leader.
    let via_follower = format!("{},{}", n2.url(), n1.url());
    let (code, out, err) = controllers(
        &via_follower,
        &["add", &format!("3=127.0.0.1:{}", n3.raft_port)],
    );
    assert_eq!(code, 0, "{out}{err}\n{}", logs(&[&n1, &n2, &n3]));
    let all = [&n1, &n2, &n3];
    let leader = agreed(&all, &[1, 2, 3]);
    let lead = all[(leader - 1) as usize];
    caught_up(&n3, lead);
    *urls.lock().expect("urls") = format!("{},{},{}", n1.url(), n2.url(), n3.url());
    phase(&format!(
        "node 3 added through a follower; node {leader} leads"
    ));
    let (code, out, err) = controllers(&format!("{},{},{}", n1.url(), n2.url(), n3.url()), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains("follower")).count(),
        2,
        "{out}"
    );

    // The leader does not remove itself; it says how.
    let (code, _, err) = controllers(&lead.url(), &["remove", &leader.to_string()]);
    assert_eq!(code, 104, "{err}");
    assert!(
        err.contains(&format!("node {leader} is the leader")) && err.contains("stop node"),
        "{err}"
    );

    // 3 → 2: a follower is removed; the other two agree, and keep taking submits.
    let gone = all
        .iter()
        .rev()
        .find(|n| n.id != leader)
        .expect("a follower")
        .id;
    let (code, out, err) = controllers(&lead.url(), &["remove", &gone.to_string()]);
    assert_eq!(code, 0, "{out}{err}\n{}", logs(&all));
    assert!(out.contains(&format!("node {gone} removed")), "{out}");
    let rest: Vec<&Node> = all.iter().copied().filter(|n| n.id != gone).collect();
    let voters: Vec<u64> = rest.iter().map(|n| n.id).collect();
    assert_eq!(agreed(&rest, &voters), leader);
    *urls.lock().expect("urls") = rest.iter().map(|n| n.url()).collect::<Vec<_>>().join(",");
    phase(&format!("node {gone} removed"));
    let (code, _, err) = controllers(&lead.url(), &["remove", &gone.to_string()]);
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("not in the group"), "{err}");
    std::thread::sleep(Duration::from_secs(2));

    stop.store(true, Ordering::Relaxed);
    let outcomes = submits.join().expect("the submitter");
    let failed: Vec<&(i32, String)> = outcomes.iter().filter(|(c, _)| *c != 0).collect();
    assert!(failed.is_empty(), "submits refused: {failed:?}");
    assert!(outcomes.len() >= 5, "only {} submits", outcomes.len());
    phase(&format!("{} submits, all accepted", outcomes.len()));
    // Every accepted submit is a test on both remaining nodes, once.
    for n in &rest {
        caught_up(n, lead);
    }
    let ids = test_ids(lead);
    assert_eq!(ids.len(), outcomes.len(), "{ids:?}");
    // The runs ran: the last one finishes on the leader.
    let started = Instant::now();
    loop {
        let (status, body) = http_request(
            lead.rest_port,
            "GET",
            &format!("/loadtests/v2/runs/{}", outcomes.len()),
            None,
            Duration::from_secs(5),
        )
        .expect("GET run");
        let run: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status == 200 && run["k6-run"]["run_status"].as_i64() == Some(3) {
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "run {} did not finish: {status} {body}\n{}",
            outcomes.len(),
            logs(&rest)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until `node` shows test `id`'s script (read from the archive it holds).
fn holds_archive(node: &Node, id: u64, script: &str) {
    let started = Instant::now();
    loop {
        let test = get(node, &format!("/loadtests/v2/tests/{id}"));
        if test["k6-test"]["script"].as_str() == Some(script) {
            return;
        }
        assert!(
            started.elapsed() < BOUND,
            "node {} does not hold test {id}'s archive: {test}\n{}",
            node.id,
            logs(&[node])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nodes_added_after_a_test_was_created_fetch_its_archive_and_run_it_as_leader() {
    let dir = temp_dir("controller-archive-fetch");
    let source =
        "export const options = { vus: 1, iterations: 4 };\nexport default function () {}\n";
    let script = dir.join("fetched.js");
    std::fs::write(&script, source).expect("script");
    let n1 = start(1, &[], false, &dir);
    let n2 = start(2, &[(1, n1.raft_port)], true, &dir);
    let n3 = start(3, &[(1, n1.raft_port), (2, n2.raft_port)], true, &dir);
    let started = Instant::now();
    while write_probe(&n1) != 404 {
        assert!(started.elapsed() < BOUND, "node 1 does not lead alone");
        std::thread::sleep(Duration::from_millis(50));
    }
    let grpc: Vec<&str> = [&n1, &n2, &n3].map(|n| n.grpc_url.as_str()).to_vec();
    let tmp = dir.join("tmp-agent");
    std::fs::create_dir_all(&tmp).expect("agent tmp");
    let _agent = Proc::spawn(
        Command::new(volley_bin())
            .args(["agent", "--controller", &grpc.join(","), "--name", "f-1"])
            .env("TMPDIR", tmp),
    );
    // Test 1 and its first run, on node 1 alone.
    let mut submit = Proc::spawn(
        Command::new(volley_bin())
            .args(["submit", "--wait", "--controller", &n1.url()])
            .arg(&script),
    );
    let code = submit.exit_code(BOUND);
    assert_eq!(code, 0, "{}{}", submit.stdout.text(), submit.stderr.text());

    // Nodes 2 and 3 are added: each gets a snapshot (every membership change compacts the
    // log), so the test without its archive, and fetches the archive by hash.
    let (code, out, err) = controllers(
        &n1.url(),
        &["add", &format!("2=127.0.0.1:{}", n2.raft_port)],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = controllers(
        &n1.url(),
        &["add", &format!("3=127.0.0.1:{}", n3.raft_port)],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(agreed(&[&n1, &n2, &n3], &[1, 2, 3]), 1);
    for n in [&n2, &n3] {
        holds_archive(n, 1, source);
        assert!(
            n.proc.stderr.text().contains("fetched a test's archive"),
            "node {} got the archive another way\n{}",
            n.id,
            logs(&[n])
        );
    }

    // Node 1 dies: node 2 or 3 leads and runs test 1 again, from the archive it fetched.
    let mut n1 = n1;
    n1.proc.kill();
    let rest = [&n2, &n3];
    let started = Instant::now();
    let leader = loop {
        let answers: Vec<u16> = rest.iter().map(|n| write_probe(n)).collect();
        if let Some(i) = answers.iter().position(|&s| s == 404) {
            if answers.iter().all(|&s| s == 404 || s == 307) {
                break rest[i];
            }
        }
        assert!(
            started.elapsed() < BOUND,
            "no new leader: {answers:?}\n{}",
            logs(&rest)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, body) = http_request(
        leader.rest_port,
        "POST",
        "/loadtests/v2/tests/1/start-testrun",
        Some("{}"),
        Duration::from_secs(10),
    )
    .expect("start a run");
    assert_eq!(status, 200, "{body}");
    let run: Value = serde_json::from_str(&body).expect("JSON");
    let run_id = run["k6-run"]["id"].as_u64().expect("run id");
    let started = Instant::now();
    loop {
        let view = get(leader, &format!("/loadtests/v2/runs/{run_id}"));
        let status = view["k6-run"]["run_status"].as_i64();
        if status == Some(3) {
            break;
        }
        assert!(
            status.is_some_and(|s| s < 3),
            "run {run_id} on node {} ended {status:?}: {view}\n{}",
            leader.id,
            logs(&rest)
        );
        assert!(
            started.elapsed() < BOUND,
            "run {run_id} did not finish: {view}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("node {} ran test 1 from the archive it fetched", leader.id);
}
