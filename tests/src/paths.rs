//! Where the tests' things are: the workspace, the `volley` binary cargo built for them, and a
//! fresh temporary folder per test.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of the `volley` binary the tests run: the one cargo built for them.
///
/// These tests are the integration tests of the package that has the binary (`volley`:
/// cli/Cargo.toml lists them by path), so cargo builds it before running them, with the
/// features it ships with, and sets `CARGO_BIN_EXE_volley` in their environment as well as at
/// compile time; this library reads it at run time. (Before, each test process ran
/// `cargo build -p volley` itself, which rebuilt the binary with another feature set.)
pub fn volley_bin() -> PathBuf {
    let bin = std::env::var_os("CARGO_BIN_EXE_volley")
        .map(PathBuf::from)
        .expect(
            "CARGO_BIN_EXE_volley is not set: run the end-to-end tests through cargo, \
         e.g. `cargo test -p volley --test NAME`",
        );
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// A fresh temporary directory for a test's files, removed when the returned guard drops.
pub fn temp_dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!(
        "volley-e2e-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir { path: Some(d) }
}

/// A test's temporary directory: removed on drop so runs do not fill `/tmp`, but kept when the
/// thread is panicking (a failed test), with its path on stderr so the failure's data can be read.
///
/// Keep the guard alive as long as anything (a spawned controller, an agent) uses the dir: it
/// derefs to [`Path`], so bind it to a variable or a struct field rather than a temporary.
#[derive(Debug)]
pub struct TempDir {
    /// `None` once [`TempDir::keep`] handed the path over.
    path: Option<PathBuf>,
}

impl TempDir {
    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a kept TempDir is consumed")
    }

    /// Gives up the clean-up and returns the path, for an owner that removes the dir itself.
    pub fn keep(mut self) -> PathBuf {
        self.path.take().expect("a kept TempDir is consumed")
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path().as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        if std::thread::panicking() {
            eprintln!("kept for reading: {}", path.display());
        } else {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::temp_dir;

    #[test]
    fn removed_on_drop() {
        let dir = temp_dir("guard-drop");
        std::fs::write(dir.join("f"), "x").unwrap();
        let path = dir.to_path_buf();
        assert!(path.join("f").exists());
        drop(dir);
        assert!(!path.exists(), "{} left behind", path.display());
    }

    #[test]
    fn kept_while_panicking() {
        let (tx, rx) = std::sync::mpsc::channel();
        let joined = std::thread::spawn(move || {
            let dir = temp_dir("guard-panic");
            tx.send(dir.to_path_buf()).unwrap();
            panic!("a failing test");
        })
        .join();
        assert!(joined.is_err(), "the thread panicked");
        let path = rx.recv().unwrap();
        assert!(path.exists(), "{} removed during a panic", path.display());
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn keep_hands_the_path_over() {
        let dir = temp_dir("guard-keep");
        let path = dir.keep();
        assert!(path.exists());
        std::fs::remove_dir_all(&path).unwrap();
    }
}
