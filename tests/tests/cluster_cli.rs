//! The cluster commands as a user runs them against a real controller and agent: `volley runs`
//! lines up and gives a result only to ended runs, `volley status RUN` is a view for people
//! (`--json` the API's document), `--follow` re-attaches to a running run and exits with its
//! code, Ctrl+C detaches without stopping it, an unknown run points at `volley runs`, and the
//! bare command and `--version` behave as k6's do. `volley cluster up --controllers 3` runs a
//! Raft group on this machine that outlives its leader's SIGKILL, and `volley cluster down`
//! stops every process it started.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use volley_api::client::Client;
use volley_e2e::k6_client::CountingTarget;
use volley_e2e::{send_signal, temp_dir, volley_bin, Cluster, Proc};

/// A run long enough to be looked at while it runs (it ends by itself).
const SCRIPT: &str = "import http from 'k6/http';\n\
    import { sleep } from 'k6';\n\
    export const options = { vus: 2, duration: '6s' };\n\
    export default function () { sleep(0.1); }\n";

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run volley");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Submits the script without `--wait` and returns the run's id once it is RUNNING.
fn running_run(cluster: &Cluster, script: &Path) -> u64 {
    let before = cluster.latest_run_id().unwrap_or(0);
    let (code, out, err) = output(
        cluster
            .volley()
            .args(["submit", "--controller", &cluster.rest_url])
            .arg(script),
    );
    assert_eq!(code, 0, "submit: {out}\n{err}");
    cluster
        .wait_new_run(before, &[2], Duration::from_secs(30))
        .0
}

#[test]
fn runs_status_and_follow_as_a_user_sees_them() {
    let cluster = Cluster::start("cluster-cli", 1);
    let dir = temp_dir("cluster-cli");
    let script = dir.join("six-seconds.js");
    std::fs::write(&script, SCRIPT).expect("write the script");
    let id = running_run(&cluster, &script);
    let url = cluster.rest_url.as_str();

    // `volley runs` while it runs: no result yet, columns aligned.
    let (code, out, err) = output(cluster.volley().args(["runs", "--controller", url]));
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    let header = lines[0];
    let row = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .unwrap_or_else(|| panic!("run {id} listed: {out}"));
    assert!(
        !out.contains('\x1b'),
        "no colour when not on a terminal: {out:?}"
    );
    assert_eq!(
        row.find("RUNNING"),
        header.find("STATUS"),
        "STATUS lines up:\n{out}"
    );
    let result_col = header.find("RESULT").expect("RESULT column");
    assert_eq!(
        &row[result_col..result_col + 1],
        "-",
        "a running run has no result yet:\n{out}"
    );
    let (code, json, _) = output(
        cluster
            .volley()
            .args(["runs", "--json", "--controller", url]),
    );
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("runs --json is JSON");
    assert!(doc["k6-runs"].is_array(), "{doc}");

    // `volley status RUN`: a view, not the raw document; --json is the document.
    let (code, out, err) =
        output(
            cluster
                .volley()
                .args(["status", &id.to_string(), "--controller", url]),
        );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("run {id}  RUNNING (2)")), "{out}");
    assert!(out.contains("Agents") && out.contains("gen-1"), "{out}");
    assert!(
        !out.contains("export default"),
        "no script in the view: {out}"
    );
    assert!(out.lines().count() < 60, "a screenful, not a dump: {out}");
    let (code, json, _) =
        output(
            cluster
                .volley()
                .args(["status", &id.to_string(), "--json", "--controller", url]),
        );
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("status --json is JSON");
    assert!(
        doc["k6-run"]["script"]
            .as_str()
            .is_some_and(|s| s.contains("export default")),
        "{doc}"
    );

    // Ctrl+C in --follow detaches: exit 0 at once, the run goes on.
    let mut follow = Proc::spawn(cluster.volley().args([
        "status",
        &id.to_string(),
        "--follow",
        "--controller",
        url,
    ]));
    follow
        .stdout
        .wait_for(|l| l.contains("RUNNING"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("--follow printed the status: {}", follow.stderr.text()));
    let sent = Instant::now();
    assert!(send_signal(follow.id(), "INT"));
    assert_eq!(
        follow.exit_code(Duration::from_secs(5)),
        0,
        "{}",
        follow.stderr.text()
    );
    assert!(sent.elapsed() < Duration::from_secs(3), "detached at once");
    assert!(
        follow.stderr.text().contains("detached"),
        "{}",
        follow.stderr.text()
    );
    let run = cluster.run(id).expect("the run");
    assert_eq!(
        run["run_status"], 2,
        "the run goes on after a detach: {run}"
    );

    // --follow again: it follows to the end and exits with the run's code.
    let mut follow = Proc::spawn(cluster.volley().args([
        "status",
        &id.to_string(),
        "--follow",
        "--controller",
        url,
    ]));
    assert_eq!(
        follow.exit_code(Duration::from_secs(40)),
        0,
        "{}\n{}",
        follow.stdout.text(),
        follow.stderr.text()
    );
    let text = follow.stdout.text();
    assert!(text.contains("FINISHED (3)"), "{text}");
    assert!(text.contains("result PASSED"), "{text}");

    // After the end, `volley runs` gives the result.
    let (_, out, _) = output(cluster.volley().args(["runs", "--controller", url]));
    let row = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .expect("listed");
    assert!(row.contains("FINISHED") && row.contains("PASSED"), "{out}");

    // An unknown run points at `volley runs`; exit 1, not an options error (104).
    let (code, _, err) = output(
        cluster
            .volley()
            .args(["status", "999999", "--controller", url]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("volley runs"), "{err}");
}

#[test]
fn bare_volley_and_version_behave_as_k6() {
    let (code, out, err) = output(&mut Command::new(volley_bin()));
    assert_eq!(code, 0, "a bare volley prints the help and exits 0: {err}");
    assert!(format!("{out}{err}").contains("Usage"), "{out}{err}");
    for args in [&["--version"][..], &["version"][..]] {
        let (code, out, err) = output(Command::new(volley_bin()).args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.contains("commit/") && out.contains("quickjs-ng 0."),
            "{args:?}: {out}"
        );
        assert!(
            !out.contains("commit/unknown"),
            "built from a checkout: {out}"
        );
    }
}

#[test]
fn an_agent_says_at_once_why_it_cannot_reach_the_controller() {
    let cluster = Cluster::start("cluster-cli-dial", 0);
    // The REST address by mistake: recognised and named.
    let mut agent = Proc::spawn(Command::new(volley_bin()).args([
        "agent",
        "--controller",
        &cluster.rest_url,
        "--name",
        "wrong-port",
    ]));
    let said = agent.stderr.wait_for(
        |l| l.contains("REST address") && l.contains("--grpc"),
        Duration::from_secs(5),
    );
    agent.kill();
    assert!(said.is_some(), "agent stderr: {}", agent.stderr.text());
    // Nothing listening: said within 2 s, with the address and what to check.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let started = Instant::now();
    let mut agent = Proc::spawn(Command::new(volley_bin()).args([
        "agent",
        "--controller",
        &url,
        "--name",
        "nobody-there",
    ]));
    let said = agent.stderr.wait_for(
        |l| l.contains("cannot reach the controller at") && l.contains(&url),
        Duration::from_secs(5),
    );
    agent.kill();
    let at = said.unwrap_or_else(|| panic!("agent stderr: {}", agent.stderr.text()));
    assert!(
        at.duration_since(started) < Duration::from_secs(2),
        "said after {:?}",
        at.duration_since(started)
    );
}

#[test]
fn a_queued_run_says_what_it_waits_for() {
    let cluster = Cluster::start("cluster-cli-queue", 1);
    let dir = temp_dir("cluster-cli-queue");
    let script = dir.join("six-seconds.js");
    std::fs::write(&script, SCRIPT).expect("write the script");
    let url = cluster.rest_url.as_str();
    // The only agent is busy with a first run; a second one waits QUEUED.
    let first = running_run(&cluster, &script);
    let (code, out, err) = output(
        cluster
            .volley()
            .args(["submit", "--controller", url])
            .arg(&script),
    );
    assert_eq!(code, 0, "submit: {out}\n{err}");
    let (second, _) = cluster.wait_new_run(first, &[0], Duration::from_secs(10));
    let queued = cluster
        .wait_run(
            second,
            |r| {
                r["events"].as_array().is_some_and(|e| {
                    e.iter().any(|e| {
                        e["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("queued: "))
                    })
                })
            },
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("no queued event: {e}"));
    let message = queued["events"]
        .as_array()
        .and_then(|e| e.iter().find_map(|e| e["message"].as_str()))
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("needs an idle agent") && message.contains("0 idle of 1 connected"),
        "{message}"
    );
    let (_, view, _) =
        output(
            cluster
                .volley()
                .args(["status", &second.to_string(), "--controller", url]),
        );
    assert!(view.contains(&message), "volley status shows it: {view}");
    // The second run starts once the first has ended; both finish.
    cluster
        .wait_run(second, |r| r["run_status"] == 3, Duration::from_secs(40))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Shared iterations over both agents of `cluster up`, one request and one check each.
const FORTY_REQUESTS: &str = r#"
import http from 'k6/http';
import { check } from 'k6';
export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 2, iterations: 40, maxDuration: '60s' } },
  volley: { agents: 2 },
};
export default function () {
  check(http.get(`${__ENV.BASE_URL}/`), { 'status 200': (r) => r.status === 200 });
}
"#;

/// How long a group may take to start, elect, or elect again on a machine busy with builds.
const GROUP_BOUND: Duration = Duration::from_secs(60);

/// Base ports for `--listen`, `--grpc` and `--raft` (P, P+1, P+2) such that the ports of
/// `n` controllers (each base + 10×(N−1)) were all free a moment ago.
fn free_group_ports(n: u16) -> (u16, u16, u16) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos()) as u16;
    for attempt in 0..200u16 {
        let base = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(997)) % 4000) * 10;
        let all_free = (0..n).all(|k| {
            (0..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + 10 * k + i)).is_ok())
        });
        if all_free {
            return (base, base + 1, base + 2);
        }
    }
    panic!("no free ports for {n} controllers");
}

/// Whether process `pid`, started at `start` (`/proc/PID/stat`), still runs (not a zombie).
fn alive(pid: u32, start: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.first() != Some(&"Z") && f.get(19) == Some(&start)
}

/// The pid file's entries: (role, pid, start time).
fn pid_file(data: &Path) -> Vec<(String, u32, String)> {
    std::fs::read_to_string(data.join("cluster-up.pid"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.to_string(),
            ))
        })
        .collect()
}

/// The node that says it leads, asking each controller in turn.
fn leader_of(urls: &[String], token: &str) -> Option<u64> {
    urls.iter().find_map(|u| {
        let c = Client::new(u)
            .ok()?
            .with_token(Some(token.into()))
            .with_timeout(Duration::from_secs(2))
            .ok()?;
        let list = c.controllers().ok()?;
        list.controllers
            .iter()
            .any(|c| c.node == list.node && c.role == "leader")
            .then_some(list.node)
    })
}

/// Waits until `leader` (REST URL) holds both agents of `cluster up`, idle.
fn wait_two_idle_agents(leader: &str, token: &str, up: &Proc) {
    let c = Client::new(leader)
        .expect("client")
        .with_token(Some(token.into()));
    let started = Instant::now();
    loop {
        let idle = c.agents().map_or(0, |l| {
            l.agents
                .iter()
                .filter(|a| a.state == "idle" && a.name.starts_with("agent-"))
                .count()
        });
        if idle == 2 {
            return;
        }
        assert!(
            started.elapsed() < GROUP_BOUND,
            "both agents idle on {leader} within {GROUP_BOUND:?}\n{}",
            up.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `submit --wait` of the 40-request script through every controller: it exits 0, the target
/// counted exactly 40 more requests, and run `id`'s summary counts each once.
fn submit_forty(urls: &[String], token: &str, script: &Path, target: &CountingTarget, id: u64) {
    let before = target.count();
    let (code, out, err) = output(
        Command::new(volley_bin())
            .args(["submit", "--wait", "--controller", &urls.join(",")])
            .args(["-e", &format!("BASE_URL={}", target.url)])
            .arg(script)
            .env("VOLLEY_TOKEN", token),
    );
    assert_eq!(code, 0, "submit --wait of run {id}\n{out}\n{err}");
    // On a mismatch, what submit printed (its leader changes), the run with its events and
    // the list of runs, to tell a run placed twice from a lost or doubled batch.
    let c = Client::new(&urls.join(","))
        .expect("client")
        .with_token(Some(token.into()));
    let counted = target.count() - before;
    if counted != 40 {
        let run = c
            .request("GET", &format!("/v1/runs/{id}"), None)
            .map(|r| r.json());
        let runs = c.request("GET", "/v1/runs", None).map(|r| r.json());
        panic!(
            "run {id}: every iteration once: the target counted {counted} of 40\n\
             --- submit\n{out}\n{err}\n--- run\n{run:?}\n--- runs\n{runs:?}"
        );
    }
    let summary = c
        .request("GET", &format!("/v1/runs/{id}/summary"), None)
        .expect("the summary")
        .json();
    for (name, stat) in [
        ("iterations", "count"),
        ("http_reqs", "count"),
        ("checks", "passes"),
    ] {
        assert_eq!(
            volley_e2e::summary_stat(&summary, name, stat),
            40.0,
            "run {id}: {name} {stat}: {summary}"
        );
    }
}

#[test]
fn cluster_up_with_three_controllers_outlives_its_leader_and_cluster_down_stops_it_all() {
    let dir = temp_dir("cluster-up-group");
    let data = dir.join("data");
    let (listen, grpc, raft) = free_group_ports(3);
    let up_cmd = |controllers: &str| {
        let mut cmd = Command::new(volley_bin());
        cmd.args([
            "cluster",
            "up",
            "--controllers",
            controllers,
            "--agents",
            "2",
        ])
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(["--grpc", &format!("127.0.0.1:{grpc}")])
        .args(["--raft", &format!("127.0.0.1:{raft}")])
        .args(["--max-vus", "10", "--max-js-heap", "64"])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("VOLLEY_TOKEN");
        cmd
    };
    // An even group is refused, saying why 3 or 5; a taken port is named before anything starts.
    let (code, _, err) = output(&mut up_cmd("2"));
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("use 3 (survives 1 down) or 5"), "{err}");
    {
        let _taken = std::net::TcpListener::bind(("127.0.0.1", grpc + 10)).expect("bind");
        let (code, _, err) = output(&mut up_cmd("3"));
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!(
                "controller 2's gRPC port 127.0.0.1:{} is not free",
                grpc + 10
            )),
            "{err}"
        );
        assert!(pid_file(&data).is_empty(), "nothing was started");
    }

    let mut up = Proc::spawn(&mut up_cmd("3"));
    up.stdout
        .wait_for(|l| l.contains("submit a test:"), GROUP_BOUND)
        .unwrap_or_else(|| panic!("cluster up did not come up\n{}", up.stderr.text()));
    let printed = up.stdout.text();
    let urls: Vec<String> = (0..3)
        .map(|k| format!("http://127.0.0.1:{}", listen + 10 * k))
        .collect();
    for (k, u) in urls.iter().enumerate() {
        assert!(
            printed.contains(&format!("controller {}: {u}", k + 1)),
            "{printed}"
        );
    }
    assert_eq!(printed.matches("(leader)").count(), 1, "{printed}");
    assert!(
        printed.contains(&format!("VOLLEY_CONTROLLER={}", urls.join(","))),
        "{printed}"
    );
    let token = std::fs::read_to_string(data.join("cluster-up.token"))
        .expect("the cluster's token")
        .trim()
        .to_string();
    let first = leader_of(&urls, &token).expect("a leader");
    assert!(
        printed.contains(&format!(
            "controller {first}: {} (leader)",
            urls[first as usize - 1]
        )),
        "the leader printed is the leader: node {first}\n{printed}"
    );
    let mut seen = pid_file(&data);
    assert_eq!(
        seen.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        [
            "supervisor",
            "controller-1",
            "controller-2",
            "controller-3",
            "agent-1",
            "agent-2"
        ]
    );

    let script = dir.join("forty.js");
    std::fs::write(&script, FORTY_REQUESTS).expect("write the script");
    let target = CountingTarget::start();
    wait_two_idle_agents(&urls[first as usize - 1], &token, &up);
    submit_forty(&urls, &token, &script, &target, 1);

    // SIGKILL to the leader: another controller leads, and cluster up starts it again.
    let role = format!("controller-{first}");
    let (_, pid, _) = seen.iter().find(|e| e.0 == role).cloned().expect("its pid");
    assert!(send_signal(pid, "KILL"));
    let started = Instant::now();
    let second = loop {
        match leader_of(&urls, &token) {
            Some(l) if l != first => break l,
            _ => {}
        }
        assert!(
            started.elapsed() < GROUP_BOUND,
            "no new leader within {GROUP_BOUND:?} of killing node {first}\n{}",
            up.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "node {second} leads {:?} after node {first} was killed",
        started.elapsed()
    );
    let restarted = loop {
        let now = pid_file(&data);
        if let Some(e) = now.iter().find(|e| e.0 == role && e.1 != pid) {
            break e.clone();
        }
        assert!(
            started.elapsed() < GROUP_BOUND,
            "cluster up did not start node {first} again\n{}",
            up.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    seen.push(restarted);
    let log = up.stderr.text();
    assert!(
        log.contains(&format!("controller {first} exited"))
            && log.contains(&format!("controller {first} started again")),
        "the restart is logged\n{log}"
    );
    wait_two_idle_agents(&urls[second as usize - 1], &token, &up);
    submit_forty(&urls, &token, &script, &target, 2);

    // `cluster down` from another shell stops cluster up and everything it started.
    let (code, out, err) = output(
        Command::new(volley_bin())
            .args(["cluster", "down", "--data-dir"])
            .arg(&data),
    );
    assert_eq!(code, 0, "cluster down\n{out}\n{err}");
    assert_eq!(
        up.exit_code(Duration::from_secs(30)),
        0,
        "cluster up exits 0"
    );
    for (role, pid, start) in &seen {
        assert!(
            !alive(*pid, start),
            "{role} (pid {pid}) still runs after cluster down"
        );
    }
    assert!(
        !data.join("cluster-up.pid").exists(),
        "the pid file is gone"
    );
    let (code, _, err) = output(
        Command::new(volley_bin())
            .args(["cluster", "down", "--data-dir"])
            .arg(&data),
    );
    assert_eq!(code, 1, "nothing left to stop: {err}");
    assert!(err.contains("no cluster is up"), "{err}");
}
