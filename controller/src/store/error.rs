//! Why a store operation failed: [`StoreError`], each variant naming the file and the fix.

use std::path::PathBuf;

use thiserror::Error;

use crate::state::StateError;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The command does not apply to the current state; nothing was written.
    #[error(transparent)]
    Rejected(#[from] StateError),
    /// A replicated command was not committed (this controller does not lead, no quorum, or
    /// no outcome in time): the message says which, and whether it may still apply.
    #[error("{0}")]
    Replication(String),
    /// A replicated command got no outcome in time, or waited behind too many others: it may
    /// still be applied later (the message says which). A write sent again until committed
    /// ([`crate::store::Db::execute_until_committed`]) is sent again after it.
    #[error("{0}")]
    NotCommitted(String),
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
