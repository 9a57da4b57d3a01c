//! Thresholds: passing, failing (99) and abortOnFail.

use super::*;

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
