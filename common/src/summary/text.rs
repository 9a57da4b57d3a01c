//! k6 v1.1.0's `compact` and `full` text summaries.
//!
//! Layout rules, measured against `k6-formats/summary_{compact,full}.stdout` and
//! `json_out.stdout`:
//! * sections are `  █ TITLE ` plus a blank line; THRESHOLDS (only when a metric has
//!   thresholds), TOTAL RESULTS, then in `full` mode one `█ GROUP: name` per top-level group
//!   (sorted) with nested groups as `↳ GROUP: name`;
//! * a block of metric lines shares one layout: the name column is as wide as the widest
//!   `indent + name + display name` (so a plain name counts twice and a submetric counts its
//!   full name plus `{ tags }`) plus 3 dots, and every value column is padded to the widest
//!   value of that column in the whole block, across the CUSTOM/HTTP/... sub-sections;
//! * metrics are sorted like JS `localeCompare`, submetrics right after their parent.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::format::{format_number, format_per_second, format_value};
use super::{parent_name, CheckReport, GroupReport, MetricReport, SummaryMode, SummaryReport};

const GREEN: u8 = 32;
const RED: u8 = 31;
const WHITE: u8 = 37;
const CYAN: u8 = 36;
const FAINT: u8 = 2;

/// Marker items: a lone newline in the item list becomes an empty line.
const BLANK: &str = "\n";

/// Optional ANSI decoration, mirroring k6's formatter (styles first, then the colour).
#[derive(Clone, Copy)]
pub(crate) struct Painter {
    pub(crate) on: bool,
}

impl Painter {
    fn color(self, text: &str, color: u8) -> String {
        if self.on {
            format!("\x1b[{color}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn faint(self, text: &str, color: u8) -> String {
        if self.on {
            format!("\x1b[{FAINT};{color}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(self, text: &str) -> String {
        if self.on {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

/// Display width of a plain (undecorated) string.
pub(crate) fn width(s: &str) -> usize {
    s.chars().count()
}

/// `metric{tags}` -> `{ tags }`, like k6 (drops the name and the final character).
pub(crate) fn display_name(name: &str) -> String {
    match name.find('{') {
        Some(pos) => {
            let inner: Vec<char> = name[pos + 1..].chars().collect();
            let inner: String = inner[..inner.len().saturating_sub(1)].iter().collect();
            format!("{{ {inner} }}")
        }
        None => name.to_string(),
    }
}

/// Primary collation weight of one character, approximating the CLDR root collation that
/// k6's JS runtime uses for `localeCompare`: whitespace and punctuation/symbols first (in
/// CLDR order), then digits, then letters case-insensitively, then everything else.
fn primary_weight(c: char) -> (u8, u32) {
    const SYMBOLS: &str = "\t\n\u{b}\u{c}\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";
    if let Some(i) = SYMBOLS.find(c) {
        (0, i as u32)
    } else if c.is_ascii_digit() {
        (1, c as u32)
    } else if c.is_ascii_alphabetic() {
        (2, c.to_ascii_lowercase() as u32)
    } else {
        (3, c as u32)
    }
}

/// JS `a.localeCompare(b)` for the ASCII names k6 sorts (metrics, groups): letters compare
/// case-insensitively first, lowercase wins ties, `_` sorts before digits and letters.
pub(crate) fn locale_compare(a: &str, b: &str) -> Ordering {
    a.chars()
        .map(primary_weight)
        .cmp(b.chars().map(primary_weight))
        .then_with(|| {
            a.chars()
                .map(|c| c.is_ascii_uppercase())
                .cmp(b.chars().map(|c| c.is_ascii_uppercase()))
        })
        .then_with(|| a.cmp(b))
}

/// k6's metric order: by parent name, then by the `{tags}` suffix, so submetrics follow
/// their parent.
pub(crate) fn compare_metric_names(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (parent_name(a), parent_name(b));
    locale_compare(pa, pb).then_with(|| locale_compare(&a[pa.len()..], &b[pb.len()..]))
}

pub(crate) fn sort_metrics(metrics: &mut [&MetricReport]) {
    metrics.sort_by(|a, b| compare_metric_names(&a.name, &b.name));
}

/// The formatted cells of one metric line.
pub(crate) enum Cells {
    /// One string per trend stat.
    Trend(Vec<String>),
    /// The main value and its extras (`6.48/s`; `min=`, `max=`; `10 out of 20`).
    Plain { main: String, extras: Vec<String> },
}

/// Formats a metric's values the way k6 lays them out in a summary line.
pub(crate) fn metric_cells(
    metric: &MetricReport,
    stats: &[String],
    time_unit: Option<&str>,
) -> Cells {
    let get = |key: &str| metric.value(key).unwrap_or(f64::NAN);
    let fmt = |v: f64| format_value(v, &metric.metric_type, &metric.contains, time_unit);
    match metric.metric_type.as_str() {
        "trend" => Cells::Trend(
            stats
                .iter()
                .map(|stat| {
                    if stat == "count" {
                        format_number(get(stat))
                    } else {
                        fmt(get(stat))
                    }
                })
                .collect(),
        ),
        "counter" => Cells::Plain {
            main: fmt(get("count")),
            extras: vec![format_per_second(get("rate"), &metric.contains, time_unit)],
        },
        "gauge" => Cells::Plain {
            main: fmt(get("value")),
            extras: vec![
                format!("min={}", fmt(get("min"))),
                format!("max={}", fmt(get("max"))),
            ],
        },
        "rate" => {
            let (passes, fails) = (get("passes"), get("fails"));
            Cells::Plain {
                main: fmt(get("rate")),
                extras: vec![format!(
                    "{} out of {}",
                    format_number(passes),
                    format_number(passes + fails)
                )],
            }
        }
        _ => Cells::Plain {
            main: "[no data]".to_string(),
            extras: Vec::new(),
        },
    }
}

/// Column widths shared by every line of one metrics block.
#[derive(Default)]
pub(crate) struct Columns {
    pub(crate) trend: Vec<usize>,
    pub(crate) main: usize,
    pub(crate) extras: Vec<usize>,
}

impl Columns {
    pub(crate) fn fit(&mut self, cells: &Cells) {
        match cells {
            Cells::Trend(cols) => fit_all(&mut self.trend, cols),
            Cells::Plain { main, extras } => {
                self.main = self.main.max(width(main));
                fit_all(&mut self.extras, extras);
            }
        }
    }

    /// The data part of a line; `extra_color` styles extras (k6's new and legacy renderers
    /// differ only in how they encode "faint cyan").
    pub(crate) fn render(
        &self,
        cells: &Cells,
        stats: &[String],
        value: &dyn Fn(&str) -> String,
        extra: &dyn Fn(&str) -> String,
    ) -> String {
        match cells {
            Cells::Trend(cols) => cols
                .iter()
                .enumerate()
                .map(|(i, col)| {
                    let stat = stats.get(i).map(String::as_str).unwrap_or("");
                    let pad = self
                        .trend
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(width(col));
                    format!("{stat}={}{}", value(col), spaces(pad))
                })
                .collect::<Vec<_>>()
                .join(" "),
            Cells::Plain { main, extras } => {
                let mut out = format!(
                    "{}{}",
                    value(main),
                    spaces(self.main.saturating_sub(width(main)))
                );
                match extras.len() {
                    0 => {}
                    1 => {
                        out.push(' ');
                        out.push_str(&extra(&extras[0]));
                    }
                    _ => {
                        let parts: Vec<String> = extras
                            .iter()
                            .enumerate()
                            .map(|(i, e)| {
                                let pad = self
                                    .extras
                                    .get(i)
                                    .copied()
                                    .unwrap_or(0)
                                    .saturating_sub(width(e));
                                format!("{}{}", extra(e), spaces(pad))
                            })
                            .collect();
                        out.push(' ');
                        out.push_str(&parts.join(" "));
                    }
                }
                out
            }
        }
    }
}

fn fit_all(widths: &mut Vec<usize>, cols: &[String]) {
    for (i, col) in cols.iter().enumerate() {
        if widths.len() <= i {
            widths.push(0);
        }
        widths[i] = widths[i].max(width(col));
    }
}

/// Which sub-section of a metrics block a metric belongs to, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Custom,
    Http,
    Execution,
    Network,
    Browser,
    WebVitals,
    Grpc,
    WebSocket,
}

impl Category {
    const ALL: [Category; 8] = [
        Category::Custom,
        Category::Http,
        Category::Execution,
        Category::Network,
        Category::Browser,
        Category::WebVitals,
        Category::Grpc,
        Category::WebSocket,
    ];

    fn title(self) -> &'static str {
        match self {
            Category::Custom => "CUSTOM",
            Category::Http => "HTTP",
            Category::Execution => "EXECUTION",
            Category::Network => "NETWORK",
            Category::Browser => "BROWSER",
            Category::WebVitals => "WEB_VITALS",
            Category::Grpc => "GRPC",
            Category::WebSocket => "WEBSOCKET",
        }
    }

    /// k6 matches built-in metric names by *prefix*, which also catches their submetrics
    /// (and, as in k6, any custom metric whose name starts with a built-in one).
    fn of(name: &str) -> Category {
        const HTTP: [&str; 9] = [
            "http_reqs",
            "http_req_failed",
            "http_req_duration",
            "http_req_blocked",
            "http_req_connecting",
            "http_req_tls_handshaking",
            "http_req_sending",
            "http_req_waiting",
            "http_req_receiving",
        ];
        const EXECUTION: [&str; 5] = [
            "vus",
            "vus_max",
            "iterations",
            "iteration_duration",
            "dropped_iterations",
        ];
        const NETWORK: [&str; 2] = ["data_sent", "data_received"];
        let has = |list: &[&str]| list.iter().any(|p| name.starts_with(p));
        if has(&HTTP) {
            Category::Http
        } else if has(&EXECUTION) {
            Category::Execution
        } else if has(&NETWORK) {
            Category::Network
        } else if name.starts_with("browser_web_vital_") {
            Category::WebVitals
        } else if name.starts_with("browser_") {
            Category::Browser
        } else if name.starts_with("grpc_") {
            Category::Grpc
        } else if name.starts_with("ws_") {
            Category::WebSocket
        } else {
            Category::Custom
        }
    }
}

/// Metrics k6 leaves out of the metric lists (by name prefix): `checks` has its own block and
/// `group_duration` is never shown; compact also drops the detailed HTTP timings.
fn is_skipped(mode: SummaryMode, name: &str) -> bool {
    const ALWAYS: [&str; 2] = ["checks", "group_duration"];
    const COMPACT: [&str; 6] = [
        "http_req_blocked",
        "http_req_connecting",
        "http_req_receiving",
        "http_req_sending",
        "http_req_tls_handshaking",
        "http_req_waiting",
    ];
    ALWAYS.iter().any(|p| name.starts_with(p))
        || (mode == SummaryMode::Compact && COMPACT.iter().any(|p| name.starts_with(p)))
}

/// The checks shown in a block: overall counts and the per-check lines.
struct ChecksBlock {
    passes: f64,
    fails: f64,
    checks: Vec<CheckReport>,
}

/// Every check of the tree in first-seen order (depth first), merged by name the way k6's
/// TOTAL RESULTS aggregates them.
fn flatten_checks(group: &GroupReport, out: &mut Vec<CheckReport>) {
    for check in &group.checks {
        match out.iter_mut().find(|c| c.name == check.name) {
            Some(existing) => {
                existing.passes += check.passes;
                existing.fails += check.fails;
            }
            None => out.push(check.clone()),
        }
    }
    for sub in &group.groups {
        flatten_checks(sub, out);
    }
}

struct Renderer<'a> {
    report: &'a SummaryReport,
    paint: Painter,
    stats: &'a [String],
    time_unit: Option<&'a str>,
}

pub(super) fn render(report: &SummaryReport) -> String {
    let r = Renderer {
        report,
        paint: Painter {
            on: report.colors_enabled(),
        },
        stats: &report.options.trend_stats,
        time_unit: report.time_unit(),
    };
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(content) = r.thresholds() {
        sections.push((r.title("THRESHOLDS", 0, "█"), content));
    }
    sections.push((r.title("TOTAL RESULTS", 0, "█"), r.total_results()));
    if report.options.mode == SummaryMode::Full {
        let mut groups: Vec<&GroupReport> = report.root_group.groups.iter().collect();
        groups.sort_by(|a, b| locale_compare(&a.name, &b.name));
        for group in groups {
            sections.push((
                r.title(&format!("GROUP: {}", group.name), 0, "█"),
                r.group_content(group, 0),
            ));
        }
    }

    let mut out = String::new();
    for (title, content) in sections {
        for item in std::iter::once(title)
            .chain(content)
            .chain(std::iter::once(BLANK.to_string()))
        {
            if item != BLANK {
                out.push('\n');
            }
            out.push_str(&item);
        }
    }
    out
}

impl Renderer<'_> {
    /// `base` is k6's indentation level: text at level `b` is indented by `(b + 1) * 2`.
    fn title(&self, text: &str, base: usize, prefix: &str) -> String {
        format!(
            "{}{prefix} {} \n",
            spaces((base + 1) * 2),
            self.paint.bold(text)
        )
    }

    fn thresholds(&self) -> Option<Vec<String>> {
        let mut metrics: Vec<&MetricReport> = self
            .report
            .metrics
            .iter()
            .filter(|m| !m.thresholds.is_empty())
            .collect();
        if metrics.is_empty() {
            return None;
        }
        sort_metrics(&mut metrics);
        let names: HashSet<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        let mut lines = Vec::new();
        for metric in metrics {
            let parent = parent_name(&metric.name);
            // A submetric sits under its parent only when the parent has thresholds too.
            let under_parent = parent.len() < metric.name.len() && names.contains(parent);
            let indent = spaces(if under_parent { 6 } else { 4 });
            let label = if under_parent {
                &metric.name[parent.len()..]
            } else {
                metric.name.as_str()
            };
            lines.push(format!("{indent}{label}"));
            for threshold in &metric.thresholds {
                let status = if threshold.ok {
                    self.paint.color("✓", GREEN)
                } else {
                    self.paint.color("✗", RED)
                };
                lines.push(format!(
                    "{indent}{status} {} {}={}",
                    self.paint.color(&format!("'{}'", threshold.source), WHITE),
                    self.paint.color(&threshold.stat, WHITE),
                    self.paint.color(
                        &self.threshold_value(metric, &threshold.stat, threshold.observed),
                        CYAN
                    ),
                ));
            }
            lines.push(BLANK.to_string());
        }
        Some(lines)
    }

    /// The observed value as k6 prints it after `stat=`: like the metric's own cell, so a
    /// counter's rate keeps its `/s` and a rate metric prints a percentage.
    fn threshold_value(&self, metric: &MetricReport, stat: &str, observed: f64) -> String {
        match metric.metric_type.as_str() {
            "trend" if stat == "count" => format_number(observed),
            "counter" if stat != "count" => {
                format_per_second(observed, &metric.contains, self.time_unit)
            }
            _ => format_value(
                observed,
                &metric.metric_type,
                &metric.contains,
                self.time_unit,
            ),
        }
    }

    fn total_results(&self) -> Vec<String> {
        let mut checks = Vec::new();
        flatten_checks(&self.report.root_group, &mut checks);
        let (passes, fails) = match self.report.metrics.iter().find(|m| m.name == "checks") {
            Some(metric) => (
                metric.value("passes").unwrap_or(0.0),
                metric.value("fails").unwrap_or(0.0),
            ),
            None => (
                checks.iter().map(|c| c.passes as f64).sum(),
                checks.iter().map(|c| c.fails as f64).sum(),
            ),
        };
        let block = (self.report.metrics.iter().any(|m| m.name == "checks") || !checks.is_empty())
            .then_some(ChecksBlock {
                passes,
                fails,
                checks,
            });
        let metrics: Vec<&MetricReport> = self.report.metrics.iter().collect();
        self.block_content(0, block, &metrics, &[])
    }

    fn group_content(&self, group: &GroupReport, base: usize) -> Vec<String> {
        let block = (!group.checks.is_empty()).then(|| ChecksBlock {
            passes: group.checks.iter().map(|c| c.passes as f64).sum(),
            fails: group.checks.iter().map(|c| c.fails as f64).sum(),
            checks: group.checks.clone(),
        });
        let metrics: Vec<&MetricReport> = group.metrics.iter().flatten().collect();
        self.block_content(base, block, &metrics, &group.groups)
    }

    /// A checks block, the metric sub-sections and (full mode) nested groups, at level `base`.
    fn block_content(
        &self,
        base: usize,
        checks: Option<ChecksBlock>,
        metrics: &[&MetricReport],
        groups: &[GroupReport],
    ) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(block) = checks {
            lines.extend(self.checks_block(base + 1, &block));
            lines.push(BLANK.to_string());
        }
        lines.extend(self.metric_sections(base + 1, metrics));
        let mut nested: Vec<&GroupReport> = groups.iter().collect();
        nested.sort_by(|a, b| locale_compare(&a.name, &b.name));
        for group in nested {
            lines.push(self.title(&format!("GROUP: {}", group.name), base + 1, "↳"));
            lines.extend(self.group_content(group, base + 1));
        }
        lines
    }

    fn checks_block(&self, base: usize, block: &ChecksBlock) -> Vec<String> {
        let total = block.passes + block.fails;
        let seconds = self.report.state.test_run_duration_ms / 1000.0;
        let per_second = if seconds > 0.0 { total / seconds } else { 0.0 };
        let ratio = |part: f64| if total > 0.0 { part / total } else { 0.0 };
        let rows = [
            MetricReport::new(
                "checks_total",
                "counter",
                "default",
                vec![("count".into(), total), ("rate".into(), per_second)],
            ),
            MetricReport::new(
                "checks_succeeded",
                "rate",
                "default",
                vec![
                    ("rate".into(), ratio(block.passes)),
                    ("passes".into(), block.passes),
                    ("fails".into(), block.fails),
                ],
            ),
            MetricReport::new(
                "checks_failed",
                "rate",
                "default",
                vec![
                    ("rate".into(), ratio(block.fails)),
                    ("passes".into(), block.fails),
                    ("fails".into(), block.passes),
                ],
            ),
        ];
        let refs: Vec<&MetricReport> = rows.iter().collect();
        let indent = (base + 1) * 2;
        let mut lines = self.metric_lines(indent, &[&refs]).concat();
        lines.push(BLANK.to_string());
        for check in &block.checks {
            lines.push(self.check_line(check, base));
        }
        lines
    }

    fn check_line(&self, check: &CheckReport, base: usize) -> String {
        let indent = spaces((base + 1) * 2);
        if check.fails == 0 {
            return format!(
                "{indent}{}",
                self.paint.color(&format!("✓ {}", check.name), GREEN)
            );
        }
        let percent = (100.0 * check.passes as f64 / (check.passes + check.fails) as f64).floor();
        let details = format!(
            "↳  {}% — ✓ {} / ✗ {}",
            format_number(percent),
            check.passes,
            check.fails
        );
        // k6 indents the details line by `(2 * base + 1) * 2`: 6 spaces at the top level,
        // 10 in a nested group.
        format!(
            "{indent}{}\n{}{}",
            self.paint.color(&format!("✗ {}", check.name), RED),
            spaces((2 * base + 1) * 2),
            self.paint.color(&details, RED)
        )
    }

    fn metric_sections(&self, base: usize, metrics: &[&MetricReport]) -> Vec<String> {
        let mut sections: Vec<(Category, Vec<&MetricReport>)> =
            Category::ALL.iter().map(|c| (*c, Vec::new())).collect();
        for metric in metrics {
            if is_skipped(self.report.options.mode, &metric.name) {
                continue;
            }
            let category = Category::of(&metric.name);
            if let Some((_, list)) = sections.iter_mut().find(|(c, _)| *c == category) {
                list.push(metric);
            }
        }
        sections.retain(|(_, list)| !list.is_empty());
        for (_, list) in &mut sections {
            sort_metrics(list);
        }
        let indent = (base + 1) * 2;
        let groups: Vec<&[&MetricReport]> =
            sections.iter().map(|(_, list)| list.as_slice()).collect();
        let rendered = self.metric_lines(indent, &groups);
        let mut lines = Vec::new();
        for ((category, _), rows) in sections.iter().zip(rendered) {
            lines.push(format!(
                "{}{}",
                spaces(indent),
                self.paint.bold(category.title())
            ));
            lines.extend(rows);
            lines.push(BLANK.to_string());
        }
        lines
    }

    /// Renders several lists of metrics that share one layout (one name width, one width per
    /// value column), returning the lines of each list.
    fn metric_lines(&self, indent: usize, lists: &[&[&MetricReport]]) -> Vec<Vec<String>> {
        let row_indent = |m: &MetricReport| {
            if m.name.contains('{') {
                indent + 2
            } else {
                indent
            }
        };
        let mut name_width = 0;
        let mut columns = Columns::default();
        let cells: Vec<Vec<Cells>> = lists
            .iter()
            .map(|list| {
                list.iter()
                    .map(|m| {
                        name_width = name_width
                            .max(row_indent(m) + width(&m.name) + width(&display_name(&m.name)));
                        let cells = metric_cells(m, self.stats, self.time_unit);
                        columns.fit(&cells);
                        cells
                    })
                    .collect()
            })
            .collect();
        let paint = self.paint;
        let value = move |s: &str| paint.color(s, CYAN);
        let extra = move |s: &str| paint.faint(s, CYAN);
        lists
            .iter()
            .zip(cells)
            .map(|(list, cells)| {
                list.iter()
                    .zip(cells)
                    .map(|(metric, cells)| {
                        let ind = row_indent(metric);
                        let shown = display_name(&metric.name);
                        let dots = (name_width + 3).saturating_sub(width(&shown) + ind);
                        format!(
                            "{}{shown}{} {}",
                            spaces(ind),
                            self.paint.faint(&format!("{}:", ".".repeat(dots)), WHITE),
                            columns.render(&cells, self.stats, &value, &extra)
                        )
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
