//! A stand-in for the Raft driver in tests: a leader whose log commits in order, applying
//! each command to the store's state, whose proposals of chosen commands get no outcome in
//! time — lost, committed after their timeout, or with the leadership lost meanwhile — so the
//! writes sent again until committed can be checked (docs/ha.md#writes-sent-again).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::{Db, Leadership, Proposer};
use crate::replication::{DriverError, Payload};
use crate::state::{Applied, Command, Effect, State};

/// What becomes of one proposal the stand-in's filter picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Committed in time, as every proposal once the script is over.
    Commit,
    /// Never committed: the proposal times out.
    Lost,
    /// Times out, then commits: applied just before the next proposal, as an entry that
    /// was in the log before it.
    Late,
    /// Times out, and this node is no longer the leader.
    Deposed,
}

type Filter = Box<dyn Fn(&Command) -> bool + Send + Sync>;

struct Inner {
    picks: Filter,
    /// What becomes of the next proposals `picks` chooses; committed once it is empty.
    script: VecDeque<Outcome>,
    /// Entries in the log, not committed yet.
    late: Vec<Command>,
    leader: bool,
    /// Every command proposal `picks` chose, in order.
    picked: Vec<Command>,
}

/// See the module docs.
pub(crate) struct StandIn {
    state: Arc<RwLock<State>>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandIn")
    }
}

impl StandIn {
    /// Replicates `db` through a stand-in whose proposals of commands `picks` chooses meet
    /// `script` in turn (the rest commit at once).
    pub(crate) fn install(
        db: &Db,
        picks: impl Fn(&Command) -> bool + Send + Sync + 'static,
        script: &[Outcome],
    ) -> Arc<StandIn> {
        let me = Arc::new(StandIn {
            state: db.shared_state(),
            inner: Mutex::new(Inner {
                picks: Box::new(picks),
                script: script.iter().copied().collect(),
                late: Vec::new(),
                leader: true,
                picked: Vec::new(),
            }),
        });
        db.replicate_through(me.clone())
            .unwrap_or_else(|e| panic!("replicate: {e}"));
        me
    }

    /// The commands the filter picked, as proposed.
    pub(crate) fn picked(&self) -> Vec<Command> {
        self.lock().picked.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn apply(&self, cmd: &Command) -> Result<Applied, DriverError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let index = state.applied_index() + 1;
        state.apply(index, cmd).map_err(DriverError::Rejected)
    }
}

impl Proposer for StandIn {
    fn propose(&self, payload: Payload) -> Result<Applied, DriverError> {
        let Payload::Command(cmd) = payload else {
            let index = self
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .applied_index();
            return Ok(Applied {
                index,
                effect: Effect::Stored,
            });
        };
        let mut inner = self.lock();
        if !inner.leader {
            return Err(DriverError::NotLeader {
                id: 1,
                leader: None,
            });
        }
        // Entries before this one in the log commit first; a rejected one changes nothing.
        for late in std::mem::take(&mut inner.late) {
            let _ = self.apply(&late);
        }
        let timeout = Err(DriverError::Timeout {
            waited: Duration::from_secs(5),
        });
        let picked = match &*cmd {
            Command::Once { command, .. } => (inner.picks)(command),
            other => (inner.picks)(other),
        };
        if picked {
            inner.picked.push((*cmd).clone());
            match inner.script.pop_front() {
                None | Some(Outcome::Commit) => {}
                Some(Outcome::Lost) => return timeout,
                Some(Outcome::Late) => {
                    inner.late.push(*cmd);
                    return timeout;
                }
                Some(Outcome::Deposed) => {
                    inner.leader = false;
                    return timeout;
                }
            }
        }
        self.apply(&cmd)
    }

    fn leadership(&self) -> Leadership {
        if self.lock().leader {
            Leadership::Here
        } else {
            Leadership::Unknown
        }
    }
}
