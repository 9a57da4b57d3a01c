//! Test archives: one file that carries everything a test needs to run elsewhere.
//!
//! The CLI builds an archive from the entry script, every local module it imports, every file it
//! `open()`s, the consolidated options and the `-e` values (`volley archive`, `volley submit`);
//! the controller stores it by test; agents extract it and run it. Because an archive crosses a
//! trust boundary (anyone with a token can upload one, and agents write it to disk), every reader
//! validates it fully: size and count limits, paths that stay inside the extraction folder, only
//! regular files, and metadata that names files that exist.
//!
//! # Layout
//! An uncompressed tar file:
//! ```text
//! metadata.json          Metadata as JSON (format_version, entry, options, env, modules, …)
//! files/<path>           every file, by its path relative to the test's root folder
//! files/.volley-remote/  remote modules' sources, named in metadata's remote_modules by URL
//! ```
//! The root folder is the deepest folder that contains the entry script, its modules and its data
//! files: a script in `a/b/` that imports `../lib/x.js` gives the root `a/` and the paths
//! `b/script.js` and `lib/x.js`, so relative imports and `open()` calls resolve the same way after
//! extraction as they did on the author's machine.
//!
//! Tar headers are fixed (mode 0644, uid/gid 0, no user names, mtime 0, entries sorted by path), so
//! the same test gives the same bytes, and so the same SHA-256, on every machine.
//!
//! # Differences from `k6 archive`
//! A k6 archive is also a tar with a `metadata.json`, but it stores the entry script's source in
//! `data`, every local file under `file/` by its *absolute* original path (with the user name
//! replaced by `nobody`), remote modules under `https/`, and metadata with k6-runtime fields
//! (`type`, `filename` and `pwd` as `file://` URLs, `compatibilityMode`, `k6version`, `goos`,
//! `dependencies`). Volley does not write that format, on purpose (the controller reads it, see
//! [`k6`], and stores what it read in this one):
//! - Root-relative paths leak nothing of the author's machine (no user, no home layout, so nothing
//!   to anonymize) and make extraction a plain relative write that can refuse `..` and absolute
//!   paths outright; k6's absolute paths would have to be re-rooted on every agent anyway.
//! - Remote modules (`https://…` imports, fetched by the CLI when it builds the archive) are files
//!   under `files/.volley-remote/`, named by their URL in `metadata.json`'s `remote_modules`
//!   (see [`remote`]), and the entry script is stored once rather than twice.
//! - `format_version` lets a reader refuse an archive it does not understand, and `modules` tells
//!   the agent which files to compile, in import order, without re-running the init stage.
//! - Archives travel between Volley's own CLI, controller and agents; a k6 archive uploaded to
//!   the controller (by `k6 cloud run`) is converted by [`k6::from_k6_tar`] on the way in.

mod error;
pub mod k6;
mod paths;

use error::human_size;
pub use error::ArchiveError;
use paths::{
    check_rel_path, common_root, ensure_real_folder, normalize_absolute, private_dir_builder,
    rel_to_path, relative_string,
};

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest archive, in bytes: the tar file as a whole, and also the sum of the files in it.
/// It keeps one Assign message under the protocol's message limit.
pub const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;
/// Most files one archive may hold (not counting `metadata.json`).
pub const MAX_FILES: usize = 10_000;
/// Longest archive-relative path, in bytes (longer paths are a sign of a generated or hostile archive).
pub const MAX_PATH_BYTES: usize = 1024;
/// The archive format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the metadata entry at the top of the tar.
const METADATA_NAME: &str = "metadata.json";
/// Folder (inside the tar) that holds the test's files.
const FILES_DIR: &str = "files";

/// A test archive in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    pub metadata: Metadata,
    /// Files by archive-relative path (`script.js`, `lib/helper.js`, `data/users.json`); never
    /// absolute and never with `.`/`..` components.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// What `metadata.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Archive format; readers refuse versions they do not know ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Version of the Volley that built the archive (informational, for error reports).
    pub volley_version: String,
    /// Archive-relative path of the entry script.
    pub entry: String,
    /// Consolidated k6 options (a JSON object), as resolved when the archive was built.
    pub options: Value,
    /// `-e KEY=VALUE` values given when the archive was built (k6 archives keep them too).
    pub env: BTreeMap<String, String>,
    /// Which files are JS modules (to compile), in import order; includes the entry.
    pub modules: Vec<String>,
    /// When the archive was built, RFC 3339 UTC (informational).
    pub created: String,
    /// Remote modules the test imports, by URL → archive path of their source (see [`remote`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remote_modules: BTreeMap<String, String>,
}

impl Archive {
    /// Builds from absolute paths: computes the common root directory of the entry, modules and
    /// files, and stores paths relative to it. `modules` must include the entry (its source is
    /// taken from there); a path given twice must have the same contents both times. `created`
    /// is set to now.
    pub fn from_paths(
        entry: &Path,
        modules: &[(PathBuf, String)],
        files: &[(PathBuf, Vec<u8>)],
        options: Value,
        env: BTreeMap<String, String>,
    ) -> Result<Archive, ArchiveError> {
        let entry_abs = normalize_absolute(entry)?;
        let mut inputs: Vec<(PathBuf, &[u8])> = Vec::with_capacity(modules.len() + files.len());
        for (path, source) in modules {
            inputs.push((normalize_absolute(path)?, source.as_bytes()));
        }
        let module_count = modules.len();
        for (path, data) in files {
            inputs.push((normalize_absolute(path)?, data.as_slice()));
        }
        if !inputs[..module_count].iter().any(|(p, _)| *p == entry_abs) {
            return Err(ArchiveError::EntryNotAModule {
                entry: entry_abs.display().to_string(),
            });
        }

        let root = common_root(&entry_abs, inputs.iter().map(|(p, _)| p.as_path()))?;
        let entry_rel = relative_string(&root, &entry_abs)?;

        // Borrow first, so limits are checked before any file is copied.
        let mut by_rel: BTreeMap<String, &[u8]> = BTreeMap::new();
        let mut out_modules: Vec<String> = Vec::with_capacity(module_count);
        for (i, (path, data)) in inputs.iter().enumerate() {
            let rel = relative_string(&root, path)?;
            match by_rel.get(&rel) {
                Some(existing) if existing != data => {
                    return Err(ArchiveError::Conflict { path: rel });
                }
                Some(_) => {}
                None => {
                    by_rel.insert(rel.clone(), data);
                }
            }
            if i < module_count && !out_modules.contains(&rel) {
                out_modules.push(rel);
            }
        }
        if by_rel.len() > MAX_FILES {
            return Err(ArchiveError::TooManyFiles {
                count: by_rel.len(),
            });
        }
        let total: u64 = by_rel.values().map(|d| d.len() as u64).sum();
        if total > MAX_ARCHIVE_BYTES {
            return Err(ArchiveError::TooLarge {
                size: total,
                largest: largest_files(by_rel.iter().map(|(p, d)| (p.as_str(), d.len()))),
            });
        }
        let out_files: BTreeMap<String, Vec<u8>> = by_rel
            .into_iter()
            .map(|(rel, data)| (rel, data.to_vec()))
            .collect();

        let archive = Archive {
            metadata: Metadata {
                format_version: FORMAT_VERSION,
                volley_version: env!("CARGO_PKG_VERSION").to_string(),
                entry: entry_rel,
                options,
                env,
                modules: out_modules,
                created: crate::time::now_rfc3339(),
                remote_modules: BTreeMap::new(),
            },
            files: out_files,
        };
        archive.validate()?;
        Ok(archive)
    }

    /// Serializes to tar: `metadata.json`, then `files/<path>` in path order, with fixed headers.
    pub fn to_tar(&self) -> Result<Vec<u8>, ArchiveError> {
        self.validate()?;
        let metadata = serde_json::to_vec_pretty(&self.metadata).map_err(|e| {
            ArchiveError::InvalidMetadata {
                reason: e.to_string(),
            }
        })?;
        let mut builder = tar::Builder::new(Vec::new());
        append_file(&mut builder, METADATA_NAME, &metadata)?;
        for (path, data) in &self.files {
            append_file(&mut builder, &format!("{FILES_DIR}/{path}"), data)?;
        }
        let bytes = builder.into_inner().map_err(|e| ArchiveError::Io {
            action: "finish",
            path: PathBuf::from("the archive"),
            source: e,
        })?;
        if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
            return Err(ArchiveError::TooLarge {
                size: bytes.len() as u64,
                largest: largest_files(self.files.iter().map(|(p, d)| (p.as_str(), d.len()))),
            });
        }
        Ok(bytes)
    }

    /// Reads and validates a tar made by [`Archive::to_tar`]: size limits (total, per file,
    /// count), no absolute paths, no `..` components, no symlinks/hardlinks/devices, metadata
    /// present and valid, entry and modules present, format version supported.
    pub fn from_tar(bytes: &[u8]) -> Result<Archive, ArchiveError> {
        if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
            return Err(ArchiveError::TooLarge {
                size: bytes.len() as u64,
                largest: String::new(),
            });
        }
        let malformed = |source: io::Error| ArchiveError::Malformed { source };
        let mut reader = tar::Archive::new(bytes);
        let mut metadata_raw: Option<Vec<u8>> = None;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut content_total: u64 = 0;
        let mut over_limit: usize = 0;

        for entry in reader.entries().map_err(malformed)? {
            let mut entry = entry.map_err(malformed)?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                // Archive-wide comments (e.g. `git archive`'s commit id); they name no file.
                continue;
            }
            let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
                ArchiveError::NotUtf8Path {
                    path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                }
            })?;
            if kind.is_dir() {
                let dir = name.strip_suffix('/').unwrap_or(&name);
                check_rel_path(dir)?;
                if dir != FILES_DIR && !dir.starts_with("files/") {
                    return Err(ArchiveError::UnexpectedEntry { path: name });
                }
                continue;
            }
            if !kind.is_file() {
                return Err(ArchiveError::UnsupportedEntryType {
                    path: name,
                    kind: entry_kind_name(kind),
                });
            }
            check_rel_path(&name)?;
            let rel = if name == METADATA_NAME {
                None
            } else if let Some(rel) = name.strip_prefix("files/") {
                Some(rel.to_string())
            } else {
                return Err(ArchiveError::UnexpectedEntry { path: name });
            };
            let size = entry.size();
            if size > MAX_ARCHIVE_BYTES - content_total {
                return Err(ArchiveError::FileTooLarge { path: name, size });
            }
            if rel.is_some() && files.len() >= MAX_FILES {
                // Keep counting (headers only) so the error can say how many there are.
                over_limit += 1;
                continue;
            }
            // `size` is bounded by MAX_ARCHIVE_BYTES above, so the allocation is too.
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(malformed)?;
            if data.len() as u64 != size {
                return Err(ArchiveError::Truncated {
                    path: name,
                    expected: size,
                    found: data.len() as u64,
                });
            }
            content_total += size;
            match rel {
                None => {
                    if metadata_raw.replace(data).is_some() {
                        return Err(ArchiveError::DuplicateEntry { path: name });
                    }
                }
                Some(rel) => {
                    if files.insert(rel, data).is_some() {
                        return Err(ArchiveError::DuplicateEntry { path: name });
                    }
                }
            }
        }

        if over_limit > 0 {
            return Err(ArchiveError::TooManyFiles {
                count: files.len() + over_limit,
            });
        }
        let raw = metadata_raw.ok_or(ArchiveError::MissingMetadata)?;
        let archive = Archive {
            metadata: parse_metadata(&raw)?,
            files,
        };
        archive.validate()?;
        Ok(archive)
    }

    /// Writes the files under `dir` (which must be empty or not exist), readable by this user
    /// only (folders it creates 0700, files 0600); returns the absolute entry path. Never writes outside `dir`: paths are re-validated, folders are created one
    /// level at a time and must be real folders (not symlinks), and files are created new, so an
    /// existing file or symlink is never followed or overwritten.
    pub fn extract_to(&self, dir: &Path) -> Result<PathBuf, ArchiveError> {
        self.validate()?;
        let io_err = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source: io::Error| ArchiveError::Io {
                action,
                path,
                source,
            }
        };
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                let mut entries = fs::read_dir(dir).map_err(io_err("read", dir))?;
                if entries.next().is_some() {
                    return Err(ArchiveError::DirNotEmpty {
                        dir: dir.to_path_buf(),
                    });
                }
            }
            Ok(_) => {
                return Err(ArchiveError::NotAFolder {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                private_dir_builder()
                    .recursive(true)
                    .create(dir)
                    .map_err(io_err("create", dir))?;
            }
            Err(e) => return Err(io_err("inspect", dir)(e)),
        }
        let root = fs::canonicalize(dir).map_err(io_err("resolve", dir))?;

        for (rel, data) in &self.files {
            let mut path = root.clone();
            let mut parts = rel.split('/').peekable();
            while let Some(part) = parts.next() {
                path.push(part);
                if parts.peek().is_none() {
                    break;
                }
                ensure_real_folder(&path)?;
            }
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(io_err("create", &path))?;
            file.write_all(data).map_err(io_err("write", &path))?;
        }
        Ok(rel_to_path(&root, &self.metadata.entry))
    }

    /// Checks every invariant that [`Archive::from_tar`] promises, so that an archive assembled
    /// in code (the fields are public) is held to the same rules before it is written anywhere.
    pub fn validate(&self) -> Result<(), ArchiveError> {
        let meta = &self.metadata;
        if meta.format_version != FORMAT_VERSION {
            return Err(ArchiveError::UnsupportedVersion {
                found: u64::from(meta.format_version),
            });
        }
        if self.files.len() > MAX_FILES {
            return Err(ArchiveError::TooManyFiles {
                count: self.files.len(),
            });
        }
        let total: u64 = self.files.values().map(|d| d.len() as u64).sum();
        if total > MAX_ARCHIVE_BYTES {
            return Err(ArchiveError::TooLarge {
                size: total,
                largest: largest_files(self.files.iter().map(|(p, d)| (p.as_str(), d.len()))),
            });
        }
        for path in self.files.keys() {
            check_rel_path(path)?;
            // A file "lib" and a file "lib/x.js" cannot both be extracted.
            for (i, _) in path.match_indices('/') {
                if self.files.contains_key(&path[..i]) {
                    return Err(ArchiveError::FileFolderConflict {
                        path: path[..i].to_string(),
                    });
                }
            }
        }
        check_rel_path(&meta.entry)?;
        if !self.files.contains_key(&meta.entry) {
            return Err(ArchiveError::EntryMissing {
                entry: meta.entry.clone(),
            });
        }
        if !meta.modules.contains(&meta.entry) {
            return Err(ArchiveError::EntryNotAModule {
                entry: meta.entry.clone(),
            });
        }
        for (i, module) in meta.modules.iter().enumerate() {
            let Some(source) = self.files.get(module) else {
                return Err(ArchiveError::ModuleMissing {
                    module: module.clone(),
                });
            };
            if meta.modules[..i].contains(module) {
                return Err(ArchiveError::DuplicateModule {
                    module: module.clone(),
                });
            }
            if std::str::from_utf8(source).is_err() {
                return Err(ArchiveError::ModuleNotUtf8 {
                    module: module.clone(),
                });
            }
        }
        remote::validate(self)?;
        if !meta.options.is_object() {
            return Err(ArchiveError::InvalidOptions {
                found: json_kind(&meta.options),
            });
        }
        if let Some(key) = meta
            .env
            .keys()
            .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
        {
            return Err(ArchiveError::InvalidEnvName { key: key.clone() });
        }
        Ok(())
    }

    /// The source of a module (or any UTF-8 file) by archive path.
    pub fn source(&self, path: &str) -> Option<&str> {
        self.files
            .get(path)
            .and_then(|d| std::str::from_utf8(d).ok())
    }
}

/// Reads `metadata.json`, checking the version before the fields so that a newer format gets
/// "unsupported version" rather than a confusing missing-field error.
fn parse_metadata(raw: &[u8]) -> Result<Metadata, ArchiveError> {
    let invalid = |reason: String| ArchiveError::InvalidMetadata { reason };
    let value: Value = serde_json::from_slice(raw).map_err(|e| invalid(e.to_string()))?;
    if !value.is_object() {
        return Err(invalid(format!(
            "it must be a JSON object, not {}",
            json_kind(&value)
        )));
    }
    let version = value
        .get("format_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("`format_version` is missing or not a whole number".into()))?;
    if version != u64::from(FORMAT_VERSION) {
        return Err(ArchiveError::UnsupportedVersion { found: version });
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

/// Appends one regular file with a fixed header, so output depends only on names and contents.
fn append_file(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    data: &[u8],
) -> Result<(), ArchiveError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    builder
        .append_data(&mut header, name, data)
        .map_err(|source| ArchiveError::Io {
            action: "add to the archive",
            path: PathBuf::from(name),
            source,
        })
}

/// The three largest files, for the "too large" message.
pub(crate) fn largest_files<'a>(files: impl Iterator<Item = (&'a str, usize)>) -> String {
    let mut by_size: Vec<(&str, usize)> = files.collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let listed: Vec<String> = by_size
        .iter()
        .take(3)
        .map(|(p, n)| format!("{p} {}", human_size(*n as u64)))
        .collect();
    if listed.is_empty() {
        String::new()
    } else {
        format!(" (largest: {})", listed.join(", "))
    }
}

fn entry_kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::Continuous => "contiguous file",
        _ => "special entry",
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub mod remote;
#[cfg(test)]
mod tests;
