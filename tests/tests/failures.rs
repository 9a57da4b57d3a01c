//! Failure handling end to end (docs/failures.md): real `volley controller` and
//! `volley agent` processes on loopback with short failure timeouts, scripts from
//! `tests/failure-scripts/` submitted with `volley submit --wait`.
//!
//! - an agent killed with SIGKILL mid-run: the run aborts with AGENT_LOST (or, with
//!   `--on-agent-lost continue`, finishes degraded without it), detected within
//!   `agent_lost_after`;
//! - an agent whose machine burns CPU: AGENT_OVERLOADED after `overload_after`;
//! - limits: groups and series on merged data during the run (ABORTED_BY_LIMIT), duration and
//!   VUs refused at submit.
//!
//! Each test has its own cluster and stays under 30 s. The detection times they measure are
//! printed (run with `--nocapture` to see them). The CPU-burning test runs alone (it would slow
//! every other cluster on a 2-core machine); the timing-sensitive ones never overlap it.

use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::{
    assigned_agents, console_message, last_assigned_agent, summary_stat, workspace_root, Cluster,
    Target,
};

/// `--agent-lost-after` of the agent-lost tests.
const AGENT_LOST_AFTER: Duration = Duration::from_secs(2);
/// How much later than `agent_lost_after` the run may reach its terminal status (the agent's
/// last message came up to a heartbeat before the kill, so usually it is earlier).
const LOST_SLACK: Duration = Duration::from_millis(1500);
/// `--overload-after` of the overload test.
const OVERLOAD_AFTER: Duration = Duration::from_secs(3);
/// How much later than the start the overload may be acted on, beyond `overload_after`:
/// heartbeats (1 s apart) sample CPU over the past second, so up to 2 of them to see the load,
/// 1 more when the 3 s land just after a heartbeat, then the agents' graceful stop.
const OVERLOAD_SLACK: Duration = Duration::from_secs(5);
/// Longest a run may take from `submit` to its exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(25);

/// Keeps the CPU-burning test apart from the tests that measure detection times.
static CPU: RwLock<()> = RwLock::new(());

/// Taken by tests that measure timings: they may run together, never with the CPU burner.
fn timing_sensitive() -> RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|e| e.into_inner())
}

/// Taken by the test that saturates the machine's CPU.
fn cpu_burner() -> RwLockWriteGuard<'static, ()> {
    CPU.write().unwrap_or_else(|e| e.into_inner())
}

fn script(name: &str) -> PathBuf {
    workspace_root().join("tests/failure-scripts").join(name)
}

/// Waits until run `id` reaches a terminal status (≥ 3); returns it and when it was seen.
fn wait_terminal(cluster: &Cluster, id: u64, timeout: Duration) -> (Value, Instant) {
    let run = cluster
        .wait_run(
            id,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            timeout,
        )
        .unwrap_or_else(|e| panic!("the run did not end: {e}\n{}", cluster.agent_logs()));
    (run, Instant::now())
}

/// The arrival times of agent `name`'s `console.*` messages equal to `msg`.
fn message_times(cluster: &Cluster, name: &str, msg: &str) -> Vec<Instant> {
    cluster
        .agent_log(name)
        .map(|log| {
            log.lines()
                .into_iter()
                .filter(|(_, l)| console_message(l).as_deref() == Some(msg))
                .map(|(t, _)| t)
                .collect()
        })
        .unwrap_or_default()
}

/// How many messages equal to `msg` all agents logged.
fn count_messages(cluster: &Cluster, msg: &str) -> usize {
    cluster
        .console_messages()
        .iter()
        .map(|(_, m)| m.iter().filter(|m| *m == msg).count())
        .sum()
}

/// Waits until agent `name` has logged at least `n` messages `msg` (its load is running).
fn wait_messages(cluster: &Cluster, name: &str, msg: &str, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while message_times(cluster, name, msg).len() < n {
        assert!(
            Instant::now() < deadline,
            "{name} did not log {n} × {msg:?} within {timeout:?}\n{}",
            cluster.agent_logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the controller lists exactly `names` as its agents, every one idle with no
/// active VU (the run let go of them and their load stopped); returns how long that took.
fn wait_idle_without_load(cluster: &Cluster, names: &[String], timeout: Duration) -> Duration {
    let started = Instant::now();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort_unstable();
    loop {
        let v = cluster.get("/v1/agents").unwrap_or_else(|e| panic!("{e}"));
        let agents = v["agents"].as_array().cloned().unwrap_or_default();
        let mut listed: Vec<&str> = agents.iter().filter_map(|a| a["name"].as_str()).collect();
        listed.sort_unstable();
        let quiet = agents
            .iter()
            .all(|a| a["state"] == "idle" && a["active_vus"].as_u64() == Some(0));
        if listed == want && quiet {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "want {want:?} listed, idle and with 0 active VUs within {timeout:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The silence the controller reported in an AGENT_LOST message ("silent for 2.3 s").
fn reported_silence(detail: &str) -> Option<f64> {
    let rest = &detail[detail.find("silent for ")? + "silent for ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// A lost agent is declared after `agent_lost_after` of silence, not when its connection
/// drops: the controller reports at least that much silence, and the kill (which came up to a
/// heartbeat, 1 s, after its last message) was not acted on at once.
fn assert_not_early(detection: Duration, detail: &str) {
    let silence =
        reported_silence(detail).unwrap_or_else(|| panic!("no \"silent for N s\" in {detail:?}"));
    assert!(
        silence >= AGENT_LOST_AFTER.as_secs_f64(),
        "declared lost after {silence} s of silence: {detail}"
    );
    assert!(
        detection >= Duration::from_millis(500),
        "acted on {:.2} s after the kill: the broken connection alone must not count",
        secs(detection)
    );
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// SIGKILL one of 3 agents mid-run with `--agent-lost-after 2s`: the run ends ABORTED_BY_SYSTEM
/// (6) naming the agent and AGENT_LOST within agent_lost_after + 1.5 s of the kill, `submit
/// --wait` exits 97, the other agents stop their load and are idle again, setup() ran once and
/// teardown() at most once, and the summary keeps what arrived.
#[test]
fn killed_agent_aborts_the_run_with_agent_lost() {
    let _cpu = timing_sensitive();
    let mut cluster = Cluster::start_with("lost-abort", &["--agent-lost-after", "2s"], 3);
    let mut submit = cluster.submit(&script("steady.js"), &[]);
    let (id, run) = cluster.wait_new_run(0, &[2], Duration::from_secs(15));
    let agents = assigned_agents(&run);
    assert_eq!(agents.len(), 3, "placed on 3 agents: {run}");
    let victim = last_assigned_agent(&run);
    for a in &agents {
        wait_messages(&cluster, a, "ITER", 5, Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_millis(500));

    let killed_at = cluster.kill_agent(&victim);
    let (run, ended_at) = wait_terminal(&cluster, id, AGENT_LOST_AFTER + Duration::from_secs(8));
    let detection = ended_at - killed_at;

    assert_eq!(run["run_status"], 6, "ABORTED_BY_SYSTEM: {run}");
    assert_eq!(run["exit_code"], 97, "exit code of {run}");
    assert_eq!(run["processing_status"], 2, "processing_status of {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default();
    let prefix = format!("AGENT_LOST: agent {victim} (segment ");
    assert!(
        detail.starts_with(&prefix),
        "error_detail should start with {prefix:?}: {run}"
    );
    assert!(
        detail.contains("agent_lost_after 2 s"),
        "error_detail names the timeout: {detail}"
    );
    let last = run["transitions"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["to"], 6, "last transition of {run}");
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains("AGENT_LOST")),
        "the transition says why: {last}"
    );
    assert!(
        detection <= AGENT_LOST_AFTER + LOST_SLACK,
        "the kill was acted on after {:.2} s (agent_lost_after {:.0} s + {:.1} s allowed)",
        secs(detection),
        secs(AGENT_LOST_AFTER),
        secs(LOST_SLACK)
    );
    assert_not_early(detection, detail);

    cluster.assert_submit_exit(&mut submit, Duration::from_secs(10), 97);
    let err = submit.stderr.text();
    assert!(
        err.contains("AGENT_LOST") && err.contains(&victim),
        "submit --wait shows why: {err}"
    );

    // The agents that stayed stopped their load before the run ended and are idle again.
    let survivors: Vec<String> = agents.iter().filter(|a| **a != victim).cloned().collect();
    let idle_after = wait_idle_without_load(&cluster, &survivors, Duration::from_secs(5));
    let before: Vec<usize> = survivors
        .iter()
        .map(|a| message_times(&cluster, a, "ITER").len())
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mut load_stopped = Duration::ZERO;
    for (a, before) in survivors.iter().zip(before) {
        let times = message_times(&cluster, a, "ITER");
        assert_eq!(times.len(), before, "{a} still runs iterations");
        let last = *times.last().expect("survivors ran iterations");
        // The line's arrival time lags its print a little (a reader thread): allow 0.5 s.
        assert!(
            last <= ended_at + Duration::from_millis(500),
            "{a} still ran iterations {:.2} s after the run ended",
            secs(last.saturating_duration_since(ended_at))
        );
        load_stopped = load_stopped.max(last.saturating_duration_since(killed_at));
    }
    assert_eq!(count_messages(&cluster, "SETUP-RAN"), 1, "setup() once");
    let teardowns = count_messages(&cluster, "TEARDOWN-RAN");
    assert!(teardowns <= 1, "teardown() ran {teardowns} times");

    // The summary holds what arrived before the agent was lost.
    let s = cluster.summary(id);
    assert!(
        summary_stat(&s, "iterations", "count") > 0.0,
        "the summary keeps the data that arrived: {}",
        s["metrics"]
    );
    eprintln!(
        "agent lost (abort): kill → status 6 in {:.2} s (agent_lost_after {:.0} s; controller saw \
         {:?} s of silence); survivors' last iteration {:.2} s after the kill; idle with 0 VUs \
         {:.2} s after the end; teardown ran {teardowns}×",
        secs(detection),
        secs(AGENT_LOST_AFTER),
        reported_silence(detail),
        secs(load_stopped),
        secs(idle_after)
    );
}

/// The same kill with `--on-agent-lost continue`: the run goes on with the 2 other agents,
/// is marked degraded (within agent_lost_after + 1.5 s) with a note naming the agent, and
/// finishes (3, exit 0) with fewer iterations than planned: the survivors' exact share plus
/// the batches the lost agent shipped before it died.
#[test]
fn killed_agent_with_on_agent_lost_continue_degrades_the_run() {
    let _cpu = timing_sensitive();
    let mut cluster = Cluster::start_with(
        "lost-continue",
        &["--agent-lost-after", "2s", "--on-agent-lost", "continue"],
        3,
    );
    let mut submit = cluster.submit(&script("pervu.js"), &[]);
    let (id, run) = cluster.wait_new_run(0, &[2], Duration::from_secs(15));
    let agents = assigned_agents(&run);
    assert_eq!(agents.len(), 3, "placed on 3 agents: {run}");
    let victim = last_assigned_agent(&run);
    // About 2.5 s into the 8 s run: the lost agent has shipped at least one batch with
    // iterations by then (batches every 1 s, its workers flush every 0.5 s).
    wait_messages(&cluster, &victim, "ITER", 30, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1000));

    let killed_at = cluster.kill_agent(&victim);
    let degraded = cluster
        .wait_run(
            id,
            |r| r["degraded"] == true,
            AGENT_LOST_AFTER + Duration::from_secs(8),
        )
        .unwrap_or_else(|e| panic!("never marked degraded: {e}\n{}", cluster.agent_logs()));
    let detection = killed_at.elapsed();
    assert_not_early(detection, degraded["note"].as_str().unwrap_or_default());
    assert!(
        degraded["run_status"].as_i64().is_some_and(|s| s <= 2),
        "the run goes on after the loss: {degraded}"
    );
    assert!(
        detection <= AGENT_LOST_AFTER + LOST_SLACK,
        "the kill was noticed after {:.2} s (agent_lost_after {:.0} s + {:.1} s allowed)",
        secs(detection),
        secs(AGENT_LOST_AFTER),
        secs(LOST_SLACK)
    );

    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    let run = cluster.run(id).expect("run");
    assert_eq!(run["run_status"], 3, "FINISHED: {run}");
    assert_eq!(run["degraded"], true, "degraded: {run}");
    let note = run["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("AGENT_LOST") && note.contains(&format!("agent {victim} (segment ")),
        "the note names the lost agent and its segment: {run}"
    );
    assert!(
        run["error_detail"].is_null(),
        "a degraded run that finished has no error: {run}"
    );
    assert!(
        run["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| {
                e["level"] == "warning"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("AGENT_LOST") && m.contains("continues"))
            })),
        "the loss is among the run's events: {run}"
    );

    // 6 VUs × 80 iterations planned, 2 VUs per agent: the survivors did their 320 exactly.
    let survivors: Vec<String> = agents.iter().filter(|a| **a != victim).cloned().collect();
    for a in &survivors {
        assert_eq!(
            message_times(&cluster, a, "ITER").len(),
            160,
            "{a} runs its 2 VUs × 80 iterations"
        );
    }
    let iterations = summary_stat(&cluster.summary(id), "iterations", "count");
    assert!(
        iterations > 320.0 && iterations < 480.0,
        "merged iterations {iterations}: the survivors' 320 plus what the lost agent shipped \
         before the kill, less than the 480 planned"
    );
    assert_eq!(count_messages(&cluster, "SETUP-RAN"), 1, "setup() once");
    let teardowns = count_messages(&cluster, "TEARDOWN-RAN");
    assert!(teardowns <= 1, "teardown() ran {teardowns} times");
    wait_idle_without_load(&cluster, &survivors, Duration::from_secs(5));
    eprintln!(
        "agent lost (continue): kill → degraded in {:.2} s (agent_lost_after {:.0} s); \
         {iterations} of 480 planned iterations merged; teardown ran {teardowns}×",
        secs(detection),
        secs(AGENT_LOST_AFTER)
    );
}

/// Agents whose machine (2 cores) is kept busy by a CPU-heavy script, with `--overload-cpu 50
/// --overload-after 3s`: ABORTED_BY_SYSTEM with AGENT_OVERLOADED naming an agent (its process
/// or its host) and advising what to do, not before 3 s of overload; `submit --wait` exits 97.
#[test]
fn cpu_bound_agents_abort_the_run_with_agent_overloaded() {
    let _cpu = cpu_burner();
    let cluster = Cluster::start_with(
        "overload",
        &["--overload-cpu", "50", "--overload-after", "3s"],
        2,
    );
    let mut submit = cluster.submit(&script("cpu_burn.js"), &[]);
    let (id, run) = cluster.wait_new_run(0, &[2], Duration::from_secs(15));
    let running_at = Instant::now();
    let agents = assigned_agents(&run);
    let (run, ended_at) = wait_terminal(&cluster, id, OVERLOAD_AFTER + Duration::from_secs(12));
    let detection = ended_at - running_at;

    assert_eq!(run["run_status"], 6, "ABORTED_BY_SYSTEM: {run}");
    assert_eq!(run["exit_code"], 97, "exit code of {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("AGENT_OVERLOADED: "),
        "error_detail should start with AGENT_OVERLOADED: {run}"
    );
    // The agent's own process or its host, named as such.
    assert!(
        agents.iter().any(|a| {
            detail.starts_with(&format!("AGENT_OVERLOADED: agent {a}'s process at "))
                || detail.starts_with(&format!("AGENT_OVERLOADED: the host of agent {a} at "))
        }),
        "error_detail names one of {agents:?} and which part of it: {detail}"
    );
    let lower = detail.to_lowercase();
    assert!(
        lower.contains("add agents") && lower.contains("sleep") && lower.contains("cpu"),
        "error_detail gives the CPU figure and advice: {detail}"
    );
    assert!(
        detection >= OVERLOAD_AFTER,
        "aborted {:.2} s after the start, before {:.0} s of sustained overload",
        secs(detection),
        secs(OVERLOAD_AFTER)
    );
    assert!(
        detection <= OVERLOAD_AFTER + OVERLOAD_SLACK,
        "overload acted on {:.2} s after the start (overload_after {:.0} s + {:.0} s allowed)",
        secs(detection),
        secs(OVERLOAD_AFTER),
        secs(OVERLOAD_SLACK)
    );
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(10), 97);
    assert!(
        submit.stderr.text().contains("AGENT_OVERLOADED"),
        "submit --wait shows why: {}",
        submit.stderr.text()
    );
    // The warning came first, as a run event, and the CLI following the run printed it.
    let warned = run["events"].as_array().is_some_and(|events| {
        events.iter().any(|e| {
            e["level"] == "warning"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("is overloaded"))
        })
    });
    assert!(warned, "an overload warning among the run's events: {run}");
    assert!(
        submit.stderr.text().contains("is overloaded"),
        "submit --wait printed the overload warning while it followed: {}",
        submit.stderr.text()
    );
    let idle_after = wait_idle_without_load(&cluster, &agents, Duration::from_secs(5));
    eprintln!(
        "agent overloaded: RUNNING → status 6 in {:.2} s (overload_after {:.0} s at ≥ 50 % CPU); \
         agents idle with 0 VUs {:.2} s after the end; {detail}",
        secs(detection),
        secs(OVERLOAD_AFTER),
        secs(idle_after)
    );
}

/// Limits checked on the merged data while the run goes: 5 groups with `--max-groups 3`, then
/// a unique tag value per request with `--max-series 200` → ABORTED_BY_LIMIT (9) naming the
/// limit, exit 97, well before the 20 s the scripts would run.
#[test]
fn groups_and_series_over_the_limits_abort_the_run_by_limit() {
    let target = Target::start();
    let cluster = Cluster::start_with(
        "limits-live",
        &["--max-groups", "3", "--max-series", "200"],
        2,
    );
    let base_url = format!("BASE_URL={}", target.url);
    let cases = [
        ("groups.js", "max_groups", "at most 3"),
        ("series.js", "max_series", "at most 200"),
    ];
    let mut previous = 0;
    for (file, limit, bound) in cases {
        let mut submit = cluster.submit(&script(file), &["-e", &base_url]);
        cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 97);
        let id = cluster.latest_run_id().expect("a run");
        assert!(id > previous, "{file} created a run");
        previous = id;
        let run = cluster.run(id).expect("run");
        assert_eq!(run["run_status"], 9, "{file}: ABORTED_BY_LIMIT: {run}");
        assert_eq!(run["exit_code"], 97, "{file}: exit code of {run}");
        let detail = run["error_detail"].as_str().unwrap_or_default();
        let prefix = format!("limit exceeded ({limit}): ");
        assert!(
            detail.starts_with(&prefix) && detail.contains(bound),
            "{file}: error_detail should start with {prefix:?} and say {bound:?}: {run}"
        );
        assert_eq!(
            run["abort_reason"]["limit"], limit,
            "{file}: abort_reason of {run}"
        );
        let duration = run["duration"].as_f64().unwrap_or(f64::MAX);
        assert!(
            duration < 10.0,
            "{file}: the limit should stop the 20 s run early; it ran {duration} s"
        );
        assert!(
            submit.stderr.text().contains(limit),
            "{file}: submit --wait names the limit: {}",
            submit.stderr.text()
        );
        eprintln!("{limit}: run {id} aborted after {duration:.2} s: {detail}");
        let names = assigned_agents(&run);
        wait_idle_without_load(&cluster, &names, Duration::from_secs(5));
    }
}

/// What can be checked before the start is refused at submit: a 30 s test with
/// `--max-duration 5s`, 10 VUs with `--max-vus 5` → HTTP 422 `limit_exceeded`, `submit` exits
/// 104 naming the limit, and no run is created.
#[test]
fn duration_and_vus_over_the_limits_are_refused_at_submit() {
    let cluster = Cluster::start_with(
        "limits-submit",
        &["--max-duration", "5s", "--max-vus", "5"],
        1,
    );
    for (file, limit) in [
        ("too_long.js", "max_duration"),
        ("too_many_vus.js", "max_vus"),
    ] {
        let mut submit = cluster.submit(&script(file), &[]);
        cluster.assert_submit_exit(&mut submit, Duration::from_secs(15), 104);
        let err = submit.stderr.text();
        assert!(
            err.contains("422") && err.contains(limit),
            "{file}: submit names the status and the limit: {err}"
        );
        let runs = cluster.get("/loadtests/v2/runs").expect("runs");
        assert_eq!(
            runs["k6-runs"].as_array().map(Vec::len),
            Some(0),
            "{file}: no run is created: {runs}"
        );
    }
    // The REST answer itself: the tests were stored, starting one is refused with 422.
    let tests = cluster.get("/loadtests/v2/tests").expect("tests");
    let ids: Vec<u64> = tests["k6-tests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids.len(), 2, "both tests were stored: {tests}");
    for id in ids {
        let (code, body) = cluster
            .request(
                "POST",
                &format!("/loadtests/v2/tests/{id}/start-testrun"),
                Some(&serde_json::json!({})),
            )
            .expect("start-testrun");
        assert_eq!(code, 422, "start-testrun of test {id}: {body}");
        assert_eq!(body["error"]["code"], "limit_exceeded", "{body}");
    }
    assert!(cluster.latest_run_id().is_none(), "no run was created");
}

/// Every agent of a run goes silent while its connection stays open (processes frozen with
/// SIGSTOP): after `data_timeout` the run is TIMED_OUT (4) and `submit --wait` exits 97.
#[test]
fn a_run_whose_agents_all_go_silent_times_out() {
    let _cpu = timing_sensitive();
    let cluster = Cluster::start_with(
        "data-timeout",
        &["--agent-lost-after", "60s", "--data-timeout", "3s"],
        3,
    );
    let mut submit = cluster.submit(&script("steady.js"), &[]);
    let (id, run) = cluster.wait_new_run(0, &[2], Duration::from_secs(15));
    let agents = assigned_agents(&run);
    for a in &agents {
        wait_messages(&cluster, a, "ITER", 3, Duration::from_secs(10));
    }
    let frozen_at = std::time::Instant::now();
    for a in &agents {
        assert!(cluster.signal_agent(a, "STOP"), "SIGSTOP {a}");
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_terminal(&cluster, id, Duration::from_secs(15))
    }));
    for a in &agents {
        cluster.signal_agent(a, "CONT");
    }
    let (run, ended_at) = outcome.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let detection = ended_at - frozen_at;
    assert_eq!(run["run_status"], 4, "TIMED_OUT: {run}");
    assert_eq!(run["exit_code"], 97, "exit code of {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("TIMED_OUT") && detail.contains("data_timeout"),
        "{detail}"
    );
    assert!(
        detection >= Duration::from_millis(2500) && detection <= Duration::from_secs(6),
        "timed out {detection:?} after the agents froze (data_timeout 3 s)"
    );
    eprintln!("data_timeout 3 s: TIMED_OUT {detection:?} after every agent went silent");
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(20), 97);
}
