//! The middle of a run: VU init, `--paused`, `setup()` (or, in a cluster run, the
//! controller's decisions), the executors with the `vus` gauge and progress, and `teardown()`;
//! abortOnFail thresholds are watched all along.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use volley_common::exit::AbortReason;
use volley_common::metrics::TagSet;
use volley_common::options::ResolvedOptions;
use volley_common::segment::ExecutionTuple;

use super::hooks::{ClusterCommand, ClusterEvent, ClusterHooks};
use super::outcome::{check_abort_thresholds, progress_snapshot};
use super::vu0::{call_in_vu0, exception_reason, run_setup, CallResult};
use super::{RunObserver, ThresholdSet};
use crate::api::status as api_status;
use crate::executor::{self, ExecCtx, ScenarioRt, VuFactory, VuPool};
use crate::js::JsError;
use crate::metrics::builtin;
use crate::run::{RunShared, Stage};
use crate::vu::Phase;

#[allow(clippy::too_many_arguments)]
pub(super) async fn lifecycle(
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
            Ok(Err((_, e))) if e.is_out_of_memory() && run.settings.js_heap.is_some() => {
                if let Some(budget) = &run.settings.js_heap {
                    init_failed = true;
                    control.abort(budget.exhausted());
                }
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
            tokio::select! {
                never = watch_abort_thresholds(&thresholds, &run, &control) => match never {},
                _ = stop.notified() => {}
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
                    // This agent is the only one running setup(), so its own samples are
                    // all the run has until setup returns: it judges abortOnFail thresholds
                    // on them, with the same 2 s tick as a local run, and so cuts setup
                    // within the same bound (docs/exit-codes.md).
                    let setup = run_setup(factory, resolved, &control);
                    let watch = watch_abort_thresholds(thresholds, run, &control);
                    let result = tokio::select! {
                        r = setup => r,
                        never = watch => match never {},
                    };
                    match result {
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
                    control.abort(exception_reason(
                        "teardown",
                        &e,
                        run.settings.js_heap.as_ref(),
                    ));
                }
            }
        }
    }
    th_stop.notify_one();
    let _ = th_task.await;
}

/// How often abortOnFail thresholds are judged during a run (k6 also checks every 2 s).
const ABORT_THRESHOLD_TICK: Duration = Duration::from_secs(2);

/// Judges abortOnFail thresholds on this engine's samples every [`ABORT_THRESHOLD_TICK`] and
/// aborts the run when one is crossed. Never returns; drop it to stop watching.
async fn watch_abort_thresholds(
    thresholds: &ThresholdSet,
    run: &RunShared,
    control: &Arc<crate::run::RunControl>,
) -> std::convert::Infallible {
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(ABORT_THRESHOLD_TICK);
    tick.tick().await;
    loop {
        tick.tick().await;
        check_abort_thresholds(thresholds, &run.store, &run.registry, t0.elapsed(), control);
    }
}
