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

/// A fresh temporary directory for a test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "volley-e2e-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
