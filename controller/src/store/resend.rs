//! Writes sent again until committed: on a Raft leader, a run's own writes (its transitions,
//! events, placement, summary, its end) and a submit's queueing are proposed again when a
//! proposal gets no outcome in time, for as long as this node leads, instead of being logged
//! and dropped — which left a run RUNNING with nobody driving it, or VALIDATED, until the next
//! leader change (docs/ha.md#writes-sent-again). A proposal that timed out may still be
//! committed after it, so each write carries an id of its own ([`Command::Once`]) that the
//! state machine remembers: the copy committed late and the copy sent again make one change.
//! A run's checkpoint drop at its end is sent again the same way (it needs no id).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{Db, Leadership, StoreError};
use crate::replication::Payload;
use crate::state::once::OP_TTL_MS;
use crate::state::{Applied, Command};

/// The wait before a write is sent again the first time; it doubles at each attempt.
const RESEND_FIRST: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
const RESEND_MAX: Duration = Duration::from_secs(4);

/// A new write id: a random start per process, then a counter, so ids of different nodes
/// (and of earlier runs of this one) do not meet.
fn next_op_id() -> u64 {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    NEXT.get_or_init(|| AtomicU64::new(getrandom::u64().unwrap_or(1) >> 1))
        .fetch_add(1, Ordering::Relaxed)
}

/// Waits `d` on a blocking thread or, on a worker of a multi-threaded runtime, handing the
/// worker's other tasks to another thread meanwhile.
fn pause(d: Duration) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| std::thread::sleep(d))
        }
        _ => std::thread::sleep(d),
    }
}

impl Db {
    /// Applies a write the controller makes itself for a run: [`Self::execute`] on a single
    /// controller (a write there applies or fails at once). In a Raft group `cmd` is wrapped in
    /// a [`Command::Once`] with a new id and proposed until it is committed: a proposal that
    /// got no outcome in time ([`StoreError::NotCommitted`]) is sent again after 250 ms, then
    /// twice as long each time up to 4 s, each attempt bounded by the proposal timeout, for as
    /// long as this node leads (and at most [`OP_TTL_MS`], for which the state remembers the
    /// id). Gives up with the error when the command is rejected, when this node no longer
    /// leads (the next leader finishes what the run left, docs/ha.md#leadership), or when the
    /// Raft node stopped. Blocks: call it from a blocking thread or accept the block.
    pub fn execute_until_committed(&self, cmd: Command) -> Result<Applied, StoreError> {
        if self.proposer().is_none() {
            return self.execute(cmd);
        }
        let what = command_summary(&cmd);
        let once = Command::Once {
            id: next_op_id(),
            at: crate::state::timestamp::now_rfc3339(),
            command: Box::new(cmd),
        };
        self.until_committed(&what, || self.execute_inner(&once, None))
    }

    /// Drops a run's checkpoint on every node of a Raft group, proposing the drop again until
    /// it is committed as [`Self::execute_until_committed`] does: a lost drop would leave the
    /// ended run's checkpoint on every node and in every snapshot. Dropping twice is dropping
    /// once, so the copies need no id.
    pub(super) fn drop_checkpoint_until_committed(
        &self,
        proposer: &dyn super::Proposer,
        run_id: u64,
    ) -> Result<(), StoreError> {
        let what = format!("the drop of run {run_id}'s checkpoint");
        self.until_committed(&what, || {
            self.recover_if_due();
            self.propose_replicated(proposer, Payload::DropCheckpoint { run_id })
        })
        .map(drop)
    }

    /// Calls `attempt` until it commits: again after 250 ms, then twice as long each time up
    /// to 4 s, while it gets no outcome in time and this node leads, for at most
    /// [`OP_TTL_MS`].
    fn until_committed(
        &self,
        what: &str,
        mut attempt_once: impl FnMut() -> Result<Applied, StoreError>,
    ) -> Result<Applied, StoreError> {
        let began = Instant::now();
        let ttl = Duration::from_millis(OP_TTL_MS as u64);
        let mut wait = RESEND_FIRST;
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let e = match attempt_once() {
                Ok(applied) => {
                    if attempt > 1 {
                        tracing::info!(
                            attempt,
                            "{what} committed after {} s",
                            began.elapsed().as_secs()
                        );
                    }
                    return Ok(applied);
                }
                Err(e @ StoreError::NotCommitted(_)) => e,
                Err(e) => return Err(e),
            };
            if self.leadership() != Leadership::Here {
                tracing::warn!(
                    attempt,
                    "{what} was not committed and this controller no longer leads: the next \
                     leader takes the run over ({e})"
                );
                return Err(e);
            }
            if began.elapsed() + wait >= ttl {
                tracing::error!(
                    attempt,
                    "{what} was not committed within {} minutes while this controller led; \
                     giving up ({e})",
                    ttl.as_secs() / 60
                );
                return Err(e);
            }
            tracing::warn!(
                attempt,
                "{what} was not committed ({e}); sending it again in {} ms",
                wait.as_millis()
            );
            pause(wait);
            wait = (wait * 2).min(RESEND_MAX);
        }
    }
}

/// What a write is, for the log: "run 3's move to RUNNING".
fn command_summary(cmd: &Command) -> String {
    match cmd {
        Command::Transition { run_id, to, .. } => {
            format!("run {run_id}'s move to {}", to.name())
        }
        Command::UpdateRun { run_id, changes } if changes.event.is_some() => {
            format!("an event of run {run_id}")
        }
        Command::UpdateRun { run_id, .. } => format!("an update of run {run_id}"),
        Command::Assign { run_id, .. } => format!("run {run_id}'s placement"),
        Command::SetSummary { run_id, .. } => format!("run {run_id}'s summary"),
        other => format!("a {} command", super::command_name(other)),
    }
}
