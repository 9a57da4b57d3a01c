//! A stop asked of a run (`RequestStop`), kept on the run so that whoever drives it next
//! carries it out (docs/ha.md#stops).

use super::{canonical_timestamp, Command, Effect, Prepared, State, StateError};
use crate::model::StopRequest;

impl State {
    /// A stop asked of a run that has not ended; the first one wins.
    pub(super) fn prepare_request_stop(
        &self,
        p: &mut Prepared,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::RequestStop {
            run_id,
            by,
            reason,
            at,
        } = cmd
        else {
            return Err(super::not_a("RequestStop", cmd));
        };
        let mut run = self.run_clone(*run_id)?;
        if run.run_status.is_terminal() {
            return Err(StateError::Terminal {
                run_id: *run_id,
                from: run.run_status,
                to: reason.run_status(),
            });
        }
        let at = canonical_timestamp("RequestStop.at", at)?;
        if run.stop_request.is_none() {
            if by.is_some() {
                run.stopped_by_id = *by;
            }
            run.stop_request = Some(StopRequest {
                by: *by,
                at,
                reason: reason.clone(),
            });
        }
        p.run = Some(run);
        p.effect = Effect::RunUpdated { run_id: *run_id };
        Ok(())
    }
}
