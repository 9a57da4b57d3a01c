//! The end-of-test summary: one [`SummaryReport`] holds everything k6 shows after a run, and
//! turns into each of k6's three outputs:
//!
//! * [`SummaryReport::to_handle_summary_data`]: the object `handleSummary(data)` receives
//!   (plus Volley's `result` key, so scripts can see why a run ended);
//! * [`SummaryReport::to_summary_export`]: the legacy `--summary-export` JSON file;
//! * [`SummaryReport::render_text`]: the text summary printed on stdout, in k6 v1.1.0's
//!   `compact` (default), `full` and `legacy` layouts.
//!
//! The report is plain data (already-aggregated values), so the controller can build it from
//! merged metrics and ship it to the CLI as JSON; this module depends on nothing else in Volley.

pub mod build;
mod data;
mod format;
mod groups;
mod legacy;
mod text;

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use format::{
    format_bytes, format_duration, format_duration_in_unit, format_float, format_number,
    format_per_second, format_percent, format_value, is_valid_time_unit,
};

/// k6's default `summaryTrendStats`.
pub const DEFAULT_TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

/// Errors from parsing summary settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryError {
    /// `--summary-mode` / `summaryMode` got an unknown value.
    #[error("invalid summaryMode {0:?}: use \"compact\" (the default), \"full\" or \"legacy\"")]
    InvalidMode(String),
    /// `--summary-time-unit` / `summaryTimeUnit` got an unknown value.
    #[error("invalid summaryTimeUnit {0:?}: use \"s\", \"ms\" or \"us\", or leave it empty for automatic units")]
    InvalidTimeUnit(String),
}

/// Which text layout [`SummaryReport::render_text`] produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryMode {
    /// Thresholds, checks and the most useful metrics, grouped by kind (k6's default).
    #[default]
    Compact,
    /// Compact plus every HTTP timing and one section per group.
    Full,
    /// The pre-v1 layout: a group/check tree, then one alphabetical metric list.
    Legacy,
}

impl SummaryMode {
    /// The option value (`compact`, `full`, `legacy`).
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryMode::Compact => "compact",
            SummaryMode::Full => "full",
            SummaryMode::Legacy => "legacy",
        }
    }
}

impl FromStr for SummaryMode {
    type Err = SummaryError;

    /// Parses an option value; empty means the default (compact), as in k6.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "compact" => Ok(SummaryMode::Compact),
            "full" => Ok(SummaryMode::Full),
            "legacy" => Ok(SummaryMode::Legacy),
            other => Err(SummaryError::InvalidMode(other.to_string())),
        }
    }
}

impl fmt::Display for SummaryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a `summaryTimeUnit` value before a run starts, so a typo fails fast instead of
/// silently falling back to automatic units.
pub fn validate_time_unit(unit: &str) -> Result<(), SummaryError> {
    if is_valid_time_unit(unit) {
        Ok(())
    } else {
        Err(SummaryError::InvalidTimeUnit(unit.to_string()))
    }
}

/// Everything the end-of-test summary shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryReport {
    /// Top-level metrics and submetrics (`http_req_duration{status:404}`), in any order:
    /// every renderer sorts them the way k6 does.
    pub metrics: Vec<MetricReport>,
    /// The group tree with its checks; the root has an empty name and path.
    pub root_group: GroupReport,
    /// Rendering options from the test's options.
    pub options: SummaryOptions,
    /// Facts about the process and the run.
    pub state: SummaryState,
    /// What `setup()` returned, if it returned anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_data: Option<Value>,
    /// How the run ended (Volley's addition to k6's summary data).
    pub result: RunResult,
}

/// `summaryTrendStats`, `summaryTimeUnit`, `noColor` and the summary mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// Which trend statistics to show, in order (`avg`, `p(99.9)`, `count`, ...).
    pub trend_stats: Vec<String>,
    /// Forces every duration into `s`, `ms` or `us`; `None` (or anything else) picks units
    /// automatically.
    #[serde(default)]
    pub time_unit: Option<String>,
    /// `--no-color`: never emit ANSI escapes.
    #[serde(default)]
    pub no_color: bool,
    /// The text layout.
    #[serde(default)]
    pub mode: SummaryMode,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            trend_stats: DEFAULT_TREND_STATS.iter().map(|s| s.to_string()).collect(),
            time_unit: None,
            no_color: false,
            mode: SummaryMode::Compact,
        }
    }
}

/// `data.state` of `handleSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryState {
    /// Whether stdout is a terminal (k6 colours the summary only then).
    pub is_stdout_tty: bool,
    /// Whether stderr is a terminal.
    pub is_stderr_tty: bool,
    /// Wall time of the whole run, setup and teardown included; per-second rates of the
    /// checks block are derived from it.
    pub test_run_duration_ms: f64,
}

/// How the run ended, exposed to scripts as `data.result = { outcome, exitCode, message,
/// context }` (e.g. the `message`/`context` given to `test.abort()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `"passed"`, `"failed"` (thresholds), `"aborted"`, ...
    pub outcome: String,
    /// The process exit code the run produces.
    pub exit_code: i32,
    /// A human-readable reason, if any.
    #[serde(default)]
    pub message: Option<String>,
    /// Extra JSON the script attached to the abort, if any.
    #[serde(default)]
    pub context: Option<Value>,
}

impl Default for RunResult {
    fn default() -> Self {
        RunResult {
            outcome: "passed".to_string(),
            exit_code: 0,
            message: None,
            context: None,
        }
    }
}

/// One metric or submetric with its aggregated values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    /// `http_req_duration`, or a submetric's full name `http_req_duration{status:404}`.
    pub name: String,
    /// `counter`, `gauge`, `rate` or `trend`.
    pub metric_type: String,
    /// `default`, `time` or `data`: decides how values print.
    pub contains: String,
    /// k6's value names, in k6's order: counter `count, rate`; gauge `value, min, max`;
    /// rate `rate, passes, fails`; trend the `summaryTrendStats`.
    pub values: Vec<(String, f64)>,
    /// The metric's thresholds in definition order.
    #[serde(default)]
    pub thresholds: Vec<ThresholdReport>,
    /// Set for submetrics.
    #[serde(default)]
    pub submetric: Option<Submetric>,
}

impl MetricReport {
    /// A metric with explicit values; see the typed constructors for the usual shapes.
    pub fn new(name: &str, metric_type: &str, contains: &str, values: Vec<(String, f64)>) -> Self {
        MetricReport {
            name: name.to_string(),
            metric_type: metric_type.to_string(),
            contains: contains.to_string(),
            values,
            thresholds: Vec::new(),
            submetric: Submetric::from_name(name),
        }
    }

    /// A counter: total `count` and its per-second `rate` over the run.
    pub fn counter(name: &str, contains: &str, count: f64, rate: f64) -> Self {
        Self::new(
            name,
            "counter",
            contains,
            named(&[("count", count), ("rate", rate)]),
        )
    }

    /// A gauge: last `value` plus the `min` and `max` it reached.
    pub fn gauge(name: &str, contains: &str, value: f64, min: f64, max: f64) -> Self {
        Self::new(
            name,
            "gauge",
            contains,
            named(&[("value", value), ("min", min), ("max", max)]),
        )
    }

    /// A rate metric from its non-zero (`passes`) and zero (`fails`) sample counts.
    pub fn rate(name: &str, passes: u64, fails: u64) -> Self {
        let total = passes + fails;
        let rate = if total == 0 {
            0.0
        } else {
            passes as f64 / total as f64
        };
        Self::new(
            name,
            "rate",
            "default",
            named(&[
                ("rate", rate),
                ("passes", passes as f64),
                ("fails", fails as f64),
            ]),
        )
    }

    /// A trend with `(stat, value)` pairs, normally one per `summaryTrendStats` entry.
    pub fn trend(name: &str, contains: &str, stats: &[(&str, f64)]) -> Self {
        Self::new(name, "trend", contains, named(stats))
    }

    /// Adds a threshold result (builder style).
    pub fn with_threshold(mut self, threshold: ThresholdReport) -> Self {
        self.thresholds.push(threshold);
        self
    }

    /// The value called `key`, if present.
    pub fn value(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The parent metric's name (the whole name for top-level metrics).
    pub fn parent_name(&self) -> &str {
        parent_name(&self.name)
    }
}

fn named(values: &[(&str, f64)]) -> Vec<(String, f64)> {
    values.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// `http_req_duration{status:404}` -> `http_req_duration`, like k6's `split('{', 1)[0]`.
pub(crate) fn parent_name(name: &str) -> &str {
    name.split('{').next().unwrap_or(name)
}

/// One threshold expression and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdReport {
    /// The expression as written: `p(95)<500`.
    pub source: String,
    /// `true` when the threshold passed.
    pub ok: bool,
    /// The aggregation it tested, shown before the observed value: `p(95)`, `rate`, `count`.
    pub stat: String,
    /// The aggregated value the threshold was evaluated against (milliseconds for time).
    pub observed: f64,
}

impl ThresholdReport {
    /// A threshold whose `stat` is taken from its source (the text before `<`, `>` or `=`).
    pub fn new(source: &str, ok: bool, observed: f64) -> Self {
        let stat = source
            .split(['<', '>', '='])
            .next()
            .unwrap_or(source)
            .trim();
        ThresholdReport {
            source: source.to_string(),
            ok,
            stat: stat.to_string(),
            observed,
        }
    }
}

/// What makes a submetric: its parent and the tag filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submetric {
    /// The parent metric's name.
    pub parent: String,
    /// The tag filter, in the order written: `[("status", "404")]`.
    pub tags: Vec<(String, String)>,
}

impl Submetric {
    /// Splits a submetric name `parent{k:v,k2:v2}`; `None` for a plain metric name.
    /// A tag is split at its first `:` (`group:::api` -> `group` = `::api`).
    pub fn from_name(name: &str) -> Option<Submetric> {
        let (parent, rest) = name.split_once('{')?;
        let inner = rest.strip_suffix('}').unwrap_or(rest);
        let tags = inner
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| match t.split_once(':') {
                Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                None => (t.trim().to_string(), String::new()),
            })
            .collect();
        Some(Submetric {
            parent: parent.to_string(),
            tags,
        })
    }
}

/// A group (`group("name", fn)`) with its checks and subgroups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// The group's own name; empty for the root.
    pub name: String,
    /// `::outer::inner`; empty for the root.
    pub path: String,
    /// Direct subgroups, in the order they first ran.
    #[serde(default)]
    pub groups: Vec<GroupReport>,
    /// Checks run directly in this group, in the order they first ran.
    #[serde(default)]
    pub checks: Vec<CheckReport>,
    /// Metrics of samples emitted directly in this group (not its subgroups); only the
    /// `full` text summary uses them, for its per-group sections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<MetricReport>>,
}

impl GroupReport {
    /// k6's group id: the md5 of the path.
    pub fn id(&self) -> String {
        group_id(&self.path)
    }
}

/// One check's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// `<group path>::<name>` (`::name` at the root).
    pub path: String,
    /// How many times it passed.
    pub passes: u64,
    /// How many times it failed.
    pub fails: u64,
}

impl CheckReport {
    /// k6's check id: the md5 of the path.
    pub fn id(&self) -> String {
        group_id(&self.path)
    }
}

/// k6's id for a group or check: the lowercase hex md5 of its `::`-separated path
/// (`""` -> `d41d8cd98f00b204e9800998ecf8427e`).
pub fn group_id(path: &str) -> String {
    Md5::digest(path.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl SummaryReport {
    /// k6's `handleSummary(data)` object: `root_group`, `options`, `state`, `metrics` (with
    /// submetrics as top-level keys and thresholds as `{"<source>": {"ok": bool}}`),
    /// `setup_data` when `setup()` returned something, and Volley's `result`.
    pub fn to_handle_summary_data(&self) -> Value {
        data::handle_summary_data(self)
    }

    /// The legacy `--summary-export` file: flat values per metric (a rate's ratio is called
    /// `value`), groups and checks keyed by name, and thresholds as `{"<source>": failed}`
    /// where `true` means the threshold FAILED (the inverse of `ok`).
    pub fn to_summary_export(&self) -> Value {
        data::summary_export(self)
    }

    /// The text summary as k6 v1.1.0 renders it for `options.mode`. Compact and full output
    /// starts with a newline and ends with a blank line; legacy output has neither. k6 prints
    /// it as `"\n" + text + "\n"` under the progress bars. ANSI colours are used only when
    /// `no_color` is false *and* stdout is a terminal, as in k6.
    pub fn render_text(&self) -> String {
        match self.options.mode {
            SummaryMode::Legacy => legacy::render(self),
            SummaryMode::Compact | SummaryMode::Full => text::render(self),
        }
    }

    /// Whether the text summary should carry ANSI colours.
    pub(crate) fn colors_enabled(&self) -> bool {
        !self.options.no_color && self.state.is_stdout_tty
    }

    /// `summaryTimeUnit`, with the empty string meaning automatic.
    pub(crate) fn time_unit(&self) -> Option<&str> {
        self.options.time_unit.as_deref().filter(|u| !u.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_md5_of_the_path() {
        assert_eq!(group_id(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(group_id("::api"), "e6550cde192dbabccfbb3b1bac03a92a");
        assert_eq!(
            group_id("::api::nested"),
            "7bc7ae5cf327bfe67ba39c0598361516"
        );
        assert_eq!(group_id("::errors"), "5282acc9b4f3e6b848d35c5a78eea0e2");
        let check = CheckReport {
            name: "status is 200".into(),
            path: "::api::status is 200".into(),
            passes: 20,
            fails: 0,
        };
        assert_eq!(check.id(), "32f66b965ddbc20c586f15058983be54");
        let slept = CheckReport {
            path: "::api::nested::slept".into(),
            ..Default::default()
        };
        assert_eq!(slept.id(), "3f04adc6572e2d8cd98b70b3b067f771");
        assert_eq!(
            GroupReport::default().id(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn summary_mode_parses_k6_values() {
        assert_eq!("".parse::<SummaryMode>(), Ok(SummaryMode::Compact));
        assert_eq!("compact".parse::<SummaryMode>(), Ok(SummaryMode::Compact));
        assert_eq!("full".parse::<SummaryMode>(), Ok(SummaryMode::Full));
        assert_eq!("legacy".parse::<SummaryMode>(), Ok(SummaryMode::Legacy));
        let err = "verbose".parse::<SummaryMode>().unwrap_err();
        assert_eq!(err, SummaryError::InvalidMode("verbose".into()));
        assert!(err.to_string().contains("\"compact\""));
        assert_eq!(SummaryMode::Full.to_string(), "full");
        assert_eq!(serde_json::to_value(SummaryMode::Legacy).unwrap(), "legacy");
    }

    #[test]
    fn time_units_are_validated() {
        assert_eq!(validate_time_unit("ms"), Ok(()));
        assert_eq!(validate_time_unit(""), Ok(()));
        let err = validate_time_unit("m").unwrap_err();
        assert!(err.to_string().contains("summaryTimeUnit \"m\""));
    }

    #[test]
    fn submetric_names_split_into_parent_and_tags() {
        let sub = Submetric::from_name("http_req_duration{group:::api}").unwrap();
        assert_eq!(sub.parent, "http_req_duration");
        assert_eq!(sub.tags, vec![("group".to_string(), "::api".to_string())]);
        let two = Submetric::from_name("m{a:1,b:2}").unwrap();
        assert_eq!(two.tags.len(), 2);
        assert_eq!(Submetric::from_name("http_reqs"), None);
        let metric = MetricReport::trend("http_req_duration{status:404}", "time", &[("avg", 1.0)]);
        assert_eq!(metric.parent_name(), "http_req_duration");
        assert!(metric.submetric.is_some());
    }

    #[test]
    fn threshold_stat_comes_from_the_source() {
        assert_eq!(ThresholdReport::new("p(95)<500", true, 1.0).stat, "p(95)");
        assert_eq!(ThresholdReport::new("rate>=0.9", false, 0.5).stat, "rate");
        assert_eq!(ThresholdReport::new("count == 3", true, 3.0).stat, "count");
    }

    #[test]
    fn constructors_fill_k6_value_names_in_order() {
        let rate = MetricReport::rate("my_rate", 10, 10);
        let keys: Vec<&str> = rate.values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["rate", "passes", "fails"]);
        assert_eq!(rate.value("rate"), Some(0.5));
        assert_eq!(MetricReport::rate("empty", 0, 0).value("rate"), Some(0.0));
        let gauge = MetricReport::gauge("g", "default", 1.0, 0.0, 2.0);
        assert_eq!(gauge.value("max"), Some(2.0));
        assert_eq!(gauge.value("nope"), None);
    }

    #[test]
    fn report_round_trips_through_json() {
        let report = SummaryReport {
            metrics: vec![MetricReport::counter("http_reqs", "default", 3.0, 1.5)
                .with_threshold(ThresholdReport::new("count>1", true, 3.0))],
            root_group: GroupReport::default(),
            options: SummaryOptions::default(),
            state: SummaryState {
                test_run_duration_ms: 2000.0,
                ..Default::default()
            },
            setup_data: Some(serde_json::json!({"token": "x"})),
            result: RunResult::default(),
        };
        let json = serde_json::to_string(&report).unwrap();
        let back: SummaryReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
