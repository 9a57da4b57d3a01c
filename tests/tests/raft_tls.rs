//! The Raft port with mutual TLS (`--raft-ca`, docs/security.md#the-raft-port), three
//! `volley controller` processes on loopback with the certificates of `volley certs init`:
//! - two controllers with the group's `controller.crt` and a third whose certificate is of
//!   another CA (itself trusting the group's CA): the two elect a leader, the third never
//!   learns of one nor of any test, and the others log the refused handshakes;
//! - the third restarted with the group's certificate on a fresh data dir joins: the three
//!   agree on the leader, a run submitted through a follower finishes with its 5 iterations,
//!   and every node holds it;
//! - a group whose REST API speaks TLS too: a follower forwards a write to the `https://`
//!   leader, then every node's certificate, key and CA are renewed (a new CA) under the running
//!   controllers, and a write through a follower is forwarded again with the new ones.

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
}

/// The admin token of the group whose REST API speaks TLS (TLS makes tokens required).
const ADMIN: &str = "volley_raft_tls_test_admin_token_0123456789";

/// An admin client of one controller's `https://` REST API trusting `ca`.
fn https_client(port: u16, ca: &Path) -> volley_api::client::Client {
    let tls = volley_api::tls::ClientTls::from_files(Some(ca), None, None).expect("the CA");
    volley_api::client::Client::new(&format!("https://127.0.0.1:{port}"))
        .and_then(|c| c.with_tls(tls))
        .and_then(|c| c.with_timeout(Duration::from_secs(10)))
        .map(|c| c.with_token(Some(ADMIN.into())))
        .expect("client")
}

/// Each node's role as it says (`GET /v1/controllers` through `https://`), or why it did not.
fn roles_over_https(nodes: &[&Node], ca: &Path) -> Vec<(u64, Result<String, String>)> {
    nodes
        .iter()
        .map(|n| {
            let role = https_client(n.rest_port, ca)
                .controllers()
                .map_err(|e| e.to_string())
                .and_then(|l| {
                    l.controllers
                        .into_iter()
                        .find(|c| c.node == l.node)
                        .map(|c| c.role)
                        .ok_or_else(|| "it does not list itself".to_string())
                });
            (n.id, role)
        })
        .collect()
}

/// Replaces `to` by `from` at once (a rename), as a certificate renewal does.
fn renew_file(from: &Path, to: &Path) {
    let staged = to.with_extension("renewed");
    std::fs::copy(from, &staged).expect("stage the renewed file");
    std::fs::rename(&staged, to).expect("renew the file");
}

#[test]
fn a_follower_forwards_to_an_https_leader_after_its_certificate_and_ca_are_renewed() {
    let dir = temp_dir("raft-tls-renew");
    let (pki, renewed) = (dir.join("pki"), dir.join("renewed"));
    certs_init(&pki);
    certs_init(&renewed);
    let (ca, cert, key) = (
        pki.join("ca.crt"),
        pki.join("controller.crt"),
        pki.join("controller.key"),
    );
    let raft: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers: Vec<(u64, u16)> = (1..).zip(raft.iter().copied()).collect();
    let admin = dir.join("admin.token");
    std::fs::write(&admin, ADMIN).expect("admin token file");
    // The REST API, gRPC and the Raft port all on the group's certificate.
    let tls: [&OsStr; 8] = [
        "--tls-cert".as_ref(),
        cert.as_ref(),
        "--tls-key".as_ref(),
        key.as_ref(),
        "--raft-ca".as_ref(),
        ca.as_ref(),
        "--admin-token-file".as_ref(),
        admin.as_ref(),
    ];
    let nodes: Vec<Node> = (1..=3)
        .map(|id| {
            Node::start(
                id,
                raft[id as usize - 1],
                &peers,
                &dir.join(format!("node-{id}")),
                &tls,
            )
        })
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    // A write through a follower, forwarded to the leader: 201 once the follower forwarded it
    // and is still a follower (an election in between is tried again).
    let forwarded = |ca: &Path, name: &str, within: Duration| -> Result<u64, String> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < within {
            let roles = roles_over_https(&all, ca);
            let follower = roles
                .iter()
                .find(|(_, r)| r.as_deref() == Ok("follower"))
                .map(|(id, _)| *id);
            let leaders = roles
                .iter()
                .filter(|(_, r)| r.as_deref() == Ok("leader"))
                .count();
            if let (Some(f), 1) = (follower, leaders) {
                let node = all[f as usize - 1];
                let body = serde_json::json!({"role": "read", "name": name});
                match https_client(node.rest_port, ca).request("POST", "/v1/tokens", Some(&body)) {
                    Ok(r) if r.status == 201 => {
                        if roles_over_https(&[node], ca)[0].1.as_deref() == Ok("follower") {
                            return Ok(f);
                        }
                    }
                    Ok(r) => last = format!("node {f}: {} {}", r.status, r.json()),
                    Err(e) => last = format!("node {f}: {e}"),
                }
            } else {
                last = format!("roles {roles:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last)
    };
    let f = forwarded(&ca, "before", RUN_BOUND)
        .unwrap_or_else(|last| panic!("no write forwarded: {last}\n{}", logs(&all)));
    println!("node {f} forwarded a write to the https:// leader");

    // A new CA, and every controller's certificate and key of it, under the running group.
    for file in ["controller.key", "controller.crt", "ca.crt"] {
        renew_file(&renewed.join(file), &pki.join(file));
    }
    let new_ca = renewed.join("ca.crt");
    let began = Instant::now();
    let f = forwarded(&new_ca, "after", ELECTION_BOUND).unwrap_or_else(|last| {
        panic!(
            "no write forwarded within {ELECTION_BOUND:?} of the renewal: {last}\n{}",
            logs(&all)
        )
    });
    println!(
        "node {f} forwarded a write with the renewed certificate and CA {:.1} s after the \
         renewal",
        began.elapsed().as_secs_f64()
    );
    let reloaded = all.iter().any(|n| {
        n.proc
            .stdout
            .text()
            .contains("REST API (forwarding to the leader): TLS certificate reloaded")
            || n.proc
                .stderr
                .text()
                .contains("REST API (forwarding to the leader): TLS certificate reloaded")
    });
    assert!(reloaded, "a forwarder logged its reload\n{}", logs(&all));
    drop(nodes);
}
