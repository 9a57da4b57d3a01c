//! Exit codes of `volley run` (k6's codes) and the reasons a run ends early, each mapped to
//! one exit code and one run status.

use crate::status::RunStatus;

/// The process exit codes Volley uses. They are k6's, so CI scripts keep working.
pub mod code {
    pub const OK: i32 = 0;
    pub const SYSTEM: i32 = 97;
    pub const CONTROLLER_LOST: i32 = 98;
    pub const THRESHOLDS_FAILED: i32 = 99;
    pub const SETUP_TIMEOUT: i32 = 100;
    pub const TEARDOWN_TIMEOUT: i32 = 101;
    pub const GENERIC_TIMEOUT: i32 = 102;
    pub const STOPPED_FROM_API: i32 = 103;
    pub const INVALID_CONFIG: i32 = 104;
    pub const EXTERNAL_ABORT: i32 = 105;
    pub const CANNOT_START_API: i32 = 106;
    pub const SCRIPT_EXCEPTION: i32 = 107;
    pub const SCRIPT_ABORTED: i32 = 108;
    pub const MARKED_AS_FAILED: i32 = 110;
    /// An error that carries no code (unknown flag, missing script...), as k6's 255.
    pub const UNKNOWN: i32 = 255;
}

/// Why a run ended early (or failed). The first reason recorded wins; one table
/// ([`AbortReason::exit_code`], [`AbortReason::run_status`]) maps it to the exit code and the run
/// status, so no exit code is chosen anywhere else.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum AbortReason {
    /// SIGINT / SIGTERM.
    Signal {
        signal: String,
    },
    /// Stop through the REST API or `volley stop`.
    ApiStop,
    /// `exec.test.abort()`, optionally with a custom exit code, message and context.
    ScriptAbort {
        message: Option<String>,
        exit_code: Option<i32>,
        context: Option<serde_json::Value>,
    },
    /// An uncaught exception in init, setup, teardown or handleSummary (syntax errors too).
    ScriptException {
        phase: String,
        message: String,
    },
    /// The promise of an `async` `setup()` or `teardown()` rejected: k6 v1.1.0 ends the run
    /// with its code for an error without one, 255, where a thrown exception is 107
    /// (docs/exit-codes.md).
    ScriptRejection {
        phase: String,
        message: String,
    },
    /// A threshold with `abortOnFail` failed during the run.
    Threshold {
        metrics: Vec<String>,
    },
    SetupTimeout {
        seconds: f64,
    },
    TeardownTimeout {
        seconds: f64,
    },
    SummaryTimeout {
        seconds: f64,
    },
    /// An internal error of the load generator or cluster (an agent lost or overloaded...).
    System {
        message: String,
    },
    /// A configured limit was exceeded (groups, metric series, duration, VUs).
    Limit {
        limit: String,
        message: String,
    },
    /// No data from the run's generators for `data_timeout`.
    TimedOut {
        message: String,
    },
}

impl AbortReason {
    /// The process exit code for this reason.
    pub fn exit_code(&self) -> i32 {
        match self {
            AbortReason::Signal { .. } => code::EXTERNAL_ABORT,
            AbortReason::ApiStop => code::STOPPED_FROM_API,
            AbortReason::ScriptAbort { exit_code, .. } => exit_code.unwrap_or(code::SCRIPT_ABORTED),
            AbortReason::ScriptException { .. } => code::SCRIPT_EXCEPTION,
            AbortReason::ScriptRejection { .. } => code::UNKNOWN,
            AbortReason::Threshold { .. } => code::THRESHOLDS_FAILED,
            AbortReason::SetupTimeout { .. } => code::SETUP_TIMEOUT,
            AbortReason::TeardownTimeout { .. } => code::TEARDOWN_TIMEOUT,
            AbortReason::SummaryTimeout { .. } => code::GENERIC_TIMEOUT,
            AbortReason::System { .. }
            | AbortReason::Limit { .. }
            | AbortReason::TimedOut { .. } => code::SYSTEM,
        }
    }

    /// The status a run stopped for this reason ends in.
    pub fn run_status(&self) -> RunStatus {
        match self {
            AbortReason::Signal { .. } | AbortReason::ApiStop => RunStatus::AbortedByUser,
            AbortReason::ScriptAbort { .. }
            | AbortReason::ScriptException { .. }
            | AbortReason::ScriptRejection { .. } => RunStatus::AbortedByScriptError,
            AbortReason::Threshold { .. } => RunStatus::AbortedByThreshold,
            AbortReason::SetupTimeout { .. }
            | AbortReason::TeardownTimeout { .. }
            | AbortReason::SummaryTimeout { .. } => RunStatus::AbortedByLimit,
            AbortReason::System { .. } => RunStatus::AbortedBySystem,
            AbortReason::Limit { .. } => RunStatus::AbortedByLimit,
            AbortReason::TimedOut { .. } => RunStatus::TimedOut,
        }
    }

    /// The one-line error printed at the end of the run, k6-style.
    pub fn message(&self) -> String {
        match self {
            AbortReason::Signal { signal } => {
                format!("test run was aborted because Volley received a '{signal}' signal")
            }
            AbortReason::ApiStop => "test run stopped from REST API".into(),
            AbortReason::ScriptAbort { message, .. } => match message {
                Some(m) if !m.is_empty() => format!("test aborted: {m}"),
                _ => "test aborted".into(),
            },
            AbortReason::ScriptException { message, .. }
            | AbortReason::ScriptRejection { message, .. } => message.clone(),
            AbortReason::Threshold { metrics } => format!(
                "thresholds on metrics '{}' were crossed; at least one has abortOnFail enabled, stopping test prematurely",
                metrics.join(", ")
            ),
            AbortReason::SetupTimeout { seconds } => {
                format!("setup() execution timed out after {seconds} seconds")
            }
            AbortReason::TeardownTimeout { seconds } => {
                format!("teardown() execution timed out after {seconds} seconds")
            }
            AbortReason::SummaryTimeout { seconds } => {
                format!("handleSummary() execution timed out after {seconds} seconds")
            }
            AbortReason::System { message } => message.clone(),
            AbortReason::Limit { limit, message } => format!("limit exceeded ({limit}): {message}"),
            AbortReason::TimedOut { message } => message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one table: every reason's exit code and run status.
    #[test]
    fn reasons_map_to_codes_and_statuses() {
        let cases = [
            (
                AbortReason::Signal {
                    signal: "interrupt".into(),
                },
                105,
                5,
            ),
            (AbortReason::ApiStop, 103, 5),
            (
                AbortReason::ScriptAbort {
                    message: None,
                    exit_code: None,
                    context: None,
                },
                108,
                7,
            ),
            (
                AbortReason::ScriptAbort {
                    message: None,
                    exit_code: Some(42),
                    context: None,
                },
                42,
                7,
            ),
            (
                AbortReason::ScriptException {
                    phase: "init".into(),
                    message: "x".into(),
                },
                107,
                7,
            ),
            (
                AbortReason::ScriptRejection {
                    phase: "setup".into(),
                    message: "x".into(),
                },
                255,
                7,
            ),
            (
                AbortReason::Threshold {
                    metrics: vec!["m".into()],
                },
                99,
                8,
            ),
            (AbortReason::SetupTimeout { seconds: 1.0 }, 100, 9),
            (AbortReason::TeardownTimeout { seconds: 1.0 }, 101, 9),
            (AbortReason::SummaryTimeout { seconds: 1.0 }, 102, 9),
            (
                AbortReason::System {
                    message: "AGENT_LOST".into(),
                },
                97,
                6,
            ),
            (
                AbortReason::Limit {
                    limit: "max_groups".into(),
                    message: "41 > 40".into(),
                },
                97,
                9,
            ),
            (
                AbortReason::TimedOut {
                    message: "no data".into(),
                },
                97,
                4,
            ),
        ];
        for (r, exit, status) in cases {
            assert_eq!(r.exit_code(), exit, "{r:?}");
            assert_eq!(r.run_status().number(), status, "{r:?}");
            assert!(!r.message().is_empty());
            let back: AbortReason =
                serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }
}
