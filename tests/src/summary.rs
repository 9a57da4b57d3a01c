//! Reading handleSummary-shaped data (`volley run --summary-export`, a cluster run's summary).

/// `metrics[name].values[stat]` of handleSummary-shaped data, as f64.
pub fn summary_stat(summary: &serde_json::Value, name: &str, stat: &str) -> f64 {
    summary["metrics"][name]["values"][stat]
        .as_f64()
        .unwrap_or_else(|| panic!("summary has no {name}.{stat}: {}", summary["metrics"]))
}
