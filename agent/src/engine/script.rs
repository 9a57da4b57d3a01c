//! A script read before its run: the first init (compiling the program and reading `options`)
//! on a thread of its own, and the options, thresholds and execution segment it resolves to.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use volley_common::exit::code;
use volley_common::options::{Options, ResolvedOptions};
use volley_common::segment::{ExecutionSegment, ExecutionSegmentSequence, ExecutionTuple};
use volley_common::threshold::{parse_metric_key, parse_thresholds};

use super::{RunRequest, ThresholdSet};
use crate::js::{JsError, RemoteSource};
use crate::metrics::Registry;
use crate::run::RunControl;
use crate::sandbox::FileScope;
use crate::vu::{first_init, FirstInit};

/// SharedArrays built during the first init, by name.
pub(super) type SharedArrays = std::collections::HashMap<String, Arc<Vec<String>>>;

/// Runs the first init on a thread with a big stack (it is not a coroutine), its QuickJS
/// runtime capped at `heap_limit` bytes when given.
pub(super) fn first_init_on_thread(
    script: PathBuf,
    env: BTreeMap<String, String>,
    registry: Arc<Registry>,
    control: Arc<RunControl>,
    heap_limit: Option<usize>,
    scope: FileScope,
    remote: RemoteSource,
) -> Result<(FirstInit, SharedArrays), JsError> {
    std::thread::Builder::new()
        .name("volley-init".into())
        .stack_size(8 * 1024 * 1024)
        .spawn(move || {
            let r = first_init(
                &script,
                &env,
                registry,
                Some(control),
                heap_limit,
                scope,
                remote,
            );
            let arrays = crate::js::modules::data::take_first_init_arrays();
            r.map(|fi| (fi, arrays))
        })
        .map_err(|e| JsError::Load(e.to_string()))?
        .join()
        .unwrap_or_else(|_| Err(JsError::Load("the init thread panicked".into())))
}

pub(super) fn resolve_options(fi: &FirstInit, req: &RunRequest) -> Result<ResolvedOptions, String> {
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

/// Marks each scenario of the resolved `options` that the script itself defined with the fields
/// it spelled out (`"__spelled": [...]`): `exec.test.options` shows such a field even when it
/// equals k6's default, as k6 does (docs/k6-compatibility.md#strictness). The scenario the
/// shortcuts make (no `scenarios` anywhere) shows its VUs whenever `vus` was set (by the
/// script, `K6_VUS` or `--vus`), as k6 copies `vus` into it: `{vus: 1, iterations: 1}` shows
/// `vus: 1`.
pub(super) fn mark_spelled(
    mut options: serde_json::Value,
    script_options: Option<&str>,
    consolidated: &volley_common::options::Options,
) -> serde_json::Value {
    if consolidated.scenarios.is_none() && consolidated.vus.is_some() {
        if let Some(default) = options
            .get_mut("scenarios")
            .and_then(|s| s.get_mut(volley_common::options::DEFAULT_SCENARIO_NAME))
            .and_then(serde_json::Value::as_object_mut)
        {
            let field = match default.get("executor").and_then(serde_json::Value::as_str) {
                Some("ramping-vus") => "startVUs",
                _ => "vus",
            };
            default.insert(
                "__spelled".into(),
                vec![serde_json::Value::from(field)].into(),
            );
        }
        return options;
    }
    let raw: Option<serde_json::Value> = script_options.and_then(|s| serde_json::from_str(s).ok());
    let raw_scenarios = raw
        .as_ref()
        .and_then(|r| r.get("scenarios"))
        .and_then(serde_json::Value::as_object);
    let scenarios = options
        .get_mut("scenarios")
        .and_then(serde_json::Value::as_object_mut);
    if let (Some(raw_scenarios), Some(scenarios)) = (raw_scenarios, scenarios) {
        for (name, s) in scenarios.iter_mut() {
            let spelled = raw_scenarios
                .get(name)
                .and_then(serde_json::Value::as_object);
            if let (Some(spelled), Some(obj)) = (spelled, s.as_object_mut()) {
                let keys: Vec<serde_json::Value> =
                    spelled.keys().cloned().map(Into::into).collect();
                obj.insert("__spelled".into(), keys.into());
            }
        }
    }
    options
}

pub(super) fn build_tuple(resolved: &ResolvedOptions) -> Result<ExecutionTuple, String> {
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

pub(super) fn build_thresholds(
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
            // k6 names the thresholds key as written, submetric tags included.
            t.validate(key, def.mtype).map_err(|e| e.to_string())?;
        }
    }
    Ok(Arc::new(parsed))
}

/// A script read without running it: its compiled program (modules and opened files), its
/// consolidated options (script < `K6_*` env < CLI) and its exported functions. `volley
/// archive` and `volley submit` build archives from this.
pub struct InspectedScript {
    pub program: Arc<crate::program::Program>,
    pub options: ResolvedOptions,
    /// The consolidated options as k6-shaped JSON, plus the script's `volley` section.
    pub options_json: serde_json::Value,
    pub exports: Vec<String>,
}

/// Why a script could not be inspected, and the exit code `volley run` would give for it.
#[derive(Debug)]
pub struct InspectError {
    pub code: i32,
    pub message: String,
}

impl InspectError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        InspectError {
            code,
            message: message.into(),
        }
    }
}

/// Runs the first init of a script (as `volley run` does) and resolves its options. `control`
/// is the caller's: aborting it (a signal) interrupts the init code, and a `test.abort()` in
/// it is recorded there, so the error carries the same exit code as a local run (105, 108).
/// Remote modules come from `remote`.
pub fn inspect_script(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    cli_options: &Options,
    process_env: &BTreeMap<String, String>,
    control: Arc<RunControl>,
    remote: RemoteSource,
) -> Result<InspectedScript, InspectError> {
    let registry = Arc::new(Registry::new());
    let stopped = |control: &RunControl| {
        control.abort_reason().map(|reason| InspectError {
            code: reason.exit_code(),
            message: reason.message(),
        })
    };
    let (fi, _arrays) = match first_init_on_thread(
        script.to_path_buf(),
        env.clone(),
        registry,
        control.clone(),
        None,
        FileScope::Host,
        remote.clone(),
    ) {
        Ok(x) => x,
        Err(e) => {
            return Err(stopped(&control).unwrap_or_else(|| InspectError {
                code: code::SCRIPT_EXCEPTION,
                message: format!(
                    "could not initialize '{}': {}",
                    script.display(),
                    e.with_stack()
                ),
            }))
        }
    };
    if let Some(e) = stopped(&control) {
        return Err(e);
    }
    let req = RunRequest {
        script: script.to_path_buf(),
        cli_options: cli_options.clone(),
        process_env: process_env.clone(),
        remote_modules: remote,
        ..RunRequest::default()
    };
    let options =
        resolve_options(&fi, &req).map_err(|m| InspectError::new(code::INVALID_CONFIG, m))?;
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
