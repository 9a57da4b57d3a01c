//! SIGTERM on an agent, as Kubernetes sends it on a scale-down (docs/cluster-runs.md#sigterm-drain):
//! an idle agent exits at once; a busy one is not ready at once (`/readyz` 503), shows as
//! `draining` in `GET /v1/agents` and `volley agents`, finishes its
//! part of the run within `--drain-grace` and then exits, the run ending FINISHED; one whose
//! grace runs out stops its load and the run ends ABORTED_BY_SYSTEM, naming SIGTERM, or, with
//! `--on-agent-lost continue`, goes on without it and finishes degraded.

use std::time::{Duration, Instant};

use volley_e2e::{free_port, http_request_to, run_ok, temp_dir, Cluster, TempDir};

/// `vus` VUs for `secs` seconds: the script's dir (removed when dropped) and path.
fn script(name: &str, vus: u32, secs: u32) -> (TempDir, std::path::PathBuf) {
    let dir = temp_dir(&format!("drain-{name}"));
    let path = dir.join("run.js");
    std::fs::write(
        &path,
        format!(
            "import {{ sleep }} from 'k6';\n\
             export const options = {{ vus: {vus}, duration: '{secs}s' }};\n\
             export default function () {{ sleep(0.1); }}\n"
        ),
    )
    .unwrap();
    (dir, path)
}

/// A cluster of one agent `gen-1` with its own listener and `--drain-grace grace`; returns
/// the cluster and the listener's address.
fn cluster(name: &str, grace: &str) -> (Cluster, String) {
    let mut c = Cluster::start(name, 0);
    let addr = format!("127.0.0.1:{}", free_port());
    c.add_agent("gen-1", &["--listen", &addr, "--drain-grace", grace]);
    c.wait_agents(1);
    (c, addr)
}

/// Submits `script` and waits for its run to be RUNNING; returns the run's id.
fn running(c: &Cluster, script: &std::path::Path) -> u64 {
    run_ok(
        c.volley()
            .args(["submit", "--controller", &c.rest_url])
            .arg(script),
        "volley submit",
    );
    c.wait_new_run(0, &[2], Duration::from_secs(30)).0
}

fn readyz(addr: &str) -> (u16, String) {
    http_request_to(addr, "GET", "/readyz", None, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("GET http://{addr}/readyz: {e}"))
}

fn terminal(c: &Cluster, id: u64, timeout: Duration) -> serde_json::Value {
    c.wait_run(
        id,
        |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
        timeout,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.agent_logs()))
}

#[test]
fn an_idle_agent_exits_at_once_on_sigterm() {
    let (c, addr) = cluster("idle", "30s");
    assert_eq!(readyz(&addr).0, 200);
    let sent = Instant::now();
    assert!(c.signal_agent("gen-1", "TERM"));
    let log = c.agent_log("gen-1").unwrap();
    assert!(
        log.wait_closed(Duration::from_secs(5)),
        "the idle agent did not exit within 5 s of SIGTERM:\n{}",
        log.text()
    );
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert!(log.text().contains("SIGTERM while idle"), "{}", log.text());
}

#[test]
fn a_busy_agent_finishes_its_part_before_it_exits() {
    let (c, addr) = cluster("busy", "30s");
    let (_dir, path) = script("busy", 2, 5);
    let id = running(&c, &path);
    std::thread::sleep(Duration::from_millis(500));
    assert!(c.signal_agent("gen-1", "TERM"));
    // Not ready at once, so no Service or rollout counts on it.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (code, body) = readyz(&addr);
        if code == 503 {
            assert!(body.contains("draining"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {code} 1 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The controller shows it draining (its heartbeats say so, one a second) with its run,
    // in words: the API, `volley agents` and the dashboard's table, which shows the API's state.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let agents = c.get("/v1/agents").unwrap();
        let a = &agents["agents"][0];
        if a["state"] == "draining" {
            assert_eq!(a["run_id"], id, "{a}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "GET /v1/agents does not show gen-1 draining 3 s after SIGTERM: {a}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let table = run_ok(
        c.volley().args(["agents", "--controller", &c.rest_url]),
        "volley agents",
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("gen-1") && l.contains("draining")),
        "volley agents:\n{table}"
    );
    let run = terminal(&c, id, Duration::from_secs(30));
    assert_eq!(
        run["run_status"],
        3,
        "the run finishes despite the SIGTERM: {run}\n{}",
        c.agent_logs()
    );
    assert_eq!(run["exit_code"], 0, "{run}");
    let log = c.agent_log("gen-1").unwrap();
    assert!(
        log.wait_closed(Duration::from_secs(15)),
        "the agent did not exit after its run:\n{}",
        log.text()
    );
    let text = log.text();
    assert!(
        text.contains(&format!("SIGTERM while serving run {id}")) && text.contains("30 s"),
        "the log names the run and the grace:\n{text}"
    );
    assert!(text.contains("drained after"), "{text}");
    let iterations = c.summary(id)["metrics"]["iterations"]["values"]["count"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(iterations >= 40.0, "2 VUs for 5 s at 0.1 s: {iterations}");
}

#[test]
fn a_run_outlasting_the_drain_grace_is_stopped_naming_sigterm() {
    let (c, _) = cluster("grace", "1s");
    let (_dir, path) = script("grace", 1, 60);
    let id = running(&c, &path);
    let sent = Instant::now();
    assert!(c.signal_agent("gen-1", "TERM"));
    let run = terminal(&c, id, Duration::from_secs(30));
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "the 60 s run ended {:?} after SIGTERM",
        sent.elapsed()
    );
    assert_eq!(run["run_status"], 6, "ABORTED_BY_SYSTEM: {run}");
    assert_eq!(run["exit_code"], 97, "{run}");
    assert!(
        run.to_string().contains("terminated (SIGTERM)"),
        "the run's reason names SIGTERM: {run}"
    );
    let log = c.agent_log("gen-1").unwrap();
    assert!(
        log.wait_closed(Duration::from_secs(20)),
        "the agent did not exit:\n{}",
        log.text()
    );
}

/// With `--on-agent-lost continue`, an agent whose grace runs out is treated as a lost agent:
/// only its part stops, and the run goes on with the other agent and finishes, degraded, its
/// note naming the SIGTERM.
#[test]
fn with_on_agent_lost_continue_a_run_outlasting_the_grace_goes_on_without_the_agent() {
    let mut c = Cluster::start_with("grace-continue", &["--on-agent-lost", "continue"], 0);
    c.add_agent("gen-1", &["--drain-grace", "1s"]);
    c.add_agent("gen-2", &[]);
    c.wait_agents(2);
    let dir = temp_dir("drain-grace-continue");
    let path = dir.join("run.js");
    std::fs::write(
        &path,
        "import { sleep } from 'k6';\n\
         export const options = { vus: 2, duration: '6s', volley: { agents: 2 } };\n\
         export default function () { sleep(0.1); }\n",
    )
    .unwrap();
    let id = running(&c, &path);
    assert!(c.signal_agent("gen-1", "TERM"));
    let log = c.agent_log("gen-1").unwrap();
    assert!(
        log.wait_closed(Duration::from_secs(20)),
        "gen-1 did not exit:\n{}",
        log.text()
    );
    let run = terminal(&c, id, Duration::from_secs(30));
    assert_eq!(run["run_status"], 3, "FINISHED on gen-2: {run}");
    assert_eq!(run["exit_code"], 0, "{run}");
    assert_eq!(run["degraded"], true, "{run}");
    let note = run["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("agent gen-1 terminated (SIGTERM)"),
        "the note names the agent and SIGTERM: {run}"
    );
    assert!(
        run["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["message"]
                .as_str()
                .is_some_and(|m| m.contains("SIGTERM") && m.contains("continues without it")))),
        "the run's events say it went on: {run}"
    );
    // gen-2's VU ran the whole 6 s (about 60 iterations), gen-1's about 1.5 s of it.
    let iterations = c.summary(id)["metrics"]["iterations"]["values"]["count"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (50.0..110.0).contains(&iterations),
        "gen-2's whole part and gen-1's start: {iterations}"
    );
}
