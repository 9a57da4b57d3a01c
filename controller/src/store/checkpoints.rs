//! Run checkpoints: the latest merged metrics of each running run, so a restarted controller
//! resumes it. Kept in their own table, outside the command log (one per run, replaced).

use super::{Db, StoreError, CHECKPOINTS, MAX_CHECKPOINT_BYTES};

impl Db {
    /// Stores (replaces) the checkpoint of a running run, durably.
    pub fn put_checkpoint(&self, run_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
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

    /// Forgets a run's checkpoint (the run ended).
    pub fn delete_checkpoint(&self, run_id: u64) -> Result<(), StoreError> {
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
