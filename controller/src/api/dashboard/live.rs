//! The dashboard's live streams: Server-Sent Events that send a page what changed, once a
//! second, so an open dashboard never polls every chart. A run's pages share one [`RunFeed`]
//! (`hub.rs`): the run is read once a second whatever the number of pages. Each stream is
//! bounded: at most [`MAX_AGENT_POINTS`] points per agent when it opens, and at most
//! [`MAX_LIVE_STREAMS`] are open at once (`docs/dashboard.md`).
//!
//! The feeds ([`RunFeed`], [`RunsFeed`], [`AgentsFeed`]) are plain state machines over the
//! [`ControllerService`], one `tick` per second; the handlers only pump their events.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

use super::agent_series::{level, MAX_AGENT_POINTS};
use crate::agent_recent::{AgentRecent, RECENT_POINTS};
use crate::api::{no_query, run_view, ApiError, AppState, CallerOf, ControllerService, Page};
use crate::auth::Caller;
use crate::model::{Run, RunHead, RunStatus};
use crate::run::merge::{LiveData, MAX_INTERVALS};
use crate::run::metric_series::MetricSeries;

/// Live streams open at once (all pages of all browsers); one more is refused with 429.
pub const MAX_LIVE_STREAMS: usize = 64;

/// Most live streams one API token may hold at once: a quarter of [`MAX_LIVE_STREAMS`], so
/// one token — a client opening streams in a loop and reading them all — cannot take every
/// place and lock every other dashboard out (on an open API there is no token to tell callers
/// apart, and only the cap of all applies).
pub const MAX_LIVE_STREAMS_PER_TOKEN: usize = MAX_LIVE_STREAMS / 4;
/// How often a stream looks for changes.
const TICK: Duration = Duration::from_secs(1);
/// How long a stream waits for a slow browser to take an event before it gives up on it.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Runs the runs stream shows (the newest).
pub const RECENT_RUNS: usize = 50;
/// Points already sent that are looked at again each tick: an interval's point changes when a
/// slower agent's batch for it arrives after it was first sent.
const RESEND_POINTS: usize = 5;

/// One interval of a run, as the dashboard charts it: the cluster's VUs, requests and
/// iterations per second, `http_req_duration` percentiles (ms, merged exactly over the agents)
/// and the share of failed requests. A field is null when the interval has no such data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPoint {
    /// The interval's end, Unix ms.
    pub t: u64,
    pub vus: Option<f64>,
    pub requests_per_second: Option<f64>,
    pub iterations_per_second: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// `http_req_failed`'s rate, 0–1.
    pub failed_rate: Option<f64>,
}

/// The points of a run's timeline from the interval ending at `since_unix_ms` on.
pub(crate) fn run_points(live: &LiveData, since_unix_ms: u64) -> Vec<RunPoint> {
    let step_s = live.step_ms.max(1) as f64 / 1000.0;
    live.timeline
        .range(since_unix_ms..)
        .map(|(t, store)| {
            let stat = |metric: &str, name: &str| {
                store
                    .aggregate(metric, &[])
                    .filter(|s| !s.is_empty())
                    .and_then(|s| s.stat(name, step_s))
            };
            RunPoint {
                t: *t,
                vus: live.vus_timeline.get(t).map(|a| a.values().sum()),
                requests_per_second: stat("http_reqs", "count").map(|c| c / step_s),
                iterations_per_second: stat("iterations", "count").map(|c| c / step_s),
                p50: stat("http_req_duration", "p(50)"),
                p90: stat("http_req_duration", "p(90)"),
                p95: stat("http_req_duration", "p(95)"),
                p99: stat("http_req_duration", "p(99)"),
                failed_rate: stat("http_req_failed", "rate"),
            }
        })
        .collect()
}

/// One event to send: its name and JSON data (shared: every page open on a run sends the same
/// text, serialised once).
pub(crate) type Out = (&'static str, Arc<str>);

fn to_json(v: &impl Serialize) -> Arc<str> {
    serde_json::to_string(v)
        .unwrap_or_else(|e| json!({"error": e.to_string()}).to_string())
        .into()
}

/// The metrics the run page shows from the totals: the request, failure and iteration
/// figures, and its thresholds' metrics (the rest would be resent every second for nothing).
const SHOWN_METRICS: [&str; 4] = [
    "http_reqs",
    "http_req_duration",
    "http_req_failed",
    "iterations",
];

/// Whether the page shows `name` from the totals: [`SHOWN_METRICS`] and the metrics of the
/// run's thresholds (the controller aggregates only these for a stream, once a second).
fn shown(thresholds: &[String], name: &str) -> bool {
    SHOWN_METRICS.contains(&name) || thresholds.iter().any(|t| t == name)
}

/// The metrics a run's thresholds name (the keys of `options.thresholds`).
fn threshold_metrics(run: &Run) -> Vec<String> {
    run.config
        .get("thresholds")
        .and_then(|t| t.as_object())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// The run as the page shows it: its `k6-run` view and its test's name (`test_name`, empty if
/// the test is gone), so the page can say which test it is a run of.
fn named_run(svc: &dyn ControllerService, run: &Run) -> serde_json::Value {
    let mut view =
        serde_json::to_value(run_view(run)).unwrap_or_else(|e| json!({"error": e.to_string()}));
    if let Some(o) = view.as_object_mut() {
        let name = svc
            .get_test(run.test_id)
            .map(|t| t.name)
            .unwrap_or_default();
        o.insert("test_name".into(), json!(name));
    }
    view
}

/// What a run stream has sent so far: the state every page of the run shares (`hub.rs`), or
/// one report's. Bounded whatever the run's length: a few strings, the run's points (at most
/// [`MAX_INTERVALS`], as the run's own timeline), a heartbeat count per agent.
#[derive(Default)]
pub(crate) struct RunFeed {
    /// The run view last sent, with its duration left out while it runs (the change key).
    run: String,
    /// The state's log index when the run was last read ([`ControllerService::state_index`]),
    /// its head and its thresholds' metrics then: while the index stays, the run is not read
    /// (a copy of a run on 5,000 agents is ~0.3 MB).
    read_at: Option<u64>,
    head: Option<RunHead>,
    thresholds: Vec<String>,
    /// The `run` event last sent.
    run_event: Option<Arc<str>>,
    totals: Option<Arc<str>>,
    checks: Option<Arc<str>>,
    /// Every point sent, by interval end; the newest [`RESEND_POINTS`] are looked at again.
    points: BTreeMap<u64, RunPoint>,
    /// The generation of the metric points sent (`crate::run::metric_series`), and the newest
    /// of them by (time, series): the ones looked at again.
    metric_generation: Option<u64>,
    metric_recent: BTreeMap<(u64, String), Vec<f64>>,
    /// Samples sent per agent.
    samples: BTreeMap<String, usize>,
    /// The `summary`, `end` or `gone` events, once sent.
    last: Vec<Out>,
}

impl RunFeed {
    /// The run does not exist (for this caller): the stream's last event.
    fn gone(&mut self, id: u64) -> (Vec<Out>, bool) {
        let msg = json!({"message": format!("run {id} does not exist")});
        self.last = vec![("gone", msg.to_string().into())];
        (self.last.clone(), true)
    }

    /// What changed since the last tick, and whether the stream is done (the run ended, or it
    /// is gone for this caller).
    pub(crate) fn tick(
        &mut self,
        svc: &dyn ControllerService,
        caller: &Caller,
        id: u64,
    ) -> (Vec<Out>, bool) {
        if !self.last.is_empty() {
            return (Vec::new(), true);
        }
        let mut out = Vec::new();
        // Read before the run, so that a command applied in between makes the next tick read
        // the run again.
        let index = svc.state_index();
        let unchanged = index.is_some() && index == self.read_at;
        let head = match self.head.filter(|_| unchanged) {
            Some(head) => head,
            None => {
                let Some(run) = svc.get_run(id).filter(|r| caller.sees(r.project_id)) else {
                    return self.gone(id);
                };
                // A running run's `duration` grows every second; the page counts it from
                // `started`, so that alone is not a change worth sending.
                let mut same = run.clone();
                if !run.run_status.is_terminal() {
                    same.duration = 0.0;
                }
                let key = serde_json::to_string(&run_view(&same)).unwrap_or_default();
                if key != self.run {
                    let event = to_json(&named_run(svc, &run));
                    out.push(("run", event.clone()));
                    self.run_event = Some(event);
                    self.run = key;
                }
                self.read_at = index;
                self.thresholds = threshold_metrics(&run);
                *self.head.insert(RunHead::of(&run))
            }
        };
        if !caller.sees(head.project_id) {
            return self.gone(id);
        }
        let since = self
            .points
            .keys()
            .nth_back(RESEND_POINTS - 1)
            .or_else(|| self.points.keys().next())
            .copied()
            .unwrap_or(0);
        let points: Vec<RunPoint> = svc
            .run_points(id, since)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| self.points.get(&p.t) != Some(p))
            .collect();
        if !points.is_empty() {
            out.push(("points", to_json(&json!({ "points": points }))));
            for p in points {
                self.points.insert(p.t, p);
            }
            while self.points.len() > MAX_INTERVALS {
                self.points.pop_first();
            }
        }
        out.extend(self.metric_points(svc, id));
        let thresholds = &self.thresholds;
        if let Some(totals) = svc.run_totals(id, &|name| shown(thresholds, name)) {
            let totals = to_json(&totals);
            if Some(&totals) != self.totals.as_ref() {
                out.push(("totals", totals.clone()));
                self.totals = Some(totals);
            }
        }
        if let Some((checks, more)) = svc.run_checks(id).filter(|(c, _)| !c.is_empty()) {
            let checks = to_json(&json!({"checks": checks, "more": more}));
            if Some(&checks) != self.checks.as_ref() {
                out.push(("checks", checks.clone()));
                self.checks = Some(checks);
            }
        }
        let seen = self.samples.clone();
        if let Some((event, counts)) =
            agents_event(svc, head.id, &|a| seen.get(a).copied().unwrap_or(0))
        {
            out.push(event);
            self.samples.extend(counts);
        }
        let ended = head.run_status.is_terminal();
        if ended {
            if let Some(summary) = svc.run_summary(id) {
                self.last.push(("summary", to_json(&summary)));
            }
            let end = json!({"run_status": head.run_status}).to_string();
            self.last.push(("end", end.into()));
            out.extend(self.last.iter().cloned());
        }
        (out, ended)
    }

    /// Everything a page that opens now is sent: what the ticks have sent so far as one event
    /// each (every point in one `points` event), and each agent's whole run downsampled to at
    /// most [`MAX_AGENT_POINTS`] points (read afresh: the page drops the heartbeats it is sent
    /// again after this).
    pub(crate) fn opening(&self, svc: &dyn ControllerService, id: u64) -> Vec<Out> {
        if self.last.first().is_some_and(|(name, _)| *name == "gone") {
            return self.last.clone();
        }
        let mut out = Vec::new();
        if let Some(run) = &self.run_event {
            out.push(("run", run.clone()));
        }
        if !self.points.is_empty() {
            let points: Vec<&RunPoint> = self.points.values().collect();
            out.push(("points", to_json(&json!({ "points": points }))));
        }
        if let Some((generation, ms, series)) = svc.run_metric_series(id, 0) {
            if !series.is_empty() {
                out.push(metrics_event(generation, ms, true, &series));
            }
        }
        out.extend(self.totals.clone().map(|t| ("totals", t)));
        out.extend(self.checks.clone().map(|c| ("checks", c)));
        if let Some((event, _)) = agents_event(svc, id, &|_| 0) {
            out.push(event);
        }
        out.extend(self.last.iter().cloned());
        out
    }
}

impl RunFeed {
    /// The `metrics` event: the metric points that are new or changed since the last tick,
    /// or every point (`reset`) on the first tick and when they were merged into longer ones.
    fn metric_points(&mut self, svc: &dyn ControllerService, id: u64) -> Option<Out> {
        let since = match self.metric_generation {
            Some(_) => self.metric_recent.keys().next().map_or(0, |(t, _)| *t),
            None => 0,
        };
        let (mut generation, mut ms, mut series) = svc.run_metric_series(id, since)?;
        let reset = self.metric_generation != Some(generation);
        if reset && since > 0 {
            (generation, ms, series) = svc.run_metric_series(id, 0)?;
        }
        if reset {
            self.metric_recent.clear();
        }
        self.metric_generation = Some(generation);
        let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        let mut changed = Vec::new();
        let mut newest = 0;
        for s in series {
            let mut keep = s.empty_like();
            for (i, t) in s.t.iter().enumerate() {
                let p = s.point(i);
                newest = newest.max(*t);
                let key = (*t, s.name.clone());
                if self.metric_recent.get(&key).is_some_and(|q| same(q, &p)) {
                    continue;
                }
                keep.push(*t, &p);
                self.metric_recent.insert(key, p);
            }
            if !keep.t.is_empty() {
                changed.push(keep);
            }
        }
        let cutoff = newest.saturating_sub(RESEND_METRIC_POINTS * ms);
        self.metric_recent.retain(|(t, _), _| *t >= cutoff);
        if changed.is_empty() {
            return None;
        }
        Some(metrics_event(generation, ms, reset, &changed))
    }
}

/// Metric points looked at again each tick (a point stays open to late batches for ten).
const RESEND_METRIC_POINTS: u64 = 12;

fn metrics_event(generation: u64, point_ms: u64, reset: bool, series: &[MetricSeries]) -> Out {
    let body =
        json!({"generation": generation, "point_ms": point_ms, "reset": reset, "series": series});
    ("metrics", to_json(&body))
}

/// The `agents` event of the agents that sent heartbeats from index `from(agent)` on, and
/// their heartbeat counts; `None` when none did.
fn agents_event(
    svc: &dyn ControllerService,
    run_id: u64,
    from: &dyn Fn(&str) -> usize,
) -> Option<(Out, Vec<(String, usize)>)> {
    let agents = svc.run_agents_since(run_id, from, MAX_AGENT_POINTS)?;
    let mut changed = Vec::new();
    let mut counts = Vec::new();
    for a in agents {
        if a.series.is_empty() {
            continue;
        }
        counts.push((a.agent.clone(), a.samples));
        let (level, cause) = a.latest.as_ref().map_or((0, None), level);
        let health = ["ok", "warning", "overloaded"][usize::from(level.min(2))];
        let mut v = serde_json::to_value(&a).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("health".into(), json!(health));
            o.insert("health_cause".into(), json!(cause));
        }
        changed.push(v);
    }
    if changed.is_empty() {
        return None;
    }
    Some((("agents", to_json(&json!({ "agents": changed }))), counts))
}

/// One row of the runs page.
#[derive(Debug, Serialize)]
struct RunRow {
    id: u64,
    test_id: u64,
    test_name: String,
    project_id: u64,
    /// The name of the token that started the run (empty on an open API).
    started_by: String,
    run_status: RunStatus,
    status_name: &'static str,
    result_status: crate::model::ResultStatus,
    result_name: &'static str,
    created: String,
    started: Option<String>,
    ended: Option<String>,
    duration: f64,
    vus: u64,
    note: String,
    /// What a QUEUED run waits for (its latest "queued: …" event, else its last transition's
    /// reason); what ended a run early (`error_detail`).
    detail: Option<String>,
}

fn row(svc: &dyn ControllerService, r: Run) -> RunRow {
    let detail = if r.run_status == RunStatus::Queued {
        r.events
            .iter()
            .rev()
            .find_map(|e| e.message.strip_prefix("queued: ").map(str::to_string))
            .or_else(|| r.transitions.last().map(|t| t.reason.clone()))
    } else {
        r.error_detail.clone()
    };
    RunRow {
        id: r.id,
        test_id: r.test_id,
        test_name: svc.get_test(r.test_id).map(|t| t.name).unwrap_or_default(),
        project_id: r.project_id,
        started_by: r.started_by,
        run_status: r.run_status,
        status_name: r.run_status.name(),
        result_status: r.result_status,
        result_name: r.result_status.name(),
        created: r.created,
        started: r.started,
        ended: r.ended,
        duration: r.duration,
        vus: r.vus,
        note: r.note,
        detail,
    }
}

/// The runs stream: the newest [`RECENT_RUNS`] runs the caller sees, newest first, and how
/// many there are, each time any of it changes.
#[derive(Default)]
pub(crate) struct RunsFeed {
    last: String,
}

impl RunsFeed {
    pub(crate) fn tick(&mut self, svc: &dyn ControllerService, caller: &Caller) -> Vec<Out> {
        let keep = |r: &Run| caller.sees(r.project_id);
        let count = svc.list_runs(&keep, Page { number: 1, size: 1 }).count;
        // The last RECENT_RUNS in id order: the last page of that size and the one before it.
        let pages = count.div_ceil(RECENT_RUNS).max(1);
        let mut runs = Vec::new();
        for number in pages.saturating_sub(1).max(1)..=pages {
            let page = Page {
                number,
                size: RECENT_RUNS,
            };
            runs.extend(svc.list_runs(&keep, page).items);
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.id));
        runs.truncate(RECENT_RUNS);
        let rows: Vec<RunRow> = runs.into_iter().map(|r| row(svc, r)).collect();
        let body = to_json(&json!({"runs": rows, "count": count}));
        if *body == *self.last {
            return Vec::new();
        }
        self.last = body.to_string();
        vec![("runs", body)]
    }
}

/// The agents stream: every connected agent (as `GET /v1/agents` shows it) each time any
/// figure changes, and their heartbeats for the small charts (`recent`): each agent's last
/// [`RECENT_POINTS`] when the stream opens or the agent appears, then its new ones.
#[derive(Default)]
pub(crate) struct AgentsFeed {
    last: String,
    /// The newest heartbeat sent per agent (Unix ms); agents that left are forgotten.
    sent: BTreeMap<String, i64>,
}

impl AgentsFeed {
    pub(crate) fn tick(&mut self, svc: &dyn ControllerService) -> Vec<Out> {
        let sent = &self.sent;
        let (agents, recent) =
            svc.agents_with_recent(&|name| sent.get(name).copied().unwrap_or(i64::MIN));
        let mut out = Vec::new();
        let body = to_json(&json!({ "agents": agents }));
        if *body != *self.last {
            self.last = body.to_string();
            out.push(("agents", body));
        }
        let reset = self.sent.is_empty();
        // `recent` names every connected agent (with its new points, if any).
        self.sent
            .retain(|name, _| recent.iter().any(|r| r.agent == *name));
        let recent: Vec<AgentRecent> = recent.into_iter().filter(|r| !r.is_empty()).collect();
        for r in &recent {
            if let Some(t) = r.t.last() {
                self.sent.insert(r.agent.clone(), *t);
            }
        }
        if !recent.is_empty() {
            let body = json!({"reset": reset, "max_points": RECENT_POINTS, "agents": recent});
            out.push(("recent", to_json(&body)));
        }
        out
    }
}

fn streams() -> &'static Arc<Semaphore> {
    static S: OnceLock<Arc<Semaphore>> = OnceLock::new();
    S.get_or_init(|| Arc::new(Semaphore::new(MAX_LIVE_STREAMS)))
}

/// How many live streams are open now (in this process).
pub(crate) fn open_streams() -> usize {
    MAX_LIVE_STREAMS - streams().available_permits()
}

/// How many live streams each token holds.
fn token_streams() -> &'static std::sync::Mutex<BTreeMap<u64, usize>> {
    static S: OnceLock<std::sync::Mutex<BTreeMap<u64, usize>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// One of a token's [`MAX_LIVE_STREAMS_PER_TOKEN`] places, given back when dropped.
struct TokenPlace(u64);

impl TokenPlace {
    fn take(token: u64) -> Option<TokenPlace> {
        let mut held = token_streams()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(token).or_insert(0);
        if *n >= MAX_LIVE_STREAMS_PER_TOKEN {
            return None;
        }
        *n += 1;
        Some(TokenPlace(token))
    }
}

impl Drop for TokenPlace {
    fn drop(&mut self) {
        let mut held = token_streams()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.0);
            }
        }
    }
}

/// The 429 answer, saying why.
fn refused(why: String) -> Box<Response> {
    let mut resp =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_live_streams", why).into_response();
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("5"),
    );
    Box::new(resp)
}

/// A place among the open streams (and among its token's), or the 429 answer.
fn permit(caller: &Caller) -> Result<(OwnedSemaphorePermit, Option<TokenPlace>), Box<Response>> {
    let place = match caller.token_id {
        Some(token) => Some(TokenPlace::take(token).ok_or_else(|| {
            refused(format!(
                "this token holds {MAX_LIVE_STREAMS_PER_TOKEN} live dashboard streams already, \
                 the most one token may; close a dashboard tab or try again later"
            ))
        })?),
        None => None,
    };
    let all = streams().clone().try_acquire_owned().map_err(|_| {
        refused(format!(
            "{MAX_LIVE_STREAMS} live dashboard streams are open already; close a dashboard tab or try again later"
        ))
    })?;
    Ok((all, place))
}

/// A stream's events on their way to the browser: each waits at most [`SEND_TIMEOUT`] for the
/// browser to take it.
pub(crate) type Tx = mpsc::Sender<Result<Event, std::convert::Infallible>>;

/// Sends `events`; `false` once the browser has gone (or took no event for [`SEND_TIMEOUT`]).
pub(crate) async fn send(tx: &Tx, events: &[Out]) -> bool {
    for (name, data) in events {
        let event = Event::default().event(*name).data(&**data);
        match tokio::time::timeout(SEND_TIMEOUT, tx.send(Ok(event))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return false,
            Err(_) => {
                tracing::debug!(
                    "a live dashboard stream took no event for {SEND_TIMEOUT:?}: closed"
                );
                return false;
            }
        }
    }
    true
}

/// An SSE response for `caller` fed by `feed`, which gets the sending end (taking one of the
/// [`MAX_LIVE_STREAMS`] places, and one of its token's [`MAX_LIVE_STREAMS_PER_TOKEN`], until
/// it returns), or the 429 answer.
pub(super) fn sse<F, Fut>(caller: &Caller, feed: F) -> Response
where
    F: FnOnce(Tx) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let permit = match permit(caller) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let (tx, rx) = mpsc::channel::<Result<Event, std::convert::Infallible>>(8);
    let fed = feed(tx);
    tokio::spawn(async move {
        let _permit = permit;
        fed.await;
    });
    let mut resp = Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response();
    // Proxies must not buffer the stream.
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Pumps a feed's events into an SSE response: one `tick` per [`TICK`] until it is done or the
/// browser goes away (or takes more than [`SEND_TIMEOUT`] to accept an event).
fn pump<F>(caller: &Caller, mut tick: F) -> Response
where
    F: FnMut() -> (Vec<Out>, bool) + Send + 'static,
{
    sse(caller, move |tx| async move {
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = tx.closed() => return,
            }
            let (events, done) = tick();
            if !send(&tx, &events).await || done {
                return;
            }
        }
    })
}

/// `GET /v1/live/runs`: the runs page's stream.
pub(super) async fn runs(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    no_query(raw.as_deref())?;
    let mut feed = RunsFeed::default();
    let who = caller.clone();
    Ok(pump(&who, move || (feed.tick(&*app.svc, &caller), false)))
}

/// `GET /v1/live/agents`: the agents page's stream (admin role, as `GET /v1/agents`).
pub(super) async fn agents(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    no_query(raw.as_deref())?;
    let mut feed = AgentsFeed::default();
    Ok(pump(&caller, move || (feed.tick(&*app.svc), false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u64) -> Caller {
        Caller {
            token_id: Some(id),
            role: volley_api::Role::Read,
            project_id: 1,
        }
    }

    #[test]
    fn one_token_holds_at_most_a_quarter_of_the_live_streams() {
        // Tokens no other test uses (the places are the process's).
        let (greedy, other) = (token(9_000_001), token(9_000_002));
        let mut held: Vec<_> = (0..MAX_LIVE_STREAMS_PER_TOKEN)
            .map(|i| permit(&greedy).unwrap_or_else(|_| panic!("stream {i} refused")))
            .collect();
        let Err(refused) = permit(&greedy) else {
            panic!("a 17th stream of one token was taken");
        };
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused
            .headers()
            .contains_key(axum::http::header::RETRY_AFTER));
        // Another token still gets in, and so does an open API's caller.
        let theirs = permit(&other).map_err(|_| "another token refused").unwrap();
        let open = permit(&Caller::open())
            .map_err(|_| "an open API refused")
            .unwrap();
        // A stream that ends gives its token's place back.
        held.pop();
        held.push(permit(&greedy).map_err(|_| "a place given back").unwrap());
        drop((held, theirs, open));
        assert!(!token_streams().lock().unwrap().contains_key(&9_000_001));
    }
}
