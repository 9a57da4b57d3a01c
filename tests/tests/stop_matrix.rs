//! The stop contract of docs/exit-codes.md, cell by cell: every stop method (Ctrl+C, SIGTERM, a second
//! Ctrl+C, REST API stop, `test.abort()`, an exception, an `abortOnFail` threshold, a timeout) in
//! every phase (first init, VU init, setup, the run, teardown, handleSummary, `--linger`), plus
//! `--paused`. The user-facing version of the table is `docs/exit-codes.md`.
//!
//! One script per phase (`tests/stop-scripts/`) prints `MARK:<phase>-start`/`-end` lines on
//! stderr and holds the phase under test for 5 s. The driver waits for the phase's start mark,
//! then acts (or lets the script act, with `-e METHOD=...`), and checks the exit code, whether
//! teardown ran to its end (TD✓), was cut (TD✗) or never started (TD–), which summary was
//! printed (handleSummary's `HS-OUTPUT`, the default text summary, or none), whether the phase
//! under test reached its end mark, the last stderr line, the REST API status in that phase, and
//! that every signal is acknowledged (a `Stopping` log line, or the exit) within 1 s.
//!
//! Cells run four at a time; each has a hard timeout and its process is killed on the way out.
//! The table of results is printed and written to `target/stop-matrix-report.md`. Everything
//! runs on 127.0.0.1.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use volley_e2e::{
    api_status, free_port, http_patch, send_signal, spawn_volley_run, workspace_root, LineLog,
};

/// How long the driver waits for the phase under test to start.
const MARKER_TIMEOUT: Duration = Duration::from_secs(25);
/// Hard limit on one cell, from the phase mark to the exit; the child is killed after it.
const CELL_TIMEOUT: Duration = Duration::from_secs(30);
/// Delay between the phase mark and the driver's action, so the phase is really under way.
const SETTLE: Duration = Duration::from_millis(200);
/// Gap between the two signals of a double Ctrl+C.
const SECOND_SIGNAL_GAP: Duration = Duration::from_millis(50);
/// A stop must be acknowledged within this (docs/exit-codes.md#every-stop-method-in-every-phase).
const ACK_LIMIT: Duration = Duration::from_secs(1);
/// Cells run at the same time (2 CPU cores; most cells sleep).
const PARALLEL: usize = 4;

/// How the run is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    /// One SIGINT (Ctrl+C).
    Sigint,
    /// One SIGTERM.
    Sigterm,
    /// Two SIGINTs 50 ms apart.
    Sigint2,
    /// `PATCH /v1/status {"stopped": true}`.
    Api,
    /// `exec.test.abort()` in the phase.
    Abort,
    /// An uncaught exception in the phase.
    Throw,
    /// A sample that fails an `abortOnFail` threshold, emitted in the phase.
    Threshold,
    /// The phase outlives its 1 s `setupTimeout` / `teardownTimeout` / `summaryTimeout`.
    Timeout,
    /// `exec.test.fail()` in the phase (not a stop: the run goes on).
    Fail,
    /// `PATCH /v1/status {"paused": false}` on a `--paused` run (not a stop).
    Resume,
}

impl Method {
    /// The `METHOD` the script sees.
    fn env(self) -> &'static str {
        match self {
            Method::Sigint => "sigint",
            Method::Sigterm => "sigterm",
            Method::Sigint2 => "sigint2",
            Method::Api => "api",
            Method::Abort => "abort",
            Method::Throw => "throw",
            Method::Threshold => "threshold",
            Method::Timeout => "timeout",
            Method::Fail => "fail",
            Method::Resume => "resume",
        }
    }

    /// Whether the driver acts (otherwise the script does it itself).
    fn by_driver(self) -> bool {
        matches!(
            self,
            Method::Sigint | Method::Sigterm | Method::Sigint2 | Method::Api | Method::Resume
        )
    }

    fn is_signal(self) -> bool {
        matches!(self, Method::Sigint | Method::Sigterm | Method::Sigint2)
    }
}

/// Where the run is when it is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// The first init (`__VU === 0`), where the options are read.
    Init,
    /// The init code of VU 1.
    VuInit,
    Setup,
    /// The default function.
    Run,
    Teardown,
    /// handleSummary().
    Hs,
    /// Waiting for Ctrl+C after the summary (`--linger`).
    Linger,
    /// Waiting for a resume before setup (`--paused`).
    Paused,
}

impl Phase {
    fn script(self) -> &'static str {
        match self {
            Phase::Init => "tests/stop-scripts/init.js",
            Phase::VuInit => "tests/stop-scripts/vuinit.js",
            Phase::Setup => "tests/stop-scripts/setup.js",
            Phase::Run => "tests/stop-scripts/run.js",
            Phase::Teardown => "tests/stop-scripts/teardown.js",
            Phase::Hs => "tests/stop-scripts/handle_summary.js",
            Phase::Linger | Phase::Paused => "tests/stop-scripts/linger.js",
        }
    }

    /// The name in the script's MARK lines; `None` for the phases that run no JS.
    fn mark(self) -> Option<&'static str> {
        match self {
            Phase::Init => Some("init"),
            Phase::VuInit => Some("vuinit"),
            Phase::Setup => Some("setup"),
            Phase::Run => Some("run"),
            Phase::Teardown => Some("teardown"),
            Phase::Hs => Some("hs"),
            Phase::Linger | Phase::Paused => None,
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Phase::Linger => &["--linger"],
            Phase::Paused => &["--paused"],
            _ => &[],
        }
    }

    /// The execution status `GET /v1/status` must show in this phase (k6's numbers); `None`
    /// when any answer will do (the first init: the API only has to be up).
    fn api_status(self) -> Option<i64> {
        match self {
            Phase::Init | Phase::Hs => None,
            Phase::VuInit => Some(1),
            Phase::Paused => Some(4),
            Phase::Setup => Some(6),
            Phase::Run => Some(7),
            Phase::Teardown => Some(8),
            Phase::Linger => Some(9),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::VuInit => "vuinit",
            Phase::Setup => "setup",
            Phase::Run => "run",
            Phase::Teardown => "teardown",
            Phase::Hs => "handleSummary",
            Phase::Linger => "linger",
            Phase::Paused => "paused",
        }
    }
}

/// What happened to teardown().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Td {
    /// Ran to its end (TD✓).
    Done,
    /// Started but was cut short (TD✗).
    Cut,
    /// Never started (TD–).
    Never,
    /// Expected only: cut or never started, whichever the second signal hits.
    NotDone,
}

impl Td {
    fn label(self) -> &'static str {
        match self {
            Td::Done => "TD✓",
            Td::Cut => "TD✗",
            Td::Never => "TD–",
            Td::NotDone => "TD✗/–",
        }
    }

    fn accepts(self, seen: Td) -> bool {
        self == seen || (self == Td::NotDone && matches!(seen, Td::Cut | Td::Never))
    }
}

/// Which end-of-test summary was printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Summary {
    /// handleSummary's `HS-OUTPUT`.
    Hs,
    /// The default text summary (`█ TOTAL RESULTS`).
    Default,
    /// Nothing.
    None,
    /// Expected only: either summary (after a first-init stop handleSummary may not exist yet).
    Any,
    /// Observed only: both, which is always wrong.
    Both,
}

impl Summary {
    fn label(self) -> &'static str {
        match self {
            Summary::Hs => "HS✓",
            Summary::Default => "SUM",
            Summary::None => "HS–",
            Summary::Any => "HS✓/SUM",
            Summary::Both => "HS✓+SUM",
        }
    }

    fn accepts(self, seen: Summary) -> bool {
        self == seen || (self == Summary::Any && matches!(seen, Summary::Hs | Summary::Default))
    }
}

/// One cell of the matrix: a method in a phase and what the contract says happens.
#[derive(Clone, Copy, Debug)]
struct Cell {
    method: Method,
    phase: Phase,
    code: i32,
    /// A second acceptable exit code, for the one cell where the process may legitimately be
    /// gone before the second signal lands (double Ctrl+C while lingering).
    or_code: Option<i32>,
    td: Td,
    summary: Summary,
    /// Whether the phase under test reaches its `-end` mark (false: it is cut short).
    end: bool,
    /// Text the last stderr line must contain (for exit code 0: text stderr must contain; empty:
    /// the last line must not be an error).
    text: &'static str,
    /// Runs of this cell (racy cells run 3 times).
    repeat: usize,
    /// Extra `volley run` arguments.
    extra: &'static [&'static str],
}

const fn cell(
    method: Method,
    phase: Phase,
    code: i32,
    td: Td,
    summary: Summary,
    end: bool,
    text: &'static str,
) -> Cell {
    Cell {
        method,
        phase,
        code,
        or_code: None,
        td,
        summary,
        end,
        text,
        repeat: 1,
        extra: &[],
    }
}

impl Cell {
    const fn times(mut self, n: usize) -> Cell {
        self.repeat = n;
        self
    }

    const fn or_code(mut self, code: i32) -> Cell {
        self.or_code = Some(code);
        self
    }

    const fn with(mut self, extra: &'static [&'static str]) -> Cell {
        self.extra = extra;
        self
    }

    fn name(&self) -> String {
        let mut n = format!("{} × {}", self.method.env(), self.phase.label());
        if !self.extra.is_empty() {
            let _ = write!(n, " [{}]", self.extra.join(" "));
        }
        n
    }

    fn expected(&self) -> String {
        let code = match self.or_code {
            Some(c) => format!("{}|{c}", self.code),
            None => self.code.to_string(),
        };
        let end = match self.phase.mark() {
            Some(_) if self.end => " end",
            Some(_) => " cut",
            None => "",
        };
        format!("{code} {} {}{end}", self.td.label(), self.summary.label())
    }
}

use Method::*;
use Phase::*;
use Summary::{Default as Sum, Hs as HsOut, None as NoSum};
use Td::{Cut, Done, Never, NotDone};

const SIGINT_TEXT: &str = "'interrupt' signal";
const SIGTERM_TEXT: &str = "'terminated' signal";
const SECOND_TEXT: &str = "skipped";
const API_TEXT: &str = "stopped from REST API";
const ABORT_TEXT: &str = "test aborted: stop-matrix abort in";
const THROW_TEXT: &str = "stop-matrix exception in";
const THRESHOLD_TEXT: &str = "stop_matrix_failures";
const TIMEOUT_TEXT: &str = "timed out";

/// docs/exit-codes.md's method × phase matrix (cells marked "—" there are left out), then the extras:
/// `test.fail()`, the run's own code after `--linger`, and `--paused`.
const CELLS: &[Cell] = &[
    // First Ctrl+C: stop; teardown iff setup completed; summary; 105. Teardown and
    // handleSummary are not cut. While lingering it only ends the linger.
    cell(Sigint, Init, 105, Never, NoSum, false, SIGINT_TEXT),
    cell(Sigint, VuInit, 105, Never, HsOut, false, SIGINT_TEXT),
    cell(Sigint, Setup, 105, Never, HsOut, false, SIGINT_TEXT).times(3),
    cell(Sigint, Run, 105, Done, HsOut, false, SIGINT_TEXT),
    cell(Sigint, Teardown, 105, Done, HsOut, true, SIGINT_TEXT),
    cell(Sigint, Hs, 105, Done, HsOut, true, SIGINT_TEXT),
    cell(Sigint, Linger, 0, Done, HsOut, false, ""),
    // SIGTERM: the same row.
    cell(Sigterm, Init, 105, Never, NoSum, false, SIGTERM_TEXT),
    cell(Sigterm, VuInit, 105, Never, HsOut, false, SIGTERM_TEXT),
    cell(Sigterm, Setup, 105, Never, HsOut, false, SIGTERM_TEXT).times(3),
    cell(Sigterm, Run, 105, Done, HsOut, false, SIGTERM_TEXT),
    cell(Sigterm, Teardown, 105, Done, HsOut, true, SIGTERM_TEXT),
    cell(Sigterm, Hs, 105, Done, HsOut, true, SIGTERM_TEXT),
    cell(Sigterm, Linger, 0, Done, HsOut, false, ""),
    // Second Ctrl+C: exit 105 at once, saying what was skipped. Teardown and handleSummary that
    // follow the phase take 2 s here (SLOW_AFTER), so the second signal always finds them.
    cell(Sigint2, Init, 105, Never, NoSum, false, SECOND_TEXT).times(3),
    cell(Sigint2, VuInit, 105, Never, NoSum, false, SECOND_TEXT).times(3),
    cell(Sigint2, Setup, 105, Never, NoSum, false, SECOND_TEXT).times(3),
    cell(Sigint2, Run, 105, NotDone, NoSum, false, SECOND_TEXT).times(3),
    cell(Sigint2, Teardown, 105, Cut, NoSum, false, SECOND_TEXT).times(3),
    cell(Sigint2, Hs, 105, Done, NoSum, false, SECOND_TEXT).times(3),
    cell(Sigint2, Linger, 105, Done, HsOut, false, SECOND_TEXT)
        .or_code(0)
        .times(3),
    // REST API stop: as the first Ctrl+C with 103; no effect on handleSummary; ends a linger.
    cell(Api, Init, 103, Never, NoSum, false, API_TEXT),
    cell(Api, VuInit, 103, Never, HsOut, false, API_TEXT),
    cell(Api, Setup, 103, Never, HsOut, false, API_TEXT).times(3),
    cell(Api, Run, 103, Done, HsOut, false, API_TEXT),
    cell(Api, Teardown, 103, Done, HsOut, true, API_TEXT),
    cell(Api, Hs, 0, Done, HsOut, true, ""),
    cell(Api, Linger, 0, Done, HsOut, false, ""),
    // test.abort(): 108; teardown iff setup completed, cut when it is the one aborting; a failed
    // handleSummary falls back to the default summary.
    cell(Abort, Init, 108, Never, NoSum, false, ABORT_TEXT),
    cell(Abort, VuInit, 108, Never, HsOut, false, ABORT_TEXT),
    cell(Abort, Setup, 108, Never, HsOut, false, ABORT_TEXT),
    cell(Abort, Run, 108, Done, HsOut, false, ABORT_TEXT),
    cell(Abort, Teardown, 108, Cut, HsOut, false, ABORT_TEXT),
    cell(Abort, Hs, 108, Done, Sum, false, ABORT_TEXT),
    // Exception: 107, except in an iteration, which it only interrupts (the run ends with 0).
    cell(Throw, Init, 107, Never, NoSum, false, THROW_TEXT),
    cell(Throw, VuInit, 107, Never, HsOut, false, THROW_TEXT),
    cell(Throw, Setup, 107, Never, HsOut, false, THROW_TEXT),
    cell(Throw, Run, 0, Done, HsOut, false, THROW_TEXT),
    cell(Throw, Teardown, 107, Cut, HsOut, false, THROW_TEXT),
    cell(Throw, Hs, 107, Done, Sum, false, THROW_TEXT),
    // abortOnFail threshold: 99; setup is cut (no teardown); a teardown in progress finishes.
    cell(Threshold, Setup, 99, Never, HsOut, false, THRESHOLD_TEXT).times(3),
    cell(Threshold, Run, 99, Done, HsOut, false, THRESHOLD_TEXT),
    cell(Threshold, Teardown, 99, Done, HsOut, true, THRESHOLD_TEXT),
    // Timeouts: 100 / 101 / 102.
    cell(Timeout, Setup, 100, Never, HsOut, false, TIMEOUT_TEXT),
    cell(Timeout, Teardown, 101, Cut, HsOut, false, TIMEOUT_TEXT),
    cell(Timeout, Hs, 102, Done, Sum, false, TIMEOUT_TEXT),
    // Extras. test.fail() does not stop the run: 110 at the end.
    cell(Fail, Run, 110, Done, HsOut, true, "marked as failed"),
    // Ending a linger keeps the run's own code, here 110.
    cell(Sigint, Linger, 110, Done, HsOut, false, "marked as failed").with(&["-e", "RUN_FAIL=1"]),
    cell(Api, Linger, 110, Done, HsOut, false, "marked as failed").with(&["-e", "RUN_FAIL=1"]),
    // --paused sits between VU init and setup: a stop there skips setup and teardown.
    cell(Sigint, Paused, 105, Never, HsOut, false, SIGINT_TEXT),
    cell(Api, Paused, 103, Never, HsOut, false, API_TEXT),
    cell(Resume, Paused, 0, Done, HsOut, false, ""),
];

/// What one run showed.
#[derive(Debug, Default, Clone)]
struct Observed {
    /// Exit code; `None` when killed by a signal (see `killed_by`) or when the cell timed out.
    code: Option<i32>,
    killed_by: Option<i32>,
    /// The phase never started (no mark within `MARKER_TIMEOUT`).
    no_marker: bool,
    /// The run outlived `CELL_TIMEOUT` and was killed.
    timed_out: bool,
    td: Option<Td>,
    summary: Option<Summary>,
    end_reached: bool,
    /// How many times the phase's start mark was printed (more than once: its code re-ran).
    starts: usize,
    last_lines: Vec<String>,
    stderr: String,
    stdout_tail: String,
    /// Time from the (first) signal to the `Stopping` line or the exit, whichever came first.
    ack: Option<Duration>,
    /// The REST API's answer to the driver's PATCH and how long it took.
    api_reply: Option<Result<(u16, Duration), String>>,
    /// `GET /v1/status` just before the action.
    status: Option<Result<i64, String>>,
    /// A double Ctrl+C whose process had already exited before the second signal.
    second_after_exit: bool,
    /// Time from the action to the exit.
    exit_after: Option<Duration>,
}

impl Observed {
    fn outcome(&self) -> String {
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

    fn code_label(&self) -> String {
        match (self.code, self.killed_by, self.timed_out) {
            (_, _, true) => "timeout".into(),
            (Some(c), _, _) => c.to_string(),
            (None, Some(sig), _) => format!("killed by signal {sig}"),
            (None, None, false) => "?".into(),
        }
    }
}

/// Runs one cell once.
fn run_cell(cell: &Cell) -> Observed {
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
    obs.td = Some(if has("MARK:teardown-end") {
        Td::Done
    } else if has("MARK:teardown-start") {
        Td::Cut
    } else {
        Td::Never
    });
    let out = stdout.text();
    obs.summary = Some(
        match (out.contains("HS-OUTPUT"), out.contains("TOTAL RESULTS")) {
            (true, true) => Summary::Both,
            (true, false) => Summary::Hs,
            (false, true) => Summary::Default,
            (false, false) => Summary::None,
        },
    );
    if let Some(m) = cell.phase.mark() {
        obs.end_reached = has(&format!("MARK:{m}-end"));
        let start = format!("MARK:{m}-start");
        obs.starts = err_lines.iter().filter(|(_, l)| l.contains(&start)).count();
    }
    if cell.method.is_signal() && !obs.no_marker {
        let stopping = err_lines
            .iter()
            .find(|(t, l)| *t >= acted && l.contains("Stopping"))
            .map(|(t, _)| *t);
        let first = stopping.map_or(exited, |t| t.min(exited));
        obs.ack = Some(first.saturating_duration_since(acted));
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
    let tail: Vec<&str> = out.lines().rev().take(4).collect();
    obs.stdout_tail = tail.into_iter().rev().collect::<Vec<_>>().join(" ⏎ ");
}

/// The contract violations in one run; empty when the cell passes.
fn check(cell: &Cell, obs: &Observed) -> Vec<String> {
    let mut problems = Vec::new();
    if obs.no_marker {
        problems.push("the phase under test never started".to_string());
        return problems;
    }
    if obs.timed_out {
        problems.push(format!(
            "still running {CELL_TIMEOUT:?} after the action; killed"
        ));
        return problems;
    }
    // A double Ctrl+C whose run was over before the second signal is a single Ctrl+C: so is
    // one that exits with the cell's other code, the process already on its way out when the
    // second signal landed (the first Ctrl+C ended a linger: nothing was left to skip).
    let second_too_late = cell.or_code.is_some() && obs.code == cell.or_code;
    let cell = if obs.second_after_exit || second_too_late {
        CELLS
            .iter()
            .find(|c| c.method == Sigint && c.phase == cell.phase && c.extra.is_empty())
            .unwrap_or(cell)
    } else {
        cell
    };
    let code_ok = |c: i32| c == cell.code || cell.or_code == Some(c);
    match obs.code {
        Some(c) if code_ok(c) => {}
        _ => problems.push(format!(
            "exit {} instead of {}",
            obs.code_label(),
            cell.code
        )),
    }
    if let Some(td) = obs.td {
        if !cell.td.accepts(td) {
            problems.push(format!("{} instead of {}", td.label(), cell.td.label()));
        }
    }
    if let Some(s) = obs.summary {
        if !cell.summary.accepts(s) {
            problems.push(format!("{} instead of {}", s.label(), cell.summary.label()));
        }
    }
    if let Some(m) = cell.phase.mark() {
        if obs.end_reached != cell.end {
            problems.push(if cell.end {
                format!("{m} was cut short; the contract lets it finish")
            } else {
                format!("{m} ran to its end; the contract cuts it short")
            });
        }
        if obs.starts > 1 {
            problems.push(format!("{m} started {} times", obs.starts));
        }
    }
    // The last line names the reason; a clean exit ends without an error.
    let effective = obs.code.filter(|c| code_ok(*c)).unwrap_or(cell.code);
    let last = obs.last_lines.last().map(String::as_str).unwrap_or("");
    if effective == 0 {
        if !cell.text.is_empty() && !obs.stderr.contains(cell.text) {
            problems.push(format!("stderr never says {:?}", cell.text));
        }
        if cell.text.is_empty() && last.contains("level=error") {
            problems.push(format!("exit 0 but the last line is an error: {last}"));
        }
    } else if !last.contains(cell.text) {
        problems.push(format!("last stderr line lacks {:?}", cell.text));
    }
    // Teardown runs if and only if setup completed.
    let setup_done = obs.stderr.contains("MARK:setup-end");
    let td_started = obs.td.is_some_and(|t| t != Td::Never);
    if td_started && !setup_done {
        problems.push("teardown ran although setup did not complete".into());
    }
    if setup_done && !td_started && cell.method != Sigint2 && obs.code.is_some() {
        problems.push("setup completed but teardown never ran".into());
    }
    if let Some(ack) = obs.ack {
        if ack > ACK_LIMIT {
            problems.push(format!(
                "signal acknowledged after {ack:?} (limit {ACK_LIMIT:?})"
            ));
        }
    }
    match (&obs.status, cell.phase.api_status()) {
        (Some(Err(e)), _) if cell.phase != Phase::Hs => problems.push(format!(
            "REST API not answering in {}: {e}",
            cell.phase.label()
        )),
        (Some(Ok(s)), Some(want)) if *s != want => problems.push(format!(
            "GET /v1/status shows {s} in {}, expected {want}",
            cell.phase.label()
        )),
        _ => {}
    }
    if cell.phase != Phase::Hs {
        match &obs.api_reply {
            Some(Ok((200, took))) if *took > ACK_LIMIT => {
                problems.push(format!("PATCH /v1/status answered after {took:?}"))
            }
            Some(Ok((200, _))) | None => {}
            Some(Ok((code, _))) => problems.push(format!("PATCH /v1/status answered {code}")),
            Some(Err(e)) => problems.push(format!("PATCH /v1/status failed: {e}")),
        }
    }
    problems
}

/// One finished run of a cell.
struct Result1 {
    cell: Cell,
    attempt: usize,
    obs: Observed,
    problems: Vec<String>,
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or(String::new(), |d| format!("{} ms", d.as_millis()))
}

/// The Markdown table of every run, then the details of the failures.
fn report(results: &[Result1], wall: Duration) -> String {
    let mut s = String::new();
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    let _ = writeln!(
        s,
        "# Stop matrix: {} runs, {} passed, {failed} failed ({:.1} s)\n",
        results.len(),
        results.len() - failed,
        wall.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "| cell | try | expected | observed | ack | API | exit after | result |\n|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        let api = match (&r.obs.status, &r.obs.api_reply) {
            (Some(Ok(st)), Some(Ok((code, took)))) => {
                format!("status {st}; PATCH {code} in {} ms", took.as_millis())
            }
            (Some(Ok(st)), _) => format!("status {st}"),
            (Some(Err(_)), _) => "down".into(),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.cell.name(),
            r.attempt,
            r.cell.expected(),
            {
                let mut o = r.obs.outcome();
                if r.cell.phase.mark().is_some() && !r.obs.no_marker {
                    o.push_str(if r.obs.end_reached { " end" } else { " cut" });
                }
                o
            },
            fmt_ms(r.obs.ack),
            api,
            fmt_ms(r.obs.exit_after),
            if r.problems.is_empty() {
                "PASS"
            } else {
                "FAIL"
            }
        );
    }
    let max_ack = results
        .iter()
        .filter_map(|r| r.obs.ack.map(|a| (a, r)))
        .max_by_key(|(a, _)| *a);
    if let Some((ack, r)) = max_ack {
        let _ = writeln!(
            s,
            "\nSlowest signal acknowledgement: {} ms ({} try {}).",
            ack.as_millis(),
            r.cell.name(),
            r.attempt
        );
    }
    for r in results.iter().filter(|r| !r.problems.is_empty()) {
        let _ = writeln!(
            s,
            "\n## FAIL {} (try {}): expected {}, observed {}",
            r.cell.name(),
            r.attempt,
            r.cell.expected(),
            r.obs.outcome()
        );
        for p in &r.problems {
            let _ = writeln!(s, "- {p}");
        }
        let _ = writeln!(s, "- stdout tail: {}", r.obs.stdout_tail);
        let _ = writeln!(s, "- last stderr lines:");
        for l in &r.obs.last_lines {
            let _ = writeln!(s, "  - `{l}`");
        }
    }
    s
}

#[test]
fn every_stop_method_in_every_phase_follows_the_contract() {
    let jobs: Vec<(Cell, usize)> = CELLS
        .iter()
        .flat_map(|c| (1..=c.repeat).map(move |a| (*c, a)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result1)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((cell, attempt)) = jobs.get(i).copied() else {
                    return;
                };
                let obs = run_cell(&cell);
                let problems = check(&cell, &obs);
                results.lock().unwrap_or_else(|e| e.into_inner()).push((
                    i,
                    Result1 {
                        cell,
                        attempt,
                        obs,
                        problems,
                    },
                ));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<Result1> = results.into_iter().map(|(_, r)| r).collect();
    let text = report(&results, started.elapsed());
    println!("{text}");
    let path = workspace_root()
        .join("target")
        .join("stop-matrix-report.md");
    let _ = std::fs::write(&path, &text);
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    assert_eq!(
        failed,
        0,
        "{failed} stop-matrix runs broke the contract (report: {}):\n{text}",
        path.display()
    );
}

#[test]
fn explicit_address_on_a_busy_port_exits_106() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let address = busy.local_addr().expect("bound address").to_string();
    let mut child = spawn_volley_run(&["-q", "--address", &address, Phase::Run.script()]);
    let stderr = LineLog::capture(child.stderr.take().expect("piped stderr"));
    let _stdout = LineLog::capture(child.stdout.take().expect("piped stdout"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match child.try_wait().expect("wait for volley") {
            Some(st) => break st,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "volley kept running with a busy --address; stderr:\n{}",
                    stderr.text()
                );
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    stderr.wait_closed(Duration::from_secs(5));
    let text = stderr.text();
    assert_eq!(status.code(), Some(106), "stderr:\n{text}");
    assert!(
        !text.contains("MARK:"),
        "the script ran although the REST API could not start:\n{text}"
    );
    let last = text.lines().last().unwrap_or("");
    assert!(
        last.contains("REST API") && last.contains(&address),
        "the last line should name the REST API and the address: {last}"
    );
}

/// The table must keep every cell of docs/exit-codes.md's matrix that is not "—", once each.
#[test]
fn the_cells_cover_the_design_matrix() {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<(Method, Phase), usize> = BTreeMap::new();
    for c in CELLS.iter().filter(|c| c.extra.is_empty()) {
        *seen.entry((c.method, c.phase)).or_default() += 1;
    }
    let all = [Init, VuInit, Setup, Run, Teardown, Hs, Linger];
    let mut want: BTreeSet<(Method, Phase)> = BTreeSet::new();
    for m in [Sigint, Sigterm, Sigint2, Api] {
        want.extend(all.iter().map(|p| (m, *p)));
    }
    for m in [Abort, Throw] {
        want.extend(all[..6].iter().map(|p| (m, *p)));
    }
    want.extend([Setup, Run, Teardown].map(|p| (Threshold, p)));
    want.extend([Setup, Teardown, Hs].map(|p| (Timeout, p)));
    want.extend([
        (Fail, Run),
        (Sigint, Paused),
        (Api, Paused),
        (Resume, Paused),
    ]);
    let have: BTreeSet<(Method, Phase)> = seen.keys().copied().collect();
    assert_eq!(have, want);
    assert!(seen.values().all(|n| *n == 1), "duplicate cells: {seen:?}");
    // Racy cells (stops during setup, second Ctrl+C) run three times.
    for c in CELLS {
        let racy = c.method == Sigint2
            || (c.phase == Setup && c.method.by_driver())
            || (c.phase == Setup && c.method == Threshold);
        assert_eq!(c.repeat, if racy { 3 } else { 1 }, "{}", c.name());
    }
}

#[test]
fn checks_flag_the_wrong_code_teardown_and_summary() {
    let cell = cell(Sigint, Run, 105, Done, HsOut, false, SIGINT_TEXT);
    let good = Observed {
        code: Some(105),
        td: Some(Td::Done),
        summary: Some(Summary::Hs),
        starts: 1,
        last_lines: vec!["level=error msg=\"... received a 'interrupt' signal\"".into()],
        stderr: "MARK:setup-end\nMARK:teardown-start\nMARK:teardown-end\n".into(),
        status: Some(Ok(7)),
        ack: Some(Duration::from_millis(3)),
        ..Observed::default()
    };
    assert!(check(&cell, &good).is_empty(), "{:?}", check(&cell, &good));
    let bad = Observed {
        code: Some(0),
        td: Some(Td::Never),
        summary: Some(Summary::Both),
        end_reached: true,
        last_lines: vec!["level=info msg=done".into()],
        stderr: "MARK:setup-end\n".into(),
        status: Some(Ok(6)),
        ack: Some(Duration::from_secs(2)),
        ..Observed::default()
    };
    let p = check(&cell, &bad).join("\n");
    for needle in [
        "exit 0 instead of 105",
        "TD– instead of TD✓",
        "HS✓+SUM instead of HS✓",
        "run ran to its end",
        "lacks",
        "setup completed but teardown never ran",
        "acknowledged after",
        "shows 6 in run, expected 7",
    ] {
        assert!(p.contains(needle), "{needle:?} missing from:\n{p}");
    }
}

#[test]
fn a_second_signal_after_the_exit_is_judged_as_a_single_one() {
    let cell = cell(Sigint2, Linger, 105, Done, HsOut, false, SECOND_TEXT).or_code(0);
    let obs = Observed {
        code: Some(0),
        td: Some(Td::Done),
        summary: Some(Summary::Hs),
        second_after_exit: true,
        last_lines: vec!["level=info msg=\"MARK:hs-end\"".into()],
        stderr: "MARK:setup-end\nMARK:teardown-start\nMARK:teardown-end\n".into(),
        status: Some(Ok(9)),
        ..Observed::default()
    };
    assert!(check(&cell, &obs).is_empty(), "{:?}", check(&cell, &obs));
    // Sent while the process was already leaving (exit 0, its linger ended by the first one):
    // as a single Ctrl+C, nothing skipped to report. With 105 it must say what it skipped.
    let landed_late = Observed {
        second_after_exit: false,
        ..obs.clone()
    };
    assert!(
        check(&cell, &landed_late).is_empty(),
        "{:?}",
        check(&cell, &landed_late)
    );
    let forced = Observed {
        code: Some(105),
        second_after_exit: false,
        ..obs
    };
    let p = check(&cell, &forced).join("\n");
    assert!(p.contains("lacks"), "{p}");
    assert!(Td::NotDone.accepts(Td::Cut) && Td::NotDone.accepts(Td::Never));
    assert!(!Td::NotDone.accepts(Td::Done));
    assert!(Summary::Any.accepts(Summary::Default) && !Summary::Any.accepts(Summary::Both));
}
