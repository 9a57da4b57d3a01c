//! k6 test options: what a script exports as `options`, what `K6_*` env vars and CLI flags
//! override, and how they become the list of scenarios to run.
//!
//! The layers follow k6 v1.1.0: every field of [`Options`] is optional so layers can be merged
//! (CLI > env > script, [`Options::apply`]), and [`Options::resolve`] applies k6's shortcut
//! rules (`iterations`/`duration`/`stages` → one `default` scenario), validates everything with
//! k6's own error wording (exit code 104 on failure) and fills in the defaults. Error texts and
//! banner descriptions match k6 because users grep for them and CI logs are compared across
//! the two tools.
//!
//! Where to change what:
//! - a run option: one entry in `fields.rs` (its key, format, `K6_*` variable, CLI flag and
//!   how it resolves); the structs, the known-keys list, reading, layering, export and
//!   resolution are generated from it by the macro in `declare.rs`;
//! - how a kind of value is read from JSON, env or a flag: [`formats`] (JSON readers in
//!   `json.rs`);
//! - an executor: its own file in [`executors`] (see that module for the two files an
//!   executor has);
//! - shortcut rules and cross-option validation: `resolve.rs`; scenario common fields:
//!   [`scenarios`]; stages: [`stages`]; the `dns` option (and its format): [`dns`].

use std::time::Duration;

#[macro_use]
mod declare;
pub mod dns;
pub mod executors;
mod fields;
pub mod formats;
mod json;
mod resolve;
pub mod scenarios;
pub mod stages;

pub use dns::{DnsOptions, DnsPolicy, DnsSelect, DnsTtl, ResolvedDns};
pub use executors::ExecutorConfig;
pub use fields::{Options, ResolvedOptions, CLI_FLAGS, KNOWN_KEYS};
pub use formats::{CliFlag, CliShape, HttpDebug};
pub use scenarios::ScenarioConfig;
pub use stages::{parse_stages, Stage};

/// The name k6 gives the scenario derived from shortcut options.
pub const DEFAULT_SCENARIO_NAME: &str = "default";
/// The exported function a scenario runs when it sets no `exec`.
pub const DEFAULT_EXEC: &str = "default";
/// k6's executor names, in the order they are listed in error messages.
pub const EXECUTOR_NAMES: [&str; executors::COUNT] = executors::NAMES;
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

#[cfg(test)]
mod tests;
