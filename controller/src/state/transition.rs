//! A run's moves between statuses (`Transition`): forward only, terminal is final, and the
//! times and durations a move sets.

use super::{canonical_timestamp, timestamp, Command, Effect, Prepared, State, StateError};
use crate::model::{ProcessingStatus, RunStatus, Transition};

impl State {
    /// A run's move to another status.
    pub(super) fn prepare_transition(
        &self,
        p: &mut Prepared,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::Transition {
            run_id,
            to,
            reason,
            at,
            changes,
        } = cmd
        else {
            return Err(super::not_a("Transition", cmd));
        };
        let mut run = self.run_clone(*run_id)?;
        let (from, to) = (run.run_status, *to);
        check_transition(*run_id, from, to)?;
        if reason.trim().is_empty() {
            return Err(StateError::Invalid {
                subject: format!("run {run_id}"),
                problem: format!(
                    "the move to {} has no reason; say why the run moves \
                     (e.g. \"stopped via API\")",
                    to.name()
                ),
            });
        }
        let at = canonical_timestamp("Transition.at", at)?;
        changes.apply_to(&mut run);
        let keep_processing = changes.processing_status.is_some();
        if to == RunStatus::Running {
            run.started = Some(at.clone());
            if !keep_processing && run.processing_status == ProcessingStatus::NotStarted {
                run.processing_status = ProcessingStatus::Processing;
            }
        }
        if to.is_terminal() {
            run.duration = match &run.started {
                Some(started) => {
                    let s = parse_stored(*run_id, "started", started)?;
                    let e = parse_stored(*run_id, "ended", &at)?;
                    // Clocks of different controllers may disagree slightly; a
                    // negative duration would only confuse readers.
                    (e - s).max(0) as f64 / 1000.0
                }
                None => 0.0,
            };
            run.ended = Some(at.clone());
            if !keep_processing
                && matches!(
                    run.processing_status,
                    ProcessingStatus::NotStarted | ProcessingStatus::Processing
                )
            {
                run.processing_status = ProcessingStatus::Finished;
            }
        }
        run.run_status = to;
        run.transitions.push(Transition {
            from,
            to,
            at,
            reason: reason.clone(),
        });
        p.run = Some(run);
        p.effect = Effect::RunMoved {
            run_id: *run_id,
            from,
            to,
        };
        Ok(())
    }
}

/// Checks a move against the table of [`RunStatus::successors`]: forward only (skipping is
/// fine), terminal is final.
pub(super) fn check_transition(
    run_id: u64,
    from: RunStatus,
    to: RunStatus,
) -> Result<(), StateError> {
    if from.is_terminal() {
        return Err(StateError::Terminal { run_id, from, to });
    }
    if !from.can_move_to(to) {
        return Err(StateError::Backward { run_id, from, to });
    }
    Ok(())
}

/// `-1 VALIDATED, 0 QUEUED or 3 FINISHED`: where a run in `from` may go, for error messages.
pub(super) fn successor_names(from: RunStatus) -> String {
    let names: Vec<String> = from
        .successors()
        .iter()
        .map(|s| format!("{} {}", s.number(), s.name()))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "nowhere".into(),
    }
}

fn parse_stored(run_id: u64, field: &str, value: &str) -> Result<i64, StateError> {
    timestamp::parse_rfc3339(value).map_err(|problem| StateError::BadTimestamp {
        field: format!("run {run_id} {field}"),
        value: value.to_string(),
        problem,
    })
}
