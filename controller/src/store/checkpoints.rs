//! Run checkpoints: the latest merged metrics of each running run, so a restarted controller
//! resumes it. Kept in their own table, outside the command log (one per run, replaced). A
//! replicated controller proposes them through Raft, and every node writes the committed ones
//! here, so a new leader resumes the runs (docs/ha.md#what-is-replicated).

use super::{Db, StoreError, CHECKPOINTS, MAX_CHECKPOINT_BYTES};
use crate::replication::Payload;

impl Db {
    /// Stores (replaces) the checkpoint of a running run, durably; when replicated, returns
    /// once a quorum of controllers holds it (only then may its batches be acknowledged).
    pub fn put_checkpoint(&self, run_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(replica) = self.proposer() {
            let max = crate::replication::payload::MAX_CHECKPOINT_ENTRY;
            if bytes.len() > max {
                return Err(StoreError::Replication(format!(
                    "the checkpoint of run {run_id} has {} bytes, more than one replicated \
                     entry may carry ({max} bytes)",
                    bytes.len()
                )));
            }
            return self
                .propose_replicated(
                    replica,
                    Payload::Checkpoint {
                        run_id,
                        bytes: bytes.to_vec(),
                    },
                )
                .map(drop);
        }
        self.put_checkpoint_here(run_id, bytes)
    }

    /// Writes a checkpoint to this controller's file only.
    pub(super) fn put_checkpoint_here(&self, run_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut t = txn
                .open_table(CHECKPOINTS)
                .map_err(|e| self.storage("opening the checkpoint table", e))?;
            t.insert(run_id, bytes)
                .map_err(|e| self.storage("writing a checkpoint", e))?;
            Ok(())
        })
    }

    /// The last checkpoint of a run, if any.
    pub fn get_checkpoint(&self, run_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn
            .open_table(CHECKPOINTS)
            .map_err(|e| self.storage("opening the checkpoint table", e))?;
        let Some(guard) = t
            .get(run_id)
            .map_err(|e| self.storage("reading a checkpoint", e))?
        else {
            return Ok(None);
        };
        let bytes = guard.value();
        if bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(self.corrupt(
                format!("the checkpoint of run {run_id}"),
                format!("{} bytes, more than any checkpoint may have", bytes.len()),
            ));
        }
        Ok(Some(bytes.to_vec()))
    }

    /// Forgets a run's checkpoint (the run ended), on every controller when replicated.
    pub fn delete_checkpoint(&self, run_id: u64) -> Result<(), StoreError> {
        if let Some(replica) = self.proposer() {
            return self
                .propose_replicated(replica, Payload::DropCheckpoint { run_id })
                .map(drop);
        }
        self.delete_checkpoint_here(run_id)
    }

    /// Drops a checkpoint from this controller's file only.
    pub(super) fn delete_checkpoint_here(&self, run_id: u64) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut t = txn
                .open_table(CHECKPOINTS)
                .map_err(|e| self.storage("opening the checkpoint table", e))?;
            t.remove(run_id)
                .map_err(|e| self.storage("writing a checkpoint", e))?;
            Ok(())
        })
    }
}
