//! k6 test options: what a script exports as `options`, what `K6_*` env vars and CLI flags
//! override, and how they become the list of scenarios to run.
//!
//! The layers follow k6 v1.1.0: every field of [`Options`] is optional so layers can be merged
//! (CLI > env > script, [`Options::apply`]), and [`Options::resolve`] applies k6's shortcut
//! rules (`iterations`/`duration`/`stages` → one `default` scenario), validates everything with
//! k6's own error wording (exit code 104 on failure) and fills in the defaults. Error texts and
//! banner descriptions match k6 because users grep for them and CI logs are compared across
//! the two tools.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::duration::{
    duration_from_json_signed, format_duration, format_signed_nanos, parse_duration,
    parse_duration_signed,
};

/// The name k6 gives the scenario derived from shortcut options.
pub const DEFAULT_SCENARIO_NAME: &str = "default";
/// The exported function a scenario runs when it sets no `exec`.
pub const DEFAULT_EXEC: &str = "default";
/// k6's executor names, in the order they are listed in error messages.
pub const EXECUTOR_NAMES: [&str; 7] = [
    "constant-arrival-rate",
    "constant-vus",
    "externally-controlled",
    "per-vu-iterations",
    "ramping-arrival-rate",
    "ramping-vus",
    "shared-iterations",
];
/// `summaryTrendStats` when nothing sets it.
pub const DEFAULT_SUMMARY_TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];
/// k6's default `systemTags` (the ones attached to samples unless the script narrows them).
pub const DEFAULT_SYSTEM_TAGS: [&str; 14] = [
    "proto",
    "subproto",
    "status",
    "method",
    "url",
    "name",
    "group",
    "check",
    "error",
    "error_code",
    "tls_version",
    "scenario",
    "service",
    "expected_response",
];
/// Every system tag k6 knows; `systemTags` may only name these.
pub const ALL_SYSTEM_TAGS: [&str; 18] = [
    "proto",
    "subproto",
    "status",
    "method",
    "url",
    "name",
    "group",
    "check",
    "error",
    "error_code",
    "tls_version",
    "scenario",
    "service",
    "expected_response",
    "vu",
    "iter",
    "ip",
    "ocsp_status",
];
/// The `User-Agent` sent when `userAgent` is not set. k6 sends its own product name; Volley
/// names itself so server operators can tell the two apart.
pub const DEFAULT_USER_AGENT: &str =
    concat!("volley/", env!("CARGO_PKG_VERSION"), " (k6-compatible)");

/// k6's `minDuration`: the shortest `duration`/`maxDuration` an executor accepts.
const MIN_DURATION: Duration = Duration::from_secs(1);
const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(30);
const DEFAULT_GRACEFUL_RAMP_DOWN: Duration = Duration::from_secs(30);
const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);
const DEFAULT_TIME_UNIT: Duration = Duration::from_secs(1);
const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_TEARDOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// handleSummary's limit; k6 hard-codes 2 minutes, Volley lets `summaryTimeout` change it.
const DEFAULT_SUMMARY_TIMEOUT: Duration = Duration::from_secs(120);
const CONFIG_PROBLEMS_HEADER: &str = "There were problems with the specified script configuration:";
const VUS_MORE_THAN_ZERO: &str = "the number of VUs must be more than 0";
const DURATION_MORE_THAN_ZERO: &str =
    "`duration` option should be more than 0, for infinite duration use the externally-controlled executor";

/// Invalid options. Every variant maps to k6's exit code 104 (`InvalidConfig`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionsError {
    message: String,
}

impl OptionsError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// k6's multi-line validation report: a header, then one `\n\t- ` line per problem.
    fn config_problems(problems: &[String]) -> Self {
        let mut message = CONFIG_PROBLEMS_HEADER.to_string();
        for p in problems {
            message.push_str("\n\t- ");
            message.push_str(p);
        }
        Self { message }
    }

    fn scenario_problem(name: &str, problem: impl std::fmt::Display) -> Self {
        Self::config_problems(&[format!(
            "scenario {name} has configuration errors: {problem}"
        )])
    }

    /// The human-readable message (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code k6 uses for invalid configuration.
    pub fn exit_code(&self) -> i32 {
        crate::exit::code::INVALID_CONFIG
    }
}

/// One step of a ramp: reach `target` (VUs, or iterations per `timeUnit`) over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub duration: Duration,
    pub target: u64,
}

/// An executor and its own settings, with k6's defaults already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorConfig {
    SharedIterations {
        vus: u64,
        iterations: u64,
        max_duration: Duration,
    },
    PerVuIterations {
        vus: u64,
        iterations: u64,
        max_duration: Duration,
    },
    ConstantVus {
        vus: u64,
        duration: Duration,
    },
    RampingVus {
        start_vus: u64,
        stages: Vec<Stage>,
        graceful_ramp_down: Duration,
    },
    ConstantArrivalRate {
        rate: u64,
        time_unit: Duration,
        duration: Duration,
        pre_allocated_vus: u64,
        max_vus: u64,
    },
    RampingArrivalRate {
        start_rate: u64,
        time_unit: Duration,
        stages: Vec<Stage>,
        pre_allocated_vus: u64,
        max_vus: u64,
    },
    /// `duration` zero means "until stopped".
    ExternallyControlled {
        vus: u64,
        max_vus: u64,
        duration: Duration,
    },
}

impl ExecutorConfig {
    /// The executor's k6 name, e.g. `"constant-vus"`.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutorConfig::SharedIterations { .. } => "shared-iterations",
            ExecutorConfig::PerVuIterations { .. } => "per-vu-iterations",
            ExecutorConfig::ConstantVus { .. } => "constant-vus",
            ExecutorConfig::RampingVus { .. } => "ramping-vus",
            ExecutorConfig::ConstantArrivalRate { .. } => "constant-arrival-rate",
            ExecutorConfig::RampingArrivalRate { .. } => "ramping-arrival-rate",
            ExecutorConfig::ExternallyControlled { .. } => "externally-controlled",
        }
    }
}

/// One named scenario, as k6 models it (common options plus its executor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioConfig {
    pub name: String,
    pub executor: ExecutorConfig,
    pub start_time: Duration,
    /// Zero (and not allowed to be set) for externally-controlled.
    pub graceful_stop: Duration,
    pub exec: String,
    pub env: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The scenario's own `options` object (browser settings), passed through untouched.
    pub options: Option<Value>,
}

/// A DNS answer-cache lifetime: k6's `"inf"` or a duration (`0` disables caching).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTtl {
    Infinite,
    For(Duration),
}

/// Which address k6 picks when a name resolves to several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsSelect {
    First,
    Random,
    RoundRobin,
}

/// Which IP families k6 resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPolicy {
    PreferIpv4,
    PreferIpv6,
    OnlyIpv4,
    OnlyIpv6,
    Any,
}

/// The `dns` option; each part merges separately across layers, as in k6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsOptions {
    pub ttl: Option<DnsTtl>,
    pub select: Option<DnsSelect>,
    pub policy: Option<DnsPolicy>,
}

/// The `dns` option with k6's defaults (`ttl: 5m`, `select: random`, `policy: preferIPv4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedDns {
    pub ttl: DnsTtl,
    pub select: DnsSelect,
    pub policy: DnsPolicy,
}

/// `httpDebug`: log nothing, request/response headers, or headers and bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpDebug {
    Off,
    Headers,
    Full,
}

/// k6 options from one layer (script, env or CLI). `None` means "not set in this layer".
///
/// Integers that k6 validates later (`vus`, `iterations`) are kept signed so that `vus: -1`
/// reaches [`Options::resolve`] and fails there with k6's own message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    pub vus: Option<i64>,
    pub duration: Option<Duration>,
    pub iterations: Option<i64>,
    pub stages: Option<Vec<Stage>>,
    /// In the order the script declared them.
    pub scenarios: Option<Vec<(String, ScenarioConfig)>>,
    pub setup_timeout: Option<Duration>,
    pub teardown_timeout: Option<Duration>,
    /// Volley extension (`summaryTimeout`): the limit on `handleSummary()`, default 2m.
    pub summary_timeout: Option<Duration>,
    pub discard_response_bodies: Option<bool>,
    pub no_connection_reuse: Option<bool>,
    pub no_vu_connection_reuse: Option<bool>,
    pub user_agent: Option<String>,
    pub insecure_skip_tls_verify: Option<bool>,
    pub summary_trend_stats: Option<Vec<String>>,
    pub summary_time_unit: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    /// Parsed by the threshold module.
    pub thresholds: Option<Value>,
    pub execution_segment: Option<String>,
    pub execution_segment_sequence: Option<String>,
    pub max_redirects: Option<u64>,
    pub batch: Option<u64>,
    pub batch_per_host: Option<u64>,
    pub rps: Option<u64>,
    /// `""`, `"headers"` or `"full"`; checked by [`Options::resolve`].
    pub http_debug: Option<String>,
    pub throw: Option<bool>,
    pub min_iteration_duration: Option<Duration>,
    pub no_cookies_reset: Option<bool>,
    pub local_ips: Option<String>,
    pub hosts: Option<BTreeMap<String, String>>,
    pub dns: Option<DnsOptions>,
    pub paused: Option<bool>,
    pub linger: Option<bool>,
    pub no_setup: Option<bool>,
    pub no_teardown: Option<bool>,
    pub blacklist_ips: Option<Vec<String>>,
    pub block_hostnames: Option<Vec<String>>,
    pub system_tags: Option<Vec<String>>,
    /// A version string (`"tls1.2"`) or `{min, max}`; passed to the TLS layer as given.
    pub tls_version: Option<Value>,
    pub tls_cipher_suites: Option<Vec<String>>,
    /// `[{domains, cert, key, password}]`; passed to the TLS layer as given.
    pub tls_auth: Option<Value>,
    pub include_system_env_vars: Option<bool>,
    pub console_output: Option<String>,
    pub metric_samples_buffer_size: Option<u64>,
    /// `cloud` (k6 Cloud settings, e.g. `distribution`), kept as given.
    pub cloud: Option<Value>,
    /// `ext` (legacy extension settings, e.g. `ext.loadimpact`), kept as given.
    pub ext: Option<Value>,
    /// The layer's JSON as given, so keys Volley does not model survive into archives.
    pub raw: Option<Value>,
}

/// Options after shortcuts, validation and defaults: what a run actually uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOptions {
    /// Ordered as k6 prints them: by `startTime`, then by name.
    pub scenarios: Vec<ScenarioConfig>,
    pub setup_timeout: Duration,
    pub teardown_timeout: Duration,
    pub summary_timeout: Duration,
    pub summary_trend_stats: Vec<String>,
    /// `None` lets the summary pick a unit per value (k6's `""`).
    pub summary_time_unit: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub thresholds: Option<Value>,
    pub execution_segment: Option<String>,
    pub execution_segment_sequence: Option<String>,
    pub discard_response_bodies: bool,
    pub no_connection_reuse: bool,
    pub no_vu_connection_reuse: bool,
    /// Empty means "send no User-Agent header" (k6 semantics of `userAgent: ""`).
    pub user_agent: String,
    pub insecure_skip_tls_verify: bool,
    pub max_redirects: u64,
    pub batch: u64,
    pub batch_per_host: u64,
    /// Requests per second across all VUs; `None` is unlimited (k6's `0`).
    pub rps: Option<u64>,
    pub http_debug: HttpDebug,
    pub throw: bool,
    pub min_iteration_duration: Duration,
    pub no_cookies_reset: bool,
    pub local_ips: Option<String>,
    pub hosts: BTreeMap<String, String>,
    pub dns: ResolvedDns,
    pub paused: bool,
    pub linger: bool,
    pub no_setup: bool,
    pub no_teardown: bool,
    pub blacklist_ips: Vec<String>,
    pub block_hostnames: Vec<String>,
    pub system_tags: Vec<String>,
    pub tls_version: Option<Value>,
    pub tls_cipher_suites: Option<Vec<String>>,
    pub tls_auth: Option<Value>,
    pub include_system_env_vars: bool,
    pub console_output: Option<String>,
    pub metric_samples_buffer_size: u64,
    /// Things k6 warns about but runs anyway (e.g. `vus` without `duration`/`iterations`).
    pub warnings: Vec<String>,
    /// The consolidated options this was resolved from.
    pub options: Options,
}

// ---------------------------------------------------------------------------------------------
// JSON readers. `path` is the option as the user wrote it, e.g. `options.scenarios.api.vus`,
// so a type error tells them exactly what to fix.

const NULL: Value = Value::Null;

fn show(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn type_err(path: &str, expected: &str, got: &Value) -> OptionsError {
    OptionsError::new(format!("{path} must be {expected}, got {}", show(got)))
}

fn read_i64(v: &Value, path: &str) -> Result<Option<i64>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // JSON.stringify writes 1e21 and up in exponent form; anything integral and in
                // range is an integer to k6 too.
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                _ => Err(type_err(path, "a non-negative integer", v)),
            }
        }
        _ => Err(type_err(path, "a non-negative integer", v)),
    }
}

fn read_u64(v: &Value, path: &str) -> Result<Option<u64>, OptionsError> {
    match read_i64(v, path)? {
        Some(i) if i < 0 => Err(type_err(path, "a non-negative integer", v)),
        other => Ok(other.map(|i| i as u64)),
    }
}

fn read_bool(v: &Value, path: &str) -> Result<Option<bool>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(type_err(path, "true or false", v)),
    }
}

fn read_string(v: &Value, path: &str) -> Result<Option<String>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(type_err(path, "a string", v)),
    }
}

fn read_string_list(v: &Value, path: &str) -> Result<Option<Vec<String>>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(type_err(&format!("{path}[{i}]"), "a string", item)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(type_err(path, "an array of strings", v)),
    }
}

fn read_string_map(
    v: &Value,
    path: &str,
) -> Result<Option<BTreeMap<String, String>>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(map) => map
            .iter()
            .map(|(k, item)| match item {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(type_err(&format!("{path}.{k}"), "a string", item)),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        _ => Err(type_err(path, "an object of strings", v)),
    }
}

/// A duration that may be negative (k6 reports negative ones with its own wording).
fn read_signed_duration(v: &Value, path: &str) -> Result<Option<i128>, OptionsError> {
    if v.is_null() {
        return Ok(None);
    }
    duration_from_json_signed(v).map(Some).map_err(|e| {
        OptionsError::new(format!(
            "{path} is not a valid duration ({e}); use a string like \"30s\" or a number of milliseconds"
        ))
    })
}

fn nanos_to_duration(nanos: i128) -> Duration {
    let n = nanos.max(0) as u128;
    Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
}

fn read_duration(v: &Value, path: &str) -> Result<Option<Duration>, OptionsError> {
    match read_signed_duration(v, path)? {
        Some(n) if n < 0 => Err(OptionsError::new(format!(
            "{path} must not be negative, got {}",
            show(v)
        ))),
        other => Ok(other.map(nanos_to_duration)),
    }
}

fn read_raw(v: &Value) -> Option<Value> {
    (!v.is_null()).then(|| v.clone())
}

/// Reads `[{duration, target}]`. Problems use k6's wording ("stage 1 doesn't have a target");
/// type errors name the JSON path.
fn read_stages(v: &Value, path: &str) -> Result<Option<Vec<Stage>>, StagesError> {
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => {
            return Err(StagesError::Type(type_err(
                path,
                "an array of {duration, target} objects",
                v,
            )))
        }
    };
    let mut stages = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let item_path = format!("{path}[{i}]");
        let Value::Object(obj) = item else {
            return Err(StagesError::Type(type_err(
                &item_path,
                "a {duration, target} object",
                item,
            )));
        };
        let duration = read_signed_duration(
            obj.get("duration").unwrap_or(&NULL),
            &format!("{item_path}.duration"),
        )
        .map_err(StagesError::Type)?;
        let duration = match duration {
            None => {
                return Err(StagesError::Problem(format!(
                    "stage {n} doesn't have a duration"
                )))
            }
            Some(d) if d < 0 => {
                return Err(StagesError::Problem(format!(
                    "the duration for stage {n} shouldn't be negative"
                )))
            }
            Some(d) => nanos_to_duration(d),
        };
        let target = read_i64(
            obj.get("target").unwrap_or(&NULL),
            &format!("{item_path}.target"),
        )
        .map_err(StagesError::Type)?;
        let target = match target {
            None => {
                return Err(StagesError::Problem(format!(
                    "stage {n} doesn't have a target"
                )))
            }
            Some(t) if t < 0 => {
                return Err(StagesError::Problem(format!(
                    "the target for stage {n} shouldn't be negative"
                )))
            }
            Some(t) => t as u64,
        };
        stages.push(Stage { duration, target });
    }
    Ok(Some(stages))
}

enum StagesError {
    Type(OptionsError),
    Problem(String),
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

const COMMON_SCENARIO_FIELDS: [&str; 7] = [
    "executor",
    "startTime",
    "gracefulStop",
    "exec",
    "env",
    "tags",
    "options",
];

fn executor_fields(executor: &str) -> &'static [&'static str] {
    match executor {
        "shared-iterations" | "per-vu-iterations" => &["vus", "iterations", "maxDuration"],
        "constant-vus" => &["vus", "duration"],
        "ramping-vus" => &["startVUs", "stages", "gracefulRampDown"],
        "constant-arrival-rate" => &["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"],
        "ramping-arrival-rate" => &[
            "startRate",
            "timeUnit",
            "stages",
            "preAllocatedVUs",
            "maxVUs",
        ],
        "externally-controlled" => &["vus", "maxVUs", "duration"],
        _ => &[],
    }
}

impl ScenarioConfig {
    /// A scenario with k6's common defaults: starts at 0, `gracefulStop` 30s (none for
    /// externally-controlled), runs `default`, no env or tags.
    pub fn new(name: impl Into<String>, executor: ExecutorConfig) -> Self {
        let graceful_stop = match executor {
            ExecutorConfig::ExternallyControlled { .. } => Duration::ZERO,
            _ => DEFAULT_GRACEFUL_STOP,
        };
        Self {
            name: name.into(),
            executor,
            start_time: Duration::ZERO,
            graceful_stop,
            exec: DEFAULT_EXEC.to_string(),
            env: BTreeMap::new(),
            tags: BTreeMap::new(),
            options: None,
        }
    }

    /// Parses one entry of `options.scenarios`. Like k6, unknown fields are errors here
    /// (a typo such as `vu` would otherwise silently run with defaults).
    pub fn from_json(name: &str, v: &Value) -> Result<Self, OptionsError> {
        let path = format!("options.scenarios.{name}");
        let Value::Object(obj) = v else {
            return Err(type_err(&path, "an object", v));
        };
        let problem = |msg: String| OptionsError::scenario_problem(name, msg);
        let field = |key: &str| obj.get(key).unwrap_or(&NULL);
        let fpath = |key: &str| format!("{path}.{key}");

        let executor_name = match field("executor") {
            Value::Null => {
                return Err(problem(format!(
                    "the executor is missing; set `executor` to one of: {}",
                    EXECUTOR_NAMES.join(", ")
                )))
            }
            Value::String(s) => s.as_str(),
            other => return Err(type_err(&fpath("executor"), "a string", other)),
        };
        if !EXECUTOR_NAMES.contains(&executor_name) {
            return Err(problem(format!(
                "unknown executor type '{executor_name}'; valid executors are: {}",
                EXECUTOR_NAMES.join(", ")
            )));
        }
        let is_external = executor_name == "externally-controlled";
        let specific = executor_fields(executor_name);
        for (key, value) in obj {
            if key == "gracefulStop" && is_external {
                if !value.is_null() {
                    return Err(problem(
                        "gracefulStop is not supported by the externally controlled executor"
                            .to_string(),
                    ));
                }
                continue;
            }
            if !COMMON_SCENARIO_FIELDS.contains(&key.as_str()) && !specific.contains(&key.as_str())
            {
                let mut valid: Vec<&str> = COMMON_SCENARIO_FIELDS.to_vec();
                if is_external {
                    valid.retain(|k| *k != "gracefulStop");
                }
                valid.extend_from_slice(specific);
                return Err(problem(format!(
                    "unknown option \"{key}\" for the {executor_name} executor; valid options are: {}",
                    valid.join(", ")
                )));
            }
        }

        let start_time = match read_signed_duration(field("startTime"), &fpath("startTime"))? {
            Some(n) if n < 0 => return Err(problem("the startTime can't be negative".to_string())),
            other => other.map(nanos_to_duration).unwrap_or(Duration::ZERO),
        };
        let graceful_stop = if is_external {
            Duration::ZERO
        } else {
            match read_signed_duration(field("gracefulStop"), &fpath("gracefulStop"))? {
                Some(n) if n < 0 => {
                    return Err(problem(
                        "the gracefulStop timeout can't be negative".to_string(),
                    ))
                }
                other => other
                    .map(nanos_to_duration)
                    .unwrap_or(DEFAULT_GRACEFUL_STOP),
            }
        };
        let exec = match read_string(field("exec"), &fpath("exec"))? {
            Some(e) if e.is_empty() => {
                return Err(problem("exec value cannot be empty".to_string()))
            }
            other => other.unwrap_or_else(|| DEFAULT_EXEC.to_string()),
        };
        let env = read_string_map(field("env"), &fpath("env"))?.unwrap_or_default();
        let tags = read_string_map(field("tags"), &fpath("tags"))?.unwrap_or_default();
        let options = read_raw(field("options"));

        let int = |key: &str| read_i64(field(key), &fpath(key));
        let dur = |key: &str| read_signed_duration(field(key), &fpath(key));
        let stages = |key: &str| match read_stages(field(key), &fpath(key)) {
            Ok(s) => Ok(s.unwrap_or_default()),
            Err(StagesError::Type(e)) => Err(e),
            Err(StagesError::Problem(p)) => Err(OptionsError::scenario_problem(name, p)),
        };
        let min_duration_msg = |what: &str, n: i128| {
            format!(
                "the {what} must be at least {}, but is {}",
                format_duration(MIN_DURATION),
                format_signed_nanos(n)
            )
        };

        let executor = match executor_name {
            "shared-iterations" | "per-vu-iterations" => {
                let vus = int("vus")?.unwrap_or(1);
                let iterations = int("iterations")?.unwrap_or(1);
                let max_duration = dur("maxDuration")?;
                if vus < 0 {
                    return Err(problem(VUS_MORE_THAN_ZERO.to_string()));
                }
                if iterations < 0 {
                    return Err(problem(if executor_name == "shared-iterations" {
                        format!("the number of iterations ({iterations}) can't be less than the number of VUs ({vus})")
                    } else {
                        "the number of iterations must be more than 0".to_string()
                    }));
                }
                let max_duration = match max_duration {
                    Some(n) if n < 0 => return Err(problem(min_duration_msg("maxDuration", n))),
                    other => other.map(nanos_to_duration).unwrap_or(DEFAULT_MAX_DURATION),
                };
                let (vus, iterations) = (vus as u64, iterations as u64);
                if executor_name == "shared-iterations" {
                    ExecutorConfig::SharedIterations {
                        vus,
                        iterations,
                        max_duration,
                    }
                } else {
                    ExecutorConfig::PerVuIterations {
                        vus,
                        iterations,
                        max_duration,
                    }
                }
            }
            "constant-vus" => {
                let vus = int("vus")?.unwrap_or(1);
                if vus < 0 {
                    return Err(problem(VUS_MORE_THAN_ZERO.to_string()));
                }
                let duration = match dur("duration")? {
                    None => return Err(problem("the duration is unspecified".to_string())),
                    Some(n) if n < 0 => return Err(problem(min_duration_msg("duration", n))),
                    Some(n) => nanos_to_duration(n),
                };
                ExecutorConfig::ConstantVus {
                    vus: vus as u64,
                    duration,
                }
            }
            "ramping-vus" => {
                let start_vus = int("startVUs")?.unwrap_or(1);
                if start_vus < 0 {
                    return Err(problem(
                        "the number of start VUs shouldn't be negative".to_string(),
                    ));
                }
                let stages = stages("stages")?;
                let graceful_ramp_down = match dur("gracefulRampDown")? {
                    Some(n) if n < 0 => {
                        return Err(problem(
                            "the gracefulRampDown shouldn't be negative".to_string(),
                        ))
                    }
                    other => other
                        .map(nanos_to_duration)
                        .unwrap_or(DEFAULT_GRACEFUL_RAMP_DOWN),
                };
                ExecutorConfig::RampingVus {
                    start_vus: start_vus as u64,
                    stages,
                    graceful_ramp_down,
                }
            }
            "constant-arrival-rate" | "ramping-arrival-rate" => {
                let constant = executor_name == "constant-arrival-rate";
                let time_unit = match dur("timeUnit")? {
                    Some(n) if n <= 0 => {
                        return Err(problem("the timeUnit must be more than 0".to_string()))
                    }
                    other => other.map(nanos_to_duration).unwrap_or(DEFAULT_TIME_UNIT),
                };
                let pre_allocated_vus = match int("preAllocatedVUs")? {
                    None => {
                        return Err(problem(
                            "the number of preAllocatedVUs isn't specified".to_string(),
                        ))
                    }
                    Some(n) if n < 0 => {
                        return Err(problem(
                            "the number of preAllocatedVUs shouldn't be negative".to_string(),
                        ))
                    }
                    Some(n) => n as u64,
                };
                let max_vus = match int("maxVUs")? {
                    None => pre_allocated_vus,
                    Some(n) if n < 0 => {
                        return Err(problem(
                            "maxVUs shouldn't be less than preAllocatedVUs".to_string(),
                        ))
                    }
                    Some(n) => n as u64,
                };
                if constant {
                    let rate = match int("rate")? {
                        None => {
                            return Err(problem("the iteration rate isn't specified".to_string()))
                        }
                        Some(n) if n < 0 => {
                            return Err(problem(
                                "the iteration rate must be more than 0".to_string(),
                            ))
                        }
                        Some(n) => n as u64,
                    };
                    let duration = match dur("duration")? {
                        None => return Err(problem("the duration is unspecified".to_string())),
                        Some(n) if n < 0 => return Err(problem(min_duration_msg("duration", n))),
                        Some(n) => nanos_to_duration(n),
                    };
                    ExecutorConfig::ConstantArrivalRate {
                        rate,
                        time_unit,
                        duration,
                        pre_allocated_vus,
                        max_vus,
                    }
                } else {
                    let start_rate = match int("startRate")? {
                        Some(n) if n < 0 => {
                            return Err(problem(
                                "the startRate value shouldn't be negative".to_string(),
                            ))
                        }
                        other => other.unwrap_or(0) as u64,
                    };
                    let stages = stages("stages")?;
                    ExecutorConfig::RampingArrivalRate {
                        start_rate,
                        time_unit,
                        stages,
                        pre_allocated_vus,
                        max_vus,
                    }
                }
            }
            _ => {
                // externally-controlled
                let vus = match int("vus")? {
                    Some(n) if n < 0 => {
                        return Err(problem(
                            "the number of VUs shouldn't be negative".to_string(),
                        ))
                    }
                    other => other.unwrap_or(0),
                };
                let max_vus = match int("maxVUs")? {
                    Some(n) if n < vus => {
                        return Err(problem(format!(
                            "the number of active VUs ({vus}) must be less than or equal to the number of maxVUs ({n})"
                        )))
                    }
                    other => other.unwrap_or(0),
                };
                let duration = match dur("duration")? {
                    None => {
                        return Err(problem(
                            "the duration should be specified, for infinite duration use 0"
                                .to_string(),
                        ))
                    }
                    Some(n) if n < 0 => {
                        return Err(problem("the duration shouldn't be negative".to_string()))
                    }
                    Some(n) => nanos_to_duration(n),
                };
                ExecutorConfig::ExternallyControlled {
                    vus: vus as u64,
                    max_vus: max_vus as u64,
                    duration,
                }
            }
        };

        Ok(Self {
            name: name.to_string(),
            executor,
            start_time,
            graceful_stop,
            exec,
            env,
            tags,
            options,
        })
    }

    /// The scenario as k6 writes it in `options.scenarios` (re-parseable by [`Self::from_json`]).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("executor".into(), Value::from(self.executor.name()));
        m.insert("startTime".into(), dur_json(self.start_time));
        if !matches!(self.executor, ExecutorConfig::ExternallyControlled { .. }) {
            m.insert("gracefulStop".into(), dur_json(self.graceful_stop));
        }
        m.insert("exec".into(), Value::from(self.exec.clone()));
        if !self.env.is_empty() {
            m.insert("env".into(), string_map_json(&self.env));
        }
        if !self.tags.is_empty() {
            m.insert("tags".into(), string_map_json(&self.tags));
        }
        if let Some(o) = &self.options {
            m.insert("options".into(), o.clone());
        }
        match &self.executor {
            ExecutorConfig::SharedIterations {
                vus,
                iterations,
                max_duration,
            }
            | ExecutorConfig::PerVuIterations {
                vus,
                iterations,
                max_duration,
            } => {
                m.insert("vus".into(), Value::from(*vus));
                m.insert("iterations".into(), Value::from(*iterations));
                m.insert("maxDuration".into(), dur_json(*max_duration));
            }
            ExecutorConfig::ConstantVus { vus, duration } => {
                m.insert("vus".into(), Value::from(*vus));
                m.insert("duration".into(), dur_json(*duration));
            }
            ExecutorConfig::RampingVus {
                start_vus,
                stages,
                graceful_ramp_down,
            } => {
                m.insert("startVUs".into(), Value::from(*start_vus));
                m.insert("stages".into(), stages_json(stages));
                m.insert("gracefulRampDown".into(), dur_json(*graceful_ramp_down));
            }
            ExecutorConfig::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                pre_allocated_vus,
                max_vus,
            } => {
                m.insert("rate".into(), Value::from(*rate));
                m.insert("timeUnit".into(), dur_json(*time_unit));
                m.insert("duration".into(), dur_json(*duration));
                m.insert("preAllocatedVUs".into(), Value::from(*pre_allocated_vus));
                m.insert("maxVUs".into(), Value::from(*max_vus));
            }
            ExecutorConfig::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                pre_allocated_vus,
                max_vus,
            } => {
                m.insert("startRate".into(), Value::from(*start_rate));
                m.insert("timeUnit".into(), dur_json(*time_unit));
                m.insert("stages".into(), stages_json(stages));
                m.insert("preAllocatedVUs".into(), Value::from(*pre_allocated_vus));
                m.insert("maxVUs".into(), Value::from(*max_vus));
            }
            ExecutorConfig::ExternallyControlled {
                vus,
                max_vus,
                duration,
            } => {
                m.insert("vus".into(), Value::from(*vus));
                m.insert("maxVUs".into(), Value::from(*max_vus));
                m.insert("duration".into(), dur_json(*duration));
            }
        }
        Value::Object(m)
    }

    /// k6's checks that need the whole scenario (ranges and relations between fields).
    /// Returns the problems in k6's wording, without the `scenario X has...` prefix.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.name.is_empty() {
            errors.push("scenario name can't be empty".to_string());
        } else if !self
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            errors.push(
                "the scenario name should contain only numbers, latin letters, underscores, and dashes"
                    .to_string(),
            );
        }
        if self.exec.is_empty() {
            errors.push("exec value cannot be empty".to_string());
        }
        let too_short = |what: &str, d: Duration| {
            (d < MIN_DURATION).then(|| {
                format!(
                    "the {what} must be at least {}, but is {}",
                    format_duration(MIN_DURATION),
                    format_duration(d)
                )
            })
        };
        match &self.executor {
            ExecutorConfig::SharedIterations {
                vus,
                iterations,
                max_duration,
            } => {
                if *vus == 0 {
                    errors.push(VUS_MORE_THAN_ZERO.to_string());
                }
                if iterations < vus {
                    errors.push(format!(
                        "the number of iterations ({iterations}) can't be less than the number of VUs ({vus})"
                    ));
                }
                errors.extend(too_short("maxDuration", *max_duration));
            }
            ExecutorConfig::PerVuIterations {
                vus,
                iterations,
                max_duration,
            } => {
                if *vus == 0 {
                    errors.push(VUS_MORE_THAN_ZERO.to_string());
                }
                if *iterations == 0 {
                    errors.push("the number of iterations must be more than 0".to_string());
                }
                errors.extend(too_short("maxDuration", *max_duration));
            }
            ExecutorConfig::ConstantVus { vus, duration } => {
                if *vus == 0 {
                    errors.push(VUS_MORE_THAN_ZERO.to_string());
                }
                errors.extend(too_short("duration", *duration));
            }
            ExecutorConfig::RampingVus {
                start_vus, stages, ..
            } => {
                if stages.is_empty() {
                    errors.push("at least one stage has to be specified".to_string());
                } else if stages
                    .iter()
                    .map(|s| s.target)
                    .max()
                    .unwrap_or(0)
                    .max(*start_vus)
                    == 0
                {
                    errors.push(
                        "either startVUs or one of the stages' target values must be greater than 0".to_string(),
                    );
                }
            }
            ExecutorConfig::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                pre_allocated_vus,
                max_vus,
            } => {
                if *rate == 0 {
                    errors.push("the iteration rate must be more than 0".to_string());
                }
                if time_unit.is_zero() {
                    errors.push("the timeUnit must be more than 0".to_string());
                }
                errors.extend(too_short("duration", *duration));
                if max_vus < pre_allocated_vus {
                    errors.push("maxVUs shouldn't be less than preAllocatedVUs".to_string());
                }
            }
            ExecutorConfig::RampingArrivalRate {
                time_unit,
                stages,
                pre_allocated_vus,
                max_vus,
                ..
            } => {
                if time_unit.is_zero() {
                    errors.push("the timeUnit must be more than 0".to_string());
                }
                if stages.is_empty() {
                    errors.push("at least one stage has to be specified".to_string());
                }
                if max_vus < pre_allocated_vus {
                    errors.push("maxVUs shouldn't be less than preAllocatedVUs".to_string());
                }
            }
            ExecutorConfig::ExternallyControlled { vus, max_vus, .. } => {
                if vus > max_vus {
                    errors.push(format!(
                        "the number of active VUs ({vus}) must be less than or equal to the number of maxVUs ({max_vus})"
                    ));
                }
                if !self.graceful_stop.is_zero() {
                    errors.push(
                        "gracefulStop is not supported by the externally controlled executor"
                            .to_string(),
                    );
                }
            }
        }
        errors
    }

    /// The executor's own length, without `gracefulStop` or `startTime`; zero for an
    /// externally-controlled scenario that runs until stopped.
    pub fn max_duration(&self) -> Duration {
        match &self.executor {
            ExecutorConfig::SharedIterations { max_duration, .. }
            | ExecutorConfig::PerVuIterations { max_duration, .. } => *max_duration,
            ExecutorConfig::ConstantVus { duration, .. }
            | ExecutorConfig::ConstantArrivalRate { duration, .. }
            | ExecutorConfig::ExternallyControlled { duration, .. } => *duration,
            ExecutorConfig::RampingVus { stages, .. }
            | ExecutorConfig::RampingArrivalRate { stages, .. } => stages_total(stages),
        }
    }

    /// The most VUs this scenario can use (before execution-segment scaling).
    pub fn max_vus(&self) -> u64 {
        match &self.executor {
            ExecutorConfig::SharedIterations { vus, .. }
            | ExecutorConfig::PerVuIterations { vus, .. }
            | ExecutorConfig::ConstantVus { vus, .. } => *vus,
            ExecutorConfig::RampingVus {
                start_vus, stages, ..
            } => stages.iter().map(|s| s.target).fold(*start_vus, u64::max),
            ExecutorConfig::ConstantArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            }
            | ExecutorConfig::RampingArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            } => (*pre_allocated_vus).max(*max_vus),
            ExecutorConfig::ExternallyControlled { max_vus, .. } => *max_vus,
        }
    }

    /// The trailing `(a, b, exec: x, startTime: y, gracefulStop: z)` of k6's descriptions.
    fn base_info(&self, facts: &[String]) -> String {
        let mut parts: Vec<String> = facts.to_vec();
        if self.exec != DEFAULT_EXEC {
            parts.push(format!("exec: {}", self.exec));
        }
        if !self.start_time.is_zero() {
            parts.push(format!("startTime: {}", format_duration(self.start_time)));
        }
        parts.push(format!(
            "gracefulStop: {}",
            format_duration(self.graceful_stop)
        ));
        format!(" ({})", parts.join(", "))
    }

    /// k6's one-line description from the banner, e.g. `2 looping VUs for 3s (gracefulStop: 30s)`.
    /// Values are unscaled (the whole test, not one execution segment).
    pub fn description(&self) -> String {
        let max_vus_fact = |pre: u64, max: u64| {
            if max > pre {
                format!("maxVUs: {pre}-{max}")
            } else {
                format!("maxVUs: {pre}")
            }
        };
        match &self.executor {
            ExecutorConfig::SharedIterations {
                vus,
                iterations,
                max_duration,
            } => format!(
                "{iterations} iterations shared among {vus} VUs{}",
                self.base_info(&[format!("maxDuration: {}", format_duration(*max_duration))])
            ),
            ExecutorConfig::PerVuIterations {
                vus,
                iterations,
                max_duration,
            } => format!(
                "{iterations} iterations for each of {vus} VUs{}",
                self.base_info(&[format!("maxDuration: {}", format_duration(*max_duration))])
            ),
            ExecutorConfig::ConstantVus { vus, duration } => {
                format!(
                    "{vus} looping VUs for {}{}",
                    format_duration(*duration),
                    self.base_info(&[])
                )
            }
            ExecutorConfig::RampingVus {
                stages,
                graceful_ramp_down,
                ..
            } => format!(
                "Up to {} looping VUs for {} over {} stages{}",
                self.max_vus(),
                format_duration(stages_total(stages)),
                stages.len(),
                self.base_info(&[format!(
                    "gracefulRampDown: {}",
                    format_duration(*graceful_ramp_down)
                )])
            ),
            ExecutorConfig::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                pre_allocated_vus,
                max_vus,
            } => {
                format!(
                    "{} iterations/s for {}{}",
                    rate_per_second(*rate, *time_unit),
                    format_duration(*duration),
                    self.base_info(&[max_vus_fact(*pre_allocated_vus, *max_vus)])
                )
            }
            ExecutorConfig::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                pre_allocated_vus,
                max_vus,
            } => {
                let peak = stages.iter().map(|s| s.target).fold(*start_rate, u64::max);
                format!(
                    "Up to {} iterations/s for {} over {} stages{}",
                    rate_per_second(peak, *time_unit),
                    format_duration(stages_total(stages)),
                    stages.len(),
                    self.base_info(&[max_vus_fact(*pre_allocated_vus, *max_vus)])
                )
            }
            ExecutorConfig::ExternallyControlled {
                vus,
                max_vus,
                duration,
            } => format!(
                "Externally controlled execution with {vus} VUs, {max_vus} max VUs, {} duration",
                format_duration(*duration)
            ),
        }
    }
}

fn stages_total(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}

/// `rate` per `time_unit` as iterations per second with two decimals, rounded half away from
/// zero like Go's `big.Rat.FloatString(2)` that k6 uses, so `"33.33"` matches to the digit.
fn rate_per_second(rate: u64, time_unit: Duration) -> String {
    let den = time_unit.as_nanos();
    if den == 0 {
        return "0.00".to_string();
    }
    let num = u128::from(rate) * 1_000_000_000 * 100;
    let mut hundredths = num / den;
    if (num % den) * 2 >= den {
        hundredths += 1;
    }
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

fn dur_json(d: Duration) -> Value {
    Value::String(format_duration(d))
}

fn string_map_json(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

fn string_list_json(l: &[String]) -> Value {
    Value::Array(l.iter().map(|s| Value::from(s.clone())).collect())
}

fn stages_json(stages: &[Stage]) -> Value {
    Value::Array(
        stages
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("duration".into(), dur_json(s.duration));
                m.insert("target".into(), Value::from(s.target));
                Value::Object(m)
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// DNS.

impl DnsTtl {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "inf" {
            return Ok(DnsTtl::Infinite);
        }
        parse_duration(text)
            .map(DnsTtl::For)
            .map_err(|e| e.to_string())
    }

    fn to_text(self) -> String {
        match self {
            DnsTtl::Infinite => "inf".to_string(),
            DnsTtl::For(d) => format_duration(d),
        }
    }
}

impl DnsSelect {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "first" => Some(DnsSelect::First),
            "random" => Some(DnsSelect::Random),
            "roundRobin" => Some(DnsSelect::RoundRobin),
            _ => None,
        }
    }

    /// k6's spelling of the value.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsSelect::First => "first",
            DnsSelect::Random => "random",
            DnsSelect::RoundRobin => "roundRobin",
        }
    }
}

impl DnsPolicy {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "preferIPv4" => Some(DnsPolicy::PreferIpv4),
            "preferIPv6" => Some(DnsPolicy::PreferIpv6),
            "onlyIPv4" => Some(DnsPolicy::OnlyIpv4),
            "onlyIPv6" => Some(DnsPolicy::OnlyIpv6),
            "any" => Some(DnsPolicy::Any),
            _ => None,
        }
    }

    /// k6's spelling of the value.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsPolicy::PreferIpv4 => "preferIPv4",
            DnsPolicy::PreferIpv6 => "preferIPv6",
            DnsPolicy::OnlyIpv4 => "onlyIPv4",
            DnsPolicy::OnlyIpv6 => "onlyIPv6",
            DnsPolicy::Any => "any",
        }
    }
}

impl DnsOptions {
    /// Sets one `key=value` part; `source` names where it came from for error messages.
    fn set(&mut self, key: &str, value: &str, source: &str) -> Result<(), OptionsError> {
        match key {
            "ttl" => {
                self.ttl = Some(DnsTtl::parse(value).map_err(|e| {
                    OptionsError::new(format!(
                        "{source}.ttl must be \"inf\", \"0\" or a duration like \"5m\" ({e})"
                    ))
                })?)
            }
            "select" => {
                self.select = Some(DnsSelect::parse(value).ok_or_else(|| {
                    OptionsError::new(format!(
                        "{source}.select must be one of first, random, roundRobin, got \"{value}\""
                    ))
                })?)
            }
            "policy" => {
                self.policy = Some(DnsPolicy::parse(value).ok_or_else(|| {
                    OptionsError::new(format!(
                        "{source}.policy must be one of preferIPv4, preferIPv6, onlyIPv4, onlyIPv6, any, got \"{value}\""
                    ))
                })?)
            }
            other => {
                return Err(OptionsError::new(format!(
                    "{source} has an unknown field \"{other}\"; valid fields are ttl, select and policy"
                )))
            }
        }
        Ok(())
    }

    fn from_json(v: &Value, path: &str) -> Result<Option<Self>, OptionsError> {
        let obj = match v {
            Value::Null => return Ok(None),
            Value::Object(obj) => obj,
            _ => return Err(type_err(path, "an object like {ttl, select, policy}", v)),
        };
        let mut dns = DnsOptions::default();
        for (key, value) in obj {
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                // A bare number of milliseconds, as for other durations.
                Value::Number(n) if key == "ttl" => n.to_string(),
                other => return Err(type_err(&format!("{path}.{key}"), "a string", other)),
            };
            dns.set(key, &text, path)?;
        }
        Ok(Some(dns))
    }

    fn to_json(self) -> Value {
        let mut m = Map::new();
        if let Some(t) = self.ttl {
            m.insert("ttl".into(), Value::from(t.to_text()));
        }
        if let Some(s) = self.select {
            m.insert("select".into(), Value::from(s.as_str()));
        }
        if let Some(p) = self.policy {
            m.insert("policy".into(), Value::from(p.as_str()));
        }
        Value::Object(m)
    }
}

// ---------------------------------------------------------------------------------------------
// Options.

/// Option keys Volley models; other keys of the script's object survive only through `raw`.
const KNOWN_KEYS: [&str; 45] = [
    "vus",
    "duration",
    "iterations",
    "stages",
    "scenarios",
    "setupTimeout",
    "teardownTimeout",
    "summaryTimeout",
    "discardResponseBodies",
    "noConnectionReuse",
    "noVUConnectionReuse",
    "userAgent",
    "insecureSkipTLSVerify",
    "summaryTrendStats",
    "summaryTimeUnit",
    "tags",
    "thresholds",
    "executionSegment",
    "executionSegmentSequence",
    "maxRedirects",
    "batch",
    "batchPerHost",
    "rps",
    "httpDebug",
    "throw",
    "minIterationDuration",
    "noCookiesReset",
    "localIPs",
    "hosts",
    "dns",
    "paused",
    "linger",
    "noSetup",
    "noTeardown",
    "blacklistIPs",
    "blockHostnames",
    "systemTags",
    "tlsVersion",
    "tlsCipherSuites",
    "tlsAuth",
    "includeSystemEnvVars",
    "consoleOutput",
    "metricSamplesBufferSize",
    "cloud",
    "ext",
];

/// Parses stages written as `DURATION:TARGET[,DURATION:TARGET...]`, the syntax of k6's
/// `--stage` flag and `K6_STAGES`; `source` names the flag or variable in errors.
pub fn parse_stages(text: &str, source: &str) -> Result<Vec<Stage>, OptionsError> {
    let hint = "use DURATION:TARGET stages separated by commas, like \"30s:10,1m:0\"";
    let mut stages = Vec::new();
    for (i, part) in text.split(',').map(str::trim).enumerate() {
        let n = i + 1;
        let (dur_text, target_text) = part.split_once(':').ok_or_else(|| {
            OptionsError::new(format!(
                "{source}: stage {n} (\"{part}\") doesn't have a target; {hint}"
            ))
        })?;
        let duration = parse_duration(dur_text.trim()).map_err(|e| {
            OptionsError::new(format!(
                "{source}: stage {n} has an invalid duration ({e}); {hint}"
            ))
        })?;
        let target = target_text.trim().parse::<u64>().map_err(|_| {
            OptionsError::new(format!(
                "{source}: the target of stage {n} must be a non-negative integer, got \"{}\"; {hint}",
                target_text.trim()
            ))
        })?;
        stages.push(Stage { duration, target });
    }
    Ok(stages)
}

/// Go's `strconv.ParseBool`, which k6 uses for boolean env vars.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `K6_TAGS`: `NAME=VALUE` pairs separated by commas (`NAME:VALUE` also works).
fn env_tags(text: &str) -> Result<BTreeMap<String, String>, OptionsError> {
    let mut tags = BTreeMap::new();
    for pair in split_list(text) {
        let (k, v) = pair
            .split_once('=')
            .or_else(|| pair.split_once(':'))
            .ok_or_else(|| {
                OptionsError::new(format!(
                    "K6_TAGS must be NAME=VALUE pairs separated by commas, got \"{pair}\""
                ))
            })?;
        tags.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(tags)
}

/// `K6_HOSTS`: a JSON object of host name to address.
fn env_hosts(text: &str) -> Result<BTreeMap<String, String>, OptionsError> {
    let parsed: Value = serde_json::from_str(text).map_err(|e| {
        OptionsError::new(format!(
            "K6_HOSTS must be a JSON object like {{\"test.k6.io\": \"1.2.3.4\"}} ({e})"
        ))
    })?;
    Ok(read_string_map(&parsed, "K6_HOSTS")?.unwrap_or_default())
}

/// `K6_DNS`: `ttl=5m,select=random,policy=preferIPv4`, any subset.
fn env_dns(text: &str) -> Result<DnsOptions, OptionsError> {
    let mut dns = DnsOptions::default();
    for part in split_list(text) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            OptionsError::new(format!(
                "K6_DNS must look like \"ttl=5m,select=random,policy=preferIPv4\", got \"{part}\""
            ))
        })?;
        dns.set(k.trim(), v.trim(), "K6_DNS")?;
    }
    Ok(dns)
}

impl Options {
    /// Reads the script's exported `options` (the engine's `JSON.stringify` of it). Unknown
    /// keys are ignored like k6 does, but kept in [`Options::raw`]; wrong types are errors
    /// naming the option, e.g. `options.vus must be a non-negative integer, got "ten"`.
    pub fn from_script_json(v: &Value) -> Result<Options, OptionsError> {
        let obj = match v {
            Value::Null => return Ok(Options::default()),
            Value::Object(obj) => obj,
            _ => return Err(type_err("options", "an object", v)),
        };
        let get = |key: &str| obj.get(key).unwrap_or(&NULL);
        let path = |key: &str| format!("options.{key}");
        let mut o = Options {
            raw: Some(v.clone()),
            ..Options::default()
        };

        o.vus = read_i64(get("vus"), &path("vus"))?;
        o.iterations = read_i64(get("iterations"), &path("iterations"))?;
        o.duration = match read_signed_duration(get("duration"), &path("duration"))? {
            Some(n) if n < 0 => return Err(OptionsError::new(DURATION_MORE_THAN_ZERO)),
            other => other.map(nanos_to_duration),
        };
        o.stages = match read_stages(get("stages"), &path("stages")) {
            Ok(s) => s,
            Err(StagesError::Type(e)) => return Err(e),
            Err(StagesError::Problem(p)) => {
                return Err(OptionsError::new(format!(
                    "options.stages: {p}; each stage needs a duration and a target, like {{duration: '30s', target: 10}}"
                )))
            }
        };
        o.scenarios = match get("scenarios") {
            Value::Null => None,
            Value::Object(map) => Some(
                map.iter()
                    .map(|(name, sc)| {
                        ScenarioConfig::from_json(name, sc).map(|c| (name.clone(), c))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            other => {
                return Err(type_err(
                    "options.scenarios",
                    "an object of named scenarios",
                    other,
                ))
            }
        };
        o.setup_timeout = read_duration(get("setupTimeout"), &path("setupTimeout"))?;
        o.teardown_timeout = read_duration(get("teardownTimeout"), &path("teardownTimeout"))?;
        o.summary_timeout = read_duration(get("summaryTimeout"), &path("summaryTimeout"))?;
        o.discard_response_bodies =
            read_bool(get("discardResponseBodies"), &path("discardResponseBodies"))?;
        o.no_connection_reuse = read_bool(get("noConnectionReuse"), &path("noConnectionReuse"))?;
        o.no_vu_connection_reuse =
            read_bool(get("noVUConnectionReuse"), &path("noVUConnectionReuse"))?;
        o.user_agent = read_string(get("userAgent"), &path("userAgent"))?;
        o.insecure_skip_tls_verify =
            read_bool(get("insecureSkipTLSVerify"), &path("insecureSkipTLSVerify"))?;
        o.summary_trend_stats =
            read_string_list(get("summaryTrendStats"), &path("summaryTrendStats"))?;
        o.summary_time_unit = read_string(get("summaryTimeUnit"), &path("summaryTimeUnit"))?;
        o.tags = read_string_map(get("tags"), &path("tags"))?;
        o.thresholds = read_raw(get("thresholds"));
        o.execution_segment = read_string(get("executionSegment"), &path("executionSegment"))?;
        o.execution_segment_sequence = read_string(
            get("executionSegmentSequence"),
            &path("executionSegmentSequence"),
        )?;
        o.max_redirects = read_u64(get("maxRedirects"), &path("maxRedirects"))?;
        o.batch = read_u64(get("batch"), &path("batch"))?;
        o.batch_per_host = read_u64(get("batchPerHost"), &path("batchPerHost"))?;
        o.rps = read_u64(get("rps"), &path("rps"))?;
        o.http_debug = match get("httpDebug") {
            // `httpDebug: true` is what `--http-debug` without a value means.
            Value::Bool(true) => Some("headers".to_string()),
            Value::Bool(false) => Some(String::new()),
            other => read_string(other, &path("httpDebug"))?,
        };
        o.throw = read_bool(get("throw"), &path("throw"))?;
        o.min_iteration_duration =
            read_duration(get("minIterationDuration"), &path("minIterationDuration"))?;
        o.no_cookies_reset = read_bool(get("noCookiesReset"), &path("noCookiesReset"))?;
        o.local_ips = read_string(get("localIPs"), &path("localIPs"))?;
        o.hosts = read_string_map(get("hosts"), &path("hosts"))?;
        o.dns = DnsOptions::from_json(get("dns"), &path("dns"))?;
        o.paused = read_bool(get("paused"), &path("paused"))?;
        o.linger = read_bool(get("linger"), &path("linger"))?;
        o.no_setup = read_bool(get("noSetup"), &path("noSetup"))?;
        o.no_teardown = read_bool(get("noTeardown"), &path("noTeardown"))?;
        o.blacklist_ips = read_string_list(get("blacklistIPs"), &path("blacklistIPs"))?;
        o.block_hostnames = read_string_list(get("blockHostnames"), &path("blockHostnames"))?;
        o.system_tags = read_string_list(get("systemTags"), &path("systemTags"))?;
        o.tls_version = match get("tlsVersion") {
            Value::Null => None,
            v @ (Value::String(_) | Value::Object(_)) => Some(v.clone()),
            other => {
                return Err(type_err(
                    "options.tlsVersion",
                    "a string or {min, max}",
                    other,
                ))
            }
        };
        o.tls_cipher_suites = read_string_list(get("tlsCipherSuites"), &path("tlsCipherSuites"))?;
        o.tls_auth = match get("tlsAuth") {
            Value::Null => None,
            v @ Value::Array(_) => Some(v.clone()),
            other => {
                return Err(type_err(
                    "options.tlsAuth",
                    "an array of {domains, cert, key}",
                    other,
                ))
            }
        };
        o.include_system_env_vars =
            read_bool(get("includeSystemEnvVars"), &path("includeSystemEnvVars"))?;
        o.console_output = read_string(get("consoleOutput"), &path("consoleOutput"))?;
        o.metric_samples_buffer_size = read_u64(
            get("metricSamplesBufferSize"),
            &path("metricSamplesBufferSize"),
        )?;
        o.cloud = read_raw(get("cloud"));
        o.ext = read_raw(get("ext"));
        Ok(o)
    }

    /// Reads k6's `K6_*` environment variables (e.g. `K6_VUS`, `K6_DURATION`,
    /// `K6_STAGES=30s:10,1m:0`, `K6_SETUP_TIMEOUT`). Empty values count as unset.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Options, OptionsError> {
        let get = |key: &str| env.get(key).map(|v| v.as_str()).filter(|v| !v.is_empty());
        let int = |key: &str| -> Result<Option<i64>, OptionsError> {
            get(key)
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| {
                        OptionsError::new(format!("{key} must be an integer, got \"{v}\""))
                    })
                })
                .transpose()
        };
        let uint = |key: &str| -> Result<Option<u64>, OptionsError> {
            get(key)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        OptionsError::new(format!(
                            "{key} must be a non-negative integer, got \"{v}\""
                        ))
                    })
                })
                .transpose()
        };
        let boolean = |key: &str| -> Result<Option<bool>, OptionsError> {
            get(key)
                .map(|v| {
                    parse_go_bool(v.trim()).ok_or_else(|| {
                        OptionsError::new(format!(
                            "{key} must be true or false (or 1/0), got \"{v}\""
                        ))
                    })
                })
                .transpose()
        };
        let dur = |key: &str| -> Result<Option<Duration>, OptionsError> {
            get(key)
                .map(|v| {
                    parse_duration(v.trim()).map_err(|e| {
                        OptionsError::new(format!(
                            "{key} is not a valid duration ({e}); use a value like \"30s\""
                        ))
                    })
                })
                .transpose()
        };
        let string = |key: &str| get(key).map(str::to_string);
        let list = |key: &str| get(key).map(split_list);

        Ok(Options {
            vus: int("K6_VUS")?,
            iterations: int("K6_ITERATIONS")?,
            duration: match get("K6_DURATION") {
                Some(v) => match parse_duration_signed(v.trim()) {
                    Ok(n) if n < 0 => return Err(OptionsError::new(DURATION_MORE_THAN_ZERO)),
                    Ok(n) => Some(nanos_to_duration(n)),
                    Err(e) => {
                        return Err(OptionsError::new(format!(
                            "K6_DURATION is not a valid duration ({e}); use a value like \"30s\""
                        )))
                    }
                },
                None => None,
            },
            // k6 reads K6_STAGES; K6_STAGE matches the `--stage` flag and old docs.
            stages: match (get("K6_STAGES"), get("K6_STAGE")) {
                (Some(v), _) => Some(parse_stages(v, "K6_STAGES")?),
                (None, Some(v)) => Some(parse_stages(v, "K6_STAGE")?),
                (None, None) => None,
            },
            setup_timeout: dur("K6_SETUP_TIMEOUT")?,
            teardown_timeout: dur("K6_TEARDOWN_TIMEOUT")?,
            summary_timeout: dur("K6_SUMMARY_TIMEOUT")?,
            discard_response_bodies: boolean("K6_DISCARD_RESPONSE_BODIES")?,
            no_connection_reuse: boolean("K6_NO_CONNECTION_REUSE")?,
            no_vu_connection_reuse: boolean("K6_NO_VU_CONNECTION_REUSE")?,
            user_agent: string("K6_USER_AGENT"),
            insecure_skip_tls_verify: boolean("K6_INSECURE_SKIP_TLS_VERIFY")?,
            summary_trend_stats: list("K6_SUMMARY_TREND_STATS"),
            summary_time_unit: string("K6_SUMMARY_TIME_UNIT"),
            tags: get("K6_TAGS").map(env_tags).transpose()?,
            execution_segment: string("K6_EXECUTION_SEGMENT"),
            execution_segment_sequence: string("K6_EXECUTION_SEGMENT_SEQUENCE"),
            max_redirects: uint("K6_MAX_REDIRECTS")?,
            batch: uint("K6_BATCH")?,
            batch_per_host: uint("K6_BATCH_PER_HOST")?,
            rps: uint("K6_RPS")?,
            http_debug: get("K6_HTTP_DEBUG").map(|v| match parse_go_bool(v) {
                Some(true) => "headers".to_string(),
                Some(false) => String::new(),
                None => v.to_string(),
            }),
            throw: boolean("K6_THROW")?,
            min_iteration_duration: dur("K6_MIN_ITERATION_DURATION")?,
            no_cookies_reset: boolean("K6_NO_COOKIES_RESET")?,
            local_ips: string("K6_LOCAL_IPS"),
            hosts: get("K6_HOSTS").map(env_hosts).transpose()?,
            dns: get("K6_DNS").map(env_dns).transpose()?,
            paused: boolean("K6_PAUSED")?,
            linger: boolean("K6_LINGER")?,
            no_setup: boolean("K6_NO_SETUP")?,
            no_teardown: boolean("K6_NO_TEARDOWN")?,
            blacklist_ips: list("K6_BLACKLIST_IPS"),
            block_hostnames: list("K6_BLOCK_HOSTNAMES"),
            system_tags: list("K6_SYSTEM_TAGS"),
            tls_version: get("K6_TLS_VERSION").map(|v| Value::from(v.to_string())),
            tls_cipher_suites: list("K6_TLS_CIPHER_SUITES"),
            include_system_env_vars: boolean("K6_INCLUDE_SYSTEM_ENV_VARS")?,
            console_output: string("K6_CONSOLE_OUTPUT"),
            metric_samples_buffer_size: uint("K6_METRIC_SAMPLES_BUFFER_SIZE")?,
            ..Options::default()
        })
    }

    /// Merges a higher-priority layer on top of this one (call it for env, then CLI).
    ///
    /// As in k6, setting any of `duration`, `iterations`, `stages` or `scenarios` in a higher
    /// layer discards all four from the lower layers, so `--duration 10s` replaces a script's
    /// scenarios instead of conflicting with them. `vus` alone does not.
    pub fn apply(&mut self, higher: &Options) {
        if higher.duration.is_some()
            || higher.iterations.is_some()
            || higher.stages.is_some()
            || higher.scenarios.is_some()
        {
            self.duration = None;
            self.iterations = None;
            self.stages = None;
            self.scenarios = None;
        }
        macro_rules! take {
            ($($field:ident),* $(,)?) => {
                $( if higher.$field.is_some() { self.$field = higher.$field.clone(); } )*
            };
        }
        take!(
            vus,
            duration,
            iterations,
            stages,
            scenarios,
            setup_timeout,
            teardown_timeout,
            summary_timeout,
            discard_response_bodies,
            no_connection_reuse,
            no_vu_connection_reuse,
            user_agent,
            insecure_skip_tls_verify,
            summary_trend_stats,
            summary_time_unit,
            tags,
            thresholds,
            execution_segment,
            execution_segment_sequence,
            max_redirects,
            batch,
            batch_per_host,
            rps,
            http_debug,
            throw,
            min_iteration_duration,
            no_cookies_reset,
            local_ips,
            hosts,
            paused,
            linger,
            no_setup,
            no_teardown,
            blacklist_ips,
            block_hostnames,
            system_tags,
            tls_version,
            tls_cipher_suites,
            tls_auth,
            include_system_env_vars,
            console_output,
            metric_samples_buffer_size,
            cloud,
            ext,
        );
        if let Some(h) = higher.dns {
            let d = self.dns.get_or_insert_with(DnsOptions::default);
            d.ttl = h.ttl.or(d.ttl);
            d.select = h.select.or(d.select);
            d.policy = h.policy.or(d.policy);
        }
        self.raw = match (self.raw.take(), &higher.raw) {
            (Some(Value::Object(mut low)), Some(Value::Object(high))) => {
                for (k, v) in high {
                    low.insert(k.clone(), v.clone());
                }
                Some(Value::Object(low))
            }
            (low, None) => low,
            (_, Some(high)) => Some(high.clone()),
        };
    }

    /// The options in k6's JSON shape (camelCase keys, durations as Go strings), only the
    /// fields that are set, plus unknown keys from [`Options::raw`]. Re-parseable by
    /// [`Options::from_script_json`].
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(Value::Object(raw)) = &self.raw {
            for (k, v) in raw {
                if !KNOWN_KEYS.contains(&k.as_str()) {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        let mut put = |key: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(key.to_string(), v);
            }
        };
        put("vus", self.vus.map(Value::from));
        put("duration", self.duration.map(dur_json));
        put("iterations", self.iterations.map(Value::from));
        put("stages", self.stages.as_deref().map(stages_json));
        put(
            "scenarios",
            self.scenarios.as_ref().map(|s| {
                Value::Object(
                    s.iter()
                        .map(|(name, sc)| (name.clone(), sc.to_json()))
                        .collect(),
                )
            }),
        );
        put("setupTimeout", self.setup_timeout.map(dur_json));
        put("teardownTimeout", self.teardown_timeout.map(dur_json));
        put("summaryTimeout", self.summary_timeout.map(dur_json));
        put(
            "discardResponseBodies",
            self.discard_response_bodies.map(Value::from),
        );
        put(
            "noConnectionReuse",
            self.no_connection_reuse.map(Value::from),
        );
        put(
            "noVUConnectionReuse",
            self.no_vu_connection_reuse.map(Value::from),
        );
        put("userAgent", self.user_agent.clone().map(Value::from));
        put(
            "insecureSkipTLSVerify",
            self.insecure_skip_tls_verify.map(Value::from),
        );
        put(
            "summaryTrendStats",
            self.summary_trend_stats.as_deref().map(string_list_json),
        );
        put(
            "summaryTimeUnit",
            self.summary_time_unit.clone().map(Value::from),
        );
        put("tags", self.tags.as_ref().map(string_map_json));
        put("thresholds", self.thresholds.clone());
        put(
            "executionSegment",
            self.execution_segment.clone().map(Value::from),
        );
        put(
            "executionSegmentSequence",
            self.execution_segment_sequence.clone().map(Value::from),
        );
        put("maxRedirects", self.max_redirects.map(Value::from));
        put("batch", self.batch.map(Value::from));
        put("batchPerHost", self.batch_per_host.map(Value::from));
        put("rps", self.rps.map(Value::from));
        put("httpDebug", self.http_debug.clone().map(Value::from));
        put("throw", self.throw.map(Value::from));
        put(
            "minIterationDuration",
            self.min_iteration_duration.map(dur_json),
        );
        put("noCookiesReset", self.no_cookies_reset.map(Value::from));
        put("localIPs", self.local_ips.clone().map(Value::from));
        put("hosts", self.hosts.as_ref().map(string_map_json));
        put("dns", self.dns.map(DnsOptions::to_json));
        put("paused", self.paused.map(Value::from));
        put("linger", self.linger.map(Value::from));
        put("noSetup", self.no_setup.map(Value::from));
        put("noTeardown", self.no_teardown.map(Value::from));
        put(
            "blacklistIPs",
            self.blacklist_ips.as_deref().map(string_list_json),
        );
        put(
            "blockHostnames",
            self.block_hostnames.as_deref().map(string_list_json),
        );
        put(
            "systemTags",
            self.system_tags.as_deref().map(string_list_json),
        );
        put("tlsVersion", self.tls_version.clone());
        put(
            "tlsCipherSuites",
            self.tls_cipher_suites.as_deref().map(string_list_json),
        );
        put("tlsAuth", self.tls_auth.clone());
        put(
            "includeSystemEnvVars",
            self.include_system_env_vars.map(Value::from),
        );
        put(
            "consoleOutput",
            self.console_output.clone().map(Value::from),
        );
        put(
            "metricSamplesBufferSize",
            self.metric_samples_buffer_size.map(Value::from),
        );
        put("cloud", self.cloud.clone());
        put("ext", self.ext.clone());
        Value::Object(m)
    }

    /// Turns the shortcut options into scenarios (k6's rules, v1.1.0). Conflicts are plain
    /// errors; negative shortcut values are reported as problems of the `default` scenario.
    fn derive_scenarios(
        &self,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<ScenarioConfig>, OptionsError> {
        let has_stages = self.stages.as_ref().is_some_and(|s| !s.is_empty());
        let conflict = |shortcut: &str| {
            OptionsError::new(format!(
                "using an execution configuration shortcut (`{shortcut}`) and `scenarios` simultaneously is not allowed"
            ))
        };
        let default_problems = |problems: Vec<String>| {
            OptionsError::config_problems(
                &problems
                    .into_iter()
                    .map(|p| {
                        format!("scenario {DEFAULT_SCENARIO_NAME} has configuration errors: {p}")
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let vus = self.vus.unwrap_or(1);
        let scenario = |executor| ScenarioConfig::new(DEFAULT_SCENARIO_NAME, executor);

        if let Some(iterations) = self.iterations {
            if has_stages {
                return Err(OptionsError::new(
                    "using multiple execution config shortcuts (`iterations` and `stages`) simultaneously is not allowed",
                ));
            }
            if self.scenarios.is_some() {
                return Err(conflict("iterations"));
            }
            let mut problems = Vec::new();
            if vus < 0 {
                problems.push(VUS_MORE_THAN_ZERO.to_string());
            }
            if iterations < 0 {
                problems.push(format!(
                    "the number of iterations ({iterations}) can't be less than the number of VUs ({vus})"
                ));
            }
            if !problems.is_empty() {
                return Err(default_problems(problems));
            }
            return Ok(vec![scenario(ExecutorConfig::SharedIterations {
                vus: vus as u64,
                iterations: iterations as u64,
                max_duration: self.duration.unwrap_or(DEFAULT_MAX_DURATION),
            })]);
        }
        if let Some(duration) = self.duration {
            if has_stages {
                return Err(OptionsError::new(
                    "using multiple execution config shortcuts (`duration` and `stages`) simultaneously is not allowed",
                ));
            }
            if self.scenarios.is_some() {
                return Err(conflict("duration"));
            }
            if duration.is_zero() {
                return Err(OptionsError::new(DURATION_MORE_THAN_ZERO));
            }
            if vus < 0 {
                return Err(default_problems(vec![VUS_MORE_THAN_ZERO.to_string()]));
            }
            return Ok(vec![scenario(ExecutorConfig::ConstantVus {
                vus: vus as u64,
                duration,
            })]);
        }
        if has_stages {
            if self.scenarios.is_some() {
                return Err(conflict("stages"));
            }
            if vus < 0 {
                return Err(default_problems(vec![
                    "the number of start VUs shouldn't be negative".to_string(),
                ]));
            }
            return Ok(vec![scenario(ExecutorConfig::RampingVus {
                start_vus: vus as u64,
                stages: self.stages.clone().unwrap_or_default(),
                graceful_ramp_down: DEFAULT_GRACEFUL_RAMP_DOWN,
            })]);
        }
        if let Some(scenarios) = self.scenarios.as_ref().filter(|s| !s.is_empty()) {
            return Ok(scenarios.iter().map(|(_, sc)| sc.clone()).collect());
        }
        if let Some(v) = self.vus.filter(|v| *v != 1) {
            warnings.push(format!(
                "the `vus={v}` option will be ignored, it only works in conjunction with `iterations`, `duration`, or `stages`"
            ));
        }
        if self.stages.as_ref().is_some_and(|s| s.is_empty()) {
            warnings.push(
                "`stages` was explicitly set to an empty value, running the script with 1 iteration in 1 VU".to_string(),
            );
        }
        if self.scenarios.as_ref().is_some_and(|s| s.is_empty()) {
            warnings.push(
                "`scenarios` was explicitly set to an empty value, running the script with 1 iteration in 1 VU"
                    .to_string(),
            );
        }
        Ok(vec![scenario(ExecutorConfig::PerVuIterations {
            vus: 1,
            iterations: 1,
            max_duration: DEFAULT_MAX_DURATION,
        })])
    }

    /// Applies k6's shortcut rules, validates everything and fills in defaults.
    ///
    /// Shortcuts: `iterations` (+`vus`, +`duration` as `maxDuration`) → shared-iterations;
    /// `duration` (+`vus`) → constant-vus; `stages` (+`vus` as `startVUs`) → ramping-vus;
    /// none of them and no scenarios → per-vu-iterations with 1 VU × 1 iteration. All are named
    /// `default`. Errors read like k6's (`There were problems with the specified script
    /// configuration:\n\t- scenario default has configuration errors: ...`).
    pub fn resolve(&self) -> Result<ResolvedOptions, OptionsError> {
        let mut warnings = Vec::new();
        let mut scenarios = self.derive_scenarios(&mut warnings)?;
        let mut problems = Vec::new();
        for sc in &scenarios {
            for e in sc.validate() {
                problems.push(format!(
                    "scenario {} has configuration errors: {e}",
                    sc.name
                ));
            }
        }

        let summary_trend_stats = self.summary_trend_stats.clone().unwrap_or_else(|| {
            DEFAULT_SUMMARY_TREND_STATS
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        for stat in &summary_trend_stats {
            if !is_valid_trend_stat(stat) {
                problems.push(format!(
                    "summaryTrendStats: stat '{stat}' is unknown; use avg, min, med, max, count or p(N) with 0 <= N <= 100"
                ));
            }
        }
        let summary_time_unit = self.summary_time_unit.clone().filter(|u| !u.is_empty());
        if let Some(unit) = &summary_time_unit {
            if !["s", "ms", "us"].contains(&unit.as_str()) {
                problems.push(format!(
                    "summaryTimeUnit: invalid unit '{unit}'; use 's', 'ms' or 'us'"
                ));
            }
        }
        let http_debug = match self.http_debug.as_deref().unwrap_or("") {
            "" => HttpDebug::Off,
            "headers" => HttpDebug::Headers,
            "full" => HttpDebug::Full,
            other => {
                problems.push(format!(
                    "httpDebug: invalid value '{other}'; use \"headers\" or \"full\""
                ));
                HttpDebug::Off
            }
        };
        let system_tags = self
            .system_tags
            .clone()
            .unwrap_or_else(|| DEFAULT_SYSTEM_TAGS.iter().map(|s| s.to_string()).collect());
        for tag in &system_tags {
            if !ALL_SYSTEM_TAGS.contains(&tag.as_str()) {
                problems.push(format!(
                    "systemTags: unknown system tag '{tag}'; valid tags are: {}",
                    ALL_SYSTEM_TAGS.join(", ")
                ));
            }
        }
        if !problems.is_empty() {
            return Err(OptionsError::config_problems(&problems));
        }

        // k6 lists (and starts) scenarios by start time, then name.
        scenarios.sort_by(|a, b| {
            a.start_time
                .cmp(&b.start_time)
                .then_with(|| a.name.cmp(&b.name))
        });
        let dns = self.dns.unwrap_or_default();
        Ok(ResolvedOptions {
            scenarios,
            setup_timeout: self.setup_timeout.unwrap_or(DEFAULT_SETUP_TIMEOUT),
            teardown_timeout: self.teardown_timeout.unwrap_or(DEFAULT_TEARDOWN_TIMEOUT),
            summary_timeout: self.summary_timeout.unwrap_or(DEFAULT_SUMMARY_TIMEOUT),
            summary_trend_stats,
            summary_time_unit,
            tags: self.tags.clone().unwrap_or_default(),
            thresholds: self.thresholds.clone(),
            execution_segment: self.execution_segment.clone(),
            execution_segment_sequence: self.execution_segment_sequence.clone(),
            discard_response_bodies: self.discard_response_bodies.unwrap_or(false),
            no_connection_reuse: self.no_connection_reuse.unwrap_or(false),
            no_vu_connection_reuse: self.no_vu_connection_reuse.unwrap_or(false),
            user_agent: self
                .user_agent
                .clone()
                .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify.unwrap_or(false),
            max_redirects: self.max_redirects.unwrap_or(10),
            batch: self.batch.unwrap_or(20),
            batch_per_host: self.batch_per_host.unwrap_or(6),
            rps: self.rps.filter(|r| *r > 0),
            http_debug,
            throw: self.throw.unwrap_or(false),
            min_iteration_duration: self.min_iteration_duration.unwrap_or(Duration::ZERO),
            no_cookies_reset: self.no_cookies_reset.unwrap_or(false),
            local_ips: self.local_ips.clone(),
            hosts: self.hosts.clone().unwrap_or_default(),
            dns: ResolvedDns {
                ttl: dns.ttl.unwrap_or(DnsTtl::For(Duration::from_secs(300))),
                select: dns.select.unwrap_or(DnsSelect::Random),
                policy: dns.policy.unwrap_or(DnsPolicy::PreferIpv4),
            },
            paused: self.paused.unwrap_or(false),
            linger: self.linger.unwrap_or(false),
            no_setup: self.no_setup.unwrap_or(false),
            no_teardown: self.no_teardown.unwrap_or(false),
            blacklist_ips: self.blacklist_ips.clone().unwrap_or_default(),
            block_hostnames: self.block_hostnames.clone().unwrap_or_default(),
            system_tags,
            tls_version: self.tls_version.clone(),
            tls_cipher_suites: self.tls_cipher_suites.clone(),
            tls_auth: self.tls_auth.clone(),
            include_system_env_vars: self.include_system_env_vars.unwrap_or(false),
            console_output: self.console_output.clone(),
            metric_samples_buffer_size: self.metric_samples_buffer_size.unwrap_or(1000),
            warnings,
            options: self.clone(),
        })
    }
}

/// `avg`, `min`, `med`, `max`, `count` or `p(N)` with `0 <= N <= 100`.
fn is_valid_trend_stat(stat: &str) -> bool {
    if ["avg", "min", "med", "max", "count"].contains(&stat) {
        return true;
    }
    stat.strip_prefix("p(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| (0.0..=100.0).contains(&n))
}

impl ResolvedOptions {
    /// The scenario with this name, if any.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioConfig> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The banner's "max duration (incl. graceful stop)": the latest any scenario can end.
    pub fn max_duration_incl_graceful_stop(&self) -> Duration {
        self.scenarios
            .iter()
            .map(|s| s.start_time + s.max_duration() + s.graceful_stop)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The consolidated options for archives: the set options plus the derived `scenarios`
    /// (in place of the shortcuts, so re-reading them resolves to the same run).
    pub fn to_json(&self) -> Value {
        let mut opts = self.options.clone();
        opts.vus = None;
        opts.duration = None;
        opts.iterations = None;
        opts.stages = None;
        opts.scenarios = Some(
            self.scenarios
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
        );
        opts.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn resolve(v: Value) -> Result<ResolvedOptions, OptionsError> {
        Options::from_script_json(&v)?.resolve()
    }

    fn only(r: &ResolvedOptions) -> &ScenarioConfig {
        assert_eq!(r.scenarios.len(), 1);
        &r.scenarios[0]
    }

    fn err(v: Value) -> String {
        match resolve(v) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn problem(scenario: &str, msg: &str) -> String {
        format!("{CONFIG_PROBLEMS_HEADER}\n\t- scenario {scenario} has configuration errors: {msg}")
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // --- shortcuts ---

    #[test]
    fn nothing_set_runs_one_iteration_on_one_vu() {
        let r = resolve(json!({})).unwrap();
        let sc = only(&r);
        assert_eq!(sc.name, "default");
        assert_eq!(
            sc.executor,
            ExecutorConfig::PerVuIterations {
                vus: 1,
                iterations: 1,
                max_duration: secs(600)
            }
        );
        assert_eq!(
            sc.description(),
            "1 iterations for each of 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)"
        );
        assert_eq!(r.max_duration_incl_graceful_stop(), secs(630));
        assert!(r.warnings.is_empty());
        // null is "not set" too
        assert_eq!(resolve(Value::Null).unwrap().scenarios, r.scenarios);
    }

    #[test]
    fn duration_shortcut_is_constant_vus() {
        let r = resolve(json!({"vus": 2, "duration": "3s"})).unwrap();
        let sc = only(&r);
        assert_eq!(
            sc.executor,
            ExecutorConfig::ConstantVus {
                vus: 2,
                duration: secs(3)
            }
        );
        assert_eq!(sc.description(), "2 looping VUs for 3s (gracefulStop: 30s)");
        assert_eq!(sc.max_duration(), secs(3));
        assert_eq!(sc.max_vus(), 2);
        assert_eq!(format_duration(r.max_duration_incl_graceful_stop()), "33s");
        // without vus: 1 VU
        let r = resolve(json!({"duration": 20000})).unwrap();
        assert_eq!(
            only(&r).description(),
            "1 looping VUs for 20s (gracefulStop: 30s)"
        );
    }

    #[test]
    fn iterations_shortcut_is_shared_iterations() {
        let r = resolve(json!({"vus": 2, "iterations": 10})).unwrap();
        let sc = only(&r);
        assert_eq!(
            sc.executor,
            ExecutorConfig::SharedIterations {
                vus: 2,
                iterations: 10,
                max_duration: secs(600)
            }
        );
        assert_eq!(
            sc.description(),
            "10 iterations shared among 2 VUs (maxDuration: 10m0s, gracefulStop: 30s)"
        );
        // duration becomes maxDuration
        let r = resolve(json!({"iterations": 5, "duration": "1m"})).unwrap();
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::SharedIterations {
                vus: 1,
                iterations: 5,
                max_duration: secs(60)
            }
        );
    }

    #[test]
    fn stages_shortcut_is_ramping_vus() {
        let r = resolve(json!({"vus": 3, "stages": [
            {"duration": "30s", "target": 10}, {"duration": "30s", "target": 0}
        ]}))
        .unwrap();
        let sc = only(&r);
        assert_eq!(
            sc.executor,
            ExecutorConfig::RampingVus {
                start_vus: 3,
                stages: vec![
                    Stage {
                        duration: secs(30),
                        target: 10
                    },
                    Stage {
                        duration: secs(30),
                        target: 0
                    }
                ],
                graceful_ramp_down: secs(30),
            }
        );
        assert_eq!(
            sc.description(),
            "Up to 10 looping VUs for 1m0s over 2 stages (gracefulRampDown: 30s, gracefulStop: 30s)"
        );
        assert_eq!(sc.max_vus(), 10);
        assert_eq!(r.max_duration_incl_graceful_stop(), secs(90));
    }

    #[test]
    fn vus_alone_is_ignored_with_a_warning() {
        let r = resolve(json!({"vus": 10})).unwrap();
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::PerVuIterations {
                vus: 1,
                iterations: 1,
                max_duration: secs(600)
            }
        );
        assert_eq!(
            r.warnings,
            vec!["the `vus=10` option will be ignored, it only works in conjunction with `iterations`, `duration`, or `stages`"]
        );
        let r = resolve(json!({"stages": []})).unwrap();
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("`stages` was explicitly set to an empty value"));
        let r = resolve(json!({"scenarios": {}})).unwrap();
        assert!(r.warnings[0].contains("`scenarios` was explicitly set to an empty value"));
        assert_eq!(only(&r).name, "default");
    }

    #[test]
    fn shortcut_conflicts_are_errors() {
        let stages = json!([{"duration": "1s", "target": 1}]);
        let sc = json!({"s": {"executor": "constant-vus", "duration": "1s"}});
        assert_eq!(
            err(json!({"iterations": 1, "stages": stages})),
            "using multiple execution config shortcuts (`iterations` and `stages`) simultaneously is not allowed"
        );
        assert_eq!(
            err(json!({"duration": "1s", "stages": stages})),
            "using multiple execution config shortcuts (`duration` and `stages`) simultaneously is not allowed"
        );
        for (key, value) in [
            ("iterations", json!(1)),
            ("duration", json!("1s")),
            ("stages", stages.clone()),
        ] {
            let mut o = json!({"scenarios": sc.clone()});
            o[key] = value;
            assert_eq!(
                err(o),
                format!("using an execution configuration shortcut (`{key}`) and `scenarios` simultaneously is not allowed")
            );
        }
        // vus next to scenarios is fine (and ignored), as in k6
        let r = resolve(json!({"vus": 5, "scenarios": sc})).unwrap();
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::ConstantVus {
                vus: 1,
                duration: secs(1)
            }
        );
    }

    #[test]
    fn zero_or_negative_duration_is_rejected() {
        let msg = "`duration` option should be more than 0, for infinite duration use the externally-controlled executor";
        assert_eq!(err(json!({"duration": "0s"})), msg);
        assert_eq!(err(json!({"vus": 5, "duration": 0})), msg);
        assert_eq!(err(json!({"duration": "-1s"})), msg);
        let e = err(json!({"duration": "banana"}));
        assert!(e.contains("options.duration"), "{e}");
        assert!(e.contains("time: invalid duration \"banana\""), "{e}");
    }

    #[test]
    fn negative_vus_uses_k6_wording() {
        assert_eq!(
            err(json!({"vus": -1, "duration": "10s"})),
            problem("default", "the number of VUs must be more than 0")
        );
        assert_eq!(
            err(json!({"vus": 0, "duration": "10s"})),
            problem("default", "the number of VUs must be more than 0")
        );
        assert_eq!(
            err(json!({"vus": -1, "iterations": 3})),
            problem("default", "the number of VUs must be more than 0")
        );
        assert_eq!(
            err(json!({"vus": -2, "stages": [{"duration": "1s", "target": 1}]})),
            problem("default", "the number of start VUs shouldn't be negative")
        );
        let e = OptionsError::new("x");
        assert_eq!(e.exit_code(), 104);
    }

    #[test]
    fn zero_iterations_is_a_config_error() {
        assert_eq!(
            err(json!({"iterations": 0})),
            problem(
                "default",
                "the number of iterations (0) can't be less than the number of VUs (1)"
            )
        );
        assert_eq!(
            err(json!({"iterations": -3, "vus": 2})),
            problem(
                "default",
                "the number of iterations (-3) can't be less than the number of VUs (2)"
            )
        );
    }

    #[test]
    fn shortcut_min_duration() {
        assert_eq!(
            err(json!({"duration": "500ms"})),
            problem("default", "the duration must be at least 1s, but is 500ms")
        );
        assert_eq!(
            err(json!({"iterations": 1, "duration": "500ms"})),
            problem(
                "default",
                "the maxDuration must be at least 1s, but is 500ms"
            )
        );
    }

    // --- executors ---

    fn scenario(v: Value) -> ScenarioConfig {
        ScenarioConfig::from_json("s", &v).unwrap()
    }

    fn scenario_err(v: Value) -> String {
        ScenarioConfig::from_json("s", &v).unwrap_err().to_string()
    }

    #[test]
    fn each_executor_parses_with_defaults() {
        let sc = scenario(json!({"executor": "shared-iterations"}));
        assert_eq!(
            sc.executor,
            ExecutorConfig::SharedIterations {
                vus: 1,
                iterations: 1,
                max_duration: secs(600)
            }
        );
        assert_eq!(sc.start_time, Duration::ZERO);
        assert_eq!(sc.graceful_stop, secs(30));
        assert_eq!(sc.exec, "default");
        assert!(sc.env.is_empty() && sc.tags.is_empty() && sc.options.is_none());

        let sc = scenario(json!({"executor": "per-vu-iterations"}));
        assert_eq!(
            sc.executor,
            ExecutorConfig::PerVuIterations {
                vus: 1,
                iterations: 1,
                max_duration: secs(600)
            }
        );

        let sc = scenario(json!({"executor": "constant-vus", "duration": "1m"}));
        assert_eq!(
            sc.executor,
            ExecutorConfig::ConstantVus {
                vus: 1,
                duration: secs(60)
            }
        );

        let sc = scenario(
            json!({"executor": "ramping-vus", "stages": [{"duration": "10s", "target": 5}]}),
        );
        assert_eq!(
            sc.executor,
            ExecutorConfig::RampingVus {
                start_vus: 1,
                stages: vec![Stage {
                    duration: secs(10),
                    target: 5
                }],
                graceful_ramp_down: secs(30)
            }
        );

        let sc = scenario(
            json!({"executor": "constant-arrival-rate", "rate": 100, "duration": "10s", "preAllocatedVUs": 10}),
        );
        assert_eq!(
            sc.executor,
            ExecutorConfig::ConstantArrivalRate {
                rate: 100,
                time_unit: secs(1),
                duration: secs(10),
                pre_allocated_vus: 10,
                max_vus: 10
            }
        );

        let sc = scenario(
            json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 5,
            "stages": [{"duration": "10s", "target": 100}]}),
        );
        assert_eq!(
            sc.executor,
            ExecutorConfig::RampingArrivalRate {
                start_rate: 0,
                time_unit: secs(1),
                stages: vec![Stage {
                    duration: secs(10),
                    target: 100
                }],
                pre_allocated_vus: 5,
                max_vus: 5
            }
        );

        let sc = scenario(
            json!({"executor": "externally-controlled", "vus": 2, "maxVUs": 10, "duration": "5m"}),
        );
        assert_eq!(
            sc.executor,
            ExecutorConfig::ExternallyControlled {
                vus: 2,
                max_vus: 10,
                duration: secs(300)
            }
        );
        assert_eq!(sc.graceful_stop, Duration::ZERO);
        assert_eq!(sc.max_vus(), 10);
    }

    #[test]
    fn common_scenario_fields_parse() {
        let sc = scenario(json!({
            "executor": "constant-vus", "duration": "30s", "vus": 3,
            "startTime": "10s", "gracefulStop": "5s", "exec": "api",
            "env": {"A": "1"}, "tags": {"team": "core"}, "options": {"browser": {"type": "chromium"}}
        }));
        assert_eq!(sc.start_time, secs(10));
        assert_eq!(sc.graceful_stop, secs(5));
        assert_eq!(sc.exec, "api");
        assert_eq!(sc.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(sc.tags.get("team").map(String::as_str), Some("core"));
        assert_eq!(sc.options, Some(json!({"browser": {"type": "chromium"}})));
        assert_eq!(
            sc.description(),
            "3 looping VUs for 30s (exec: api, startTime: 10s, gracefulStop: 5s)"
        );
    }

    #[test]
    fn scenario_parse_errors() {
        assert_eq!(
            scenario_err(json!({"executor": "constant-vu", "duration": "1s"})),
            problem(
                "s",
                "unknown executor type 'constant-vu'; valid executors are: constant-arrival-rate, constant-vus, \
                 externally-controlled, per-vu-iterations, ramping-arrival-rate, ramping-vus, shared-iterations"
            )
        );
        assert!(scenario_err(json!({"vus": 1})).contains("the executor is missing"));
        let e = scenario_err(json!({"executor": "constant-vus", "vu": 1, "duration": "1s"}));
        assert!(
            e.contains("unknown option \"vu\" for the constant-vus executor"),
            "{e}"
        );
        assert!(e.contains("valid options are: executor, startTime, gracefulStop, exec, env, tags, options, vus, duration"), "{e}");
        assert_eq!(
            scenario_err(
                json!({"executor": "externally-controlled", "duration": "1m", "gracefulStop": "5s"})
            ),
            problem(
                "s",
                "gracefulStop is not supported by the externally controlled executor"
            )
        );
        assert_eq!(
            scenario_err(json!({"executor": "constant-vus", "duration": "1s", "startTime": "-1s"})),
            problem("s", "the startTime can't be negative")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "constant-vus", "duration": "1s", "gracefulStop": "-1s"})
            ),
            problem("s", "the gracefulStop timeout can't be negative")
        );
        assert_eq!(
            scenario_err(json!({"executor": "constant-vus", "duration": "1s", "exec": ""})),
            problem("s", "exec value cannot be empty")
        );
        assert_eq!(
            scenario_err(json!({"executor": "constant-vus"})),
            problem("s", "the duration is unspecified")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "constant-arrival-rate", "duration": "1s", "preAllocatedVUs": 1})
            ),
            problem("s", "the iteration rate isn't specified")
        );
        assert_eq!(
            scenario_err(json!({"executor": "constant-arrival-rate", "rate": 1, "duration": "1s"})),
            problem("s", "the number of preAllocatedVUs isn't specified")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "timeUnit": "0s", "stages": []})
            ),
            problem("s", "the timeUnit must be more than 0")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "startRate": -1})
            ),
            problem("s", "the startRate value shouldn't be negative")
        );
        assert_eq!(
            scenario_err(json!({"executor": "externally-controlled"})),
            problem(
                "s",
                "the duration should be specified, for infinite duration use 0"
            )
        );
        assert_eq!(
            scenario_err(json!({"executor": "externally-controlled", "vus": 5, "maxVUs": 2, "duration": 0})),
            problem("s", "the number of active VUs (5) must be less than or equal to the number of maxVUs (2)")
        );
        assert_eq!(
            scenario_err(json!({"executor": "ramping-vus", "stages": [{"duration": "1s"}]})),
            problem("s", "stage 1 doesn't have a target")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 1}, {"target": 1}]})
            ),
            problem("s", "stage 2 doesn't have a duration")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "ramping-vus", "stages": [{"duration": "-1s", "target": 1}]})
            ),
            problem("s", "the duration for stage 1 shouldn't be negative")
        );
        assert_eq!(
            scenario_err(
                json!({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": -1}]})
            ),
            problem("s", "the target for stage 1 shouldn't be negative")
        );
        assert_eq!(
            scenario_err(json!({"executor": "constant-vus", "duration": "1s", "vus": "ten"})),
            "options.scenarios.s.vus must be a non-negative integer, got \"ten\""
        );
        assert_eq!(
            scenario_err(json!({"executor": "constant-vus", "duration": "1s", "env": {"A": 1}})),
            "options.scenarios.s.env.A must be a string, got 1"
        );
        assert_eq!(
            scenario_err(json!([])),
            "options.scenarios.s must be an object, got []"
        );
    }

    #[test]
    fn scenario_validation_errors() {
        let check = |v: Value, msg: &str| {
            assert_eq!(err(json!({"scenarios": {"s": v}})), problem("s", msg));
        };
        check(
            json!({"executor": "shared-iterations", "vus": 5, "iterations": 2}),
            "the number of iterations (2) can't be less than the number of VUs (5)",
        );
        check(
            json!({"executor": "shared-iterations", "vus": 0}),
            "the number of VUs must be more than 0",
        );
        check(
            json!({"executor": "per-vu-iterations", "iterations": 0}),
            "the number of iterations must be more than 0",
        );
        check(
            json!({"executor": "per-vu-iterations", "maxDuration": "0.5s"}),
            "the maxDuration must be at least 1s, but is 500ms",
        );
        check(
            json!({"executor": "constant-vus", "duration": "999ms"}),
            "the duration must be at least 1s, but is 999ms",
        );
        check(
            json!({"executor": "constant-arrival-rate", "rate": 10, "duration": "10s", "preAllocatedVUs": 10, "maxVUs": 5}),
            "maxVUs shouldn't be less than preAllocatedVUs",
        );
        check(
            json!({"executor": "constant-arrival-rate", "rate": 0, "duration": "10s", "preAllocatedVUs": 1}),
            "the iteration rate must be more than 0",
        );
        check(
            json!({"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 0}]}),
            "either startVUs or one of the stages' target values must be greater than 0",
        );
        check(
            json!({"executor": "ramping-vus", "stages": []}),
            "at least one stage has to be specified",
        );
        check(
            json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1}),
            "at least one stage has to be specified",
        );
        check(
            json!({"executor": "externally-controlled", "vus": 3, "duration": "1m"}),
            "the number of active VUs (3) must be less than or equal to the number of maxVUs (0)",
        );
        // Several problems are all listed, one per line.
        let e = err(json!({"scenarios": {
            "a": {"executor": "constant-vus", "vus": 0, "duration": "1s"},
            "b": {"executor": "per-vu-iterations", "iterations": 0}
        }}));
        assert_eq!(
            e,
            format!(
                "{CONFIG_PROBLEMS_HEADER}\n\t- scenario a has configuration errors: the number of VUs must be more than 0\
                 \n\t- scenario b has configuration errors: the number of iterations must be more than 0"
            )
        );
    }

    #[test]
    fn scenario_names_are_whitelisted() {
        let ok = resolve(json!({"scenarios": {"api_v2-Load9": {"executor": "shared-iterations"}}}));
        assert!(ok.is_ok());
        assert_eq!(
            err(json!({"scenarios": {"my scenario": {"executor": "shared-iterations"}}})),
            problem(
                "my scenario",
                "the scenario name should contain only numbers, latin letters, underscores, and dashes"
            )
        );
        assert!(
            err(json!({"scenarios": {"": {"executor": "shared-iterations"}}}))
                .contains("scenario name can't be empty")
        );
    }

    #[test]
    fn resolved_scenarios_are_sorted_by_start_time_then_name() {
        let r = resolve(json!({"scenarios": {
            "zeta": {"executor": "shared-iterations"},
            "late": {"executor": "shared-iterations", "startTime": "40s"},
            "mid": {"executor": "shared-iterations", "startTime": "10s"},
            "alpha": {"executor": "shared-iterations"}
        }}))
        .unwrap();
        let names: Vec<&str> = r.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["alpha", "zeta", "mid", "late"]);
        // the script order stays in Options
        let names: Vec<&str> = r
            .options
            .scenarios
            .as_ref()
            .unwrap()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["zeta", "late", "mid", "alpha"]);
        assert_eq!(r.max_duration_incl_graceful_stop(), secs(40 + 600 + 30));
        assert_eq!(r.scenario("mid").map(|s| s.start_time), Some(secs(10)));
        assert!(r.scenario("nope").is_none());
    }

    // --- descriptions ---

    #[test]
    fn descriptions_match_k6() {
        let d = |v: Value| scenario(v).description();
        assert_eq!(
            d(json!({"executor": "per-vu-iterations", "vus": 20, "iterations": 100})),
            "100 iterations for each of 20 VUs (maxDuration: 10m0s, gracefulStop: 30s)"
        );
        assert_eq!(
            d(
                json!({"executor": "per-vu-iterations", "vus": 6, "iterations": 4, "maxDuration": "10m", "gracefulStop": 0})
            ),
            "4 iterations for each of 6 VUs (maxDuration: 10m0s, gracefulStop: 0s)"
        );
        assert_eq!(
            d(
                json!({"executor": "constant-arrival-rate", "rate": 100, "duration": "10s", "preAllocatedVUs": 10})
            ),
            "100.00 iterations/s for 10s (maxVUs: 10, gracefulStop: 30s)"
        );
        assert_eq!(
            d(
                json!({"executor": "constant-arrival-rate", "rate": 500, "duration": "30s",
                     "preAllocatedVUs": 100, "maxVUs": 1000, "gracefulStop": "5s"})
            ),
            "500.00 iterations/s for 30s (maxVUs: 100-1000, gracefulStop: 5s)"
        );
        assert_eq!(
            d(
                json!({"executor": "constant-arrival-rate", "rate": 1000, "timeUnit": "3s", "duration": "1m",
                     "preAllocatedVUs": 20, "maxVUs": 40, "exec": "produce"})
            ),
            "333.33 iterations/s for 1m0s (maxVUs: 20-40, exec: produce, gracefulStop: 30s)"
        );
        assert_eq!(
            d(
                json!({"executor": "constant-arrival-rate", "rate": 30, "timeUnit": "1m", "duration": "1m",
                     "preAllocatedVUs": 1, "startTime": "10s"})
            ),
            "0.50 iterations/s for 1m0s (maxVUs: 1, startTime: 10s, gracefulStop: 30s)"
        );
        assert_eq!(
            d(
                json!({"executor": "ramping-arrival-rate", "startRate": 10, "preAllocatedVUs": 50,
                     "stages": [{"duration": "5s", "target": 100}, {"duration": "5s", "target": 0}]})
            ),
            "Up to 100.00 iterations/s for 10s over 2 stages (maxVUs: 50, gracefulStop: 30s)"
        );
        assert_eq!(
            d(json!({"executor": "ramping-vus", "startVUs": 0, "gracefulRampDown": "10s", "exec": "loginScenario",
                     "stages": [{"duration": "1m", "target": 5}, {"duration": "3m", "target": 5}]})),
            "Up to 5 looping VUs for 4m0s over 2 stages (gracefulRampDown: 10s, exec: loginScenario, gracefulStop: 30s)"
        );
        assert_eq!(
            d(
                json!({"executor": "externally-controlled", "vus": 2, "maxVUs": 10, "duration": "5m"})
            ),
            "Externally controlled execution with 2 VUs, 10 max VUs, 5m0s duration"
        );
        assert_eq!(
            d(
                json!({"executor": "shared-iterations", "vus": 10, "iterations": 200, "maxDuration": "30s"})
            ),
            "200 iterations shared among 10 VUs (maxDuration: 30s, gracefulStop: 30s)"
        );
    }

    #[test]
    fn rate_rounds_half_away_from_zero() {
        assert_eq!(rate_per_second(1, Duration::from_secs(3)), "0.33");
        assert_eq!(rate_per_second(2, Duration::from_secs(3)), "0.67");
        assert_eq!(rate_per_second(1, Duration::from_secs(8)), "0.13"); // 0.125
        assert_eq!(rate_per_second(5, Duration::from_millis(100)), "50.00");
        assert_eq!(rate_per_second(1, Duration::ZERO), "0.00");
    }

    #[test]
    fn max_duration_per_executor() {
        let md = |v: Value| scenario(v).max_duration();
        assert_eq!(
            md(json!({"executor": "shared-iterations", "maxDuration": "1m"})),
            secs(60)
        );
        assert_eq!(
            md(
                json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1,
                      "stages": [{"duration": "1m", "target": 1}, {"duration": "2s", "target": 1}]})
            ),
            secs(62)
        );
        assert_eq!(
            md(json!({"executor": "externally-controlled", "duration": 0})),
            Duration::ZERO
        );
        let r = resolve(json!({"scenarios": {"e": {"executor": "externally-controlled", "vus": 2, "maxVUs": 10, "duration": "5m"}}}))
            .unwrap();
        assert_eq!(format_duration(r.max_duration_incl_graceful_stop()), "5m0s");
    }

    // --- top-level options ---

    #[test]
    fn type_errors_name_the_option() {
        let e = |v: Value| Options::from_script_json(&v).unwrap_err().to_string();
        assert_eq!(
            e(json!({"vus": "ten"})),
            "options.vus must be a non-negative integer, got \"ten\""
        );
        assert_eq!(
            e(json!({"vus": 1.5})),
            "options.vus must be a non-negative integer, got 1.5"
        );
        assert_eq!(
            e(json!({"maxRedirects": -1})),
            "options.maxRedirects must be a non-negative integer, got -1"
        );
        assert_eq!(
            e(json!({"throw": "yes"})),
            "options.throw must be true or false, got \"yes\""
        );
        assert_eq!(
            e(json!({"userAgent": 5})),
            "options.userAgent must be a string, got 5"
        );
        assert_eq!(
            e(json!({"tags": {"a": 1}})),
            "options.tags.a must be a string, got 1"
        );
        assert_eq!(
            e(json!({"summaryTrendStats": "avg"})),
            "options.summaryTrendStats must be an array of strings, got \"avg\""
        );
        assert_eq!(
            e(json!({"setupTimeout": "-5s"})),
            "options.setupTimeout must not be negative, got \"-5s\""
        );
        assert!(e(json!({"setupTimeout": "soon"}))
            .starts_with("options.setupTimeout is not a valid duration"));
        assert_eq!(e(json!("x")), "options must be an object, got \"x\"");
        assert_eq!(
            e(json!({"scenarios": []})),
            "options.scenarios must be an object of named scenarios, got []"
        );
        assert!(
            e(json!({"stages": [{"duration": "1s"}]})).contains("stage 1 doesn't have a target")
        );
        assert!(
            e(json!({"dns": {"select": "fastest"}})).contains("options.dns.select must be one of")
        );
        // integral floats are integers to JavaScript
        assert_eq!(
            Options::from_script_json(&json!({"vus": 10.0}))
                .unwrap()
                .vus,
            Some(10)
        );
    }

    #[test]
    fn all_modelled_fields_parse_and_round_trip() {
        let v: Value = serde_json::from_str(
            r#"{
            "vus": 5, "duration": "1m30s",
            "setupTimeout": "2m", "teardownTimeout": 5000, "summaryTimeout": "30s",
            "discardResponseBodies": true, "noConnectionReuse": true, "noVUConnectionReuse": false,
            "userAgent": "me/1.0", "insecureSkipTLSVerify": true,
            "summaryTrendStats": ["avg", "p(99.9)", "count"], "summaryTimeUnit": "ms",
            "tags": {"env": "staging"}, "thresholds": {"http_req_duration": ["p(95)<200"]},
            "executionSegment": "0:1/2", "executionSegmentSequence": "0,1/2,1",
            "maxRedirects": 3, "batch": 10, "batchPerHost": 2, "rps": 100, "httpDebug": "full", "throw": true,
            "minIterationDuration": "1s", "noCookiesReset": true, "localIPs": "192.168.0.1-192.168.0.10",
            "hosts": {"test.k6.io": "1.2.3.4"}, "dns": {"ttl": "1m", "select": "first", "policy": "any"},
            "paused": false, "linger": true, "noSetup": true, "noTeardown": false,
            "blacklistIPs": ["10.0.0.0/8"], "blockHostnames": ["*.example.com"], "systemTags": ["status", "url"],
            "tlsVersion": {"min": "tls1.2", "max": "tls1.3"}, "tlsCipherSuites": ["TLS_AES_128_GCM_SHA256"],
            "tlsAuth": [{"domains": ["example.com"], "cert": "c", "key": "k"}],
            "includeSystemEnvVars": false, "consoleOutput": "out.log", "metricSamplesBufferSize": 2000,
            "cloud": {"distribution": {"eu": {"loadZone": "amazon:ie:dublin", "percent": 100}}},
            "ext": {"loadimpact": {"name": "x"}},
            "someFutureOption": {"keep": "me"}
        }"#,
        )
        .unwrap();
        let o = Options::from_script_json(&v).unwrap();
        assert_eq!(o.teardown_timeout, Some(secs(5)));
        assert_eq!(
            o.dns,
            Some(DnsOptions {
                ttl: Some(DnsTtl::For(secs(60))),
                select: Some(DnsSelect::First),
                policy: Some(DnsPolicy::Any)
            })
        );
        let out = o.to_json();
        assert_eq!(out["duration"], json!("1m30s"));
        assert_eq!(out["teardownTimeout"], json!("5s"));
        assert_eq!(out["someFutureOption"], json!({"keep": "me"}));
        assert_eq!(out["thresholds"], v["thresholds"]);
        let mut again = Options::from_script_json(&out).unwrap();
        again.raw = o.raw.clone();
        assert_eq!(again, o);

        let r = o.resolve().unwrap();
        assert_eq!(r.setup_timeout, secs(120));
        assert_eq!(r.summary_timeout, secs(30));
        assert_eq!(r.summary_time_unit.as_deref(), Some("ms"));
        assert_eq!(r.http_debug, HttpDebug::Full);
        assert_eq!(r.rps, Some(100));
        assert_eq!(r.system_tags, vec!["status", "url"]);
        assert_eq!(
            r.dns,
            ResolvedDns {
                ttl: DnsTtl::For(secs(60)),
                select: DnsSelect::First,
                policy: DnsPolicy::Any
            }
        );
    }

    #[test]
    fn defaults_are_k6s() {
        let r = resolve(json!({})).unwrap();
        assert_eq!(r.setup_timeout, secs(60));
        assert_eq!(r.teardown_timeout, secs(60));
        assert_eq!(r.summary_timeout, secs(120));
        assert_eq!(
            r.summary_trend_stats,
            vec!["avg", "min", "med", "max", "p(90)", "p(95)"]
        );
        assert_eq!(r.summary_time_unit, None);
        assert_eq!(r.max_redirects, 10);
        assert_eq!(r.batch, 20);
        assert_eq!(r.batch_per_host, 6);
        assert_eq!(r.rps, None);
        assert_eq!(r.http_debug, HttpDebug::Off);
        assert_eq!(r.user_agent, DEFAULT_USER_AGENT);
        assert_eq!(r.metric_samples_buffer_size, 1000);
        assert_eq!(r.system_tags.len(), DEFAULT_SYSTEM_TAGS.len());
        assert_eq!(
            r.dns,
            ResolvedDns {
                ttl: DnsTtl::For(secs(300)),
                select: DnsSelect::Random,
                policy: DnsPolicy::PreferIpv4
            }
        );
        assert!(!r.discard_response_bodies && !r.throw && !r.paused && !r.linger);
        assert!(r.tags.is_empty() && r.hosts.is_empty() && r.thresholds.is_none());
        // an explicitly empty user agent means "send none"
        assert_eq!(resolve(json!({"userAgent": ""})).unwrap().user_agent, "");
        assert_eq!(
            resolve(json!({"httpDebug": true})).unwrap().http_debug,
            HttpDebug::Headers
        );
    }

    #[test]
    fn global_validation_errors() {
        assert_eq!(
            err(json!({"summaryTrendStats": ["avg", "p(101)", "mean"]})),
            format!(
                "{CONFIG_PROBLEMS_HEADER}\
                 \n\t- summaryTrendStats: stat 'p(101)' is unknown; use avg, min, med, max, count or p(N) with 0 <= N <= 100\
                 \n\t- summaryTrendStats: stat 'mean' is unknown; use avg, min, med, max, count or p(N) with 0 <= N <= 100"
            )
        );
        assert!(err(json!({"summaryTimeUnit": "h"})).contains("summaryTimeUnit: invalid unit 'h'"));
        assert!(err(json!({"httpDebug": "all"})).contains("httpDebug: invalid value 'all'"));
        assert!(err(json!({"systemTags": ["status", "colour"]}))
            .contains("unknown system tag 'colour'"));
        assert!(resolve(json!({"summaryTimeUnit": ""}))
            .unwrap()
            .summary_time_unit
            .is_none());
    }

    // --- env ---

    #[test]
    fn env_vars_parse() {
        let o = Options::from_env(&env(&[
            ("K6_VUS", "10"),
            ("K6_DURATION", "1m"),
            ("K6_ITERATIONS", "100"),
            ("K6_STAGES", "30s:10, 1m:0"),
            ("K6_SETUP_TIMEOUT", "2m"),
            ("K6_TEARDOWN_TIMEOUT", "90s"),
            ("K6_SUMMARY_TIMEOUT", "10s"),
            ("K6_DISCARD_RESPONSE_BODIES", "true"),
            ("K6_NO_CONNECTION_REUSE", "1"),
            ("K6_INSECURE_SKIP_TLS_VERIFY", "False"),
            ("K6_USER_AGENT", "agent/1"),
            ("K6_SUMMARY_TREND_STATS", "avg,p(99),max"),
            ("K6_SUMMARY_TIME_UNIT", "ms"),
            ("K6_TAGS", "env=prod,team:core"),
            ("K6_EXECUTION_SEGMENT", "1/3:2/3"),
            ("K6_MAX_REDIRECTS", "2"),
            ("K6_HTTP_DEBUG", "true"),
            ("K6_DNS", "ttl=inf,select=roundRobin"),
            ("K6_HOSTS", "{\"a.test\": \"127.0.0.1\"}"),
            ("K6_BLOCK_HOSTNAMES", "*.evil.com, bad.org"),
            ("K6_MIN_ITERATION_DURATION", "500ms"),
            ("K6_PAUSED", ""),
            ("UNRELATED", "x"),
        ]))
        .unwrap();
        assert_eq!(o.vus, Some(10));
        assert_eq!(o.duration, Some(secs(60)));
        assert_eq!(o.iterations, Some(100));
        assert_eq!(
            o.stages,
            Some(vec![
                Stage {
                    duration: secs(30),
                    target: 10
                },
                Stage {
                    duration: secs(60),
                    target: 0
                }
            ])
        );
        assert_eq!(o.setup_timeout, Some(secs(120)));
        assert_eq!(o.teardown_timeout, Some(secs(90)));
        assert_eq!(o.summary_timeout, Some(secs(10)));
        assert_eq!(o.discard_response_bodies, Some(true));
        assert_eq!(o.no_connection_reuse, Some(true));
        assert_eq!(o.insecure_skip_tls_verify, Some(false));
        assert_eq!(o.user_agent.as_deref(), Some("agent/1"));
        assert_eq!(
            o.summary_trend_stats,
            Some(vec!["avg".into(), "p(99)".into(), "max".into()])
        );
        assert_eq!(
            o.tags
                .as_ref()
                .and_then(|t| t.get("team"))
                .map(String::as_str),
            Some("core")
        );
        assert_eq!(
            o.tags
                .as_ref()
                .and_then(|t| t.get("env"))
                .map(String::as_str),
            Some("prod")
        );
        assert_eq!(o.execution_segment.as_deref(), Some("1/3:2/3"));
        assert_eq!(o.max_redirects, Some(2));
        assert_eq!(o.http_debug.as_deref(), Some("headers"));
        assert_eq!(
            o.dns,
            Some(DnsOptions {
                ttl: Some(DnsTtl::Infinite),
                select: Some(DnsSelect::RoundRobin),
                policy: None
            })
        );
        assert_eq!(
            o.hosts
                .as_ref()
                .and_then(|h| h.get("a.test"))
                .map(String::as_str),
            Some("127.0.0.1")
        );
        assert_eq!(
            o.block_hostnames,
            Some(vec!["*.evil.com".into(), "bad.org".into()])
        );
        assert_eq!(o.min_iteration_duration, Some(Duration::from_millis(500)));
        assert_eq!(o.paused, None, "empty values are unset");
        // K6_STAGE (singular, like the flag) works too
        let o = Options::from_env(&env(&[("K6_STAGE", "5s:1")])).unwrap();
        assert_eq!(
            o.stages,
            Some(vec![Stage {
                duration: secs(5),
                target: 1
            }])
        );
        assert_eq!(
            Options::from_env(&BTreeMap::new()).unwrap(),
            Options::default()
        );
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = |pairs: &[(&str, &str)]| Options::from_env(&env(pairs)).unwrap_err().to_string();
        assert_eq!(
            e(&[("K6_VUS", "ten")]),
            "K6_VUS must be an integer, got \"ten\""
        );
        assert!(e(&[("K6_DURATION", "banana")])
            .contains("K6_DURATION is not a valid duration (time: invalid duration \"banana\")"));
        assert!(e(&[("K6_DURATION", "-5s")]).contains("should be more than 0"));
        assert!(e(&[("K6_STAGES", "30s")])
            .starts_with("K6_STAGES: stage 1 (\"30s\") doesn't have a target"));
        assert!(e(&[("K6_STAGES", "30s:10,x:1")])
            .starts_with("K6_STAGES: stage 2 has an invalid duration"));
        assert!(e(&[("K6_STAGES", "30s:-1")])
            .contains("the target of stage 1 must be a non-negative integer"));
        assert_eq!(
            e(&[("K6_THROW", "yes")]),
            "K6_THROW must be true or false (or 1/0), got \"yes\""
        );
        assert_eq!(
            e(&[("K6_BATCH", "-1")]),
            "K6_BATCH must be a non-negative integer, got \"-1\""
        );
        assert!(e(&[("K6_HOSTS", "nope")]).starts_with("K6_HOSTS must be a JSON object"));
        assert!(e(&[("K6_DNS", "ttl")]).starts_with("K6_DNS must look like"));
        assert!(e(&[("K6_DNS", "colour=red")]).contains("unknown field \"colour\""));
        assert!(e(&[("K6_TAGS", "novalue")]).starts_with("K6_TAGS must be NAME=VALUE pairs"));
        // negative vus pass parsing and fail in resolve, like k6's `--vus -1`
        let mut o = Options::from_env(&env(&[("K6_VUS", "-1"), ("K6_DURATION", "5s")])).unwrap();
        o.apply(&Options::default());
        assert_eq!(
            o.resolve().unwrap_err().to_string(),
            problem("default", VUS_MORE_THAN_ZERO)
        );
    }

    #[test]
    fn parse_stages_flag_syntax() {
        assert_eq!(
            parse_stages("1m30s:10,2m:0", "--stage").unwrap(),
            vec![
                Stage {
                    duration: secs(90),
                    target: 10
                },
                Stage {
                    duration: secs(120),
                    target: 0
                }
            ]
        );
        assert!(parse_stages("", "--stage").is_err());
    }

    // --- layering ---

    #[test]
    fn layers_merge_cli_over_env_over_script() {
        let mut script = Options::from_script_json(
            &json!({"vus": 1, "duration": "10s", "userAgent": "script", "batch": 3}),
        )
        .unwrap();
        let env_layer =
            Options::from_env(&env(&[("K6_VUS", "2"), ("K6_USER_AGENT", "env")])).unwrap();
        let cli = Options {
            vus: Some(3),
            ..Options::default()
        };
        script.apply(&env_layer);
        script.apply(&cli);
        assert_eq!(script.vus, Some(3));
        assert_eq!(script.user_agent.as_deref(), Some("env"));
        assert_eq!(script.batch, Some(3));
        let r = script.resolve().unwrap();
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::ConstantVus {
                vus: 3,
                duration: secs(10)
            }
        );
        assert_eq!(r.user_agent, "env");
    }

    #[test]
    fn higher_layer_shortcuts_replace_script_scenarios() {
        let script = json!({"scenarios": {"api": {"executor": "constant-vus", "vus": 5, "duration": "1m", "exec": "api"}}});
        // --duration replaces the scenarios (k6 behaviour), keeping the script's vus if any
        let mut o = Options::from_script_json(&script).unwrap();
        o.apply(&Options {
            duration: Some(secs(10)),
            ..Options::default()
        });
        assert!(o.scenarios.is_none());
        let r = o.resolve().unwrap();
        assert_eq!(only(&r).name, "default");
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::ConstantVus {
                vus: 1,
                duration: secs(10)
            }
        );
        assert_eq!(only(&r).exec, "default");

        // --iterations replaces them as well; --vus goes with it
        let mut o = Options::from_script_json(&script).unwrap();
        o.apply(&Options {
            iterations: Some(4),
            vus: Some(2),
            ..Options::default()
        });
        let r = o.resolve().unwrap();
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::SharedIterations {
                vus: 2,
                iterations: 4,
                max_duration: secs(600)
            }
        );

        // a script's `duration` is dropped by env `K6_ITERATIONS`, so no conflict and no maxDuration
        let mut o = Options::from_script_json(&json!({"duration": "30s", "vus": 2})).unwrap();
        o.apply(&Options::from_env(&env(&[("K6_ITERATIONS", "8")])).unwrap());
        let r = o.resolve().unwrap();
        assert_eq!(
            only(&r).executor,
            ExecutorConfig::SharedIterations {
                vus: 2,
                iterations: 8,
                max_duration: secs(600)
            }
        );

        // --vus alone keeps the script's scenarios
        let mut o = Options::from_script_json(&script).unwrap();
        o.apply(&Options {
            vus: Some(9),
            ..Options::default()
        });
        let r = o.resolve().unwrap();
        assert_eq!(only(&r).name, "api");

        // a conflict inside one layer survives the merge and is reported
        let mut o = Options::default();
        o.apply(&Options {
            duration: Some(secs(5)),
            stages: Some(vec![Stage {
                duration: secs(1),
                target: 1,
            }]),
            ..Options::default()
        });
        assert!(o
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("(`duration` and `stages`)"));
    }

    #[test]
    fn dns_and_raw_merge_per_field() {
        let mut low = Options::from_script_json(
            &json!({"dns": {"ttl": "1m", "policy": "onlyIPv6"}, "custom": 1, "other": 2}),
        )
        .unwrap();
        let high = Options {
            dns: Some(DnsOptions {
                select: Some(DnsSelect::First),
                policy: Some(DnsPolicy::Any),
                ttl: None,
            }),
            raw: Some(json!({"custom": 5})),
            ..Options::default()
        };
        low.apply(&high);
        assert_eq!(
            low.dns,
            Some(DnsOptions {
                ttl: Some(DnsTtl::For(secs(60))),
                select: Some(DnsSelect::First),
                policy: Some(DnsPolicy::Any)
            })
        );
        let out = low.to_json();
        assert_eq!(out["custom"], json!(5));
        assert_eq!(out["other"], json!(2));
    }

    // --- JSON output ---

    #[test]
    fn to_json_is_k6_shaped_and_round_trips() {
        let v = json!({
            "stages": [{"duration": "30s", "target": 10}],
            "vus": 2,
            "tags": {"a": "b"},
            "scenarios": null
        });
        let o = Options::from_script_json(&v).unwrap();
        assert_eq!(
            o.to_json(),
            json!({"vus": 2, "stages": [{"duration": "30s", "target": 10}], "tags": {"a": "b"}})
        );
        let sc_json = json!({"scenarios": {
            "b": {"executor": "ramping-arrival-rate", "startRate": 1, "timeUnit": "1m", "preAllocatedVUs": 2, "maxVUs": 4,
                  "stages": [{"duration": "10s", "target": 3}], "tags": {"t": "1"}, "env": {"E": "2"}},
            "a": {"executor": "externally-controlled", "vus": 1, "maxVUs": 2, "duration": "1h"},
            "c": {"executor": "shared-iterations", "startTime": "1s", "exec": "other", "options": {"browser": {}}}
        }});
        let o = Options::from_script_json(&sc_json).unwrap();
        let out = o.to_json();
        assert!(
            out["scenarios"]["a"].get("gracefulStop").is_none(),
            "externally-controlled has none"
        );
        assert_eq!(out["scenarios"]["b"]["timeUnit"], json!("1m0s"));
        let keys: Vec<&String> = out["scenarios"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a", "c"], "script order is kept");
        let again = Options::from_script_json(&out).unwrap();
        assert_eq!(again.scenarios, o.scenarios);
    }

    #[test]
    fn resolved_to_json_replaces_shortcuts_with_scenarios() {
        let r = resolve(json!({"vus": 4, "duration": "20s", "userAgent": "x", "unknownKey": true}))
            .unwrap();
        let out = r.to_json();
        assert!(out.get("vus").is_none() && out.get("duration").is_none());
        assert_eq!(
            out["scenarios"]["default"]["executor"],
            json!("constant-vus")
        );
        assert_eq!(out["scenarios"]["default"]["vus"], json!(4));
        assert_eq!(out["userAgent"], json!("x"));
        assert_eq!(out["unknownKey"], json!(true));
        let again = resolve(out).unwrap();
        assert_eq!(again.scenarios, r.scenarios);
        assert_eq!(again.user_agent, "x");
    }
}
