//! The cluster commands as a user runs them against a real controller and agent: `volley runs`
//! lines up and gives a result only to ended runs, `volley status RUN` is a view for people
//! (`--json` the API's document), `--follow` re-attaches to a running run and exits with its
//! code, Ctrl+C detaches without stopping it, an unknown run points at `volley runs`, and the
//! bare command and `--version` behave as k6's do.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
}
