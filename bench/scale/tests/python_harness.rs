//! The Python half of the benchmark harness (bench/bench.py, bench/summary.py) has unit tests
//! of its parsing, tables and verdicts (bench/test_*.py). This runs them under `cargo test`,
//! the command CI runs, so that a broken verdict fails CI: a failing test, a missing
//! `python3` and a run over its time limit each fail this test with what Python said.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Python tests take well under a second; this is for a machine under heavy load.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn the_python_harness_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python_harness.log");
    let out = File::create(&log).expect("creating the log in CARGO_TARGET_TMPDIR");
    let err = out.try_clone().expect("sharing the log file");
    let mut child = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "bench"])
        .current_dir(&root)
        // No __pycache__ left in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): bench/'s tests need Python 3.11 or later on PATH")
        });
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for python3") {
            break status;
        }
        if began.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "python3 -m unittest discover -s bench ran over {} s:\n{}",
                LIMIT.as_secs(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "python3 -m unittest discover -s bench failed ({status}):\n{said}"
    );
    // "Ran 0 tests" also exits 0: a renamed test file must not pass unseen.
    let ran: usize = said
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(ran >= 20, "only {ran} Python tests ran:\n{said}");
}
