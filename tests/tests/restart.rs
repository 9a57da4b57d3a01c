//! Controller restarts mid-run (docs/failures.md#controller-restart-and-resume): a single controller is killed
//! with SIGKILL while a run is RUNNING and started again on the same data dir and ports.
//!
//! - its agents re-attach within `agent_lost_after`: the run is resumed from its checkpoint,
//!   the agents replay the metric batches the controller had not acknowledged, and the run
//!   finishes with exactly the planned totals (nothing lost, nothing counted twice), setup()
//!   and teardown() once each; the `volley submit --wait` following it rides out the outage
//!   (it gives up with 98 only after 15 s without the controller) and exits with the run's code;
//! - its agents are gone too: the run is resolved as ABORTED_BY_SYSTEM (AGENT_LOST, "did not
//!   re-attach") within `agent_lost_after` of the restart — no run is left RUNNING.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::{summary_stat, workspace_root, Cluster, Target};

/// `--agent-lost-after` of these tests: how long a restarted controller waits for agents.
const AGENT_LOST_AFTER: Duration = Duration::from_secs(5);

fn script(name: &str) -> PathBuf {
    workspace_root().join("tests/failure-scripts").join(name)
}

fn terminal(r: &Value) -> bool {
    r["run_status"].as_i64().is_some_and(|s| s >= 3)
}

fn count_messages(cluster: &Cluster, prefix: &str) -> usize {
    cluster
        .console_messages()
        .iter()
        .flat_map(|(_, m)| m.iter())
        .filter(|m| m.starts_with(prefix))
        .count()
}

/// The checkpoints this controller has made durable (`volley_checkpoint_size_bytes_count` of
/// `GET /metrics`), if it answers.
fn durable_checkpoints(cluster: &Cluster) -> Option<f64> {
    let (_, text) = cluster.request("GET", "/metrics", None).ok()?;
    text.as_str()?.lines().find_map(|l| {
        l.strip_prefix("volley_checkpoint_size_bytes_count ")?
            .trim()
            .parse()
            .ok()
    })
}

/// Waits until run `id` has merged iterations and a checkpoint begun after that is durable, so
/// a crash from then on cannot lose them. Checkpoints are written beside the run's task about
/// once a second; a fixed sleep before the crash was not always enough on a loaded machine.
fn wait_checkpointed_iterations(cluster: &Cluster, id: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut durable_when_merged = None;
    loop {
        match durable_when_merged {
            None => {
                // A metric is listed once a sample of it is merged.
                let merged = cluster
                    .get(&format!("/v1/runs/{id}/metrics?intervals=none"))
                    .is_ok_and(|m| m.to_string().contains("\"iterations\""));
                if merged {
                    durable_when_merged = durable_checkpoints(cluster);
                }
            }
            // One more may have been under way when the iterations were seen: two more means
            // one that began after them is durable.
            Some(before) => {
                if durable_checkpoints(cluster).is_some_and(|now| now >= before + 2.0) {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "run {id}: no durable checkpoint holding merged iterations within {timeout:?} \
             (durable checkpoints when the iterations were first seen: {durable_when_merged:?})\n{}",
            cluster.agent_logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long until `GET /v1/agents` lists every agent busy with run `id` again.
fn wait_reattached(cluster: &Cluster, id: u64, agents: usize, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let busy = cluster
            .get("/v1/agents")
            .ok()
            .and_then(|v| v["agents"].as_array().cloned())
            .map(|list| list.iter().filter(|a| a["run_id"] == id).count())
            .unwrap_or(0);
        if busy == agents {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "the agents did not re-attach to run {id} within {timeout:?}: run {:?}, agents {:?}\n{}",
            cluster.run(id),
            cluster.get("/v1/agents"),
            cluster.agent_logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn controller_kill9_mid_run_resumes_with_exact_totals() {
    let target = Target::start();
    let lost = format!("{}s", AGENT_LOST_AFTER.as_secs());
    let mut cluster = Cluster::start_with("restart-resume", &["--agent-lost-after", &lost], 2);
    let base_url = format!("BASE_URL={}", target.url);
    let mut submit = cluster.submit(
        &script("resume.js"),
        &["-e", &base_url, "-e", "DURATION=10s"],
    );
    let id = cluster.wait_new_run(0, &[2], Duration::from_secs(20)).0;
    std::thread::sleep(Duration::from_secs(3));

    cluster.kill_controller();
    // The agents go on (well within their orphan_after) and keep their batches.
    std::thread::sleep(Duration::from_secs(1));
    let restarted = Instant::now();
    cluster.start_controller_again();
    let back = wait_reattached(&cluster, id, 2, AGENT_LOST_AFTER);
    println!(
        "agents re-attached {:.2} s after the controller started again",
        back.as_secs_f64()
    );
    let run = cluster
        .wait_run(id, terminal, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.agent_logs()));
    println!(
        "run ended {:.2} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(run["run_status"], 3, "resumed run: {run}");
    assert_eq!(run["result_status"], 0, "resumed run: {run}");
    assert_eq!(run["exit_code"], 0, "resumed run: {run}");
    let events: Vec<String> = run["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["message"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|m| m.contains("the controller restarted"))
            && events.iter().filter(|m| m.contains("re-attached")).count() == 2,
        "the restart and both re-attachments are among the run's events: {events:?}"
    );
    // The CLI following the run rode out the outage (it gives up only after 15 s) and
    // exits with the run's code.
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(20), 0);

    let summary = cluster.summary(id);
    // 40/s for 10 s: every planned iteration exactly once across the outage.
    assert_eq!(
        summary_stat(&summary, "iterations", "count"),
        400.0,
        "iterations"
    );
    assert_eq!(summary_stat(&summary, "resume_iterations", "count"), 400.0);
    assert_eq!(
        summary_stat(&summary, "http_reqs", "count"),
        400.0,
        "http_reqs"
    );
    assert_eq!(
        summary_stat(&summary, "checks", "passes"),
        800.0,
        "check passes"
    );
    assert_eq!(
        summary_stat(&summary, "checks", "fails"),
        0.0,
        "check fails"
    );
    assert_eq!(count_messages(&cluster, "SETUP-RAN"), 1, "setup() once");
    assert_eq!(
        count_messages(&cluster, "TEARDOWN-RAN abc"),
        1,
        "teardown() once, with the setup data"
    );
}

#[test]
fn controller_restart_without_agents_resolves_the_run() {
    let target = Target::start();
    let lost = format!("{}s", AGENT_LOST_AFTER.as_secs());
    let mut cluster = Cluster::start_with("restart-alone", &["--agent-lost-after", &lost], 2);
    let base_url = format!("BASE_URL={}", target.url);
    let mut submit = cluster.submit(
        &script("resume.js"),
        &["-e", &base_url, "-e", "DURATION=30s"],
    );
    let id = cluster.wait_new_run(0, &[2], Duration::from_secs(20)).0;
    wait_checkpointed_iterations(&cluster, id, Duration::from_secs(30));

    // Everything goes down at once; only the controller comes back.
    cluster.kill_controller();
    cluster.kill_agent("gen-1");
    cluster.kill_agent("gen-2");
    let restarted = Instant::now();
    cluster.start_controller_again();

    let run = cluster
        .wait_run(id, terminal, AGENT_LOST_AFTER + Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.agent_logs()));
    let took = restarted.elapsed();
    println!(
        "run with no agent left resolved {:.2} s after the restart (agent_lost_after {} s)",
        took.as_secs_f64(),
        AGENT_LOST_AFTER.as_secs()
    );
    assert_eq!(run["run_status"], 6, "run: {run}");
    assert_eq!(run["exit_code"], 97, "run: {run}");
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(20), 97);
    let detail = run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("AGENT_LOST") && detail.contains("did not re-attach"),
        "error_detail names the reason: {detail}"
    );
    assert!(
        took >= AGENT_LOST_AFTER - Duration::from_millis(300),
        "resolved after {took:?}, before agent_lost_after"
    );
    // What was merged and checkpointed before the crash is still there.
    let summary = cluster.summary(id);
    let iterations = summary_stat(&summary, "iterations", "count");
    assert!(
        iterations > 0.0,
        "checkpointed iterations kept in the summary: {iterations}"
    );
}
