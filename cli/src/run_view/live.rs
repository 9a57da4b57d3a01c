//! The live view of a cluster run for `submit --wait` and `status RUN --follow`: the progress
//! `volley run` draws (one renderer: `progress.rs`), built from what the controller serves,
//! plus the run's key figures and one row per agent.
//!
//! The controller does not stream per-scenario counters, so a scenario's progress here is its
//! share of its planned time (`startTime` to its end), its VUs the most it plans, and the
//! iterations the merged `iterations` count (none counted as interrupted until the end). The
//! merged metrics hold no `vus` gauge, so the active VUs are the sum of the agents' last
//! samples.

use std::time::Duration;

use serde_json::Value;
use volley_agent::engine::{Progress, ScenarioProgress};
use volley_api::{AgentUtilization, RunView};
use volley_common::options::Options;
use volley_common::status::RunStatus;

use super::{figure, ms, Style, BOLD, FAINT};

/// A cluster run's progress in the engine's shape; `None` when its options do not resolve
/// (then only the figures and agents are shown). `agents`: the run's agents, whose last
/// samples give the active VUs.
pub fn cluster_progress(
    run: &RunView,
    metrics: Option<&Value>,
    agents: &[AgentUtilization],
) -> Option<Progress> {
    let resolved = Options::from_script_json(&run.config)
        .and_then(|o| o.resolve())
        .ok()?;
    let elapsed = Duration::from_secs_f64(if run.duration.is_finite() {
        run.duration.max(0.0)
    } else {
        0.0
    });
    let ended = run.run_status.is_terminal();
    let scenarios = resolved
        .scenarios
        .iter()
        .map(|sc| {
            let planned = sc.max_duration();
            let own = elapsed.saturating_sub(sc.start_time).min(planned);
            let progress = if ended {
                1.0
            } else if planned.is_zero() {
                0.0
            } else {
                own.as_secs_f64() / planned.as_secs_f64()
            };
            ScenarioProgress {
                name: sc.name.clone(),
                progress: progress.clamp(0.0, 1.0),
                vus: sc.executor.max_vus(),
                elapsed: own,
                planned,
                finished: ended || (!planned.is_zero() && own >= planned),
                started: elapsed >= sc.start_time,
            }
        })
        .collect();
    let count = |metric: &str, stat: &str| {
        metrics
            .and_then(|m| figure(m, metric, stat))
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    Some(Progress {
        elapsed,
        active_vus: if ended {
            0
        } else {
            agents
                .iter()
                .filter_map(|a| a.samples.last())
                .map(|s| s.active_vus.max(0))
                .sum()
        },
        max_vus: run.vus,
        complete: count("iterations", "count").unwrap_or(0.0) as u64,
        interrupted: 0,
        scenarios,
        aborted: ended && run.run_status != RunStatus::Finished,
    })
}

/// The figures line: req/s, p(95) of the request duration, the error rate, iterations/s.
pub fn figures_line(metrics: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(rate) = figure(metrics, "http_reqs", "rate") {
        parts.push(format!("{rate:.1} req/s"));
    }
    if let Some(p95) = figure(metrics, "http_req_duration", "p(95)") {
        parts.push(format!("p(95) {}", ms(p95)));
    }
    if let Some(rate) = figure(metrics, "http_req_failed", "rate") {
        parts.push(format!("errors {:.2}%", rate * 100.0));
    }
    if let Some(rate) = figure(metrics, "iterations", "rate") {
        parts.push(format!("{rate:.1} iterations/s"));
    }
    (!parts.is_empty()).then(|| parts.join("  "))
}

/// One row per agent of the run: its segment, VUs, req/s and its process's CPU and RSS (the
/// host's figures are in `volley agents`).
pub fn agent_lines(run: &RunView, agents: &[AgentUtilization], style: &Style) -> Vec<String> {
    if run.assignments.is_empty() {
        return Vec::new();
    }
    let width = run
        .assignments
        .iter()
        .map(|a| a.agent.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let seg = run
        .assignments
        .iter()
        .map(|a| a.segment.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut lines = vec![style.paint(
        BOLD,
        &format!(
            "{:<width$}  {:<seg$}  {:>5}  {:>9}  {:>9}  {:>8}",
            "AGENT", "SEGMENT", "VUS", "REQ/S", "PROC CPU%", "PROC RSS"
        ),
    )];
    for a in &run.assignments {
        let last = agents
            .iter()
            .find(|u| u.agent == a.agent)
            .and_then(|u| u.samples.last());
        let (vus, rps, cpu, rss) = match last {
            Some(s) => (
                s.active_vus.max(0).to_string(),
                format!("{:.1}", s.requests_per_second),
                s.process_cpu_percent
                    .map_or_else(|| "-".into(), |c| format!("{c:.1}")),
                format!("{:.0} MiB", s.process_rss_bytes as f64 / 1_048_576.0),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        lines.push(format!(
            "{:<width$}  {}  {vus:>5}  {rps:>9}  {cpu:>9}  {rss:>8}",
            a.agent,
            style.paint(FAINT, &format!("{:<seg$}", a.segment)),
        ));
    }
    lines
}

/// The whole live block: the run's status, the progress `volley run` shows, the figures and
/// the agents.
pub fn live_lines(
    run: &RunView,
    metrics: Option<&Value>,
    agents: &[AgentUtilization],
    style: &Style,
) -> Vec<String> {
    let mut lines = vec![format!(
        "run {} {}",
        run.id,
        style.paint(
            super::status_color(run.run_status),
            &format!("{} ({})", run.run_status.name(), run.run_status.number())
        )
    )];
    if run.run_status == RunStatus::Running || run.run_status.is_terminal() {
        if let Some(p) = cluster_progress(run, metrics, agents) {
            lines.extend(crate::progress::progress_lines(
                &p,
                run.run_status.is_terminal(),
            ));
        }
    } else if let Some(t) = run.transitions.last().filter(|t| !t.reason.is_empty()) {
        lines.push(t.reason.clone());
    }
    if let Some(f) = metrics.and_then(figures_line) {
        lines.push(f);
    }
    lines.extend(agent_lines(run, agents, style));
    lines
}
