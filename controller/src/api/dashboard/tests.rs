//! The dashboard's routes and live feeds against a small fake service: the page for browsers
//! and the JSON index for programs, the embedded files, the points of a run's timeline (VUs
//! summed over agents, percentiles merged), and feeds that send only what changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;
use volley_common::metrics::{MetricType, Sink, ValueType};
use volley_proto as pb;

use super::live::{AgentsFeed, Out, RunFeed, RunsFeed};
use super::*;
use crate::api::fixtures;
use crate::api::{ControllerService, Listed, Page, ServiceError};
use crate::auth::Caller;
use crate::model::{AgentUtilization, AgentView, Run, RunStatus, Test, UtilizationSample};
use crate::run::merge::{merge_batch, AgentGauges, LiveData};

#[derive(Default)]
struct Fake {
    runs: Mutex<BTreeMap<u64, Run>>,
    points: Mutex<Vec<RunPoint>>,
    samples: Mutex<Vec<UtilizationSample>>,
    checks: Mutex<Vec<CheckCount>>,
    /// How often the run's points were read (once per tick of a feed).
    point_reads: std::sync::atomic::AtomicUsize,
    metric_series: Mutex<crate::run::metric_series::MetricTimeline>,
    /// gen-1's recent heartbeats (the Agents page's small charts).
    recent: Mutex<crate::agent_recent::Recent>,
    /// What `state_index` answers (`None`: not known, as by default).
    index: Mutex<Option<u64>>,
    /// How often a run was read (copied) with `get_run`.
    run_reads: std::sync::atomic::AtomicUsize,
}

impl ControllerService for Fake {
    fn create_test_keyed(
        &self,
        _: String,
        _: Option<u64>,
        _: Vec<u8>,
        _: &Caller,
        _: Option<String>,
    ) -> Result<(Test, bool), ServiceError> {
        Err(ServiceError::internal("not in this fake"))
    }
    fn list_tests(&self, _: &dyn Fn(&Test) -> bool, _: Page) -> Listed<Test> {
        Listed {
            count: 0,
            items: Vec::new(),
        }
    }
    fn get_test(&self, id: u64) -> Option<Test> {
        Some(fixtures::test(id, 1, vec![]))
    }
    fn start_run_keyed(
        &self,
        _: u64,
        _: BTreeMap<String, String>,
        _: String,
        _: u64,
        _: Option<String>,
    ) -> Result<(Run, bool), ServiceError> {
        Err(ServiceError::internal("not in this fake"))
    }
    fn get_run(&self, id: u64) -> Option<Run> {
        self.run_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.runs.lock().unwrap().get(&id).cloned()
    }
    fn run_head(&self, id: u64) -> Option<crate::model::RunHead> {
        // Without a copy, as the service reads it (the default copies the run).
        self.runs
            .lock()
            .unwrap()
            .get(&id)
            .map(crate::model::RunHead::of)
    }
    fn state_index(&self) -> Option<u64> {
        *self.index.lock().unwrap()
    }
    fn list_runs(&self, keep: &dyn Fn(&Run) -> bool, page: Page) -> Listed<Run> {
        page.collect(self.runs.lock().unwrap().values().filter(|r| keep(r)))
    }
    fn stop_run(&self, _: u64, _: Option<u64>) -> Result<Run, ServiceError> {
        Err(ServiceError::internal("not in this fake"))
    }
    fn agents(&self) -> Vec<AgentView> {
        Vec::new()
    }
    fn agents_with_recent(
        &self,
        after: &dyn Fn(&str) -> i64,
    ) -> (Vec<AgentView>, Vec<crate::agent_recent::AgentRecent>) {
        let recent = self.recent.lock().unwrap();
        (Vec::new(), vec![recent.after("gen-1", after("gen-1"))])
    }
    fn agent(&self, _: &str) -> Option<AgentView> {
        None
    }
    fn run_agents(&self, id: u64) -> Option<Vec<AgentUtilization>> {
        self.run_head(id)?;
        Some(vec![AgentUtilization {
            agent: "gen-1".into(),
            segment: "0:1".into(),
            samples: self.samples.lock().unwrap().clone(),
        }])
    }
    fn run_metrics(&self, id: u64) -> Option<Value> {
        let n = self.points.lock().unwrap().len();
        self.run_head(id).map(|_| {
            json!({"metrics": {
                    "http_reqs": {"values": {"count": n}},
                    "data_sent": {"values": {"count": 100}},
                    "my_trend": {"values": {"p(95)": 2}},
                }, "intervals": []})
        })
    }
    fn run_summary(&self, id: u64) -> Option<Value> {
        self.run_head(id)
            .filter(|r| r.run_status.is_terminal())
            .map(|_| json!({"metrics": {"http_reqs": {"values": {"count": 3}}}}))
    }
    fn run_metric_series(
        &self,
        _: u64,
        since: u64,
    ) -> Option<(u64, u64, Vec<crate::run::metric_series::MetricSeries>)> {
        let mut m = self.metric_series.lock().unwrap();
        Some((m.generation, m.point_ms(), m.since(since)))
    }
    fn run_checks(&self, _: u64) -> Option<(Vec<CheckCount>, bool)> {
        Some((self.checks.lock().unwrap().clone(), false))
    }
    fn run_points(&self, _: u64, since: u64) -> Option<Vec<RunPoint>> {
        self.point_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = self.points.lock().unwrap();
        Some(p.iter().filter(|p| p.t >= since).cloned().collect())
    }
}

fn point(t: u64, rps: f64) -> RunPoint {
    RunPoint {
        t,
        vus: Some(2.0),
        requests_per_second: Some(rps),
        iterations_per_second: None,
        p50: None,
        p90: None,
        p95: None,
        p99: None,
        failed_rate: None,
    }
}

fn sample(vus: i64) -> UtilizationSample {
    UtilizationSample {
        at: "2026-01-01T00:00:01Z".into(),
        cpu_percent: 95.0,
        memory_percent: 10.0,
        process_cpu_percent: Some(20.0),
        process_rss_bytes: 1 << 20,
        active_vus: vus,
        requests_per_second: 5.0,
        iterations_per_second: 5.0,
    }
}

fn names(events: &[Out]) -> Vec<String> {
    events.iter().map(|(n, _)| n.to_string()).collect()
}

fn data(events: &[Out], name: &str) -> Value {
    let (_, d) = events
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("a {name} event in {:?}", names(events)));
    serde_json::from_str(d).expect("JSON data")
}

fn fake_with_run(status: RunStatus) -> Arc<Fake> {
    let fake = Arc::new(Fake::default());
    fake.runs
        .lock()
        .unwrap()
        .insert(1, fixtures::run(1, 2, status));
    fake
}

#[test]
fn a_run_feed_sends_only_new_and_changed_points_and_ends_with_the_run() {
    let fake = fake_with_run(RunStatus::Running);
    let caller = Caller::open();
    let mut feed = RunFeed::default();
    fake.points
        .lock()
        .unwrap()
        .extend([point(1000, 1.0), point(2000, 2.0)]);
    fake.samples.lock().unwrap().push(sample(2));

    let (events, done) = feed.tick(&*fake, &caller, 1);
    assert!(!done);
    assert_eq!(names(&events), ["run", "points", "totals", "agents"]);
    assert_eq!(
        data(&events, "points")["points"].as_array().unwrap().len(),
        2
    );
    let agents = data(&events, "agents");
    assert_eq!(agents["agents"][0]["agent"], "gen-1");
    assert_eq!(agents["agents"][0]["health"], "overloaded");
    assert_eq!(agents["agents"][0]["health_cause"], "host");

    // Nothing changed but the running run's duration: nothing is sent.
    fake.runs.lock().unwrap().get_mut(&1).unwrap().duration = 7.0;
    let (events, _) = feed.tick(&*fake, &caller, 1);
    assert!(events.is_empty(), "{:?}", names(&events));

    // A late batch changes the last point, a new one follows; one more sample.
    {
        let mut p = fake.points.lock().unwrap();
        p[1] = point(2000, 4.0);
        p.push(point(3000, 3.0));
    }
    fake.samples.lock().unwrap().push(sample(3));
    let (events, _) = feed.tick(&*fake, &caller, 1);
    let sent: Vec<f64> = data(&events, "points")["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests_per_second"].as_f64().unwrap())
        .collect();
    assert_eq!(sent, [4.0, 3.0], "only the changed and the new point");
    let agents = &data(&events, "agents")["agents"][0];
    assert_eq!(
        agents["series"]["vus"],
        json!([3]),
        "only the new heartbeat"
    );
    assert_eq!(agents["samples"], 2, "of two in all");
    assert_eq!(agents["latest"]["active_vus"], 3);

    // The run ends: its new state, the summary, the end; the stream is done.
    fake.runs.lock().unwrap().get_mut(&1).unwrap().run_status = RunStatus::AbortedByUser;
    let (events, done) = feed.tick(&*fake, &caller, 1);
    assert!(done);
    assert_eq!(names(&events), ["run", "summary", "end"]);
    assert_eq!(
        data(&events, "run")["duration"],
        7.0,
        "the ended run's own duration"
    );
    assert_eq!(data(&events, "end")["run_status"], 5);
}

/// With the state's log index known, a feed copies the run only when a command moved the
/// index: the ticks in between read nothing of it.
#[test]
fn a_run_feed_reads_the_run_again_only_when_the_state_moved() {
    use std::sync::atomic::Ordering::SeqCst;
    let fake = fake_with_run(RunStatus::Running);
    *fake.index.lock().unwrap() = Some(5);
    let caller = Caller::open();
    let mut feed = RunFeed::default();
    let (events, _) = feed.tick(&*fake, &caller, 1);
    assert_eq!(names(&events)[0], "run");
    assert_eq!(fake.run_reads.load(SeqCst), 1);

    // Changed behind the state's back (no command does that): not read, so not seen.
    fake.runs.lock().unwrap().get_mut(&1).unwrap().note = "changed".into();
    let (events, done) = feed.tick(&*fake, &caller, 1);
    assert!(events.is_empty(), "{:?}", names(&events));
    assert!(!done);
    assert_eq!(fake.run_reads.load(SeqCst), 1);

    // A command moved the index: the run is read again and its change sent.
    *fake.index.lock().unwrap() = Some(6);
    let (events, _) = feed.tick(&*fake, &caller, 1);
    assert_eq!(names(&events), ["run"]);
    assert_eq!(data(&events, "run")["note"], "changed");
    assert_eq!(fake.run_reads.load(SeqCst), 2);

    // The run ends with a command: its end.
    fake.runs.lock().unwrap().get_mut(&1).unwrap().run_status = RunStatus::Finished;
    *fake.index.lock().unwrap() = Some(7);
    let (events, done) = feed.tick(&*fake, &caller, 1);
    assert!(done);
    assert_eq!(names(&events).last().map(String::as_str), Some("end"));
    assert_eq!(fake.run_reads.load(SeqCst), 3);
}

#[test]
fn a_run_feed_opens_with_each_agents_whole_run_downsampled() {
    let fake = fake_with_run(RunStatus::Running);
    fake.samples
        .lock()
        .unwrap()
        .extend((0..MAX_AGENT_POINTS as i64 * 3).map(sample));
    let (events, _) = RunFeed::default().tick(&*fake, &Caller::open(), 1);
    let agent = &data(&events, "agents")["agents"][0];
    let vus = agent["series"]["vus"].as_array().unwrap();
    assert!(vus.len() <= MAX_AGENT_POINTS, "{} points", vus.len());
    assert_eq!(vus[0], 3, "from the run's first heartbeats on, merged");
    assert_eq!(agent["samples"], MAX_AGENT_POINTS * 3);
    assert_eq!(agent["latest"]["active_vus"], MAX_AGENT_POINTS * 3 - 1);
}

#[test]
fn a_run_feed_sends_the_checks_when_they_change() {
    let fake = fake_with_run(RunStatus::Running);
    let mut feed = RunFeed::default();
    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    assert!(
        !names(&events).contains(&"checks".to_string()),
        "no checks yet"
    );
    fake.checks.lock().unwrap().push(CheckCount {
        group: "::login".into(),
        check: "status is 200".into(),
        passes: 3,
        fails: 1,
    });
    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    let checks = data(&events, "checks");
    assert_eq!(checks["checks"][0]["group"], "::login");
    assert_eq!(checks["checks"][0]["passes"], 3);
    assert_eq!(checks["checks"][0]["fails"], 1);
    assert_eq!(checks["more"], false);
    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    assert!(events.is_empty(), "unchanged: {:?}", names(&events));
}

#[test]
fn a_run_of_another_project_is_gone() {
    let fake = fake_with_run(RunStatus::Running);
    let other = Caller {
        token_id: Some(9),
        role: volley_api::Role::Read,
        project_id: 77,
    };
    let (events, done) = RunFeed::default().tick(&*fake, &other, 1);
    assert!(done);
    assert_eq!(names(&events), ["gone"]);
}

#[test]
fn the_runs_feed_lists_the_newest_runs_first_and_says_what_queued_ones_wait_for() {
    let fake = Arc::new(Fake::default());
    for id in 1..=60 {
        let mut r = fixtures::run(id, 2, RunStatus::Finished);
        r.project_id = id % 2;
        r.started_by = format!("token of project {}", id % 2);
        if id == 60 {
            r.run_status = RunStatus::Queued;
            r.events.push(crate::model::RunEvent {
                threshold: None,
                at: "2026-01-01T00:00:00Z".into(),
                level: "info".into(),
                message: "queued: the run needs 3 idle agents; 1 idle of 2 connected".into(),
            });
        }
        fake.runs.lock().unwrap().insert(id, r);
    }
    let mut feed = RunsFeed::default();
    let events = feed.tick(&*fake, &Caller::open());
    let d = data(&events, "runs");
    assert_eq!(d["count"], 60);
    let rows = d["runs"].as_array().unwrap();
    assert_eq!(rows.len(), super::live::RECENT_RUNS);
    assert_eq!(rows[0]["id"], 60);
    assert_eq!(rows[49]["id"], 11);
    assert_eq!(rows[0]["status_name"], "QUEUED");
    assert_eq!(
        rows[0]["detail"],
        "the run needs 3 idle agents; 1 idle of 2 connected"
    );
    assert_eq!(rows[1]["test_name"], "test 2");
    assert_eq!(rows[1]["project_id"], 1, "run 59's project");
    assert_eq!(rows[1]["started_by"], "token of project 1");
    assert!(feed.tick(&*fake, &Caller::open()).is_empty(), "no change");
    assert!(AgentsFeed::default().tick(&*fake).len() == 1);
}

#[test]
fn the_agents_feed_sends_each_agents_recent_heartbeats_once() {
    use crate::agent_recent::{RecentPoint, RECENT_POINTS};
    let fake = Arc::new(Fake::default());
    let beat = |t: i64| RecentPoint {
        t,
        process_cpu: Some(1.5),
        rss: 1 << 20,
        vus: 0,
        rps: 0.0,
    };
    for t in 0..(RECENT_POINTS as i64 + 20) {
        fake.recent.lock().unwrap().push(beat(t * 1000));
    }
    let mut feed = AgentsFeed::default();
    let events = feed.tick(&*fake);
    let d = data(&events, "recent");
    assert_eq!(d["reset"], true, "the stream opens with every point");
    assert_eq!(d["max_points"], RECENT_POINTS);
    let gen1 = &d["agents"][0];
    assert_eq!(gen1["agent"], "gen-1");
    assert_eq!(
        gen1["t"].as_array().unwrap().len(),
        RECENT_POINTS,
        "bounded"
    );
    assert_eq!(gen1["vus"][0], 0, "an idle agent's flat line");
    assert!(
        names(&feed.tick(&*fake)).is_empty(),
        "no new heartbeat, nothing sent"
    );
    fake.recent.lock().unwrap().push(beat(500_000));
    let events = feed.tick(&*fake);
    let d = data(&events, "recent");
    assert_eq!(d["reset"], false);
    assert_eq!(
        d["agents"][0]["t"],
        json!([500_000]),
        "only the new heartbeat"
    );
    assert_eq!(d["agents"][0]["process_cpu"], json!([1.5]));
}

fn batch(seq: u64, end_unix_ms: u64, vus: f64, durations: &[f64]) -> pb::MetricBatch {
    let sink = |t: MetricType, values: &[f64]| {
        let mut s = Sink::new(t);
        for v in values {
            s.add(*v, 0);
        }
        s
    };
    let series = |metric: &str, t: MetricType, values: &[f64]| {
        pb::Series::from_sink(
            metric.into(),
            ValueType::Default,
            std::iter::empty::<(&str, &str)>(),
            sink(t, values),
        )
    };
    pb::MetricBatch {
        run_id: 1,
        seq,
        end_unix_ms,
        series: vec![
            series("vus", MetricType::Gauge, &[vus]),
            series(
                "http_reqs",
                MetricType::Counter,
                &vec![1.0; durations.len()],
            ),
            series("http_req_duration", MetricType::Trend, durations),
        ]
        .into(),
        ..Default::default()
    }
}

#[test]
fn points_sum_the_agents_vus_and_merge_their_percentiles() {
    let mut live = LiveData::default();
    let mut gauges = AgentGauges::default();
    merge_batch(
        &mut live,
        &mut gauges,
        "gen-1",
        batch(1, 1000, 3.0, &[10.0; 60]),
        1000,
    );
    merge_batch(
        &mut live,
        &mut gauges,
        "gen-2",
        batch(1, 1000, 2.0, &[1000.0; 40]),
        1000,
    );
    merge_batch(
        &mut live,
        &mut gauges,
        "gen-1",
        batch(2, 2000, 4.0, &[5.0]),
        1000,
    );
    let points = run_points(&live, 0);
    assert_eq!(points.len(), 2);
    let p = &points[0];
    assert_eq!(p.t, 1000);
    assert_eq!(p.vus, Some(5.0), "summed over the agents");
    assert_eq!(p.requests_per_second, Some(100.0));
    // Merged over both agents' samples, not averaged over the agents (that would be 505 ms).
    let (p50, p95) = (p.p50.expect("p50"), p.p95.expect("p95"));
    assert!(
        (p50 - 10.0).abs() < 0.5,
        "60 of 100 requests took 10 ms: p50 {p50}"
    );
    assert!((p95 - 1000.0).abs() < 20.0, "40 of 100 took 1 s: p95 {p95}");
    assert_eq!(points[1].vus, Some(4.0));
    assert_eq!(points[1].failed_rate, None, "no such metric: null");
    assert_eq!(run_points(&live, 1500).len(), 1, "from the interval asked");
}

async fn get(app: &axum::Router, uri: &str, accept: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::builder()
        .uri(uri)
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn browsers_get_the_page_and_programs_the_json_index() {
    let app = crate::api::router(fake_with_run(RunStatus::Finished));
    let (s, h, body) = get(&app, "/", "text/html,application/xhtml+xml,*/*;q=0.8").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(body.contains("/ui/app.js"), "{body}");
    let (s, _, body) = get(&app, "/", "application/json").await;
    assert_eq!(s, StatusCode::OK);
    let index: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(index["name"], "volley-controller");
    assert_eq!(index["auth_required"], false);
}

#[tokio::test]
async fn the_files_are_embedded_and_an_unknown_one_is_a_json_404() {
    let app = crate::api::router(fake_with_run(RunStatus::Finished));
    for (file, mime) in [
        ("app.js", "text/javascript"),
        ("pages.js", "text/javascript"),
        ("style.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.LICENSE", "text/plain"),
    ] {
        let (s, h, body) = get(&app, &format!("/ui/{file}"), "*/*").await;
        assert_eq!(s, StatusCode::OK, "{file}");
        assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with(mime));
        assert!(!body.is_empty());
    }
    let (s, _, body) = get(&app, "/ui/secret.txt", "*/*").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"]["code"], "asset_not_found");
    assert!(e["error"]["message"].as_str().unwrap().contains("app.js"));
}

#[tokio::test]
async fn a_run_stream_of_an_ended_run_sends_it_and_ends() {
    let fake = fake_with_run(RunStatus::Finished);
    fake.points.lock().unwrap().push(point(1000, 1.0));
    let app = crate::api::router(fake);
    let (s, h, body) = get(&app, "/v1/live/runs/1", "text/event-stream").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    for event in [
        "event: run",
        "event: points",
        "event: summary",
        "event: end",
    ] {
        assert!(body.contains(event), "{event} in {body}");
    }
    let (s, _, body) = get(&app, "/v1/live/runs/9", "text/event-stream").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _, body) = get(&app, "/v1/live/runs/x", "text/event-stream").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _, body) = get(&app, "/v1/live/runs?page=2", "text/event-stream").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn the_report_bundle_has_no_imports_or_exports_and_no_name_twice() {
    let bundle = super::report::bundle();
    let mut names = std::collections::BTreeSet::new();
    for line in bundle.lines() {
        assert!(
            !line.starts_with("import ") && !line.starts_with("export "),
            "{line}"
        );
        let decl = line.strip_prefix("async ").unwrap_or(line);
        for kw in ["function ", "const ", "let ", "class "] {
            if let Some(rest) = decl.strip_prefix(kw) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                    .collect();
                assert!(names.insert(name.clone()), "{name} is declared twice");
            }
        }
    }
    assert!(
        names.contains("runPage") && names.contains("Feed"),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_run_report_is_one_html_file_with_the_runs_data_and_no_network() {
    let fake = fake_with_run(RunStatus::Finished);
    fake.points.lock().unwrap().push(point(1000, 1.0));
    fake.samples.lock().unwrap().push(sample(2));
    fake.runs.lock().unwrap().get_mut(&1).unwrap().note = "</script><b>x</b>".into();
    let app = crate::api::router(fake);
    let (s, h, body) = get(&app, "/v1/test-runs/1/report", "*/*").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(h[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("volley-run-1-report.html"));
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("connect-src"));
    // Everything inline: no file or address to fetch.
    for fetched in ["src=\"", "href=\"/", "href=\"http", "/ui/"] {
        assert!(!body.contains(fetched), "{fetched} in the report");
    }
    let start = body.find("id=\"volley-report-data\">").unwrap() + 24;
    let end = start + body[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&body[start..end]).unwrap();
    let events = data["/v1/live/runs/1"].as_array().unwrap();
    let names: Vec<&str> = events.iter().map(|e| e[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["run", "points", "totals", "agents", "summary", "end"]
    );
    assert_eq!(
        events[0][1]["note"], "</script><b>x</b>",
        "escaped, not cut"
    );
    assert_eq!(events[1][1]["points"][0]["requests_per_second"], 1.0);

    let (s, _, body) = get(&app, "/v1/test-runs/9/report", "*/*").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _, body) = get(&app, "/v1/test-runs/x/report", "*/*").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn the_totals_carry_only_what_the_page_shows() {
    let fake = fake_with_run(RunStatus::Running);
    let (events, _) = RunFeed::default().tick(&*fake, &Caller::open(), 1);
    let metrics = data(&events, "totals")["metrics"].clone();
    let names: Vec<&String> = metrics.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["http_reqs"],
        "no threshold on my_trend: only the page's own"
    );

    fake.runs.lock().unwrap().get_mut(&1).unwrap().config =
        json!({"thresholds": {"my_trend": ["p(95)<1"]}});
    let (events, _) = RunFeed::default().tick(&*fake, &Caller::open(), 1);
    let metrics = data(&events, "totals")["metrics"].clone();
    let names: Vec<&String> = metrics.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["http_reqs", "my_trend"],
        "and its thresholds' metrics"
    );
}

type Browser =
    tokio::sync::mpsc::Receiver<Result<axum::response::sse::Event, std::convert::Infallible>>;

/// The names of the next `n` events a page is sent (waiting at most 10 s for them).
async fn next_events(rx: &mut Browser, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    while names.len() < n {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event in 10 s after {names:?}"));
        let Some(Ok(event)) = event else {
            panic!("the stream closed after {names:?}");
        };
        // An event's text starts with its `event:` line.
        let text = format!("{event:?}");
        let name = [
            "run", "points", "totals", "checks", "agents", "summary", "end", "gone",
        ]
        .into_iter()
        .find(|n| text.contains(&format!("event: {n}\\n")))
        .unwrap_or("?");
        names.push(name.to_string());
    }
    names
}

#[tokio::test]
async fn every_page_of_a_run_follows_one_feed_read_once_a_second() {
    use std::sync::atomic::Ordering::SeqCst;
    let fake = fake_with_run(RunStatus::Running);
    fake.points.lock().unwrap().push(point(1000, 1.0));
    fake.samples.lock().unwrap().push(sample(2));
    let svc: Arc<dyn ControllerService> = fake.clone();
    let hubs = Arc::new(Hubs::default());
    let started = std::time::Instant::now();
    let mut pages = Vec::new();
    for _ in 0..10 {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(hub::follow(hubs.clone(), svc.clone(), 1, tx));
        pages.push(rx);
    }
    for rx in &mut pages {
        assert_eq!(
            next_events(rx, 4).await,
            ["run", "points", "totals", "agents"],
            "everything so far"
        );
    }
    assert_eq!(hubs.len(), 1, "one feed for the run");

    // A new point and heartbeat: every page gets them from the feed's one read.
    fake.points.lock().unwrap().push(point(2000, 2.0));
    fake.samples.lock().unwrap().push(sample(3));
    for rx in &mut pages {
        assert_eq!(next_events(rx, 3).await, ["points", "totals", "agents"]);
    }

    // The run ends: every page gets the end and its stream closes; the feed goes away.
    fake.runs.lock().unwrap().get_mut(&1).unwrap().run_status = RunStatus::Finished;
    for rx in &mut pages {
        assert_eq!(next_events(rx, 3).await, ["run", "summary", "end"]);
        assert!(rx.recv().await.is_none(), "the stream is closed");
    }
    assert_eq!(hubs.len(), 0, "no feed left");
    // One read per tick of the one feed (and one for the first page), not one per page.
    let ticks = started.elapsed().as_secs() + 2;
    let reads = fake.point_reads.load(SeqCst) as u64;
    assert!(
        reads <= ticks,
        "{reads} reads of the run in {ticks} ticks for 10 pages"
    );
}

#[test]
fn a_page_behind_skips_to_the_newest_state_and_one_too_far_behind_is_closed() {
    let ev = |name: &'static str, text: &str| -> Out { (name, text.into()) };
    let mut frame = hub::Frame::default();
    frame = frame.next_for_test(vec![
        ev("run", "r1"),
        ev("points", "p1"),
        ev("totals", "t1"),
    ]);
    frame = frame.next_for_test(vec![
        ev("points", "p2"),
        ev("totals", "t2"),
        ev("agents", "a2"),
    ]);
    frame = frame.next_for_test(vec![ev("totals", "t3")]);
    let texts =
        |events: Vec<Out>| -> Vec<String> { events.iter().map(|(_, d)| d.to_string()).collect() };
    assert_eq!(texts(frame.since(2).unwrap()), ["t3"], "one frame behind");
    assert_eq!(
        texts(frame.since(1).unwrap()),
        ["p2", "t3", "a2"],
        "two behind: the missed points and heartbeats, the newest totals only"
    );
    assert_eq!(
        texts(frame.since(0).unwrap()),
        ["r1", "p1", "p2", "t3", "a2"]
    );
    assert!(frame.since(3).unwrap().is_empty(), "up to date");
    for _ in 0..hub::WINDOW {
        frame = frame.next_for_test(vec![ev("points", "p")]);
    }
    assert!(
        frame.since(2).is_none(),
        "more than the window behind: closed"
    );
    assert_eq!(
        frame.since(3).unwrap().len() as u64,
        hub::WINDOW,
        "just within it"
    );
    frame = frame.next_for_test(vec![ev("end", "e")]);
    assert!(frame.done());
    assert_eq!(texts(frame.since(frame.seq - 1).unwrap()), ["e"]);
}

#[test]
fn a_run_feed_sends_every_metric_point_first_then_only_new_and_changed_ones() {
    use volley_common::metrics::store::MetricInfo;
    use volley_common::metrics::{TagSet, ValueType};
    let fake = fake_with_run(RunStatus::Running);
    let add = |sec: u64, v: f64| {
        let mut sink = Sink::new(MetricType::Counter);
        sink.add(v, 0);
        let info = MetricInfo {
            mtype: MetricType::Counter,
            contains: ValueType::Default,
        };
        fake.metric_series.lock().unwrap().add(
            "pages_seen",
            info,
            &TagSet::new(),
            &sink,
            sec * 1000,
            1000,
        );
    };
    for sec in 1..=3 {
        add(sec, 1.0);
    }
    let mut feed = RunFeed::default();
    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    let m = data(&events, "metrics");
    assert_eq!(m["reset"], true, "everything first: {m}");
    assert_eq!(m["series"][0]["name"], "pages_seen");
    assert_eq!(m["series"][0]["t"], json!([1000, 2000, 3000]));
    assert_eq!(m["series"][0]["fields"], json!(["count", "rate"]));

    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    assert!(
        !names(&events).contains(&"metrics".to_string()),
        "no change"
    );

    add(4, 1.0);
    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    let m = data(&events, "metrics");
    assert_eq!(m["reset"], false);
    assert_eq!(m["series"][0]["t"], json!([4000]), "only the new point");

    // A slower agent's batch for second 2: that point again, with its new count.
    add(2, 5.0);
    let (events, _) = feed.tick(&*fake, &Caller::open(), 1);
    let m = data(&events, "metrics");
    assert_eq!(m["series"][0]["t"], json!([2000]));
    assert_eq!(m["series"][0]["v"][0], json!([6.0]));

    // A page that opens now gets every point.
    let opening = feed.opening(&*fake, 1);
    let m = data(&opening, "metrics");
    assert_eq!(m["reset"], true);
    assert_eq!(m["series"][0]["v"][0], json!([1.0, 6.0, 1.0, 1.0]));
}
