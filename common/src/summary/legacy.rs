//! k6's pre-v1 text summary (`--summary-mode=legacy`), as k6 v1.1.0 still prints it
//! (`k6-formats/summary_legacy.stdout`): the group/check tree, then every metric (including
//! `checks` and `group_duration`) in one alphabetical list, with `✓`/`✗` before metrics that
//! have thresholds.

use super::format::format_number;
use super::text::{display_name, metric_cells, sort_metrics, width, Columns};
use super::{CheckReport, GroupReport, MetricReport, SummaryReport};

const GREEN: u8 = 32;
const RED: u8 = 31;
const CYAN: u8 = 36;
const FAINT: u8 = 2;

/// The legacy renderer's decoration: colour first, then extra attributes (`\x1b[36;2m`).
#[derive(Clone, Copy)]
struct Decorate {
    on: bool,
}

impl Decorate {
    fn apply(self, text: &str, codes: &[u8]) -> String {
        if !self.on {
            return text.to_string();
        }
        let codes: Vec<String> = codes.iter().map(u8::to_string).collect();
        format!("\x1b[{}m{text}\x1b[0m", codes.join(";"))
    }
}

pub(super) fn render(report: &SummaryReport) -> String {
    let decorate = Decorate {
        on: report.colors_enabled(),
    };
    let mut lines = Vec::new();
    group_lines("     ", &report.root_group, decorate, &mut lines);
    lines.extend(metric_lines(report, decorate));
    lines.join("\n")
}

fn group_lines(indent: &str, group: &GroupReport, decorate: Decorate, lines: &mut Vec<String>) {
    let mut indent = indent.to_string();
    if !group.name.is_empty() {
        lines.push(format!("{indent}█ {}\n", group.name));
        indent.push_str("  ");
    }
    for check in &group.checks {
        lines.push(check_line(&indent, check, decorate));
    }
    if !group.checks.is_empty() {
        lines.push(String::new());
    }
    for sub in &group.groups {
        group_lines(&indent, sub, decorate, lines);
    }
}

fn check_line(indent: &str, check: &CheckReport, decorate: Decorate) -> String {
    if check.fails == 0 {
        return decorate.apply(&format!("{indent}✓ {}", check.name), &[GREEN]);
    }
    let percent = (100.0 * check.passes as f64 / (check.passes + check.fails) as f64).floor();
    decorate.apply(
        &format!(
            "{indent}✗ {}\n{indent} ↳  {}% — ✓ {} / ✗ {}",
            check.name,
            format_number(percent),
            check.passes,
            check.fails
        ),
        &[RED],
    )
}

fn metric_lines(report: &SummaryReport, decorate: Decorate) -> Vec<String> {
    let stats = &report.options.trend_stats;
    let time_unit = report.time_unit();
    let sub_indent = |m: &MetricReport| if m.name.contains('{') { "  " } else { "" };

    let mut metrics: Vec<&MetricReport> = report.metrics.iter().collect();
    sort_metrics(&mut metrics);
    let mut name_width = 0;
    let mut columns = Columns::default();
    let cells: Vec<_> = metrics
        .iter()
        .map(|m| {
            name_width = name_width.max(width(sub_indent(m)) + width(&display_name(&m.name)));
            let cells = metric_cells(m, stats, time_unit);
            columns.fit(&cells);
            cells
        })
        .collect();

    let value = move |s: &str| decorate.apply(s, &[CYAN]);
    let extra = move |s: &str| decorate.apply(s, &[CYAN, FAINT]);
    metrics
        .iter()
        .zip(&cells)
        .map(|(metric, cells)| {
            let mark = if metric.thresholds.is_empty() {
                " ".to_string()
            } else if metric.thresholds.iter().all(|t| t.ok) {
                decorate.apply("✓", &[GREEN])
            } else {
                decorate.apply("✗", &[RED])
            };
            let indent = sub_indent(metric);
            let shown = display_name(&metric.name);
            let dots = (name_width + 3).saturating_sub(width(&shown) + width(indent));
            format!(
                "   {indent}{mark} {shown}{} {}",
                decorate.apply(&format!("{}:", ".".repeat(dots)), &[FAINT]),
                columns.render(cells, stats, &value, &extra)
            )
        })
        .collect()
}
