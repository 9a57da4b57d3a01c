//! Which files a script may read with `open()` and `import`.
//!
//! A local `volley run` reads what the user can read, as `k6 run` does (absolute paths
//! included). An agent runs scripts that other people submitted, so there the archive it was
//! sent is the script's whole file system: paths are relative to the script, may not climb out
//! of the archive's folder with `..`, and a symbolic link leading out of it is refused too.
//! Nothing else of the agent's machine (its files, `/proc/self/environ` with its token, the
//! controller's database when co-located) is reachable from JavaScript.

use std::path::{Path, PathBuf};

/// Where a script's files come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FileScope {
    /// Any file this process can read (a local run, as in k6).
    #[default]
    Host,
    /// Only the files under `root`, the folder the run's archive was extracted to (an agent).
    /// `root` is canonical (no symbolic links in it).
    Archive { root: PathBuf },
}

/// Why a path was refused on an agent. `spec` is the path as the script wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "{spec:?} is an absolute path, and a script run by an agent reads only the files bundled \
         in its archive; use a path relative to the script (for example \"./data.csv\"), and \
         `volley submit` bundles it"
    )]
    Absolute { spec: String },
    #[error(
        "{spec:?} leads outside the run's archive (too many \"..\"), and a script run by an agent \
         reads only the files bundled in its archive; keep the file in the test's folder tree"
    )]
    Escapes { spec: String },
    /// A module outside the archive (the message is short: QuickJS cuts error messages at
    /// 256 bytes, and the module's path comes before it).
    #[error(
        "outside the run's archive: a script run by an agent imports only files bundled in its \
         archive, by a path relative to the script"
    )]
    ModuleOutside,
    #[error(
        "{spec:?} is a symbolic link to a file outside the run's archive, and a script run by an \
         agent reads only the files bundled in its archive"
    )]
    Symlink { spec: String },
}

impl FileScope {
    /// Checks a path the script named (`spec`, as written, `file://` allowed) that resolved
    /// lexically to `resolved` (absolute, normalized). On the host anything goes.
    pub fn check_spec(&self, spec: &str, resolved: &Path) -> Result<(), SandboxError> {
        let FileScope::Archive { root } = self else {
            return Ok(());
        };
        let bare = spec.strip_prefix("file://").unwrap_or(spec);
        if Path::new(bare).is_absolute() {
            return Err(SandboxError::Absolute { spec: spec.into() });
        }
        if !resolved.starts_with(root) {
            return Err(SandboxError::Escapes { spec: spec.into() });
        }
        Ok(())
    }

    /// Checks a module's resolved path (on an agent it must lie inside the archive).
    pub fn check_module(&self, resolved: &Path) -> Result<(), SandboxError> {
        match self {
            FileScope::Archive { root } if !resolved.starts_with(root) => {
                Err(SandboxError::ModuleOutside)
            }
            _ => Ok(()),
        }
    }

    /// The path to actually read for `resolved`: on an agent, the file's real path (symbolic
    /// links followed), which must still be inside the archive's folder. `spec` names the path
    /// in errors. A missing file gives the usual not-found error.
    pub fn real_path(&self, spec: &str, resolved: &Path) -> std::io::Result<PathBuf> {
        let FileScope::Archive { root } = self else {
            return Ok(resolved.to_path_buf());
        };
        let real = std::fs::canonicalize(resolved)?;
        if !real.starts_with(root) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                SandboxError::Symlink { spec: spec.into() },
            ));
        }
        Ok(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allows_anything() {
        let s = FileScope::Host;
        assert!(s
            .check_spec("/etc/passwd", Path::new("/etc/passwd"))
            .is_ok());
        assert_eq!(
            s.real_path("x", Path::new("/nonexistent/x")).unwrap(),
            Path::new("/nonexistent/x")
        );
    }

    #[test]
    fn archive_refuses_absolute_escapes_and_symlinks_out() {
        let dir = std::env::temp_dir().join(format!("volley-sandbox-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("t")).unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        std::fs::write(root.join("t/data.txt"), "ok").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("t/out")).unwrap();
        std::os::unix::fs::symlink(root.join("t/data.txt"), root.join("t/in")).unwrap();
        let s = FileScope::Archive { root: root.clone() };

        let e = s
            .check_spec("/etc/passwd", Path::new("/etc/passwd"))
            .unwrap_err();
        assert!(matches!(e, SandboxError::Absolute { .. }), "{e}");
        assert!(e
            .to_string()
            .contains("\"/etc/passwd\" is an absolute path"));
        let e = s
            .check_spec("file:///etc/passwd", Path::new("/etc/passwd"))
            .unwrap_err();
        assert!(matches!(e, SandboxError::Absolute { .. }), "{e}");
        let e = s
            .check_spec("../../x", &root.parent().unwrap().join("x"))
            .unwrap_err();
        assert!(e.to_string().contains("outside the run's archive"), "{e}");
        assert!(s.check_spec("./data.txt", &root.join("t/data.txt")).is_ok());
        assert!(s
            .check_spec("../t/data.txt", &root.join("t/data.txt"))
            .is_ok());

        let e = s.real_path("./out", &root.join("t/out")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(
            s.real_path("./in", &root.join("t/in")).unwrap(),
            root.join("t/data.txt")
        );
        let e = s.real_path("./nope", &root.join("t/nope")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
