//! The processes of a test: `volley run`, a child with captured outputs ([`Proc`]), signals,
//! and helper commands run to their end.

use std::process::{Child, Command, Output, Stdio};

use crate::line_log::LineLog;
use crate::paths::{volley_bin, workspace_root};

/// Runs `volley run` with args; returns the process output.
pub fn volley_run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(volley_bin());
    cmd.arg("run").args(args).current_dir(workspace_root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run volley")
}

/// Starts `volley run <args>` from the workspace root with stdout and stderr piped and stdin
/// closed, so a test can signal the process and read its output while it runs.
pub fn spawn_volley_run(args: &[&str]) -> Child {
    Command::new(volley_bin())
        .arg("run")
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start volley run")
}

/// Sends the signal `sig` ("INT", "TERM", ...) to `pid` with `kill -s`. Returns false when it
/// could not be delivered (usually: the process has already exited).
pub fn send_signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child process of a test with its stdout and stderr captured line by line; killed
/// (SIGKILL) and reaped on drop, so a failing test leaves nothing running.
pub struct Proc {
    child: Child,
    pub stdout: LineLog,
    pub stderr: LineLog,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and both outputs piped into [`LineLog`]s.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = LineLog::capture(child.stdout.take().expect("piped stdout"));
        let stderr = LineLog::capture(child.stderr.take().expect("piped stderr"));
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running. After an
    /// exit it also waits (briefly) for both outputs to be read to their end: the reader threads
    /// may still be behind, and a check of the output right after would see it cut short.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                // A grandchild that inherited the pipes may keep them open: do not wait forever.
                let drain = std::time::Duration::from_secs(2);
                self.stdout.wait_closed(drain);
                self.stderr.wait_closed(drain);
                return Some(st);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for the exit and returns the exit code; panics (with both
    /// outputs) when the process is still running or was killed by a signal.
    pub fn exit_code(&mut self, timeout: std::time::Duration) -> i32 {
        match self.wait_exit(timeout).map(|s| s.code()) {
            Some(Some(code)) => code,
            other => panic!(
                "process did not exit with a code within {timeout:?} ({other:?})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout.text(),
                self.stderr.text()
            ),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a helper command (a script of the repository) to its end; its stdout and stderr
/// together. Panics with both when it fails, adding `hint` (e.g. how to install its tools).
pub fn run_ok(cmd: &mut Command, hint: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}\n{hint}",
        out.status
    );
    text
}
