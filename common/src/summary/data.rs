//! The machine-readable summaries: `handleSummary(data)` and `--summary-export`.

use serde_json::{json, Map, Value};

use super::{CheckReport, GroupReport, MetricReport, SummaryReport};

/// A JSON number written the way JS's `JSON.stringify` would: integral values without a
/// fraction (`20`, not `20.0`) and non-finite values as `null`.
pub(crate) fn number(v: f64) -> Value {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= MAX_EXACT {
        Value::from(v as i64)
    } else {
        Value::from(v) // NaN and infinities become null, as in JSON.stringify
    }
}

pub(super) fn handle_summary_data(report: &SummaryReport) -> Value {
    let mut metrics = Map::new();
    for metric in &report.metrics {
        metrics.insert(metric.name.clone(), handle_summary_metric(metric));
    }

    let mut out = Map::new();
    out.insert(
        "root_group".into(),
        handle_summary_group(&report.root_group),
    );
    out.insert(
        "options".into(),
        json!({
            "summaryTrendStats": report.options.trend_stats,
            "summaryTimeUnit": report.options.time_unit.clone().unwrap_or_default(),
            "noColor": report.options.no_color,
        }),
    );
    out.insert(
        "state".into(),
        json!({
            "isStdOutTTY": report.state.is_stdout_tty,
            "isStdErrTTY": report.state.is_stderr_tty,
            "testRunDurationMs": number(report.state.test_run_duration_ms),
        }),
    );
    out.insert("metrics".into(), Value::Object(metrics));
    if let Some(setup_data) = &report.setup_data {
        out.insert("setup_data".into(), setup_data.clone());
    }
    out.insert(
        "result".into(),
        json!({
            "outcome": report.result.outcome,
            "exitCode": report.result.exit_code,
            "message": report.result.message,
            "context": report.result.context,
        }),
    );
    Value::Object(out)
}

fn handle_summary_metric(metric: &MetricReport) -> Value {
    let values: Map<String, Value> = metric
        .values
        .iter()
        .map(|(k, v)| (k.clone(), number(*v)))
        .collect();
    let mut out = Map::new();
    out.insert("type".into(), Value::from(metric.metric_type.as_str()));
    out.insert("contains".into(), Value::from(metric.contains.as_str()));
    out.insert("values".into(), Value::Object(values));
    if !metric.thresholds.is_empty() {
        let thresholds: Map<String, Value> = metric
            .thresholds
            .iter()
            .map(|t| (t.source.clone(), json!({ "ok": t.ok })))
            .collect();
        out.insert("thresholds".into(), Value::Object(thresholds));
    }
    Value::Object(out)
}

fn handle_summary_group(group: &GroupReport) -> Value {
    json!({
        "name": group.name,
        "path": group.path,
        "id": group.id(),
        "groups": group.groups.iter().map(handle_summary_group).collect::<Vec<_>>(),
        "checks": group.checks.iter().map(check_json).collect::<Vec<_>>(),
    })
}

fn check_json(check: &CheckReport) -> Value {
    json!({
        "name": check.name,
        "path": check.path,
        "id": check.id(),
        "passes": check.passes,
        "fails": check.fails,
    })
}

pub(super) fn summary_export(report: &SummaryReport) -> Value {
    let mut metrics = Map::new();
    for metric in &report.metrics {
        metrics.insert(metric.name.clone(), export_metric(metric));
    }
    json!({
        "root_group": export_group(&report.root_group),
        "metrics": Value::Object(metrics),
    })
}

fn export_metric(metric: &MetricReport) -> Value {
    let mut out = Map::new();
    for (key, value) in &metric.values {
        // The legacy export calls a rate metric's ratio `value`.
        let key = if metric.metric_type == "rate" && key == "rate" {
            "value"
        } else {
            key
        };
        out.insert(key.to_string(), number(*value));
    }
    if !metric.thresholds.is_empty() {
        let thresholds: Map<String, Value> = metric
            .thresholds
            .iter()
            .map(|t| (t.source.clone(), Value::Bool(!t.ok)))
            .collect();
        out.insert("thresholds".into(), Value::Object(thresholds));
    }
    Value::Object(out)
}

fn export_group(group: &GroupReport) -> Value {
    let groups: Map<String, Value> = group
        .groups
        .iter()
        .map(|g| (g.name.clone(), export_group(g)))
        .collect();
    let checks: Map<String, Value> = group
        .checks
        .iter()
        .map(|c| (c.name.clone(), check_json(c)))
        .collect();
    json!({
        "name": group.name,
        "path": group.path,
        "id": group.id(),
        "groups": groups,
        "checks": checks,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{RunResult, SummaryOptions, SummaryState, ThresholdReport};
    use super::*;

    fn check(name: &str, group_path: &str, passes: u64, fails: u64) -> CheckReport {
        CheckReport {
            name: name.into(),
            path: format!("{group_path}::{name}"),
            passes,
            fails,
        }
    }

    fn sample() -> SummaryReport {
        let nested = GroupReport {
            name: "nested".into(),
            path: "::api::nested".into(),
            checks: vec![check("slept", "::api::nested", 20, 0)],
            ..Default::default()
        };
        let api = GroupReport {
            name: "api".into(),
            path: "::api".into(),
            groups: vec![nested],
            checks: vec![
                check("status is 200", "::api", 20, 0),
                check("body is ok", "::api", 20, 0),
            ],
            metrics: Some(vec![MetricReport::counter(
                "http_reqs",
                "default",
                20.0,
                6.4,
            )]),
        };
        let errors = GroupReport {
            name: "errors".into(),
            path: "::errors".into(),
            checks: vec![check("status is 200 (fails)", "::errors", 0, 20)],
            ..Default::default()
        };
        SummaryReport {
            metrics: vec![
                MetricReport::counter("my_counter", "default", 20.0, 6.455953982481654)
                    .with_threshold(ThresholdReport::new("count>5", true, 20.0)),
                MetricReport::rate("my_rate", 13, 7)
                    .with_threshold(ThresholdReport::new("rate>0.9", false, 0.65)),
                MetricReport::gauge("my_gauge", "default", 21.0, 11.0, 21.0),
                MetricReport::counter("data_received", "data", 8780.0, 2834.163798309446),
                MetricReport::trend(
                    "http_req_duration{group:::api}",
                    "time",
                    &[("avg", 0.86), ("min", 0.31), ("med", 0.54), ("max", 3.06)],
                )
                .with_threshold(ThresholdReport::new("max<1000", true, 3.06)),
                MetricReport::trend("my_trend", "default", &[("p(90)", 93.2), ("med", 51.3)])
                    .with_threshold(ThresholdReport::new("p(90)<50", false, 93.2))
                    .with_threshold(ThresholdReport::new("med<1000", true, 51.3)),
            ],
            root_group: GroupReport {
                groups: vec![api, errors],
                ..Default::default()
            },
            options: SummaryOptions::default(),
            state: SummaryState {
                is_stdout_tty: false,
                is_stderr_tty: true,
                test_run_duration_ms: 3097.915514,
            },
            setup_data: None,
            result: RunResult {
                outcome: "failed".into(),
                exit_code: 99,
                message: Some("thresholds on metrics 'my_rate, my_trend' have been crossed".into()),
                context: None,
            },
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn handle_summary_data_has_k6_shape() {
        let data = sample().to_handle_summary_data();
        assert_eq!(
            keys(&data),
            ["root_group", "options", "state", "metrics", "result"]
        );
        assert_eq!(
            data["options"],
            json!({
                "summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)"],
                "summaryTimeUnit": "",
                "noColor": false
            })
        );
        assert_eq!(
            data["state"],
            json!({"isStdOutTTY": false, "isStdErrTTY": true, "testRunDurationMs": 3097.915514})
        );
        assert_eq!(
            data["result"],
            json!({
                "outcome": "failed",
                "exitCode": 99,
                "message": "thresholds on metrics 'my_rate, my_trend' have been crossed",
                "context": null
            })
        );
    }

    #[test]
    fn handle_summary_metrics_keep_values_thresholds_and_submetrics() {
        let data = sample().to_handle_summary_data();
        let metrics = &data["metrics"];
        assert_eq!(
            metrics["my_counter"],
            json!({
                "type": "counter",
                "contains": "default",
                "values": {"count": 20, "rate": 6.455953982481654},
                "thresholds": {"count>5": {"ok": true}}
            })
        );
        assert_eq!(
            metrics["my_rate"]["values"],
            json!({"rate": 0.65, "passes": 13, "fails": 7})
        );
        assert_eq!(
            metrics["my_rate"]["thresholds"],
            json!({"rate>0.9": {"ok": false}})
        );
        // Metrics without thresholds have no `thresholds` key at all.
        assert!(metrics["my_gauge"].get("thresholds").is_none());
        assert_eq!(
            metrics["my_gauge"]["values"],
            json!({"value": 21, "min": 11, "max": 21})
        );
        assert_eq!(metrics["data_received"]["contains"], "data");
        // Submetrics are top-level keys.
        let sub = &metrics["http_req_duration{group:::api}"];
        assert_eq!(sub["type"], "trend");
        assert_eq!(sub["contains"], "time");
        assert_eq!(sub["thresholds"], json!({"max<1000": {"ok": true}}));
        assert_eq!(
            keys(&metrics["my_trend"]["thresholds"]),
            ["p(90)<50", "med<1000"],
            "threshold order is definition order"
        );
    }

    #[test]
    fn handle_summary_groups_are_arrays_with_md5_ids() {
        let data = sample().to_handle_summary_data();
        let root = &data["root_group"];
        assert_eq!(root["name"], "");
        assert_eq!(root["path"], "");
        assert_eq!(root["id"], "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(root["checks"], json!([]));
        let api = &root["groups"][0];
        assert_eq!(api["id"], "e6550cde192dbabccfbb3b1bac03a92a");
        assert_eq!(
            api["checks"][0],
            json!({
                "name": "status is 200",
                "path": "::api::status is 200",
                "id": "32f66b965ddbc20c586f15058983be54",
                "passes": 20,
                "fails": 0
            })
        );
        assert_eq!(api["groups"][0]["id"], "7bc7ae5cf327bfe67ba39c0598361516");
        assert_eq!(
            api["groups"][0]["checks"][0]["id"],
            "3f04adc6572e2d8cd98b70b3b067f771"
        );
        assert!(
            api.get("metrics").is_none(),
            "per-group metrics are not part of k6's data"
        );
        assert_eq!(
            root["groups"][1]["checks"][0]["id"],
            "1f50d00c126a6767fc9b4bf2507a805e"
        );
    }

    #[test]
    fn setup_data_is_present_only_when_set() {
        let mut report = sample();
        assert!(report.to_handle_summary_data().get("setup_data").is_none());
        report.setup_data = Some(json!({"token": "abc"}));
        report.result.context = Some(json!({"reason": "x"}));
        let data = report.to_handle_summary_data();
        assert_eq!(data["setup_data"], json!({"token": "abc"}));
        assert_eq!(data["result"]["context"], json!({"reason": "x"}));
        report.options.time_unit = Some("ms".into());
        assert_eq!(
            report.to_handle_summary_data()["options"]["summaryTimeUnit"],
            "ms"
        );
    }

    #[test]
    fn summary_export_has_legacy_shape() {
        let export = sample().to_summary_export();
        assert_eq!(keys(&export), ["root_group", "metrics"]);
        let metrics = &export["metrics"];
        assert_eq!(
            metrics["my_counter"],
            json!({"count": 20, "rate": 6.455953982481654, "thresholds": {"count>5": false}})
        );
        // A rate's ratio is `value`, and `true` marks a FAILED threshold.
        assert_eq!(
            metrics["my_rate"],
            json!({"value": 0.65, "passes": 13, "fails": 7, "thresholds": {"rate>0.9": true}})
        );
        assert_eq!(
            metrics["my_gauge"],
            json!({"value": 21, "min": 11, "max": 21})
        );
        assert_eq!(
            metrics["my_trend"]["thresholds"],
            json!({"p(90)<50": true, "med<1000": false})
        );
        assert_eq!(
            metrics["http_req_duration{group:::api}"]["max"],
            json!(3.06)
        );
    }

    #[test]
    fn summary_export_groups_and_checks_are_keyed_by_name() {
        let export = sample().to_summary_export();
        let root = &export["root_group"];
        assert_eq!(root["id"], "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(root["checks"], json!({}));
        let api = &root["groups"]["api"];
        assert_eq!(api["path"], "::api");
        assert_eq!(
            api["checks"]["body is ok"]["id"],
            "2f4c8fcc0539fcd9a32d23d4076c8fb3"
        );
        assert_eq!(api["groups"]["nested"]["groups"], json!({}));
        assert_eq!(
            root["groups"]["errors"]["checks"]["status is 200 (fails)"]["fails"],
            json!(20)
        );
    }

    #[test]
    fn numbers_are_written_like_json_stringify() {
        assert_eq!(number(20.0).to_string(), "20");
        assert_eq!(number(-0.0).to_string(), "0");
        assert_eq!(number(0.75).to_string(), "0.75");
        assert_eq!(number(f64::NAN), Value::Null);
        assert_eq!(number(f64::INFINITY), Value::Null);
        assert_eq!(number(1e300).to_string(), "1e+300");
    }
}
