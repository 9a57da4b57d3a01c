//! The cluster commands: `volley controller`, `volley agent`, `volley archive`, `volley submit`,
//! `volley runs | status | stop | agents` and `volley cluster up`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use volley_common::archive::Archive;
use volley_common::exit::code;
use volley_common::options::{parse_stages, Options};
use volley_common::status::RunStatus;
use volley_common::summary::SummaryReport;

use volley_common::rest::{Client, RestError};

const DEFAULT_REST: &str = "http://127.0.0.1:6565";
const DEFAULT_GRPC: &str = "http://127.0.0.1:6566";

fn log_error(msg: &str) {
    volley_agent::console::log_error(msg, &[]);
}

fn parse_kv(items: &[String], what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for kv in items {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("invalid {what} {kv:?}: use KEY=VALUE"))?;
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

#[derive(clap::Args)]
pub struct ControllerArgs {
    /// Address of the REST API (the k6 test-runs API, agents and runs views).
    #[arg(long, default_value = "127.0.0.1:6565")]
    pub listen: std::net::SocketAddr,
    /// Address agents dial (gRPC).
    #[arg(long, default_value = "127.0.0.1:6566")]
    pub grpc: std::net::SocketAddr,
    /// Where runs, tests and archives are stored (redb).
    #[arg(long, default_value = "./volley-data")]
    pub data_dir: PathBuf,
    /// Join token agents must present.
    #[arg(long, env = "VOLLEY_TOKEN")]
    pub token: Option<String>,
    /// An agent of a running run silent this long is lost (e.g. 10s).
    #[arg(long, default_value = "10s")]
    pub agent_lost_after: String,
    /// What a lost agent does to its run: abort (ABORTED_BY_SYSTEM) or continue (degraded).
    #[arg(long, default_value = "abort")]
    pub on_agent_lost: String,
    /// CPU % on an agent that, sustained for --overload-after, aborts the run.
    #[arg(long, default_value_t = 90.0)]
    pub overload_cpu: f64,
    /// Memory % on an agent that, sustained for --overload-after, aborts the run.
    #[arg(long, default_value_t = 90.0)]
    pub overload_memory: f64,
    #[arg(long, default_value = "30s")]
    pub overload_after: String,
    /// Most groups in a run.
    #[arg(long, default_value_t = 40)]
    pub max_groups: usize,
    /// Most metric series (metric × tag set) in a run.
    #[arg(long, default_value_t = 10_000)]
    pub max_series: usize,
    /// Longest run (incl. graceful stop), checked at submit and during the run.
    #[arg(long, default_value = "60m")]
    pub max_duration: String,
    /// Most VUs in one run (default: no limit).
    #[arg(long)]
    pub max_vus: Option<u64>,
    /// No data or heartbeat from any agent of a run for this long → TIMED_OUT.
    #[arg(long, default_value = "120s")]
    pub data_timeout: String,
    /// Most REST connections open at once (default: half the open-files limit, at most
    /// 10,000); at the cap the longest-idle connection is closed to make room.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Longest a REST client may take to send a request's headers, and longest a kept-alive
    /// REST connection may stay idle.
    #[arg(long, default_value = "10s")]
    pub header_read_timeout: String,
}

fn dur(flag: &str, v: &str) -> Result<Duration, String> {
    volley_common::duration::parse_duration(v).map_err(|e| format!("invalid {flag} {v:?}: {e}"))
}

fn coordinator_config(
    a: &ControllerArgs,
) -> Result<volley_controller::coordinator::CoordinatorConfig, String> {
    use volley_controller::coordinator::{CoordinatorConfig, Limits};
    Ok(CoordinatorConfig {
        agent_lost_after: dur("--agent-lost-after", &a.agent_lost_after)?,
        on_agent_lost: a
            .on_agent_lost
            .parse()
            .map_err(|e| format!("--on-agent-lost: {e}"))?,
        overload_cpu_percent: a.overload_cpu,
        overload_memory_percent: a.overload_memory,
        overload_after: dur("--overload-after", &a.overload_after)?,
        data_timeout: dur("--data-timeout", &a.data_timeout)?,
        limits: Limits {
            max_groups: a.max_groups,
            max_series: a.max_series,
            max_duration: dur("--max-duration", &a.max_duration)?,
            max_vus: a.max_vus,
        },
        ..CoordinatorConfig::default()
    })
}

pub fn controller(a: ControllerArgs) -> i32 {
    let coordinator = match coordinator_config(&a) {
        Ok(c) => c,
        Err(e) => {
            log_error(&e);
            return code::INVALID_CONFIG;
        }
    };
    let mut rest_limits = volley_controller::rest_listener::ListenerLimits::from_env();
    if let Some(n) = a.max_connections {
        if n == 0 {
            log_error("invalid --max-connections 0: allow at least 1 connection");
            return code::INVALID_CONFIG;
        }
        rest_limits.max_connections = n;
    }
    match dur("--header-read-timeout", &a.header_read_timeout) {
        Ok(d) if !d.is_zero() => rest_limits.header_read_timeout = d,
        Ok(_) => {
            log_error("invalid --header-read-timeout 0s: give a positive duration, e.g. 10s");
            return code::INVALID_CONFIG;
        }
        Err(e) => {
            log_error(&e);
            return code::INVALID_CONFIG;
        }
    }
    let cfg = volley_controller::server::ControllerConfig {
        listen: a.listen,
        grpc: a.grpc,
        data_dir: a.data_dir,
        token: a.token,
        coordinator,
        rest_limits,
    };
    match volley_controller::server::run_controller(cfg) {
        Ok(()) => 0,
        Err(e) => {
            log_error(&e.to_string());
            e.exit_code()
        }
    }
}

#[derive(clap::Args)]
pub struct AgentArgs {
    /// The controller's gRPC URL.
    #[arg(long, env = "VOLLEY_CONTROLLER_GRPC", default_value = DEFAULT_GRPC)]
    pub controller: String,
    /// This agent's name (unique in the cluster). Default: host name and process id.
    #[arg(long)]
    pub name: Option<String>,
    /// A label KEY=VALUE for placement (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// The most VUs this agent accepts (0 = no limit); used for placement and weights.
    #[arg(long, default_value_t = 0)]
    pub max_vus: u64,
    /// JS worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Join token.
    #[arg(long, env = "VOLLEY_TOKEN")]
    pub token: Option<String>,
    /// Dead-man switch: with no word from the controller for this long, stop the load.
    #[arg(long, default_value = "30s")]
    pub orphan_after: String,
}

pub fn agent(a: AgentArgs) -> i32 {
    let orphan_after = match volley_common::duration::parse_duration(&a.orphan_after) {
        Ok(d) => d,
        Err(e) => {
            log_error(&format!("invalid --orphan-after {:?}: {e}", a.orphan_after));
            return code::INVALID_CONFIG;
        }
    };
    let labels = match parse_kv(&a.labels, "--label") {
        Ok(l) => l,
        Err(e) => {
            log_error(&e);
            return code::INVALID_CONFIG;
        }
    };
    let name = a.name.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "agent".into());
        format!("{host}-{}", std::process::id())
    });
    if let Err(e) = volley_common::names::check_agent_name(&name)
        .and_then(|()| volley_common::names::check_labels(labels.iter()))
    {
        log_error(&e.to_string());
        return code::INVALID_CONFIG;
    }
    let work_dir = std::env::temp_dir().join(format!("volley-agent-{}", sanitize(&name)));
    let cfg = volley_agent::cluster::client::AgentConfig {
        controller: a.controller,
        name,
        labels,
        max_vus: a.max_vus,
        workers: a.workers,
        token: a.token,
        work_dir,
        orphan_after,
    };
    match volley_agent::cluster::client::run_agent(cfg) {
        Ok(()) => 0,
        Err(e) => {
            log_error(&e);
            1
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Flags shared by `archive` and `submit` that shape the test.
#[derive(clap::Args, Clone)]
pub struct TestFlags {
    /// The test script.
    pub script: PathBuf,
    #[arg(short = 'u', long)]
    pub vus: Option<i64>,
    #[arg(short = 'd', long)]
    pub duration: Option<String>,
    #[arg(short = 'i', long)]
    pub iterations: Option<i64>,
    #[arg(short = 's', long = "stage")]
    pub stages: Vec<String>,
    /// __ENV values (repeatable), stored in the archive.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
}

struct Built {
    script: PathBuf,
    tar: Vec<u8>,
    env: BTreeMap<String, String>,
    has_handle_summary: bool,
    summary_timeout: Duration,
}

/// Bundles script + local imports + opened files + consolidated options.
fn build_archive(t: &TestFlags) -> Result<Built, (i32, String)> {
    if !t.script.exists() {
        return Err((
            code::UNKNOWN,
            format!("the script {} does not exist", t.script.display()),
        ));
    }
    let mut o = Options {
        vus: t.vus,
        iterations: t.iterations,
        ..Options::default()
    };
    if let Some(d) = &t.duration {
        o.duration = Some(
            volley_common::duration::parse_duration(d)
                .map_err(|e| (code::INVALID_CONFIG, format!("invalid --duration: {e}")))?,
        );
    }
    if !t.stages.is_empty() {
        o.stages = Some(
            parse_stages(&t.stages.join(","), "--stage")
                .map_err(|e| (code::INVALID_CONFIG, e.to_string()))?,
        );
    }
    let env = parse_kv(&t.env, "--env").map_err(|e| (code::INVALID_CONFIG, e))?;
    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    let inspected = volley_agent::engine::inspect_script(&t.script, &env, &o, &process_env)?;
    let program = &inspected.program;
    let modules: Vec<(PathBuf, String)> = program
        .sources
        .iter()
        .map(|(p, s)| (PathBuf::from(p), s.clone()))
        .collect();
    let files: Vec<(PathBuf, Vec<u8>)> = program
        .opened_files()
        .into_iter()
        .filter_map(|p| program.open_file(&p).ok().map(|d| (p, d.as_ref().clone())))
        .collect();
    let archive = Archive::from_paths(
        &program.script_path,
        &modules,
        &files,
        inspected.options_json.clone(),
        env.clone(),
    )
    .map_err(|e| (code::INVALID_CONFIG, e.to_string()))?;
    let tar = archive
        .to_tar()
        .map_err(|e| (code::INVALID_CONFIG, e.to_string()))?;
    Ok(Built {
        script: t.script.clone(),
        tar,
        env,
        has_handle_summary: inspected.exports.iter().any(|e| e == "handleSummary"),
        summary_timeout: inspected.options.summary_timeout,
    })
}

#[derive(clap::Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub test: TestFlags,
    /// Where to write the archive.
    #[arg(short = 'O', long = "output", default_value = "archive.tar")]
    pub output: PathBuf,
}

pub fn archive(a: ArchiveArgs) -> i32 {
    match build_archive(&a.test) {
        Ok(b) => match std::fs::write(&a.output, &b.tar) {
            Ok(()) => {
                println!("wrote {} ({} bytes)", a.output.display(), b.tar.len());
                0
            }
            Err(e) => {
                log_error(&format!("cannot write {}: {e}", a.output.display()));
                1
            }
        },
        Err((c, m)) => {
            log_error(&m);
            c
        }
    }
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub test: TestFlags,
    /// Follow the run until it ends; exit with the code the same run would give locally.
    #[arg(long)]
    pub wait: bool,
    /// The controller's REST URL.
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The test's name (default: the script's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// A note stored with the run.
    #[arg(long, default_value = "")]
    pub note: String,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long)]
    pub no_summary: bool,
}

fn client(url: &str) -> Result<Client, i32> {
    Client::new(url).map_err(|e| {
        log_error(&e);
        code::INVALID_CONFIG
    })
}

pub fn submit(a: SubmitArgs) -> i32 {
    let stop_count = Arc::new(AtomicU32::new(0));
    crate::run::trap_simple_signals(stop_count.clone());
    let built = match build_archive(&a.test) {
        Ok(b) => b,
        Err((c, m)) => {
            log_error(&m);
            return c;
        }
    };
    let c = match client(&a.controller) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let name = a.name.clone().unwrap_or_else(|| {
        a.test
            .script
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "test".into())
    });
    let body = serde_json::json!({
        "name": name,
        "project_id": 0,
        "k6_archive": base64::engine::general_purpose::STANDARD.encode(&built.tar),
    });
    let test = match c.post("/loadtests/v2/tests", &body) {
        Ok(v) => v,
        Err(e) => return rest_failed(e, false),
    };
    let Some(test_id) = test.pointer("/k6-test/id").and_then(|v| v.as_u64()) else {
        log_error("the controller did not return a test id");
        return code::SYSTEM;
    };
    let run = match c.post(
        &format!("/loadtests/v2/tests/{test_id}/start-testrun"),
        &serde_json::json!({"env": built.env, "note": a.note}),
    ) {
        Ok(v) => v,
        Err(e) => return rest_failed(e, false),
    };
    let Some(run_id) = run.pointer("/k6-run/id").and_then(|v| v.as_u64()) else {
        log_error("the controller did not return a run id");
        return code::SYSTEM;
    };
    if !a.wait {
        println!("run {run_id} submitted (test {test_id}); follow it with: volley status {run_id}");
        return 0;
    }
    follow(&c, run_id, &a, &built, stop_count)
}

fn rest_failed(e: RestError, following: bool) -> i32 {
    log_error(&e.to_string());
    match e {
        RestError::Unreachable(_) if following => code::CONTROLLER_LOST,
        RestError::Unreachable(_) => code::SYSTEM,
        RestError::Status(s, _) if (400..500).contains(&s) => code::INVALID_CONFIG,
        RestError::Status(..) => code::SYSTEM,
    }
}

fn status_name(s: i64) -> &'static str {
    i32::try_from(s)
        .ok()
        .and_then(RunStatus::from_number)
        .map_or("UNKNOWN", RunStatus::name)
}

/// Follows a run to its end, printing status changes and progress; then the summary.
fn follow(c: &Client, run_id: u64, a: &SubmitArgs, built: &Built, stops: Arc<AtomicU32>) -> i32 {
    let mut last_status = i64::MIN;
    let mut last_ok = Instant::now();
    let mut stop_sent = false;
    let mut events_seen = 0usize;
    let run = loop {
        if stops.load(Ordering::SeqCst) > 0 && !stop_sent {
            stop_sent = true;
            let _ = c.post(
                &format!("/loadtests/v2/runs/{run_id}/stop"),
                &serde_json::json!({"reason": "signal"}),
            );
        }
        match c.get(&format!("/loadtests/v2/runs/{run_id}")) {
            Ok(v) => {
                last_ok = Instant::now();
                let run = v.get("k6-run").cloned().unwrap_or_default();
                let status = run.get("run_status").and_then(|s| s.as_i64()).unwrap_or(-2);
                // Events (an agent busy, overloaded, disconnected...) as they happen.
                if let Some(events) = run.get("events").and_then(|e| e.as_array()) {
                    for e in events.iter().skip(events_seen) {
                        let level = e.get("level").and_then(|l| l.as_str()).unwrap_or("info");
                        let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
                        volley_agent::console::log(level, &format!("run {run_id}: {msg}"), &[]);
                    }
                    events_seen = events_seen.max(events.len());
                }
                if status != last_status && !a.quiet {
                    let reason = run
                        .get("transitions")
                        .and_then(|t| t.as_array())
                        .and_then(|t| t.last())
                        .and_then(|t| t.get("reason"))
                        .and_then(|r| r.as_str())
                        .unwrap_or("");
                    eprintln!("run {run_id}: {} ({status}) {reason}", status_name(status));
                    last_status = status;
                }
                let terminal = i32::try_from(status)
                    .ok()
                    .and_then(RunStatus::from_number)
                    .is_some_and(RunStatus::is_terminal);
                if terminal {
                    break run;
                }
            }
            Err(RestError::Unreachable(m)) => {
                if last_ok.elapsed() > Duration::from_secs(15) {
                    log_error(&format!(
                        "lost the controller while following run {run_id}: {m}"
                    ));
                    return code::CONTROLLER_LOST;
                }
            }
            Err(e) => return rest_failed(e, true),
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let exit = run
        .get("exit_code")
        .and_then(|v| v.as_i64())
        .map(|v| v as i32)
        .unwrap_or(code::SYSTEM);
    if !a.no_summary {
        print_summary(c, run_id, built);
    }
    if run.get("degraded").and_then(|d| d.as_bool()) == Some(true) {
        let note = run.get("note").and_then(|n| n.as_str()).unwrap_or("");
        volley_agent::console::log(
            "warning",
            &format!("run {run_id} is DEGRADED (an agent was lost and the run went on without it): {note}"),
            &[],
        );
    }
    if let Some(detail) = run.get("error_detail").and_then(|v| v.as_str()) {
        if !detail.is_empty() {
            log_error(detail);
        }
    }
    exit
}

fn print_summary(c: &Client, run_id: u64, built: &Built) {
    let report: Option<SummaryReport> = c
        .get(&format!("/v1/runs/{run_id}/report"))
        .ok()
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(report) = report else {
        log_error(&format!("the summary of run {run_id} is not available"));
        return;
    };
    if built.has_handle_summary {
        // handleSummary runs once, here, so the files it writes land on this machine.
        let data = report.to_handle_summary_data();
        match volley_agent::engine::run_handle_summary(
            &built.script,
            &built.env,
            data,
            built.summary_timeout,
        ) {
            Ok(Some(outputs)) => {
                crate::run::write_summary_outputs(&outputs);
                return;
            }
            Ok(None) => {}
            Err(e) => log_error(&e),
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{}", report.render_text());
}

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The controller's REST URL.
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
}

pub fn runs(q: QueryArgs) -> i32 {
    let c = match client(&q.controller) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.get("/loadtests/v2/runs") {
        Ok(v) => {
            println!(
                "{:>6} {:>6} {:<24} {:>7} {:>6} {:>6}  {:<20}",
                "RUN", "TEST", "STATUS", "RESULT", "VUS", "EXIT", "CREATED"
            );
            for r in v
                .get("k6-runs")
                .and_then(|r| r.as_array())
                .cloned()
                .unwrap_or_default()
            {
                let g = |k: &str| r.get(k).cloned().unwrap_or_default();
                println!(
                    "{:>6} {:>6} {:<24} {:>7} {:>6} {:>6}  {:<20}",
                    g("id"),
                    g("test_id"),
                    status_name(g("run_status").as_i64().unwrap_or(-2)),
                    if g("result_status").as_i64() == Some(1) {
                        "FAILED"
                    } else {
                        "PASSED"
                    },
                    g("vus"),
                    g("exit_code")
                        .as_i64()
                        .map(|x| x.to_string())
                        .unwrap_or_else(|| "-".into()),
                    g("created").as_str().unwrap_or(""),
                );
            }
            0
        }
        Err(e) => rest_failed(e, false),
    }
}

#[derive(clap::Args)]
pub struct RunIdArgs {
    pub run: u64,
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
}

pub fn status(a: RunIdArgs) -> i32 {
    let c = match client(&a.controller) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.get(&format!("/loadtests/v2/runs/{}", a.run)) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }
        Err(e) => rest_failed(e, false),
    }
}

pub fn stop(a: RunIdArgs) -> i32 {
    let c = match client(&a.controller) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.post(
        &format!("/loadtests/v2/runs/{}/stop", a.run),
        &serde_json::json!({}),
    ) {
        Ok(_) => {
            println!("run {} is stopping", a.run);
            0
        }
        Err(e) => rest_failed(e, false),
    }
}

#[derive(clap::Args)]
pub struct AgentsArgs {
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// Refresh every second until Ctrl+C.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

pub fn agents(a: AgentsArgs) -> i32 {
    let c = match client(&a.controller) {
        Ok(c) => c,
        Err(code) => return code,
    };
    loop {
        match c.get("/v1/agents") {
            Ok(v) => {
                if a.watch {
                    print!("\x1b[2J\x1b[H");
                }
                print_agents(&v);
            }
            Err(e) => return rest_failed(e, false),
        }
        if !a.watch {
            return 0;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn print_agents(v: &serde_json::Value) {
    let list = v
        .get("agents")
        .or_else(|| v.get("data"))
        .and_then(|a| a.as_array())
        .cloned()
        .or_else(|| v.as_array().cloned())
        .unwrap_or_default();
    println!(
        "{:<16} {:<20} {:<6} {:>5} {:>6} {:>6} {:>9} {:>6} {:>8} {:>6}  HEALTH",
        "NAME", "LABELS", "STATE", "RUN", "CPU%", "MEM%", "RSS", "VUS", "REQ/S", "HB"
    );
    for ag in list {
        let g = |k: &str| ag.get(k).cloned().unwrap_or_default();
        let labels = g("labels")
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        println!(
            "{:<16} {:<20} {:<6} {:>5} {:>6.1} {:>6.1} {:>8.1}M {:>6} {:>8.1} {:>5.1}s  {}",
            g("name").as_str().unwrap_or(""),
            labels,
            g("state").as_str().unwrap_or(""),
            g("run_id")
                .as_u64()
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            g("cpu_percent").as_f64().unwrap_or(0.0),
            g("memory_percent").as_f64().unwrap_or(0.0),
            g("process_rss_bytes").as_f64().unwrap_or(0.0) / 1_048_576.0,
            g("active_vus").as_i64().unwrap_or(0),
            g("requests_per_second").as_f64().unwrap_or(0.0),
            g("heartbeat_age_s").as_f64().unwrap_or(0.0),
            g("health").as_str().unwrap_or(""),
        );
    }
}

#[derive(clap::Args)]
pub struct ClusterUpArgs {
    /// How many agent processes to start.
    #[arg(long, default_value_t = 3)]
    pub agents: u32,
    #[arg(long, default_value = "127.0.0.1:6565")]
    pub listen: std::net::SocketAddr,
    #[arg(long, default_value = "127.0.0.1:6566")]
    pub grpc: std::net::SocketAddr,
    #[arg(long, default_value = "./volley-data")]
    pub data_dir: PathBuf,
    /// Per-agent VU capacity (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub max_vus: u64,
}

/// A local controller plus N agent processes, for trying the cluster out; Ctrl+C stops all.
pub fn cluster_up(a: ClusterUpArgs) -> i32 {
    let stops = Arc::new(AtomicU32::new(0));
    crate::run::trap_simple_signals(stops.clone());
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            log_error(&format!("cannot find the volley binary: {e}"));
            return 1;
        }
    };
    let mut children: Vec<Child> = Vec::new();
    let controller = Command::new(&exe)
        .args([
            "controller",
            "--listen",
            &a.listen.to_string(),
            "--grpc",
            &a.grpc.to_string(),
            "--data-dir",
        ])
        .arg(&a.data_dir)
        .stdout(Stdio::piped())
        .spawn();
    let mut controller = match controller {
        Ok(c) => c,
        Err(e) => {
            log_error(&format!("cannot start the controller: {e}"));
            return 1;
        }
    };
    let mut lines = BufReader::new(controller.stdout.take().expect("piped")).lines();
    let mut rest_url = None;
    let mut grpc_url = None;
    while rest_url.is_none() || grpc_url.is_none() {
        match lines.next() {
            Some(Ok(l)) => {
                let url = l.rsplit(' ').next().unwrap_or("").to_string();
                if l.contains("REST API") {
                    rest_url = Some(url);
                } else if l.contains("gRPC") {
                    grpc_url = Some(url);
                }
            }
            _ => {
                log_error("the controller exited before it was ready");
                return 1;
            }
        }
    }
    children.push(controller);
    let grpc_url = grpc_url.unwrap_or_default();
    for i in 1..=a.agents {
        match Command::new(&exe)
            .args([
                "agent",
                "--controller",
                &grpc_url,
                "--name",
                &format!("agent-{i}"),
                "--max-vus",
                &a.max_vus.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => log_error(&format!("cannot start agent-{i}: {e}")),
        }
    }
    let rest = rest_url.unwrap_or_default();
    println!(
        "volley cluster up: controller {rest} with {} agents (Ctrl+C stops them all)",
        a.agents
    );
    println!("  submit a test:  VOLLEY_CONTROLLER={rest} volley submit --wait test.js");
    let _ = std::io::stdout().flush();
    while stops.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(100));
        if children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(Some(_))))
        {
            log_error("a cluster process exited; stopping the others");
            break;
        }
    }
    for c in children.iter_mut() {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
    0
}
