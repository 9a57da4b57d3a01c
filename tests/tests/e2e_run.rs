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

// ---------------------------------------------------------------------------------------------
// Executors

#[test]
fn shared_iterations_runs_exactly_the_planned_iterations() {
    let t = Target::start();
    let r = run_example(&t, "executors.js", &["-e", "EXECUTOR=shared-iterations"]);
    r.assert_code(0);
    assert_eq!(r.stat("iterations", "count"), 50.0);
    assert_eq!(r.stat("http_reqs", "count"), 50.0);
    assert_eq!(r.stat("checks", "passes"), 50.0);
    assert_eq!(r.stat("checks", "fails"), 0.0);
    assert_eq!(r.stat("vus_max", "value"), 5.0);
    assert_eq!(r.stat("http_req_failed", "rate"), 0.0);
    assert_eq!(r.data()["result"]["outcome"], "passed");
    assert_eq!(r.data()["result"]["exitCode"], 0);
}

#[test]
fn per_vu_iterations_gives_each_vu_its_iterations_with_unique_numbers() {
    let t = Target::start();
    let dir = temp_dir("per_vu_json");
    let json = dir.join("out.json");
    let out = format!("json={}", json.display());
    let r = run_example(
        &t,
        "executors.js",
        &[
            "-e",
            "EXECUTOR=per-vu-iterations",
            "-e",
            "VUS=3",
            "-e",
            "ITERATIONS=4",
            "--out",
            &out,
        ],
    );
    r.assert_code(0);
    assert_eq!(r.stat("iterations", "count"), 12.0);
    assert_eq!(r.stat("http_reqs", "count"), 12.0);
    assert_eq!(r.stat("checks", "passes"), 12.0);
    assert_eq!(r.stat("vus_max", "value"), 3.0);
    let lines = read_ndjson(&json);
    // Each VU ran exactly 4 iterations; exec.scenario.iterationInTest numbers 0..11 once each.
    let mut per_vu: BTreeMap<String, usize> = BTreeMap::new();
    for vu in point_tags(&lines, "iterations_ran", "vu") {
        *per_vu.entry(vu).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> =
        ["1", "2", "3"].iter().map(|v| (v.to_string(), 4)).collect();
    assert_eq!(per_vu, expected);
    assert_eq!(
        numbers(&point_tags(&lines, "iterations_ran", "iter")),
        (0..12).collect::<Vec<_>>()
    );
}

#[test]
fn constant_vus_keeps_the_vus_busy_for_the_duration() {
    let t = Target::start();
    let r = run_example(
        &t,
        "executors.js",
        &[
            "-e",
            "EXECUTOR=constant-vus",
            "-e",
            "VUS=3",
            "-e",
            "DURATION=2s",
            "-e",
            "SLEEP=0.1",
        ],
    );
    r.assert_code(0);
    let iters = r.stat("iterations", "count");
    // 3 VUs × 2 s / (0.1 s sleep + a fast request): at most 60, and close to it.
    assert!((40.0..=63.0).contains(&iters), "iterations {iters}");
    // Running iterations finish within gracefulStop, so every request belongs to one.
    assert_eq!(r.stat("http_reqs", "count"), iters);
    assert_eq!(r.stat("checks", "passes"), iters);
    assert_eq!(r.stat("vus_max", "value"), 3.0);
    assert!(r.stat("vus", "max") <= 3.0);
    assert!(r.elapsed >= Duration::from_secs(2), "took {:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(8), "took {:?}", r.elapsed);
}

#[test]
fn ramping_vus_follows_its_stages() {
    let t = Target::start();
    let r = run_example(
        &t,
        "executors.js",
        &[
            "-e",
            "EXECUTOR=ramping-vus",
            "-e",
            "VUS=4",
            "-e",
            "SLEEP=0.1",
        ],
    );
    r.assert_code(0);
    assert_eq!(r.stat("vus_max", "value"), 4.0);
    assert!(r.stat("vus", "max") <= 4.0);
    let iters = r.stat("iterations", "count");
    let reqs = r.stat("http_reqs", "count");
    // The ramp averages 2 VUs over 2 s at ~10 iterations/s each; with gracefulRampDown 0s,
    // iterations of VUs that ramp down are interrupted (their requests still count).
    assert!((15.0..=45.0).contains(&iters), "iterations {iters}");
    assert!(
        reqs >= iters && reqs <= iters + 4.0,
        "{reqs} requests, {iters} iterations"
    );
    assert_eq!(r.stat("checks", "passes"), reqs);
    assert!(r.elapsed >= Duration::from_secs(2), "took {:?}", r.elapsed);
}

#[test]
fn constant_arrival_rate_starts_rate_times_duration_iterations() {
    let t = Target::start();
    let r = run_example(
        &t,
        "executors.js",
        &[
            "-e",
            "EXECUTOR=constant-arrival-rate",
            "-e",
            "RATE=50",
            "-e",
            "DURATION=10s",
        ],
    );
    r.assert_code(0);
    let iters = r.stat("iterations", "count");
    // Every scheduled start either ran or was dropped (the schedule itself is exact); on a
    // loaded machine a few starts find every VU busy and are dropped, as in k6.
    assert_eq!(iters + r.dropped(), 500.0, "iterations {iters} + dropped");
    assert!(
        iters >= 450.0,
        "iterations {iters}, want most of the 500 to run"
    );
    assert_eq!(r.stat("http_reqs", "count"), iters);
    assert!(r.elapsed >= Duration::from_secs(10), "took {:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(15), "took {:?}", r.elapsed);
}

#[test]
fn ramping_arrival_rate_starts_the_area_under_the_rate_curve() {
    let t = Target::start();
    // 0 → 100/s over 1 s (50 iterations), then 100/s for 1 s (100): 150 in all.
    let r = run_example(
        &t,
        "executors.js",
        &["-e", "EXECUTOR=ramping-arrival-rate", "-e", "RATE=100"],
    );
    r.assert_code(0);
    let iters = r.stat("iterations", "count");
    assert!(
        within(iters, 150.0, 0.02),
        "iterations {iters}, want 150 ± 2 %"
    );
    assert_eq!(r.stat("http_reqs", "count"), iters);
    // The last start is due exactly at the end of the last stage, and still runs.
    assert_eq!(iters + r.dropped(), 150.0);
    assert!(r.elapsed >= Duration::from_secs(2), "took {:?}", r.elapsed);
}

#[test]
fn scenarios_with_start_time_exec_env_and_tags() {
    let t = Target::start();
    let r = run_example(&t, "scenarios.js", &[]);
    r.assert_code(0);
    for (metric, expr) in [
        ("http_reqs{flow:browse}", "count==10"),
        ("http_reqs{scenario:buy}", "count==6"),
        ("iterations{scenario:browse}", "count==10"),
        ("iterations{flow:buy}", "count==6"),
        ("checks", "rate==1"),
    ] {
        assert!(r.threshold_ok(metric, expr), "{metric}: {expr} failed");
    }
    assert_eq!(r.stat("http_reqs{flow:browse}", "count"), 10.0);
    assert_eq!(r.stat("http_reqs{scenario:buy}", "count"), 6.0);
    assert_eq!(r.stat("iterations", "count"), 16.0);
    // Six checks, each run by every iteration of its scenario, all passing.
    let checks = r.data()["root_group"]["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 6);
    for c in checks {
        let name = c["name"].as_str().unwrap_or("");
        let want = if name.starts_with("browse") { 10 } else { 6 };
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(want), Some(0)),
            "{c}"
        );
    }
    // buy starts at 1 s.
    assert!(r.elapsed >= Duration::from_secs(1), "took {:?}", r.elapsed);
}

// ---------------------------------------------------------------------------------------------
// Thresholds

#[test]
fn passing_thresholds_exit_0() {
    let t = Target::start();
    let r = run_example(&t, "thresholds.js", &["-e", "MODE=pass"]);
    r.assert_code(0);
    assert!(r.threshold_ok("http_req_duration", "p(95)<5000"));
    assert!(r.threshold_ok("http_req_duration", "avg<5000"));
    assert!(r.threshold_ok("http_req_duration{status:200}", "max<5000"));
    assert!(r.threshold_ok("http_reqs{status:200}", "count==15"));
    assert!(r.threshold_ok("http_req_failed", "rate<=0.25"));
    assert!(r.threshold_ok("http_reqs", "count==20"));
    // The submetric only holds the 15 requests answered with 200.
    assert_eq!(r.stat("http_reqs{status:200}", "count"), 15.0);
    assert_eq!(
        r.metric("http_req_duration{status:200}")["contains"],
        "time"
    );
    assert_eq!(r.stat("http_req_failed", "rate"), 0.25);
    assert_eq!(r.stat("http_req_failed", "passes"), 5.0);
    assert_eq!(r.data()["result"]["outcome"], "passed");
}

#[test]
fn failing_thresholds_exit_99_and_are_marked_not_ok() {
    let t = Target::start();
    let r = run_example(&t, "thresholds.js", &["-e", "MODE=fail"]);
    r.assert_code(99);
    assert!(!r.threshold_ok("http_req_failed", "rate<0.1"));
    assert!(!r.threshold_ok("http_reqs", "count>1000"));
    // The others still pass, and the whole test ran.
    assert!(r.threshold_ok("http_req_duration{status:200}", "max<5000"));
    assert!(r.threshold_ok("checks", "rate==1"));
    assert_eq!(r.stat("iterations", "count"), 20.0);
    assert_eq!(r.data()["result"]["exitCode"], 99);
    assert!(
        r.stderr.contains("have been crossed") && r.stderr.contains("http_req_failed"),
        "stderr: {}",
        r.stderr
    );
}

#[test]
fn abort_on_fail_threshold_stops_the_test_early_with_99() {
    let t = Target::start();
    let r = run_example(&t, "abort_on_fail.js", &[]);
    r.assert_code(99);
    // The script asks for 30 s; the threshold fails within the first evaluation rounds.
    assert!(r.elapsed < Duration::from_secs(12), "took {:?}", r.elapsed);
    assert!(!r.threshold_ok("http_reqs", "count<5"));
    assert!(r.stat("http_reqs", "count") < 100.0);
    assert_eq!(r.data()["result"]["exitCode"], 99);
    assert!(r.stderr.contains("abortOnFail"), "stderr: {}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Checks, groups, custom metrics, k6/execution

/// Finds the group with this path in the root_group tree.
fn group<'a>(root: &'a Value, path: &str) -> &'a Value {
    if root["path"] == path {
        return root;
    }
    root["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|g| {
            let p = g["path"].as_str().unwrap_or("");
            (path == p || path.starts_with(&format!("{p}::"))).then(|| group(g, path))
        })
        .unwrap_or_else(|| panic!("no group {path:?} in {root}"))
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

#[test]
fn checks_and_groups_form_the_root_group_tree() {
    let t = Target::start();
    let r = run_example(&t, "checks_groups.js", &[]);
    r.assert_code(0);
    let root = &r.data()["root_group"];
    // Ids are the md5 of the path (values from an independent md5 implementation).
    let ids = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("::api", "e6550cde192dbabccfbb3b1bac03a92a"),
        ("::api::nested", "7bc7ae5cf327bfe67ba39c0598361516"),
        ("::html", "50f85747a5539a7a29be3caa31328b79"),
    ];
    for (path, id) in ids {
        let g = group(root, path);
        assert_eq!(g["id"], id, "id of group {path:?}");
        let name = path.rsplit("::").next().unwrap_or("");
        assert_eq!(g["name"], name);
    }
    let names = |g: &Value| -> Vec<String> {
        g["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["path"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(root), ["::api", "::html"]);
    assert_eq!(names(group(root, "::api")), ["::api::nested"]);
    assert!(names(group(root, "::api::nested")).is_empty());

    // 10 iterations; checks are listed in the order the script first ran them.
    let s = |n: &str, p, f| (n.to_string(), p, f);
    assert_eq!(checks_of(root), [s("at the root", 10, 0)]);
    assert_eq!(checks_of(group(root, "::api")), [s("status is 200", 10, 0)]);
    assert_eq!(
        checks_of(group(root, "::api::nested")),
        [s("even iteration", 6, 4)]
    );
    assert_eq!(
        checks_of(group(root, "::html")),
        [
            s("is html", 10, 0),
            s("never true", 0, 10),
            s("check() returned false", 10, 0)
        ]
    );
    let even = &group(root, "::api::nested")["checks"][0];
    assert_eq!(even["path"], "::api::nested::even iteration");
    assert_eq!(even["id"], "5b302b32bacc2c53af52931539b6c7ff");
    assert_eq!(
        group(root, "::html")["checks"][1]["id"],
        "ef349147da7c1b9c3ac84f0a30286c19"
    );
    // The checks rate metric counts them all.
    assert_eq!(r.stat("checks", "passes"), 46.0);
    assert_eq!(r.stat("checks", "fails"), 14.0);
    assert_eq!(r.stat("http_reqs", "count"), 20.0);
    assert!(r.stat("group_duration", "max") > 0.0);
}

#[test]
fn custom_metrics_with_tags_and_execution_values() {
    let t = Target::start();
    let dir = temp_dir("custom_metrics_json");
    let json = dir.join("out.json");
    let out = format!("json={}", json.display());
    let r = run_example(&t, "custom_metrics.js", &["--out", &out]);
    r.assert_code(0);
    // Counter: +2 in each of 12 iterations, half of them tagged kind=a.
    assert_eq!(r.metric("items")["type"], "counter");
    assert_eq!(r.stat("items", "count"), 24.0);
    assert_eq!(r.stat("items{kind:a}", "count"), 12.0);
    assert!(r.threshold_ok("items{kind:a}", "count==12"));
    // Gauge: __VU × 10 for VUs 1..3.
    assert_eq!(r.metric("level")["type"], "gauge");
    assert_eq!(r.stat("level", "min"), 10.0);
    assert_eq!(r.stat("level", "max"), 30.0);
    assert!([10.0, 20.0, 30.0].contains(&r.stat("level", "value")));
    // Rate: even __ITER, 2 of each VU's 4 iterations.
    assert_eq!(r.metric("even_iters")["type"], "rate");
    assert_eq!(r.stat("even_iters", "passes"), 6.0);
    assert_eq!(r.stat("even_iters", "fails"), 6.0);
    assert_eq!(r.stat("even_iters", "rate"), 0.5);
    // Trend (time): 0, 10, 20, 30 ms per VU.
    let waits = r.metric("waits");
    assert_eq!(
        (&waits["type"], &waits["contains"]),
        (&"trend".into(), &"time".into())
    );
    assert_eq!(r.stat("waits", "min"), 0.0);
    assert_eq!(r.stat("waits", "max"), 30.0);
    assert_eq!(r.stat("waits", "avg"), 15.0);
    assert_eq!(r.stat("waits", "med"), 15.0);
    // One VU's samples: k6's interpolation gives p(90) = 20 + 0.7 × 10.
    assert_eq!(r.stat("waits{vu:1}", "max"), 30.0);
    assert!((r.stat("waits{vu:1}", "p(90)") - 27.0).abs() < 1e-9);
    // exec.vu / exec.scenario agree with __VU / __ITER in every iteration.
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 4);
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (12, 0), "check {name}");
    }
    // iterationInTest: 0..11, each exactly once across the VUs.
    let lines = read_ndjson(&json);
    assert_eq!(
        numbers(&point_tags(&lines, "iteration_ids", "iter")),
        (0..12).collect::<Vec<_>>()
    );
    // Custom tags appear on the raw samples.
    let kinds: BTreeSet<String> = point_tags(&lines, "items", "kind").into_iter().collect();
    assert_eq!(kinds, BTreeSet::from(["a".to_string(), "b".to_string()]));
}

// ---------------------------------------------------------------------------------------------
// Test control and errors: exit codes

#[test]
fn test_abort_exits_108_and_stops_the_run() {
    let t = Target::start();
    let r = run_example(&t, "test_control.js", &["-e", "MODE=abort"]);
    r.assert_code(108);
    assert_eq!(r.stat("http_reqs", "count"), 3.0);
    assert_eq!(r.stat("after_the_throw", "count"), 2.0);
    let result = &r.data()["result"];
    assert_eq!(result["exitCode"], 108);
    assert_eq!(result["message"], "enough after three requests");
    assert!(
        r.stderr
            .contains("test aborted: enough after three requests"),
        "{}",
        r.stderr
    );
}

#[test]
fn test_abort_with_a_custom_exit_code() {
    let t = Target::start();
    let r = run_example(&t, "test_control.js", &["-e", "MODE=abort-code"]);
    r.assert_code(42);
    let result = &r.data()["result"];
    assert_eq!(result["exitCode"], 42);
    assert_eq!(result["message"], "custom code");
    assert_eq!(result["context"], serde_json::json!({ "at": 2 }));
    assert_eq!(r.stat("http_reqs", "count"), 3.0);
}

#[test]
fn test_fail_lets_the_run_finish_then_exits_110() {
    let t = Target::start();
    let r = run_example(&t, "test_control.js", &["-e", "MODE=fail"]);
    r.assert_code(110);
    assert_eq!(r.stat("iterations", "count"), 10.0);
    assert_eq!(r.stat("after_the_throw", "count"), 10.0);
    assert_eq!(r.data()["result"]["exitCode"], 110);
    assert!(r.stderr.contains("marked as failed"), "{}", r.stderr);
}

#[test]
fn exception_in_init_exits_107() {
    let t = Target::start();
    let r = run_example(&t, "test_control.js", &["-e", "MODE=init-throw"]);
    r.assert_code(107);
    assert!(r.stderr.contains("boom in init"), "{}", r.stderr);
}

#[test]
fn exception_in_default_only_interrupts_that_iteration() {
    let t = Target::start();
    let r = run_example(&t, "test_control.js", &["-e", "MODE=iter-throw"]);
    r.assert_code(0);
    // All 10 iterations ran their request; the 5 odd ones threw before the counter.
    assert_eq!(r.stat("http_reqs", "count"), 10.0);
    assert_eq!(r.stat("after_the_throw", "count"), 5.0);
    assert!(r.stderr.contains("boom in iteration 1"), "{}", r.stderr);
    assert!(r.stderr.contains("boom in iteration 9"), "{}", r.stderr);
    assert_eq!(r.data()["result"]["outcome"], "passed");
}

#[test]
fn clean_run_of_the_control_script_exits_0() {
    let t = Target::start();
    let r = run_example(&t, "test_control.js", &[]);
    r.assert_code(0);
    assert_eq!(r.stat("iterations", "count"), 10.0);
    assert_eq!(r.stat("after_the_throw", "count"), 10.0);
}

#[test]
fn syntax_error_exits_107() {
    let r = run_inline(
        "syntax",
        "export default function () {\n  let x = ;\n}\n",
        &[],
    );
    r.assert_code(107);
    assert!(r.stderr.contains("script.js"), "{}", r.stderr);
}

#[test]
fn invalid_options_exit_104() {
    let cases = [
        (
            "vus_negative",
            "export const options = { vus: -1, duration: '1s' };",
        ),
        (
            "duration_banana",
            "export const options = { vus: 1, duration: 'banana' };",
        ),
    ];
    for (name, options) in cases {
        let r = run_inline(
            name,
            &format!("{options}\nexport default function () {{}}\n"),
            &[],
        );
        r.assert_code(104);
    }
    let empty = "export default function () {}\n";
    let r = run_inline("cli_vus_negative", empty, &["--vus=-1", "--duration", "1s"]);
    r.assert_code(104);
    assert!(r.stderr.contains("VUs must be more than 0"), "{}", r.stderr);
    let r = run_inline("cli_duration_banana", empty, &["--duration", "banana"]);
    r.assert_code(104);
    assert!(r.stderr.contains("banana"), "{}", r.stderr);
}

#[test]
fn missing_script_file_exits_255() {
    let dir = temp_dir("missing");
    let path = dir.join("no-such-script.js").display().to_string();
    let out = volley_run(&["-q", &path], &[]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

// ---------------------------------------------------------------------------------------------
// Files, modules, HTTP API

#[test]
fn open_shared_array_local_import_encoding_and_crypto() {
    let t = Target::start();
    let r = run_example(&t, "data_and_modules.js", &[]);
    r.assert_code(0);
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 13, "{checks:?}");
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (6, 0), "check {name}");
    }
}

#[test]
fn http_bodies_cookies_batch_json_and_status_codes() {
    let t = Target::start();
    let r = run_example(&t, "http_features.js", &[]);
    r.assert_code(0);
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 13, "{checks:?}");
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (2, 0), "check {name}");
    }
    // 8 requests per iteration (the cookie redirect is two), 1 of them a 404.
    assert_eq!(r.stat("http_reqs", "count"), 16.0);
    assert_eq!(r.stat("http_req_failed", "passes"), 2.0);
    assert_eq!(r.stat("http_req_failed", "fails"), 14.0);
    assert_eq!(r.stat("http_req_failed", "rate"), 0.125);
}

#[test]
fn json_output_declares_each_metric_before_its_points() {
    let t = Target::start();
    let dir = temp_dir("json_output");
    let json = dir.join("out.json");
    let out = format!("json={}", json.display());
    let r = run_example(&t, "executors.js", &["--out", &out]);
    r.assert_code(0);
    let lines = read_ndjson(&json);
    let mut declared: BTreeMap<String, Value> = BTreeMap::new();
    let mut points: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        let metric = l["metric"].as_str().expect("metric name").to_string();
        match l["type"].as_str() {
            Some("Metric") => {
                assert_eq!(l["data"]["name"], metric.as_str());
                assert!(
                    ["counter", "gauge", "rate", "trend"]
                        .contains(&l["data"]["type"].as_str().unwrap_or("")),
                    "{l}"
                );
                assert!(
                    declared.insert(metric, l.clone()).is_none(),
                    "declared twice: {l}"
                );
            }
            Some("Point") => {
                assert!(
                    declared.contains_key(&metric),
                    "Point before its Metric line: {l}"
                );
                assert!(l["data"]["value"].is_number(), "{l}");
                let time = l["data"]["time"].as_str().unwrap_or("");
                assert!(time.len() > 20 && time.ends_with('Z'), "time {time:?}");
                assert!(l["data"]["tags"].is_object(), "{l}");
                *points.entry(metric).or_default() += 1;
            }
            _ => panic!("unknown line type: {l}"),
        }
    }
    // One http_reqs Point per request, with k6's request tags.
    assert_eq!(points.get("http_reqs"), Some(&50));
    assert_eq!(points.get("iterations"), Some(&50));
    assert_eq!(points.get("http_req_duration"), Some(&50));
    assert_eq!(r.stat("http_reqs", "count"), 50.0);
    let req = lines
        .iter()
        .find(|l| l["type"] == "Point" && l["metric"] == "http_reqs")
        .expect("an http_reqs point");
    let tags = &req["data"]["tags"];
    assert_eq!(tags["method"], "GET");
    assert_eq!(tags["status"], "200");
    assert_eq!(tags["scenario"], "shared-iterations");
    assert_eq!(tags["url"], format!("{}/", t.url));
    assert_eq!(declared["http_req_duration"]["data"]["contains"], "time");
    assert_eq!(declared["http_req_failed"]["data"]["type"], "rate");
}

#[test]
fn execution_segments_split_shared_iterations_like_k6() {
    let t = Target::start();
    let segments = ["0:1/3", "1/3:2/3", "2/3:1"];
    // The three instances run at the same time, as they would on three agents.
    let handles: Vec<_> = segments
        .iter()
        .map(|seg| {
            let url = t.url.clone();
            let seg = seg.to_string();
            std::thread::spawn(move || {
                let dir = temp_dir("segment");
                let json = dir.join("out.json");
                let out = format!("json={}", json.display());
                let summary = dir.join("summary.json");
                let args = [
                    "-q".to_string(),
                    "-e".into(),
                    format!("BASE_URL={url}"),
                    "-e".into(),
                    format!("OUT={}", summary.display()),
                    "-e".into(),
                    "VUS=10".into(),
                    "-e".into(),
                    "ITERATIONS=30".into(),
                    "--execution-segment".into(),
                    seg,
                    "--execution-segment-sequence".into(),
                    "0,1/3,2/3,1".into(),
                    "--out".into(),
                    out,
                    "examples/executors.js".into(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let started = Instant::now();
                let output = volley_run(&args, &[]);
                let run = finish(output, started.elapsed(), &summary);
                let lines = read_ndjson(&json);
                (run, lines)
            })
        })
        .collect();
    let results: Vec<(Run, Vec<Value>)> = handles
        .into_iter()
        .map(|h| h.join().expect("segment thread"))
        .collect();

    let expected_iters = [12.0, 9.0, 9.0];
    // docs/k6-compatibility.md#execution-segments, measured with k6: striped VU ids and iteration numbers.
    let expected_vus: [&[u64]; 3] = [&[1, 4, 7, 10], &[2, 5, 8], &[3, 6, 9]];
    let expected_first: [&[u64]; 3] = [&[0, 3, 5, 8], &[1, 4, 7, 11], &[2, 6, 9, 12]];
    let mut all = Vec::new();
    for (i, (run, lines)) in results.iter().enumerate() {
        run.assert_code(0);
        assert_eq!(
            run.stat("iterations", "count"),
            expected_iters[i],
            "segment {}",
            segments[i]
        );
        assert_eq!(run.stat("http_reqs", "count"), expected_iters[i]);
        assert_eq!(
            run.stat("vus_max", "value"),
            expected_vus[i].len() as f64,
            "segment {}: its share of the 10 VUs",
            segments[i]
        );
        // Which of a segment's VUs take its shared iterations is a race (on a loaded machine
        // one VU may take them all, under k6 too); their ids are striped all the same.
        let vus: BTreeSet<u64> = numbers(&point_tags(lines, "iterations_ran", "vu"))
            .into_iter()
            .collect();
        assert!(
            !vus.is_empty() && vus.iter().all(|v| expected_vus[i].contains(v)),
            "segment {}: VUs {vus:?} are not among its striped ids {:?}",
            segments[i],
            expected_vus[i]
        );
        let iters = numbers(&point_tags(lines, "iterations_ran", "iter"));
        assert_eq!(&iters[..4], expected_first[i], "segment {}", segments[i]);
        all.extend(iters);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..30).collect::<Vec<_>>(),
        "the union covers every iteration once"
    );
}

// ---------------------------------------------------------------------------------------------
// Stack safety

#[test]
fn deep_recursion_is_a_catchable_range_error() {
    let t = Target::start();
    let r = run_example(&t, "recursion.js", &[]);
    r.assert_code(0);
    assert_eq!(
        checks_of(&r.data()["root_group"]),
        [
            ("RangeError caught".to_string(), 4, 0),
            ("stack still usable".to_string(), 4, 0)
        ]
    );
}

#[test]
fn vus_blocking_inside_js_keep_their_own_stacks_jobs_and_traces() {
    // 20 VUs on one JS worker (one shared QuickJS runtime) block deep in recursion, inside
    // promise jobs and between frames that throw, while the others run.
    let t = Target::start();
    let r = run_example(&t, "interleaved_vus.js", &["--workers", "1"]);
    r.assert_code(0);
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 5, "{checks:?}");
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (100, 0), "check {name}");
    }
    assert_eq!(r.stat("http_reqs", "count"), 400.0);
    assert_eq!(r.stat("iterations", "count"), 100.0);
}

#[test]
fn k6_module_functions_print_as_native_code() {
    // As in k6, whose modules are Go: no module source is shown (nor kept in every VU).
    let r = run_inline(
        "native_code",
        "import http from 'k6/http';\n\
         export const options = { vus: 1, iterations: 1 };\n\
         export default function () { console.log(String(http.get)); }\n",
        &[],
    );
    r.assert_code(0);
    assert!(r.stderr.contains("[native code]"), "{}", r.stderr);
    assert!(!r.stderr.contains("send("), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// k6/html and timers

#[test]
fn scraping_a_page_and_waiting_for_timers() {
    let t = Target::start();
    let r = run_example(&t, "scrape.js", &[]);
    r.assert_code(0);
    assert!(r.threshold_ok("checks", "rate==1"), "{}", r.stderr);
    // Per iteration: the page, the link, the form, and one request from a timer and one after
    // a promise, which the iteration waited for.
    assert_eq!(r.stat("http_reqs", "count"), 30.0);
    assert_eq!(r.stat("iterations", "count"), 6.0);
    let checks = r.data()["root_group"]["checks"].as_array().expect("checks");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        ["prices", "request after a promise", "request from a timer"],
        "{checks:?}"
    );
    assert!(r.stat("iteration_duration", "min") >= 100.0);
}

/// What handleSummary returns decides what is printed, as in k6 v1.1.0: `undefined` or `null`
/// print the default summary, `{}` prints nothing. The examples' helper (examples/lib/summary.js)
/// returns `undefined` without `-e OUT=...`, so running an example prints the usual summary.
#[test]
fn handle_summary_returning_nothing_prints_the_default_summary() {
    let dir = temp_dir("hs-returns");
    for (ret, want_summary) in [("undefined", true), ("null", true), ("{}", false)] {
        let path = dir.join("hs.js");
        std::fs::write(
            &path,
            format!(
                "export default function () {{}}\nexport function handleSummary() {{ return {ret}; }}\n"
            ),
        )
        .expect("write the script");
        let out = volley_run(&["-q", "-i", "1", path.to_str().expect("utf-8 path")], &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ret}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.contains("TOTAL RESULTS"),
            want_summary,
            "handleSummary returning {ret}: {stdout}"
        );
    }
    let t = Target::start();
    let base = format!("BASE_URL={}", t.url);
    let out = volley_run(&["-q", "-e", &base, "examples/checks_groups.js"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("TOTAL RESULTS"), "{stdout}");
    assert!(!stdout.contains("\"root_group\""), "no JSON dump: {stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
