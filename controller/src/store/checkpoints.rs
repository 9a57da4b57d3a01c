//! Run checkpoints: the latest merged metrics of each running run, so a restarted controller
//! resumes it. Kept in their own table, outside the command log (one per run, replaced). A
//! replicated controller proposes them through Raft, and every node writes the committed ones
//! here, so a new leader resumes the runs (docs/ha.md#what-is-replicated).

use redb::ReadableTable;

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

    /// The runs this controller holds a checkpoint of, by id.
    pub fn checkpoint_runs(&self) -> Result<Vec<u64>, StoreError> {
        let txn = self.begin_read()?;
        let t = txn
            .open_table(CHECKPOINTS)
            .map_err(|e| self.storage("opening the checkpoint table", e))?;
        let mut out = Vec::new();
        for row in t
            .iter()
            .map_err(|e| self.storage("reading the checkpoints", e))?
        {
            let (k, _) = row.map_err(|e| self.storage("reading the checkpoints", e))?;
            out.push(k.value());
        }
        Ok(out)
    }

    /// Forgets a run's checkpoint (the run ended), on every controller when replicated: the
    /// drop is then proposed again until committed while this node leads
    /// (docs/ha.md#writes-sent-again). Blocks like [`Self::execute_until_committed`].
    pub fn delete_checkpoint(&self, run_id: u64) -> Result<(), StoreError> {
        if let Some(proposer) = self.proposer() {
            return self.drop_checkpoint_until_committed(proposer, run_id);
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

/// A run's checkpoint drop in a Raft group, against the stand-in for the Raft driver
/// (docs/ha.md#writes-sent-again).
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::stand_in::{Outcome, StandIn};
    use super::super::{Leadership, StoreError};
    use super::*;
    use crate::temp_dir::TempDir;

    /// A store holding run 7's checkpoint, replicated through a stand-in whose checkpoint
    /// drops meet `script`.
    fn replicated_with_a_checkpoint(dir: &TempDir, script: &[Outcome]) -> (Arc<Db>, Arc<StandIn>) {
        let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
        db.put_checkpoint(7, b"run 7, 3 s in")
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        let is_drop = |p: &Payload| matches!(p, Payload::DropCheckpoint { .. });
        let stand_in = StandIn::install_side(&db, is_drop, script);
        (db, stand_in)
    }

    /// Before, a drop was proposed once: lost, it left the ended run's checkpoint on every
    /// node and in every snapshot.
    #[test]
    fn a_checkpoint_drop_that_times_out_is_sent_again_until_it_is_committed() {
        use Outcome::{Late, Lost};
        let dir = TempDir::new("drop-resent");
        let (db, stand_in) = replicated_with_a_checkpoint(&dir, &[Lost, Late, Lost]);
        db.delete_checkpoint(7)
            .unwrap_or_else(|e| panic!("not committed: {e}"));
        let drops = stand_in.picked_payloads();
        assert_eq!(drops.len(), 4, "three timeouts, then committed: {drops:?}");
        assert!(drops
            .iter()
            .all(|p| *p == Payload::DropCheckpoint { run_id: 7 }));
        assert_eq!(db.get_checkpoint(7).unwrap_or_else(|e| panic!("{e}")), None);
        assert!(db
            .checkpoint_runs()
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty());
    }

    /// A node that no longer leads stops sending the drop: the checkpoint stays until the
    /// next leader drops the checkpoints of ended runs (`Coordinator::start`).
    #[test]
    fn a_checkpoint_drop_is_not_sent_again_once_this_node_no_longer_leads() {
        let dir = TempDir::new("drop-deposed");
        let (db, stand_in) = replicated_with_a_checkpoint(&dir, &[Outcome::Deposed]);
        let e = db.delete_checkpoint(7).expect_err("deposed");
        assert!(matches!(e, StoreError::NotCommitted(_)), "{e}");
        assert_eq!(stand_in.picked_payloads().len(), 1, "not sent again");
        assert_eq!(db.leadership(), Leadership::Unknown);
        assert_eq!(db.checkpoint_runs().unwrap_or_else(|e| panic!("{e}")), [7]);
    }
}
