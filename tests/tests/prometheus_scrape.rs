//! Both `/metrics` documents scraped from live processes during a run and after it: the
//! controller's (runs, queue, agents, agents wanted, batches merged, checkpoints) and an
//! agent's own on its `--listen` port (VUs, the run it serves, batches, CPU and memory), each
//! passed to `promtool check metrics`, Prometheus' own linter (Debian's `prometheus` package; `.ci/run`
//! installs it). Without promtool the test fails under `CI=true` and says SKIP otherwise.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use volley_e2e::{free_port, http_request_to, run_ok, temp_dir, Cluster};

/// Two VUs for 4 s: long enough to scrape while it runs.
const SCRIPT: &str = "import { sleep } from 'k6';\n\
export const options = { vus: 2, duration: '4s' };\n\
export default function () { sleep(0.05); }\n";

/// `promtool check metrics` on `text`: Ok, or its complaints.
fn promtool(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool: {e}"))?;
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing to promtool: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics failed ({}):\n{}{}\n--- the document:\n{text}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether promtool can run here; under CI=true it must.
fn promtool_available() -> bool {
    match Command::new("promtool").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        other => {
            let why = format!("promtool is not available ({other:?}); apt-get install prometheus");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the metrics scrape test cannot run in CI: {why}; .ci/run installs it");
            }
            eprintln!("SKIP the promtool checks of the metrics scrape test: {why}");
            false
        }
    }
}

/// The value of the sample `name` (exactly, labels included) in an exposition.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

fn scrape_agent(addr: &str) -> String {
    let (code, body) = http_request_to(addr, "GET", "/metrics", None, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("GET http://{addr}/metrics: {e}"));
    assert_eq!(code, 200, "GET http://{addr}/metrics: {body}");
    body
}

fn scrape_controller(cluster: &Cluster) -> String {
    match cluster.request("GET", "/metrics", None) {
        Ok((200, serde_json::Value::String(text))) => text,
        other => panic!("GET /metrics on the controller: {other:?}"),
    }
}

#[test]
fn controller_and_agent_metrics_pass_promtool_during_and_after_a_run() {
    let lint = promtool_available();
    let mut cluster = Cluster::start("scrape", 0);
    let agent_addr = format!("127.0.0.1:{}", free_port());
    cluster.add_agent("gen-1", &["--listen", &agent_addr]);
    cluster.wait_agents(1);
    let (code, body) = http_request_to(&agent_addr, "GET", "/readyz", None, Duration::from_secs(5))
        .expect("GET /readyz");
    assert_eq!(code, 200, "a registered agent is ready: {body}");

    let dir = temp_dir("scrape");
    let script = dir.join("two-vus.js");
    std::fs::write(&script, SCRIPT).unwrap();
    run_ok(
        cluster
            .volley()
            .args(["submit", "--controller", &cluster.rest_url])
            .arg(&script),
        "volley submit",
    );
    let (id, _) = cluster.wait_new_run(0, &[2], Duration::from_secs(30));

    // While it runs: wait until the controller has merged and checkpointed some batches and the
    // agent's VUs have started (its first batch may go out at its interval's phase before the
    // run's start time: docs/cluster-runs.md#metric-batches).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (controller, agent) = loop {
        let text = scrape_controller(&cluster);
        let agent = scrape_agent(&agent_addr);
        if sample(&text, "volley_metric_batches_merged_total") >= 1.0
            && sample(&text, "volley_checkpoint_duration_seconds_count") >= 1.0
            && sample(&agent, "volley_agent_vus") == 2.0
        {
            break (text, agent);
        }
        assert!(
            Instant::now() < deadline,
            "no batch merged and checkpointed, or the agent's 2 VUs not started, within 10 s of \
             RUNNING:\n{text}\n{agent}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(sample(&controller, "volley_runs{status=\"running\"}"), 1.0);
    assert_eq!(sample(&controller, "volley_agents{state=\"busy\"}"), 1.0);
    assert_eq!(
        sample(&controller, "volley_agents_wanted"),
        1.0,
        "the busy agent"
    );
    let wanted = cluster
        .get("/v1/agents/wanted")
        .expect("GET /v1/agents/wanted");
    assert_eq!(wanted["wanted"], 1, "{wanted}");
    assert_eq!(wanted["busy"], 1, "{wanted}");
    assert!(sample(&controller, "volley_checkpoint_size_bytes_sum") > 0.0);
    assert_eq!(sample(&agent, "volley_agent_run_id"), id as f64, "{agent}");
    assert_eq!(sample(&agent, "volley_agent_vus"), 2.0, "{agent}");
    assert_eq!(sample(&agent, "volley_agent_registered"), 1.0);
    assert!(sample(&agent, "volley_agent_metric_batches_sent_total") >= 1.0);
    assert!(sample(&agent, "process_resident_memory_bytes") > 0.0);
    if lint {
        promtool(&controller).unwrap_or_else(|e| panic!("the controller's /metrics: {e}"));
        promtool(&agent).unwrap_or_else(|e| panic!("the agent's /metrics: {e}"));
    }

    // After it: the agent is idle again and has acknowledged every batch.
    cluster
        .wait_run(
            id,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.agent_logs()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let agent = loop {
        let text = scrape_agent(&agent_addr);
        if sample(&text, "volley_agent_run_id") == 0.0
            && sample(&text, "volley_agent_metric_batches_unacked") == 0.0
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the agent still serves a run or has unacknowledged batches 10 s after the run ended:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        sample(&agent, "volley_agent_iterations_total") >= 2.0,
        "{agent}"
    );
    assert!(sample(&agent, "process_cpu_seconds_total") > 0.0, "{agent}");
    // The controller frees the agent just after it writes the run's final status.
    let deadline = Instant::now() + Duration::from_secs(10);
    let controller = loop {
        let text = scrape_controller(&cluster);
        if sample(&text, "volley_agents{state=\"idle\"}") == 1.0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the agent is not idle on the controller 10 s after its run ended:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sample(&controller, "volley_runs{status=\"finished\"}"), 1.0);
    assert_eq!(
        sample(&controller, "volley_agents_wanted"),
        0.0,
        "nothing runs or waits"
    );
    if lint {
        promtool(&controller).unwrap_or_else(|e| panic!("the controller's /metrics: {e}"));
        promtool(&agent).unwrap_or_else(|e| panic!("the agent's /metrics: {e}"));
    }
}
