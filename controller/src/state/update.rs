//! Changes of a run that are not moves: its fields and events (`UpdateRun`), its agents
//! (`Assign`), its summary (`SetSummary`).

use std::collections::BTreeSet;

use super::{Command, Effect, Prepared, State, StateError};
use crate::model::Run;

impl State {
    /// A change of a run's fields or a new event.
    pub(super) fn prepare_update_run(
        &self,
        p: &mut Prepared,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::UpdateRun { run_id, changes } = cmd else {
            return Err(super::not_a("UpdateRun", cmd));
        };
        let mut run = self.run_clone(*run_id)?;
        changes.apply_to(&mut run);
        p.run = Some(run);
        p.effect = Effect::RunUpdated { run_id: *run_id };
        Ok(())
    }

    /// A run's placement on agents.
    pub(super) fn prepare_assign(&self, p: &mut Prepared, cmd: &Command) -> Result<(), StateError> {
        let Command::Assign { run_id, placement } = cmd else {
            return Err(super::not_a("Assign", cmd));
        };
        let mut run = self.run_clone(*run_id)?;
        if run.run_status.is_terminal() {
            return Err(StateError::AssignTerminal {
                run_id: *run_id,
                status: run.run_status,
            });
        }
        let mut seen = BTreeSet::new();
        for a in &placement.assignments {
            if a.agent.trim().is_empty() {
                return Err(StateError::Invalid {
                    subject: format!("run {run_id}"),
                    problem: "an assignment has an empty agent name".into(),
                });
            }
            if !seen.insert(a.agent.as_str()) {
                return Err(StateError::Invalid {
                    subject: format!("run {run_id}"),
                    problem: format!(
                        "agent {:?} is assigned twice; an agent runs one segment of a run",
                        a.agent
                    ),
                });
            }
        }
        run.sequence = placement.sequence.clone();
        run.assignments = placement.assignments.clone();
        p.run = Some(run);
        p.effect = Effect::RunAssigned { run_id: *run_id };
        Ok(())
    }

    /// A run's end-of-test summary.
    pub(super) fn prepare_set_summary(
        &self,
        p: &mut Prepared,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::SetSummary { run_id, summary } = cmd else {
            return Err(super::not_a("SetSummary", cmd));
        };
        let mut run = self.run_clone(*run_id)?;
        run.summary = Some(summary.clone());
        p.run = Some(run);
        p.effect = Effect::SummarySet { run_id: *run_id };
        Ok(())
    }

    pub(super) fn run_clone(&self, run_id: u64) -> Result<Run, StateError> {
        self.runs
            .get(&run_id)
            .cloned()
            .ok_or(StateError::UnknownRun(run_id))
    }
}
