//! Helpers for Volley's end-to-end tests: find (or build) the `volley` binary, start a
//! `volley target` on a free loopback port, run scripts and read their outputs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of the `volley` binary, built once (same profile as the tests) if needed.
pub fn volley_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test-exe> → target/<profile>/volley
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let release = profile_dir.ends_with("release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "volley", "--bin", "volley"])
            .current_dir(workspace_root());
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("cargo build");
        assert!(st.success(), "building the volley binary failed");
        let bin = profile_dir.join("volley");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// A running `volley target` on 127.0.0.1 (random port), killed on drop.
pub struct Target {
    child: Child,
    pub url: String,
}

impl Target {
    pub fn start() -> Target {
        let mut child = Command::new(volley_bin())
            .args(["target", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start volley target");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read target banner");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("url in banner")
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected banner {line:?}"
        );
        Target { child, url }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `volley run` with args; returns the process output.
pub fn volley_run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(volley_bin());
    cmd.arg("run").args(args).current_dir(workspace_root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run volley")
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
