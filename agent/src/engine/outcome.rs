//! How a run ends: the exit code (one place decides it), abortOnFail thresholds, progress
//! snapshots, and the inputs of the summary.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use volley_common::exit::{code, AbortReason};
use volley_common::metrics::store::MetricInfo;
use volley_common::options::ResolvedOptions;
use volley_common::summary::build;
use volley_common::summary::SummaryOptions;
use volley_common::threshold::Threshold;

use super::{Progress, RunRequest, ScenarioProgress};
use crate::metrics::{MetricsStore, Registry, SampleSink};
use crate::output::RawOutput;
use crate::run::RunControl;
use crate::scenario::ScenarioRt;

/// The type of every registered metric (for thresholds on metrics without data).
pub(super) fn registry_types(registry: &Registry) -> impl Fn(&str) -> Option<MetricInfo> + '_ {
    move |name: &str| {
        registry.by_name(name).map(|(_, d)| MetricInfo {
            mtype: d.mtype,
            contains: d.contains,
        })
    }
}

pub(super) fn check_abort_thresholds(
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

/// The one place that picks the exit code of a local run (`docs/exit-codes.md`): the first
/// abort reason wins, then test.fail(), then failed thresholds.
pub(super) fn decide_exit(
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

pub(super) fn progress_snapshot(
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

/// Every raw-sample output, as one.
pub(super) struct FanOut(pub Vec<Arc<dyn RawOutput>>);

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
pub(super) fn summary_options(resolved: &ResolvedOptions, req: &RunRequest) -> SummaryOptions {
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
