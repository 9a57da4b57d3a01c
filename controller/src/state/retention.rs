//! Forgetting finished runs (`ForgetRuns`): what keeps the state, its snapshots and every
//! controller's memory bounded while clients create runs for ever. The service chooses the
//! oldest finished runs beyond `--max-finished-runs` (docs/rest-api.md#storage); here each
//! leaves the state whole — the run, its id in its test's runs, its idempotency key — the
//! same on every controller of a group.

use std::collections::{BTreeMap, BTreeSet};

use super::command::MAX_FORGET;
use super::{Effect, Prepared, State, StateError};
use crate::model::Test;

/// What a `ForgetRuns` takes out of the state.
#[derive(Debug, Clone)]
pub(super) struct Forget {
    runs: BTreeSet<u64>,
    /// The tests of those runs, without them.
    tests: BTreeMap<u64, Test>,
}

impl State {
    pub(super) fn prepare_forget_runs(
        &self,
        p: &mut Prepared,
        run_ids: &[u64],
    ) -> Result<(), StateError> {
        let invalid = |problem: String| StateError::Invalid {
            subject: "ForgetRuns".into(),
            problem,
        };
        if run_ids.is_empty() || run_ids.len() > MAX_FORGET {
            return Err(invalid(format!(
                "{} runs named: forget 1 to {MAX_FORGET} at once",
                run_ids.len()
            )));
        }
        let runs: BTreeSet<u64> = run_ids.iter().copied().collect();
        if runs.len() != run_ids.len() {
            return Err(invalid("a run is named twice".into()));
        }
        let mut tests: BTreeMap<u64, Test> = BTreeMap::new();
        for id in &runs {
            let run = self.runs.get(id).ok_or(StateError::UnknownRun(*id))?;
            if !run.run_status.is_terminal() {
                return Err(invalid(format!(
                    "run {id} is {:?}, not finished: only finished runs are forgotten",
                    run.run_status
                )));
            }
            if let Some(test) = self.tests.get(&run.test_id) {
                tests
                    .entry(test.id)
                    .or_insert_with(|| test.clone())
                    .test_run_ids
                    .retain(|r| r != id);
            }
        }
        p.effect = Effect::RunsForgotten { count: runs.len() };
        p.forget = Some(Forget { runs, tests });
        Ok(())
    }

    pub(super) fn forget(&mut self, forget: Forget) {
        for id in &forget.runs {
            self.runs.remove(id);
        }
        self.tests.extend(forget.tests);
        self.keys.forget_runs(&forget.runs);
    }

    /// The oldest finished runs (by id, which is creation order) beyond the `keep` newest
    /// finished ones, at most `MAX_FORGET`: what a `ForgetRuns` should name to make room for
    /// one more finished run (`keep` ≥ 1).
    pub fn finished_runs_beyond(&self, keep: usize) -> Vec<u64> {
        let finished = self
            .runs
            .values()
            .filter(|r| r.run_status.is_terminal())
            .count();
        // One more run will finish: make room for it.
        let over = (finished + 1).saturating_sub(keep.max(1)).min(MAX_FORGET);
        self.runs
            .values()
            .filter(|r| r.run_status.is_terminal())
            .take(over)
            .map(|r| r.id)
            .collect()
    }

    /// How many runs started by token `user_id` have not finished.
    pub fn active_runs_of(&self, user_id: u64) -> usize {
        self.runs
            .values()
            .filter(|r| r.user_id == user_id && !r.run_status.is_terminal())
            .count()
    }
}
