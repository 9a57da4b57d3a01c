//! The limits that keep a client creating runs in a loop from growing the controller without
//! bound: runs not finished per token (`--max-active-runs-per-token`) and finished runs kept in
//! all (`--max-finished-runs`, docs/rest-api.md#storage).

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::Service;
use crate::api::ServiceError;
use crate::state::Command;

/// Locks that make a token's run count and its next run's create one step: without them,
/// concurrent creates each counted the runs before the others were made, and went past
/// `--max-active-runs-per-token`. Tokens share one of `STRIPES` locks by id, so creates of
/// different tokens seldom wait on one another. Only the controller that writes (a group's
/// leader; followers forward writes or redirect them, docs/ha.md) creates runs.
pub struct RunCreates {
    stripes: [Mutex<()>; STRIPES],
}

/// Locks in [`RunCreates`]: enough that two busy tokens seldom share one.
const STRIPES: usize = 16;

impl Default for RunCreates {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

/// A token's turn to create a run: held from the count of its runs until the run is created.
pub(super) struct RunTurn<'a> {
    _held: MutexGuard<'a, ()>,
}

impl Service {
    /// Admits a new run of token `user_id`: refused (429) when it has
    /// `--max-active-runs-per-token` runs not finished yet, because runs queued or running
    /// hold memory and a place in the queue and a client creating runs in a loop would
    /// otherwise hold any number of them. Hold the turn until the run is created.
    pub(super) fn admit_run(&self, user_id: u64) -> Result<RunTurn<'_>, ServiceError> {
        let stripe = &self.run_creates.stripes[(user_id % STRIPES as u64) as usize];
        let turn = RunTurn {
            _held: stripe.lock().unwrap_or_else(PoisonError::into_inner),
        };
        let max = self.co.config.limits.max_active_runs_per_token;
        let active = self.co.db.read(|s| s.active_runs_of(user_id));
        if active >= max {
            let who = if user_id == 0 {
                "this open API's callers have".to_string()
            } else {
                format!("token {user_id} has")
            };
            return Err(ServiceError::new(
                429,
                "too_many_active_runs",
                format!(
                    "{who} {active} runs not finished, the most one token may have \
                     (--max-active-runs-per-token {max}): wait for some to finish or stop them"
                ),
            ));
        }
        Ok(turn)
    }

    /// Forgets the oldest finished runs beyond `--max-finished-runs`, making room for the run
    /// about to be created (docs/rest-api.md#storage), so that the state stays bounded however
    /// many runs clients create. The tests streamed runs made go with them (each holds its
    /// run's script, so streamed runs in a loop kept a test and an archive each for ever). A
    /// failure to forget does not hold the create up.
    pub(super) fn apply_retention(&self) {
        let keep = self.co.config.limits.max_finished_runs;
        let (run_ids, test_ids) = self.co.db.read(|s| {
            let runs = s.finished_runs_beyond(keep);
            let tests = s.streamed_tests_of(&runs);
            (runs, tests)
        });
        if run_ids.is_empty() {
            return;
        }
        let (first, last, n) = (run_ids[0], run_ids[run_ids.len() - 1], run_ids.len());
        let tests = test_ids.len();
        match self
            .co
            .db
            .execute(Command::ForgetRuns { run_ids, test_ids })
        {
            Ok(_) => tracing::info!(
                "forgot {n} finished runs ({first} to {last}) and {tests} tests of streamed \
                 runs: at most {keep} finished runs are kept (--max-finished-runs)"
            ),
            Err(e) => tracing::warn!("could not forget finished runs {first} to {last}: {e}"),
        }
    }
}
