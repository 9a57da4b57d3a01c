//! Why an archive could not be built, read or extracted: [`ArchiveError`], each naming the file
//! or field and the fix.

use std::io;
use std::path::PathBuf;

use super::{FORMAT_VERSION, MAX_ARCHIVE_BYTES, MAX_FILES};

/// Why an archive could not be built, read or extracted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "the archive is {size}; archives are limited to {limit}{largest} — move large data files \
         out of the test or shrink them",
        size = human(.size),
        limit = human_size(MAX_ARCHIVE_BYTES)
    )]
    TooLarge {
        size: u64,
        /// The largest files, pre-formatted (`" (largest: data/big.bin 60.0 MiB, …)"`), or empty.
        largest: String,
    },
    #[error(
        "{path_q} in the archive is {size} and does not fit: archives are limited to {limit} in \
         total — move it out of the test or shrink it",
        size = human(.size),
        limit = human_size(MAX_ARCHIVE_BYTES),
        path_q = crate::text::quoted(.path)
    )]
    FileTooLarge { path: String, size: u64 },
    #[error(
        "the archive has {count} files; archives are limited to {limit} — bundle data into \
         fewer files",
        limit = MAX_FILES
    )]
    TooManyFiles { count: usize },
    #[error(
        "archive path {path_q} is not allowed: {reason}; archives hold only relative paths inside \
         the test's folder — rebuild it with `volley archive`",
        path_q = crate::text::quoted(.path)
    )]
    UnsafePath { path: String, reason: &'static str },
    #[error("{path:?} is not an absolute path; pass absolute paths to build an archive")]
    NotAbsolute { path: PathBuf },
    #[error(
        "{path_q} has a name that is not valid UTF-8; rename it (archive paths must be UTF-8)",
        path_q = crate::text::quoted(.path)
    )]
    NotUtf8Path { path: String },
    #[error(
        "{first:?} and {second:?} have no folder in common (different drives?); keep the test's \
         files on one drive"
    )]
    NoCommonRoot { first: PathBuf, second: PathBuf },
    #[error("{path_q} was given twice with different contents; each archive path holds one file",
        path_q = crate::text::quoted(.path)
    )]
    Conflict { path: String },
    #[error("{path_q} is both a file and a folder in the archive; rename the file or the folder",
        path_q = crate::text::quoted(.path)
    )]
    FileFolderConflict { path: String },
    #[error(
        "the entry script {entry_q} is not among the archive's modules; list it in `modules` \
         (its source is needed)",
        entry_q = crate::text::quoted(.entry)
    )]
    EntryNotAModule { entry: String },
    #[error(
        "the entry script {entry_q} named in metadata.json is not in the archive; rebuild it with \
         `volley archive`",
        entry_q = crate::text::quoted(.entry)
    )]
    EntryMissing { entry: String },
    #[error(
        "module {module_q} named in metadata.json is not in the archive; rebuild it with \
         `volley archive`",
        module_q = crate::text::quoted(.module)
    )]
    ModuleMissing { module: String },
    #[error("module {module_q} is listed twice in metadata.json `modules`; list each module once",
        module_q = crate::text::quoted(.module)
    )]
    DuplicateModule { module: String },
    #[error("module {module_q} is not valid UTF-8 text; JavaScript modules must be UTF-8",
        module_q = crate::text::quoted(.module)
    )]
    ModuleNotUtf8 { module: String },
    #[error(
        "remote module {url_q} in metadata.json is invalid: {reason}; rebuild the archive with \
         `volley archive`",
        url_q = crate::text::quoted(.url)
    )]
    InvalidRemoteModule { url: String, reason: &'static str },
    #[error(
        "{path_q} in the archive is a {kind}; archives may hold only regular files and folders \
         — replace it with the file it points to",
        path_q = crate::text::quoted(.path)
    )]
    UnsupportedEntryType { path: String, kind: &'static str },
    #[error("{path_q} appears twice in the archive; an archive holds each path once",
        path_q = crate::text::quoted(.path)
    )]
    DuplicateEntry { path: String },
    #[error(
        "{path_q} in the archive is outside `files/`; only `metadata.json` and `files/…` are \
         allowed — rebuild it with `volley archive`",
        path_q = crate::text::quoted(.path)
    )]
    UnexpectedEntry { path: String },
    #[error(
        "{path_q} in the archive is cut short (expected {expected} bytes, found {found}); the \
         upload or copy was truncated — send the archive again",
        path_q = crate::text::quoted(.path)
    )]
    Truncated {
        path: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "the archive has no metadata.json; it is not a Volley archive — build one with \
         `volley archive`"
    )]
    MissingMetadata,
    #[error("metadata.json is invalid: {reason}; rebuild the archive with `volley archive`")]
    InvalidMetadata { reason: String },
    #[error(
        "the archive has format version {found}, this Volley reads version {supported}; \
         rebuild it with this Volley's `volley archive` or upgrade Volley",
        supported = FORMAT_VERSION
    )]
    UnsupportedVersion { found: u64 },
    #[error(
        "metadata.json `options` must be a JSON object, not {found}; pass the consolidated options"
    )]
    InvalidOptions { found: &'static str },
    #[error(
        "environment variable name {key_q} is invalid (empty, or has `=` or NUL); use -e NAME=VALUE",
        key_q = crate::text::quoted(.key)
    )]
    InvalidEnvName { key: String },
    #[error(
        "the data is not a valid tar archive ({source}); pass a file made by `volley archive`"
    )]
    Malformed {
        #[source]
        source: io::Error,
    },
    #[error("{dir:?} is not empty; extract archives into an empty or new folder")]
    DirNotEmpty { dir: PathBuf },
    #[error(
        "{path:?} already exists and is not a plain folder; extract archives into an empty or new \
         folder"
    )]
    NotAFolder { path: PathBuf },
    #[error("cannot {action} {path:?}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn human(bytes: &u64) -> String {
    human_size(*bytes)
}

pub(super) fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} bytes")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        let mib = b / (KIB * KIB);
        const MIB: u64 = 1024 * 1024;
        if bytes / MIB * MIB == bytes {
            format!("{mib:.0} MiB")
        } else {
            format!("{mib:.1} MiB")
        }
    }
}
