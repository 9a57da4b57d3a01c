//! Opening a database written by an older controller. Format 1 kept each test's archive by test
//! id and a copy of the entry script in every test and run (in the state, its snapshots and the
//! log); format 2 keeps each distinct archive once, by hash, and no script text in the state.
//! Format 2 kept a run's execution segment sequence in each of its assignments (one point per
//! agent in each: 227 MB of JSON for a run on 5,000 agents); format 3 keeps it once per run.
//!
//! The migration runs in the transaction that opens the database: format 1's archives move to
//! the content table (identical ones collapse into one). The state needs no rewriting in place:
//! reading an old snapshot and log skips the scripts (the state types no longer have those
//! fields) and moves each run's sequence from its first assignment to the run
//! (`state::legacy`), and the store takes a snapshot right after opening a migrated database,
//! which drops the old log.

use std::path::Path;

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{sha256_hex, StoreError, CONTENT};

/// Format 1's archives, by test id.
const ARCHIVES_V1: TableDefinition<u64, &[u8]> = TableDefinition::new("archives");

/// Moves format 1's archives into the content table.
pub(super) fn from_v1(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let err = |action: &'static str| {
        move |e: redb::Error| StoreError::Storage {
            path: path.to_path_buf(),
            action,
            source: Box::new(e),
        }
    };
    {
        let archives = txn
            .open_table(ARCHIVES_V1)
            .map_err(|e| err("opening the format 1 archive table")(e.into()))?;
        let mut content = txn
            .open_table(CONTENT)
            .map_err(|e| err("opening the content table")(e.into()))?;
        for entry in archives
            .iter()
            .map_err(|e| err("reading the format 1 archives")(e.into()))?
        {
            let (_, v) = entry.map_err(|e| err("reading the format 1 archives")(e.into()))?;
            let bytes = v.value();
            let sha = sha256_hex(bytes);
            if content
                .get(sha.as_str())
                .map_err(|e| err("reading an archive")(e.into()))?
                .is_none()
            {
                content
                    .insert(sha.as_str(), bytes)
                    .map_err(|e| err("writing an archive")(e.into()))?;
            }
        }
    }
    txn.delete_table(ARCHIVES_V1)
        .map_err(|e| err("dropping the format 1 archive table")(e.into()))?;
    Ok(())
}
