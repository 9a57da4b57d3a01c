//! The scheduler: it applies the queue policy (`crate::run::queue`: oldest first, backfilling runs
//! that fit, reservations against starvation, queue timeouts) to the QUEUED runs whenever runs
//! or agents change. A placed run gets its own task (`super::driver`).

use std::sync::Arc;
use std::time::Duration;

use volley_common::exit::AbortReason;

use super::driver::{self, Clock, SystemClock};
use super::{now_rfc3339, Coordinator, Tracked};
use crate::model::{Assignment, Run, RunEvent, RunStatus};
use crate::placement::{self, PlacementRequest};
use crate::run::config::RunTimeouts;
use crate::run::machine::{Input, Machine, RunSpec};
use crate::run::queue::{self, Decision, Queued};
use crate::state::timestamp::parse_rfc3339;
use crate::state::{Command, RunChanges, RunPlacement};

/// How often the queue is looked at when nothing signals a change (queue timeouts need it).
const RESCAN: Duration = Duration::from_millis(500);

impl Coordinator {
    /// The scheduler's loop: the queue is looked at whenever runs or agents change.
    pub(crate) async fn scheduler(self: Arc<Self>) {
        loop {
            // Placement reads and writes the store: not on an async worker.
            let me = self.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || me.schedule_once()).await {
                tracing::error!("scheduler: {e}");
            }
            tokio::select! {
                _ = self.queue_changed.notified() => {}
                _ = self.registry.changed.notified() => {}
                _ = tokio::time::sleep(RESCAN) => {}
            }
        }
    }

    /// Applies the queue policy once: starts the runs that can start, ends the ones that have
    /// waited too long or can never be placed.
    fn schedule_once(self: &Arc<Self>) {
        let now_ms = SystemClock.now().unix_ms;
        let (mut runs, stopped): (Vec<Run>, Vec<Run>) = self.db.read(|s| {
            s.runs_in_status(RunStatus::Queued)
                .cloned()
                .partition(|r| r.stop_request.is_none())
        });
        // A queued run whose stop was committed but not its end (the leader that took the
        // stop went away in between) is never placed: it ends as the user asked.
        for run in stopped {
            if let Some(stop) = &run.stop_request {
                self.finish_without_agents(run.id, &stop.reason);
            }
        }
        runs.sort_by_key(|r| r.id);
        if runs.is_empty() {
            return;
        }
        let queue: Vec<Queued> = runs
            .iter()
            .map(|run| Queued {
                id: run.id,
                request: run
                    .config
                    .get("volley")
                    .and_then(|v| serde_json::from_value::<PlacementRequest>(v.clone()).ok())
                    .unwrap_or_default(),
                vus: placement::planned_vus(&run.config),
                waited: queued_for(run, now_ms),
                timeout: RunTimeouts::from_config(&run.config)
                    .unwrap_or_default()
                    .queue_timeout(&self.config),
            })
            .collect();
        let decisions = queue::decide(
            &queue,
            &self.registry.idle(self.config.agent_lost_after),
            &self.registry.connected(),
            self.config.queue_reserve_after,
        );
        for decision in decisions {
            match decision {
                Decision::Launch(id, plan) => {
                    if let Some(i) = runs.iter().position(|r| r.id == id) {
                        self.launch(runs.swap_remove(i), plan);
                    }
                }
                Decision::Wait(id, why) => {
                    if let Some(run) = runs.iter().find(|r| r.id == id) {
                        self.say_why_queued(run, &why);
                    }
                }
                Decision::Expire(id, message) => {
                    self.finish_without_agents(id, &AbortReason::TimedOut { message });
                }
                Decision::Refuse(id, message) => {
                    self.finish_without_agents(id, &AbortReason::System { message });
                }
            }
        }
    }

    /// Records why a run is still QUEUED as one of its events (`volley status`, `submit --wait`
    /// and the API show it), once per distinct reason: "the run needs 3 idle agents; 1 idle of
    /// 4 connected" rather than a bare "waiting for agents".
    fn say_why_queued(&self, run: &Run, why: &str) {
        let why = queue::waiting_reason(why, self.config.scaler.as_deref());
        let message = format!("queued: {why}");
        let last = run
            .events
            .iter()
            .rev()
            .find(|e| e.message.starts_with("queued: "));
        if last.is_some_and(|e| e.message == message) {
            return;
        }
        tracing::debug!(run = run.id, "{why}");
        self.exec(Command::UpdateRun {
            run_id: run.id,
            changes: RunChanges {
                event: Some(RunEvent {
                    at: now_rfc3339(),
                    level: "info".into(),
                    message,
                    threshold: None,
                }),
                ..Default::default()
            },
        });
    }

    /// Assigns a run to its agents and starts its task.
    fn launch(self: &Arc<Self>, run: Run, plan: placement::Plan) {
        let agents: Vec<String> = plan.placements.iter().map(|p| p.agent.clone()).collect();
        self.registry.set_run(&agents, Some(run.id));
        let assignments: Vec<Assignment> = plan
            .placements
            .iter()
            .map(|p| Assignment {
                agent: p.agent.clone(),
                segment: p.segment.clone(),
            })
            .collect();
        self.exec(Command::Assign {
            run_id: run.id,
            placement: RunPlacement {
                sequence: plan.sequence.clone(),
                assignments: assignments.clone(),
            },
        });
        self.transition(
            run.id,
            RunStatus::Initializing,
            &format!("placed on {}", agents.join(", ")),
            RunChanges::default(),
        );
        let Tracked {
            inbox,
            live,
            arrivals,
        } = self.track(run.id, &agents, None);
        let archive = self.db.get_archive(run.test_id).ok().flatten();
        let clock = SystemClock;
        let spec = RunSpec {
            run_id: run.id,
            test_id: run.test_id,
            sequence: plan.sequence,
            assignments,
            config: run.config,
            env: run.env,
            streamed: false,
            degraded_note: None,
        };
        let mut machine = Machine::new(spec, self.config.clone(), live.clone(), clock.now());
        machine.set_arrivals(arrivals);
        let me = self.clone();
        let id = run.id;
        tokio::spawn(async move {
            let first = Input::Launch { archive };
            driver::drive(me.clone(), machine, first, inbox, None, clock).await;
            me.retire(id, live, &agents);
        });
    }
}

/// How long a run has been QUEUED (since its last transition to QUEUED, stored with its time,
/// so the wait survives a controller restart).
fn queued_for(run: &Run, now_ms: u64) -> Duration {
    let since = run
        .transitions
        .iter()
        .rev()
        .find(|t| t.to == RunStatus::Queued)
        .and_then(|t| parse_rfc3339(&t.at).ok())
        .map_or(now_ms, |ms| ms.max(0) as u64);
    Duration::from_millis(now_ms.saturating_sub(since))
}
