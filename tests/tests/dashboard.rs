//! The web dashboard in a real browser (docs/dashboard.md): a controller with an API token, two
//! agents, a finished run against a loopback target and a running one; headless Chromium,
//! driven by Playwright (`tests/browser/dashboard.mjs`), enters the token, finds both runs
//! with who started them (two tokens of two projects), filters them by project (the filter
//! kept in the address, which opens the same filtered view),
//! shows the finished run's test, its request count and p95 as `GET /v1/runs/{id}/summary`
//! serves them, the moment its `p(95)<150` threshold began to fail (recorded by the controller
//! during the run) marked on its http_req_duration chart where uPlot puts that time and said
//! in its thresholds table, both generators in its per-agent panel with their peak CPU as
//! `GET /v1/runs/{id}/agents` has it, their charts over time and the generators that reached 80 %
//! in its overload table, its groups/checks tree with the summary's passes and fails, the live
//! run's checks as they come, lists both agents, and stops the running run
//! with its Stop button (ABORTED_BY_USER, status 5, in the API). Accessibility: Tab reaches the
//! filters, links, downloads, the metric list, the groups and Stop in the page's order with the
//! focus shown, and the focus stays put while the live tables redraw; health and crossings are
//! said in words, the small charts are labelled; at 1280×800 and 390×844 nothing on the Runs,
//! run and Agents pages is wider than the window. Screenshots are saved under
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

/// 2 VUs per agent for 8 s against the target, with thresholds to show, and checks in a
/// group: one always passes, one always fails. After 2 s the target answers in 300 ms, so
/// `p(95)<150` fails mid-run (a threshold crossing). `waiting_time` spreads its values so that
/// its avg, percentiles and max are distinct lines (the chart test looks for the avg's).
const SHORT: &str = "import http from 'k6/http';\n\
import { check, group, sleep } from 'k6';\n\
import { Counter, Trend } from 'k6/metrics';\n\
const waiting = new Trend('waiting_time', true);\n\
const pages = new Counter('pages_seen');\n\
export const options = {\n\
  scenarios: { load: { executor: 'constant-vus', vus: 4, duration: '8s' } },\n\
  thresholds: { http_req_duration: ['p(95)<5000', 'p(95)<150'], http_req_failed: ['rate<0.5'], 'waiting_time{kind:odd}': ['max>=0'] },\n\
  volley: { agents: 2 },\n\
};\n\
let first = 0;\n\
export default function () {\n\
  if (!first) first = Date.now();\n\
  const path = Date.now() - first > 2000 ? '/delay/300' : '/';\n\
  group('front page', () => {\n\
    const r = http.get(__ENV.TARGET + path);\n\
    check(r, { 'status is 200': (x) => x.status === 200, 'took an hour': (x) => x.timings.duration > 3600000 });\n\
    waiting.add(r.timings.duration + 1 + (__ITER % 10) * 5, { kind: __ITER % 2 ? 'odd' : 'even' });\n\
    pages.add(1);\n\
  });\n\
  sleep(0.05);\n\
}\n";

/// A run that goes on until it is stopped, with a check.
const LONG: &str = "import http from 'k6/http';\n\
import { check, sleep } from 'k6';\n\
export const options = {\n\
  scenarios: { load: { executor: 'constant-vus', vus: 2, duration: '90s' } },\n\
  volley: { agents: 2 },\n\
};\n\
export default function () {\n\
  check(http.get(__ENV.TARGET + '/'), { 'live status is 200': (x) => x.status === 200 });\n\
  sleep(0.2);\n\
}\n";

/// What `GET /v1/runs/{id}/agents` says of each agent over the run: its highest process CPU %
/// as the page shows it (`gen-1=12.3,gen-2=8.0`, one decimal) and the agents that reached
/// warning (80 % of the process's or the host's CPU, or of the host's memory) at some heartbeat.
fn agent_peaks(cluster: &Cluster, run: u64) -> (String, String) {
    let agents = cluster
        .get(&format!("/v1/runs/{run}/agents"))
        .expect("the run's agents");
    let mut peaks = Vec::new();
    let mut loaded = Vec::new();
    for a in agents["agents"].as_array().expect("agents") {
        let name = a["agent"].as_str().expect("agent name");
        let samples = a["samples"].as_array().expect("samples");
        let peak = samples
            .iter()
            .filter_map(|s| s["process_cpu_percent"].as_f64())
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let shown = peak.map_or("—".to_string(), |p| {
            format!("{:.1}", (p * 10.0).round() / 10.0)
        });
        peaks.push(format!("{name}={shown}"));
        let at = |s: &serde_json::Value, k: &str| s[k].as_f64().unwrap_or(0.0) >= 80.0;
        if samples.iter().any(|s| {
            at(s, "process_cpu_percent") || at(s, "cpu_percent") || at(s, "memory_percent")
        }) {
            loaded.push(name.to_string());
        }
    }
    (peaks.join(","), loaded.join(","))
}

/// The ended run's metrics over time, as its live stream sends them (everything, then it
/// closes): each series by name, its fields and columns.
fn metric_series(cluster: &Cluster, run: u64) -> serde_json::Map<String, serde_json::Value> {
    let head = format!(
        "GET /v1/live/runs/{run} HTTP/1.0\r\nAccept: text/event-stream\r\nAuthorization: Token {}",
        cluster.admin_token
    );
    let (status, body) = volley_e2e::raw_http(cluster.rest_port, &head, "");
    assert_eq!(status, 200, "the run's stream: {body}");
    let data = body
        .split("\n\n")
        .find_map(|event| event.strip_prefix("event: metrics\ndata: "))
        .unwrap_or_else(|| panic!("a metrics event in the run's stream: {body}"));
    let event: serde_json::Value = serde_json::from_str(data).expect("the metrics event's JSON");
    assert_eq!(event["reset"], true, "the whole run: {event}");
    event["series"]
        .as_array()
        .expect("its series")
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or("").to_string(), s.clone()))
        .collect()
}

/// One field's column of a series.
fn column(series: &serde_json::Value, field: &str) -> Vec<f64> {
    let k = series["fields"]
        .as_array()
        .and_then(|f| f.iter().position(|x| x == field))
        .unwrap_or_else(|| panic!("field {field} in {series}"));
    series["v"][k]
        .as_array()
        .expect("a column")
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// The per-interval points of the run's metrics add up to its merged totals (and its
/// submetric's to the summary's); the trend's number of points.
fn metric_points_add_up(cluster: &Cluster, run: u64, summary: &serde_json::Value) -> usize {
    let series = metric_series(cluster, run);
    let totals = cluster
        .get(&format!("/v1/runs/{run}/metrics"))
        .expect("the run's merged metrics")["metrics"]
        .clone();
    let total = |metric: &str, stat: &str| {
        totals[metric]["values"][stat]
            .as_f64()
            .unwrap_or_else(|| panic!("{metric} {stat} in {totals}"))
    };
    let get = |name: &str| {
        series
            .get(name)
            .unwrap_or_else(|| panic!("{name} in the series {:?}", series.keys()))
    };
    let sum = |v: Vec<f64>| v.iter().sum::<f64>();
    let max = |v: Vec<f64>| v.iter().copied().fold(f64::MIN, f64::max);
    let min = |v: Vec<f64>| v.iter().copied().fold(f64::MAX, f64::min);
    for counter in ["pages_seen", "http_reqs", "iterations"] {
        assert_eq!(
            sum(column(get(counter), "count")),
            total(counter, "count"),
            "{counter}: the points' counts add up to the total"
        );
    }
    for rate in ["http_req_failed", "checks"] {
        let s = get(rate);
        assert_eq!(sum(column(s, "passes")), total(rate, "passes"), "{rate}");
        assert_eq!(
            sum(column(s, "total")),
            total(rate, "passes") + total(rate, "fails"),
            "{rate}"
        );
    }
    let trend = get("waiting_time");
    assert_eq!(trend["type"], "trend");
    assert_eq!(max(column(trend, "max")), total("waiting_time", "max"));
    assert_eq!(min(column(trend, "min")), total("waiting_time", "min"));
    let count = sum(column(trend, "count"));
    assert_eq!(
        count,
        total("pages_seen", "count"),
        "one waiting_time per page"
    );
    let avg: f64 = column(trend, "avg")
        .iter()
        .zip(column(trend, "count"))
        .map(|(a, c)| a * c)
        .sum::<f64>()
        / count;
    let want = total("waiting_time", "avg");
    assert!(
        (avg - want).abs() <= 1e-9 * want.abs(),
        "avg {avg} vs {want}"
    );
    let odd = get("waiting_time{kind:odd}");
    assert_eq!(
        Some(max(column(odd, "max"))),
        summary["metrics"]["waiting_time{kind:odd}"]["values"]["max"].as_f64(),
        "the submetric's points: {summary}"
    );
    trend["t"].as_array().expect("times").len()
}

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
    // p(95)<150 failed: exit code 99.
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(40), 99);
    let done = cluster.latest_run_id().expect("the finished run");
    // The controller recorded when p(95)<150 began to fail, during the run.
    let done_run = cluster.run(done).expect("the finished run");
    let crossing = done_run["events"]
        .as_array()
        .and_then(|events| {
            events.iter().find(|e| {
                e["threshold"]["metric"] == "http_req_duration"
                    && e["threshold"]["threshold"] == "p(95)<150"
                    && e["threshold"]["ok"] == false
            })
        })
        .unwrap_or_else(|| panic!("an event of p(95)<150 failing in {done_run}"))
        .clone();
    let crossed_at = crossing["at"].as_str().expect("its time").to_string();
    let (started, ended) = (
        done_run["started"].as_str().expect("started"),
        done_run["ended"].as_str().expect("ended"),
    );
    assert!(
        started < crossed_at.as_str() && crossed_at.as_str() < ended,
        "p(95)<150 crossed at {crossed_at}, during the run ({started} to {ended}): {crossing}"
    );
    assert!(
        crossing["threshold"]["value"]
            .as_f64()
            .is_some_and(|v| v >= 150.0),
        "its p(95) then: {crossing}"
    );
    let summary = cluster.summary(done);
    let requests = summary["metrics"]["http_reqs"]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("http_reqs count in {summary}"));
    let p95 = summary["metrics"]["http_req_duration"]["values"]["p(95)"]
        .as_f64()
        .unwrap_or_else(|| panic!("http_req_duration p(95) in {summary}"));
    assert!(requests > 10.0, "the run made requests: {summary}");
    let test_id = cluster.run(done).expect("the finished run")["test_id"]
        .as_u64()
        .expect("its test_id");
    let test_name = cluster
        .get(&format!("/loadtests/v2/tests/{test_id}"))
        .expect("its test")["k6-test"]["name"]
        .as_str()
        .expect("the test's name")
        .to_string();
    let (peaks, loaded) = agent_peaks(&cluster, done);
    let metric_points = metric_points_add_up(&cluster, done, &summary);
    assert!(metric_points >= 2, "the 4 s run has points of waiting_time");
    // The summary's checks, `path=passes/fails` each.
    let front = &summary["root_group"]["groups"][0];
    assert_eq!(front["name"], "front page", "{summary}");
    let checks: Vec<String> = front["checks"]
        .as_array()
        .expect("the group's checks")
        .iter()
        .map(|c| {
            format!(
                "{}={}/{}",
                c["path"].as_str().unwrap_or("?"),
                c["passes"],
                c["fails"]
            )
        })
        .collect();
    assert_eq!(checks.len(), 2, "{summary}");

    // A running run to stop from the page, started by another token of another project.
    let (status, created) = cluster
        .request(
            "POST",
            "/v1/tokens",
            Some(&serde_json::json!({"role": "submit", "project_id": 2, "name": "team-b"})),
        )
        .expect("create the team-b token");
    assert_eq!(status, 201, "the team-b token: {created}");
    let team_b = created["token"].as_str().expect("its secret").to_string();
    let mut long = cluster.volley();
    long.env("VOLLEY_TOKEN", &team_b)
        .args([
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
    // Who started each run and its project, as the API has them (the page's filter shows
    // the runs of one project).
    let who = |id: u64| {
        let r = cluster.run(id).expect("the run");
        (
            r["started_by"].as_str().expect("started_by").to_string(),
            r["project_id"].as_u64().expect("project_id"),
        )
    };
    let (done_by, done_project) = who(done);
    let (live_by, live_project) = who(live);
    assert_eq!(
        (done_by.as_str(), live_by.as_str(), live_project),
        ("bootstrap admin", "team-b", 2),
        "who started the runs, and the second run's project"
    );
    assert_ne!(done_project, live_project);

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
        .env("DASH_CROSSED_AT", &crossed_at)
        .env("DASH_CROSSED", "p(95)<150")
        .env("DASH_DONE_BY", &done_by)
        .env("DASH_DONE_PROJECT", done_project.to_string())
        .env("DASH_LIVE_BY", &live_by)
        .env("DASH_LIVE_PROJECT", live_project.to_string())
        .env("DASH_AGENTS", "gen-1,gen-2")
        .env("DASH_TEST_NAME", &test_name)
        .env("DASH_PEAKS", &peaks)
        .env("DASH_LOADED", &loaded)
        .env("DASH_CHECKS", checks.join(","))
        .env("DASH_SHOTS", &shots)
        .env("DASH_METRIC", "waiting_time")
        .env(
            "DASH_METRIC_LISTED",
            "waiting_time{kind:odd},pages_seen,http_reqs,checks",
        )
        .env("DASH_METRIC_POINTS", metric_points.to_string())
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
        "runs-filtered.png",
        "run-finished.png",
        "run-crossing.png",
        "run-metric.png",
        "run-narrow.png",
        "runs-narrow.png",
        "agents.png",
        "agents-narrow.png",
        "run-live.png",
        "run-stopped.png",
    ] {
        let p = shots.join(shot);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {} was saved", p.display());
    }
    eprintln!(
        "run {done}: {requests} requests, p95 {p95:.2} ms shown; run {live} stopped from the page; screenshots in {}",
        shots.display()
    );
}
