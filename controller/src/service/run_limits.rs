//! The limits that keep a client creating runs in a loop from growing the controller without
//! bound: runs not finished per token (`--max-active-runs-per-token`) and finished runs kept in
//! all (`--max-finished-runs`, docs/rest-api.md#storage).

use super::Service;
use crate::api::ServiceError;
use crate::state::Command;

impl Service {
    /// Refuses a new run of token `user_id` when it has `--max-active-runs-per-token` runs not
    /// finished yet (429): runs queued or running hold memory and a place in the queue, and a
    /// client creating runs in a loop would otherwise hold any number of them.
    pub(super) fn check_active_runs(&self, user_id: u64) -> Result<(), ServiceError> {
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
        Ok(())
    }

    /// Forgets the oldest finished runs beyond `--max-finished-runs`, making room for the run
    /// about to be created (docs/rest-api.md#storage), so that the state stays bounded however
    /// many runs clients create. A failure to forget does not hold the create up.
    pub(super) fn apply_retention(&self) {
        let keep = self.co.config.limits.max_finished_runs;
        let run_ids = self.co.db.read(|s| s.finished_runs_beyond(keep));
        if run_ids.is_empty() {
            return;
        }
        let (first, last, n) = (run_ids[0], run_ids[run_ids.len() - 1], run_ids.len());
        match self.co.db.execute(Command::ForgetRuns { run_ids }) {
            Ok(_) => tracing::info!(
                "forgot {n} finished runs ({first} to {last}): at most {keep} finished runs \
                 are kept (--max-finished-runs)"
            ),
            Err(e) => tracing::warn!("could not forget finished runs {first} to {last}: {e}"),
        }
    }
}
