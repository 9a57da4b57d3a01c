//! Opening the database file: creating or migrating its tables, then loading the latest
//! snapshot and replaying the log after it.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::{
    migrate, StoreError, CHECKPOINTS, CONTENT, FORMAT_VERSION, LOG, META, META_FORMAT,
    META_SNAPSHOT_INDEX, SNAPSHOT, SNAPSHOT_STATE,
};
use crate::state::{Command, State};

/// Opens (or creates) the database file.
pub(super) fn open_file(path: &Path) -> Result<Database, StoreError> {
    Database::create(path).map_err(|source| match source {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.to_path_buf(),
        },
        source => StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(source),
        },
    })
}

/// Creates the tables of a new database, checks the format of an existing one and migrates an
/// older format, all in one transaction. Returns the format migrated from, if any.
pub(super) fn init_tables(db: &Database, path: &Path) -> Result<Option<u64>, StoreError> {
    let err = |action: &'static str| {
        let path = path.to_path_buf();
        move |e: redb::Error| StoreError::Storage {
            path,
            action,
            source: Box::new(e),
        }
    };
    let txn = db
        .begin_write()
        .map_err(|e| err("starting a write")(e.into()))?;
    let found = {
        let meta = txn
            .open_table(META)
            .map_err(|e| err("opening the meta table")(e.into()))?;
        let found = meta
            .get(META_FORMAT)
            .map_err(|e| err("reading the format")(e.into()))?
            .map(|g| g.value());
        found
    };
    let migrated = match found {
        Some(FORMAT_VERSION) => None,
        Some(1) => {
            migrate::from_v1(&txn, path)?;
            Some(1)
        }
        // Nothing to move in the tables: reading the state moves the sequences (module
        // `migrate`).
        Some(2) => Some(2),
        Some(found) => {
            return Err(StoreError::Format {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        None => None,
    };
    {
        let mut meta = txn
            .open_table(META)
            .map_err(|e| err("opening the meta table")(e.into()))?;
        if found != Some(FORMAT_VERSION) {
            meta.insert(META_FORMAT, FORMAT_VERSION)
                .map_err(|e| err("writing the format")(e.into()))?;
        }
    }
    for (name, res) in [
        (
            "opening the snapshot table",
            txn.open_table(SNAPSHOT).map(drop),
        ),
        ("opening the log table", txn.open_table(LOG).map(drop)),
        (
            "opening the content table",
            txn.open_table(CONTENT).map(drop),
        ),
        (
            "opening the checkpoint table",
            txn.open_table(CHECKPOINTS).map(drop),
        ),
    ] {
        res.map_err(|e| err(name)(e.into()))?;
    }
    txn.commit()
        .map_err(|e| err("initializing the tables")(e.into()))?;
    Ok(migrated)
}

/// Loads the snapshot and replays the log after it; returns the state and how many entries
/// were replayed (commands since the snapshot).
pub(super) fn load(db: &Database, path: &Path) -> Result<(State, u64), StoreError> {
    let storage = |action: &'static str| {
        let path = path.to_path_buf();
        move |e: redb::Error| StoreError::Storage {
            path,
            action,
            source: Box::new(e),
        }
    };
    let txn = db
        .begin_read()
        .map_err(|e| storage("starting a read")(e.into()))?;
    let meta = txn
        .open_table(META)
        .map_err(|e| storage("opening the meta table")(e.into()))?;
    let snapshot_index = meta
        .get(META_SNAPSHOT_INDEX)
        .map_err(|e| storage("reading the snapshot index")(e.into()))?
        .map(|g| g.value());
    let snap = txn
        .open_table(SNAPSHOT)
        .map_err(|e| storage("opening the snapshot table")(e.into()))?;
    let blob = snap
        .get(SNAPSHOT_STATE)
        .map_err(|e| storage("reading the snapshot")(e.into()))?;
    let corrupt = |what: &str, detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        what: what.to_string(),
        detail,
    };
    let mut state = match (snapshot_index, blob) {
        (None, None) => State::new(),
        (Some(index), Some(blob)) => {
            let state: State = serde_json::from_slice(blob.value())
                .map_err(|e| corrupt("the snapshot", e.to_string()))?;
            if state.applied_index() != index {
                return Err(corrupt(
                    "the snapshot",
                    format!(
                        "it holds index {}, the meta table says {index}",
                        state.applied_index()
                    ),
                ));
            }
            state
        }
        (Some(index), None) => {
            return Err(corrupt(
                "the snapshot",
                format!("the meta table names a snapshot at index {index} but there is none"),
            ))
        }
        (None, Some(_)) => {
            return Err(corrupt(
                "the snapshot",
                "there is a snapshot but no snapshot index".into(),
            ))
        }
    };
    let log = txn
        .open_table(LOG)
        .map_err(|e| storage("opening the log table")(e.into()))?;
    let mut replayed = 0;
    let from = state.applied_index().saturating_add(1);
    for entry in log
        .range(from..)
        .map_err(|e| storage("reading the log")(e.into()))?
    {
        let (k, v) = entry.map_err(|e| storage("reading the log")(e.into()))?;
        let index = k.value();
        let cmd = decode_command(path, index, v.value())?;
        state
            .apply(index, &cmd)
            .map_err(|source| StoreError::Replay {
                path: path.to_path_buf(),
                index,
                source,
            })?;
        replayed += 1;
    }
    Ok((state, replayed))
}

pub(super) fn decode_command(path: &Path, index: u64, bytes: &[u8]) -> Result<Command, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        what: format!("log entry {index}"),
        detail: format!("{e} (a command of a newer Volley, or damaged data)"),
    })
}
