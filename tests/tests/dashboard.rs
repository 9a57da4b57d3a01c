//! The web dashboard in a real browser (docs/dashboard.md): a controller with an API token, two
//! agents, a finished run against a loopback target and a running one; headless Chromium,
//! driven by Playwright (`tests/browser/dashboard.mjs`), enters the token, finds both runs,
//! shows the finished run's request count and p95 as `GET /v1/runs/{id}/summary` serves them
//! and both generators in its per-agent panel, lists both agents, and stops the running run
//! with its Stop button (ABORTED_BY_USER, status 5, in the API); at 420 px wide nothing is wider
//! than the window. Screenshots are saved under
//! `target/dashboard-screenshots/`. Any console error fails the test.
//!
//! Needs `chromium` and `npm ci` in `tests/browser/` (`.ci/run` installs both). Without them
//! the test fails under `CI=true` and says SKIP otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use volley_e2e::{workspace_root, Cluster, Proc, Target};

/// How long the browser part may take (page loads, a run stopping gracefully).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(150);

/// 2 VUs per agent for 4 s against the target, with a threshold to show.
const SHORT: &str = "import http from 'k6/http';\n\
import { sleep } from 'k6';\n\
export const options = {\n\
  scenarios: { load: { executor: 'constant-vus', vus: 4, duration: '4s' } },\n\
  thresholds: { http_req_duration: ['p(95)<5000'], http_req_failed: ['rate<0.5'] },\n\
  volley: { agents: 2 },\n\
};\n\
export default function () {\n\
  http.get(__ENV.TARGET + '/');\n\
  sleep(0.05);\n\
}\n";

/// A run that goes on until it is stopped.
const LONG: &str = "import http from 'k6/http';\n\
import { sleep } from 'k6';\n\
export const options = {\n\
  scenarios: { load: { executor: 'constant-vus', vus: 2, duration: '90s' } },\n\
  volley: { agents: 2 },\n\
};\n\
export default function () {\n\
  http.get(__ENV.TARGET + '/');\n\
  sleep(0.2);\n\
}\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write script");
    p
}

#[test]
fn the_dashboard_shows_runs_and_generators_and_stops_a_run_in_a_real_browser() {
    let Some((chromium, dir)) = volley_e2e::browser_tools_or_skip("the dashboard's browser test")
    else {
        return;
    };
    let target = Target::start();
    let cluster = Cluster::start("dashboard", 2);
    let scripts = volley_e2e::temp_dir("dashboard");
    let target_env = format!("TARGET={}", target.url);

    // A finished run with data.
    let mut submit = cluster.submit(&write(&scripts, "short.js", SHORT), &["-e", &target_env]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(40), 0);
    let done = cluster.latest_run_id().expect("the finished run");
    let summary = cluster.summary(done);
    let requests = summary["metrics"]["http_reqs"]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("http_reqs count in {summary}"));
    let p95 = summary["metrics"]["http_req_duration"]["values"]["p(95)"]
        .as_f64()
        .unwrap_or_else(|| panic!("http_req_duration p(95) in {summary}"));
    assert!(requests > 10.0, "the run made requests: {summary}");

    // A running run to stop from the page.
    let mut long = cluster.volley();
    long.args([
        "submit",
        "--controller",
        &cluster.rest_url,
        "-e",
        &target_env,
    ])
    .arg(write(&scripts, "long.js", LONG));
    let out = long.output().expect("volley submit runs");
    assert!(out.status.success(), "volley submit: {out:?}");
    let (live, _) = cluster.wait_new_run(done, &[2], Duration::from_secs(30));

    let shots = workspace_root().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let mut node = Command::new("node");
    node.arg("dashboard.mjs")
        .current_dir(&dir)
        .env("DASH_URL", &cluster.rest_url)
        .env("DASH_TOKEN", &cluster.admin_token)
        .env("DASH_DONE_RUN", done.to_string())
        .env("DASH_REQUESTS", format!("{}", requests.round() as u64))
        .env("DASH_P95", p95.to_string())
        .env("DASH_LIVE_RUN", live.to_string())
        .env("DASH_AGENTS", "gen-1,gen-2")
        .env("DASH_SHOTS", &shots)
        .env("DASH_CHROMIUM", &chromium);
    let mut page = Proc::spawn(&mut node);
    let status = page.wait_exit(BROWSER_TIMEOUT);
    let (stdout, stderr) = (page.stdout.text(), page.stderr.text());
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains("DASHBOARD-OK"),
        "the browser test failed (exit {status:?}; screenshots so far in {}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        shots.display()
    );

    // The page's Stop stopped the run: the API says so.
    let run = cluster
        .wait_run(
            live,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            Duration::from_secs(20),
        )
        .expect("the stopped run ends");
    assert_eq!(run["run_status"], 5, "ABORTED_BY_USER: {run}");
    for shot in [
        "runs.png",
        "run-finished.png",
        "run-narrow.png",
        "agents.png",
        "run-live.png",
        "run-stopped.png",
    ] {
        let p = shots.join(shot);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {} was saved", p.display());
    }
    let _ = std::fs::remove_dir_all(&scripts);
    eprintln!(
        "run {done}: {requests} requests, p95 {p95:.2} ms shown; run {live} stopped from the page; screenshots in {}",
        shots.display()
    );
}
