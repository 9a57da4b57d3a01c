//! End-to-end tests of `volley run`: real processes run the scripts in `examples/` against a
//! `volley target` on loopback, and the tests check exit codes, handleSummary data (written as
//! JSON through `-e OUT=<file>`, see `examples/lib/summary.js`) and `--out json` files.
//!
//! Iteration-based executors must give exact counts; arrival-rate executors are checked within
//! 2 %. Every run is bounded in time and only talks to 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::{temp_dir, volley_run, Target};

/// One finished `volley run`.
struct Run {
    code: i32,
    stderr: String,
    /// handleSummary's data, when the script wrote it.
    summary: Option<Value>,
    elapsed: Duration,
}

impl Run {
    /// The summary data; panics (with stderr) when the run wrote none.
    fn data(&self) -> &Value {
        self.summary
            .as_ref()
            .unwrap_or_else(|| panic!("no summary written; stderr:\n{}", self.stderr))
    }

    fn metric(&self, name: &str) -> &Value {
        let m = &self.data()["metrics"][name];
        assert!(
            m.is_object(),
            "metric {name} missing from the summary; have {:?}",
            self.data()["metrics"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
        );
        m
    }

    /// A metric's value, e.g. `stat("http_reqs", "count")`.
    fn stat(&self, metric: &str, stat: &str) -> f64 {
        self.metric(metric)["values"][stat]
            .as_f64()
            .unwrap_or_else(|| panic!("{metric} has no {stat}: {}", self.metric(metric)))
    }

    /// Whether the threshold `expr` on `metric` passed (the `ok` flag of the summary data).
    fn threshold_ok(&self, metric: &str, expr: &str) -> bool {
        self.metric(metric)["thresholds"][expr]["ok"]
            .as_bool()
            .unwrap_or_else(|| panic!("no threshold {expr:?} on {metric}"))
    }

    /// `dropped_iterations` (absent when nothing was dropped).
    fn dropped(&self) -> f64 {
        self.data()["metrics"]["dropped_iterations"]["values"]["count"]
            .as_f64()
            .unwrap_or(0.0)
    }

    /// Asserts the exit code, showing stderr when it differs.
    fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "unexpected exit code; stderr:\n{}",
            self.stderr
        );
    }
}

/// Runs `examples/<script>` against `target` with `-q`, `BASE_URL` and `OUT` set, plus `extra`
/// arguments.
fn run_example(target: &Target, script: &str, extra: &[&str]) -> Run {
    let dir = temp_dir(&script.replace(['/', '.'], "_"));
    let out = dir.join("summary.json");
    let base = format!("BASE_URL={}", target.url);
    let out_env = format!("OUT={}", out.display());
    let script = format!("examples/{script}");
    let mut args = vec!["-q", "-e", &base, "-e", &out_env];
    args.extend_from_slice(extra);
    args.push(&script);
    let started = Instant::now();
    let output = volley_run(&args, &[]);
    finish(output, started.elapsed(), &out)
}

fn finish(output: Output, elapsed: Duration, summary: &Path) -> Run {
    let summary = std::fs::read_to_string(summary).ok().map(|t| {
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {t}"))
    });
    Run {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        summary,
        elapsed,
    }
}

/// Runs a script written to a temporary directory (for broken scripts that do not belong in
/// `examples/`).
fn run_inline(name: &str, source: &str, extra: &[&str]) -> Run {
    let dir = temp_dir(name);
    let script = dir.join("script.js");
    std::fs::write(&script, source).expect("write script");
    let script = script.display().to_string();
    let mut args = vec!["-q"];
    args.extend_from_slice(extra);
    args.push(&script);
    let started = Instant::now();
    let output = volley_run(&args, &[]);
    finish(output, started.elapsed(), &dir.join("none.json"))
}

/// Every line of an `--out json` file, parsed.
fn read_ndjson(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read --out json file");
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect()
}

/// The values of tag `tag` on the Points of `metric`, in file order.
fn point_tags(lines: &[Value], metric: &str, tag: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["type"] == "Point" && l["metric"] == metric)
        .map(|l| {
            l["data"]["tags"][tag]
                .as_str()
                .unwrap_or_else(|| panic!("{metric} point without tag {tag}: {l}"))
                .to_string()
        })
        .collect()
}

fn numbers(tags: &[String]) -> Vec<u64> {
    let mut v: Vec<u64> = tags
        .iter()
        .map(|t| t.parse().unwrap_or_else(|_| panic!("not a number: {t}")))
        .collect();
    v.sort_unstable();
    v
}

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= expected * tolerance
}

/// (name, passes, fails) of a group's checks, in order.
fn checks_of(g: &Value) -> Vec<(String, u64, u64)> {
    g["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["passes"].as_u64().unwrap_or(u64::MAX),
                c["fails"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

mod checks;
mod executors;
mod exit_codes;
mod files_and_http;
mod html_and_timers;
mod stacks;
mod thresholds;
