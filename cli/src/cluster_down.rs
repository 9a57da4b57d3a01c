//! `volley cluster down`, and the pid file it reads: `volley cluster up` runs in the foreground
//! and lists itself and every process it started in `cluster-up.pid` in its data directory,
//! so another shell can stop them all (README.md#a-cluster).
//!
//! A line is `ROLE PID START`: `START` is the process's start time as the kernel counts it
//! (`/proc/PID/stat`), so a pid the system gave to another process since is never signalled.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::log_error;

/// The pid file's name in the data directory.
pub const PID_FILE: &str = "cluster-up.pid";
/// The largest pid file read: a supervisor, five controllers and many agents fit easily.
const MAX_PID_FILE: u64 = 256 * 1024;
/// How long `cluster down` waits for `cluster up` to stop its processes (it gives each
/// 15 s after SIGTERM, then kills it).
const SUPERVISOR_GRACE: Duration = Duration::from_secs(25);
/// How long a process left behind (its `cluster up` was killed) gets after SIGTERM.
const LEFTOVER_GRACE: Duration = Duration::from_secs(10);

/// One process of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `supervisor` (the `volley cluster up` process), `controller-N` or `agent-N`.
    pub role: String,
    pub pid: u32,
    /// Its start time (`/proc/PID/stat`), when the system says.
    pub started: Option<u64>,
}

impl Entry {
    /// The process `pid` in `role`, with its start time read now.
    pub fn of(role: &str, pid: u32) -> Entry {
        Entry {
            role: role.to_string(),
            pid,
            started: proc_stat(pid).map(|(start, _)| start),
        }
    }

    /// Whether this process still runs: its pid is taken by a process started at the same
    /// time, which is not a zombie.
    pub fn alive(&self) -> bool {
        match (proc_stat(self.pid), self.started) {
            (Some((start, state)), Some(want)) => start == want && state != 'Z',
            (Some((_, state)), None) => state != 'Z',
            // No /proc (not Linux): ask the kernel whether the pid exists.
            (None, _) if !Path::new("/proc/self/stat").exists() => signal(self.pid, "0"),
            (None, _) => false,
        }
    }
}

/// Field 22 (start time) and field 3 (state) of `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// Sends `sig` (`TERM`, `KILL`, `0`) to `pid` with kill(1); whether it was delivered.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes `entries` to `path` whole (a temporary file renamed over it, so a reader never sees
/// half a list).
pub fn write(path: &Path, entries: &[Entry]) -> Result<(), String> {
    let text: String = entries
        .iter()
        .map(|e| {
            let start = e.started.map_or("-".to_string(), |s| s.to_string());
            format!("{} {} {start}\n", e.role, e.pid)
        })
        .collect();
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The entries of the pid file at `path`.
pub fn read(path: &Path) -> Result<Vec<Entry>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_PID_FILE {
        return Err(format!(
            "{} holds {size} bytes, more than a pid file of `volley cluster up` ever does \
             ({MAX_PID_FILE}): remove it and stop the processes by hand",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let pid = f.get(1).and_then(|p| p.parse().ok());
            match (f.as_slice(), pid) {
                ([role, _, start], Some(pid)) => Ok(Entry {
                    role: role.to_string(),
                    pid,
                    started: start.parse().ok(),
                }),
                _ => Err(format!(
                    "{} is not a pid file of `volley cluster up`: line {l:?} is not ROLE PID START",
                    path.display()
                )),
            }
        })
        .collect()
}

/// The `volley cluster up` that wrote the pid file at `path`, while it runs.
pub fn running_supervisor(path: &Path) -> Option<Entry> {
    read(path)
        .ok()?
        .into_iter()
        .find(|e| e.role == "supervisor" && e.alive())
}

#[derive(clap::Args)]
pub struct ClusterDownArgs {
    /// The data directory `volley cluster up` was given.
    #[arg(long, default_value = "./volley-data")]
    pub data_dir: PathBuf,
}

/// Waits up to `within` until none of `entries` runs; those still running.
fn wait_gone(entries: &[Entry], within: Duration) -> Vec<Entry> {
    let started = Instant::now();
    loop {
        let left: Vec<Entry> = entries.iter().filter(|e| e.alive()).cloned().collect();
        if left.is_empty() || started.elapsed() >= within {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the `volley cluster up` of `--data-dir` and every process it started.
pub fn cluster_down(a: ClusterDownArgs) -> i32 {
    let path = a.data_dir.join(PID_FILE);
    if !path.exists() {
        log_error(&format!(
            "no cluster is up on --data-dir {}: there is no {PID_FILE} (`volley cluster up` \
             writes it while it runs)",
            a.data_dir.display()
        ));
        return 1;
    }
    let entries = match read(&path) {
        Ok(e) => e,
        Err(e) => {
            log_error(&e);
            return 1;
        }
    };
    // `cluster up` stops its own processes (it restarts a controller that exits otherwise).
    let supervisor: Vec<Entry> = entries
        .iter()
        .filter(|e| e.role == "supervisor" && e.alive())
        .cloned()
        .collect();
    for s in &supervisor {
        signal(s.pid, "TERM");
    }
    let stuck = wait_gone(&supervisor, SUPERVISOR_GRACE);
    for s in &stuck {
        log_error(&format!(
            "volley cluster up (pid {}) did not stop within {SUPERVISOR_GRACE:?} of SIGTERM; \
             killing it",
            s.pid
        ));
        signal(s.pid, "KILL");
    }
    // What its `cluster up` could not stop (it was killed): SIGTERM, then SIGKILL.
    let left: Vec<Entry> = entries.iter().filter(|e| e.alive()).cloned().collect();
    for e in &left {
        tracing::warn!(role = %e.role, pid = e.pid, "still running; sending SIGTERM");
        signal(e.pid, "TERM");
    }
    for e in wait_gone(&left, LEFTOVER_GRACE) {
        tracing::warn!(role = %e.role, pid = e.pid, "did not stop within {LEFTOVER_GRACE:?} of SIGTERM; killing it");
        signal(e.pid, "KILL");
    }
    let survivors = wait_gone(&entries, Duration::from_secs(5));
    if !survivors.is_empty() {
        log_error(&format!(
            "these processes of the cluster still run after SIGKILL: {}",
            survivors
                .iter()
                .map(|e| format!("{} (pid {})", e.role, e.pid))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return 1;
    }
    let _ = std::fs::remove_file(&path);
    println!(
        "volley cluster down: the cluster on {} is stopped",
        a.data_dir.display()
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_file_round_trips_and_a_reused_pid_is_not_ours() {
        let dir = std::env::temp_dir().join(format!("volley-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(PID_FILE);
        let me = Entry::of("supervisor", std::process::id());
        assert!(me.started.is_some(), "this test runs on Linux");
        assert!(me.alive());
        let reused = Entry {
            started: me.started.map(|s| s + 1),
            ..me.clone()
        };
        assert!(!reused.alive(), "another process under the same pid");
        write(&path, &[me.clone(), reused.clone()]).unwrap();
        assert_eq!(read(&path).unwrap(), vec![me.clone(), reused]);
        assert_eq!(running_supervisor(&path), Some(me));
        std::fs::write(&path, "supervisor twelve -\n").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains("is not ROLE PID START"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
