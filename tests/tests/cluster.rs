//! The cluster end to end (docs/cluster-runs.md#step-by-step): real `volley
//! controller` and `volley agent` processes on loopback, scripts from `tests/cluster-scripts/`
//! submitted with `volley submit --wait`, results read through the controller's REST API.
//!
//! Each test starts its own controller and agents (ports chosen by the OS, a private data dir),
//! so the tests run in parallel; each is bounded well under 30 s. Scripts report what they did
//! with `console.log` lines on the agents' stderr, which the tests collect per agent: the global
//! iteration numbers, the setup data each agent saw, the raw `http_req_duration` samples.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use volley_e2e::{send_signal, summary_stat, workspace_root, Cluster, Target};

/// Longest a short run may take from `submit` to its exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(25);
/// Longest a stopped run may take to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn script(name: &str) -> PathBuf {
    workspace_root().join("tests/cluster-scripts").join(name)
}

/// The newest run's id (the run a test just submitted: each test has its own controller).
fn latest_run(cluster: &Cluster) -> u64 {
    cluster.latest_run_id().expect("the controller lists a run")
}

/// The `to` statuses of a run's transitions, in order.
fn transition_path(run: &Value) -> Vec<i64> {
    run["transitions"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["to"].as_i64()).collect())
        .unwrap_or_default()
}

/// Checks the fields that a run ending with `status`/`result`/`exit` must carry.
fn assert_run_end(run: &Value, status: i64, result: i64, exit: i64) {
    assert_eq!(run["run_status"], status, "run_status of {run}");
    assert_eq!(run["result_status"], result, "result_status of {run}");
    assert_eq!(run["exit_code"], exit, "exit_code of {run}");
    assert_eq!(run["processing_status"], 2, "processing_status of {run}");
    let path = transition_path(run);
    assert_eq!(path.last(), Some(&status), "last transition of {run}");
    for t in run["transitions"].as_array().into_iter().flatten() {
        assert!(
            t["at"].as_str().is_some_and(|a| !a.is_empty()) && t["reason"].is_string(),
            "every transition has a time and a reason: {t}"
        );
    }
}

/// Waits until every agent of the cluster is idle again (the run let go of all of them).
fn assert_agents_idle(cluster: &Cluster, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = cluster.wait_agents(n);
        let agents = v["agents"].as_array().cloned().unwrap_or_default();
        if agents.iter().all(|a| a["state"] == "idle") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "agents still busy 5 s after the run ended: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Messages starting with `prefix ` from every agent: agent name → the rest of each message.
fn tagged(cluster: &Cluster, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let p = format!("{prefix} ");
    cluster
        .console_messages()
        .into_iter()
        .map(|(agent, msgs)| {
            let rest = msgs
                .into_iter()
                .filter_map(|m| m.strip_prefix(&p).map(str::to_string))
                .collect();
            (agent, rest)
        })
        .collect()
}

/// How many messages (of all agents) start with `prefix`.
fn count_messages(cluster: &Cluster, prefix: &str) -> usize {
    cluster
        .console_messages()
        .iter()
        .map(|(_, m)| m.iter().filter(|m| m.starts_with(prefix)).count())
        .sum()
}

/// `(iteration number, the rest)` of a `PREFIX <n> <rest>` message.
fn numbered(msg: &str) -> (u64, String) {
    let (n, rest) = msg.split_once(' ').unwrap_or((msg, ""));
    let n = n
        .parse()
        .unwrap_or_else(|_| panic!("no iteration number in {msg:?}"));
    (n, rest.to_string())
}

/// Asserts that `seen` holds each of `0..total` exactly once.
fn assert_each_once(seen: &[u64], total: u64, what: &str) {
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    for &i in seen {
        *counts.entry(i).or_default() += 1;
    }
    let dup: Vec<_> = counts.iter().filter(|(_, &c)| c > 1).take(10).collect();
    assert!(dup.is_empty(), "{what}: iterations run twice: {dup:?}");
    let missing: Vec<_> = (0..total)
        .filter(|i| !counts.contains_key(i))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: iterations missing: {missing:?}"
    );
    assert_eq!(seen.len() as u64, total, "{what}: iteration count");
}

/// shared-iterations (each global iteration exactly once), per-vu-iterations and
/// constant-arrival-rate totals over 3 agents; setup() and teardown() once with the setup data
/// on every agent; the status path -2,-1,0,1,2,3; finished runs and their summaries survive a
/// controller restart.
#[test]
fn iteration_totals_setup_once_status_path_and_restart() {
    let target = Target::start();
    let mut cluster = Cluster::start("totals", 3);
    let base_url = format!("BASE_URL={}", target.url);

    let mut submit = cluster.submit(&script("totals.js"), &["-e", &base_url]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    let id = latest_run(&cluster);
    let run = cluster.run(id).expect("run");
    assert_run_end(&run, 3, 0, 0);
    assert_eq!(
        transition_path(&run),
        [-2, -1, 0, 1, 2, 3],
        "status path of {run}"
    );
    let agents: BTreeSet<&str> = run["assignments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["agent"].as_str())
        .collect();
    assert_eq!(agents.len(), 3, "the run was placed on 3 agents: {run}");
    // The segment sequence once, at the run; each assignment has its segment of it.
    assert_eq!(run["sequence"], "0,1/3,2/3,1", "{run}");
    let segments: Vec<&str> = run["assignments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["segment"].as_str())
        .collect();
    assert_eq!(segments, ["0:1/3", "1/3:2/3", "2/3:1"], "{run}");
    assert!(
        run["assignments"][0].get("sequence").is_none(),
        "no sequence per assignment: {run}"
    );

    let s = cluster.summary(id);
    assert_eq!(
        summary_stat(&s, "iterations{scenario:shared}", "count"),
        3000.0
    );
    assert_eq!(
        summary_stat(&s, "http_reqs{scenario:shared}", "count"),
        3000.0
    );
    assert_eq!(summary_stat(&s, "http_reqs", "count"), 3000.0);
    assert_eq!(
        summary_stat(&s, "iterations{scenario:pervu}", "count"),
        300.0
    );
    assert_eq!(summary_stat(&s, "iterations", "count"), 3300.0);

    // Each global iteration of the shared scenario once, across the agents; every agent took
    // part and saw the setup data.
    let shared = tagged(&cluster, "SHARED");
    let mut all = Vec::new();
    for (agent, msgs) in &shared {
        assert!(!msgs.is_empty(), "{agent} ran no shared iteration");
        for m in msgs {
            let (i, data) = numbered(m);
            assert_eq!(
                data, "tok-42",
                "{agent} got other setup data in iteration {i}"
            );
            all.push(i);
        }
    }
    assert_each_once(&all, 3000, "shared-iterations");
    // per-vu-iterations: 6 VUs × 50, 2 VUs on each agent.
    let pervu = tagged(&cluster, "PERVU");
    let mut all = Vec::new();
    for (agent, msgs) in &pervu {
        assert_eq!(msgs.len(), 100, "{agent}: per-vu iterations of its 2 VUs");
        for m in msgs {
            let (i, data) = numbered(m);
            assert_eq!(data, "tok-42", "{agent} got other setup data");
            all.push(i);
        }
    }
    assert_each_once(&all, 300, "per-vu-iterations");
    // setup() and teardown() once in the whole cluster.
    assert_eq!(
        count_messages(&cluster, "SETUP-RAN"),
        1,
        "setup() runs once per run"
    );
    assert_eq!(
        count_messages(&cluster, "TEARDOWN-RAN tok-42"),
        1,
        "teardown() once, with the setup data"
    );
    assert_eq!(
        count_messages(&cluster, "TEARDOWN-RAN"),
        1,
        "teardown() once"
    );
    assert_agents_idle(&cluster, 3);

    // constant-arrival-rate: 60/s for 10 s over 3 agents = 600 planned.
    let mut submit = cluster.submit(&script("arrival.js"), &[]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    let arrival_id = latest_run(&cluster);
    assert_ne!(arrival_id, id);
    assert_run_end(&cluster.run(arrival_id).expect("run"), 3, 0, 0);
    let arrival = cluster.summary(arrival_id);
    let iterations = summary_stat(&arrival, "iterations", "count");
    eprintln!("constant-arrival-rate over 3 agents: {iterations} of 600 planned iterations");
    assert!(
        (iterations - 600.0).abs() <= 12.0,
        "constant-arrival-rate ran {iterations} iterations, planned 600 (±2 %)"
    );

    // A controller killed with SIGKILL and started on the same data dir keeps both runs and
    // their summaries; the agents reconnect.
    let before: Vec<Value> = [id, arrival_id]
        .iter()
        .map(|&r| cluster.summary(r))
        .collect();
    cluster.restart_controller();
    let listed = cluster
        .get("/loadtests/v2/runs")
        .expect("runs after restart");
    let runs = listed["k6-runs"].as_array().cloned().unwrap_or_default();
    for (r, old) in [id, arrival_id].iter().zip(&before) {
        let run = runs
            .iter()
            .find(|x| x["id"] == *r)
            .unwrap_or_else(|| panic!("run {r} not listed after a restart: {listed}"));
        assert_eq!(run["run_status"], 3, "run {r} after a restart: {run}");
        let full = cluster.run(*r).expect("run after restart");
        assert_run_end(&full, 3, 0, 0);
        let after = cluster.summary(*r);
        assert_eq!(
            after["metrics"], old["metrics"],
            "summary of run {r} after a restart"
        );
    }
    cluster.wait_agents(3);
}

/// The controller merges trends exactly: its `http_req_duration` statistics equal those of all
/// agents' raw samples, and so do those of a custom Trend fed with known values, within the
/// histograms' precision (0.1 %; count exact).
#[test]
fn merged_trends_equal_the_statistics_of_all_raw_samples() {
    let target = Target::start();
    let cluster = Cluster::start("percentiles", 3);
    let base_url = format!("BASE_URL={}", target.url);
    let pid = cluster.controller_pid().expect("controller pid");
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut submit = cluster.submit(&script("percentiles.js"), &["-e", &base_url]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    if let (Some(a), Some(b)) = (cpu_before, cpu_seconds(pid)) {
        eprintln!(
            "controller CPU while 3 agents ran 3,000 requests flat out: {:.1} % of one core",
            (b - a) / started.elapsed().as_secs_f64() * 100.0
        );
    }
    let id = latest_run(&cluster);
    let s = cluster.summary(id);

    let mut iterations = Vec::new();
    let mut durations = Vec::new();
    let mut agents_with_samples = 0;
    for (agent, msgs) in tagged(&cluster, "DUR") {
        agents_with_samples += usize::from(!msgs.is_empty());
        for m in msgs {
            let (i, d) = numbered(&m);
            let d: f64 = d
                .parse()
                .unwrap_or_else(|_| panic!("{agent}: bad duration in {m:?}"));
            iterations.push(i);
            durations.push(d);
        }
    }
    assert_eq!(agents_with_samples, 3, "every agent sent requests");
    assert_each_once(&iterations, 3000, "shared-iterations");
    assert_stats_match(&s, "http_req_duration", durations);
    assert_stats_match(&s, "det_value", (0..3000).map(det_value).collect());
}

/// User + system CPU time of process `pid` from `/proc/PID/stat` (Linux's usual 100 ticks/s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// `value(i)` of `percentiles.js`.
fn det_value(i: u64) -> f64 {
    let a = ((i % 3) + 1).pow(3) as f64;
    let b = (1 + (i * 37) % 500) as f64;
    a * b / 8.0
}

/// k6's percentile rule: rank `p/100·(n−1)`, linear interpolation.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Compares the merged summary statistics of trend `name` with those of `samples`.
fn assert_stats_match(summary: &Value, name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    assert_eq!(
        summary_stat(summary, name, "count"),
        n as f64,
        "{name} count"
    );
    let want = [
        ("min", samples[0]),
        ("max", samples[n - 1]),
        ("avg", samples.iter().sum::<f64>() / n as f64),
        ("med", percentile(&samples, 50.0)),
        ("p(90)", percentile(&samples, 90.0)),
        ("p(95)", percentile(&samples, 95.0)),
        ("p(99)", percentile(&samples, 99.0)),
    ];
    for (k, expected) in want {
        let got = summary_stat(summary, name, k);
        let err = (got - expected).abs() / expected.abs().max(f64::MIN_POSITIVE);
        assert!(
            err <= 0.001,
            "{name} {k}: merged {got}, raw samples {expected} (off by {:.4} %)",
            err * 100.0
        );
    }
}

/// A threshold with abortOnFail that only the merged data fails stops every agent: status 8,
/// exit 99. Thresholds failing at the end: status 3, result 1, exit 99. `test.abort()` on one
/// agent: every agent stops, status 7, exit 108.
#[test]
fn thresholds_on_merged_data_and_test_abort_stop_the_whole_run() {
    let cluster = Cluster::start("thresholds", 3);

    let mut submit = cluster.submit(&script("merged_threshold.js"), &[]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 99);
    let id = latest_run(&cluster);
    let run = cluster.run(id).expect("run");
    assert_run_end(&run, 8, 1, 99);
    let s = cluster.summary(id);
    let hits = summary_stat(&s, "hits", "count");
    // No agent alone reaches 320 (each runs at most 300); all 3 together would reach 900.
    assert!(
        (320.0..900.0).contains(&hits),
        "the merged threshold stopped the run at {hits} hits (want ≥ 320, < 900)"
    );
    assert_eq!(s["metrics"]["hits"]["thresholds"]["count<320"]["ok"], false);
    assert_agents_idle(&cluster, 3);
    let threshold_secs = run["duration"].as_f64().unwrap_or(f64::NAN);

    let mut submit = cluster.submit(&script("end_threshold.js"), &[]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 99);
    let id = latest_run(&cluster);
    assert_run_end(&cluster.run(id).expect("run"), 3, 1, 99);
    assert_eq!(
        summary_stat(&cluster.summary(id), "iterations", "count"),
        30.0
    );
    assert_agents_idle(&cluster, 3);

    let mut submit = cluster.submit(&script("abort.js"), &[]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 108);
    let id = latest_run(&cluster);
    let run = cluster.run(id).expect("run");
    assert_run_end(&run, 7, 0, 108);
    let duration = run["duration"].as_f64().unwrap_or(f64::MAX);
    assert!(
        duration < 10.0,
        "test.abort() on one agent should end the 20 s run at once; it ran {duration} s"
    );
    assert_eq!(
        count_messages(&cluster, "ABORTING"),
        1,
        "exactly one iteration called test.abort()"
    );
    assert_agents_idle(&cluster, 3);
    eprintln!(
        "abortOnFail on merged data: the run lasted {threshold_secs:.2} s ({hits} hits); \
         test.abort(): {duration:.2} s"
    );
}

/// A run that needs 4 agents while 3 exist waits in QUEUED, starts when a 4th registers and
/// finishes; `volley agents` lists the agents with their state and CPU.
#[test]
fn a_run_needing_four_agents_waits_until_a_fourth_registers() {
    let mut cluster = Cluster::start("queue", 3);
    let mut submit = cluster.submit(&script("long.js"), &["-e", "AGENTS=4", "-e", "DURATION=2s"]);
    let id = cluster.wait_new_run(0, &[0], Duration::from_secs(10)).0;
    let queued_since = Instant::now();
    while queued_since.elapsed() < Duration::from_secs(3) {
        let run = cluster.run(id).expect("run");
        assert_eq!(
            run["run_status"], 0,
            "the run must wait for a 4th agent: {run}"
        );
        assert_eq!(
            run["processing_status"], 0,
            "NOT_STARTED while queued: {run}"
        );
        assert!(
            submit.wait_exit(Duration::ZERO).is_none(),
            "submit --wait ended while the run was queued: {}",
            submit.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let v = cluster.wait_agents(3);
    assert!(
        v["agents"]
            .as_array()
            .is_some_and(|a| a.iter().all(|a| a["state"] == "idle")),
        "a queued run holds no agent: {v}"
    );

    cluster.add_agent("gen-4", &[]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    let run = cluster.run(id).expect("run");
    assert_run_end(&run, 3, 0, 0);
    assert_eq!(transition_path(&run), [-2, -1, 0, 1, 2, 3]);
    assert_eq!(
        run["assignments"].as_array().map(Vec::len),
        Some(4),
        "placed on 4 agents: {run}"
    );
    assert_agents_idle(&cluster, 4);
    assert_eq!(count_messages(&cluster, "SETUP-RAN"), 1, "setup() once");
    assert_eq!(
        count_messages(&cluster, "TEARDOWN-RAN"),
        1,
        "teardown() once"
    );

    // `volley agents`: one line per agent, with its state, its process's CPU % and its
    // host's, then a legend line.
    let out = cluster
        .volley()
        .args(["agents", "--controller", &cluster.rest_url])
        .output()
        .expect("volley agents");
    assert!(out.status.success(), "volley agents failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header.get(..9),
        Some(&["NAME", "STATE", "RUN", "VUS", "REQ/S", "PROC", "CPU%", "PROC", "RSS"][..]),
        "{text}"
    );
    let mut names = BTreeSet::new();
    for line in lines.filter(|l| !l.starts_with("PROC:")) {
        // NAME STATE RUN VUS REQ/S PROC-CPU% RSS MiB HOST-CPU% HOST-MEM% …
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.get(1), Some(&"idle"), "state in {line:?}");
        for (i, what) in [(5, "process"), (8, "host")] {
            let cpu: f64 = f
                .get(i)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no {what} CPU % in {line:?}"));
            assert!(
                (0.0..=100.0).contains(&cpu),
                "{what} CPU % {cpu} in {line:?}"
            );
        }
        names.insert(f[0].to_string());
    }
    assert_eq!(
        names,
        ["gen-1", "gen-2", "gen-3", "gen-4"]
            .map(String::from)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        "{text}"
    );
    let api = cluster.get("/v1/agents").expect("agents");
    for a in api["agents"].as_array().into_iter().flatten() {
        assert!(a["cpu_percent"].is_number(), "cpu_percent of {a}");
        assert!(a["memory_percent"].is_number(), "memory_percent of {a}");
        assert!(
            a["process_cpu_percent"].is_number(),
            "process_cpu_percent of {a}"
        );
    }
}

/// Stop through the REST API while `submit --wait` follows: status 5, exit 103. Ctrl+C in
/// `submit --wait`: status 5, exit 105. Both end the run (and free the agents) promptly.
#[test]
fn stop_via_api_and_ctrl_c_in_submit_abort_the_run_by_user() {
    let cluster = Cluster::start("stop", 3);

    let mut submit = cluster.submit(&script("long.js"), &[]);
    let id = cluster.wait_new_run(0, &[2], Duration::from_secs(15)).0;
    let run = cluster.run(id).expect("run");
    assert_eq!(
        run["processing_status"], 1,
        "PROCESSING while running: {run}"
    );
    assert_eq!(transition_path(&run), [-2, -1, 0, 1, 2]);
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    cluster
        .post(&format!("/loadtests/v2/runs/{id}/stop"), &json!({}))
        .expect("stop the run");
    cluster
        .wait_run(
            id,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            STOP_TIMEOUT,
        )
        .expect("the run ends after a stop");
    let api_stop = asked.elapsed();
    cluster.assert_submit_exit(&mut submit, STOP_TIMEOUT, 103);
    let run = cluster.run(id).expect("run");
    assert_run_end(&run, 5, 0, 103);
    assert!(
        run["duration"].as_f64().is_some_and(|d| d < 15.0),
        "a stopped 30 s run: {run}"
    );
    assert_agents_idle(&cluster, 3);
    // Stopped while running: teardown() still runs, once (docs/cluster-runs.md#step-by-step).
    assert_eq!(count_messages(&cluster, "SETUP-RAN"), 1, "setup() once");
    assert_eq!(
        count_messages(&cluster, "TEARDOWN-RAN"),
        1,
        "teardown() once"
    );

    let mut submit = cluster.submit(&script("long.js"), &[]);
    let id2 = cluster.wait_new_run(id, &[2], Duration::from_secs(15)).0;
    assert_ne!(id2, id);
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    assert!(send_signal(submit.id(), "INT"), "SIGINT to volley submit");
    cluster.assert_submit_exit(&mut submit, STOP_TIMEOUT, 105);
    let ctrl_c = asked.elapsed();
    let run = cluster.run(id2).expect("run");
    assert_run_end(&run, 5, 0, 105);
    assert_agents_idle(&cluster, 3);
    assert_eq!(
        count_messages(&cluster, "SETUP-RAN"),
        2,
        "setup() once per run"
    );
    assert_eq!(
        count_messages(&cluster, "TEARDOWN-RAN"),
        2,
        "teardown() once per run"
    );
    eprintln!(
        "API stop → terminal status in {:.0} ms; Ctrl+C → submit exit in {:.0} ms",
        api_stop.as_secs_f64() * 1000.0,
        ctrl_c.as_secs_f64() * 1000.0
    );
}
