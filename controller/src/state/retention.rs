//! Forgetting finished runs (`ForgetRuns`): what keeps the state, its snapshots and every
//! controller's memory bounded while clients create runs for ever. The service chooses the
//! oldest finished runs beyond `--max-finished-runs` (docs/rest-api.md#storage); here each
//! leaves the state whole — the run, its id in its test's runs, its idempotency key — the
//! same on every controller of a group. A streamed run's test, made to hold its script, goes
//! with it, and its archive with the test (unless another test has the same).

use std::collections::{BTreeMap, BTreeSet};

use super::command::MAX_FORGET;
use super::{Effect, Prepared, State, StateError, STREAMED_RUN_PROCESS};
use crate::model::Test;

/// What a `ForgetRuns` takes out of the state.
#[derive(Debug, Clone)]
pub(super) struct Forget {
    runs: BTreeSet<u64>,
    /// The tests of those runs, without them.
    tests: BTreeMap<u64, Test>,
    /// Tests made by streamed runs, forgotten with them.
    tests_gone: BTreeSet<u64>,
    /// Archives only those tests had.
    freed: Vec<String>,
}

impl Forget {
    pub(super) fn freed_archives(&self) -> &[String] {
        &self.freed
    }
}

impl State {
    pub(super) fn prepare_forget_runs(
        &self,
        p: &mut Prepared,
        run_ids: &[u64],
        test_ids: &[u64],
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
        let tests_gone: BTreeSet<u64> = test_ids.iter().copied().collect();
        if tests_gone.len() != test_ids.len() {
            return Err(invalid("a test is named twice".into()));
        }
        for id in &tests_gone {
            let left = tests.get(id).map(|t| t.test_run_ids.len());
            let streamed = runs.iter().any(|r| {
                self.runs
                    .get(r)
                    .is_some_and(|r| r.test_id == *id && r.run_process == STREAMED_RUN_PROCESS)
            });
            if left != Some(0) || !streamed {
                return Err(invalid(format!(
                    "test {id} is not a streamed run's test left without runs: only those are \
                     forgotten with their run"
                )));
            }
        }
        let kept: BTreeSet<String> = self
            .tests
            .values()
            .filter(|t| !tests_gone.contains(&t.id))
            .map(|t| t.archive_sha256.to_ascii_lowercase())
            .collect();
        let freed: BTreeSet<String> = tests_gone
            .iter()
            .filter_map(|id| self.tests.get(id))
            .map(|t| t.archive_sha256.to_ascii_lowercase())
            .filter(|sha| !kept.contains(sha))
            .collect();
        p.effect = Effect::RunsForgotten { count: runs.len() };
        p.forget = Some(Forget {
            runs,
            tests,
            tests_gone,
            freed: freed.into_iter().collect(),
        });
        Ok(())
    }

    pub(super) fn forget(&mut self, forget: Forget) {
        for id in &forget.runs {
            self.runs.remove(id);
        }
        self.tests.extend(forget.tests);
        for id in &forget.tests_gone {
            self.tests.remove(id);
        }
        self.keys.forget_runs(&forget.runs);
        self.keys.forget_tests(&forget.tests_gone);
    }

    /// The tests of `run_ids` that were made by streamed runs and have no run left besides
    /// them: what a `ForgetRuns` of those runs forgets with them.
    pub fn streamed_tests_of(&self, run_ids: &[u64]) -> Vec<u64> {
        let gone: BTreeSet<u64> = run_ids.iter().copied().collect();
        let tests: BTreeSet<u64> = run_ids
            .iter()
            .filter_map(|id| self.runs.get(id))
            .filter(|r| r.run_process == STREAMED_RUN_PROCESS)
            .map(|r| r.test_id)
            .collect();
        tests
            .into_iter()
            .filter(|id| {
                self.tests
                    .get(id)
                    .is_some_and(|t| t.test_run_ids.iter().all(|r| gone.contains(r)))
            })
            .collect()
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
