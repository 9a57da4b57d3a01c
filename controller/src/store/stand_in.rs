//! A stand-in for the Raft driver in tests: a leader whose log commits in order, applying
//! each command to the store's state, whose proposals of chosen commands get no outcome in
//! time — lost, committed after their timeout, or with the leadership lost meanwhile — so the
//! writes sent again until committed can be checked (docs/ha.md#writes-sent-again). Installed
//! with [`StandIn::install_side`], it picks side data too (a checkpoint's drop) and writes
//! what it commits to the store's file, as a Raft node does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use super::{Db, Leadership, Proposer};
use crate::replication::{DriverError, Payload, SideStore};
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

type Filter = Box<dyn Fn(&Payload) -> bool + Send + Sync>;

struct Inner {
    picks: Filter,
    /// What becomes of the next proposals `picks` chooses; committed once it is empty.
    script: VecDeque<Outcome>,
    /// Entries in the log, not committed yet.
    late: Vec<Payload>,
    leader: bool,
    /// Every proposal `picks` chose, in order.
    picked: Vec<Payload>,
}

/// See the module docs.
pub(crate) struct StandIn {
    state: Arc<RwLock<State>>,
    /// Where committed side data is written (`None`: it is taken and dropped).
    side: Option<Weak<Db>>,
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
        let picks = move |p: &Payload| match p {
            Payload::Command(cmd) => match &**cmd {
                Command::Once { command, .. } => picks(command),
                other => picks(other),
            },
            _ => false,
        };
        StandIn::installed(db, None, Box::new(picks), script)
    }

    /// Replicates `db` through a stand-in whose proposals `picks` chooses, side data
    /// included, meet `script` in turn; the side data it commits is written to `db`'s file.
    pub(crate) fn install_side(
        db: &Arc<Db>,
        picks: impl Fn(&Payload) -> bool + Send + Sync + 'static,
        script: &[Outcome],
    ) -> Arc<StandIn> {
        StandIn::installed(db, Some(Arc::downgrade(db)), Box::new(picks), script)
    }

    fn installed(
        db: &Db,
        side: Option<Weak<Db>>,
        picks: Filter,
        script: &[Outcome],
    ) -> Arc<StandIn> {
        let me = Arc::new(StandIn {
            state: db.shared_state(),
            side,
            inner: Mutex::new(Inner {
                picks,
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
        self.lock()
            .picked
            .iter()
            .filter_map(|p| match p {
                Payload::Command(cmd) => Some((**cmd).clone()),
                _ => None,
            })
            .collect()
    }

    /// Everything the filter picked, side data included, as proposed.
    pub(crate) fn picked_payloads(&self) -> Vec<Payload> {
        self.lock().picked.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a committed entry: a command to the state, side data to the store's file
    /// when the stand-in has one.
    fn apply(&self, payload: &Payload) -> Result<Applied, DriverError> {
        let Payload::Command(cmd) = payload else {
            self.write_side(payload)?;
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
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let index = state.applied_index() + 1;
        state.apply(index, cmd).map_err(DriverError::Rejected)
    }

    fn write_side(&self, payload: &Payload) -> Result<(), DriverError> {
        let Some(db) = self.side.as_ref().and_then(Weak::upgrade) else {
            return Ok(());
        };
        let stopped = |reason: String| DriverError::Stopped { reason };
        match payload {
            Payload::Command(_) => Ok(()),
            Payload::Content {
                sha256,
                total,
                offset,
                bytes,
            } => db
                .put_content_chunk(sha256, *total, *offset, bytes)
                .map_err(stopped)?
                .map_err(|problem| {
                    DriverError::Rejected(crate::state::StateError::Invalid {
                        subject: format!("the archive {sha256}"),
                        problem,
                    })
                }),
            Payload::Checkpoint { run_id, bytes } => {
                SideStore::put_checkpoint(&*db, *run_id, bytes).map_err(stopped)
            }
            Payload::DropCheckpoint { run_id } => db.drop_checkpoint(*run_id).map_err(stopped),
        }
    }
}

impl Proposer for StandIn {
    fn propose(&self, payload: Payload) -> Result<Applied, DriverError> {
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
        if (inner.picks)(&payload) {
            inner.picked.push(payload.clone());
            match inner.script.pop_front() {
                None | Some(Outcome::Commit) => {}
                Some(Outcome::Lost) => return timeout,
                Some(Outcome::Late) => {
                    inner.late.push(payload);
                    return timeout;
                }
                Some(Outcome::Deposed) => {
                    inner.leader = false;
                    return timeout;
                }
            }
        }
        self.apply(&payload)
    }

    fn leadership(&self) -> Leadership {
        if self.lock().leader {
            Leadership::Here
        } else {
            Leadership::Unknown
        }
    }
}
