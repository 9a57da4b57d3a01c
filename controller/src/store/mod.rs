//! Persistence of the controller's [`State`] in redb, as "latest snapshot + command log after
//! it". Every change goes through [`Db::execute`]: the command is checked against the state,
//! appended to the log in one durable write transaction, and only then made visible to readers.
//! So the log holds exactly the commands that applied, a restart replays it onto the snapshot
//! and gets the same state back, and a later Raft layer can ship the same log entries
//! ([`Db::log_since`]) to other controllers.
//!
//! Archives are **content-addressed**: stored once by their SHA-256 in their own table, outside
//! the log, whatever the number of tests that upload them or runs that start from them. The
//! state only keeps each test's archive size and hash, and no script text at all (a view reads
//! the entry script out of the archive), so N starts of one test cost N small log entries and
//! nothing more, on disk and in memory. Tests are never deleted, so neither is content. A
//! replicated controller will have to copy content alongside the log (by hash).
//!
//! The snapshot is the whole state as JSON; it is rewritten every
//! [`StoreOptions::snapshot_every`] commands and the log before it is dropped, which keeps
//! restarts fast. Its size grows with the number of runs (summaries dominate).
//!
//! When a write fails with an I/O error (a full disk), redb refuses every later write until the
//! database is reopened. The store then reports itself degraded ([`Db::health`]), and reopens
//! itself with back-off ([`Db::recover_if_due`]) until a probe write succeeds; it then reloads
//! the state from disk, so only what was durably written (and so acknowledged) counts.
//!
//! Calls block on disk I/O (one fsync per command); from async code use
//! `tokio::task::spawn_blocking` or accept a short block on a worker thread.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::state::{Applied, Command, State, StateError};

mod health;
mod migrate;

use health::HealthTracker;
pub use health::StoreHealth;

/// The database file inside the data dir.
pub const DB_FILE: &str = "controller.redb";

/// Largest archive the store accepts (the CLI limits archives to the same size).
pub const MAX_ARCHIVE_BYTES: usize = 64 << 20;

/// Commands between automatic snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1000;

/// Version of the table layout and encodings below; bump it on any incompatible change so that
/// an old controller refuses a newer database instead of misreading it. Format 1 (archives by
/// test id, scripts in the state) is migrated to this one when opened (module `migrate`).
pub const FORMAT_VERSION: u64 = 2;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Archives by hex SHA-256: each distinct archive once.
const CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("content");
/// Checkpoints of running runs (merged metrics and coordinator progress), so a restarted
/// controller can resume them. Volatile data, outside the command log: a checkpoint is
/// overwritten about once a second and deleted when its run ends.
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
/// The largest checkpoint read back (a larger one is treated as corrupt).
const MAX_CHECKPOINT_BYTES: usize = 1 << 30;

const META_FORMAT: &str = "format";
const META_SNAPSHOT_INDEX: &str = "snapshot_index";
/// Written by the probe that checks a reopened store accepts writes.
const META_PROBE: &str = "probe";
const SNAPSHOT_STATE: &str = "state";

/// Tuning of a [`Db`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Take a snapshot after this many commands (0: only when [`Db::snapshot`] is called).
    pub snapshot_every: u64,
    /// Largest archive accepted by [`Db::put_archive`] and [`Db::create_test`].
    pub max_archive_bytes: usize,
    /// Most bytes of distinct archives all tests may hold together (`None`: no limit).
    pub max_total_bytes: Option<u64>,
    /// Most bytes of distinct archives the tests of one project may hold (`None`: no limit).
    pub max_project_bytes: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            max_archive_bytes: MAX_ARCHIVE_BYTES,
            max_total_bytes: None,
            max_project_bytes: None,
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
    /// An earlier write failed with an I/O error; the store reopens itself when it can.
    #[error(
        "the controller database {path} does not accept writes since {reason}; it reopens \
         itself once the disk accepts writes again (free space on the --data-dir filesystem), \
         retry then"
    )]
    Unavailable { path: PathBuf, reason: String },
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
    #[error(
        "project {project_id} holds {used} bytes of archives; this archive adds {adding}, over \
         the project's limit of {max} bytes (--max-project-storage); reuse an existing test or \
         raise the limit"
    )]
    ProjectFull {
        project_id: u64,
        used: u64,
        adding: u64,
        max: u64,
    },
    #[error(
        "the controller holds {used} bytes of archives; this archive adds {adding}, over the \
         limit of {max} bytes (--max-storage); reuse an existing test or raise the limit"
    )]
    StoreFull { used: u64, adding: u64, max: u64 },
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

    /// True for a failure of the disk (not of the request): retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } => true,
            StoreError::Storage { source, .. } => is_io(source),
            _ => false,
        }
    }
}

/// Errors after which redb refuses writes until the database is reopened.
fn is_io(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
}

/// The controller's durable state. `Send + Sync`: share it in an `Arc`. Writers are serialized;
/// readers see the last applied command and are only blocked while a command is being put into
/// memory (not while it is written to disk).
pub struct Db {
    path: PathBuf,
    /// `None` only while a reopen after an I/O error has not succeeded yet.
    db: RwLock<Option<Database>>,
    options: StoreOptions,
    /// Serializes commands, snapshots and reopening; holds the count since the last snapshot.
    writer: Mutex<u64>,
    state: RwLock<State>,
    health: HealthTracker,
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

    /// Opens (or creates) the database in `dir`: migrates an older format, loads the latest
    /// snapshot and replays the log after it. Damaged data gives an error naming the file and
    /// what is wrong.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Db, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let db = open_file(&path)?;
        let migrated = init_tables(&db, &path)?;
        let (state, replayed) = load(&db, &path)?;
        tracing::debug!(
            path = %path.display(),
            applied_index = state.applied_index(),
            replayed,
            "controller state loaded"
        );
        let db = Db {
            path,
            db: RwLock::new(Some(db)),
            options,
            writer: Mutex::new(replayed),
            state: RwLock::new(state),
            health: HealthTracker::default(),
        };
        if let Some(from) = migrated {
            // The migrated snapshot holds no scripts; dropping the log drops the old copies.
            let index = db.snapshot()?;
            tracing::info!(
                path = %db.path.display(),
                from,
                to = FORMAT_VERSION,
                index,
                "controller database migrated"
            );
        }
        Ok(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store accepts writes, and if not, why.
    pub fn health(&self) -> StoreHealth {
        self.health.get()
    }

    /// If the store is degraded and its back-off has passed, reopens the database, checks it
    /// accepts a write and reloads the state from it. Returns the health afterwards. Called
    /// before every write and by the controller's periodic maintenance.
    pub fn recover_if_due(&self) -> StoreHealth {
        if self.health.due() {
            let mut since = self.lock_writer();
            if self.health.due() {
                match self.reopen(&mut since) {
                    Ok(()) => {
                        self.health.recovered();
                        tracing::info!(path = %self.path.display(), "controller database writable again");
                    }
                    Err(e) => {
                        self.health.retry_failed(&e.to_string());
                    }
                }
            }
        }
        self.health.get()
    }

    /// Applies `cmd`: checks it against the state, appends it durably to the log, then makes it
    /// visible. A rejected command is neither logged nor applied.
    pub fn execute(&self, cmd: Command) -> Result<Applied, StoreError> {
        self.execute_inner(&cmd, None)
    }

    /// Applies a `CreateTest` command and stores its archive (unless the same bytes are already
    /// stored) in the same transaction, so a test never exists without its archive. The archive
    /// must match the command's size and hash and fit the storage limits.
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

    /// Stores the archive of an existing test (if its content is not stored yet); it must match
    /// the test's recorded size and hash, which keeps archives and state consistent.
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
        self.write(|txn| put_content(self, txn, &sha, archive))
    }

    /// The archive of a test, if it was stored.
    pub fn get_archive(&self, test_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(sha) = self.read(|s| s.test(test_id).map(|t| t.archive_sha256.clone())) else {
            return Ok(None);
        };
        self.get_content(&sha)
    }

    /// The stored archive with this hex SHA-256, if any.
    pub fn get_content(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let limit = self.options.max_archive_bytes.max(MAX_ARCHIVE_BYTES);
        let txn = self.begin_read()?;
        let t = txn
            .open_table(CONTENT)
            .map_err(|e| self.storage("opening the content table", e))?;
        let Some(guard) = t
            .get(sha256)
            .map_err(|e| self.storage("reading an archive", e))?
        else {
            return Ok(None);
        };
        let bytes = guard.value();
        if bytes.len() > limit {
            return Err(self.corrupt(
                format!("the archive {sha256}"),
                format!("{} bytes, more than any archive may have", bytes.len()),
            ));
        }
        Ok(Some(bytes.to_vec()))
    }

    /// Bytes of distinct archives held by all tests, or by the tests of one project.
    pub fn archive_bytes(&self, project_id: Option<u64>) -> u64 {
        self.read(|s| archive_usage(s, project_id, None).0)
    }

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
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
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
        self.recover_if_due();
        let mut since = self.lock_writer();
        let prepared = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let prepared = state.prepare(state.applied_index() + 1, cmd)?;
            if archive.is_some() {
                self.check_quota(&state, cmd)?;
            }
            prepared
        };
        let index = prepared.index();
        let bytes = serde_json::to_vec(cmd).map_err(|source| StoreError::Encode {
            what: "a command",
            source,
        })?;
        self.write(|txn| {
            let mut log = txn
                .open_table(LOG)
                .map_err(|e| self.storage("opening the log table", e))?;
            log.insert(index, bytes.as_slice())
                .map_err(|e| self.storage("appending to the log", e))?;
            if let (Some(archive), Command::CreateTest { archive_sha256, .. }) = (archive, cmd) {
                put_content(self, txn, &archive_sha256.to_ascii_lowercase(), archive)?;
            }
            Ok(())
        })?;
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

    /// Refuses a new test whose archive would take its project or the store over a limit. An
    /// archive some test already has costs nothing more.
    fn check_quota(&self, state: &State, cmd: &Command) -> Result<(), StoreError> {
        let Command::CreateTest {
            archive_sha256,
            archive_size,
            project_id,
            ..
        } = cmd
        else {
            return Ok(());
        };
        let project_id = *project_id;
        let sha = archive_sha256.to_ascii_lowercase();
        let (used, known) = archive_usage(state, None, Some(&sha));
        let adding = if known { 0 } else { *archive_size };
        if let Some(max) = self.options.max_total_bytes {
            if used.saturating_add(adding) > max {
                return Err(StoreError::StoreFull { used, adding, max });
            }
        }
        if let Some(max) = self.options.max_project_bytes {
            let (used, known) = archive_usage(state, Some(project_id), Some(&sha));
            let adding = if known { 0 } else { *archive_size };
            if used.saturating_add(adding) > max {
                return Err(StoreError::ProjectFull {
                    project_id,
                    used,
                    adding,
                    max,
                });
            }
        }
        Ok(())
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
        self.write(|txn| write_snapshot(self, txn, index, &bytes))?;
        **since = 0;
        Ok(index)
    }

    /// Reopens the database file and checks it takes a write; then makes the state on disk the
    /// state in memory (they only differ if a write that reported failure reached the disk).
    fn reopen(&self, since: &mut MutexGuard<'_, u64>) -> Result<(), StoreError> {
        {
            let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
            // The old handle must be closed before the file can be opened again.
            drop(slot.take());
            *slot = Some(open_file(&self.path)?);
        }
        self.write_unchecked(|txn| {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| self.storage("opening the meta table", e))?;
            let n = meta
                .get(META_PROBE)
                .map_err(|e| self.storage("reading the probe", e))?
                .map_or(0, |g| g.value());
            meta.insert(META_PROBE, n.wrapping_add(1))
                .map_err(|e| self.storage("writing the probe", e))?;
            Ok(())
        })?;
        let (disk, replayed) = {
            let slot = self.db.read().unwrap_or_else(PoisonError::into_inner);
            let db = slot.as_ref().ok_or_else(|| self.unavailable())?;
            load(db, &self.path)?
        };
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if *state != disk {
            tracing::warn!(
                memory = state.applied_index(),
                disk = disk.applied_index(),
                "the reopened controller database differs from memory; using the disk's state"
            );
            *state = disk;
        }
        **since = replayed;
        Ok(())
    }

    /// One write transaction: `f` fills it, then it is committed. Fails fast while the store
    /// is degraded; an I/O failure degrades it.
    fn write<R>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if !self.health.get().is_ok() {
            return Err(self.unavailable());
        }
        self.write_unchecked(f)
    }

    fn write_unchecked<R>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let result: Result<R, StoreError> = (|| {
            let slot = self.db.read().unwrap_or_else(PoisonError::into_inner);
            let db = slot.as_ref().ok_or_else(|| self.unavailable())?;
            let txn = db
                .begin_write()
                .map_err(|e| self.storage("starting a write", e))?;
            let r = f(&txn)?;
            txn.commit()
                .map_err(|e| self.storage("committing a write", e))?;
            Ok(r)
        })();
        if let Err(e) = &result {
            if e.is_unavailable() && !matches!(e, StoreError::Unavailable { .. }) {
                tracing::error!(error = %e, "controller database write failed; reopening it when the disk accepts writes");
                self.health.degrade(&e.to_string());
            }
        }
        result
    }

    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        let slot = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let db = slot.as_ref().ok_or_else(|| self.unavailable())?;
        db.begin_read()
            .map_err(|e| self.storage("starting a read", e))
    }

    fn lock_writer(&self) -> MutexGuard<'_, u64> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unavailable(&self) -> StoreError {
        StoreError::Unavailable {
            path: self.path.clone(),
            reason: self
                .health
                .get()
                .reason()
                .unwrap_or("the database is being reopened")
                .to_string(),
        }
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

/// Opens (or creates) the database file.
fn open_file(path: &Path) -> Result<Database, StoreError> {
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
fn init_tables(db: &Database, path: &Path) -> Result<Option<u64>, StoreError> {
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

/// Stores `bytes` as the content `sha256` unless it is there already.
fn put_content(
    db: &Db,
    txn: &WriteTransaction,
    sha256: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut t = txn
        .open_table(CONTENT)
        .map_err(|e| db.storage("opening the content table", e))?;
    let present = t
        .get(sha256)
        .map_err(|e| db.storage("reading an archive", e))?
        .is_some();
    if !present {
        t.insert(sha256, bytes)
            .map_err(|e| db.storage("writing an archive", e))?;
    }
    Ok(())
}

/// Writes `bytes` as the snapshot at `index` and drops the log up to it.
fn write_snapshot(
    db: &Db,
    txn: &WriteTransaction,
    index: u64,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut snap = txn
        .open_table(SNAPSHOT)
        .map_err(|e| db.storage("opening the snapshot table", e))?;
    snap.insert(SNAPSHOT_STATE, bytes)
        .map_err(|e| db.storage("writing the snapshot", e))?;
    let mut meta = txn
        .open_table(META)
        .map_err(|e| db.storage("opening the meta table", e))?;
    meta.insert(META_SNAPSHOT_INDEX, index)
        .map_err(|e| db.storage("writing the snapshot index", e))?;
    let mut log = txn
        .open_table(LOG)
        .map_err(|e| db.storage("opening the log table", e))?;
    log.retain_in(..=index, |_, _| false)
        .map_err(|e| db.storage("truncating the log", e))?;
    Ok(())
}

/// Bytes of the distinct archives of all tests (or one project's), and whether `sha256` is
/// among them.
fn archive_usage(state: &State, project_id: Option<u64>, sha256: Option<&str>) -> (u64, bool) {
    let mut distinct: BTreeMap<&str, u64> = BTreeMap::new();
    for t in state
        .tests()
        .filter(|t| project_id.is_none_or(|p| t.project_id == p))
    {
        distinct.insert(t.archive_sha256.as_str(), t.archive_size);
    }
    let known = sha256.is_some_and(|s| distinct.contains_key(s));
    (distinct.values().sum(), known)
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
mod tests;
