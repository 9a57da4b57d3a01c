//! One local test run from start to end: first init (options), VU init, `setup()`, the
//! executors, `teardown()`, thresholds and the summary data. `volley run` drives this; agents
//! will drive the same engine with a segment of the work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use volley_common::exit::{code, AbortReason};
use volley_common::metrics::store::MetricInfo;
use volley_common::metrics::TagSet;
use volley_common::options::{Options, ResolvedOptions};
use volley_common::segment::{ExecutionSegment, ExecutionSegmentSequence, ExecutionTuple};
use volley_common::summary::build;
use volley_common::summary::{GroupReport, RunResult, SummaryOptions, SummaryReport, SummaryState};
use volley_common::threshold::{parse_metric_key, parse_thresholds, Threshold};

use crate::api::status as api_status;
use crate::cluster::hooks::{ClusterCommand, ClusterEvent, ClusterHooks};
use crate::executor::{self, ExecCtx, ScenarioRt, VuFactory, VuPool};
use crate::http::{HttpConfig, HttpShared};
use crate::js::JsError;
use crate::metrics::{builtin, MetricsStore, Registry, SampleSink};
use crate::run::{RunControl, RunShared, Stage, VuSettings};
use crate::vu::{first_init, Phase};
use crate::worker::{spawn_worker, WorkerHandle, WorkerMsg};

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
    pub cluster: Option<Arc<crate::cluster::hooks::ClusterHooks>>,
    /// Remote copies of the run's results (`--out cloud=URL`).
    pub streams: Vec<Arc<dyn MetricsStream>>,
}

/// A remote copy of the run's results (`--out cloud=URL`, see [`crate::output::cloud`]): it
/// gets the run's aggregates once they exist and ships their interval deltas.
pub trait MetricsStream: Send + Sync {
    /// The options are known and the aggregates exist (before VU init): create the remote run
    /// and start shipping. An error (exit code, message) ends the run before it starts.
    fn start(&self, start: StreamStart) -> Result<(), (i32, String)>;
    /// The run is over and every sample is in the aggregates: ship the rest and end the remote
    /// run (bounded in time).
    fn finish(&self, control: &RunControl);
}

/// What a [`MetricsStream`] gets when the run starts.
pub struct StreamStart {
    pub script: PathBuf,
    /// The consolidated options (k6 shape).
    pub options: serde_json::Value,
    pub store: Arc<MetricsStore>,
    pub registry: Arc<Registry>,
    pub control: Arc<RunControl>,
}

/// Creates an output once the run knows its registry and thresholds.
pub trait OutputFactory: Send + Sync {
    fn create(
        &self,
        registry: Arc<Registry>,
        thresholds: &[(String, Vec<Threshold>)],
    ) -> anyhow_like::Result<Arc<dyn RawOutput>>;
}

/// A raw-sample output that also needs to be closed at the end.
pub trait RawOutput: SampleSink {
    fn close(&self) {}
}

/// Tiny local result alias so this module does not depend on anyhow.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
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

/// SharedArrays built during the first init, by name.
type SharedArrays = std::collections::HashMap<String, Arc<Vec<String>>>;
/// Thresholds by metric key, in definition order.
pub use volley_common::summary::build::ThresholdSet;

/// Runs the first init on a thread with a big stack (it is not a coroutine).
fn first_init_on_thread(
    script: PathBuf,
    env: BTreeMap<String, String>,
    registry: Arc<Registry>,
    control: Arc<RunControl>,
) -> Result<(crate::vu::FirstInit, SharedArrays), JsError> {
    std::thread::Builder::new()
        .name("volley-init".into())
        .stack_size(8 * 1024 * 1024)
        .spawn(move || {
            let r = first_init(&script, &env, registry, Some(control));
            let arrays = crate::js::native::take_first_init_arrays();
            r.map(|fi| (fi, arrays))
        })
        .map_err(|e| JsError::Load(e.to_string()))?
        .join()
        .unwrap_or_else(|_| Err(JsError::Load("the init thread panicked".into())))
}

fn exception_reason(phase: &str, e: &JsError) -> AbortReason {
    AbortReason::ScriptException {
        phase: phase.into(),
        message: e.with_stack(),
    }
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
        match tokio::task::spawn_blocking(move || first_init_on_thread(script, env, reg, ctl)).await
        {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                if control.is_aborted() {
                    // A stop (or test.abort()) during the first init: the run's own reason.
                    return stopped_before_start(&req, &control, started);
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
                // The summary always runs: an empty one here, since no VU ever started.
                return stopped_before_start(&req, &control, started);
            }
            Err(e) => return RunOutcome::early(code::SYSTEM, format!("init failed: {e}")),
        }
    };
    if control.is_aborted() {
        return stopped_before_start(&req, &control, started);
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
    let mut scenario_rts = Vec::new();
    for sc in &resolved.scenarios {
        match executor::scenario_rt(sc, &tuple) {
            Ok(rt) => scenario_rts.push(rt),
            Err(m) => return RunOutcome::early(code::INVALID_CONFIG, m),
        }
    }
    let max_vus = executor::max_concurrent_vus(&resolved.scenarios, &tuple);

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
    let http_cfg = HttpConfig {
        user_agent: resolved.user_agent.clone(),
        insecure_skip_tls_verify: resolved.insecure_skip_tls_verify,
        no_connection_reuse: resolved.no_connection_reuse,
        max_redirects: resolved.max_redirects.min(u32::MAX as u64) as u32,
        max_redirects_set: resolved.options.max_redirects.is_some(),
        discard_response_bodies: resolved.discard_response_bodies,
        ..HttpConfig::default()
    };
    let http = match HttpShared::new(http_cfg) {
        Ok(h) => Arc::new(h),
        Err(e) => return RunOutcome::early(code::INVALID_CONFIG, e.to_string()),
    };
    let store = Arc::new(MetricsStore::new());
    let run = Arc::new(RunShared {
        program: fi.program.clone(),
        registry: registry.clone(),
        store: store.clone(),
        settings: VuSettings {
            env: req.env.clone(),
            global_tags: resolved.tags.clone(),
            discard_response_bodies: resolved.discard_response_bodies,
            no_vu_connection_reuse: resolved.no_vu_connection_reuse,
            no_cookies_reset: resolved.no_cookies_reset,
            throw: resolved.throw,
            min_iteration_duration: (!resolved.min_iteration_duration.is_zero())
                .then_some(resolved.min_iteration_duration),
            options_json: resolved.to_json(),
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
    let nworkers = if req.workers == 0 {
        num_cores()
    } else {
        req.workers
    };
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

/// The outcome of a run stopped during its first init: no options, no VUs, an empty summary.
fn stopped_before_start(req: &RunRequest, control: &RunControl, started: Instant) -> RunOutcome {
    let (exit_code, error, outcome_name, message, context) = decide_exit(control, &[]);
    let report = SummaryReport {
        metrics: Vec::new(),
        root_group: GroupReport::default(),
        options: SummaryOptions {
            no_color: !req.is_stdout_tty,
            ..SummaryOptions::default()
        },
        state: SummaryState {
            is_stdout_tty: req.is_stdout_tty,
            is_stderr_tty: req.is_stderr_tty,
            test_run_duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        },
        setup_data: None,
        result: RunResult {
            outcome: outcome_name,
            exit_code,
            message,
            context,
        },
    };
    control.set_stage(Stage::Done, api_status::INTERRUPTED);
    RunOutcome {
        exit_code,
        error,
        report: Some(report),
        handle_summary: None,
        handle_summary_error: None,
        resolved: None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn lifecycle(
    resolved: &ResolvedOptions,
    run: &Arc<RunShared>,
    pool: &Arc<VuPool>,
    factory: &Arc<VuFactory>,
    scenario_rts: &[Arc<ScenarioRt>],
    thresholds: &Arc<ThresholdSet>,
    max_vus: u64,
    tuple: &ExecutionTuple,
    observer: Arc<dyn RunObserver>,
    started: Instant,
    exports: &[String],
    cluster: Option<&Arc<ClusterHooks>>,
) {
    let control = run.control.clone();
    let mut commands = cluster.and_then(|c| c.take_commands());
    let empty = TagSet::from_pairs(Vec::<(String, String)>::new());

    // VU init: all planned VUs, concurrently. A stop interrupts the VUs' init code.
    control.set_stage(Stage::VuInit, api_status::INIT_VUS);
    let mut inits = tokio::task::JoinSet::new();
    for _ in 0..max_vus {
        let f = factory.clone();
        inits.spawn(async move { f.init_vu().await });
    }
    let mut init_failed = false;
    while let Some(r) = tokio::select! {
        r = inits.join_next() => r,
        _ = control.aborted() => None,
    } {
        match r {
            Ok(Ok(vu)) => {
                pool.initialized.fetch_add(1, Ordering::Relaxed);
                pool.put(vu);
            }
            Ok(Err((id, e))) => {
                if !init_failed && !control.is_aborted() {
                    init_failed = true;
                    control.abort(AbortReason::ScriptException {
                        phase: "vu-init".into(),
                        message: format!(
                            "error while initializing VU #{id} (script exception): {}",
                            e.with_stack()
                        ),
                    });
                }
            }
            Err(e) => {
                control.abort(AbortReason::System {
                    message: format!("VU init task failed: {e}"),
                });
            }
        }
    }
    inits.abort_all();
    let vus_max = pool.initialized.load(Ordering::Relaxed);
    control.vus_max.store(vus_max, Ordering::Relaxed);
    run.emit_engine_sample(builtin::VUS_MAX, &empty, vus_max as f64);
    if control.is_aborted() {
        return;
    }
    control.set_stage(Stage::VuInit, api_status::INIT_DONE);

    // --paused: wait for a resume through the REST API (or a stop).
    if resolved.paused {
        control.set_paused(true);
    }
    if control.is_paused() {
        control.set_stage(Stage::Paused, api_status::PAUSED_BEFORE_RUN);
        control.wait_unpaused().await;
        if control.is_aborted() {
            return;
        }
    }

    // abortOnFail thresholds are watched from setup to the end of teardown (in a cluster run,
    // the controller watches them on the merged data instead).
    let th_stop = Arc::new(tokio::sync::Notify::new());
    let local_thresholds = if cluster.is_some() {
        Arc::new(ThresholdSet::new())
    } else {
        thresholds.clone()
    };
    let th_task = {
        let (thresholds, run, stop, control) = (
            local_thresholds,
            run.clone(),
            th_stop.clone(),
            control.clone(),
        );
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => check_abort_thresholds(&thresholds, &run.store, &run.registry, t0.elapsed(), &control),
                    _ = stop.notified() => return,
                }
            }
        })
    };

    // Setup, in a fresh VU 0 that a stop interrupts. In a cluster run the controller decides:
    // one agent runs it and every agent receives its data.
    control.set_stage(Stage::Setup, api_status::SETUP);
    let exports_setup = exports.iter().any(|e| e == "setup") && !resolved.no_setup;
    let exports_teardown = exports.iter().any(|e| e == "teardown") && !resolved.no_teardown;
    if let (Some(hooks), Some(cmds)) = (cluster, commands.as_mut()) {
        hooks.send(ClusterEvent::Ready { vus: vus_max });
        loop {
            let cmd = tokio::select! {
                c = cmds.recv() => c,
                _ = control.aborted() => None,
            };
            match cmd {
                Some(ClusterCommand::RunSetup) => {
                    if !exports_setup {
                        hooks.send(ClusterEvent::SetupResult {
                            data: None,
                            abort: None,
                        });
                        continue;
                    }
                    match run_setup(factory, resolved, &control).await {
                        Ok(data) => hooks.send(ClusterEvent::SetupResult { data, abort: None }),
                        Err(reason) => {
                            control.abort(reason.clone());
                            hooks.send(ClusterEvent::SetupResult {
                                data: None,
                                abort: Some(reason),
                            });
                        }
                    }
                }
                Some(ClusterCommand::SetupData(data)) => {
                    *run.setup_data.write().unwrap_or_else(|e| e.into_inner()) = data;
                    control.setup_completed.store(true, Ordering::SeqCst);
                    break;
                }
                Some(other) => tracing::warn!(?other, "unexpected command before setup data"),
                None => break,
            }
        }
        // The start barrier: every agent starts its executors at the same instant.
        if control.setup_completed.load(Ordering::SeqCst) && !control.is_aborted() {
            let cmd = tokio::select! {
                c = cmds.recv() => c,
                _ = control.aborted() => None,
            };
            if let Some(ClusterCommand::Start(at)) = cmd {
                let wait = at
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = control.aborted() => {}
                }
            }
        }
    } else if exports_setup {
        match run_setup(factory, resolved, &control).await {
            Ok(data) => {
                *run.setup_data.write().unwrap_or_else(|e| e.into_inner()) = data;
                control.setup_completed.store(true, Ordering::SeqCst);
            }
            Err(reason) => {
                control.abort(reason);
            }
        }
    } else if !control.is_aborted() {
        control.setup_completed.store(true, Ordering::SeqCst);
    }
    let setup_completed = control.setup_completed.load(Ordering::SeqCst);

    // The executors, with the vus gauge and progress.
    if setup_completed && !control.is_aborted() {
        control.set_stage(Stage::Running, api_status::RUNNING);
        let dropped_run = run.clone();
        let ctx = Arc::new(ExecCtx {
            pool: pool.clone(),
            control: control.clone(),
            tuple: tuple.clone(),
            dropped: Arc::new(move |scenario: &str| {
                let tags = TagSet::from_pairs([("scenario", scenario)]);
                dropped_run.emit_engine_sample(builtin::DROPPED_ITERATIONS, &tags, 1.0);
            }),
        });
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (cfg, sc) in resolved.scenarios.iter().zip(scenario_rts) {
            tasks.spawn(executor::run_scenario(
                cfg.clone(),
                sc.clone(),
                ctx.clone(),
                t0,
            ));
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                r = tasks.join_next() => {
                    if r.is_none() { break; }
                }
                _ = tick.tick() => {
                    let active = control.active_vus.load(Ordering::Relaxed).max(0) as f64;
                    run.emit_engine_sample(builtin::VUS, &empty, active);
                    run.emit_engine_sample(builtin::VUS_MAX, &empty, pool.initialized.load(Ordering::Relaxed) as f64);
                    observer.progress(&progress_snapshot(&control, scenario_rts, started, max_vus));
                }
            }
        }
    }

    // Teardown runs if and only if setup completed. A signal, an API stop or a threshold
    // lets it finish (bounded by teardownTimeout); test.abort() or an exception in it cut it.
    // In a cluster run exactly one agent runs it, when the controller says so.
    let mut teardown_here = true;
    if let (Some(hooks), Some(cmds)) = (cluster, commands.as_mut()) {
        teardown_here = false;
        if setup_completed {
            hooks.send(ClusterEvent::ExecutionDone);
            loop {
                if hooks.skip_teardown.load(Ordering::SeqCst) {
                    break;
                }
                tokio::select! {
                    c = cmds.recv() => match c {
                        Some(ClusterCommand::Teardown(b)) => { teardown_here = b; break; }
                        Some(other) => tracing::warn!(?other, "unexpected command before teardown"),
                        None => break,
                    },
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
    if setup_completed && exports_teardown && teardown_here {
        control.set_stage(Stage::Teardown, api_status::TEARDOWN);
        let data = run
            .setup_data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match call_in_vu0(
            factory,
            "teardown",
            Phase::Teardown,
            data,
            resolved.teardown_timeout,
            &control,
            false,
        )
        .await
        {
            CallResult::Ok(_) => {}
            CallResult::Timeout => {
                control.abort(AbortReason::TeardownTimeout {
                    seconds: resolved.teardown_timeout.as_secs_f64(),
                });
            }
            CallResult::Err(e) => {
                if !(matches!(e, JsError::Interrupted) && control.is_aborted()) {
                    control.abort(exception_reason("teardown", &e));
                }
            }
        }
    }
    th_stop.notify_one();
    let _ = th_task.await;
}

/// Runs setup() in a fresh VU 0; its JSON data, or the abort reason when it failed.
async fn run_setup(
    factory: &VuFactory,
    resolved: &ResolvedOptions,
    control: &RunControl,
) -> Result<Option<String>, AbortReason> {
    match call_in_vu0(
        factory,
        "setup",
        Phase::Setup,
        None,
        resolved.setup_timeout,
        control,
        true,
    )
    .await
    {
        CallResult::Ok(data) => Ok(data),
        CallResult::Timeout => Err(AbortReason::SetupTimeout {
            seconds: resolved.setup_timeout.as_secs_f64(),
        }),
        CallResult::Err(e) => match control.abort_reason() {
            Some(r) if matches!(e, JsError::Interrupted) => Err(r),
            _ => Err(exception_reason("setup", &e)),
        },
    }
}

enum CallResult {
    Ok(Option<String>),
    Err(JsError),
    Timeout,
}

/// Calls an exported function in a fresh VU 0, bounded by `timeout`. With `stop_on_abort`
/// (setup), a stop of the run interrupts it; otherwise it runs to its end or its timeout.
async fn call_in_vu0(
    factory: &VuFactory,
    func: &str,
    phase: Phase,
    arg: Option<String>,
    timeout: Duration,
    control: &RunControl,
    stop_on_abort: bool,
) -> CallResult {
    let vu = match factory.init_vu0(stop_on_abort).await {
        Ok(vu) => vu,
        Err(e) => return CallResult::Err(e),
    };
    let fut = vu.call(func, phase, arg);
    tokio::pin!(fut);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    tokio::select! {
        r = &mut fut => match r { Ok(v) => CallResult::Ok(v), Err(e) => CallResult::Err(e) },
        _ = &mut deadline => {
            vu.interrupt();
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut fut).await;
            CallResult::Timeout
        }
        _ = control.aborted(), if stop_on_abort => {
            vu.interrupt();
            match tokio::time::timeout(Duration::from_secs(5), &mut fut).await {
                Ok(Ok(v)) => CallResult::Ok(v),
                Ok(Err(e)) => CallResult::Err(e),
                Err(_) => CallResult::Err(JsError::Interrupted),
            }
        }
    }
}

/// Runs handleSummary in a fresh VU 0 on a fresh worker. Its failures become the run's abort
/// reason if it has none yet (exception 107, test.abort() 108, timeout 102); the caller then
/// prints the default summary.
async fn handle_summary(
    run: &Arc<RunShared>,
    resolved: &ResolvedOptions,
    data: Option<String>,
) -> Result<Option<serde_json::Value>, String> {
    let (w, join) = spawn_worker(
        usize::MAX,
        run.registry.clone(),
        run.store.clone(),
        None,
        Duration::from_secs(1),
    )
    .map_err(|e| e.to_string())?;
    let factory = VuFactory::new(run.clone(), vec![w.clone()], ExecutionTuple::default());
    let control = run.control.clone();
    let r = call_in_vu0(
        &factory,
        "handleSummary",
        Phase::HandleSummary,
        data,
        resolved.summary_timeout,
        &control,
        false,
    )
    .await;
    w.send(WorkerMsg::Shutdown);
    let _ = tokio::task::spawn_blocking(move || join.join()).await;
    match r {
        CallResult::Ok(Some(json)) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| format!("handleSummary returned something that is not JSON: {e}")),
        CallResult::Ok(None) => Ok(Some(serde_json::json!({}))),
        CallResult::Err(JsError::Interrupted) => {
            // test.abort() in handleSummary recorded its reason (if it was the first).
            let why = match control.abort_reason() {
                Some(AbortReason::ScriptAbort { message, .. }) => message.unwrap_or_default(),
                _ => String::new(),
            };
            Err(format!("handleSummary() was aborted: {why}"))
        }
        CallResult::Err(e) => {
            let msg = format!("handleSummary() failed: {}", e.with_stack());
            control.abort(AbortReason::ScriptException {
                phase: "handleSummary".into(),
                message: msg.clone(),
            });
            Err(msg)
        }
        CallResult::Timeout => {
            let r = AbortReason::SummaryTimeout {
                seconds: resolved.summary_timeout.as_secs_f64(),
            };
            let msg = r.message();
            control.abort(r);
            Err(msg)
        }
    }
}

fn resolve_options(fi: &crate::vu::FirstInit, req: &RunRequest) -> Result<ResolvedOptions, String> {
    let script_json: serde_json::Value = match &fi.options_json {
        Some(s) => serde_json::from_str(s).map_err(|e| format!("options: {e}"))?,
        None => serde_json::json!({}),
    };
    let mut opts = Options::from_script_json(&script_json).map_err(|e| e.to_string())?;
    let env_opts = Options::from_env(&req.process_env).map_err(|e| e.to_string())?;
    opts.apply(&env_opts);
    opts.apply(&req.cli_options);
    opts.resolve().map_err(|e| e.to_string())
}

fn build_tuple(resolved: &ResolvedOptions) -> Result<ExecutionTuple, String> {
    let seg: Option<ExecutionSegment> = match &resolved.execution_segment {
        Some(s) if !s.is_empty() => Some(s.parse().map_err(|e| format!("{e}"))?),
        _ => None,
    };
    let seq: Option<ExecutionSegmentSequence> = match &resolved.execution_segment_sequence {
        Some(s) if !s.is_empty() => Some(s.parse().map_err(|e| format!("{e}"))?),
        _ => None,
    };
    ExecutionTuple::new(seg.as_ref(), seq.as_ref()).map_err(|e| e.to_string())
}

fn build_thresholds(
    resolved: &ResolvedOptions,
    registry: &Registry,
) -> Result<Arc<ThresholdSet>, String> {
    let Some(v) = &resolved.thresholds else {
        return Ok(Arc::new(Vec::new()));
    };
    let parsed = parse_thresholds(v).map_err(|e| e.to_string())?;
    for (key, list) in &parsed {
        let (name, _) = parse_metric_key(key).map_err(|e| e.to_string())?;
        let Some((_, def)) = registry.by_name(&name) else {
            return Err(format!(
                "invalid threshold defined on {key}; reason: no metric name \"{name}\" found"
            ));
        };
        for t in list {
            t.validate(&name, def.mtype).map_err(|e| e.to_string())?;
        }
    }
    Ok(Arc::new(parsed))
}

/// The type of every registered metric (for thresholds on metrics without data).
fn registry_types(registry: &Registry) -> impl Fn(&str) -> Option<MetricInfo> + '_ {
    move |name: &str| {
        registry.by_name(name).map(|(_, d)| MetricInfo {
            mtype: d.mtype,
            contains: d.contains,
        })
    }
}

fn check_abort_thresholds(
    thresholds: &[(String, Vec<Threshold>)],
    store: &MetricsStore,
    registry: &Registry,
    elapsed: Duration,
    control: &RunControl,
) {
    if !thresholds
        .iter()
        .any(|(_, l)| l.iter().any(|t| t.abort_on_fail))
    {
        return;
    }
    let failed =
        build::failed_abort_thresholds(thresholds, &store.to_series_store(registry), elapsed);
    if !failed.is_empty() {
        control.abort(AbortReason::Threshold { metrics: failed });
    }
}

/// The one place that picks the exit code of a local run (DESIGN §5): the first abort reason
/// wins, then test.fail(), then failed thresholds.
fn decide_exit(
    control: &RunControl,
    failed_thresholds: &[String],
) -> (
    i32,
    Option<String>,
    String,
    Option<String>,
    Option<serde_json::Value>,
) {
    if let Some(reason) = control.abort_reason() {
        let (message, context) = match &reason {
            AbortReason::ScriptAbort {
                message, context, ..
            } => (message.clone(), context.clone()),
            other => (Some(other.message()), None),
        };
        return (
            reason.exit_code(),
            Some(reason.message()),
            "aborted".into(),
            message,
            context,
        );
    }
    if let Some(m) = control.failed() {
        let msg = "test run was marked as failed".to_string();
        return (
            code::MARKED_AS_FAILED,
            Some(msg.clone()),
            "failed".into(),
            Some(if m.is_empty() { msg } else { m }),
            None,
        );
    }
    if !failed_thresholds.is_empty() {
        let msg = format!(
            "thresholds on metrics '{}' have been crossed",
            failed_thresholds.join(", ")
        );
        return (
            code::THRESHOLDS_FAILED,
            Some(msg.clone()),
            "failed".into(),
            Some(msg),
            None,
        );
    }
    (code::OK, None, "passed".into(), None, None)
}

fn progress_snapshot(
    control: &RunControl,
    scenarios: &[Arc<ScenarioRt>],
    started: Instant,
    max_vus: u64,
) -> Progress {
    Progress {
        elapsed: started.elapsed(),
        active_vus: control.active_vus.load(Ordering::Relaxed),
        max_vus,
        complete: control.complete_iterations.load(Ordering::Relaxed),
        interrupted: control.interrupted_iterations.load(Ordering::Relaxed),
        aborted: control.is_aborted(),
        // Scenarios with no work in this segment are skipped and get no bar, as in k6.
        scenarios: scenarios
            .iter()
            .filter(|s| s.has_work)
            .map(|s| ScenarioProgress {
                name: s.name.clone(),
                progress: s.progress(),
                vus: s.active_vus.load(Ordering::Relaxed),
                elapsed: s.elapsed(),
                planned: s.planned,
                finished: s.finished.load(Ordering::Relaxed),
                started: s.started_at.get().is_some(),
            })
            .collect(),
    }
}

struct FanOut(Vec<Arc<dyn RawOutput>>);

impl SampleSink for FanOut {
    fn write(&self, samples: Vec<crate::metrics::SampleRecord>) {
        if let Some((last, rest)) = self.0.split_last() {
            for o in rest {
                o.write(samples.clone());
            }
            last.write(samples);
        }
    }
}

/// Summary rendering options from the run's options.
fn summary_options(resolved: &ResolvedOptions, req: &RunRequest) -> SummaryOptions {
    SummaryOptions {
        trend_stats: resolved.summary_trend_stats.clone(),
        time_unit: resolved.summary_time_unit.clone(),
        // As k6: set by NO_COLOR or K6_NO_COLOR, not by a non-terminal stdout (the text
        // summary already stays plain when stdout is not a terminal).
        no_color: req.process_env.contains_key("NO_COLOR")
            || req
                .process_env
                .get("K6_NO_COLOR")
                .is_some_and(|v| matches!(v.trim(), "true" | "1")),
        ..SummaryOptions::default()
    }
}

/// A script read without running it: its compiled program (modules and opened files), its
/// consolidated options (script < `K6_*` env < CLI) and its exported functions. `volley
/// archive` and `volley submit` build archives from this.
pub struct InspectedScript {
    pub program: Arc<crate::js::Program>,
    pub options: ResolvedOptions,
    /// The consolidated options as k6-shaped JSON, plus the script's `volley` section.
    pub options_json: serde_json::Value,
    pub exports: Vec<String>,
}

/// Runs the first init of a script (as `volley run` does) and resolves its options.
pub fn inspect_script(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    cli_options: &Options,
    process_env: &BTreeMap<String, String>,
) -> Result<InspectedScript, (i32, String)> {
    let registry = Arc::new(Registry::new());
    let control = Arc::new(RunControl::default());
    let (fi, _arrays) = first_init_on_thread(script.to_path_buf(), env.clone(), registry, control)
        .map_err(|e| {
            (
                code::SCRIPT_EXCEPTION,
                format!(
                    "could not initialize '{}': {}",
                    script.display(),
                    e.with_stack()
                ),
            )
        })?;
    let req = RunRequest {
        script: script.to_path_buf(),
        cli_options: cli_options.clone(),
        process_env: process_env.clone(),
        ..RunRequest::default()
    };
    let options = resolve_options(&fi, &req).map_err(|m| (code::INVALID_CONFIG, m))?;
    let mut options_json = options.to_json();
    let script_json: Option<serde_json::Value> = fi
        .options_json
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    if let (Some(obj), Some(v)) = (
        options_json.as_object_mut(),
        script_json.as_ref().and_then(|s| s.get("volley")),
    ) {
        obj.insert("volley".into(), v.clone());
    }
    Ok(InspectedScript {
        program: fi.program,
        options,
        options_json,
        exports: fi.exports,
    })
}

/// Runs a script's `handleSummary(data)` on its own (for a cluster run, in the CLI that
/// followed it). Returns what it returned, or the error to print before the default summary.
pub fn run_handle_summary(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    data: serde_json::Value,
    timeout: Duration,
) -> Result<Option<serde_json::Value>, String> {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    io.block_on(async {
        let registry = Arc::new(Registry::new());
        let control = Arc::new(RunControl::default());
        let (fi, arrays) = {
            let (s, e, r, c) = (
                script.to_path_buf(),
                env.clone(),
                registry.clone(),
                control.clone(),
            );
            tokio::task::spawn_blocking(move || first_init_on_thread(s, e, r, c))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.with_stack())?
        };
        if !fi.exports.iter().any(|e| e == "handleSummary") {
            return Ok(None);
        }
        let http = Arc::new(HttpShared::new(HttpConfig::default()).map_err(|e| e.to_string())?);
        let run = Arc::new(RunShared {
            program: fi.program.clone(),
            registry: registry.clone(),
            store: Arc::new(MetricsStore::new()),
            settings: VuSettings {
                env: env.clone(),
                ..VuSettings::default()
            },
            http,
            io: tokio::runtime::Handle::current(),
            control,
            shared_arrays: Arc::new(Mutex::new(arrays)),
            setup_data: RwLock::new(None),
            raw_out: None,
        });
        let resolved_timeout = timeout;
        let opts = ResolvedOptions {
            summary_timeout: resolved_timeout,
            ..Options::default().resolve().map_err(|e| e.to_string())?
        };
        handle_summary(&run, &opts, Some(data.to_string())).await
    })
}
