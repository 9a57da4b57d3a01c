//! The REST API against its own OpenAPI document, fuzzed by schemathesis (PyPI; `.ci/run`
//! installs the pinned version): a controller on loopback with an admin token (sent on every
//! request, so the authenticated routes are exercised past the guard), then `st run` on
//! `/openapi.json` with a fixed seed, a bounded number of examples per operation and a time
//! budget, checking that no response is a server error and that every response matches the
//! document's schema. Any finding fails the test with schemathesis' report. Without
//! schemathesis the test fails under `CI=true` and says SKIP otherwise. See docs/security.md.

use std::process::Command;
use std::time::Duration;

use volley_e2e::{temp_dir, Cluster, Proc};

/// Operations left out, each for a reason that is not a finding:
/// - `revoke` (`DELETE /v1/tokens/{id}`) would revoke the admin token the run authenticates
///   with (it is id 1), leaving every later request a 401 that tests nothing.
/// - `post_streamed_run_batch` and `k6_push_metrics` take protobuf bodies
///   (`application/x-protobuf`), which schemathesis cannot generate ("Serialization not
///   possible"); the protocol's decoders have their own fuzz tests.
const EXCLUDED: [&str; 3] = ["revoke", "post_streamed_run_batch", "k6_push_metrics"];

/// Schemathesis' time budget for fuzzing and stateful testing (it repeats until spent).
const MAX_TIME_SECS: u64 = 40;
/// How long the whole `st run` may take before the test fails (budget plus start-up and the
/// schema-driven phases before fuzzing).
const RUN_TIMEOUT: Duration = Duration::from_secs(75);

/// One worker: with more, schemathesis' generator threads race in CPython's `ast.parse`
/// (hypothesis describing its filters) and the run fails with a "Runtime Error" of its own
/// ("AST constructor recursion depth mismatch"), once in about four runs here.
const WORKERS: &str = "1";

/// The schemathesis command line tool, if installed (`st`, or its long name).
fn schemathesis() -> Option<&'static str> {
    ["st", "schemathesis"].into_iter().find(|bin| {
        Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn rest_api_conforms_to_its_openapi_document() {
    let Some(st) = schemathesis() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("schemathesis is not installed: .ci/run installs it (pip install schemathesis)");
        }
        eprintln!("SKIP rest_schema: schemathesis is not installed (pip install schemathesis)");
        return;
    };
    let c = Cluster::start("rest-schema", 0);
    // schemathesis writes its example database and reports into the working directory.
    let work = temp_dir("rest-schema-st");
    let mut cmd = Command::new(st);
    cmd.current_dir(&work)
        .arg("run")
        .arg(format!("{}/openapi.json", c.rest_url))
        .args([
            "--header",
            &format!("Authorization: Bearer {}", c.admin_token),
        ])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", "20", "--seed", "1"])
        .args(["--max-time", &MAX_TIME_SECS.to_string()])
        .args(["--request-timeout", "10", "--workers", WORKERS])
        .args(["--generation-database", "none", "--no-color"]);
    for op in EXCLUDED {
        cmd.args(["--exclude-operation-id", op]);
    }
    let mut run = Proc::spawn(&mut cmd);
    let code = run.exit_code(RUN_TIMEOUT);
    let report = format!("{}\n--- stderr\n{}", run.stdout.text(), run.stderr.text());
    assert_eq!(code, 0, "schemathesis found problems:\n{report}");
    // A run that selected or tested nothing passes vacuously: every operation of the document
    // but the excluded ones must have been tested.
    let count = |label: &str| -> Option<(u64, u64)> {
        let line = report.lines().find(|l| l.trim_start().starts_with(label))?;
        let v = line.trim_start()[label.len()..].trim();
        let (a, b) = v.split_once('/').unwrap_or((v, v));
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    let (selected, total) = count("Selected:").expect("a 'Selected: N/M' line in the report");
    let (tested, _) = count("Tested:").expect("a 'Tested: N' line in the report");
    assert_eq!(
        (selected, tested),
        (total - EXCLUDED.len() as u64, selected),
        "schemathesis did not test every selected operation:\n{report}"
    );
}
