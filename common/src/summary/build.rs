//! Builds the end-of-test summary from merged series: used by `volley run` (from its local
//! aggregates) and by the controller (from agents' merged batches), so both produce the same
//! data for the same samples.

use std::time::Duration;

use serde_json::Value;

use super::{
    MetricReport, RunResult, Submetric, SummaryOptions, SummaryReport, SummaryState,
    ThresholdReport,
};
use crate::metrics::store::{MetricInfo, SeriesStore};
use crate::metrics::Sink;
use crate::threshold::{parse_metric_key, Threshold, ThresholdResult};

/// Thresholds by metric key, in definition order.
pub type ThresholdSet = Vec<(String, Vec<Threshold>)>;

/// Results of evaluating a threshold set.
pub type ThresholdResults = Vec<(String, Vec<(Threshold, ThresholdResult)>)>;

/// The sink a threshold key reads: the metric merged over the tag sets that match the key's
/// tags; an empty sink when the metric is known but has no data. None for unknown metrics.
pub fn sink_for_key(
    store: &SeriesStore,
    key: &str,
    known_type: Option<MetricInfo>,
) -> Option<Sink> {
    let (name, filter) = parse_metric_key(key).ok()?;
    match store.aggregate(&name, &filter) {
        Some(s) => Some(s),
        None => {
            let t = store.info(&name).or(known_type)?;
            Some(Sink::new(t.mtype))
        }
    }
}

/// Evaluates every threshold on the merged data (`duration` is the run time in seconds, for
/// counter rates). `types` gives the type of metrics that may have no data yet.
pub fn evaluate_thresholds(
    thresholds: &[(String, Vec<Threshold>)],
    store: &SeriesStore,
    duration: f64,
    types: &dyn Fn(&str) -> Option<MetricInfo>,
) -> ThresholdResults {
    let mut out = Vec::new();
    for (key, list) in thresholds {
        let name = parse_metric_key(key).map(|(n, _)| n).unwrap_or_default();
        let Some(sink) = sink_for_key(store, key, types(&name)) else {
            continue;
        };
        let rs = list
            .iter()
            .map(|t| (t.clone(), t.evaluate(&sink, duration)))
            .collect();
        out.push((key.clone(), rs));
    }
    out
}

/// The keys of `abortOnFail` thresholds that fail now (after their `delayAbortEval`).
/// Metrics without data never abort (k6 skips empty sinks during the run).
pub fn failed_abort_thresholds(
    thresholds: &[(String, Vec<Threshold>)],
    store: &SeriesStore,
    elapsed: Duration,
) -> Vec<String> {
    let mut failed = Vec::new();
    for (key, list) in thresholds {
        if !list.iter().any(|t| t.abort_on_fail) {
            continue;
        }
        let Ok((name, filter)) = parse_metric_key(key) else {
            continue;
        };
        let Some(sink) = store.aggregate(&name, &filter) else {
            continue;
        };
        if sink.is_empty() {
            continue;
        }
        if list.iter().any(|t| {
            t.abort_on_fail
                && t.should_abort(elapsed)
                && !t.evaluate(&sink, elapsed.as_secs_f64()).ok
        }) {
            failed.push(key.clone());
        }
    }
    failed
}

/// Keys whose thresholds fail in `results`.
pub fn failed_keys(results: &ThresholdResults) -> Vec<String> {
    results
        .iter()
        .filter(|(_, rs)| rs.iter().any(|(_, r)| !r.ok))
        .map(|(k, _)| k.clone())
        .collect()
}

/// What a summary needs besides the merged series.
pub struct ReportInput<'a> {
    pub store: &'a SeriesStore,
    pub results: &'a ThresholdResults,
    pub options: SummaryOptions,
    pub state: SummaryState,
    pub result: RunResult,
    pub setup_data: Option<Value>,
    /// Types of metrics that have thresholds but may have no data.
    pub types: &'a dyn Fn(&str) -> Option<MetricInfo>,
}

/// The summary: every metric with data, the submetrics that thresholds name (plus
/// `http_req_duration{expected_response:true}`, which k6 always shows), thresholds on metrics
/// without data, and the group/check tree.
pub fn build_report(input: ReportInput<'_>) -> SummaryReport {
    let secs = input.state.test_run_duration_ms / 1000.0;
    let stats = &input.options.trend_stats;
    let store = input.store;
    let threshold_reports = |key: &str| -> Vec<ThresholdReport> {
        input
            .results
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, rs)| rs.iter())
            .map(|(t, r)| ThresholdReport {
                source: t.source.clone(),
                ok: r.ok,
                stat: r.stat.clone(),
                observed: r.observed,
            })
            .collect()
    };
    let mut metrics = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for (name, info) in store.metrics() {
        let Some(sink) = store.aggregate(name, &[]) else {
            continue;
        };
        let mut m = MetricReport::new(
            name,
            info.mtype.as_str(),
            info.contains.as_str(),
            sink.values(stats, secs),
        );
        m.thresholds = threshold_reports(name);
        metrics.push(m);
        done.push(name.clone());
    }
    let mut sub_keys: Vec<String> = input
        .results
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| k.contains('{'))
        .collect();
    if store
        .aggregate(
            "http_req_duration",
            &[("expected_response".into(), "true".into())],
        )
        .is_some()
    {
        sub_keys.push("http_req_duration{expected_response:true}".into());
    }
    for key in sub_keys {
        if done.contains(&key) {
            continue;
        }
        let Ok((name, filter)) = parse_metric_key(&key) else {
            continue;
        };
        let Some(info_type) = store
            .info(&name)
            .or_else(|| (input.types)(&name))
            .map(|i| (i.mtype, i.contains))
        else {
            continue;
        };
        let sink = store
            .aggregate(&name, &filter)
            .unwrap_or_else(|| Sink::new(info_type.0));
        let canonical = submetric_key(&name, &key);
        let mut m = MetricReport::new(
            &canonical,
            info_type.0.as_str(),
            info_type.1.as_str(),
            sink.values(stats, secs),
        );
        m.thresholds = threshold_reports(&key);
        m.submetric = Submetric::from_name(&canonical);
        metrics.push(m);
        done.push(key.clone());
        done.push(canonical);
    }
    // Thresholds on metrics that never got data still show up, with empty values.
    for (key, _) in input.results {
        if done.contains(key) {
            continue;
        }
        let Ok((name, _)) = parse_metric_key(key) else {
            continue;
        };
        let Some(t) = (input.types)(&name) else {
            continue;
        };
        let sink = Sink::new(t.mtype);
        let key = &submetric_key(&name, key);
        let mut m = MetricReport::new(
            key,
            t.mtype.as_str(),
            t.contains.as_str(),
            sink.values(stats, secs),
        );
        m.thresholds = threshold_reports(key);
        m.submetric = Submetric::from_name(key);
        metrics.push(m);
    }
    SummaryReport {
        metrics,
        root_group: store.group_tree(),
        options: input.options,
        state: input.state,
        setup_data: input.setup_data,
        result: input.result,
    }
}

/// A submetric's key in the summary data, the export and the text summary: k6 keeps the tag
/// filter as the threshold spelled it, only trimmed (`http_req_duration{ api:"/x" }` is
/// `http_req_duration{api:"/x"}`), so scripts and tools find it under the key they wrote.
fn submetric_key(name: &str, key: &str) -> String {
    let inner = key
        .split_once('{')
        .map(|(_, rest)| rest.trim_end().strip_suffix('}').unwrap_or(rest))
        .unwrap_or("");
    if inner.trim().is_empty() {
        return name.to_owned();
    }
    format!("{name}{{{}}}", inner.trim())
}

#[cfg(test)]
mod tests {
    use super::submetric_key;

    /// As k6 v1.1.0 names them (measured with `--summary-export` and `handleSummary`).
    #[test]
    fn submetric_keys_keep_the_thresholds_spelling_trimmed() {
        let cases = [
            (
                r#"http_req_duration{api:"/x"}"#,
                r#"http_req_duration{api:"/x"}"#,
            ),
            (
                "http_req_duration{ name : /y }",
                "http_req_duration{name : /y}",
            ),
            (
                "http_reqs{ status:200,api:/x}",
                "http_reqs{status:200,api:/x}",
            ),
            (
                "http_req_duration{api:/api/login}",
                "http_req_duration{api:/api/login}",
            ),
        ];
        for (key, want) in cases {
            let name = key.split('{').next().unwrap();
            assert_eq!(submetric_key(name, key), want);
        }
    }
}
