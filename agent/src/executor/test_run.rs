//! The executors' tests run whole scripts through the engine and read counts off the summary
//! report: one runner for all of them.

use std::sync::Arc;

use crate::engine::{self, RunObserver, RunRequest};
use crate::run::RunControl;

struct Quiet;
impl RunObserver for Quiet {}

/// Runs `source` (saved as `name` in a folder of its own) on one worker without printing a
/// summary, asserts that it exits 0, and returns a reader of each metric's `count` (None: the
/// metric or its count is absent).
pub(super) fn run_script(name: &str, source: &str) -> impl Fn(&str) -> Option<f64> {
    let dir = std::env::temp_dir().join(format!("volley-executor-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join(name);
    std::fs::write(&script, source).unwrap();
    let req = RunRequest {
        script,
        workers: 1,
        no_summary: true,
        ..Default::default()
    };
    let out = engine::run(req, Arc::new(RunControl::default()), Arc::new(Quiet));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.exit_code, 0, "{name}: {:?}", out.error);
    let report = out.report.expect("a summary report");
    move |metric: &str| {
        report
            .metrics
            .iter()
            .find(|m| m.name == metric)
            .and_then(|m| m.values.iter().find(|(k, _)| k == "count"))
            .map(|(_, v)| *v)
    }
}
