//! The executors: each runs the iterations, VUs and rates it plans.

use super::*;

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
