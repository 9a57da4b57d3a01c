//! The Raft port with mutual TLS (`--raft-ca`, docs/security.md#the-raft-port), three
//! `volley controller` processes on loopback with the certificates of `volley certs init`:
//! - two controllers with the group's `controller.crt` and a third whose certificate is of
//!   another CA (itself trusting the group's CA): the two elect a leader, the third never
//!   learns of one nor of any test, and the others log the refused handshakes;
//! - the third restarted with the group's certificate on a fresh data dir joins: the three
//!   agree on the leader, a run submitted through a follower finishes with its 5 iterations,
//!   and every node holds it.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::ha::{member_logs, Member as Node};
use volley_e2e::{free_port, http_request, temp_dir, volley_bin, Proc};

/// How long a group may take to elect a leader (1–3 s measured; room for a busy machine).
const ELECTION_BOUND: Duration = Duration::from_secs(20);
/// How long a short run, or a node catching up, may take.
const RUN_BOUND: Duration = Duration::from_secs(60);

/// Starts node `id` of the group on Raft ports `raft`, with the Raft certificate `cert`/`key`
/// (of `pki`) and trusting `ca`; REST and gRPC stay plaintext on loopback.
fn start_node(id: u64, raft: &[u16], dir: &Path, data: &str, pki: &Path, ca: &Path) -> Node {
    let peers: Vec<(u64, u16)> = (1..).zip(raft.iter().copied()).collect();
    let (cert, key) = (pki.join("controller.crt"), pki.join("controller.key"));
    let tls: [&OsStr; 6] = [
        "--raft-tls-cert".as_ref(),
        cert.as_ref(),
        "--raft-tls-key".as_ref(),
        key.as_ref(),
        "--raft-ca".as_ref(),
        ca.as_ref(),
    ];
    Node::start(id, raft[id as usize - 1], &peers, &dir.join(data), &tls)
}

fn write_probe(node: &Node) -> u16 {
    node.write_probe()
}

fn logs(nodes: &[&Node]) -> String {
    member_logs(nodes)
}

/// Waits until exactly one of `nodes` takes writes and the others redirect to it.
fn leader(nodes: &[&Node]) -> u64 {
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
            started.elapsed() < ELECTION_BOUND,
            "no single leader within {ELECTION_BOUND:?}: {answers:?}\n{}",
            logs(nodes)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get(node: &Node, path: &str) -> Value {
    node.get(path)
}

fn certs_init(dir: &Path) {
    let out = Command::new(volley_bin())
        .args(["certs", "init"])
        .arg(dir)
        .args(["--host", "127.0.0.1"])
        .output()
        .expect("volley certs init");
    assert!(
        out.status.success(),
        "certs init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tls_group_elects_runs_and_keeps_out_a_controller_of_another_ca() {
    let dir = temp_dir("raft-tls");
    let (pki, other) = (dir.join("pki"), dir.join("other"));
    certs_init(&pki);
    certs_init(&other);
    let ca = pki.join("ca.crt");
    let raft: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let n1 = start_node(1, &raft, &dir, "node-1", &pki, &ca);
    let n2 = start_node(2, &raft, &dir, "node-2", &pki, &ca);
    // Node 3 trusts the group's CA but presents a certificate of another.
    let mut rogue = start_node(3, &raft, &dir, "rogue-3", &other, &ca);
    let first = leader(&[&n1, &n2]);
    println!("node {first} leads nodes 1 and 2");
    let lead = if first == 1 { &n1 } else { &n2 };

    // Nothing of the group's log reaches the node of the other CA, and it knows no leader.
    let applied = |n: &Node, of: u64| {
        get(n, "/v1/controllers")["controllers"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["node"] == of))
            .and_then(|c| c["applied"].as_u64())
    };
    let started = Instant::now();
    while applied(lead, lead.id).unwrap_or(0) == 0 {
        assert!(started.elapsed() < RUN_BOUND, "{}", logs(&[&n1, &n2]));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Several heartbeat rounds: the rogue would have heard of the leader by now.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        write_probe(&rogue),
        503,
        "the node of another CA knows no leader\n{}",
        logs(&[&n1, &n2, &rogue])
    );
    assert_eq!(
        applied(&rogue, 3),
        Some(0),
        "the node of another CA applied nothing: {}",
        get(&rogue, "/v1/controllers")
    );
    let refused = |n: &Node| {
        n.proc
            .stderr
            .text()
            .contains("Raft port: connection closed: TLS handshake failed")
            || n.proc
                .stdout
                .text()
                .contains("Raft port: connection closed: TLS handshake failed")
    };
    assert!(
        refused(&n1) || refused(&n2),
        "the group logs the refused peer\n{}",
        logs(&[&n1, &n2])
    );
    rogue.proc.kill();

    // With the group's certificate, node 3 joins and the group runs a test.
    let n3 = start_node(3, &raft, &dir, "node-3", &pki, &ca);
    let all = [&n1, &n2, &n3];
    let started = Instant::now();
    let leads = loop {
        let l = leader(&all);
        if write_probe(&n3) == 307 {
            break l;
        }
        assert!(
            started.elapsed() < RUN_BOUND,
            "node 3 joins\n{}",
            logs(&all)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let follower = all.iter().find(|n| n.id != leads).expect("a follower");
    let script = dir.join("short.js");
    std::fs::write(
        &script,
        "export const options = { vus: 1, iterations: 5 };\nexport default function () {}\n",
    )
    .expect("script");
    let urls: Vec<&str> = all.iter().map(|n| n.grpc_url.as_str()).collect();
    let tmp = dir.join("tmp-agent");
    std::fs::create_dir_all(&tmp).expect("agent tmp");
    let _agent = Proc::spawn(
        Command::new(volley_bin())
            .args(["agent", "--controller", &urls.join(","), "--name", "tls-1"])
            .env("TMPDIR", &tmp),
    );
    let mut controllers: Vec<String> = vec![format!("http://127.0.0.1:{}", follower.rest_port)];
    controllers.extend(
        all.iter()
            .filter(|n| n.id != follower.id)
            .map(|n| format!("http://127.0.0.1:{}", n.rest_port)),
    );
    let mut s = Proc::spawn(
        Command::new(volley_bin())
            .args(["submit", "--wait", "--controller", &controllers.join(",")])
            .arg(&script),
    );
    let code = s.exit_code(RUN_BOUND);
    assert_eq!(
        code,
        0,
        "submit --wait through follower {}\n{}\n{}\n{}",
        follower.id,
        s.stdout.text(),
        s.stderr.text(),
        logs(&all)
    );
    for n in all {
        let started = Instant::now();
        loop {
            let (status, body) = http_request(
                n.rest_port,
                "GET",
                "/loadtests/v2/runs/1",
                None,
                Duration::from_secs(5),
            )
            .expect("GET run");
            let run: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if status == 200 && run["k6-run"]["run_status"] == 3 {
                break;
            }
            assert!(
                started.elapsed() < RUN_BOUND,
                "node {} holds run 1 FINISHED: {status} {body}",
                n.id
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let summary = get(&n3, "/v1/runs/1/summary");
    assert_eq!(
        volley_e2e::summary_stat(&summary, "iterations", "count"),
        5.0,
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
