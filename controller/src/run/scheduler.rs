//! The scheduler: the queue of runs (first in, first out) and their placement on idle agents.
//! A run that does not fit blocks the ones behind it, so big runs are not starved; a run that
//! can never be placed ends at once. A placed run gets its own task (`run::driver`).

use std::sync::Arc;
use std::time::Duration;

use volley_common::exit::AbortReason;
use volley_common::options::Options;

use super::driver::{self, Clock, SystemClock};
use super::machine::{Input, Machine, RunSpec};
use crate::coordinator::Coordinator;
use crate::model::{Assignment, Run, RunStatus};
use crate::placement::{self, PlacementError, PlacementRequest};
use crate::state::{Command, RunChanges};

/// How often the queue is looked at when nothing signals a change.
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

    /// Places the head of the queue if it fits (FIFO: a run that does not fit blocks the ones
    /// behind it, so big runs are not starved).
    fn schedule_once(self: &Arc<Self>) {
        let queued: Vec<Run> = self.db.read(|s| {
            let mut v: Vec<Run> = s.runs_in_status(RunStatus::Queued).cloned().collect();
            v.sort_by_key(|r| r.id);
            v
        });
        for run in queued {
            let req: PlacementRequest = run
                .config
                .get("volley")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let vus = planned_vus(&run.config);
            match placement::plan(
                &req,
                vus,
                &self.registry.idle(self.config.agent_lost_after),
                self.registry.count(),
            ) {
                Ok(plan) => {
                    self.launch(run, plan);
                }
                Err(PlacementError::NotYet(why)) => {
                    tracing::debug!(run = run.id, "{why}");
                    return;
                }
                Err(PlacementError::Invalid(why)) => {
                    let reason = AbortReason::System { message: why };
                    self.finish_without_agents(run.id, &reason);
                }
            }
        }
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
                sequence: plan.sequence.clone(),
            })
            .collect();
        self.exec(Command::Assign {
            run_id: run.id,
            assignments: assignments.clone(),
        });
        self.transition(
            run.id,
            RunStatus::Initializing,
            &format!("placed on {}", agents.join(", ")),
            RunChanges::default(),
        );
        let (rx, live) = self.track(run.id, &agents, None);
        let archive = self.db.get_archive(run.test_id).ok().flatten();
        let clock = SystemClock;
        let spec = RunSpec {
            run_id: run.id,
            test_id: run.test_id,
            assignments,
            config: run.config,
            env: run.env,
            streamed: false,
            degraded_note: None,
        };
        let machine = Machine::new(spec, self.config.clone(), live.clone(), clock.now());
        let me = self.clone();
        let id = run.id;
        tokio::spawn(async move {
            let first = Input::Launch { archive };
            driver::drive(me.clone(), machine, first, rx, None, clock).await;
            me.retire(id, live, &agents);
        });
    }
}

/// The planned maximum VUs of a run, for capacity checks.
pub(crate) fn planned_vus(config: &serde_json::Value) -> u64 {
    Options::from_script_json(config)
        .ok()
        .and_then(|o| o.resolve().ok())
        .map(|r| r.scenarios.iter().map(|s| s.max_vus()).sum())
        .unwrap_or(0)
}
