//! Persistence of the controller's [`State`] in redb, as "latest snapshot + command log after
//! it". Every change goes through [`Db::execute`]: the command is checked against the state,
//! appended to the log in one durable write transaction, and only then made visible to readers.
//! So the log holds exactly the commands that applied, a restart replays it onto the snapshot
//! and gets the same state back, and a later Raft layer can ship the same log entries
//! ([`Db::log_since`]) to other controllers.
//!
//! Archives are kept in their own table by test id, outside the log: they are large (up to
//! [`MAX_ARCHIVE_BYTES`]) and the state only needs their size and hash. A replicated controller
//! will have to copy them alongside the log (by test id, checked against `archive_sha256`).
//!
//! The snapshot is the whole state as JSON; it is rewritten every
//! [`StoreOptions::snapshot_every`] commands and the log before it is dropped, which keeps
//! restarts fast. Its size grows with the number of runs (summaries dominate).
//!
//! Calls block on disk I/O (one fsync per command); from async code use
//! `tokio::task::spawn_blocking` or accept a short block on a worker thread.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::state::{Applied, Command, Effect, State, StateError};

/// The database file inside the data dir.
pub const DB_FILE: &str = "controller.redb";

/// Largest archive the store accepts (the CLI limits archives to the same size).
pub const MAX_ARCHIVE_BYTES: usize = 64 << 20;

/// Commands between automatic snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1000;

/// Version of the table layout and encodings below; bump it on any incompatible change so that
/// an old controller refuses a newer database instead of misreading it.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const ARCHIVES: TableDefinition<u64, &[u8]> = TableDefinition::new("archives");
/// Checkpoints of running runs (merged metrics and coordinator progress), so a restarted
/// controller can resume them. Volatile data, outside the command log: a checkpoint is
/// overwritten about once a second and deleted when its run ends.
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
/// The largest checkpoint read back (a larger one is treated as corrupt).
const MAX_CHECKPOINT_BYTES: usize = 1 << 30;

/// A table of byte blobs by id (archives by test, checkpoints by run), with the words its
/// errors use.
struct BlobTable {
    table: TableDefinition<'static, u64, &'static [u8]>,
    /// "archive", "checkpoint".
    kind: &'static str,
    /// What the id names: "test", "run".
    owner: &'static str,
    opening: &'static str,
    reading: &'static str,
    writing: &'static str,
    committing: &'static str,
}

const ARCHIVE_BLOBS: BlobTable = BlobTable {
    table: ARCHIVES,
    kind: "archive",
    owner: "test",
    opening: "opening the archive table",
    reading: "reading an archive",
    writing: "writing an archive",
    committing: "committing an archive",
};

const CHECKPOINT_BLOBS: BlobTable = BlobTable {
    table: CHECKPOINTS,
    kind: "checkpoint",
    owner: "run",
    opening: "opening the checkpoint table",
    reading: "reading a checkpoint",
    writing: "writing a checkpoint",
    committing: "committing a checkpoint",
};

const META_FORMAT: &str = "format";
const META_SNAPSHOT_INDEX: &str = "snapshot_index";
const SNAPSHOT_STATE: &str = "state";

/// Tuning of a [`Db`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Take a snapshot after this many commands (0: only when [`Db::snapshot`] is called).
    pub snapshot_every: u64,
    /// Largest archive accepted by [`Db::put_archive`] and [`Db::create_test`].
    pub max_archive_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            max_archive_bytes: MAX_ARCHIVE_BYTES,
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The command does not apply to the current state; nothing was written.
    #[error(transparent)]
    Rejected(#[from] StateError),
    #[error("cannot create the data dir {path}: {source}; check --data-dir and its permissions")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the controller database {path} is in use by another process; stop the other \
         controller or give this one its own --data-dir"
    )]
    InUse { path: PathBuf },
    #[error(
        "cannot open the controller database {path}: {source}; if the file is damaged, restore \
         a backup or move it away to start empty"
    )]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
    },
    #[error("controller database {path}: {action} failed: {source}")]
    Storage {
        path: PathBuf,
        action: &'static str,
        source: Box<redb::Error>,
    },
    #[error(
        "controller database {path} has format {found}, this controller reads format \
         {supported}; run a Volley version that matches the database"
    )]
    Format {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error(
        "controller database {path}: {what} is damaged ({detail}); restore a backup or move \
         the file away to start empty"
    )]
    Corrupt {
        path: PathBuf,
        what: String,
        detail: String,
    },
    #[error(
        "controller database {path}: log entry {index} no longer applies ({source}); the log \
         and the snapshot disagree, restore a backup"
    )]
    Replay {
        path: PathBuf,
        index: u64,
        source: StateError,
    },
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("the archive has {size} bytes, more than the limit of {max} bytes; make it smaller")]
    ArchiveTooLarge { size: usize, max: usize },
    #[error("the archive of {subject} does not match it: {detail}")]
    ArchiveMismatch { subject: String, detail: String },
    #[error("create_test takes a CreateTest command, not {0}")]
    NotCreateTest(&'static str),
    #[error(
        "the log before index {snapshot_index} was compacted into a snapshot; entries after \
         {requested} are no longer all there, send the snapshot instead"
    )]
    Compacted { requested: u64, snapshot_index: u64 },
}

impl StoreError {
    /// The state-machine rejection, if that is what this is (for mapping to 4xx answers).
    pub fn rejection(&self) -> Option<&StateError> {
        match self {
            StoreError::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

/// The controller's durable state. `Send + Sync`: share it in an `Arc`. Writers are serialized;
/// readers see the last applied command and are only blocked while a command is being put into
/// memory (not while it is written to disk).
pub struct Db {
    path: PathBuf,
    db: Database,
    options: StoreOptions,
    /// Serializes commands and snapshots; holds the count since the last snapshot.
    writer: Mutex<u64>,
    state: RwLock<State>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (or creates) the database in `dir` with the default options.
    pub fn open(dir: &Path) -> Result<Db, StoreError> {
        Db::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) the database in `dir`: loads the latest snapshot and replays the log
    /// after it. Damaged data gives an error naming the file and what is wrong.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Db, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path.clone() },
            source => StoreError::Open {
                path: path.clone(),
                source: Box::new(source),
            },
        })?;
        let err = |action: &'static str| {
            let path = path.clone();
            move |e: redb::Error| StoreError::Storage {
                path,
                action,
                source: Box::new(e),
            }
        };

        // Create the tables and check the format in one transaction.
        let txn = db
            .begin_write()
            .map_err(|e| err("starting a write")(e.into()))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| err("opening the meta table")(e.into()))?;
            let found = meta
                .get(META_FORMAT)
                .map_err(|e| err("reading the format")(e.into()))?
                .map(|g| g.value());
            match found {
                Some(found) if found != FORMAT_VERSION => {
                    return Err(StoreError::Format {
                        path,
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
                Some(_) => {}
                None => {
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
                    "opening the archive table",
                    txn.open_table(ARCHIVES).map(drop),
                ),
                (
                    "opening the checkpoint table",
                    txn.open_table(CHECKPOINTS).map(drop),
                ),
            ] {
                res.map_err(|e| err(name)(e.into()))?;
            }
        }
        txn.commit()
            .map_err(|e| err("initializing the tables")(e.into()))?;

        let (state, replayed) = load(&db, &path)?;
        tracing::debug!(
            path = %path.display(),
            applied_index = state.applied_index(),
            replayed,
            "controller state loaded"
        );
        Ok(Db {
            path,
            db,
            options,
            writer: Mutex::new(replayed),
            state: RwLock::new(state),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `cmd`: checks it against the state, appends it durably to the log, then makes it
    /// visible. A rejected command is neither logged nor applied.
    pub fn execute(&self, cmd: Command) -> Result<Applied, StoreError> {
        self.execute_inner(&cmd, None)
    }

    /// Applies a `CreateTest` command and stores its archive in the same transaction, so a test
    /// never exists without its archive. The archive must match the command's size and hash.
    pub fn create_test(&self, cmd: Command, archive: &[u8]) -> Result<Applied, StoreError> {
        let Command::CreateTest {
            archive_sha256,
            archive_size,
            ..
        } = &cmd
        else {
            return Err(StoreError::NotCreateTest(command_name(&cmd)));
        };
        check_archive(
            &self.options,
            "the new test",
            archive_sha256,
            *archive_size,
            archive,
        )?;
        self.execute_inner(&cmd, Some(archive))
    }

    /// Stores (or replaces) the archive of an existing test; it must match the test's recorded
    /// size and hash, which keeps archives and state consistent.
    pub fn put_archive(&self, test_id: u64, archive: &[u8]) -> Result<(), StoreError> {
        let expected = self.read(|s| {
            s.test(test_id)
                .map(|t| (t.archive_sha256.clone(), t.archive_size))
        });
        let (sha, size) = expected.ok_or(StateError::UnknownTest(test_id))?;
        check_archive(
            &self.options,
            &format!("test {test_id}"),
            &sha,
            size,
            archive,
        )?;
        self.write_blob(&ARCHIVE_BLOBS, test_id, Some(archive))
    }

    /// The archive of a test, if one was stored.
    pub fn get_archive(&self, test_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let limit = self.options.max_archive_bytes.max(MAX_ARCHIVE_BYTES);
        self.read_blob(&ARCHIVE_BLOBS, test_id, limit)
    }

    /// Stores (replaces) the checkpoint of a running run, durably.
    pub fn put_checkpoint(&self, run_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_blob(&CHECKPOINT_BLOBS, run_id, Some(bytes))
    }

    /// The last checkpoint of a run, if any.
    pub fn get_checkpoint(&self, run_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_blob(&CHECKPOINT_BLOBS, run_id, MAX_CHECKPOINT_BYTES)
    }

    /// Forgets a run's checkpoint (the run ended).
    pub fn delete_checkpoint(&self, run_id: u64) -> Result<(), StoreError> {
        self.write_blob(&CHECKPOINT_BLOBS, run_id, None)
    }

    /// Stores (`Some`) or removes (`None`) the blob at `id`, durably.
    fn write_blob(&self, b: &BlobTable, id: u64, bytes: Option<&[u8]>) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| self.storage("starting a write", e))?;
        {
            let mut t = txn
                .open_table(b.table)
                .map_err(|e| self.storage(b.opening, e))?;
            match bytes {
                Some(bytes) => t.insert(id, bytes).map(drop),
                None => t.remove(id).map(drop),
            }
            .map_err(|e| self.storage(b.writing, e))?;
        }
        txn.commit().map_err(|e| self.storage(b.committing, e))
    }

    /// The blob at `id`, if any; one larger than `limit` is reported as corrupt.
    fn read_blob(
        &self,
        b: &BlobTable,
        id: u64,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e))?;
        let t = txn
            .open_table(b.table)
            .map_err(|e| self.storage(b.opening, e))?;
        let Some(guard) = t.get(id).map_err(|e| self.storage(b.reading, e))? else {
            return Ok(None);
        };
        let bytes = guard.value();
        if bytes.len() > limit {
            return Err(self.corrupt(
                format!("the {} of {} {id}", b.kind, b.owner),
                format!("{} bytes, more than any {} may have", bytes.len(), b.kind),
            ));
        }
        Ok(Some(bytes.to_vec()))
    }

    /// Runs `f` on the current state. Do not call other `Db` methods inside `f`: it holds the
    /// read lock, and a command waiting for the write lock would deadlock with it.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Writes the current state as the snapshot and drops the log up to it; returns the
    /// snapshot's index. Also runs on its own every `snapshot_every` commands.
    pub fn snapshot(&self) -> Result<u64, StoreError> {
        let mut since = self.lock_writer();
        self.snapshot_locked(&mut since)
    }

    /// The index the current snapshot was taken at (0: none yet).
    pub fn snapshot_index(&self) -> Result<u64, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| self.storage("opening the meta table", e))?;
        let index = meta
            .get(META_SNAPSHOT_INDEX)
            .map_err(|e| self.storage("reading the snapshot index", e))?
            .map(|g| g.value())
            .unwrap_or(0);
        Ok(index)
    }

    /// The logged commands after `index`, in order (for replication). Fails with
    /// [`StoreError::Compacted`] when some of them are only in the snapshot any more.
    pub fn log_since(&self, index: u64) -> Result<Vec<(u64, Command)>, StoreError> {
        // One read transaction, so a concurrent snapshot cannot drop entries between the
        // snapshot-index check and the scan.
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| self.storage("opening the meta table", e))?;
        let snapshot_index = meta
            .get(META_SNAPSHOT_INDEX)
            .map_err(|e| self.storage("reading the snapshot index", e))?
            .map(|g| g.value())
            .unwrap_or(0);
        if index < snapshot_index {
            return Err(StoreError::Compacted {
                requested: index,
                snapshot_index,
            });
        }
        let log = txn
            .open_table(LOG)
            .map_err(|e| self.storage("opening the log table", e))?;
        let Some(from) = index.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in log
            .range(from..)
            .map_err(|e| self.storage("reading the log", e))?
        {
            let (k, v) = entry.map_err(|e| self.storage("reading the log", e))?;
            let i = k.value();
            out.push((i, decode_command(&self.path, i, v.value())?));
        }
        Ok(out)
    }

    fn execute_inner(&self, cmd: &Command, archive: Option<&[u8]>) -> Result<Applied, StoreError> {
        let mut since = self.lock_writer();
        let prepared = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            state.prepare(state.applied_index() + 1, cmd)?
        };
        let index = prepared.index();
        let bytes = serde_json::to_vec(cmd).map_err(|source| StoreError::Encode {
            what: "a command",
            source,
        })?;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| self.storage("starting a write", e))?;
        {
            let mut log = txn
                .open_table(LOG)
                .map_err(|e| self.storage("opening the log table", e))?;
            log.insert(index, bytes.as_slice())
                .map_err(|e| self.storage("appending to the log", e))?;
            if let (Some(archive), Effect::TestCreated { test_id }) = (archive, prepared.effect()) {
                let mut t = txn
                    .open_table(ARCHIVES)
                    .map_err(|e| self.storage("opening the archive table", e))?;
                t.insert(*test_id, archive)
                    .map_err(|e| self.storage("writing an archive", e))?;
            }
        }
        txn.commit()
            .map_err(|e| self.storage("committing a command", e))?;
        // Cannot fail: the writer lock kept the state unchanged since `prepare`.
        let applied = self
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .commit(prepared)?;
        *since += 1;
        if self.options.snapshot_every > 0 && *since >= self.options.snapshot_every {
            // The command is durable either way; a failed snapshot is retried after the next.
            if let Err(e) = self.snapshot_locked(&mut since) {
                tracing::warn!(error = %e, "automatic snapshot failed; the log keeps growing");
            }
        }
        Ok(applied)
    }

    fn snapshot_locked(&self, since: &mut MutexGuard<'_, u64>) -> Result<u64, StoreError> {
        let (index, bytes) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let bytes = serde_json::to_vec(&*state).map_err(|source| StoreError::Encode {
                what: "the state snapshot",
                source,
            })?;
            (state.applied_index(), bytes)
        };
        let txn = self
            .db
            .begin_write()
            .map_err(|e| self.storage("starting a write", e))?;
        {
            let mut snap = txn
                .open_table(SNAPSHOT)
                .map_err(|e| self.storage("opening the snapshot table", e))?;
            snap.insert(SNAPSHOT_STATE, bytes.as_slice())
                .map_err(|e| self.storage("writing the snapshot", e))?;
            let mut meta = txn
                .open_table(META)
                .map_err(|e| self.storage("opening the meta table", e))?;
            meta.insert(META_SNAPSHOT_INDEX, index)
                .map_err(|e| self.storage("writing the snapshot index", e))?;
            let mut log = txn
                .open_table(LOG)
                .map_err(|e| self.storage("opening the log table", e))?;
            log.retain_in(..=index, |_, _| false)
                .map_err(|e| self.storage("truncating the log", e))?;
        }
        txn.commit()
            .map_err(|e| self.storage("committing the snapshot", e))?;
        **since = 0;
        Ok(index)
    }

    fn lock_writer(&self) -> MutexGuard<'_, u64> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn storage(&self, action: &'static str, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Storage {
            path: self.path.clone(),
            action,
            source: Box::new(e.into()),
        }
    }

    fn corrupt(&self, what: String, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
            detail,
        }
    }
}

fn check_archive(
    options: &StoreOptions,
    subject: &str,
    sha256: &str,
    size: u64,
    archive: &[u8],
) -> Result<(), StoreError> {
    if archive.len() > options.max_archive_bytes {
        return Err(StoreError::ArchiveTooLarge {
            size: archive.len(),
            max: options.max_archive_bytes,
        });
    }
    let mismatch = |detail: String| StoreError::ArchiveMismatch {
        subject: subject.to_string(),
        detail,
    };
    if archive.len() as u64 != size {
        return Err(mismatch(format!(
            "it has {} bytes, the test says {size}",
            archive.len()
        )));
    }
    let actual = sha256_hex(archive);
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(mismatch(format!(
            "its SHA-256 is {actual}, the test says {sha256}"
        )));
    }
    Ok(())
}

/// Hex SHA-256, as `archive_sha256` expects it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads the snapshot and replays the log after it; returns the state and how many entries
/// were replayed (commands since the snapshot).
fn load(db: &Database, path: &Path) -> Result<(State, u64), StoreError> {
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

fn decode_command(path: &Path, index: u64, bytes: &[u8]) -> Result<Command, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        what: format!("log entry {index}"),
        detail: format!("{e} (a command of a newer Volley, or damaged data)"),
    })
}

fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::CreateTest { .. } => "CreateTest",
        Command::CreateRun { .. } => "CreateRun",
        Command::Transition { .. } => "Transition",
        Command::UpdateRun { .. } => "UpdateRun",
        Command::Assign { .. } => "Assign",
        Command::SetSummary { .. } => "SetSummary",
        Command::CreateToken { .. } => "CreateToken",
        Command::RevokeToken { .. } => "RevokeToken",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AbortReason, Assignment, ProcessingStatus, ResultStatus, RunStatus};
    use crate::state::RunChanges;
    use serde_json::json;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "volley-store-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const T0: &str = "2024-05-01T12:00:00Z";
    const ARCHIVE: &[u8] = b"not really a tar, but bytes all the same";

    fn open(dir: &TempDir) -> Db {
        Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}"))
    }

    fn open_every(dir: &TempDir, snapshot_every: u64) -> Db {
        Db::open_with(
            &dir.0,
            StoreOptions {
                snapshot_every,
                ..StoreOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("open: {e}"))
    }

    fn exec(db: &Db, cmd: Command) -> Applied {
        db.execute(cmd.clone())
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
    }

    fn create_test_cmd(archive: &[u8]) -> Command {
        Command::CreateTest {
            name: "checkout".into(),
            project_id: 1,
            archive_sha256: sha256_hex(archive),
            archive_size: archive.len() as u64,
            config: json!({"vus": 3}),
            script: "export default () => {}".into(),
            at: T0.into(),
        }
    }

    fn create_run_cmd(test_id: u64) -> Command {
        Command::CreateRun {
            test_id,
            env: BTreeMap::new(),
            note: String::new(),
            config: None,
            script: None,
            run_process: None,
            user_id: 1,
            at: T0.into(),
        }
    }

    fn move_cmd(run_id: u64, to: RunStatus, at: &str) -> Command {
        Command::Transition {
            run_id,
            to,
            reason: to.name().to_lowercase(),
            at: at.into(),
            changes: RunChanges::default(),
        }
    }

    /// Test 1 with two runs: run 1 finished with a summary, run 2 queued.
    fn populate(db: &Db) {
        let a = db.create_test(create_test_cmd(ARCHIVE), ARCHIVE);
        assert_eq!(a.ok().and_then(|a| a.test_id()), Some(1));
        exec(db, create_run_cmd(1));
        exec(db, create_run_cmd(1));
        for (to, at) in [
            (RunStatus::Validated, "2024-05-01T12:00:01Z"),
            (RunStatus::Queued, "2024-05-01T12:00:01Z"),
            (RunStatus::Initializing, "2024-05-01T12:00:02Z"),
            (RunStatus::Running, "2024-05-01T12:00:03Z"),
            (RunStatus::Finished, "2024-05-01T12:00:33Z"),
        ] {
            exec(db, move_cmd(1, to, at));
        }
        exec(
            db,
            Command::Assign {
                run_id: 2,
                assignments: vec![Assignment {
                    agent: "gen-1".into(),
                    segment: "0:1".into(),
                    sequence: "0,1".into(),
                }],
            },
        );
        exec(db, move_cmd(2, RunStatus::Queued, T0));
        exec(
            db,
            Command::SetSummary {
                run_id: 1,
                summary: json!({"metrics": {"http_reqs": {"values": {"count": 3000, "rate": 99.5}}}}),
            },
        );
    }

    #[test]
    fn restart_keeps_everything() {
        let dir = TempDir::new("restart");
        let before = {
            let db = open(&dir);
            populate(&db);
            db.read(State::clone)
        };
        let db = open(&dir);
        let after = db.read(State::clone);
        assert_eq!(after, before);
        let r = after
            .run(1)
            .cloned()
            .unwrap_or_else(|| panic!("run 1 lost"));
        assert_eq!(r.run_status, RunStatus::Finished);
        assert_eq!(r.duration, 30.0);
        assert_eq!(r.processing_status, ProcessingStatus::Finished);
        assert_eq!(r.transitions.len(), 6);
        assert!(r.summary.is_some());
        assert_eq!(after.run(2).map(|r| r.assignments.len()), Some(1));
        assert_eq!(
            after.test(1).map(|t| t.test_run_ids.clone()),
            Some(vec![1, 2])
        );
        assert_eq!(db.get_archive(1).ok().flatten().as_deref(), Some(ARCHIVE));
        // Ids continue after a restart.
        assert_eq!(exec(&db, create_run_cmd(1)).run_id(), Some(3));
        assert_eq!(
            exec(&db, create_run_cmd(1)).index,
            before.applied_index() + 2
        );
    }

    #[test]
    fn replay_after_snapshot() {
        let dir = TempDir::new("snapshot");
        let before = {
            let db = open_every(&dir, 0);
            populate(&db);
            let index = db.snapshot().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(index, db.read(State::applied_index));
            assert_eq!(db.snapshot_index().ok(), Some(index));
            assert!(db.log_since(index).map(|l| l.is_empty()).unwrap_or(false));
            exec(&db, create_run_cmd(1));
            exec(
                &db,
                move_cmd(3, RunStatus::AbortedByUser, "2024-05-01T12:10:00Z"),
            );
            let log = db.log_since(index).unwrap_or_default();
            assert_eq!(
                log.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
                vec![index + 1, index + 2]
            );
            assert!(matches!(log[0].1, Command::CreateRun { .. }));
            assert!(matches!(
                db.log_since(index - 1),
                Err(StoreError::Compacted { requested, snapshot_index })
                    if requested == index - 1 && snapshot_index == index
            ));
            db.read(State::clone)
        };
        let db = open_every(&dir, 0);
        assert_eq!(db.read(State::clone), before);
        assert_eq!(
            db.read(|s| s.run(3).map(|r| r.run_status)),
            Some(RunStatus::AbortedByUser)
        );
    }

    #[test]
    fn automatic_snapshots_truncate_the_log() {
        let dir = TempDir::new("auto");
        let before = {
            let db = open_every(&dir, 4);
            populate(&db); // 11 commands: snapshots at 4 and 8
            assert_eq!(db.snapshot_index().ok(), Some(8));
            assert_eq!(db.log_since(8).map(|l| l.len()).ok(), Some(3));
            assert!(matches!(db.log_since(0), Err(StoreError::Compacted { .. })));
            db.read(State::clone)
        };
        // The count since the snapshot survives the restart: one more command snapshots again.
        let db = open_every(&dir, 4);
        assert_eq!(db.read(State::clone), before);
        exec(&db, create_run_cmd(1));
        assert_eq!(db.snapshot_index().ok(), Some(12));
        assert_eq!(db.log_since(12).map(|l| l.len()).ok(), Some(0));
        drop(db);
        let db = open_every(&dir, 4);
        assert_eq!(db.read(|s| (s.applied_index(), s.runs().count())), (12, 3));
    }

    #[test]
    fn failed_commands_are_not_logged() {
        let dir = TempDir::new("failed");
        let db = open(&dir);
        populate(&db);
        let index = db.read(State::applied_index);
        let e = db.execute(move_cmd(1, RunStatus::Running, T0));
        let msg = e.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg,
            "run 1 is FINISHED (terminal); it cannot move to RUNNING: terminal statuses are final"
        );
        assert!(e.as_ref().err().and_then(StoreError::rejection).is_some());
        assert!(db.execute(create_run_cmd(77)).is_err());
        assert_eq!(db.read(State::applied_index), index);
        assert_eq!(db.log_since(0).map(|l| l.len()).ok(), Some(index as usize));
        // The next command takes the next index: no holes from rejected commands.
        assert_eq!(exec(&db, create_run_cmd(1)).index, index + 1);
        drop(db);
        let db = open(&dir);
        assert_eq!(db.read(State::applied_index), index + 1);
    }

    #[test]
    fn concurrent_executes_keep_ids_unique() {
        let dir = TempDir::new("threads");
        let db = Arc::new(open_every(&dir, 7));
        exec(&db, create_test_cmd(ARCHIVE));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db = Arc::clone(&db);
                std::thread::spawn(move || {
                    (0..20)
                        .map(|_| {
                            let a = exec(&db, create_run_cmd(1));
                            // Reads run alongside writes.
                            let seen = db.read(|s| s.run(a.run_id().unwrap_or(0)).is_some());
                            assert!(seen);
                            a.run_id().unwrap_or(0)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids = Vec::new();
        for h in handles {
            ids.extend(h.join().unwrap_or_default());
        }
        let unique: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), 160);
        assert_eq!(unique, (1..=160).collect::<BTreeSet<u64>>());
        let before = db.read(State::clone);
        drop(db);
        let db = open(&dir);
        assert_eq!(db.read(State::clone), before);
    }

    #[test]
    fn archives() {
        let dir = TempDir::new("archives");
        let db = Db::open_with(
            &dir.0,
            StoreOptions {
                max_archive_bytes: 64,
                ..StoreOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(db.get_archive(1), Ok(None)));
        assert!(matches!(
            db.put_archive(1, ARCHIVE),
            Err(StoreError::Rejected(StateError::UnknownTest(1)))
        ));

        // A mismatched archive creates nothing.
        let mut cmd = create_test_cmd(ARCHIVE);
        if let Command::CreateTest { archive_sha256, .. } = &mut cmd {
            *archive_sha256 = sha256_hex(b"other");
        }
        let e = db.create_test(cmd, ARCHIVE).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("does not match"));
        let big = [7u8; 65];
        let e = db.create_test(create_test_cmd(&big), &big);
        assert!(matches!(
            e,
            Err(StoreError::ArchiveTooLarge { size: 65, max: 64 })
        ));
        assert!(matches!(
            db.create_test(create_run_cmd(1), ARCHIVE),
            Err(StoreError::NotCreateTest("CreateRun"))
        ));
        assert_eq!(db.read(|s| s.tests().count()), 0);

        // Test created first, archive put afterwards.
        exec(&db, create_test_cmd(ARCHIVE));
        assert!(matches!(db.get_archive(1), Ok(None)));
        assert!(matches!(
            db.put_archive(1, b"tampered"),
            Err(StoreError::ArchiveMismatch { .. })
        ));
        assert!(db.put_archive(1, ARCHIVE).is_ok());
        assert_eq!(db.get_archive(1).ok().flatten().as_deref(), Some(ARCHIVE));
        drop(db);
        let db = open(&dir);
        assert_eq!(db.get_archive(1).ok().flatten().as_deref(), Some(ARCHIVE));
    }

    #[test]
    fn checkpoints_are_stored_replaced_kept_and_deleted() {
        let dir = TempDir::new("checkpoints");
        {
            let db = open(&dir);
            assert_eq!(db.get_checkpoint(7).ok().flatten(), None);
            db.put_checkpoint(7, b"first")
                .unwrap_or_else(|e| panic!("{e}"));
            db.put_checkpoint(7, b"second")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Durable across a reopen; deleting forgets it.
        let db = open(&dir);
        assert_eq!(
            db.get_checkpoint(7).ok().flatten().as_deref(),
            Some(&b"second"[..])
        );
        db.delete_checkpoint(7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(db.get_checkpoint(7).ok().flatten(), None);
        // Deleting what is not there is fine.
        db.delete_checkpoint(8).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    /// Writes `value` at `key` of a table, with the `Db` closed.
    fn poke<K: redb::Key + 'static>(
        dir: &TempDir,
        table: TableDefinition<K, &[u8]>,
        key: K::SelfType<'_>,
        value: &[u8],
    ) {
        let db = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut t = txn.open_table(table).unwrap_or_else(|e| panic!("{e}"));
            t.insert(key, value).unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }

    fn open_err(dir: &TempDir) -> String {
        match Db::open(&dir.0) {
            Ok(_) => panic!("opened damaged data"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn damaged_log_entry_is_a_clear_error() {
        let dir = TempDir::new("badlog");
        drop({
            let db = open(&dir);
            populate(&db);
            db
        });
        // A command cut in half (e.g. a torn write by another tool).
        let full = serde_json::to_vec(&create_run_cmd(1)).unwrap_or_default();
        poke(&dir, LOG, 13, &full[..full.len() / 2]);
        let msg = open_err(&dir);
        assert!(msg.contains("log entry 13 is damaged"), "{msg}");
        assert!(msg.contains(DB_FILE), "{msg}");

        // A command of an unknown kind.
        poke(&dir, LOG, 13, br#"{"type":"Teleport","run_id":1}"#);
        let msg = open_err(&dir);
        assert!(msg.contains("unknown variant `Teleport`"), "{msg}");

        // A well-formed command that does not apply.
        let bad = serde_json::to_vec(&move_cmd(1, RunStatus::Queued, T0)).unwrap_or_default();
        poke(&dir, LOG, 13, &bad);
        let msg = open_err(&dir);
        assert!(
            msg.contains("log entry 13 no longer applies (run 1 is FINISHED (terminal)"),
            "{msg}"
        );
    }

    /// Statuses are stored as the k6 cloud's numbers and abort reasons as their JSON: log
    /// entries written with plain integers and JSON values (as before the typed fields) still
    /// apply, and snapshots keep writing the same forms.
    #[test]
    fn statuses_and_abort_reasons_keep_their_stored_form() {
        let dir = TempDir::new("statusnum");
        drop({
            let db = open(&dir);
            populate(&db);
            db
        });
        poke(
            &dir,
            LOG,
            12,
            br#"{"type":"Transition","run_id":2,"to":1,"reason":"placed","at":"2024-05-01T12:00:05Z"}"#,
        );
        poke(
            &dir,
            LOG,
            13,
            br#"{"type":"UpdateRun","run_id":2,"result_status":1,"processing_status":3,"abort_reason":{"reason":"limit","limit":"max_groups","message":"41 > 40"}}"#,
        );
        let db = open(&dir);
        let r = db.read(|s| s.run(2).cloned());
        let r = r.unwrap_or_else(|| panic!("run 2 lost"));
        assert_eq!(r.run_status, RunStatus::Initializing);
        assert_eq!(r.result_status, ResultStatus::Failed);
        assert_eq!(r.processing_status, ProcessingStatus::Error);
        let limit = AbortReason::Limit {
            limit: "max_groups".into(),
            message: "41 > 40".into(),
        };
        assert_eq!(r.abort_reason, Some(limit));
        assert_eq!(db.snapshot().ok(), Some(13));
        drop(db);
        let raw = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let txn = raw.begin_read().unwrap_or_else(|e| panic!("{e}"));
        let t = txn.open_table(SNAPSHOT).unwrap_or_else(|e| panic!("{e}"));
        let snap = t.get(SNAPSHOT_STATE).ok().flatten();
        let snap: serde_json::Value = snap
            .and_then(|v| serde_json::from_slice(v.value()).ok())
            .unwrap_or_default();
        let run = &snap["runs"]["2"];
        assert_eq!(run["run_status"], 1, "{run}");
        assert_eq!(run["result_status"], 1, "{run}");
        assert_eq!(run["processing_status"], 3, "{run}");
        assert_eq!(
            run["abort_reason"],
            json!({"reason": "limit", "limit": "max_groups", "message": "41 > 40"})
        );
        assert_eq!(
            run["transitions"][2],
            json!({"from": 0, "to": 1, "at": "2024-05-01T12:00:05Z", "reason": "placed"})
        );
    }

    #[test]
    fn damaged_snapshot_is_a_clear_error() {
        let dir = TempDir::new("badsnap");
        drop({
            let db = open(&dir);
            populate(&db);
            let _ = db.snapshot();
            db
        });
        poke(&dir, SNAPSHOT, SNAPSHOT_STATE, b"{\"tests\":{");
        let msg = open_err(&dir);
        assert!(msg.contains("the snapshot is damaged"), "{msg}");
    }

    #[test]
    fn newer_format_is_refused() {
        let dir = TempDir::new("format");
        drop(open(&dir));
        {
            let db = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
            let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
            {
                let mut t = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
                t.insert(META_FORMAT, FORMAT_VERSION + 1)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            txn.commit().unwrap_or_else(|e| panic!("{e}"));
        }
        let msg = open_err(&dir);
        assert!(
            msg.contains("has format 2, this controller reads format 1"),
            "{msg}"
        );
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = TempDir::new("garbage");
        fs::create_dir_all(&dir.0).unwrap_or_else(|e| panic!("{e}"));
        let junk: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        fs::write(dir.0.join(DB_FILE), junk).unwrap_or_else(|e| panic!("{e}"));
        let msg = open_err(&dir);
        assert!(
            msg.starts_with("cannot open the controller database"),
            "{msg}"
        );
        assert!(msg.contains("Not a redb database"), "{msg}");
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let dir = TempDir::new("truncated");
        drop({
            let db = open(&dir);
            populate(&db);
            db
        });
        let path = dir.0.join(DB_FILE);
        let bytes = fs::read(&path).unwrap_or_default();
        fs::write(&path, &bytes[..bytes.len() / 3]).unwrap_or_else(|e| panic!("{e}"));
        let msg = open_err(&dir);
        assert!(
            msg.starts_with("cannot open the controller database"),
            "{msg}"
        );
        assert!(msg.contains("truncated"), "{msg}");
    }

    #[test]
    fn second_open_of_same_dir_is_refused() {
        let dir = TempDir::new("twice");
        let _db = open(&dir);
        let msg = open_err(&dir);
        assert!(
            msg.contains("is in use by another process; stop the other controller"),
            "{msg}"
        );
    }

    #[test]
    fn db_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Db>();
    }
}
