//! The agents connected to this controller: who they are, their latest telemetry, which run
//! each is busy with, and the sender of their stream. Agents dial in; an agent that reconnects
//! under the same name replaces its old connection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::mpsc;
use volley_proto as pb;

use crate::model::AgentView;
use crate::placement::Candidate;

/// CPU or memory at or above this is "warning"; at or above `OVERLOAD_PERCENT`, "overloaded".
pub const WARN_PERCENT: f64 = 80.0;
pub const OVERLOAD_PERCENT: f64 = 90.0;

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

    /// Adds (or replaces) an agent; returns its connection number.
    pub fn register(
        &self,
        reg: &pb::Register,
        tx: mpsc::Sender<pb::ControllerMessage>,
        now: String,
    ) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
        let mut agents = self.lock();
        let previous_run = agents.get(&reg.name).and_then(|a| a.run);
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
            },
        );
        drop(agents);
        self.changed.notify_waiters();
        conn
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
        if let Some(a) = agents.get_mut(name).filter(|a| a.conn == conn) {
            a.last_heartbeat = Instant::now();
            a.telemetry = hb;
        }
    }

    /// Idle agents, by name. An agent whose heartbeats stopped for `silent_after` is not
    /// offered (its connection may be dead without anything having reset it).
    pub fn idle(&self, silent_after: std::time::Duration) -> Vec<Candidate> {
        self.lock()
            .values()
            .filter(|a| a.run.is_none() && a.last_heartbeat.elapsed() < silent_after)
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

    /// Sends to an agent; false when it is gone or its queue is full.
    pub fn send(&self, name: &str, msg: pb::ControllerMessage) -> bool {
        let tx = self.lock().get(name).map(|a| a.tx.clone());
        match tx {
            Some(tx) => tx.try_send(msg).is_ok(),
            None => false,
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

pub fn memory_percent(t: &pb::Heartbeat) -> f64 {
    if t.memory_total_bytes == 0 {
        0.0
    } else {
        t.memory_used_bytes as f64 * 100.0 / t.memory_total_bytes as f64
    }
}

fn view(a: &AgentEntry) -> AgentView {
    let t = &a.telemetry;
    let mem = memory_percent(t);
    let worst = t.cpu_percent.max(mem);
    AgentView {
        name: a.name.clone(),
        labels: a.labels.clone(),
        state: if a.run.is_some() { "busy" } else { "idle" }.into(),
        run_id: a.run,
        version: a.version.clone(),
        max_vus: a.max_vus,
        cpus: a.cpus,
        cpu_percent: t.cpu_percent,
        memory_used_bytes: t.memory_used_bytes,
        memory_total_bytes: t.memory_total_bytes,
        memory_percent: mem,
        process_rss_bytes: t.process_rss_bytes,
        active_vus: t.active_vus,
        requests_per_second: t.requests_per_second,
        iterations_per_second: t.iterations_per_second,
        dropped_iterations: t.dropped_iterations,
        heartbeat_age_s: a.last_heartbeat.elapsed().as_secs_f64(),
        health: if worst >= OVERLOAD_PERCENT {
            "overloaded"
        } else if worst >= WARN_PERCENT {
            "warning"
        } else {
            "ok"
        }
        .into(),
        connected_since: a.connected_since.clone(),
    }
}
