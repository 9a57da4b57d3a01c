//! What a controller does with runs that cannot start as asked, end to end: runs that could
//! never be placed are refused at submit (no run is created, the agents stay registered), a run
//! that fits starts while an older one waits for busy agents, a queued run ends TIMED_OUT after
//! its queue timeout, absurd VU counts are refused by `volley run` before any VU exists, and VU
//! init that never ends (an endless loop in the script's top-level code, or an agent that takes
//! the run and never reports ready) aborts the run naming the agents, with the looping JS
//! interrupted so the agents take the next run.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use volley_e2e::{temp_dir, volley_run, Cluster};
use volley_proto as pb;

fn write(dir: &std::path::Path, name: &str, js: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, js).expect("write script");
    path
}

fn status(run: &Value) -> i64 {
    run["run_status"].as_i64().unwrap_or(-99)
}

/// When run `run` first reached `to` (RFC 3339 UTC strings sort by time).
fn reached(run: &Value, to: i64) -> String {
    run["transitions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["to"].as_i64() == Some(to))
        .and_then(|t| t["at"].as_str())
        .unwrap_or_else(|| panic!("run never reached {to}: {run}"))
        .to_string()
}

fn run_count(cluster: &Cluster) -> usize {
    cluster
        .get("/loadtests/v2/runs")
        .ok()
        .and_then(|r| r["k6-runs"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn runs_that_could_never_be_placed_are_refused_at_submit() {
    let mut cluster = Cluster::start_with("admission-refused", &["--max-agents", "4"], 0);
    cluster.add_agent("gen-eu", &["--label", "zone=eu", "--max-vus", "100"]);
    cluster.wait_agents(1);
    let dir = temp_dir("admission-refused-scripts");
    let cases = [
        ("agents: 0", "volley: { agents: 0 }", 400, "options.volley.agents must be at least 1 (got 0)"),
        ("a million agents", "volley: { agents: 1000000 }", 422, "allows at most 4 per run (--max-agents)"),
        ("an unknown label", "volley: { labels: { zone: 'mars' } }", 422, "label zone=mars but no connected agent has it (their labels: zone=eu)"),
        ("1e12 VUs", "vus: 1e12, duration: '1s'", 422, "the test plans up to 1000000000000 VUs but the connected agents it can use hold at most 100 (--max-vus: gen-eu 100)"),
        ("1e9 preallocated VUs", "scenarios: { a: { executor: 'constant-arrival-rate', rate: 1, duration: '1s', preAllocatedVUs: 1e9 } }", 422, "plans up to 1000000000 VUs"),
    ];
    for (what, options, code, message) in cases {
        let script = write(
            &dir,
            &format!("{}.js", what.replace(' ', "_")),
            &format!("export const options = {{ {options} }};\nexport default function () {{}}\n"),
        );
        let mut submit = cluster.submit(&script, &[]);
        cluster.assert_submit_exit(&mut submit, Duration::from_secs(15), 104);
        let err = submit.stderr.text();
        assert!(
            err.contains(&code.to_string()) && err.contains(message),
            "{what}: submit shows the status {code} and the reason {message:?}: {err}"
        );
        assert_eq!(run_count(&cluster), 0, "{what}: no run was created");
    }
    // The agent is still there and idle, and a run that fits goes through.
    let agents = cluster.get("/v1/agents").expect("agents");
    assert_eq!(agents["agents"][0]["state"], "idle", "{agents}");
    assert_eq!(agents["agents"][0]["max_vus"], 100, "{agents}");
    let ok = write(
        &dir,
        "fits.js",
        "export const options = { vus: 2, iterations: 2, volley: { labels: { zone: 'eu' } } };\nexport default function () {}\n",
    );
    let mut submit = cluster.submit(&ok, &[]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(30), 0);
}

#[test]
fn a_run_that_fits_starts_while_an_older_one_waits_and_queued_runs_time_out() {
    let cluster = Cluster::start("admission-queue", 2);
    let dir = temp_dir("admission-queue-scripts");
    // gen-1 is busy for 8 s.
    let long = write(
        &dir,
        "long.js",
        "import { sleep } from 'k6';\nexport const options = { vus: 1, duration: '8s', volley: { agents: 1 } };\nexport default function () { sleep(0.5); }\n",
    );
    // Needs both agents: it waits, and gives up after 3 s in the queue.
    let wide = write(
        &dir,
        "wide.js",
        "export const options = { vus: 2, iterations: 2, volley: { agents: 2, queueTimeout: '3s' } };\nexport default function () {}\n",
    );
    // Needs one agent: it starts on the idle one although the wide run is older.
    let small = write(
        &dir,
        "small.js",
        "export const options = { vus: 1, iterations: 1, volley: { agents: 1 } };\nexport default function () {}\n",
    );
    let mut long_submit = cluster.submit(&long, &[]);
    let (long_id, _) = cluster.wait_new_run(0, &[2], Duration::from_secs(20));
    let mut wide_submit = cluster.submit(&wide, &[]);
    let (wide_id, _) = cluster.wait_new_run(long_id, &[0], Duration::from_secs(10));
    let mut small_submit = cluster.submit(&small, &[]);
    cluster.assert_submit_exit(&mut small_submit, Duration::from_secs(20), 0);
    let wide_run = cluster.run(wide_id).expect("wide run");
    assert!(
        [0, 4].contains(&status(&wide_run)),
        "the wide run is still queued (or has just timed out): {wide_run}"
    );
    // The wide run ends TIMED_OUT (exit 97) with the reason it waited, while gen-1 is busy.
    cluster.assert_submit_exit(&mut wide_submit, Duration::from_secs(20), 97);
    let wide_run = cluster.run(wide_id).expect("wide run");
    assert_eq!(status(&wide_run), 4, "{wide_run}");
    let detail = wide_run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("QUEUE_TIMEOUT: the run waited ")
            && detail.contains("(options.volley.queueTimeout 3s) and could not be placed: waiting for agents: the run needs 2 idle agents; 1 idle of 2 connected"),
        "{detail}"
    );
    let small_id = cluster.latest_run_id().expect("small run");
    let small_run = cluster.run(small_id).expect("small run");
    assert!(
        reached(&small_run, 1) < reached(&wide_run, 4),
        "the small run started before the wide one gave up: {small_run}"
    );
    cluster.assert_submit_exit(&mut long_submit, Duration::from_secs(30), 0);
}

#[test]
fn volley_run_refuses_absurd_vu_counts_before_creating_vus() {
    let dir = temp_dir("admission-absurd");
    let cases = [
        ("vus.js", "vus: 1e12, duration: '1s'", "the test needs up to 1000000000000 VUs at once but this process can hold 1000 (volley run --max-vus;"),
        ("ramping.js", "scenarios: { r: { executor: 'ramping-vus', stages: [{ duration: '1s', target: 1e12 }] } }", "scenario r has configuration errors: target for stage 1 exceeds max limit of 100000000"),
        ("preallocated.js", "scenarios: { a: { executor: 'constant-arrival-rate', rate: 1, duration: '1s', preAllocatedVUs: 1e9 } }", "the test needs up to 1000000000 VUs at once"),
        ("max.js", "scenarios: { a: { executor: 'ramping-arrival-rate', stages: [{ duration: '1s', target: 1 }], preAllocatedVUs: 1, maxVUs: 1e9 } }", "the test needs up to 1000000000 VUs at once"),
    ];
    for (file, options, message) in cases {
        let script = write(
            &dir,
            file,
            &format!("export const options = {{ {options} }};\nexport default function () {{}}\n"),
        );
        let started = std::time::Instant::now();
        let out = volley_run(&["--max-vus", "1000", "-q", script.to_str().unwrap()], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(104), "{file}: {err}");
        assert!(err.contains(message), "{file}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{file}: refused at once, not after trying: {:?}",
            started.elapsed()
        );
    }
    // Without --max-vus the memory sets the limit: 1e12 VUs never fit.
    let script = dir.join("vus.js");
    let out = volley_run(&["-q", script.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(104), "{err}");
    assert!(
        err.contains("by default what its memory allows at 128 KiB per VU"),
        "{err}"
    );
}

/// An agent that registers, sends heartbeats, accepts its run's Assign and never reports
/// READY (a process wedged in native code). Runs until the returned sender is dropped.
fn silent_agent(grpc_url: String, name: &'static str) -> std::sync::mpsc::Sender<()> {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut client = pb::agent_link_client::AgentLinkClient::connect(grpc_url)
                .await
                .expect("connect");
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            let msg = |body| pb::AgentMessage {
                version: pb::PROTOCOL_VERSION,
                body: Some(body),
            };
            tx.send(msg(pb::agent_message::Body::Register(pb::Register {
                name: name.into(),
                ..Default::default()
            })))
            .await
            .unwrap();
            let mut inbound = client
                .link(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .expect("link")
                .into_inner();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                if matches!(stop_rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Disconnected)) {
                    return;
                }
                tokio::select! {
                    _ = tick.tick() => {
                        let hb = pb::Heartbeat { memory_total_bytes: 1 << 30, ..Default::default() };
                        if tx.send(msg(pb::agent_message::Body::Heartbeat(hb))).await.is_err() {
                            return;
                        }
                    }
                    m = inbound.message() => match m {
                        Ok(Some(_)) => {} // Assign, Stop…: never answered
                        _ => return,
                    },
                }
            }
        });
    });
    stop_tx
}

#[test]
fn vu_init_that_never_ends_aborts_the_run_naming_the_agents() {
    let mut cluster = Cluster::start("admission-init", 2);
    let dir = temp_dir("admission-init-scripts");
    // __VU is 0 in the init that reads the options (on the submitting machine, too) and 1.. in
    // each VU's init: there the script never returns.
    let endless = write(
        &dir,
        "endless.js",
        "if (__VU > 0) { while (true) {} }\nexport const options = { vus: 2, iterations: 2, volley: { initTimeout: '2s' } };\nexport default function () {}\n",
    );
    let mut submit = cluster.submit(&endless, &[]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(30), 97);
    let id = cluster.latest_run_id().expect("run");
    let run = cluster.run(id).expect("run");
    assert_eq!(status(&run), 6, "ABORTED_BY_SYSTEM: {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("INIT_TIMEOUT: agents gen-1 (segment 0:1/2), gen-2 (segment 1/2:1) did not finish VU init within 2s (options.volley.initTimeout)"),
        "{detail}"
    );
    // The loops were interrupted: both agents take the next run at once.
    let quick = write(
        &dir,
        "quick.js",
        "export const options = { vus: 2, iterations: 2, volley: { agents: 2 } };\nexport default function () {}\n",
    );
    let mut submit = cluster.submit(&quick, &[]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(30), 0);

    // An agent that takes the run and never answers: the run ends once the stop grace is over.
    cluster.kill_agent("gen-2");
    let _silent = silent_agent(cluster.grpc_url.clone(), "wedged");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !cluster.get("/v1/agents").expect("agents")["agents"]
        .as_array()
        .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x["state"] == "idle"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the agents are not idle"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let plain = write(
        &dir,
        "plain.js",
        "export const options = { vus: 2, iterations: 2, volley: { agents: 2, initTimeout: '2s' } };\nexport default function () {}\n",
    );
    let started = std::time::Instant::now();
    let mut submit = cluster.submit(&plain, &[]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(30), 97);
    let id = cluster.latest_run_id().expect("run");
    let run = cluster.run(id).expect("run");
    assert_eq!(status(&run), 6, "{run}");
    let detail = run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(
            "INIT_TIMEOUT: agent wedged (segment 1/2:1) did not finish VU init within 2s"
        ),
        "{detail}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run ended soon after the init timeout and the stop grace: {:?}",
        started.elapsed()
    );
    let events = run["events"].to_string();
    assert!(
        events.contains("agent wedged did not confirm the stop within 5 s"),
        "{events}"
    );
}
