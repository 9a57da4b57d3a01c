//! The driver of the local stop matrix: it starts `volley run` on a cell's script, waits for the
//! phase under test, acts (a signal, a REST call, or nothing when the script acts itself), waits
//! for the exit and records what the run showed ([`Observed`]). Cells run several at a time
//! ([`run_in_parallel`], shared with the cluster's matrix, as are the readers of an ack and an
//! output's tail).

use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::cells::Method::{Api, Resume, Sigint, Sigint2, Sigterm};
use super::cells::{Cell, Phase, Summary, Td, SECOND_TEXT};
use crate::{api_status, free_port, http_patch, send_signal, spawn_volley_run, LineLog};

/// How long the driver waits for the phase under test to start.
pub const MARKER_TIMEOUT: Duration = Duration::from_secs(25);
/// Hard limit on one cell, from the phase mark to the exit; the child is killed after it.
pub const CELL_TIMEOUT: Duration = Duration::from_secs(30);
/// Delay between the phase mark and the driver's action, so the phase is really under way.
const SETTLE: Duration = Duration::from_millis(200);
/// Gap between the two signals of a double Ctrl+C.
const SECOND_SIGNAL_GAP: Duration = Duration::from_millis(50);
/// A double Ctrl+C whose process closed its pipes this soon after the second signal, without
/// saying anything was skipped, was already exiting on the first (the pipe reader's latency).
pub const LATE_SECOND: Duration = Duration::from_millis(20);
/// Cells run at the same time (2 CPU cores; most cells sleep).
pub const PARALLEL: usize = 4;

/// What one run showed.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Exit code; `None` when killed by a signal (see `killed_by`) or when the cell timed out.
    pub code: Option<i32>,
    pub killed_by: Option<i32>,
    /// The phase never started (no mark within `MARKER_TIMEOUT`).
    pub no_marker: bool,
    /// The run outlived `CELL_TIMEOUT` and was killed.
    pub timed_out: bool,
    pub td: Option<Td>,
    pub summary: Option<Summary>,
    pub end_reached: bool,
    /// How many times the phase's start mark was printed (more than once: its code re-ran).
    pub starts: usize,
    pub last_lines: Vec<String>,
    pub stderr: String,
    pub stdout_tail: String,
    /// Time from the (first) signal to the `Stopping` line or the exit, whichever came first.
    pub ack: Option<Duration>,
    /// The REST API's answer to the driver's PATCH and how long it took.
    pub api_reply: Option<Result<(u16, Duration), String>>,
    /// `GET /v1/status` just before the action.
    pub status: Option<Result<i64, String>>,
    /// A double Ctrl+C whose process had already exited before the second signal, or was
    /// exiting with the first signal's outcome as it landed (see [`LATE_SECOND`]).
    pub second_after_exit: bool,
    /// When the driver sent a double Ctrl+C's second signal.
    pub second_sent: Option<Instant>,
    /// Time from the action to the exit.
    pub exit_after: Option<Duration>,
}

impl Observed {
    /// What the run did, as the report shows it.
    pub fn outcome(&self) -> String {
        if self.no_marker {
            return format!("phase never started (exit {})", self.code_label());
        }
        let mut s = format!(
            "{} {} {}",
            self.code_label(),
            self.td.map_or("?", Td::label),
            self.summary.map_or("?", Summary::label)
        );
        if self.second_after_exit {
            s.push_str(" (2nd signal after exit)");
        }
        s
    }

    /// The exit code, or how the process ended without one.
    pub fn code_label(&self) -> String {
        match (self.code, self.killed_by, self.timed_out) {
            (_, _, true) => "timeout".into(),
            (Some(c), _, _) => c.to_string(),
            (None, Some(sig), _) => format!("killed by signal {sig}"),
            (None, None, false) => "?".into(),
        }
    }
}

/// Runs one cell once.
pub fn run_cell(cell: &Cell) -> Observed {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let method = format!("METHOD={}", cell.method.env());
    let mut args: Vec<&str> = vec!["-q", "--address", &address, "-e", &method];
    if cell.method == Sigint2 {
        args.extend(["-e", "SLOW_AFTER=1"]);
    }
    args.extend(cell.phase.flags());
    args.extend(cell.extra);
    args.push(cell.phase.script());
    let mut child = spawn_volley_run(&args);
    let stdout = LineLog::capture(child.stdout.take().expect("piped stdout"));
    let stderr = LineLog::capture(child.stderr.take().expect("piped stderr"));
    let mut obs = Observed::default();

    let start_mark = cell.phase.mark().map(|m| format!("MARK:{m}-start"));
    let marker = match (&start_mark, cell.phase) {
        (Some(m), _) => stderr.wait_for(|l| l.contains(m.as_str()), MARKER_TIMEOUT),
        (None, Phase::Linger) => stderr.wait_for(|l| l.contains("--linger"), MARKER_TIMEOUT),
        (None, _) => wait_for_status(port, 4, MARKER_TIMEOUT),
    };
    let Some(_) = marker else {
        obs.no_marker = true;
        finish(&mut child, &mut obs, Instant::now(), &stdout, &stderr, cell);
        return obs;
    };

    let mut acted = Instant::now();
    if cell.method.by_driver() {
        std::thread::sleep(SETTLE);
        obs.status = Some(api_status(port));
        acted = Instant::now();
        let pid = child.id();
        match cell.method {
            Sigint | Sigint2 => {
                send_signal(pid, "INT");
            }
            Sigterm => {
                send_signal(pid, "TERM");
            }
            Api | Resume => {
                let body = if cell.method == Api {
                    r#"{"data":{"type":"status","id":"default","attributes":{"stopped":true}}}"#
                } else {
                    r#"{"data":{"type":"status","id":"default","attributes":{"paused":false}}}"#
                };
                let t = Instant::now();
                obs.api_reply = Some(
                    http_patch(port, "/v1/status", body)
                        .map(|(code, _)| (code, t.elapsed()))
                        .map_err(|e| e.to_string()),
                );
            }
            _ => {}
        }
        if cell.method == Sigint2 {
            std::thread::sleep(SECOND_SIGNAL_GAP);
            if matches!(child.try_wait(), Ok(Some(_))) {
                obs.second_after_exit = true;
            } else {
                obs.second_sent = Some(Instant::now());
                send_signal(pid, "INT");
            }
        }
    }
    finish(&mut child, &mut obs, acted, &stdout, &stderr, cell);
    obs
}

/// Polls `GET /v1/status` until it shows `want`; returns when it did.
fn wait_for_status(port: u16, want: i64, timeout: Duration) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if api_status(port) == Ok(want) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Waits for the exit (killing the child after `CELL_TIMEOUT`) and reads what it printed.
fn finish(
    child: &mut Child,
    obs: &mut Observed,
    acted: Instant,
    stdout: &LineLog,
    stderr: &LineLog,
    cell: &Cell,
) {
    let deadline = Instant::now() + CELL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                obs.timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let noticed = Instant::now();
    if let Some(st) = status {
        obs.code = st.code();
        obs.killed_by = st.signal();
    }
    stdout.wait_closed(Duration::from_secs(5));
    stderr.wait_closed(Duration::from_secs(5));
    // The pipes close when the process exits: a closer time than the polling loop noticed (it
    // may have been asleep between the two signals of a double Ctrl+C).
    let exited = stderr.closed_at().map_or(noticed, |t| t.min(noticed));
    obs.exit_after = Some(exited.saturating_duration_since(acted));

    let err_lines = stderr.lines();
    let has = |needle: &str| err_lines.iter().any(|(_, l)| l.contains(needle));
    // A first Ctrl+C that ends the run at once (during init nothing is left to run) can have the
    // process exiting as the second signal lands: it closes its pipes before `try_wait` sees it
    // gone. It printed the first signal's outcome, not the second's, and is judged as that.
    if let Some(sent) = obs.second_sent {
        if exited <= sent + LATE_SECOND && !has(SECOND_TEXT) {
            obs.second_after_exit = true;
        }
    }
    obs.td = Some(Td::seen(has));
    let out = stdout.text();
    obs.summary = Some(Summary::seen(&out));
    if let Some(m) = cell.phase.mark() {
        obs.end_reached = has(&format!("MARK:{m}-end"));
        let start = format!("MARK:{m}-start");
        obs.starts = err_lines.iter().filter(|(_, l)| l.contains(&start)).count();
    }
    if cell.method.is_signal() && !obs.no_marker {
        obs.ack = Some(signal_ack(&err_lines, acted, exited));
    }
    obs.last_lines = err_lines
        .iter()
        .rev()
        .map(|(_, l)| l.clone())
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    obs.stderr = stderr.text();
    obs.stdout_tail = last_lines(&out, 4);
}

/// Time from the driver's action to the first `Stopping` line at or after it, or to the exit
/// (`exited`), whichever came first.
pub fn signal_ack(lines: &[(Instant, String)], acted: Instant, exited: Instant) -> Duration {
    let stopping = lines
        .iter()
        .find(|(t, l)| *t >= acted && l.contains("Stopping"))
        .map(|(t, _)| *t);
    let first = stopping.map_or(exited, |t| t.min(exited));
    first.saturating_duration_since(acted)
}

/// The last `n` lines of `text` on one line, for the report.
pub fn last_lines(text: &str, n: usize) -> String {
    let tail: Vec<&str> = text.lines().rev().take(n).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join(" ⏎ ")
}

/// Runs `run` on every job, `workers` at a time, and returns the results in the jobs' order.
/// Each worker thread first makes its own context with `setup(worker)` (a cluster, or nothing)
/// and runs its jobs one after the other on it.
pub fn run_in_parallel<J, W, R>(
    jobs: &[J],
    workers: usize,
    setup: impl Fn(usize) -> W + Sync,
    run: impl Fn(&W, &J) -> R + Sync,
) -> Vec<R>
where
    J: Sync,
    R: Send,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for n in 0..workers {
            let (next, results, setup, run) = (&next, &results, &setup, &run);
            scope.spawn(move || {
                let context = setup(n);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { return };
                    let r = run(&context, job);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
