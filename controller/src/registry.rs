//! The agents connected to this controller: who they are, their latest telemetry, which run
//! each is busy with, and the sender of their stream. Agents dial in. Names are unique: a
//! second registration of a live name is refused unless it carries the session secret issued
//! at the first one (the same agent process reconnecting), in which case the old connection is
//! closed — never two streams for one name. A name whose agent has been silent for
//! [`STALE_AFTER`] may be taken by a new registration (a restarted agent whose old connection
//! was never reset).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};
use volley_proto as pb;

use crate::agent_recent::{AgentRecent, Recent, RecentPoint};
use crate::model::{AgentHeartbeat, AgentView};
use crate::placement::Candidate;
use crate::utilization::Utilization;

/// CPU or memory of the agent process or of its host at or above this is "warning"; at or
/// above `OVERLOAD_PERCENT`, "overloaded" (the agents view's `health`).
pub const WARN_PERCENT: f64 = 80.0;
pub const OVERLOAD_PERCENT: f64 = 90.0;

/// An agent without a heartbeat for this long no longer holds its name against newcomers.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

// What one agent may report about its host and itself. The bounds are generous for any real
// machine and exist so that absurd but self-consistent figures (a host with u64::MAX bytes of
// memory, a million CPUs) are refused instead of reaching placement's sums, the agents view
// and the dashboards. A registration beyond them is refused, a heartbeat dropped, each with a
// log line naming the field.

/// Logical CPUs of one host: Linux's largest build (`CONFIG_NR_CPUS`) supports 8,192.
pub const MAX_CPUS: u32 = 8192;
/// Memory of one host: 1 PiB, beyond the largest single-system servers (tens of TiB).
pub const MAX_MEMORY_BYTES: u64 = 1 << 50;
/// VUs one agent holds (`max_vus`, `active_vus`): 2^32, what [`MAX_MEMORY_BYTES`] holds at
/// 256 KiB per VU (twice the agent's default budget); the sum over a million agents still fits a u64.
pub const MAX_AGENT_VUS: u64 = 1 << 32;
/// Requests or iterations per second of one agent: 10^8, ten times what the fastest
/// single-host HTTP benchmarks reach.
const MAX_RATE: f64 = 1e8;
/// How late an agent's JS workers may say they are: a day, in ms.
const MAX_LAG_MS: f64 = 86_400_000.0;
/// Counts and timestamps (`dropped_iterations`, `unix_ms`): 2^53, the largest integer every
/// JSON reader (a JavaScript dashboard among them) holds exactly.
const MAX_COUNT: u64 = 1 << 53;

/// One connected agent.
pub struct AgentEntry {
    pub conn: u64,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub version: String,
    pub max_vus: u64,
    pub cpus: u32,
    pub tx: mpsc::Sender<pb::ControllerMessage>,
    pub connected_since: String,
    pub last_heartbeat: Instant,
    pub telemetry: pb::Heartbeat,
    pub run: Option<u64>,
    /// Its last few minutes of heartbeats (the dashboard's small charts).
    pub recent: Recent,
    /// A run the agent says it is running that this controller does not drive with it (it
    /// ended here, or a previous Raft leader placed it): the agent was told to stop it and is
    /// offered no run until its heartbeats stop naming it (docs/ha.md#leadership).
    pub stale_run: Option<u64>,
    /// Hex SHA-256 of the agent's session secret.
    session_sha256: String,
    /// Dropped with the entry: closes the connection's stream (see [`Registry::register`]);
    /// sent [`Overflow`] when the agent's queue is full ([`Registry::send`]).
    close: Option<oneshot::Sender<Overflow>>,
}

/// What a connection's stream is told when its agent's queue of messages is full: the agent
/// reads none of what it is sent (a connection that stalled, or a peer that never reads), so
/// its link is closed rather than its messages lost one by one; an agent reconnects and
/// replays what was not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A registration that was accepted.
#[derive(Debug)]
pub struct Admitted {
    /// The connection's number.
    pub conn: u64,
    /// The session secret to give the agent.
    pub session_secret: String,
    /// An older connection of the same name was closed.
    pub replaced: bool,
}

#[derive(Default)]
pub struct Registry {
    agents: Mutex<BTreeMap<String, AgentEntry>>,
    next_conn: AtomicU64,
    /// Signalled whenever agents join, leave or become idle (the scheduler waits on it).
    pub changed: tokio::sync::Notify,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AgentEntry>> {
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an agent, or replaces the connection of the same agent (see the module doc).
    /// `close` is dropped when the connection is replaced or removed, and sent [`Overflow`]
    /// when its queue is full: its stream's task waits on the other end to end the stream.
    /// `Err` says why the name is refused.
    pub fn register(
        &self,
        reg: &pb::Register,
        tx: mpsc::Sender<pb::ControllerMessage>,
        now: String,
        close: oneshot::Sender<Overflow>,
    ) -> Result<Admitted, String> {
        let mut agents = self.lock();
        let (session_secret, replaced) = match agents.get(&reg.name) {
            None => (new_secret()?, false),
            Some(old) => {
                let proven = !reg.session_secret.is_empty()
                    && bool::from(
                        crate::auth::sha256_hex(&reg.session_secret)
                            .as_bytes()
                            .ct_eq(old.session_sha256.as_bytes()),
                    );
                if proven {
                    (reg.session_secret.clone(), true)
                } else if old.last_heartbeat.elapsed() >= STALE_AFTER {
                    tracing::warn!(target: crate::audit::AUDIT, agent = %reg.name, "agent name taken over from a connection silent for {:.0} s", old.last_heartbeat.elapsed().as_secs_f64());
                    (new_secret()?, true)
                } else {
                    return Err(format!(
                        "an agent named `{}` is connected already: names are unique in a cluster (give this agent another --name); a reconnecting agent proves it is the same one with its session secret",
                        reg.name
                    ));
                }
            }
        };
        let conn = self.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
        // An agent that says it still runs a run is not idle: the coordinator re-attaches it
        // to that run or tells it to stop it right after; offered to the scheduler in between,
        // it would be placed on another run and refuse it as busy.
        let previous_run = agents
            .get(&reg.name)
            .and_then(|a| a.run)
            .or((reg.resume_run_id != 0).then_some(reg.resume_run_id));
        // The same agent reconnecting keeps its recent heartbeats.
        let recent = agents
            .get(&reg.name)
            .map(|a| a.recent.clone())
            .unwrap_or_default();
        agents.insert(
            reg.name.clone(),
            AgentEntry {
                conn,
                name: reg.name.clone(),
                labels: reg.labels.clone().into_iter().collect(),
                version: reg.agent_version.clone(),
                max_vus: reg.max_vus,
                cpus: reg.cpus,
                tx,
                connected_since: now,
                last_heartbeat: Instant::now(),
                telemetry: pb::Heartbeat {
                    memory_total_bytes: reg.memory_total_bytes,
                    ..Default::default()
                },
                run: previous_run,
                recent,
                stale_run: None,
                session_sha256: crate::auth::sha256_hex(&session_secret),
                close: Some(close),
            },
        );
        drop(agents);
        self.changed.notify_waiters();
        Ok(Admitted {
            conn,
            session_secret,
            replaced,
        })
    }

    /// Removes an agent if `conn` is still its current connection. Returns its run, if any.
    pub fn remove(&self, name: &str, conn: u64) -> Option<Option<u64>> {
        let mut agents = self.lock();
        if agents.get(name).map(|a| a.conn) != Some(conn) {
            return None;
        }
        let run = agents.remove(name).and_then(|a| a.run);
        drop(agents);
        self.changed.notify_waiters();
        Some(run)
    }

    pub fn heartbeat(&self, name: &str, conn: u64, hb: pb::Heartbeat) {
        let mut agents = self.lock();
        let Some(a) = agents.get_mut(name).filter(|a| a.conn == conn) else {
            return;
        };
        a.last_heartbeat = Instant::now();
        a.recent.push(RecentPoint {
            t: crate::agent_recent::now_unix_ms(),
            process_cpu: hb.process_cpu_percent,
            rss: hb.process_rss_bytes,
            vus: hb.active_vus,
            rps: hb.requests_per_second,
        });
        let stopped = a.stale_run.is_some_and(|r| r != hb.run_id);
        a.telemetry = hb;
        if stopped {
            // It no longer runs the run it was told to stop: it may be placed again.
            a.stale_run = None;
            drop(agents);
            self.changed.notify_waiters();
        }
    }

    /// Records that agent `name` still runs `run`, which this controller does not drive with
    /// it (see [`AgentEntry::stale_run`]). True when this is news (the caller says so once).
    pub fn mark_stale(&self, name: &str, run: u64) -> bool {
        let mut agents = self.lock();
        match agents.get_mut(name) {
            Some(a) if a.stale_run != Some(run) => {
                a.stale_run = Some(run);
                if a.run == Some(run) {
                    // What it said when it registered: it is not busy with that run here.
                    a.run = None;
                }
                true
            }
            _ => false,
        }
    }

    /// Idle agents, by name. An agent whose heartbeats stopped for `silent_after` is not
    /// offered (its connection may be dead without anything having reset it).
    pub fn idle(&self, silent_after: std::time::Duration) -> Vec<Candidate> {
        self.lock()
            .values()
            .filter(|a| {
                a.run.is_none()
                    && a.stale_run.is_none()
                    && !a.telemetry.draining
                    && a.last_heartbeat.elapsed() < silent_after
            })
            .map(candidate)
            .collect()
    }

    /// Every connected agent, busy or idle, by name.
    pub fn connected(&self) -> Vec<Candidate> {
        self.lock().values().map(candidate).collect()
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    pub fn set_run(&self, names: &[String], run: Option<u64>) {
        let mut agents = self.lock();
        for n in names {
            if let Some(a) = agents.get_mut(n) {
                a.run = run;
            }
        }
        drop(agents);
        self.changed.notify_waiters();
    }

    /// Frees the agents of run `run` that are still busy with it. An agent of a resumed run
    /// that came back without re-attaching to it (it had finished its part) is idle and may
    /// be placed on another run before the resumed one ends: that run is not taken from it.
    pub fn release(&self, names: &[String], run: u64) {
        let mut agents = self.lock();
        for n in names {
            if let Some(a) = agents.get_mut(n).filter(|a| a.run == Some(run)) {
                a.run = None;
            }
        }
        drop(agents);
        self.changed.notify_waiters();
    }

    /// Sends to an agent; false when it is gone or its queue is full.
    /// Queues `msg` for agent `name`; false if it is not connected or its queue is full, and
    /// then its stream is told to close ([`Overflow`]).
    pub fn send(&self, name: &str, msg: pb::ControllerMessage) -> bool {
        let tx = self.lock().get(name).map(|a| a.tx.clone());
        let Some(tx) = tx else {
            return false;
        };
        match tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let mut agents = self.lock();
                let entry = agents.get_mut(name).filter(|a| a.tx.same_channel(&tx));
                if let Some(close) = entry.and_then(|a| a.close.take()) {
                    let _ = close.send(Overflow);
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn is_connected(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// CPU % and memory % of an agent now.
    pub fn load(&self, name: &str) -> Option<(f64, f64)> {
        self.lock()
            .get(name)
            .map(|a| (a.telemetry.cpu_percent, memory_percent(&a.telemetry)))
    }

    pub fn views(&self) -> Vec<AgentView> {
        self.lock().values().map(view).collect()
    }

    /// Every agent's view and its heartbeats received after `after(name)` (Unix ms), read
    /// together, so that the newest point is the heartbeat the view shows.
    pub fn views_with_recent(
        &self,
        after: &dyn Fn(&str) -> i64,
    ) -> (Vec<AgentView>, Vec<AgentRecent>) {
        let agents = self.lock();
        let views = agents.values().map(view).collect();
        let recent = agents
            .values()
            .map(|a| a.recent.after(&a.name, after(&a.name)))
            .collect();
        (views, recent)
    }

    /// Every agent's name, state and heartbeat age (`GET /metrics`), without their views.
    pub fn heartbeats(&self) -> Vec<AgentHeartbeat> {
        let now = Instant::now();
        self.lock()
            .values()
            .map(|a| AgentHeartbeat {
                name: a.name.clone(),
                state: state(a),
                age_s: now
                    .saturating_duration_since(a.last_heartbeat)
                    .as_secs_f64(),
            })
            .collect()
    }

    /// Every agent's run (if busy) and VU capacity: what the demand for agents is made of.
    pub fn capacities(&self) -> Vec<(Option<u64>, u64)> {
        self.lock()
            .values()
            .map(|a| (a.run.or(a.stale_run), a.max_vus))
            .collect()
    }

    pub fn view(&self, name: &str) -> Option<AgentView> {
        self.lock().get(name).map(view)
    }
}

fn candidate(a: &AgentEntry) -> Candidate {
    Candidate {
        name: a.name.clone(),
        labels: a.labels.clone(),
        max_vus: a.max_vus,
    }
}

fn new_secret() -> Result<String, String> {
    crate::auth::generate_secret().map_err(|e| format!("the controller has no randomness: {e}"))
}

/// Checks what an agent says of itself when it registers: its CPUs, memory and VU capacity
/// within the bounds above (0 CPUs or memory: not known; 0 VUs: no limit).
pub fn check_register(r: &pb::Register) -> Result<(), String> {
    if r.cpus > MAX_CPUS {
        return Err(format!(
            "cpus {} is more than one host has (at most {MAX_CPUS})",
            r.cpus
        ));
    }
    if r.memory_total_bytes > MAX_MEMORY_BYTES {
        return Err(format!(
            "memory_total_bytes {} is more than one host has (at most {MAX_MEMORY_BYTES}, 1 PiB)",
            r.memory_total_bytes
        ));
    }
    if r.max_vus > MAX_AGENT_VUS {
        return Err(format!(
            "max_vus {} is more than one agent can hold (at most {MAX_AGENT_VUS}): lower --max-vus, or 0 for no limit",
            r.max_vus
        ));
    }
    Ok(())
}

/// Checks a heartbeat's telemetry: finite, not negative, within what one machine can report
/// (the host's CPU and the process's CPU up to 100 % of the whole host, memory up to
/// [`MAX_MEMORY_BYTES`] with what is used and the process's RSS up to the total, and the
/// bounds above). A heartbeat that fails is dropped, so forged values reach neither the
/// agents view nor a run. The error names the field.
pub fn check_telemetry(h: &pb::Heartbeat) -> Result<(), String> {
    // Numbers as JavaScript prints them: 1e+308, not 309 digits.
    let n = volley_common::summary::format_number;
    let shares = [
        ("cpu_percent", Some(h.cpu_percent)),
        ("process_cpu_percent", h.process_cpu_percent),
    ];
    for (field, v) in shares {
        if let Some(v) = v.filter(|v| !v.is_finite() || !(0.0..=100.0).contains(v)) {
            return Err(format!(
                "{field} {} is outside 0..=100 (a share of the whole host)",
                n(v)
            ));
        }
    }
    let rates = [
        ("iterations_per_second", h.iterations_per_second, MAX_RATE),
        ("requests_per_second", h.requests_per_second, MAX_RATE),
        ("scheduler_lag_ms", h.scheduler_lag_ms, MAX_LAG_MS),
    ];
    for (field, v, max) in rates {
        if !v.is_finite() || !(0.0..=max).contains(&v) {
            return Err(format!("{field} {} is outside 0..={}", n(v), n(max)));
        }
    }
    if !(0..=MAX_AGENT_VUS as i64).contains(&h.active_vus) {
        return Err(format!(
            "active_vus {} is outside 0..={MAX_AGENT_VUS}",
            h.active_vus
        ));
    }
    let bounded = [
        ("memory_total_bytes", h.memory_total_bytes, MAX_MEMORY_BYTES),
        ("dropped_iterations", h.dropped_iterations, MAX_COUNT),
        ("unix_ms", h.unix_ms, MAX_COUNT),
    ];
    for (field, v, max) in bounded {
        if v > max {
            return Err(format!("{field} {v} is more than {max}"));
        }
    }
    // Without a total (0: not known) the parts are held to the bound of a total.
    let (total, of) = match h.memory_total_bytes {
        0 => (MAX_MEMORY_BYTES, "the most memory one host may report"),
        t => (t, "memory_total_bytes"),
    };
    for (field, v) in [
        ("memory_used_bytes", h.memory_used_bytes),
        ("process_rss_bytes", h.process_rss_bytes),
    ] {
        if v > total {
            return Err(format!("{field} {v} is more than {of} {total}"));
        }
    }
    Ok(())
}

/// The host's memory in use, %.
pub fn memory_percent(t: &pb::Heartbeat) -> f64 {
    crate::utilization::percent(t.memory_used_bytes, t.memory_total_bytes)
}

/// An agent's state as the API lists it (`GET /v1/agents`).
fn state(a: &AgentEntry) -> &'static str {
    // Draining (SIGTERM) says more than busy: the agent finishes its run and takes no other.
    if a.telemetry.draining {
        "draining"
    } else if a.run.is_some() || a.stale_run.is_some() {
        "busy"
    } else {
        "idle"
    }
}

fn view(a: &AgentEntry) -> AgentView {
    let t = &a.telemetry;
    let load = Utilization::of(t);
    let (health, cause) = match (
        load.over(OVERLOAD_PERCENT, OVERLOAD_PERCENT),
        load.over(WARN_PERCENT, WARN_PERCENT),
    ) {
        (Some(part), _) => ("overloaded", Some(part)),
        (None, Some(part)) => ("warning", Some(part)),
        (None, None) => ("ok", None),
    };
    AgentView {
        name: a.name.clone(),
        labels: a.labels.clone(),
        state: state(a).into(),
        // Still stopping a run this controller does not drive: busy with that one.
        run_id: a.run.or(a.stale_run),
        version: a.version.clone(),
        max_vus: a.max_vus,
        cpus: a.cpus,
        cpu_percent: t.cpu_percent,
        memory_used_bytes: t.memory_used_bytes,
        memory_total_bytes: t.memory_total_bytes,
        memory_percent: load.host_memory,
        process_cpu_percent: t.process_cpu_percent,
        process_rss_bytes: t.process_rss_bytes,
        process_memory_percent: load.process_memory,
        active_vus: t.active_vus,
        requests_per_second: t.requests_per_second,
        iterations_per_second: t.iterations_per_second,
        dropped_iterations: t.dropped_iterations,
        heartbeat_age_s: a.last_heartbeat.elapsed().as_secs_f64(),
        health: health.into(),
        health_cause: cause.map(|p| p.name().to_string()),
        connected_since: a.connected_since.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str, secret: &str) -> pb::Register {
        pb::Register {
            name: name.into(),
            session_secret: secret.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_full_queue_tells_the_stream_to_close_once() {
        let r = Registry::new();
        let (tx, _rx) = mpsc::channel(2);
        let (close, mut closed) = oneshot::channel();
        r.register(&reg("a", ""), tx, "t".into(), close).unwrap();
        let ack = || crate::run::messages::envelope(crate::run::messages::ack(1, 1));
        assert!(r.send("a", ack()));
        assert!(r.send("a", ack()));
        assert_eq!(closed.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        // The agent read none of them: the third does not fit, and its stream is told.
        assert!(!r.send("a", ack()));
        assert_eq!(closed.try_recv(), Ok(Overflow));
        assert!(!r.send("a", ack()));
        assert!(!r.send("b", ack()), "not connected");
    }

    #[test]
    fn a_live_name_needs_its_session_secret_and_closes_the_old_stream() {
        let r = Registry::new();
        let (tx, _rx) = mpsc::channel(1);
        let (close1, mut closed1) = oneshot::channel();
        let first = r
            .register(&reg("a", ""), tx.clone(), "t".into(), close1)
            .unwrap();
        assert!(!first.replaced);
        let (close2, _closed2) = oneshot::channel();
        let err = r
            .register(&reg("a", "volley_guess"), tx.clone(), "t".into(), close2)
            .unwrap_err();
        assert!(err.contains("connected already"), "{err}");
        assert!(closed1
            .try_recv()
            .is_err_and(|e| e == oneshot::error::TryRecvError::Empty));
        let (close3, _closed3) = oneshot::channel();
        let again = r
            .register(&reg("a", &first.session_secret), tx, "t".into(), close3)
            .unwrap();
        assert!(again.replaced);
        assert_eq!(again.session_secret, first.session_secret);
        assert_eq!(
            closed1.try_recv(),
            Err(oneshot::error::TryRecvError::Closed),
            "the old connection is told to close"
        );
        assert_eq!(r.count(), 1);
        assert_eq!(
            r.remove("a", first.conn),
            None,
            "the old connection no longer owns the name"
        );
    }

    #[test]
    fn a_draining_agent_is_offered_to_no_run() {
        let r = Registry::new();
        let (tx, _rx) = mpsc::channel(1);
        let (close, _closed) = oneshot::channel();
        let a = r.register(&reg("a", ""), tx, "t".into(), close).unwrap();
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(r.idle(minute).len(), 1);
        assert_eq!(r.view("a").unwrap().state, "idle");
        r.heartbeat(
            "a",
            a.conn,
            pb::Heartbeat {
                draining: true,
                ..Default::default()
            },
        );
        assert!(
            r.idle(minute).is_empty(),
            "draining: not idle for placement"
        );
        assert_eq!(r.connected().len(), 1, "still connected");
        assert_eq!(r.view("a").unwrap().state, "draining", "shown as draining");
    }

    #[test]
    fn telemetry_out_of_range_is_refused() {
        let ok = pb::Heartbeat {
            cpu_percent: 100.0,
            memory_used_bytes: 1,
            memory_total_bytes: 2,
            active_vus: 3,
            ..Default::default()
        };
        assert!(check_telemetry(&ok).is_ok());
        let process = pb::Heartbeat {
            process_cpu_percent: Some(100.0),
            process_rss_bytes: 2,
            memory_total_bytes: 2,
            memory_used_bytes: 2,
            ..Default::default()
        };
        assert!(check_telemetry(&process).is_ok());
        let largest = pb::Heartbeat {
            memory_total_bytes: MAX_MEMORY_BYTES,
            memory_used_bytes: MAX_MEMORY_BYTES,
            active_vus: MAX_AGENT_VUS as i64,
            requests_per_second: MAX_RATE,
            iterations_per_second: MAX_RATE,
            scheduler_lag_ms: MAX_LAG_MS,
            dropped_iterations: MAX_COUNT,
            unix_ms: MAX_COUNT,
            ..Default::default()
        };
        assert!(check_telemetry(&largest).is_ok());
        let cases = [
            (pb::Heartbeat { cpu_percent: 100.5, ..Default::default() }, "cpu_percent 100.5 is outside 0..=100"),
            (pb::Heartbeat { cpu_percent: 1e9, ..Default::default() }, "cpu_percent"),
            (pb::Heartbeat { cpu_percent: f64::NAN, ..Default::default() }, "cpu_percent NaN"),
            (pb::Heartbeat { active_vus: -5, ..Default::default() }, "active_vus -5 is outside"),
            (pb::Heartbeat { active_vus: i64::MAX, ..Default::default() }, "active_vus"),
            (pb::Heartbeat { requests_per_second: f64::INFINITY, ..Default::default() }, "requests_per_second Infinity"),
            (pb::Heartbeat { iterations_per_second: 1e9, ..Default::default() }, "iterations_per_second 1000000000 is outside 0..=100000000"),
            (pb::Heartbeat { scheduler_lag_ms: 1e12, ..Default::default() }, "scheduler_lag_ms"),
            (pb::Heartbeat { memory_used_bytes: 3, memory_total_bytes: 2, ..Default::default() }, "memory_used_bytes 3 is more than memory_total_bytes 2"),
            (pb::Heartbeat { memory_total_bytes: u64::MAX, memory_used_bytes: 1, ..Default::default() }, "memory_total_bytes 18446744073709551615 is more than 1125899906842624"),
            (pb::Heartbeat { memory_used_bytes: u64::MAX, ..Default::default() }, "memory_used_bytes 18446744073709551615 is more than the most memory one host may report"),
            (pb::Heartbeat { process_cpu_percent: Some(100.5), ..Default::default() }, "process_cpu_percent 100.5"),
            (pb::Heartbeat { process_cpu_percent: Some(f64::NAN), ..Default::default() }, "process_cpu_percent NaN"),
            (pb::Heartbeat { process_cpu_percent: Some(-1.0), ..Default::default() }, "process_cpu_percent -1"),
            (pb::Heartbeat { process_rss_bytes: 3, memory_total_bytes: 2, ..Default::default() }, "process_rss_bytes 3 is more than memory_total_bytes 2"),
            (pb::Heartbeat { dropped_iterations: u64::MAX, ..Default::default() }, "dropped_iterations"),
            (pb::Heartbeat { unix_ms: u64::MAX, ..Default::default() }, "unix_ms"),
        ];
        for (bad, why) in cases {
            let e = check_telemetry(&bad).expect_err(why);
            assert!(e.starts_with(why), "{e} (want {why})");
        }
    }

    #[test]
    fn registrations_beyond_one_host_are_refused() {
        let ok = pb::Register {
            name: "a".into(),
            cpus: MAX_CPUS,
            memory_total_bytes: MAX_MEMORY_BYTES,
            max_vus: MAX_AGENT_VUS,
            ..Default::default()
        };
        assert!(check_register(&ok).is_ok());
        assert!(
            check_register(&pb::Register::default()).is_ok(),
            "0: not known / no limit"
        );
        for (bad, why) in [
            (
                pb::Register {
                    cpus: 1_000_000,
                    ..ok.clone()
                },
                "cpus 1000000 is more than one host has",
            ),
            (
                pb::Register {
                    memory_total_bytes: u64::MAX,
                    ..ok.clone()
                },
                "memory_total_bytes 18446744073709551615",
            ),
            (
                pb::Register {
                    max_vus: u64::MAX,
                    ..ok.clone()
                },
                "max_vus 18446744073709551615 is more than one agent can hold",
            ),
        ] {
            let e = check_register(&bad).expect_err(why);
            assert!(e.starts_with(why), "{e} (want {why})");
        }
    }
}
