//! `controller-scale`: how many agents one controller holds (bench/README.md, "Controller
//! scale"). For each agent count N it starts a fresh `volley controller`, connects N simulated
//! agents that speak the real gRPC protocol (`agent`), measures the controller while they only
//! send heartbeats, then submits one run over all N agents and measures its CPU, peak memory,
//! the merge lag, the acknowledgement delay and the REST API's latency while the run goes, and
//! checks that the merged totals equal what the agents sent. One markdown table row per N.
//! With `--controllers 1,3` it measures each N on one controller and on a Raft group of three
//! (docs/ha.md#what-replication-costs): the same run, plus submits while it goes, the
//! checkpoints' bytes and every controller's CPU, and prints the group's figures over the single
//! controller's. Under the curve it prints issue 23's verdict (the largest count held within the
//! goal) and where the controller saturates (`verdict`); `--run-start 100x1000` measures the
//! run-start row (`run_start`); `--json PATH` writes both for bench/summary.py.

mod agent;
mod batches;
mod controller;
mod dashboards;
mod merge_cost;
mod probe;
mod run_start;
mod verdict;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use tokio::runtime::Runtime;
use volley_api::client::Client;

use agent::Fleet;
use batches::Totals;
use controller::Controller;
use dashboards::{Dashboards, MAX_DASHBOARDS};
use probe::quantile;

const USAGE: &str = "usage: controller-scale [--volley PATH] [--agents 10,100,1000] [--dashboards 0,10] [--duration SECONDS] [--rps N] [--idle SECONDS] [--controller-cpu N|none] [--controllers 1,3] [--submits N] [--run-start AGENTSxVUS [--trials N]] [--json PATH]
       controller-scale --merge-cost BATCHES [--rps N]

  --volley PATH        the volley binary whose controller is measured (default: target/release/volley)
  --agents LIST        agent counts, one measurement each (default: 10,100,1000)
  --dashboards LIST    dashboards open on the run during it (its live stream each, at most 64):
                       one measurement per agent count and dashboard count (default: 0)
  --duration SECONDS   the run's length: one metric batch per agent per second (default: 20, at most 3600)
  --rps N              requests per second each simulated agent reports (default: 100, ~19 KiB batches)
  --idle SECONDS       how long the controller is measured with heartbeats only (default: 3)
  --controller-cpu N   the CPU the controller is pinned to with taskset (default: 1 when there are
                       two or more, else none); a group's controllers share it
  --controllers LIST   1 (one controller) or an odd group size; more than one value prints the
                       replication table: each agent count on each, and each group over one
                       controller (default: 1)
  --submits N          while the run goes, submit N one-agent tests one after another (each
                       queued, then stopped) and time each submit (default: 0; 20 with a
                       --controllers list)
  --run-start AxV      the run-start row: on one controller with A simulated agents, --trials
                       runs whose plan gives each agent V VUs, each timed from submit to the
                       Start barrier on every agent (e.g. 100x1000); alone, it skips the
                       agent-count measurements (give --agents too for both)
  --trials N           run-start trials (default: 5)
  --json PATH          also write the rows, the verdicts and the run-start trials as JSON
                       (bench/run.sh passes it for bench/summary.py)
  --merge-cost BATCHES no controller: decode and merge BATCHES prepared batches with the
                       controller's code in this process and print the time per batch
                       (bench/merge_cost.sh counts its instructions per batch with callgrind)";

struct Args {
    volley: PathBuf,
    agents: Vec<usize>,
    dashboards: Vec<usize>,
    duration: u64,
    rps: u32,
    idle: u64,
    cpu: Option<usize>,
    controllers: Vec<u64>,
    submits: Option<usize>,
    merge_cost: Option<u64>,
    run_start: Option<run_start::Spec>,
    trials: usize,
    json: Option<PathBuf>,
    /// Whether `--agents` was given (with `--run-start` alone, the curve is not measured).
    agents_given: bool,
}

impl Args {
    /// Whether this is a comparison of controller counts (the replication table).
    fn replication(&self) -> bool {
        self.controllers != [1]
    }
}

fn parse_args() -> Result<Args> {
    // The machine's CPUs, not this process's share (run.sh pins the harness to CPU 0).
    // SAFETY: sysconf only reads a configuration value.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    let mut a = Args {
        volley: PathBuf::from("target/release/volley"),
        agents: vec![10, 100, 1000],
        dashboards: vec![0],
        duration: 20,
        rps: 100,
        idle: 3,
        cpu: (cpus >= 2).then_some(1),
        controllers: vec![1],
        submits: None,
        merge_cost: None,
        run_start: None,
        trials: 5,
        json: None,
        agents_given: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<u64> {
            value
                .parse::<u64>()
                .map_err(|_| anyhow!("{flag} {value:?}: give {what}"))
        };
        match flag.as_str() {
            "--volley" => a.volley = PathBuf::from(&value),
            "--agents" => {
                a.agents_given = true;
                a.agents = value
                    .split(',')
                    .map(|n| n.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow!("--agents {value:?}: give counts such as 10,100,1000"))?;
                if a.agents.contains(&0) {
                    bail!("--agents {value:?}: every count must be at least 1");
                }
            }
            "--dashboards" => {
                a.dashboards = value
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow!("--dashboards {value:?}: give counts such as 0,10"))?;
                if a.dashboards.iter().any(|d| *d > MAX_DASHBOARDS) {
                    bail!("--dashboards {value:?}: a controller holds at most {MAX_DASHBOARDS} live streams");
                }
            }
            "--duration" => a.duration = number("whole seconds, e.g. 20")?.clamp(2, 3600),
            "--rps" => a.rps = number("requests per second, e.g. 100")?.clamp(5, 100_000) as u32,
            "--idle" => a.idle = number("whole seconds, e.g. 3")?.min(60),
            "--controllers" => {
                a.controllers = value
                    .split(',')
                    .map(|n| n.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow!("--controllers {value:?}: give counts such as 1,3"))?;
                if a.controllers.iter().any(|&n| n == 0 || n % 2 == 0 || n > 7) {
                    bail!(
                        "--controllers {value:?}: give 1 or an odd group size up to 7, such as 1,3"
                    );
                }
            }
            "--submits" => a.submits = Some(number("a count, e.g. 20")?.min(1000) as usize),
            "--merge-cost" => a.merge_cost = Some(number("a number of batches, e.g. 2000")?),
            "--run-start" => a.run_start = Some(value.parse()?),
            "--trials" => a.trials = number("a count, e.g. 5")?.clamp(1, 100) as usize,
            "--json" => a.json = Some(PathBuf::from(&value)),
            "--controller-cpu" if value == "none" => a.cpu = None,
            "--controller-cpu" => a.cpu = Some(number("a CPU number or none")? as usize),
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    if a.run_start.is_some() && !a.agents_given {
        a.agents.clear();
    }
    if a.merge_cost.is_none() && !a.volley.exists() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p volley` or give --volley PATH",
            a.volley.display()
        );
    }
    Ok(a)
}

/// Lets this process (and the controller it starts) open one connection per agent.
fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

/// One measurement's figures.
struct Row {
    controllers: u64,
    agents: usize,
    dashboards: usize,
    /// Bytes per second each open dashboard received while the agents sent, in KiB/s.
    dashboard_kib_s: f64,
    batch_kib: f64,
    idle_cores: f64,
    run_cores: f64,
    /// Every controller's CPU during the run, in cores (the leader's alone is `run_cores`).
    group_cores: f64,
    /// Time of each submit (create the test, start a run) while the run went, p50 / p99 ms.
    submit: (f64, f64),
    /// Bytes of the run's checkpoints per second of the run, KiB/s, and their average
    /// write (one controller) or commit (a group) time in ms.
    checkpoint_kib_s: f64,
    checkpoint_ms: f64,
    /// The 1-minute load average at the end of the measurement.
    load: f64,
    peak_rss_mib: f64,
    lag: (f64, f64),
    ack: (f64, f64),
    api: (f64, f64),
    /// p99 of how late batches left the simulated agents.
    late_p99: f64,
    start_s: f64,
    status: String,
    totals_exact: bool,
    /// The controller logged an AGENT_LOST (the simulated agents send all along: a false one).
    agent_lost: bool,
    notes: Vec<String>,
}

impl Row {
    /// What the verdicts read of this row.
    fn point(&self) -> verdict::Point {
        verdict::Point {
            agents: self.agents,
            status: self.status.clone(),
            totals_exact: self.totals_exact,
            lag_p99_ms: self.lag.1,
            run_cores: self.run_cores,
            agent_lost: self.agent_lost,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "controllers": self.controllers,
            "agents": self.agents,
            "dashboards": self.dashboards,
            "batch_kib": self.batch_kib,
            "idle_cores": self.idle_cores,
            "run_cores": self.run_cores,
            "peak_rss_mib": self.peak_rss_mib,
            "lag_p50_ms": self.lag.0,
            "lag_p99_ms": self.lag.1,
            "ack_p50_ms": self.ack.0,
            "ack_p99_ms": self.ack.1,
            "api_p50_ms": self.api.0,
            "api_p99_ms": self.api.1,
            "send_delay_p99_ms": self.late_p99,
            "start_s": self.start_s,
            "status": self.status,
            "totals_exact": self.totals_exact,
            "agent_lost": self.agent_lost,
            "notes": self.notes,
        })
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

impl Row {
    fn header() -> &'static str {
        "| agents | dashboards | KiB/s per dashboard | batch KiB | heartbeats only, cores | run, cores | peak RSS MiB | merge lag p50 / p99 ms | ack p50 / p99 ms | API p50 / p99 ms | agents' send delay p99 ms | submit → all running, s | status | merged totals |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    }

    fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.0} | {} / {} | {} / {} | {} / {} | {} | {:.2} | {} | {} |",
            self.agents,
            self.dashboards,
            if self.dashboards == 0 {
                "–".to_string()
            } else {
                format!("{:.1}", self.dashboard_kib_s)
            },
            self.batch_kib,
            self.idle_cores,
            self.run_cores,
            self.peak_rss_mib,
            ms(self.lag.0),
            ms(self.lag.1),
            ms(self.ack.0),
            ms(self.ack.1),
            ms(self.api.0),
            ms(self.api.1),
            ms(self.late_p99),
            self.start_s,
            self.status,
            if self.totals_exact { "exact" } else { "**differ**" },
        )
    }
}

impl Row {
    fn replication_header() -> &'static str {
        "| controllers | agents | run, cores (leader) | run, cores (all controllers) | submit p50 / p99 ms | checkpoints KiB/s | checkpoint commit ms | ack p50 / p99 ms | merge lag p50 / p99 ms | load avg | status | merged totals |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    }

    fn replication_line(&self) -> String {
        format!(
            "| {} | {} | {:.2} | {:.2} | {} / {} | {:.1} | {} | {} / {} | {} / {} | {:.1} | {} | {} |",
            self.controllers,
            self.agents,
            self.run_cores,
            self.group_cores,
            ms(self.submit.0),
            ms(self.submit.1),
            self.checkpoint_kib_s,
            ms(self.checkpoint_ms),
            ms(self.ack.0),
            ms(self.ack.1),
            ms(self.lag.0),
            ms(self.lag.1),
            self.load,
            self.status,
            if self.totals_exact { "exact" } else { "**differ**" },
        )
    }

    /// This group's figures over `one`'s (the same agents on one controller).
    fn ratio_line(&self, one: &Row) -> String {
        let r = |a: f64, b: f64| {
            let v = a / b;
            if v.is_finite() {
                format!("×{v:.2}")
            } else {
                "–".into()
            }
        };
        format!(
            "| {} ÷ 1 | {} | {} | {} | {} / {} | {} | {} | {} / {} | {} / {} | | | |",
            self.controllers,
            self.agents,
            r(self.run_cores, one.run_cores),
            r(self.group_cores, one.group_cores),
            r(self.submit.0, one.submit.0),
            r(self.submit.1, one.submit.1),
            r(self.checkpoint_kib_s, one.checkpoint_kib_s),
            r(self.checkpoint_ms, one.checkpoint_ms),
            r(self.ack.0, one.ack.0),
            r(self.ack.1, one.ack.1),
            r(self.lag.0, one.lag.0),
            r(self.lag.1, one.lag.1),
        )
    }
}

/// The 1-minute load average (`/proc/loadavg`), NaN when unknown.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The checkpoints written so far by a controller (its `GET /metrics`): bytes, count and
/// seconds spent.
fn checkpoints(client: &Client) -> Result<(f64, f64, f64)> {
    let text = client.request("GET", "/metrics", None)?;
    let text = String::from_utf8_lossy(&text.body).to_string();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("volley_checkpoint_size_bytes_sum"),
        value("volley_checkpoint_size_bytes_count"),
        value("volley_checkpoint_duration_seconds_sum"),
    ))
}

/// `count` submits of a one-agent test, one after another, each timed from the test's upload
/// to the run's start (what `volley submit` without `--wait` does); each run is stopped at
/// once (it waits QUEUED while the measured run holds every agent). No submit starts once an
/// agent of the measured run has sent its last batch: an idle agent would take the run, and
/// its batches would count as the measured run's. The times in ms.
fn timed_submits(client: &Client, count: usize, fleet: &Fleet) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        if fleet.finished.load(Ordering::SeqCst) > 0 {
            break;
        }
        // A script of its own each time: its archive is replicated too, as a new test's is.
        let script = format!("// submit {i}\nexport default function () {{}}\n");
        let began = Instant::now();
        let test = create_test_of(client, 1, 2, &script)?;
        let run = client.start_testrun(test, &Default::default())?.run.id;
        times.push(began.elapsed().as_secs_f64() * 1e3);
        client.stop_run(run, &Default::default())?;
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(times)
}

/// Waits until `done` holds, checking every 100 ms; fails after `limit` saying `what`.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let began = Instant::now();
    while !done()? {
        if began.elapsed() > limit {
            bail!("timed out after {} s waiting for {what}", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The status of run `id` (`FINISHED`, `ABORTED_BY_SYSTEM`, …) once it has ended. Alone on
/// its controller (`alone`), from `GET /metrics`, a lighter read than the run's record; with
/// the submits' runs beside it, from its record.
fn final_status(client: &Client, id: u64, alone: bool) -> Result<Option<String>> {
    if alone {
        return only_run_status(client);
    }
    let status = client.run(id)?.run_status;
    if !status.is_terminal() {
        return Ok(None);
    }
    // `AbortedBySystem` → `ABORTED_BY_SYSTEM`, as the API's documentation names them.
    let mut name = String::new();
    for (i, c) in format!("{status:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    Ok(Some(name))
}

/// The status of the one run this controller has (from `GET /metrics`), once it has ended.
fn only_run_status(client: &Client) -> Result<Option<String>> {
    let text = client.request("GET", "/metrics", None)?;
    let text = String::from_utf8_lossy(&text.body).to_string();
    const LIVE: [&str; 5] = ["created", "validated", "queued", "initializing", "running"];
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("volley_runs{status=\"") else {
            continue;
        };
        let Some((status, count)) = rest.split_once("\"} ") else {
            continue;
        };
        if count.trim() != "0" && !LIVE.contains(&status) {
            return Ok(Some(status.to_ascii_uppercase()));
        }
    }
    Ok(None)
}

/// A test whose options ask for `agents` agents with one VU each for `duration` seconds.
fn create_test(client: &Client, agents: usize, duration: u64) -> Result<u64> {
    create_test_of(client, agents, duration, "export default function () {}\n")
}

/// [`create_test`] with `script` as its entry.
fn create_test_of(client: &Client, agents: usize, duration: u64, script: &str) -> Result<u64> {
    create_test_vus(client, agents, agents as u64, duration, script)
}

/// [`create_test_of`] with `vus` VUs over the agents.
fn create_test_vus(
    client: &Client,
    agents: usize,
    vus: u64,
    duration: u64,
    script: &str,
) -> Result<u64> {
    use volley_common::archive::{Archive, Metadata, FORMAT_VERSION};
    let entry = "scale.js".to_string();
    let options = serde_json::json!({
        "vus": vus,
        "duration": format!("{duration}s"),
        "volley": {"agents": agents},
    });
    let archive = Archive {
        metadata: Metadata {
            format_version: FORMAT_VERSION,
            volley_version: env!("CARGO_PKG_VERSION").to_string(),
            entry: entry.clone(),
            options,
            env: Default::default(),
            modules: vec![entry.clone()],
            created: volley_common::time::now_rfc3339(),
            remote_modules: Default::default(),
        },
        files: [(entry, script.as_bytes().to_vec())].into_iter().collect(),
    };
    let tar = archive.to_tar().context("building the test archive")?;
    let test = client.create_test(&volley_api::CreateTestJson {
        name: format!("controller-scale {agents} agents"),
        project_id: None,
        k6_archive: base64::engine::general_purpose::STANDARD.encode(tar),
    })?;
    Ok(test.test.id)
}

fn measure(
    rt: &Runtime,
    args: &Args,
    controllers: u64,
    n: usize,
    dashboards: usize,
) -> Result<Row> {
    // The leader first: the agents and the API client talk to it.
    let group = match controllers {
        1 => vec![Controller::start(&args.volley, args.cpu, n)?],
        c => Controller::start_group(&args.volley, args.cpu, n, c)?,
    };
    measure_on(rt, args, &group, n, dashboards).map_err(|e| {
        // What the controllers said last (a group's deposed leader says why it stopped).
        let tails: Vec<String> = group
            .iter()
            .map(|c| format!("--- {}\n{}", c.rest, c.log_tail()))
            .collect();
        e.context(tails.join("\n"))
    })
}

fn measure_on(
    rt: &Runtime,
    args: &Args,
    group: &[Controller],
    n: usize,
    dashboards: usize,
) -> Result<Row> {
    let controllers = group.len() as u64;
    let ctrl = &group[0];
    let group_cpu = || -> Result<f64> { group.iter().map(|c| c.proc.cpu_seconds()).sum() };
    let submits = args
        .submits
        .unwrap_or(if args.replication() { 20 } else { 0 });
    let alone = submits == 0;
    let client = Client::new(&ctrl.rest)?.with_timeout(Duration::from_secs(20))?;
    let variants = batches::variants(8, args.rps);
    let batch_kib =
        variants.iter().map(|v| v.bytes).sum::<usize>() as f64 / variants.len() as f64 / 1024.0;
    let fleet = Arc::new(Fleet::new(variants, args.duration));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let fleet = fleet.clone();
        let url = ctrl.grpc.clone();
        let stop = stop_rx.clone();
        tasks.push(rt.spawn(async move {
            if let Err(e) = agent::agent(i, url, fleet.clone(), stop).await {
                fleet.problem(format!("{e:#}"));
            }
        }));
    }
    let stop_agents = || {
        let _ = stop_tx.send(true);
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                for t in tasks {
                    let _ = t.await;
                }
            })
            .await;
        });
    };
    let registered = wait_for(
        "every agent to register",
        Duration::from_secs(60 + n as u64 / 25),
        || {
            if let Some(p) = fleet.problems().first() {
                bail!("an agent failed: {p}");
            }
            Ok(fleet.registered.load(Ordering::SeqCst) == n)
        },
    );
    if let Err(e) = registered {
        stop_agents();
        return Err(e);
    }
    eprintln!(
        "  {n} agents registered; heartbeats only for {} s",
        args.idle
    );
    // The scheduler offers an agent only after its first heartbeat.
    std::thread::sleep(Duration::from_millis(1200));
    let (cpu0, t0) = (ctrl.proc.cpu_seconds()?, Instant::now());
    std::thread::sleep(Duration::from_secs(args.idle));
    let idle_cores = (ctrl.proc.cpu_seconds()? - cpu0) / t0.elapsed().as_secs_f64();

    let test_id = create_test(&client, n, args.duration)?;
    let submitted = Instant::now();
    let run_id = client.start_testrun(test_id, &Default::default())?.run.id;
    let (stop_poll, poller) = probe::spawn_poller(client.clone(), run_id, fleet.clone(), n);
    let dash = match dashboards {
        0 => None,
        d => Some(Dashboards::open(rt, &ctrl.rest, run_id, d)?),
    };
    let dash_bytes = || dash.as_ref().map_or(0, Dashboards::bytes);
    let mut dashboard_kib_s = f64::NAN;
    let (mut group_cores, mut checkpoint_kib_s, mut checkpoint_ms) = (f64::NAN, f64::NAN, f64::NAN);
    let mut submit_ms = Vec::new();
    let limit = Duration::from_secs(args.duration + 120);
    let run = (|| -> Result<(f64, f64, String)> {
        wait_for("the Start barrier on every agent", limit, || {
            Ok(fleet.started.load(Ordering::SeqCst) == n
                || final_status(&client, run_id, alone)?.is_some())
        })?;
        let start_s = submitted.elapsed().as_secs_f64();
        eprintln!("  run {run_id} started on every agent after {start_s:.2} s");
        let (cpu1, t1, b1) = (ctrl.proc.cpu_seconds()?, Instant::now(), dash_bytes());
        let writes1 = ctrl.proc.write_calls()?;
        let (all1, ck1) = (group_cpu()?, checkpoints(&client)?);
        let submitter = (submits > 0).then(|| {
            let (client, fleet) = (client.clone(), fleet.clone());
            std::thread::spawn(move || timed_submits(&client, submits, &fleet))
        });
        wait_for("every agent's DONE", limit, || {
            Ok(fleet.done.load(Ordering::SeqCst) == n
                || final_status(&client, run_id, alone)?.is_some())
        })?;
        let secs = t1.elapsed().as_secs_f64();
        let run_cores = (ctrl.proc.cpu_seconds()? - cpu1) / secs;
        group_cores = (group_cpu()? - all1) / secs;
        let ck2 = checkpoints(&client)?;
        checkpoint_kib_s = (ck2.0 - ck1.0) / secs / 1024.0;
        checkpoint_ms = 1e3 * (ck2.2 - ck1.2) / (ck2.1 - ck1.1);
        let writes = (ctrl.proc.write_calls()? - writes1) / secs;
        eprintln!(
            "  while the agents sent: {writes:.0} write calls/s ({:.2} per agent), checkpoints {checkpoint_kib_s:.0} KiB/s, {checkpoint_ms:.1} ms each",
            writes / n as f64
        );
        if let Some(s) = submitter {
            submit_ms = s.join().map_err(|_| anyhow!("the submitter panicked"))??;
        }
        if dashboards > 0 {
            dashboard_kib_s = (dash_bytes() - b1) as f64 / secs / dashboards as f64 / 1024.0;
        }
        let mut status = None;
        wait_for("the run to end", limit, || {
            status = final_status(&client, run_id, alone)?;
            Ok(status.is_some())
        })?;
        Ok((start_s, run_cores, status.unwrap_or_default()))
    })();
    stop_poll.store(true, Ordering::SeqCst);
    let api = poller
        .join()
        .map_err(|_| anyhow!("the API poller panicked"))?;
    let outcome = run.and_then(|(start_s, run_cores, status)| {
        let merged = Totals::from_metrics(&client.run_metrics(run_id)?);
        Ok((start_s, run_cores, status, merged))
    });
    stop_agents();
    let (start_s, run_cores, status, merged) = outcome?;
    let sent = fleet.sent_totals();
    let mut notes = fleet.problems();
    notes.extend(dash.as_ref().map(Dashboards::problems).unwrap_or_default());
    if merged != sent {
        notes.push(format!("merged {merged:?} but the agents sent {sent:?}"));
    }
    if api.errors > 0 {
        notes.push(format!("{} API requests failed", api.errors));
    }
    let lost = ctrl.log_lines("AGENT_LOST", 3);
    let agent_lost = !lost.is_empty();
    notes.extend(lost);
    let acks = fleet.acks();
    Ok(Row {
        controllers,
        agents: n,
        dashboards,
        dashboard_kib_s,
        batch_kib,
        idle_cores,
        run_cores,
        group_cores,
        submit: (quantile(&submit_ms, 0.5), quantile(&submit_ms, 0.99)),
        checkpoint_kib_s,
        checkpoint_ms,
        load: load_average(),
        peak_rss_mib: ctrl.proc.peak_rss_bytes()? as f64 / (1024.0 * 1024.0),
        lag: (quantile(&api.lag_ms, 0.5), quantile(&api.lag_ms, 0.99)),
        ack: (quantile(&acks, 0.5), quantile(&acks, 0.99)),
        api: (
            quantile(&api.latency_ms, 0.5),
            quantile(&api.latency_ms, 0.99),
        ),
        late_p99: quantile(&fleet.late(), 0.99),
        start_s,
        status,
        totals_exact: merged == sent,
        agent_lost,
        notes,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(batches) = args.merge_cost {
        return match merge_cost::run(batches, args.rps) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let files = raise_open_files();
    // One connection per agent (and per dashboard) in this process and in the controller,
    // which inherits the limit, plus room for the rest of each process.
    let need = |n: usize| (n + MAX_DASHBOARDS) as u64 + 256;
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut agents = Vec::new();
    for &n in &args.agents {
        if need(n) > files {
            let why = format!(
                "needs {} open files in this process and in the controller, the limit is {files} (ulimit -n: its hard limit, raise it with `ulimit -Hn` or limits.conf)",
                need(n)
            );
            eprintln!("controller-scale: skipping {n} agents: {why}");
            skipped.push((n, why));
        } else {
            agents.push(n);
        }
    }
    if let Some(spec) = args.run_start {
        if need(spec.agents) > files {
            eprintln!(
                "error: --run-start {} agents need {} open files, the limit is {files} (ulimit -n)",
                spec.agents,
                need(spec.agents)
            );
            return ExitCode::from(2);
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    let mut rows: Vec<Row> = Vec::new();
    // Single-controller rows without dashboards, by agent count, for the verdicts; a harness
    // error is a point that did not finish.
    let mut points: Vec<verdict::Point> = Vec::new();
    if !agents.is_empty() || !skipped.is_empty() {
        println!(
            "Controller scale: one run over N simulated agents, {} s, one batch per agent per second ({} requests/s per agent), controller on CPU {}",
            args.duration,
            args.rps,
            args.cpu.map_or("any".into(), |c| c.to_string())
        );
        if args.replication() {
            println!(
                "Controllers compared: {:?}; load average {:.1} at the start",
                args.controllers,
                load_average()
            );
        }
        println!();
        println!(
            "{}",
            if args.replication() {
                Row::replication_header()
            } else {
                Row::header()
            }
        );
        let runs: Vec<(usize, usize, u64)> = agents
            .iter()
            .flat_map(|&n| args.dashboards.iter().map(move |&d| (n, d)))
            .flat_map(|(n, d)| args.controllers.iter().map(move |&c| (n, d, c)))
            .collect();
        for (n, d, c) in runs {
            eprintln!("controller-scale: {c} controller(s), {n} agents, {d} dashboards");
            match measure(&rt, &args, c, n, d) {
                Ok(row) => {
                    if args.replication() {
                        println!("{}", row.replication_line());
                    } else {
                        println!("{}", row.line());
                    }
                    for note in &row.notes {
                        eprintln!("  note: {note}");
                    }
                    failed |= !row.totals_exact && row.status == "FINISHED";
                    if c == 1 && d == 0 {
                        points.push(row.point());
                    }
                    rows.push(row);
                }
                Err(e) => {
                    if args.replication() {
                        println!(
                            "| {c} | {n} | – | – | – | – | – | – | – | – | – | harness error | – |"
                        );
                    } else {
                        println!(
                            "| {n} | {d} | – | – | – | – | – | – | – | – | – | – | harness error | – |"
                        );
                    }
                    eprintln!("  error: {e:#}");
                    if c == 1 && d == 0 {
                        points.push(verdict::Point {
                            agents: n,
                            status: "harness error".into(),
                            totals_exact: false,
                            lag_p99_ms: f64::NAN,
                            run_cores: f64::NAN,
                            agent_lost: false,
                        });
                    }
                    failed = true;
                }
            }
        }
        for (n, why) in &skipped {
            println!("| {n} | – | skipped: {why} |");
        }
        // Each group over one controller with the same agents and dashboards.
        for g in rows.iter().filter(|r| r.controllers > 1) {
            let one = rows.iter().find(|r| {
                r.controllers == 1 && r.agents == g.agents && r.dashboards == g.dashboards
            });
            if let Some(one) = one {
                println!("{}", g.ratio_line(one));
            }
        }
        if !points.is_empty() {
            println!();
            for line in verdict::lines(&points, args.cpu.is_some()) {
                println!("- {line}");
            }
        }
    }
    let mut run_start = None;
    if let Some(spec) = args.run_start {
        eprintln!(
            "controller-scale: run start, {} agents × {} VUs, {} trials",
            spec.agents, spec.vus_per_agent, args.trials
        );
        if !rows.is_empty() || !skipped.is_empty() {
            println!();
        }
        println!(
            "Run start: submit → every agent RUNNING, {} simulated agents, a plan of {} VUs each ({} VUs), {} trials, controller on CPU {}",
            spec.agents,
            spec.vus_per_agent,
            spec.vus_per_agent.saturating_mul(spec.agents as u64),
            args.trials,
            args.cpu.map_or("any".into(), |c| c.to_string())
        );
        match run_start::run(&rt, &args.volley, args.cpu, spec, args.trials) {
            Ok(out) => {
                out.print();
                for note in &out.notes {
                    eprintln!("  note: {note}");
                }
                run_start = Some(out);
            }
            Err(e) => {
                println!("- run start: harness error (see stderr) — target missed");
                eprintln!("  error: {e:#}");
                failed = true;
            }
        }
    }
    if let Some(path) = &args.json {
        let one_core = args.cpu.is_some();
        let saturation = verdict::saturates_at(&points).map(|(p, why)| {
            serde_json::json!({
                "agents": p.agents,
                "lag_p99_ms": p.lag_p99_ms,
                "run_cores": p.run_cores,
                "status": p.status,
                "why": why,
            })
        });
        let held = verdict::largest_held(&points, one_core);
        let doc = serde_json::json!({
            "controller_cpu": args.cpu,
            "duration_s": args.duration,
            "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|(n, why)| serde_json::json!({"agents": n, "why": why})).collect::<Vec<_>>(),
            "curve": (!points.is_empty()).then(|| serde_json::json!({
                "measured": points.iter().map(|p| p.agents).collect::<Vec<_>>(),
                "largest_held": held,
                "goal_agents": verdict::GOAL_AGENTS,
                "max_lag_p99_ms": verdict::MAX_LAG_P99_MS,
                "one_core": one_core,
                "met": held.is_some_and(|n| n >= verdict::GOAL_AGENTS),
                "saturation": saturation,
                "lines": verdict::lines(&points, one_core),
            })),
            "run_start": run_start.as_ref().map(run_start::Outcome::json),
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: writing {}: {e}", path.display());
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
