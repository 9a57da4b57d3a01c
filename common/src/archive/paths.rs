//! Paths inside an archive: the root folder of a test, root-relative names, and the checks that
//! keep extraction inside its folder (no `..`, no absolute paths, no symlinked folders).

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{ArchiveError, MAX_PATH_BYTES};

/// Validates an archive-relative path: non-empty, `/`-separated, relative, no empty, `.` or `..`
/// components, no backslashes or NULs (which would mean something else on another OS), bounded.
pub(super) fn check_rel_path(path: &str) -> Result<(), ArchiveError> {
    let unsafe_path = |reason| ArchiveError::UnsafePath {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(unsafe_path("it is empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(unsafe_path("it is longer than 1024 bytes"));
    }
    if path.contains('\0') {
        return Err(unsafe_path("it contains a NUL byte"));
    }
    if path.starts_with('/') {
        return Err(unsafe_path("it is an absolute path"));
    }
    if path.contains('\\') {
        return Err(unsafe_path(
            "it contains a backslash (a folder separator on Windows)",
        ));
    }
    let first = path.split('/').next().unwrap_or_default();
    let b = first.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(unsafe_path(
            "it starts with a drive letter (an absolute path)",
        ));
    }
    for part in path.split('/') {
        match part {
            "" => {
                return Err(unsafe_path(
                    "it has an empty component (`//` or a trailing `/`)",
                ))
            }
            "." => return Err(unsafe_path("it has a `.` component")),
            ".." => return Err(unsafe_path("it has a `..` component")),
            _ => {}
        }
    }
    Ok(())
}

/// Makes `path` absolute-and-lexical: drops `.`, resolves `..` against earlier components. It does
/// not touch the disk (symlinks are the caller's business: the CLI passes the paths it read).
pub(super) fn normalize_absolute(path: &Path) -> Result<PathBuf, ArchiveError> {
    if !path.is_absolute() {
        return Err(ArchiveError::NotAbsolute {
            path: path.to_path_buf(),
        });
    }
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => out.push(comp),
            Component::CurDir => {}
            Component::ParentDir => {
                // `/..` stays `/`, as the OS resolves it.
                if out.parent().is_some() {
                    out.pop();
                }
            }
        }
    }
    Ok(out)
}

/// The deepest folder that contains every path (all absolute and normalized).
pub(super) fn common_root<'a>(
    entry: &Path,
    paths: impl Iterator<Item = &'a Path>,
) -> Result<PathBuf, ArchiveError> {
    let folder = |p: &Path| {
        p.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| p.into())
    };
    let mut root: Vec<Component<'_>> = Vec::new();
    let entry_folder = folder(entry);
    root.extend(entry_folder.components());
    for path in paths {
        let parent = folder(path);
        let common = root
            .iter()
            .zip(parent.components())
            .take_while(|(a, b)| *a == b)
            .count();
        if common == 0 {
            return Err(ArchiveError::NoCommonRoot {
                first: entry.to_path_buf(),
                second: path.to_path_buf(),
            });
        }
        root.truncate(common);
    }
    Ok(root.iter().collect())
}

/// `path` relative to `root`, joined with `/`.
pub(super) fn relative_string(root: &Path, path: &Path) -> Result<String, ArchiveError> {
    // Only called with paths under `root` (see `common_root`).
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts: Vec<&str> = Vec::new();
    for comp in rel.components() {
        match comp.as_os_str().to_str() {
            Some(s) => parts.push(s),
            None => {
                return Err(ArchiveError::NotUtf8Path {
                    path: path.display().to_string(),
                })
            }
        }
    }
    let joined = parts.join("/");
    check_rel_path(&joined)?;
    Ok(joined)
}

/// An archive path as a filesystem path under `root`.
pub(super) fn rel_to_path(root: &Path, rel: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(rel.split('/'));
    path
}

/// Makes sure `path` is a real folder: creates it if missing, refuses symlinks and files.
/// Extracted folders are private to the user that extracts them (0700; files 0600): a test's
/// scripts and data are nobody else's business on the agent's machine.
pub(super) fn private_dir_builder() -> fs::DirBuilder {
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b
}

pub(super) fn ensure_real_folder(path: &Path) -> Result<(), ArchiveError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => Ok(()),
        Ok(_) => Err(ArchiveError::NotAFolder {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => private_dir_builder()
            .create(path)
            .map_err(|source| ArchiveError::Io {
                action: "create",
                path: path.to_path_buf(),
                source,
            }),
        Err(source) => Err(ArchiveError::Io {
            action: "inspect",
            path: path.to_path_buf(),
            source,
        }),
    }
}
