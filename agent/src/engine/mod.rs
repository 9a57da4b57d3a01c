//! One local test run from start to end: first init (options), VU init, `setup()`, the
//! executors, `teardown()`, thresholds and the summary data. `volley run` drives this; agents
//! drive the same engine with a segment of the work, under the controller's direction
//! ([`hooks`]).
//!
//! [`run`] sets the run up and ends it; `lifecycle` is the middle (VU init to teardown);
//! `vu0` calls `setup`, `teardown` and `handleSummary`; `script` reads a script's options
//! without running it; `outcome` decides the exit code and the summary's inputs.

pub mod hooks;
mod lifecycle;
mod outcome;
mod script;
mod vu0;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use volley_common::exit::{code, AbortReason};
use volley_common::options::{Options, ResolvedOptions};
use volley_common::summary::build;
use volley_common::summary::{RunResult, SummaryReport, SummaryState};

use crate::api::status as api_status;
use crate::executor::{self, VuFactory, VuPool};
use crate::http::cipher_suites::CipherSuites;
use crate::http::tls::{ClientCert, TlsVersions};
use crate::http::{HttpConfig, HttpShared};
use crate::js::JsError;
use crate::metrics::{MetricsStore, Registry, SampleSink};
use crate::output::RawOutput;
use crate::run::{RunControl, RunShared, Stage, VuSettings};
use crate::worker::{spawn_worker, WorkerHandle, WorkerMsg};
use lifecycle::lifecycle;
use outcome::{decide_exit, progress_snapshot, registry_types, summary_options, FanOut};
use script::{build_thresholds, build_tuple, first_init_on_thread, resolve_options};
use vu0::handle_summary;

pub use crate::output::{anyhow_like, MetricsStream, OutputFactory, StreamStart};
pub use script::{inspect_script, InspectError, InspectedScript};
/// Thresholds by metric key, in definition order.
pub use volley_common::summary::build::ThresholdSet;
pub use vu0::{run_handle_summary, SummaryFailure};

/// What the caller (the CLI) asks for.
#[derive(Clone, Default)]
pub struct RunRequest {
    pub script: PathBuf,
    /// Options from CLI flags (highest precedence).
    pub cli_options: Options,
    /// `-e KEY=VALUE` (plus the process env when `--include-system-env-vars`).
    pub env: BTreeMap<String, String>,
    /// The process environment, for `K6_*` option variables.
    pub process_env: BTreeMap<String, String>,
    /// JS worker threads (0 = one per core).
    pub workers: usize,
    /// Raw-sample outputs (`--out json=...`), created once the metric registry is known.
    pub outputs: Vec<Arc<dyn OutputFactory>>,
    pub no_summary: bool,
    pub is_stdout_tty: bool,
    pub is_stderr_tty: bool,
    /// The live view the REST API reads (attached once the run's state exists).
    pub live: Option<Arc<crate::api::LiveRun>>,
    /// Set when this run is one agent's part of a cluster run.
    pub cluster: Option<Arc<hooks::ClusterHooks>>,
    /// Remote copies of the run's results (`--out cloud=URL`).
    pub streams: Vec<Arc<dyn MetricsStream>>,
    /// The most VUs this process may hold (`--max-vus`, by default what its memory allows:
    /// `crate::capacity`) and the flag that sets it; None = no limit. A run planning more is
    /// refused before any VU exists.
    pub max_vus: Option<(u64, String)>,
    /// The JS heap this process's VUs may use together, in bytes (`--max-js-heap`, by default
    /// half the memory), and the flag that sets it; None = no limit.
    pub max_js_heap: Option<(u64, String)>,
    /// Which files `open()` and `import` may read: the machine's (a local run) or only the
    /// run's archive (an agent).
    pub files: crate::sandbox::FileScope,
    /// Where the run's requests may go besides the script's `blacklistIPs` and
    /// `blockHostnames`: an agent's target policy (see `volley_common::target`); empty for a
    /// local run, as in k6.
    pub targets: volley_common::target::TargetPolicy,
    /// Where remote modules (`https://…` imports) come from; by default none are allowed.
    pub remote_modules: crate::js::RemoteSource,
    /// `--secret-source`s for `k6/secrets` (a local run's only: docs/security.md#secrets).
    pub secrets: Arc<crate::secrets::SecretSources>,
}

/// Events the engine reports while it runs (for banners and progress).
pub trait RunObserver: Send + Sync {
    /// Options are known: print the banner.
    fn started(&self, _opts: &ResolvedOptions, _max_vus: u64, _script: &str) {}
    /// Periodic progress.
    fn progress(&self, _p: &Progress) {}
    /// The run is over (before the summary).
    fn finished(&self, _p: &Progress) {}
}

/// A snapshot for progress output.
#[derive(Debug, Clone)]
pub struct Progress {
    pub elapsed: Duration,
    pub active_vus: i64,
    pub max_vus: u64,
    pub complete: u64,
    pub interrupted: u64,
    pub scenarios: Vec<ScenarioProgress>,
    pub aborted: bool,
}

#[derive(Debug, Clone)]
pub struct ScenarioProgress {
    pub name: String,
    pub progress: f64,
    pub vus: u64,
    pub elapsed: Duration,
    pub planned: Duration,
    pub finished: bool,
    pub started: bool,
}

/// The outcome of a run.
pub struct RunOutcome {
    pub exit_code: i32,
    /// The error line to print (k6 prints it on stderr at the end).
    pub error: Option<String>,
    /// The summary data (None when the run never got to create VUs, e.g. invalid options).
    pub report: Option<SummaryReport>,
    /// `handleSummary()`'s returned object as JSON (None: use the default text summary).
    pub handle_summary: Option<serde_json::Value>,
    /// handleSummary failed: print this and fall back to the default summary.
    pub handle_summary_error: Option<String>,
    pub resolved: Option<ResolvedOptions>,
}

impl RunOutcome {
    fn early(exit_code: i32, error: String) -> Self {
        RunOutcome {
            exit_code,
            error: Some(error),
            report: None,
            handle_summary: None,
            handle_summary_error: None,
            resolved: None,
        }
    }
}

/// Runs a test to its end. Never panics on user input; every failure maps to an exit code.
pub fn run(
    req: RunRequest,
    control: Arc<RunControl>,
    observer: Arc<dyn RunObserver>,
) -> RunOutcome {
    let io = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(num_cores().max(1))
        .thread_name("volley-io")
        .on_thread_start(crate::sched::batch_current_thread)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return RunOutcome::early(code::SYSTEM, format!("cannot start the IO runtime: {e}"))
        }
    };
    let out = io.block_on(run_async(req, control, observer, io.handle().clone()));
    io.shutdown_timeout(Duration::from_secs(1));
    out
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

async fn run_async(
    req: RunRequest,
    control: Arc<RunControl>,
    observer: Arc<dyn RunObserver>,
    io: tokio::runtime::Handle,
) -> RunOutcome {
    let registry = Arc::new(Registry::new());
    let started = Instant::now();
    control.set_stage(Stage::Init, api_status::CREATED);
    // 1. First init: compile, read options. A stop interrupts it (its runtime checks the abort).
    let (fi, arrays) = {
        let script = req.script.clone();
        let env = req.env.clone();
        let reg = registry.clone();
        let ctl = control.clone();
        let scope = req.files.clone();
        // The first init has one runtime: it may use the whole JS heap budget.
        let first_budget = req
            .max_js_heap
            .clone()
            .map(|(total, flag)| crate::capacity::JsHeapBudget::new(total, 1, flag));
        let remote = req.remote_modules.clone();
        let limit = first_budget.as_ref().map(|b| b.per_runtime);
        match tokio::task::spawn_blocking(move || {
            first_init_on_thread(script, env, reg, ctl, limit, scope, remote)
        })
        .await
        {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                if control.is_aborted() {
                    // A stop (or test.abort()) during the first init: the run's own reason.
                    return stopped_before_start(&control);
                }
                if let Some(budget) = first_budget.filter(|_| e.is_out_of_memory()) {
                    control.abort(budget.exhausted());
                    return stopped_before_start(&control);
                }
                let m = match &e {
                    JsError::Load(m) => m.clone(),
                    other => other.with_stack(),
                };
                let msg = format!("could not initialize '{}': {m}", req.script.display());
                control.abort(AbortReason::ScriptException {
                    phase: "init".into(),
                    message: msg,
                });
                return stopped_before_start(&control);
            }
            Err(e) => return RunOutcome::early(code::SYSTEM, format!("init failed: {e}")),
        }
    };
    if control.is_aborted() {
        return stopped_before_start(&control);
    }
    // 2. Options: script < env < CLI, then shortcuts and validation.
    let resolved = match resolve_options(&fi, &req) {
        Ok(r) => r,
        Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    for w in &resolved.warnings {
        crate::console::log("warning", w, &[]);
    }
    let has_default = fi.exports.iter().any(|e| e == "default");
    for sc in &resolved.scenarios {
        if !fi.exports.contains(&sc.exec) {
            let msg = if sc.exec == "default" && !has_default {
                if fi.exports.is_empty() {
                    return RunOutcome::early(
                        code::UNKNOWN,
                        "no exported functions in script".into(),
                    );
                }
                "the script has no default function export; export one or set `exec` in the scenario".to_string()
            } else {
                format!(
                    "There were problems with the specified script configuration:\n\t- executor {}: function '{}' not found in exports",
                    sc.name, sc.exec
                )
            };
            return RunOutcome::early(code::INVALID_CONFIG, msg);
        }
    }
    let thresholds = match build_thresholds(&resolved, &registry) {
        Ok(t) => t,
        Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    let tuple = match build_tuple(&resolved) {
        Ok(t) => t,
        Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    let max_vus = executor::max_concurrent_vus(&resolved.scenarios, &tuple);
    if let Some((capacity, flag)) = &req.max_vus {
        let peak = executor::peak_vus(&resolved.scenarios, &tuple);
        if peak > *capacity {
            return RunOutcome::early(
                code::INVALID_CONFIG,
                crate::capacity::too_many_vus(peak, *capacity, flag),
            );
        }
    }
    let mut scenario_rts = Vec::new();
    for sc in &resolved.scenarios {
        match executor::scenario_rt(sc, &tuple) {
            Ok(rt) => scenario_rts.push(rt),
            Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
        }
    }

    // 3. Outputs, workers, shared run state.
    let mut outputs: Vec<Arc<dyn RawOutput>> = Vec::new();
    for f in &req.outputs {
        match f.create(registry.clone(), &thresholds) {
            Ok(o) => outputs.push(o),
            Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
        }
    }
    let raw_sink: Option<Arc<dyn SampleSink>> = if outputs.is_empty() {
        None
    } else {
        Some(Arc::new(FanOut(outputs.clone())))
    };
    let targets = match crate::http::targets::TargetFilter::new(
        &resolved.blacklist_ips,
        &resolved.block_hostnames,
        req.targets.clone(),
    ) {
        Ok(t) => t,
        Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    let hosts = match volley_common::hosts::HostsMap::new(&resolved.hosts) {
        Ok(h) => h,
        Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    let tls_versions = match resolved.tls_version.as_ref().map(TlsVersions::from_option) {
        None => TlsVersions::default(),
        Some(Ok(v)) => v,
        Some(Err(m)) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    let tls_cipher_suites = match resolved
        .tls_cipher_suites
        .as_deref()
        .map(CipherSuites::from_option)
    {
        None => CipherSuites::default(),
        Some(Ok(v)) => v,
        Some(Err(m)) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    if let Some(warning) = tls_cipher_suites.warning() {
        crate::console::log("warning", &warning, &[]);
    }
    let tls_auth = match resolved.tls_auth.as_ref().map(ClientCert::from_tls_auth) {
        None => Vec::new(),
        Some(Ok(v)) => v,
        Some(Err(m)) => return RunOutcome::early(code::INVALID_CONFIG, m),
    };
    if ClientCert::tls_auth_names_domains(resolved.tls_auth.as_ref()) {
        crate::console::log("warning", ClientCert::DOMAINS_WARNING, &[]);
    }
    let http_cfg = HttpConfig {
        user_agent: resolved.user_agent.clone(),
        insecure_skip_tls_verify: resolved.insecure_skip_tls_verify,
        tls_versions,
        tls_cipher_suites,
        tls_auth,
        no_connection_reuse: resolved.no_connection_reuse,
        max_redirects: resolved.max_redirects.min(u32::MAX as u64) as u32,
        max_redirects_set: resolved.options.max_redirects.is_some(),
        discard_response_bodies: resolved.discard_response_bodies,
        targets,
        hosts,
        ..HttpConfig::default()
    };
    let http = match HttpShared::new(http_cfg) {
        Ok(h) => Arc::new(h),
        Err(e) => return RunOutcome::early(code::INVALID_CONFIG, e.to_string()),
    };
    let nworkers = if req.workers == 0 {
        num_cores()
    } else {
        req.workers
    };
    let store = Arc::new(MetricsStore::new());
    let run = Arc::new(RunShared {
        program: fi.program.clone(),
        registry: registry.clone(),
        store: store.clone(),
        settings: VuSettings {
            env: Arc::new(req.env.clone()),
            global_tags: resolved.tags.clone(),
            discard_response_bodies: resolved.discard_response_bodies,
            no_vu_connection_reuse: resolved.no_vu_connection_reuse,
            no_cookies_reset: resolved.no_cookies_reset,
            throw: resolved.throw,
            min_iteration_duration: (!resolved.min_iteration_duration.is_zero())
                .then_some(resolved.min_iteration_duration),
            options_json: script::mark_spelled(
                resolved.to_json(),
                fi.options_json.as_deref(),
                &resolved.options,
            ),
            js_heap: req
                .max_js_heap
                .clone()
                .map(|(total, flag)| crate::capacity::JsHeapBudget::new(total, nworkers, flag)),
            secrets: req.secrets.clone(),
        },
        http,
        io: io.clone(),
        control: control.clone(),
        shared_arrays: Arc::new(Mutex::new(arrays)),
        setup_data: RwLock::new(None),
        raw_out: raw_sink.clone(),
    });
    if let Some(hooks) = &req.cluster {
        store.keep_deltas();
        let _ = hooks.metrics.set((store.clone(), registry.clone()));
    }
    if !req.streams.is_empty() {
        store.keep_deltas();
        for s in &req.streams {
            let start = StreamStart {
                script: req.script.clone(),
                options: resolved.to_json(),
                store: store.clone(),
                registry: registry.clone(),
                control: control.clone(),
            };
            if let Err((code, msg)) = s.start(start) {
                return RunOutcome::early(code, msg);
            }
        }
    }
    if let Some(live) = &req.live {
        live.attach(
            run.clone(),
            thresholds.clone(),
            resolved.summary_trend_stats.clone(),
        );
    }
    let mut workers: Vec<WorkerHandle> = Vec::new();
    let mut joins = Vec::new();
    for i in 0..nworkers {
        match spawn_worker(
            i,
            registry.clone(),
            store.clone(),
            raw_sink.clone(),
            Duration::from_millis(500),
        ) {
            Ok((h, j)) => {
                workers.push(h);
                joins.push(j);
            }
            Err(e) => {
                return RunOutcome::early(code::SYSTEM, format!("cannot start a JS worker: {e}"))
            }
        }
    }
    let factory = Arc::new(VuFactory::new(run.clone(), workers.clone(), tuple.clone()));
    let pool = Arc::new(VuPool::new(factory.clone()));
    observer.started(&resolved, max_vus, &req.script.display().to_string());

    lifecycle(
        &resolved,
        &run,
        &pool,
        &factory,
        &scenario_rts,
        &thresholds,
        max_vus,
        &tuple,
        observer.clone(),
        started,
        &fi.exports,
        req.cluster.as_ref(),
    )
    .await;

    // Shut the workers down (idle VUs exit and drop their runtimes), then collect metrics.
    control.set_stage(Stage::Finishing, end_status(&control));
    for w in &workers {
        w.flush(Duration::from_secs(5));
    }
    drop(pool.drain_idle());
    for w in &workers {
        w.send(WorkerMsg::Shutdown);
    }
    let joined = tokio::task::spawn_blocking(move || {
        for j in joins {
            let _ = j.join();
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(10), joined).await;
    for o in &outputs {
        o.close();
    }
    for s in &req.streams {
        s.finish(&control);
    }
    let elapsed = started.elapsed();
    observer.finished(&progress_snapshot(
        &control,
        &scenario_rts,
        started,
        max_vus,
    ));

    // 4. Thresholds at the end, the summary data, then handleSummary.
    let series = store.to_series_store(&registry);
    let types = registry_types(&registry);
    let results = build::evaluate_thresholds(&thresholds, &series, elapsed.as_secs_f64(), &types);
    let failed_thresholds = build::failed_keys(&results);
    let setup_data = run
        .setup_data
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .and_then(|s| serde_json::from_str(&s).ok());
    let make_report = |control: &RunControl| {
        let (exit_code, _, outcome, message, context) = decide_exit(control, &failed_thresholds);
        build::build_report(build::ReportInput {
            store: &series,
            results: &results,
            options: summary_options(&resolved, &req),
            state: SummaryState {
                is_stdout_tty: req.is_stdout_tty,
                is_stderr_tty: req.is_stderr_tty,
                test_run_duration_ms: elapsed.as_secs_f64() * 1000.0,
            },
            result: RunResult {
                outcome,
                exit_code,
                message,
                context,
            },
            setup_data: setup_data.clone(),
            types: &types,
        })
    };
    let report = make_report(&control);
    let mut handle_summary_out = None;
    let mut handle_summary_error = None;
    if fi.exports.iter().any(|e| e == "handleSummary") && !req.no_summary {
        control.set_stage(Stage::HandleSummary, end_status(&control));
        let data = report.to_handle_summary_data().to_string();
        match handle_summary(&run, &resolved, Some(data)).await {
            Ok(v) => handle_summary_out = v,
            Err(m) => handle_summary_error = Some(m),
        }
    }
    control.set_stage(Stage::Done, end_status(&control));
    // The exit code is decided once, after everything that can fail has run.
    let (exit_code, error, _, _, _) = decide_exit(&control, &failed_thresholds);
    let report = if handle_summary_error.is_some() {
        make_report(&control)
    } else {
        report
    };
    RunOutcome {
        exit_code,
        error,
        report: Some(report),
        handle_summary: handle_summary_out,
        handle_summary_error,
        resolved: Some(resolved.clone()),
    }
}

/// k6's status at the end: Ended (9), or Interrupted (10) when the run was stopped.
fn end_status(control: &RunControl) -> u32 {
    if control.is_aborted() {
        api_status::INTERRUPTED
    } else {
        api_status::ENDED
    }
}

/// The outcome of a run ended during its first init (an exception, `test.abort()`, a stop):
/// no options, no VUs, and no summary — k6 prints none when the script never got past its
/// init (docs/exit-codes.md).
fn stopped_before_start(control: &RunControl) -> RunOutcome {
    let (exit_code, error, _, _, _) = decide_exit(control, &[]);
    control.set_stage(Stage::Done, api_status::INTERRUPTED);
    RunOutcome {
        exit_code,
        error,
        report: None,
        handle_summary: None,
        handle_summary_error: None,
        resolved: None,
    }
}
