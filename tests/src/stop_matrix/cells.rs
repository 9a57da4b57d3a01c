//! The cells of the stop matrix: how a run is stopped ([`Method`]), in which phase ([`Phase`]),
//! what the contract of docs/exit-codes.md says happens to teardown ([`Td`]) and to the summary
//! ([`Summary`]), and the local matrix itself ([`CELLS`]). The cluster's matrix
//! (`tests/tests/cluster_stop_matrix.rs`) has cells of its own but the same methods, phases and
//! labels.

use std::fmt::Write as _;

/// How the run is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// One SIGINT (Ctrl+C).
    Sigint,
    /// One SIGTERM.
    Sigterm,
    /// Two SIGINTs 50 ms apart.
    Sigint2,
    /// `PATCH /v1/status {"stopped": true}` (through a cluster: `POST
    /// /loadtests/v2/runs/{id}/stop` on the controller).
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
    /// `PATCH /v1/status {"paused": false}` on a `--paused` run (not a stop; local runs only).
    Resume,
}

impl Method {
    /// The `METHOD` the script sees.
    pub fn env(self) -> &'static str {
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
    pub fn by_driver(self) -> bool {
        matches!(
            self,
            Method::Sigint | Method::Sigterm | Method::Sigint2 | Method::Api | Method::Resume
        )
    }

    /// Whether the driver sends a signal (which must be acknowledged within a second).
    pub fn is_signal(self) -> bool {
        matches!(self, Method::Sigint | Method::Sigterm | Method::Sigint2)
    }
}

/// Where the run is when it is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The first init (`__VU === 0`), where the options are read (through a cluster: in
    /// `submit`, while it builds the archive).
    Init,
    /// The init code of VU 1.
    VuInit,
    Setup,
    /// The default function.
    Run,
    Teardown,
    /// handleSummary() (through a cluster: in `submit`, after the run ended).
    Hs,
    /// Waiting for Ctrl+C after the summary (`--linger`; local runs only).
    Linger,
    /// Waiting for a resume before setup (`--paused`; local runs only).
    Paused,
}

impl Phase {
    /// The script that holds this phase (`tests/stop-scripts/`).
    pub fn script(self) -> &'static str {
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
    pub fn mark(self) -> Option<&'static str> {
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

    /// The `volley run` flags this phase needs.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Phase::Linger => &["--linger"],
            Phase::Paused => &["--paused"],
            _ => &[],
        }
    }

    /// The execution status `GET /v1/status` must show in this phase (k6's numbers); `None`
    /// when any answer will do (the first init: the API only has to be up).
    pub fn api_status(self) -> Option<i64> {
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

    /// The phase's name in the report.
    pub fn label(self) -> &'static str {
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
pub enum Td {
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
    pub fn label(self) -> &'static str {
        match self {
            Td::Done => "TD✓",
            Td::Cut => "TD✗",
            Td::Never => "TD–",
            Td::NotDone => "TD✗/–",
        }
    }

    /// Whether `seen` meets this expectation.
    pub fn accepts(self, seen: Td) -> bool {
        self == seen || (self == Td::NotDone && matches!(seen, Td::Cut | Td::Never))
    }

    /// What the output shows teardown did, `has` telling whether a line contains a text.
    pub fn seen(has: impl Fn(&str) -> bool) -> Td {
        if has("MARK:teardown-end") {
            Td::Done
        } else if has("MARK:teardown-start") {
            Td::Cut
        } else {
            Td::Never
        }
    }
}

/// Which end-of-test summary was printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
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
    pub fn label(self) -> &'static str {
        match self {
            Summary::Hs => "HS✓",
            Summary::Default => "SUM",
            Summary::None => "HS–",
            Summary::Any => "HS✓/SUM",
            Summary::Both => "HS✓+SUM",
        }
    }

    /// Whether `seen` meets this expectation.
    pub fn accepts(self, seen: Summary) -> bool {
        self == seen || (self == Summary::Any && matches!(seen, Summary::Hs | Summary::Default))
    }

    /// Which summary `stdout` shows.
    pub fn seen(stdout: &str) -> Summary {
        match (
            stdout.contains("HS-OUTPUT"),
            stdout.contains("TOTAL RESULTS"),
        ) {
            (true, true) => Summary::Both,
            (true, false) => Summary::Hs,
            (false, true) => Summary::Default,
            (false, false) => Summary::None,
        }
    }
}

/// One cell of the matrix: a method in a phase and what the contract says happens.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    pub method: Method,
    pub phase: Phase,
    pub code: i32,
    /// A second acceptable exit code, for the one cell where the process may legitimately be
    /// gone before the second signal lands (double Ctrl+C while lingering).
    pub or_code: Option<i32>,
    pub td: Td,
    pub summary: Summary,
    /// Whether the phase under test reaches its `-end` mark (false: it is cut short).
    pub end: bool,
    /// Text the last stderr line must contain (for exit code 0: text stderr must contain; empty:
    /// the last line must not be an error).
    pub text: &'static str,
    /// Runs of this cell (racy cells run 3 times).
    pub repeat: usize,
    /// Extra `volley run` arguments.
    pub extra: &'static [&'static str],
}

/// A cell run once, with no extra arguments.
pub const fn cell(
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
    /// Runs the cell `n` times (a racy one).
    pub const fn times(mut self, n: usize) -> Cell {
        self.repeat = n;
        self
    }

    /// Accepts `code` as well.
    pub const fn or_code(mut self, code: i32) -> Cell {
        self.or_code = Some(code);
        self
    }

    /// Adds `volley run` arguments.
    pub const fn with(mut self, extra: &'static [&'static str]) -> Cell {
        self.extra = extra;
        self
    }

    /// The cell's name in the report (`sigint × run`).
    pub fn name(&self) -> String {
        let mut n = format!("{} × {}", self.method.env(), self.phase.label());
        if !self.extra.is_empty() {
            let _ = write!(n, " [{}]", self.extra.join(" "));
        }
        n
    }

    /// What the contract expects, as the report shows it.
    pub fn expected(&self) -> String {
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

// What the last stderr line says, by method (a REST stop's wording differs locally and through a
// cluster: `API_TEXT` is the local one).
pub const SIGINT_TEXT: &str = "'interrupt' signal";
pub const SIGTERM_TEXT: &str = "'terminated' signal";
pub const SECOND_TEXT: &str = "skipped";
/// A local run stopped by `PATCH /v1/status`.
pub const API_TEXT: &str = "stopped from REST API";
pub const ABORT_TEXT: &str = "test aborted: stop-matrix abort in";
pub const THROW_TEXT: &str = "stop-matrix exception in";
pub const THRESHOLD_TEXT: &str = "stop_matrix_failures";
pub const TIMEOUT_TEXT: &str = "timed out";

/// docs/exit-codes.md's method × phase matrix (cells marked "—" there are left out), then the extras:
/// `test.fail()`, the run's own code after `--linger`, and `--paused`.
pub const CELLS: &[Cell] = &[
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
