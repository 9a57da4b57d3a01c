//! Runs streamed from a local `volley run --out cloud=URL` to a controller on loopback
//! (docs/rest-api.md#streamed-runs---out-cloud): the run shows as RUNNING there while it goes,
//! with exactly the local
//! run's totals and its threshold result at the end; a local Ctrl+C ends it as FINISHED there
//! (the local exit code stays 105); a stop through the controller's API stops the local run
//! (103) and shows ABORTED_BY_USER. Blocking the controller's port (TIMED_OUT) needs a network
//! namespace: see `partitions/streamed.rs`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::{send_signal, summary_stat, volley_bin, workspace_root, Cluster, Proc, Target};

fn script() -> PathBuf {
    workspace_root().join("tests/stream-scripts/counted.js")
}

/// `volley run --out cloud=<controller> -e BASE_URL=… <env…> counted.js`.
fn stream_run(cluster: &Cluster, target: &Target, env: &[&str]) -> Proc {
    let mut cmd = cluster.volley();
    cmd.args(["run", "--out"])
        .arg(format!("cloud={}", cluster.rest_url))
        .args(["-e", &format!("BASE_URL={}", target.url)]);
    for e in env {
        cmd.args(["-e", e]);
    }
    cmd.arg(script()).current_dir(workspace_root());
    Proc::spawn(&mut cmd)
}

fn wait_status(cluster: &Cluster, id: u64, pred: impl Fn(i64) -> bool, what: &str) -> Value {
    cluster
        .wait_run(
            id,
            |r| r["run_status"].as_i64().is_some_and(&pred),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn streamed_run_has_the_local_totals_and_result() {
    let target = Target::start();
    let cluster = Cluster::start("stream-totals", 0);
    for (fail, want_exit, want_result) in [("0", 0, 0), ("1", 99, 1)] {
        let mut local = stream_run(
            &cluster,
            &target,
            &["ITERATIONS=300", &format!("FAIL={fail}")],
        );
        let code = local.exit_code(Duration::from_secs(60));
        assert_eq!(
            code,
            want_exit,
            "local exit code (FAIL={fail})\n{}",
            local.stderr.text()
        );
        let id = cluster.latest_run_id().expect("a streamed run");
        let run = wait_status(&cluster, id, |s| s >= 3, "streamed run ends");
        assert_eq!(run["run_status"], 3, "FINISHED: {run}");
        assert_eq!(run["result_status"], want_result, "{run}");
        assert_eq!(run["exit_code"], want_exit, "{run}");
        assert_eq!(run["run_process"], "Volley run to controller");
        let summary = cluster.summary(id);
        assert_eq!(summary_stat(&summary, "iterations", "count"), 300.0);
        assert_eq!(
            summary_stat(&summary, "streamed_iterations", "count"),
            300.0
        );
        assert_eq!(summary_stat(&summary, "http_reqs", "count"), 300.0);
        assert_eq!(summary_stat(&summary, "checks", "passes"), 300.0);
        assert!(
            local
                .stderr
                .text()
                .contains(&format!("run {id} on the controller: FINISHED")),
            "the local run says how its run ended there:\n{}",
            local.stderr.text()
        );
    }
}

#[test]
fn local_ctrl_c_finishes_the_streamed_run_and_api_stop_stops_the_local_run() {
    let target = Target::start();
    let cluster = Cluster::start("stream-stops", 0);

    // Ctrl+C locally: exit 105 here, FINISHED there (docs/run-statuses.md#streamed-runs-stopped-locally), with the data so far.
    let mut local = stream_run(&cluster, &target, &["DURATION=30s"]);
    let id = cluster.wait_new_run(0, &[2], Duration::from_secs(15)).0;
    std::thread::sleep(Duration::from_secs(2));
    assert!(send_signal(local.id(), "INT"));
    assert_eq!(local.exit_code(Duration::from_secs(20)), 105);
    let run = wait_status(&cluster, id, |s| s >= 3, "ends after Ctrl+C");
    assert_eq!(run["run_status"], 3, "FINISHED after a local Ctrl+C: {run}");
    assert_eq!(run["exit_code"], 105, "{run}");
    let summary = cluster.summary(id);
    assert!(summary_stat(&summary, "iterations", "count") > 0.0);

    // Stop through the controller's API: the local run stops with 103.
    let mut local = stream_run(&cluster, &target, &["DURATION=30s"]);
    let id2 = cluster.wait_new_run(id, &[2], Duration::from_secs(15)).0;
    let stopped_at = Instant::now();
    cluster
        .post(
            &format!("/loadtests/v2/runs/{id2}/stop"),
            &serde_json::json!({}),
        )
        .expect("stop");
    assert_eq!(
        local.exit_code(Duration::from_secs(20)),
        103,
        "{}",
        local.stderr.text()
    );
    println!(
        "a streamed run stopped through the API ended locally {:.2} s later",
        stopped_at.elapsed().as_secs_f64()
    );
    let run = wait_status(&cluster, id2, |s| s >= 3, "ends after an API stop");
    assert_eq!(run["run_status"], 5, "ABORTED_BY_USER: {run}");
    assert_eq!(run["exit_code"], 103, "{run}");
}

#[test]
fn bad_or_unreachable_controller_is_refused_before_the_run() {
    let script = script();
    let run = |args: &[&str]| {
        let out = Command::new(volley_bin())
            .arg("run")
            .args(args)
            .arg(&script)
            .current_dir(workspace_root())
            .env_remove("VOLLEY_CONTROLLER")
            .output()
            .expect("volley run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // No URL, two controllers: invalid options (104), naming the fix.
    let (code, err) = run(&["--out", "cloud"]);
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("--out cloud=http://"), "{err}");
    let (code, err) = run(&[
        "--out",
        "cloud=http://127.0.0.1:9",
        "--out",
        "cloud=http://127.0.0.1:10",
    ]);
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("once"), "{err}");
    // Nobody listening: the run does not start (no load without its controller), 97.
    let port = volley_e2e::free_port();
    let (code, err) = run(&["--out", &format!("cloud=http://127.0.0.1:{port}")]);
    assert_eq!(code, 97, "{err}");
    assert!(err.contains("could not create the run"), "{err}");
}
