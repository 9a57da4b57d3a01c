//! `--json PATH`: the curve's rows, the counts skipped and why, issue 23's verdicts and the
//! run-start trials in one document, which bench/run.sh hands to bench/summary.py.

use std::path::Path;

use anyhow::{Context, Result};

use crate::args::Args;
use crate::curve::Curve;
use crate::row::Row;
use crate::run_start;
use crate::verdict;

/// The document of one `controller-scale` run.
pub fn document(
    args: &Args,
    curve: &Curve,
    skipped: &[(usize, String)],
    run_start: Option<&run_start::Outcome>,
) -> serde_json::Value {
    let points = &curve.points;
    let one_core = args.cpu.is_some();
    let saturation = verdict::saturates_at(points).map(|(p, why)| {
        serde_json::json!({
            "agents": p.agents,
            "lag_p99_ms": p.lag_p99_ms,
            "run_cores": p.run_cores,
            "status": p.status,
            "why": why,
        })
    });
    let held = verdict::largest_held(points, one_core);
    serde_json::json!({
        "controller_cpu": args.cpu,
        "duration_s": args.duration,
        "rows": curve.rows.iter().map(Row::json).collect::<Vec<_>>(),
        "skipped": skipped.iter().map(|(n, why)| serde_json::json!({"agents": n, "why": why})).collect::<Vec<_>>(),
        "curve": (!points.is_empty()).then(|| serde_json::json!({
            "measured": points.iter().map(|p| p.agents).collect::<Vec<_>>(),
            "largest_held": held,
            "goal_agents": verdict::GOAL_AGENTS,
            "max_lag_p99_ms": verdict::MAX_LAG_P99_MS,
            "one_core": one_core,
            "met": held.is_some_and(|n| n >= verdict::GOAL_AGENTS),
            "saturation": saturation,
            "lines": verdict::lines(points, one_core),
        })),
        "run_start": run_start.map(run_start::Outcome::json),
    })
}

/// Writes [`document`] to `path`.
pub fn write(path: &Path, doc: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(agents: usize, lag_p99_ms: f64) -> verdict::Point {
        verdict::Point {
            agents,
            status: "FINISHED".into(),
            totals_exact: true,
            lag_p99_ms,
            run_cores: 0.5,
            agent_lost: false,
        }
    }

    /// The keys bench/summary.py reads (bench/test_summary.py's CONTROLLER has the same shape).
    #[test]
    fn the_document_holds_what_the_summary_reads() {
        let args = crate::args::parse(["--agents", "1000,3000,5000"].map(String::from), 2)
            .unwrap()
            .unwrap();
        let curve = Curve {
            points: vec![point(1000, 40.0), point(3000, 900.0)],
            ..Curve::default()
        };
        let skipped = [(5000, "needs 5320 open files".to_string())];
        let doc = document(&args, &curve, &skipped, None);
        assert_eq!(doc["skipped"][0]["agents"], 5000);
        let c = &doc["curve"];
        assert_eq!(c["measured"], serde_json::json!([1000, 3000]));
        assert_eq!(c["largest_held"], 1000);
        assert_eq!(
            (c["one_core"].as_bool(), c["met"].as_bool()),
            (Some(true), Some(false))
        );
        let sat = &c["saturation"];
        assert_eq!(
            (sat["agents"].as_u64(), sat["status"].as_str()),
            (Some(3000), Some("FINISHED"))
        );
        assert!(
            sat["why"][0]
                .as_str()
                .unwrap()
                .contains("merge lag p99 900 ms"),
            "{sat}"
        );
        assert!(doc["run_start"].is_null());
        // Nothing measured: no curve, which the summary shows as not run.
        assert!(document(&args, &Curve::default(), &[], None)["curve"].is_null());
    }
}
