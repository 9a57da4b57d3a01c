//! Human views of runs for `volley runs` and `volley status`: aligned tables, a run's status
//! with its reason, agents and segments, key figures, thresholds, transitions and events; and
//! of the agents for `volley agents` (`agents.rs`).
//! `--json` prints the API's documents instead (docs/cluster-runs.md).
//!
//! Colour only on a terminal and without `NO_COLOR`; columns are padded before they are
//! coloured, so escape codes never break the alignment.

use std::fmt::Write as _;
use std::io::IsTerminal;

use serde_json::Value;
use volley_api::{AgentUtilization, RunView};
use volley_common::status::{ResultStatus, RunStatus};
use volley_common::summary::SummaryReport;

mod agents;
pub mod live;
pub use agents::{agents_table, in_place};

/// Whether and how to colour text.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const CYAN: &str = "36";
const FAINT: &str = "2";
const BOLD: &str = "1";

/// Whether the environment turns colours off, as it does for k6: `NO_COLOR` set to anything,
/// or `K6_NO_COLOR` true.
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some()
        || std::env::var("K6_NO_COLOR").is_ok_and(|v| matches!(v.trim(), "true" | "1"))
}

impl Style {
    /// Colour when standard output is a terminal and the environment does not turn it off.
    pub fn for_stdout() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && !no_color_env(),
        }
    }

    #[cfg(test)]
    pub fn plain() -> Style {
        Style { color: false }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !code.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A run's result as users read it: only an ended run has one. `FINISHED` runs passed or
/// failed (thresholds, `exec.test.fail()`); a run aborted by its thresholds FAILED; other
/// aborted or timed-out runs have no verdict of their own (their status says what happened).
pub fn result_label(run: &RunView) -> &'static str {
    if !run.run_status.is_terminal() {
        return "-";
    }
    match (run.run_status, run.result_status) {
        (_, ResultStatus::Failed) | (RunStatus::AbortedByThreshold, _) => "FAILED",
        (RunStatus::Finished, _) => "PASSED",
        _ => "-",
    }
}

fn status_color(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Finished => GREEN,
        RunStatus::Running => CYAN,
        RunStatus::Created | RunStatus::Validated | RunStatus::Queued | RunStatus::Initializing => {
            YELLOW
        }
        _ => RED,
    }
}

fn result_color(label: &str) -> &'static str {
    match label {
        "PASSED" => GREEN,
        "FAILED" => RED,
        _ => FAINT,
    }
}

/// Pads `text` to `width` (left-aligned), then colours it.
fn cell(style: &Style, code: &str, text: &str, width: usize) -> String {
    style.paint(code, &format!("{text:<width$}"))
}

/// The NOTE column: the run's note, and for a QUEUED run what it waits for (its latest
/// "queued: …" event: the agents it needs, or the scaler it waits for), in full, as the last
/// column.
fn note_cell(r: &RunView) -> String {
    let note: String = volley_common::text::printable(&r.note)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .take(40)
        .collect();
    let waiting = (r.run_status == RunStatus::Queued)
        .then(|| {
            r.events
                .iter()
                .rev()
                .find_map(|e| e.message.strip_prefix("queued: "))
        })
        .flatten();
    match waiting {
        Some(why) if note.is_empty() => why.to_string(),
        Some(why) => format!("{note} ({why})"),
        None => note,
    }
}

/// Who started a run: its token's name, `-` on an open API (no tokens).
fn started_by(r: &RunView) -> String {
    if r.started_by.is_empty() {
        "-".into()
    } else {
        r.started_by.chars().take(40).collect()
    }
}

/// `volley runs`: one aligned row per run, newest last.
pub fn runs_table(runs: &[RunView], style: &Style) -> String {
    let headers = [
        "RUN",
        "TEST",
        "STATUS",
        "RESULT",
        "VUS",
        "EXIT",
        "CREATED",
        "STARTED BY",
        "NOTE",
    ];
    let rows: Vec<[String; 9]> = runs
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.test_id.to_string(),
                r.run_status.name().to_string(),
                result_label(r).to_string(),
                r.vus.to_string(),
                r.exit_code.map_or_else(|| "-".into(), |x| x.to_string()),
                r.created.clone(),
                started_by(r),
                note_cell(r),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = headers
        .iter()
        .zip(&widths)
        .map(|(h, w)| cell(style, BOLD, h, *w))
        .collect();
    let _ = writeln!(out, "{}", head.join("  ").trim_end());
    for (row, r) in rows.iter().zip(runs) {
        let codes = [
            "",
            "",
            status_color(r.run_status),
            result_color(&row[3]),
            "",
            "",
            FAINT,
            "",
            "",
        ];
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .zip(codes)
            .map(|((v, w), c)| cell(style, c, v, *w))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    if runs.is_empty() {
        let _ = writeln!(out, "(no runs yet: `volley submit test.js` starts one)");
    }
    out
}

/// A figure of the live merged metrics (`GET /v1/runs/{id}/metrics`): `metric.values.stat`.
fn figure(metrics: &Value, metric: &str, stat: &str) -> Option<f64> {
    metrics
        .get("metrics")?
        .get(metric)?
        .get("values")?
        .get(stat)?
        .as_f64()
}

/// Milliseconds as k6 prints durations (`812µs`, `12.3ms`, `1.52s`).
fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{:.0}µs", v * 1000.0)
    } else if v < 1000.0 {
        format!("{v:.2}ms")
    } else {
        format!("{:.2}s", v / 1000.0)
    }
}

/// Key figures of a run, from its live merged metrics.
pub fn key_figures(metrics: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(n) = figure(metrics, "http_reqs", "count") {
        let rate = figure(metrics, "http_reqs", "rate").unwrap_or(0.0);
        out.push(format!("requests {n:.0} ({rate:.1}/s)"));
    }
    if let Some(p95) = figure(metrics, "http_req_duration", "p(95)") {
        let avg = figure(metrics, "http_req_duration", "avg").unwrap_or(0.0);
        out.push(format!(
            "http_req_duration avg {} p(95) {}",
            ms(avg),
            ms(p95)
        ));
    }
    if let Some(rate) = figure(metrics, "http_req_failed", "rate") {
        out.push(format!("failed {:.2}%", rate * 100.0));
    }
    if let Some(n) = figure(metrics, "iterations", "count") {
        let rate = figure(metrics, "iterations", "rate").unwrap_or(0.0);
        out.push(format!("iterations {n:.0} ({rate:.1}/s)"));
    }
    if let Some(rate) = figure(metrics, "checks", "rate") {
        out.push(format!("checks {:.2}%", rate * 100.0));
    }
    if let Some(v) = figure(metrics, "vus", "value") {
        out.push(format!("VUs {v:.0}"));
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Everything `volley status RUN` shows about a run.
pub struct StatusParts<'a> {
    pub run: &'a RunView,
    /// Live merged metrics, when the run has sent data.
    pub metrics: Option<&'a Value>,
    /// The run's agents with their utilization samples.
    pub agents: &'a [AgentUtilization],
    /// The end-of-test report, once the run has ended.
    pub report: Option<&'a SummaryReport>,
}

/// `volley status RUN`: the run as a person reads it.
pub fn status_text(p: &StatusParts, style: &Style) -> String {
    let run = p.run;
    let mut out = String::new();
    let status = style.paint(
        status_color(run.run_status),
        &format!("{} ({})", run.run_status.name(), run.run_status.number()),
    );
    let result = result_label(run);
    let _ = writeln!(
        out,
        "{} {}  {status}  result {}  exit code {}",
        style.paint(BOLD, "run"),
        style.paint(BOLD, &run.id.to_string()),
        style.paint(result_color(result), result),
        run.exit_code.map_or_else(|| "-".into(), |c| c.to_string())
    );
    let _ = writeln!(
        out,
        "  test {}  VUs {}  created {}{}{}",
        run.test_id,
        run.vus,
        run.created,
        run.started
            .as_deref()
            .map_or_else(String::new, |s| format!("  started {s}")),
        run.ended
            .as_deref()
            .map_or_else(String::new, |s| format!("  ended {s}"))
    );
    if !run.started_by.is_empty() {
        let _ = writeln!(out, "  started by {}", run.started_by);
    }
    if !run.note.is_empty() {
        let _ = writeln!(out, "  note: {}", volley_common::text::printable(&run.note));
    }
    if let Some(t) = run.transitions.last().filter(|t| !t.reason.is_empty()) {
        let _ = writeln!(out, "  reason: {}", t.reason);
    }
    if let Some(d) = run.error_detail.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "  {}: {d}", style.paint(RED, "error"));
    }
    if run.degraded {
        let _ = writeln!(
            out,
            "  {}: an agent was lost and the run went on without it",
            style.paint(YELLOW, "DEGRADED")
        );
    }
    if let Some(m) = p.metrics {
        let figures = key_figures(m);
        if !figures.is_empty() {
            let _ = writeln!(out, "\n{}", style.paint(BOLD, "Figures"));
            let _ = writeln!(out, "  {}", figures.join("  ·  "));
        }
    }
    agents_section(&mut out, p, style);
    if let Some(report) = p.report {
        thresholds_section(&mut out, report, style);
    }
    if !run.transitions.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint(BOLD, "Transitions"));
        for t in &run.transitions {
            // The first transition (the run's creation) has no status before it.
            let from = if t.from == t.to {
                String::new()
            } else {
                format!("{} → ", t.from.name())
            };
            let _ = writeln!(
                out,
                "  {}  {from}{}{}",
                style.paint(FAINT, &t.at),
                style.paint(status_color(t.to), t.to.name()),
                if t.reason.is_empty() {
                    String::new()
                } else {
                    format!("  {}", t.reason)
                }
            );
        }
    }
    if !run.events.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint(BOLD, "Events"));
        for e in &run.events {
            let level = match e.level.as_str() {
                "error" => style.paint(RED, &e.level),
                "warning" | "warn" => style.paint(YELLOW, &e.level),
                other => other.to_string(),
            };
            let _ = writeln!(
                out,
                "  {}  {level}  {}",
                style.paint(FAINT, &e.at),
                e.message
            );
        }
    }
    out
}

fn agents_section(out: &mut String, p: &StatusParts, style: &Style) {
    if p.run.assignments.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", style.paint(BOLD, "Agents"));
    let _ = writeln!(
        out,
        "  {}",
        style.paint(
            BOLD,
            &format!(
                "{:<20} {:<12} {:>5} {:>9} {:>9} {:>10} {:>9} {:>9}",
                "AGENT",
                "SEGMENT",
                "VUS",
                "REQ/S",
                "PROC CPU%",
                "PROC RSS",
                "HOST CPU%",
                "HOST MEM%"
            )
        )
    );
    for a in &p.run.assignments {
        let last = p
            .agents
            .iter()
            .find(|u| u.agent == a.agent)
            .and_then(|u| u.samples.last());
        let dash = || "-".to_string();
        let (vus, rps, pcpu, rss, cpu, mem) = match last {
            Some(s) => (
                s.active_vus.to_string(),
                format!("{:.1}", s.requests_per_second),
                s.process_cpu_percent
                    .map_or_else(dash, |c| format!("{c:.1}")),
                mib(s.process_rss_bytes),
                format!("{:.1}", s.cpu_percent),
                format!("{:.1}", s.memory_percent),
            ),
            None => (dash(), dash(), dash(), dash(), dash(), dash()),
        };
        let _ = writeln!(
            out,
            "  {:<20} {:<12} {vus:>5} {rps:>9} {pcpu:>9} {rss:>10} {cpu:>9} {mem:>9}",
            a.agent, a.segment
        );
    }
}

fn thresholds_section(out: &mut String, report: &SummaryReport, style: &Style) {
    let lines: Vec<String> = report
        .metrics
        .iter()
        .flat_map(|m| {
            m.thresholds.iter().map(move |t| {
                let mark = if t.ok {
                    style.paint(GREEN, "✓")
                } else {
                    style.paint(RED, "✗")
                };
                format!(
                    "  {mark} {}: {}  ({} = {})",
                    m.name, t.source, t.stat, t.observed
                )
            })
        })
        .collect();
    if !lines.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint(BOLD, "Thresholds"));
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
}

#[cfg(test)]
mod tests;
