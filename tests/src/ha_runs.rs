//! Runs on a Raft group of controllers ([`crate::ha::Group`]), as the high-availability tests
//! drive and check them (docs/ha.md#tests): agents started and awaited, a submit awaited until
//! its run is RUNNING, runs awaited until they end, and the checks every failover test makes
//! once the chaos is over — totals counted once at an independent target, and the same history
//! on every node. Each wait says what it waited for and on which node.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ha::{get, Group, Node, RUN_BOUND};
use crate::k6_client::CountingTarget;
use crate::{http_request_to, summary_stat, Proc};

/// k6's `run_status` of a RUNNING run.
pub const RUNNING: i64 = 2;
/// k6's `run_status` of a FINISHED run; every status from here on is an end.
pub const FINISHED: i64 = 3;

/// `GET /loadtests/v2/runs/{id}` on `node`: the run (`k6-run`), or `None` when it does not
/// hold it (or does not answer).
pub fn run_on(node: &Node, id: u64) -> Option<Value> {
    let (status, body) = http_request_to(
        &node.rest_addr(),
        "GET",
        &format!("/loadtests/v2/runs/{id}"),
        None,
        Duration::from_secs(5),
    )
    .ok()?;
    (status == 200)
        .then(|| serde_json::from_str::<Value>(&body).ok())
        .flatten()
        .map(|r| r["k6-run"].clone())
}

/// Waits until `node` holds run `id` in a status (k6's number) that `done` accepts; returns
/// the run.
pub fn wait_run(node: &Node, id: u64, done: impl Fn(i64) -> bool, within: Duration) -> Value {
    wait_run_for(node, id, "in the status the test waits for", done, within)
}

/// Waits until `node` holds run `id` RUNNING; returns the run.
pub fn wait_running(node: &Node, id: u64) -> Value {
    wait_run_for(node, id, "RUNNING", |s| s == RUNNING, RUN_BOUND)
}

/// Waits until `node` holds run `id` ended (FINISHED or any status after it); returns the run.
pub fn wait_ended(node: &Node, id: u64) -> Value {
    wait_run_for(node, id, "ended", |s| s >= FINISHED, RUN_BOUND)
}

/// [`wait_run`], its failure naming `what` it waited for and the run as last seen.
fn wait_run_for(
    node: &Node,
    id: u64,
    what: &str,
    done: impl Fn(i64) -> bool,
    within: Duration,
) -> Value {
    let started = Instant::now();
    loop {
        let run = run_on(node, id);
        if let Some(run) = &run {
            if run["run_status"].as_i64().is_some_and(&done) {
                return run.clone();
            }
        }
        assert!(
            started.elapsed() < within,
            "node {} did not hold run {id} {what} within {within:?}; last seen: {run:?}",
            node.id
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `node` lists agent `name` as connected and idle.
pub fn wait_agent(node: &Node, name: &str, within: Duration) {
    let started = Instant::now();
    while !get(node, "/v1/agents")["agents"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["name"] == name && a["state"] == "idle"))
    {
        assert!(
            started.elapsed() < within,
            "agent {name} did not register with node {} within {within:?}",
            node.id
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages of a run's events.
pub fn events(run: &Value) -> Vec<String> {
    run["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["message"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of the tests `node` holds.
pub fn test_ids(node: &Node) -> Vec<u64> {
    get(node, "/loadtests/v2/tests")["k6-tests"]
        .as_array()
        .expect("k6-tests")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect()
}

/// The history of every run `node` holds: id, status, transitions (with their times) and
/// events (with theirs), as its API shows them.
pub fn histories(node: &Node) -> Vec<Value> {
    let runs = get(node, "/loadtests/v2/runs?page_size=1000");
    let mut ids: Vec<u64> = runs["k6-runs"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let run = wait_run(node, id, |_| true, RUN_BOUND);
            serde_json::json!({
                "id": id,
                "run_status": run["run_status"],
                "result_status": run["result_status"],
                "transitions": run["transitions"],
                "events": run["events"],
            })
        })
        .collect()
}

/// A run that must lose nothing across failovers: `requests` planned requests at a
/// [`CountingTarget`], each one iteration with `checks` passed checks.
pub struct Exact<'a> {
    pub run: u64,
    pub requests: u64,
    pub checks: u64,
    /// Why that many, for the failure message ("40/s for 20 s").
    pub plan: &'a str,
    /// The `volley submit --wait` that started it and its exit code, which must be 0 (its
    /// output goes into every failure message).
    pub submit: Option<(&'a Proc, i32)>,
}

impl Group {
    /// Starts an agent for each of `names` (given every controller) and waits until node `on`
    /// lists each one idle.
    pub fn agents(&self, names: &[&str], on: u64) -> Vec<Proc> {
        let agents = names.iter().map(|name| self.agent(name)).collect();
        for name in names {
            wait_agent(self.node(on), name, RUN_BOUND);
        }
        agents
    }

    /// [`Group::submit`], then waits until node `first` holds run `run` RUNNING; the submit.
    pub fn submit_running(
        &self,
        first: u64,
        run: u64,
        script: &Path,
        wait: bool,
        args: &[&str],
    ) -> Proc {
        let submit = self.submit(first, script, wait, args);
        wait_running(self.node(first), run);
        submit
    }

    /// For a failure message: `submit`'s output and every node's.
    pub fn context(&self, submit: Option<&Proc>) -> String {
        let said = submit.map_or(String::new(), |s| {
            format!("--- submit\n{}{}\n", s.stdout.text(), s.stderr.text())
        });
        format!("{said}{}", self.logs())
    }

    /// Asserts that `leader` holds `exact.run` FINISHED, that its `submit --wait` exited 0,
    /// that the target counted exactly the planned requests, and that the run's merged summary
    /// counts each once (a batch lost or merged twice shows here); returns the run as `leader`
    /// holds it. On a mismatch the
    /// message has everything needed to tell a lost batch from a doubled one: the run (its
    /// events say who resumed it, from which checkpoint), the summary and every log.
    pub fn assert_exact(&self, leader: u64, target: &CountingTarget, exact: &Exact) -> Value {
        let Exact {
            run: id,
            requests,
            checks,
            plan,
            submit,
        } = *exact;
        let code = submit.map(|(_, code)| code);
        let submit = submit.map(|(s, _)| s);
        let node = self.node(leader);
        let run = wait_ended(node, id);
        assert_eq!(
            run["run_status"],
            FINISHED,
            "FINISHED: {run}\n{}",
            self.context(submit)
        );
        assert_eq!(run["result_status"], 0, "{run}");
        if let Some(code) = code {
            assert_eq!(code, 0, "submit --wait exits 0\n{}", self.context(submit));
        }
        let sent = target.count();
        assert_eq!(
            sent,
            requests,
            "{plan}: every planned request once at the target\n{}",
            self.context(submit)
        );
        let summary = get(node, &format!("/v1/runs/{id}/summary"));
        for (name, stat, want) in [
            ("http_reqs", "count", sent),
            ("iterations", "count", sent),
            ("checks", "passes", checks * sent),
            ("checks", "fails", 0),
        ] {
            assert_eq!(
                summary_stat(&summary, name, stat),
                want as f64,
                "{plan}: merged {name} {stat} against the target's {sent}\nrun: {run}\n\
                 summary: {summary}\n{}",
                self.context(submit)
            );
        }
        run
    }
}
