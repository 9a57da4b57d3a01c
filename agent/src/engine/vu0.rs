//! Calls of the script's lifecycle functions in a fresh VU 0: `setup()`, `teardown()` and
//! `handleSummary()`, each bounded by its timeout, their failures turned into abort reasons.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use volley_common::exit::AbortReason;
use volley_common::options::{Options, ResolvedOptions};
use volley_common::segment::ExecutionTuple;

use super::script::first_init_on_thread;
use crate::executor::VuFactory;
use crate::http::{HttpConfig, HttpShared};
use crate::js::JsError;
use crate::metrics::{MetricsStore, Registry};
use crate::run::{RunControl, RunShared, VuSettings};
use crate::vu::Phase;
use crate::worker::{spawn_worker, WorkerMsg};

/// The reason a lifecycle function's failure ends the run: "out of JS memory" when it outgrew
/// the run's JS heap budget, the rejected promise of an `async` one (exit 255, as k6 v1.1.0),
/// else the script exception.
pub(super) fn exception_reason(
    phase: &str,
    e: &JsError,
    js_heap: Option<&crate::capacity::JsHeapBudget>,
) -> AbortReason {
    if let Some(budget) = js_heap.filter(|_| e.is_out_of_memory()) {
        return budget.exhausted();
    }
    if e.is_rejection() {
        return AbortReason::ScriptRejection {
            phase: phase.into(),
            message: e.with_stack(),
        };
    }
    AbortReason::ScriptException {
        phase: phase.into(),
        message: e.with_stack(),
    }
}

/// Runs setup() in a fresh VU 0; its JSON data, or the abort reason when it failed.
pub(super) async fn run_setup(
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
            _ => Err(exception_reason("setup", &e, factory.js_heap())),
        },
    }
}

pub(super) enum CallResult {
    Ok(Option<String>),
    Err(JsError),
    Timeout,
}

/// Calls an exported function in a fresh VU 0, bounded by `timeout`. With `stop_on_abort`
/// (setup), a stop of the run interrupts it; otherwise it runs to its end or its timeout.
pub(super) async fn call_in_vu0(
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
pub(super) async fn handle_summary(
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
        // `undefined` or `null`: the default summary, as k6 prints it then (measured with
        // k6 v1.1.0; `{}` prints nothing).
        CallResult::Ok(None) => Ok(None),
        CallResult::Ok(Some(json)) if json.trim() == "null" => Ok(None),
        CallResult::Ok(Some(json)) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| format!("handleSummary returned something that is not JSON: {e}")),
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

/// Why `handleSummary()` gave no output when it ran on its own ([`run_handle_summary`]).
#[derive(Debug)]
pub struct SummaryFailure {
    /// What to print before the default summary.
    pub message: String,
    /// The abort reason a local run would record for it (an exception 107, `test.abort()` 108,
    /// the timeout 102); `None` when handleSummary could not even be started.
    pub reason: Option<Box<AbortReason>>,
}

/// Runs a script's `handleSummary(data)` on its own (for a cluster run, in the CLI that
/// followed it). Returns what it returned, or why it failed: the caller prints the default
/// summary then, and applies the reason as a local run would (the first reason wins).
pub fn run_handle_summary(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    data: serde_json::Value,
    timeout: Duration,
    remote: crate::js::RemoteSource,
) -> Result<Option<serde_json::Value>, SummaryFailure> {
    // A control of its own: a signal to the CLI never cuts handleSummary short (the contract
    // lets a first Ctrl+C finish it), and whatever it records came from handleSummary.
    let control = Arc::new(RunControl::default());
    run_handle_summary_with(script, env, data, timeout, &control, remote).map_err(|message| {
        SummaryFailure {
            message,
            reason: control.abort_reason().map(Box::new),
        }
    })
}

fn run_handle_summary_with(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    data: serde_json::Value,
    timeout: Duration,
    control: &Arc<RunControl>,
    remote: crate::js::RemoteSource,
) -> Result<Option<serde_json::Value>, String> {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    io.block_on(async {
        let registry = Arc::new(Registry::new());
        let control = control.clone();
        let (fi, arrays) = {
            let (s, e, r, c) = (
                script.to_path_buf(),
                env.clone(),
                registry.clone(),
                control.clone(),
            );
            tokio::task::spawn_blocking(move || {
                first_init_on_thread(s, e, r, c, None, crate::sandbox::FileScope::Host, remote)
            })
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
                env: Arc::new(env.clone()),
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
