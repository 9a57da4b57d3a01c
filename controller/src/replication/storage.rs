//! raft-rs' [`Storage`] on redb: the Raft log, the hard state (term, vote, commit), the conf
//! state (the voters) and the latest snapshot, in their own file [`RAFT_FILE`] in the controller's
//! data dir, beside the store's `controller.redb` (which keeps archives and checkpoints).
//!
//! # Durability (fsync)
//!
//! Every call that changes the file is **one redb write transaction committed with redb's
//! default durability** (`Durability::Immediate`): the commit returns only after the data and
//! redb's commit slot were fsynced. [`RaftStorage::persist`] writes a Ready's snapshot, new
//! entries and hard state in that one transaction, so a crash leaves either all of them or none.
//! raft-rs requires exactly this: entries and hard state are durable before the messages that
//! acknowledge them are sent (the node only hands messages to the driver after `persist`
//! returned, see [`super::node`]). A vote is therefore never forgotten by a restart, and an
//! entry a follower acknowledged survives its crash. Compaction ([`RaftStorage::compact`]) writes
//! the snapshot and drops the log before it in one transaction too.
//!
//! The commit index inside the hard state may lag behind on disk (raft-rs does not need it
//! durable: a restarted node learns it again from the leader); it is written with the next
//! transaction, and by [`RaftStorage::set_commit`] when only it moved.
//!
//! Reads ([`Storage`]'s methods) go to redb except for the hard state, the conf state, the
//! snapshot's metadata and the first/last index, which are kept in memory and written through.
//! See docs/ha.md.

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use thiserror::Error;

/// The Raft file inside the data dir.
pub const RAFT_FILE: &str = "raft.redb";

/// Version of this file's layout; a newer one is refused instead of misread.
pub const RAFT_FORMAT_VERSION: u64 = 1;

/// The largest snapshot read back (a larger one is treated as damaged). The state's snapshot
/// grows with the number of runs; the store bounds its own checkpoints the same way.
pub const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

/// Log entries by Raft index, each one an `eraftpb::Entry` in raft's protobuf encoding.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_entries");
/// Hard state, conf state, snapshot metadata (protobuf) and the format (8 bytes LE).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// The snapshot's data: the controller `State` as JSON, as the store's snapshots are.
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_snapshot");

const META_FORMAT: &str = "format";
const META_HARD_STATE: &str = "hard_state";
const META_CONF_STATE: &str = "conf_state";
const META_SNAPSHOT: &str = "snapshot_meta";
const SNAPSHOT_DATA: &str = "data";

/// Why the Raft file could not be read or written. Each names the file and the step.
#[derive(Debug, Error)]
pub enum RaftStoreError {
    #[error("cannot create the data dir {path}: {source}; check --data-dir and its permissions")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the Raft log {path} is in use by another process; stop the other controller or give \
         this one its own --data-dir"
    )]
    InUse { path: PathBuf },
    #[error("cannot open the Raft log {path}: {source}")]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
    },
    #[error("Raft log {path}: {action} failed: {source}")]
    Storage {
        path: PathBuf,
        action: &'static str,
        source: Box<redb::Error>,
    },
    #[error(
        "Raft log {path}: {what} is damaged ({detail}); move the file away and let the node \
         catch up from the others (it receives a snapshot)"
    )]
    Corrupt {
        path: PathBuf,
        what: String,
        detail: String,
    },
    #[error(
        "Raft log {path} has format {found}, this controller reads format {supported}; run a \
         Volley version that matches it"
    )]
    Format {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("Raft log {path}: {detail}")]
    Misuse { path: PathBuf, detail: String },
}

impl From<RaftStoreError> for raft::Error {
    fn from(e: RaftStoreError) -> raft::Error {
        raft::Error::Store(raft::StorageError::Other(Box::new(e)))
    }
}

/// What one Ready asks to make durable, written in one transaction by [`RaftStorage::persist`].
#[derive(Debug, Default)]
pub struct Persist<'a> {
    /// A snapshot received from the leader: replaces the log and the conf state.
    pub snapshot: Option<&'a Snapshot>,
    /// New entries; any stored entry at or after the first one's index is replaced.
    pub entries: &'a [Entry],
    pub hard_state: Option<&'a HardState>,
}

/// raft-rs storage in a redb file. Owned by the `RawNode`; changed only through `&mut self`.
pub struct RaftStorage {
    path: PathBuf,
    db: Database,
    hard_state: HardState,
    conf_state: ConfState,
    snapshot_meta: SnapshotMetadata,
    /// Index of the last entry (the snapshot's index when the log after it is empty).
    last_index: u64,
}

impl std::fmt::Debug for RaftStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStorage")
            .field("path", &self.path)
            .field("hard_state", &self.hard_state)
            .field("conf_state", &self.conf_state)
            .field("snapshot_index", &self.snapshot_meta.index)
            .field("last_index", &self.last_index)
            .finish()
    }
}

impl RaftStorage {
    /// Opens (or creates) [`RAFT_FILE`] in `dir` and loads its metadata.
    pub fn open(dir: &Path) -> Result<RaftStorage, RaftStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| RaftStoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(RAFT_FILE);
        let db = Database::create(&path).map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                RaftStoreError::InUse { path: path.clone() }
            }
            source => RaftStoreError::Open {
                path: path.clone(),
                source: Box::new(source),
            },
        })?;
        let mut s = RaftStorage {
            path,
            db,
            hard_state: HardState::default(),
            conf_state: ConfState::default(),
            snapshot_meta: SnapshotMetadata::default(),
            last_index: 0,
        };
        s.init_and_load()?;
        Ok(s)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a membership was ever written (by [`Self::initialize`] or a snapshot).
    pub fn is_initialized(&self) -> bool {
        !self.conf_state.voters.is_empty()
    }

    /// Writes the initial membership of a new group: static membership, the same `voters` on
    /// every node. Does nothing if the file already has one (the stored one wins).
    pub fn initialize(&mut self, voters: &[u64]) -> Result<(), RaftStoreError> {
        if self.is_initialized() {
            return Ok(());
        }
        let cs = ConfState::from((voters.iter().copied(), std::iter::empty()));
        self.write("writing the initial membership", |txn, me| {
            put_meta(me, txn, META_CONF_STATE, &cs)
        })?;
        self.conf_state = cs;
        Ok(())
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The index the latest snapshot covers (0: none).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_meta.index
    }

    /// Index of the first entry still in the log.
    pub fn first_log_index(&self) -> u64 {
        self.snapshot_meta.index + 1
    }

    pub fn last_log_index(&self) -> u64 {
        self.last_index
    }

    /// Makes one Ready durable: the snapshot (dropping the whole log, whose entries it covers or
    /// contradicts), the entries (dropping any conflicting suffix) and the hard state, in one
    /// fsynced transaction.
    pub fn persist(&mut self, p: Persist<'_>) -> Result<(), RaftStoreError> {
        let mut snapshot_meta = self.snapshot_meta.clone();
        let mut conf_state = self.conf_state.clone();
        let mut last_index = self.last_index;
        let mut hard_state = self.hard_state.clone();
        if let Some(snap) = p.snapshot {
            let meta = snap.get_metadata();
            if meta.index < self.snapshot_meta.index {
                return Err(self.misuse(format!(
                    "a snapshot at index {} is older than the stored one at {}",
                    meta.index, self.snapshot_meta.index
                )));
            }
            snapshot_meta = meta.clone();
            conf_state = meta.get_conf_state().clone();
            last_index = meta.index;
            hard_state.term = hard_state.term.max(meta.term);
            hard_state.commit = hard_state.commit.max(meta.index);
        }
        if let Some(first) = p.entries.first() {
            if first.index <= snapshot_meta.index {
                return Err(self.misuse(format!(
                    "entry {} is covered by the snapshot at {}",
                    first.index, snapshot_meta.index
                )));
            }
            if first.index > last_index + 1 {
                return Err(self.misuse(format!(
                    "entry {} leaves a gap after the last entry {last_index}",
                    first.index
                )));
            }
            last_index = p.entries[p.entries.len() - 1].index;
        }
        if let Some(hs) = p.hard_state {
            hard_state = hs.clone();
        }
        self.write("persisting a Ready", |txn, me| {
            let mut entries = txn
                .open_table(ENTRIES)
                .map_err(|e| me.storage("opening the entries table", e))?;
            if let Some(snap) = p.snapshot {
                entries
                    .retain_in(0u64.., |_, _| false)
                    .map_err(|e| me.storage("dropping the log", e))?;
                put_meta(me, txn, META_SNAPSHOT, snap.get_metadata())?;
                put_meta(
                    me,
                    txn,
                    META_CONF_STATE,
                    snap.get_metadata().get_conf_state(),
                )?;
                let mut t = txn
                    .open_table(SNAPSHOT)
                    .map_err(|e| me.storage("opening the snapshot table", e))?;
                t.insert(SNAPSHOT_DATA, snap.get_data())
                    .map_err(|e| me.storage("writing the snapshot", e))?;
            }
            if let Some(first) = p.entries.first() {
                entries
                    .retain_in(first.index.., |_, _| false)
                    .map_err(|e| me.storage("dropping conflicting entries", e))?;
                for e in p.entries {
                    let bytes = encode(me, "an entry", e)?;
                    entries
                        .insert(e.index, bytes.as_slice())
                        .map_err(|e| me.storage("appending an entry", e))?;
                }
            }
            drop(entries);
            put_meta(me, txn, META_HARD_STATE, &hard_state)
        })?;
        self.snapshot_meta = snapshot_meta;
        self.conf_state = conf_state;
        self.last_index = last_index;
        self.hard_state = hard_state;
        Ok(())
    }

    /// Records a new commit index (only written; its loss is harmless, see the module doc).
    pub fn set_commit(&mut self, commit: u64) -> Result<(), RaftStoreError> {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.write("writing the commit index", |txn, me| {
            put_meta(me, txn, META_HARD_STATE, &hs)
        })?;
        self.hard_state = hs;
        Ok(())
    }

    /// Records the conf state after a membership change was applied.
    pub fn set_conf_state(&mut self, cs: ConfState) -> Result<(), RaftStoreError> {
        self.write("writing the membership", |txn, me| {
            put_meta(me, txn, META_CONF_STATE, &cs)
        })?;
        self.conf_state = cs;
        Ok(())
    }

    /// Takes a snapshot at `index` (an applied index, so at most the last entry) holding `data`
    /// and drops the log up to it, in one transaction. A later Storage::snapshot call returns it,
    /// for followers too far behind.
    pub fn compact(&mut self, index: u64, data: &[u8]) -> Result<(), RaftStoreError> {
        if index <= self.snapshot_meta.index {
            return Ok(());
        }
        if index > self.last_index {
            return Err(self.misuse(format!(
                "cannot compact to {index}: the last entry is {}",
                self.last_index
            )));
        }
        let term = self.term_of(index)?;
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        meta.set_conf_state(self.conf_state.clone());
        self.write("compacting the log", |txn, me| {
            let mut entries = txn
                .open_table(ENTRIES)
                .map_err(|e| me.storage("opening the entries table", e))?;
            entries
                .retain_in(..=index, |_, _| false)
                .map_err(|e| me.storage("dropping compacted entries", e))?;
            drop(entries);
            put_meta(me, txn, META_SNAPSHOT, &meta)?;
            let mut t = txn
                .open_table(SNAPSHOT)
                .map_err(|e| me.storage("opening the snapshot table", e))?;
            t.insert(SNAPSHOT_DATA, data)
                .map_err(|e| me.storage("writing the snapshot", e))?;
            Ok(())
        })?;
        self.snapshot_meta = meta;
        Ok(())
    }

    /// The latest snapshot, data included (empty data when there is none yet).
    pub fn load_snapshot(&self) -> Result<Snapshot, RaftStoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e))?;
        let t = txn
            .open_table(SNAPSHOT)
            .map_err(|e| self.storage("opening the snapshot table", e))?;
        let data = match t
            .get(SNAPSHOT_DATA)
            .map_err(|e| self.storage("reading the snapshot", e))?
        {
            Some(g) => {
                let bytes = g.value();
                if bytes.len() > MAX_SNAPSHOT_BYTES {
                    return Err(self.corrupt(
                        "the snapshot",
                        format!("{} bytes, more than any snapshot may have", bytes.len()),
                    ));
                }
                bytes.to_vec()
            }
            None => Vec::new(),
        };
        let mut snap = Snapshot::default();
        snap.set_metadata(self.snapshot_meta.clone());
        snap.set_data(data.into());
        Ok(snap)
    }

    fn term_of(&self, idx: u64) -> Result<u64, RaftStoreError> {
        if idx == self.snapshot_meta.index {
            return Ok(self.snapshot_meta.term);
        }
        match self.read_entries(idx, idx + 1, None)?.first() {
            Some(e) => Ok(e.term),
            None => Err(self.corrupt(&format!("entry {idx}"), "it is missing from the log".into())),
        }
    }

    /// Entries in `[low, high)`, at most `max_size` bytes (but at least one).
    fn read_entries(
        &self,
        low: u64,
        high: u64,
        max_size: Option<u64>,
    ) -> Result<Vec<Entry>, RaftStoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e))?;
        let t = txn
            .open_table(ENTRIES)
            .map_err(|e| self.storage("opening the entries table", e))?;
        let mut out = Vec::new();
        let mut size = 0u64;
        let range = t
            .range(low..high)
            .map_err(|e| self.storage("reading the log", e))?;
        for (expect, item) in (low..).zip(range) {
            let (k, v) = item.map_err(|e| self.storage("reading the log", e))?;
            let index = k.value();
            let what = || format!("entry {index}");
            let mut e = Entry::default();
            e.merge_from_bytes(v.value())
                .map_err(|err| self.corrupt(&what(), err.to_string()))?;
            if index != expect || e.index != index {
                return Err(self.corrupt(
                    &what(),
                    format!("expected entry {expect}, found one with index {}", e.index),
                ));
            }
            size += v.value().len() as u64;
            if let Some(max) = max_size {
                if !out.is_empty() && size > max {
                    break;
                }
            }
            out.push(e);
        }
        Ok(out)
    }

    fn init_and_load(&mut self) -> Result<(), RaftStoreError> {
        self.write("creating the tables", |txn, me| {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| me.storage("opening the meta table", e))?;
            let found = meta
                .get(META_FORMAT)
                .map_err(|e| me.storage("reading the format", e))?
                .map(|g| g.value().to_vec());
            match found {
                None => {
                    meta.insert(META_FORMAT, RAFT_FORMAT_VERSION.to_le_bytes().as_slice())
                        .map_err(|e| me.storage("writing the format", e))?;
                }
                Some(bytes) => {
                    let found = <[u8; 8]>::try_from(bytes.as_slice())
                        .map(u64::from_le_bytes)
                        .map_err(|_| {
                            me.corrupt("the format", format!("{} bytes, not 8", bytes.len()))
                        })?;
                    if found != RAFT_FORMAT_VERSION {
                        return Err(RaftStoreError::Format {
                            path: me.path.clone(),
                            found,
                            supported: RAFT_FORMAT_VERSION,
                        });
                    }
                }
            }
            drop(meta);
            txn.open_table(ENTRIES)
                .map_err(|e| me.storage("opening the entries table", e))?;
            txn.open_table(SNAPSHOT)
                .map_err(|e| me.storage("opening the snapshot table", e))?;
            Ok(())
        })?;
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| self.storage("opening the meta table", e))?;
        let get = |key: &str| -> Result<Option<Vec<u8>>, RaftStoreError> {
            Ok(meta
                .get(key)
                .map_err(|e| self.storage("reading the meta table", e))?
                .map(|g| g.value().to_vec()))
        };
        let hs: HardState = decode_opt(self, "the hard state", get(META_HARD_STATE)?)?;
        let cs: ConfState = decode_opt(self, "the membership", get(META_CONF_STATE)?)?;
        let sm: SnapshotMetadata = decode_opt(self, "the snapshot metadata", get(META_SNAPSHOT)?)?;
        let entries = txn
            .open_table(ENTRIES)
            .map_err(|e| self.storage("opening the entries table", e))?;
        let last = entries
            .last()
            .map_err(|e| self.storage("reading the log", e))?
            .map(|(k, _)| k.value());
        let first = entries
            .first()
            .map_err(|e| self.storage("reading the log", e))?
            .map(|(k, _)| k.value());
        if let Some(first) = first {
            if first != sm.index + 1 {
                return Err(self.corrupt(
                    "the log",
                    format!(
                        "it starts at entry {first}, the snapshot covers up to {}",
                        sm.index
                    ),
                ));
            }
        }
        self.last_index = last.unwrap_or(sm.index);
        self.hard_state = hs;
        self.conf_state = cs;
        self.snapshot_meta = sm;
        Ok(())
    }

    /// One fsynced write transaction filled by `f`.
    fn write<R>(
        &self,
        action: &'static str,
        f: impl FnOnce(&WriteTransaction, &RaftStorage) -> Result<R, RaftStoreError>,
    ) -> Result<R, RaftStoreError> {
        let txn = self.db.begin_write().map_err(|e| self.storage(action, e))?;
        let r = f(&txn, self)?;
        txn.commit().map_err(|e| self.storage(action, e))?;
        Ok(r)
    }

    fn storage(&self, action: &'static str, e: impl Into<redb::Error>) -> RaftStoreError {
        RaftStoreError::Storage {
            path: self.path.clone(),
            action,
            source: Box::new(e.into()),
        }
    }

    fn corrupt(&self, what: &str, detail: String) -> RaftStoreError {
        RaftStoreError::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
            detail,
        }
    }

    fn misuse(&self, detail: String) -> RaftStoreError {
        RaftStoreError::Misuse {
            path: self.path.clone(),
            detail,
        }
    }
}

fn encode(
    me: &RaftStorage,
    what: &str,
    m: &impl protobuf::Message,
) -> Result<Vec<u8>, RaftStoreError> {
    m.write_to_bytes()
        .map_err(|e| me.corrupt(what, format!("cannot encode it: {e}")))
}

fn put_meta(
    me: &RaftStorage,
    txn: &WriteTransaction,
    key: &str,
    m: &impl protobuf::Message,
) -> Result<(), RaftStoreError> {
    let bytes = encode(me, key, m)?;
    let mut t = txn
        .open_table(META)
        .map_err(|e| me.storage("opening the meta table", e))?;
    t.insert(key, bytes.as_slice())
        .map_err(|e| me.storage("writing the meta table", e))?;
    Ok(())
}

fn decode_opt<M: protobuf::Message + Default>(
    me: &RaftStorage,
    what: &str,
    bytes: Option<Vec<u8>>,
) -> Result<M, RaftStoreError> {
    let mut m = M::default();
    if let Some(bytes) = bytes {
        m.merge_from_bytes(&bytes)
            .map_err(|e| me.corrupt(what, e.to_string()))?;
    }
    Ok(m)
}

impl Storage for RaftStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.snapshot_meta.index {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        if high > self.last_index + 1 {
            return Err(raft::Error::Store(raft::StorageError::Unavailable));
        }
        Ok(self.read_entries(low, high, max_size.into())?)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.snapshot_meta.index {
            return Ok(self.snapshot_meta.term);
        }
        if idx < self.snapshot_meta.index {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        if idx > self.last_index {
            return Err(raft::Error::Store(raft::StorageError::Unavailable));
        }
        Ok(self.term_of(idx)?)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first_log_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let snap = self.load_snapshot()?;
        if snap.get_metadata().index < request_index {
            // The node compacts often enough that this only happens between two compactions.
            return Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(snap)
    }
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
