//! `volley run` of a script whose outcome a test reads from `--summary-export`: the exit code,
//! the summary and the output, plus the counts the protocol tests (WebSockets, gRPC) check.

use std::path::Path;

use serde_json::Value;

/// Runs `script` with `-q`, `--summary-export DIR/summary.json` and `args`, then removes `dir`
/// (the script's folder); returns the exit code (-1 when killed by a signal), the summary
/// (`null` when none was written) and stdout followed by stderr.
pub fn run_with_summary(dir: &Path, script: &Path, args: &[&str]) -> (i32, Value, String) {
    let export = dir.join("summary.json");
    let mut all = vec![
        "-q",
        "--summary-export",
        export.to_str().expect("utf-8 path"),
    ];
    all.extend_from_slice(args);
    all.push(script.to_str().expect("utf-8 path"));
    let out = crate::volley_run(&all, &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = std::fs::read_to_string(&export)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(dir);
    (out.status.code().unwrap_or(-1), summary, text)
}

/// A counter's or trend's `count` in a summary export; -1 when the metric is missing.
pub fn count(summary: &Value, metric: &str) -> i64 {
    summary["metrics"][metric]["count"].as_i64().unwrap_or(-1)
}

/// The `checks` rate's passes and fails in a summary export; -1 each when missing.
pub fn checks(summary: &Value) -> (i64, i64) {
    let c = &summary["metrics"]["checks"];
    (
        c["passes"].as_i64().unwrap_or(-1),
        c["fails"].as_i64().unwrap_or(-1),
    )
}
