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
//! replicated controller receives content through the Raft log, in chunks, and stores it here
//! by hash the same way (`side.rs`).
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

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use crate::state::{Applied, Command, State};

mod checkpoints;
mod content;
mod error;
pub mod fill;
mod health;
mod migrate;
mod open;
mod replica;
mod resend;
mod side;
#[cfg(test)]
pub(crate) mod stand_in;

use content::put_content;
pub use content::sha256_hex;
pub use error::StoreError;
use open::{decode_command, init_tables, load, open_file};

use health::HealthTracker;
pub use health::StoreHealth;
pub use replica::{Leadership, Proposer, Replica};

/// The database file inside the data dir.
pub const DB_FILE: &str = "controller.redb";

/// Largest archive the store accepts (the CLI limits archives to the same size).
pub const MAX_ARCHIVE_BYTES: usize = 64 << 20;

/// Commands between automatic snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1000;

/// Version of the table layout and encodings below; bump it on any incompatible change so that
/// an old controller refuses a newer database instead of misreading it. Formats 1 (archives by
/// test id, scripts in the state) and 2 (a run's segment sequence in every assignment) are
/// migrated to this one when opened (module `migrate`).
pub const FORMAT_VERSION: u64 = 3;

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
    /// Shared with the Raft node when the store is replicated (it applies commands to it).
    state: Arc<RwLock<State>>,
    health: HealthTracker,
    /// Set when commands go through Raft (`--peer`): see [`Db::replicate`].
    replica: OnceLock<Replica>,
    /// Where commands are proposed when replicated: the Raft driver of `replica` (or, in
    /// tests, a stand-in).
    proposer: OnceLock<Arc<dyn Proposer>>,
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
            state: Arc::new(RwLock::new(state)),
            health: HealthTracker::default(),
            replica: OnceLock::new(),
            proposer: OnceLock::new(),
        };
        if let Some(from) = migrated {
            // The migrated snapshot holds no scripts and each run's sequence once; dropping the
            // log drops the old copies.
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

    /// The state readers see, for a Raft node to apply replicated commands to
    /// (`crate::replication::Node::open_shared`).
    pub fn shared_state(&self) -> Arc<RwLock<State>> {
        self.state.clone()
    }

    fn execute_inner(&self, cmd: &Command, archive: Option<&[u8]>) -> Result<Applied, StoreError> {
        self.recover_if_due();
        if let Some(proposer) = self.proposer() {
            return self.execute_replicated(proposer, cmd, archive);
        }
        let mut since = self.lock_writer();
        let prepared = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let prepared = state.prepare(state.applied_index() + 1, cmd)?;
            // A replayed create (its idempotency key seen) stores nothing new.
            let replayed = matches!(prepared.effect(), crate::state::Effect::Replayed { .. });
            if archive.is_some() && !replayed {
                self.check_quota(&state, cmd)?;
            }
            prepared
        };
        let index = prepared.index();
        let freed = prepared.freed_archives().to_vec();
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
            content::drop_content(self, txn, &freed)
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
        if self.proposer.get().is_some() {
            // The state is the Raft group's, not the one in this file.
            **since = replayed;
            return Ok(());
        }
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
        Command::RequestStop { .. } => "RequestStop",
        Command::ForgetRuns { .. } => "ForgetRuns",
        Command::Once { .. } => "Once",
    }
}

#[cfg(test)]
mod tests;
