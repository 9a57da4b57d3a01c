//! The controller's Prometheus exposition (`GET /metrics`, docs/rest-api.md#prometheus-metrics).
//! Every gauge is read at scrape time from what the service already answers on its other
//! routes (runs by status, the queue, agents by state and heartbeat), so it cannot disagree
//! with the API; only what must be counted as it happens (batches merged, checkpoints) comes
//! from the run pipeline's meters (`crate::meters`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use volley_common::status::RunStatus;

use super::page::Page;
use super::ControllerService;
use crate::model::AgentHeartbeat;

/// The `Content-Type` of the exposition: Prometheus' text format 0.0.4, which every scraper reads.
pub(super) use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The states an agent is listed in (`GET /v1/agents`), each exposed even when no agent is in it.
const AGENT_STATES: [&str; 4] = ["idle", "busy", "draining", "lost"];

type Labels = Vec<(&'static str, String)>;

/// Whether a run in this status waits in the queue (accepted, not yet placed on agents).
fn waits(s: RunStatus) -> bool {
    matches!(
        s,
        RunStatus::Created | RunStatus::Validated | RunStatus::Queued
    )
}

/// This controller's Raft node (docs/ha.md#observing-the-group): only on a group member.
fn register_raft(reg: &mut Registry, raft: &crate::replication::DriverStatus) {
    use crate::replication::Role;
    let gauge = |v: u64| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    let n = &raft.node;
    reg.register(
        "volley_raft_term",
        "This controller's Raft term",
        gauge(n.term),
    );
    reg.register(
        "volley_raft_commit_index",
        "The last Raft log index this controller knows a quorum holds",
        gauge(n.commit),
    );
    reg.register(
        "volley_raft_applied_index",
        "The last Raft log index this controller applied",
        gauge(n.applied),
    );
    reg.register(
        "volley_raft_leader",
        "1 while this controller leads its Raft group (and drives runs), else 0",
        gauge(u64::from(n.role == Role::Leader)),
    );
    let changes = prometheus_client::metrics::counter::Counter::<u64>::default();
    changes.inc_by(raft.leader_changes);
    reg.register(
        "volley_raft_leader_changes",
        "Leaders this controller saw elected since it started",
        changes,
    );
    let lag = Family::<Labels, Gauge>::default();
    reg.register(
        "volley_raft_peer_lag",
        "On the leader, the log entries each controller is behind the leader's log",
        lag.clone(),
    );
    for (id, matched) in &n.matched {
        lag.get_or_create(&vec![("node", id.to_string())])
            .set(i64::try_from(n.last_index.saturating_sub(*matched)).unwrap_or(i64::MAX));
    }
}

/// The text exposition of the controller's metrics now; `now_ms` is the clock (unix ms).
pub(super) fn render(svc: &dyn ControllerService, now_ms: i64) -> String {
    let by_status: RefCell<BTreeMap<i32, i64>> = RefCell::new(BTreeMap::new());
    let oldest_ms: Cell<Option<i64>> = Cell::new(None);
    // Counts in one pass, keeping no item (`keep` answers false to every run).
    svc.list_runs(
        &|r| {
            *by_status
                .borrow_mut()
                .entry(r.run_status.number())
                .or_default() += 1;
            if waits(r.run_status) {
                if let Ok(t) = crate::state::timestamp::parse_rfc3339(&r.created) {
                    oldest_ms.set(Some(oldest_ms.get().map_or(t, |o| o.min(t))));
                }
            }
            false
        },
        Page { number: 1, size: 1 },
    );
    let by_status = by_status.into_inner();

    let mut reg = Registry::default();
    let runs = Family::<Labels, Gauge>::default();
    reg.register("volley_runs", "Runs by status", runs.clone());
    let mut queued = 0;
    for s in RunStatus::ALL {
        let n = by_status.get(&s.number()).copied().unwrap_or(0);
        if waits(s) {
            queued += n;
        }
        runs.get_or_create(&vec![("status", s.name().to_ascii_lowercase())])
            .set(n);
    }
    let queue = Gauge::<i64>::default();
    queue.set(queued);
    reg.register(
        "volley_run_queue_length",
        "Runs accepted and waiting to be placed on agents",
        queue,
    );
    let wait = Gauge::<f64, AtomicU64>::default();
    wait.set(
        oldest_ms
            .get()
            .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0),
    );
    reg.register_with_unit(
        "volley_run_queue_oldest_wait",
        "How long the oldest waiting run has waited, 0 when none waits",
        Unit::Seconds,
        wait,
    );

    let agents = svc.agent_heartbeats();
    let by_state = Family::<Labels, Gauge>::default();
    reg.register("volley_agents", "Agents by state", by_state.clone());
    for state in AGENT_STATES {
        let n = agents.iter().filter(|a| a.state == state).count();
        by_state
            .get_or_create(&vec![("state", state.to_string())])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    let wanted = Gauge::<i64>::default();
    wanted.set(i64::try_from(svc.agents_wanted().wanted).unwrap_or(i64::MAX));
    reg.register(
        "volley_agents_wanted",
        "Agents the runs need now: busy ones plus what queued runs want (autoscalers follow it)",
        wanted,
    );

    if let Some(meters) = svc.meters() {
        meters.register(&mut reg);
    }
    if let Some(raft) = svc.raft_status() {
        register_raft(&mut reg, &raft);
    }

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &reg);
    heartbeat_ages(&mut out, &agents);
    out
}

/// `volley_agent_heartbeat_age_seconds`, one line per agent, written as the text format has
/// it without a registry: a family of 5,000 label sets cost more to build and encode than the
/// lines themselves (docs/benchmarks.md, session 14).
fn heartbeat_ages(out: &mut String, agents: &[AgentHeartbeat]) {
    use std::fmt::Write as _;
    const NAME: &str = "volley_agent_heartbeat_age_seconds";
    out.reserve(agents.len() * 64);
    let _ = writeln!(out, "# HELP {NAME} Time since each agent's last heartbeat.");
    let _ = writeln!(out, "# TYPE {NAME} gauge");
    for a in agents {
        out.push_str(NAME);
        out.push_str("{agent=\"");
        label_value(out, &a.name);
        // `{:?}` writes a finite f64 as the text format reads it (0.4, 90.0); an age is one.
        let _ = writeln!(out, "\"}} {:?}", a.age_s);
    }
}

/// A label value escaped as the text format requires: backslash, double quote and line feed.
fn label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
