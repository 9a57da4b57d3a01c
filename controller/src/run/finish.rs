//! The end of a run: final thresholds on the merged data, the summary report, the exit code
//! and the final status — the same that the run would give locally. Pure: the run machine
//! hands everything in and turns the outcome into actions.

use std::collections::HashMap;
use std::time::Duration;

use volley_common::exit::{code, AbortReason};
use volley_common::metrics::store::{MetricInfo, SeriesStore};
use volley_common::summary::build::{self, ThresholdSet};
use volley_common::summary::{RunResult, SummaryOptions, SummaryState};

use crate::model::{ResultStatus, RunStatus};
use crate::state::RunChanges;

/// What the end of a run is computed from.
pub struct FinishInput<'a> {
    /// Why the run stopped early, if it did.
    pub reason: Option<&'a AbortReason>,
    /// The reason came from a streamed run's own client (it stopped where it runs).
    pub stopped_locally: bool,
    /// The merged series, with the summed gauges.
    pub series: &'a SeriesStore,
    pub thresholds: &'a ThresholdSet,
    pub types: &'a HashMap<String, MetricInfo>,
    /// How long the run ran (from the start barrier).
    pub elapsed: Duration,
    /// `exec.test.fail()` was called on some agent (its message).
    pub marked_failed: Option<String>,
    pub trend_stats: Vec<String>,
    pub time_unit: Option<String>,
    /// setup()'s data as JSON.
    pub setup_data: Option<String>,
    /// The run went on without a lost agent: why (shown in the summary's message).
    pub degraded_note: Option<String>,
}

/// How the run ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: RunStatus,
    pub exit_code: i32,
    /// The summary report (k6's JSON shape).
    pub summary: serde_json::Value,
    /// The reason given with the final transition.
    pub why: String,
    pub changes: RunChanges,
}

/// Final thresholds, the merged summary, the exit code and the final status.
pub fn outcome(input: FinishInput<'_>) -> Outcome {
    let types = input.types;
    let type_of = move |name: &str| types.get(name).copied();
    let results = build::evaluate_thresholds(
        input.thresholds,
        input.series,
        input.elapsed.as_secs_f64(),
        &type_of,
    );
    let failed = build::failed_keys(&results);
    let marked_failed = input.marked_failed;
    let (exit_code, status, outcome, message, context) = match input.reason {
        Some(r) => {
            let (m, c) = match r {
                AbortReason::ScriptAbort {
                    message, context, ..
                } => (message.clone(), context.clone()),
                other => (Some(other.message()), None),
            };
            // A streamed run stopped on purpose where it runs (Ctrl+C) ran as far as the user
            // wanted: FINISHED here (k6 cloud's rule), the local exit code stays 105.
            let status = match r {
                AbortReason::Signal { .. } | AbortReason::ApiStop if input.stopped_locally => {
                    RunStatus::Finished
                }
                _ => r.run_status(),
            };
            (r.exit_code(), status, "aborted", m, c)
        }
        None if marked_failed.is_some() => (
            code::MARKED_AS_FAILED,
            RunStatus::Finished,
            "failed",
            Some("test run was marked as failed".to_string()),
            None,
        ),
        None if !failed.is_empty() => (
            code::THRESHOLDS_FAILED,
            RunStatus::Finished,
            "failed",
            Some(format!(
                "thresholds on metrics '{}' have been crossed",
                failed.join(", ")
            )),
            None,
        ),
        None => (code::OK, RunStatus::Finished, "passed", None, None),
    };
    let setup_data = input.setup_data.and_then(|s| serde_json::from_str(&s).ok());
    let mut report = build::build_report(build::ReportInput {
        store: input.series,
        results: &results,
        options: SummaryOptions {
            trend_stats: input.trend_stats,
            time_unit: input.time_unit,
            ..SummaryOptions::default()
        },
        state: SummaryState {
            is_stdout_tty: false,
            is_stderr_tty: false,
            test_run_duration_ms: input.elapsed.as_secs_f64() * 1000.0,
        },
        result: RunResult {
            outcome: outcome.to_string(),
            exit_code,
            message: message.clone(),
            context,
        },
        setup_data,
        types: &type_of,
    });
    // A degraded run says so in its summary data.
    if let Some(note) = input.degraded_note {
        report.result.message = Some(match report.result.message.take() {
            Some(m) => format!("{m}; {note}"),
            None => note,
        });
    }
    let result = if failed.is_empty() && marked_failed.is_none() {
        ResultStatus::Passed
    } else {
        ResultStatus::Failed
    };
    let changes = RunChanges {
        result_status: Some(result),
        exit_code: Some(exit_code),
        abort_reason: input.reason.cloned(),
        error_code: input.reason.map(|r| r.exit_code()),
        error_detail: input.reason.map(|r| r.message()),
        stopped_by_id: None,
        ..Default::default()
    };
    Outcome {
        status,
        exit_code,
        summary: serde_json::to_value(&report).unwrap_or_default(),
        why: message.unwrap_or_else(|| "ran its course".into()),
        changes,
    }
}
