//! Writes sent again: a Raft leader proposes a run's own writes (its transitions, events,
//! placement, summary) and a submit's queueing until they are committed, and a proposal that
//! timed out may still be committed after it (docs/ha.md#writes-sent-again). Each such write
//! is wrapped in a [`super::Command::Once`] with an id of its own, the same on every copy; the
//! state remembers the ids it applied, so the second copy committed changes nothing. Ids live
//! in the state — replicated and in snapshots — for [`OP_TTL_MS`] after their write was first
//! proposed, at most [`MAX_OPS`] of them (the oldest dropped first).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{timestamp, Command, Effect, Prepared, State, StateError};

/// How long an id is remembered after its write was first proposed (ms). A write is sent
/// again for at most this long (`crate::store::Db::execute_until_committed`), so a copy
/// committed later than that is never taken for a new write.
pub const OP_TTL_MS: i64 = 3600 * 1000;

/// Most ids remembered; beyond, the oldest is forgotten. A copy is proposed a few seconds
/// after the one before it, and entries commit in log order, so only the writes committed
/// between two copies of one write come between them: far fewer than this.
pub const MAX_OPS: usize = 4096;

/// When a remembered write was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    /// When it was first proposed, in ms since the Unix epoch (the command's `at`).
    pub at_ms: i64,
    /// The log index its first copy was applied at.
    pub index: u64,
}

/// The ids of the writes applied, each with when and where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ops(BTreeMap<u64, OpRecord>);

/// An id to record, with the ids it makes the state forget.
#[derive(Debug, Clone)]
pub(super) struct OpChange {
    id: u64,
    record: OpRecord,
    forget: Vec<u64>,
}

impl Ops {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Where write `id` was applied, if it was and is still remembered.
    pub fn seen(&self, id: u64) -> Option<&OpRecord> {
        self.0.get(&id)
    }

    /// Records `id`, forgetting the ids older than [`OP_TTL_MS`] before it and, at
    /// [`MAX_OPS`], the oldest.
    pub(super) fn plan(&self, id: u64, record: OpRecord) -> OpChange {
        let cutoff = record.at_ms.saturating_sub(OP_TTL_MS);
        let (expired, mut left): (Vec<_>, Vec<_>) = self
            .0
            .iter()
            .filter(|(k, _)| **k != id)
            .partition(|(_, r)| r.at_ms < cutoff);
        let mut forget: Vec<u64> = expired.into_iter().map(|(k, _)| *k).collect();
        if left.len() >= MAX_OPS {
            left.sort_by_key(|(_, r)| r.index);
            let over = left.len() + 1 - MAX_OPS;
            forget.extend(left.iter().take(over).map(|(k, _)| **k));
        }
        OpChange { id, record, forget }
    }

    pub(super) fn apply(&mut self, change: OpChange) {
        for k in &change.forget {
            self.0.remove(k);
        }
        self.0.insert(change.id, change.record);
    }
}

impl State {
    /// A write sent again until committed: applied by its first copy, a later copy changes
    /// nothing.
    pub(super) fn prepare_once(
        &self,
        p: &mut Prepared,
        index: u64,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::Once { id, at, command } = cmd else {
            return Err(super::not_a("Once", cmd));
        };
        if matches!(**command, Command::Once { .. }) {
            return Err(StateError::Invalid {
                subject: format!("write {id}"),
                problem: "a Once command wraps another Once; wrap the command itself".into(),
            });
        }
        let at_ms = timestamp::parse_rfc3339(at).map_err(|problem| StateError::BadTimestamp {
            field: "Once.at".into(),
            value: at.clone(),
            problem,
        })?;
        if let Some(first) = self.ops.seen(*id) {
            p.effect = Effect::Repeated { first: first.index };
            return Ok(());
        }
        *p = self.prepare(index, command)?;
        p.ops = Some(self.ops.plan(*id, OpRecord { at_ms, index }));
        Ok(())
    }
}
