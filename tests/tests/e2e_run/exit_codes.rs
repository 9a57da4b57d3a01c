//! Test control and errors: the exit codes of test.abort(), test.fail(), init and syntax
//! errors, invalid options and a missing script.

use super::*;

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
