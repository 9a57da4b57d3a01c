//! The stop contract of docs/exit-codes.md through a cluster: every stop method in every phase
//! of a `volley submit --wait` run on a real controller with two agents gives the exit code the
//! same run gives locally (`tests/tests/stop_matrix.rs` checks the local side), and the run's
//! stored `run_status` / `exit_code` agree with the table of docs/exit-codes.md#cluster-runs.
//!
//! The scripts are the local matrix's (`tests/stop-scripts/`): each prints `MARK:<phase>-start`
//! / `-end` through `console.log` and holds the phase under test. The first init and
//! handleSummary run in the `submit` process (its stderr has their marks); VU init, setup, the
//! iterations and teardown run on the agents (theirs). The driver waits for the phase's start
//! mark, acts (a signal to `submit`, a REST stop on the controller) or lets the script act
//! (`-e METHOD=...`), then checks the exit code, the last stderr line, which summary `submit`
//! printed, what teardown did on the agents, whether the phase reached its end, that a signal
//! is acknowledged within 1 s, and the run the controller stored.
//!
//! Three clusters run cells side by side; cells on one cluster run one after the other (each
//! waits for the previous run to end). Every process is killed when the test ends. The table of
//! results is printed and written to `target/cluster-stop-matrix-report.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use volley_e2e::stop_matrix::cells::{
    Method, Phase, Summary, Td, ABORT_TEXT, SECOND_TEXT, SIGINT_TEXT, SIGTERM_TEXT, THRESHOLD_TEXT,
    THROW_TEXT, TIMEOUT_TEXT,
};
use volley_e2e::stop_matrix::check::ACK_LIMIT;
use volley_e2e::stop_matrix::driver::{last_lines, run_in_parallel, signal_ack, LATE_SECOND};
use volley_e2e::{send_signal, workspace_root, Cluster, LineLog, Proc};

/// How long the driver waits for the phase under test to start.
const MARKER_TIMEOUT: Duration = Duration::from_secs(30);
/// Hard limit on one cell, from the action to the exit of `submit`.
const CELL_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the held phase lasts (the scripts' `HOLD`, in seconds).
const HOLD: &str = "3";
/// Delay between the phase mark and the driver's action, so the phase is really under way.
const SETTLE: Duration = Duration::from_millis(300);
/// Gap between the two signals of a double Ctrl+C.
const SECOND_SIGNAL_GAP: Duration = Duration::from_millis(50);
/// Clusters (a controller and two agents each) running cells side by side.
const CLUSTERS: usize = 3;

/// Whether the phase runs in the `submit` process (otherwise on an agent).
fn in_submit(phase: Phase) -> bool {
    matches!(phase, Phase::Init | Phase::Hs)
}

/// The phase's name in its script's MARK lines (every phase of this matrix runs JS).
fn mark(phase: Phase) -> &'static str {
    phase.mark().unwrap_or_else(|| phase.label())
}

/// One cell: a method in a phase, the local contract's exit code and what the cluster stores.
#[derive(Clone, Copy, Debug)]
struct Cell {
    method: Method,
    phase: Phase,
    /// `submit`'s exit code: the same run's code locally.
    code: i32,
    /// The run's stored `run_status` (`None`: no run may be created).
    status: Option<i64>,
    /// The run's stored `exit_code`.
    stored_code: i32,
    td: Td,
    summary: Summary,
    /// Whether the phase under test reaches its `-end` mark.
    end: bool,
    /// Text the last stderr line of `submit` must contain ("" with code 0: not an error).
    text: &'static str,
}

#[allow(clippy::too_many_arguments)]
const fn cell(
    method: Method,
    phase: Phase,
    code: i32,
    status: Option<i64>,
    stored_code: i32,
    td: Td,
    summary: Summary,
    end: bool,
    text: &'static str,
) -> Cell {
    Cell {
        method,
        phase,
        code,
        status,
        stored_code,
        td,
        summary,
        end,
        text,
    }
}

impl Cell {
    fn name(&self) -> String {
        format!("{} × {}", self.method.env(), mark(self.phase))
    }

    fn expected(&self) -> String {
        let status = self.status.map_or("no run".to_string(), |s| {
            format!("run {s}/{}", self.stored_code)
        });
        format!(
            "{} {} {} {} {status}",
            self.code,
            self.td.label(),
            self.summary.label(),
            if self.end { "end" } else { "cut" },
        )
    }
}

use Method::*;
use Phase::*;
use Summary::{Default as Sum, Hs as HsOut, None as NoSum};
use Td::{Cut, Done, Never};

/// A cluster run stopped through the controller's REST API.
const API_TEXT: &str = "stopped";

/// Run statuses (docs/run-statuses.md).
const FINISHED: Option<i64> = Some(3);
const BY_USER: Option<i64> = Some(5);
const BY_SCRIPT: Option<i64> = Some(7);
const BY_THRESHOLD: Option<i64> = Some(8);
const BY_LIMIT: Option<i64> = Some(9);
const NO_RUN: Option<i64> = None;

/// docs/exit-codes.md's matrix through a cluster, without the `--linger` and `--paused`
/// columns (`submit` has neither). The exit codes are the local ones; where `submit`'s own
/// phase decides it (the first init, handleSummary), the stored run says what the controller
/// saw: no run, or a FINISHED one. A REST stop needs a run, so it has no first-init cell.
/// After a second Ctrl+C `submit` is gone at once, but the run on the controller ends as after
/// one stop: teardown runs to its end on the agent.
const CELLS: &[Cell] = &[
    cell(
        Sigint,
        Init,
        105,
        NO_RUN,
        0,
        Never,
        NoSum,
        false,
        SIGINT_TEXT,
    ),
    cell(
        Sigint,
        VuInit,
        105,
        BY_USER,
        105,
        Never,
        HsOut,
        false,
        SIGINT_TEXT,
    ),
    cell(
        Sigint,
        Setup,
        105,
        BY_USER,
        105,
        Never,
        HsOut,
        false,
        SIGINT_TEXT,
    ),
    cell(
        Sigint,
        Run,
        105,
        BY_USER,
        105,
        Done,
        HsOut,
        false,
        SIGINT_TEXT,
    ),
    cell(
        Sigint,
        Teardown,
        105,
        BY_USER,
        105,
        Done,
        HsOut,
        true,
        SIGINT_TEXT,
    ),
    cell(Sigint, Hs, 105, FINISHED, 0, Done, HsOut, true, SIGINT_TEXT),
    cell(
        Sigterm,
        Init,
        105,
        NO_RUN,
        0,
        Never,
        NoSum,
        false,
        SIGTERM_TEXT,
    ),
    cell(
        Sigterm,
        VuInit,
        105,
        BY_USER,
        105,
        Never,
        HsOut,
        false,
        SIGTERM_TEXT,
    ),
    cell(
        Sigterm,
        Setup,
        105,
        BY_USER,
        105,
        Never,
        HsOut,
        false,
        SIGTERM_TEXT,
    ),
    cell(
        Sigterm,
        Run,
        105,
        BY_USER,
        105,
        Done,
        HsOut,
        false,
        SIGTERM_TEXT,
    ),
    cell(
        Sigterm,
        Teardown,
        105,
        BY_USER,
        105,
        Done,
        HsOut,
        true,
        SIGTERM_TEXT,
    ),
    cell(
        Sigterm,
        Hs,
        105,
        FINISHED,
        0,
        Done,
        HsOut,
        true,
        SIGTERM_TEXT,
    ),
    cell(
        Sigint2,
        Init,
        105,
        NO_RUN,
        0,
        Never,
        NoSum,
        false,
        SECOND_TEXT,
    ),
    cell(
        Sigint2,
        VuInit,
        105,
        BY_USER,
        105,
        Never,
        NoSum,
        false,
        SECOND_TEXT,
    ),
    cell(
        Sigint2,
        Setup,
        105,
        BY_USER,
        105,
        Never,
        NoSum,
        false,
        SECOND_TEXT,
    ),
    cell(
        Sigint2,
        Run,
        105,
        BY_USER,
        105,
        Done,
        NoSum,
        false,
        SECOND_TEXT,
    ),
    cell(
        Sigint2,
        Teardown,
        105,
        BY_USER,
        105,
        Done,
        NoSum,
        true,
        SECOND_TEXT,
    ),
    cell(
        Sigint2,
        Hs,
        105,
        FINISHED,
        0,
        Done,
        NoSum,
        false,
        SECOND_TEXT,
    ),
    cell(
        Api, VuInit, 103, BY_USER, 103, Never, HsOut, false, API_TEXT,
    ),
    cell(Api, Setup, 103, BY_USER, 103, Never, HsOut, false, API_TEXT),
    cell(Api, Run, 103, BY_USER, 103, Done, HsOut, false, API_TEXT),
    cell(
        Api, Teardown, 103, BY_USER, 103, Done, HsOut, true, API_TEXT,
    ),
    cell(Api, Hs, 0, FINISHED, 0, Done, HsOut, true, ""),
    cell(Abort, Init, 108, NO_RUN, 0, Never, NoSum, false, ABORT_TEXT),
    cell(
        Abort, VuInit, 108, BY_SCRIPT, 108, Never, HsOut, false, ABORT_TEXT,
    ),
    cell(
        Abort, Setup, 108, BY_SCRIPT, 108, Never, HsOut, false, ABORT_TEXT,
    ),
    cell(
        Abort, Run, 108, BY_SCRIPT, 108, Done, HsOut, false, ABORT_TEXT,
    ),
    cell(
        Abort, Teardown, 108, BY_SCRIPT, 108, Cut, HsOut, false, ABORT_TEXT,
    ),
    cell(Abort, Hs, 108, FINISHED, 0, Done, Sum, false, ABORT_TEXT),
    cell(Throw, Init, 107, NO_RUN, 0, Never, NoSum, false, THROW_TEXT),
    cell(
        Throw, VuInit, 107, BY_SCRIPT, 107, Never, HsOut, false, THROW_TEXT,
    ),
    cell(
        Throw, Setup, 107, BY_SCRIPT, 107, Never, HsOut, false, THROW_TEXT,
    ),
    cell(Throw, Run, 0, FINISHED, 0, Done, HsOut, false, THROW_TEXT),
    cell(
        Throw, Teardown, 107, BY_SCRIPT, 107, Cut, HsOut, false, THROW_TEXT,
    ),
    cell(Throw, Hs, 107, FINISHED, 0, Done, Sum, false, THROW_TEXT),
    cell(
        Threshold,
        Setup,
        99,
        BY_THRESHOLD,
        99,
        Never,
        HsOut,
        false,
        THRESHOLD_TEXT,
    ),
    cell(
        Threshold,
        Run,
        99,
        BY_THRESHOLD,
        99,
        Done,
        HsOut,
        false,
        THRESHOLD_TEXT,
    ),
    cell(
        Threshold,
        Teardown,
        99,
        BY_THRESHOLD,
        99,
        Done,
        HsOut,
        true,
        THRESHOLD_TEXT,
    ),
    cell(
        Timeout,
        Setup,
        100,
        BY_LIMIT,
        100,
        Never,
        HsOut,
        false,
        TIMEOUT_TEXT,
    ),
    cell(
        Timeout,
        Teardown,
        101,
        BY_LIMIT,
        101,
        Cut,
        HsOut,
        false,
        TIMEOUT_TEXT,
    ),
    cell(
        Timeout,
        Hs,
        102,
        FINISHED,
        0,
        Done,
        Sum,
        false,
        TIMEOUT_TEXT,
    ),
    cell(
        Fail,
        Run,
        110,
        FINISHED,
        110,
        Done,
        HsOut,
        true,
        "marked as failed",
    ),
];

/// What one run showed.
#[derive(Debug, Default)]
struct Observed {
    code: Option<i32>,
    no_marker: bool,
    timed_out: bool,
    td: Option<Td>,
    summary: Option<Summary>,
    end_reached: bool,
    last_line: String,
    ack: Option<Duration>,
    /// The run created for this cell: (`run_status`, `exit_code`), or an error reading it.
    run: Option<Result<(i64, i32), String>>,
    /// The REST stop's answer: "ok", "finished" (409, the run had ended) or the error.
    api_reply: Option<String>,
    /// A double Ctrl+C whose `submit` had already exited before the second signal.
    second_after_exit: bool,
    stdout_tail: String,
    /// Why the stored run reached its last status (its last transition's reason), for the
    /// report of a failed cell.
    run_reason: String,
    /// The last lines `submit` wrote to stderr, for the report of a failed cell.
    stderr_tail: String,
}

impl Observed {
    fn outcome(&self) -> String {
        if self.no_marker {
            return format!("phase never started (exit {:?})", self.code);
        }
        let run = match &self.run {
            None => "no run".to_string(),
            Some(Ok((s, c))) => format!("run {s}/{c}"),
            Some(Err(e)) => format!("run ? ({e})"),
        };
        format!(
            "{} {} {} {} {run}",
            if self.timed_out {
                "timeout".to_string()
            } else {
                self.code.map_or("?".into(), |c| c.to_string())
            },
            self.td.map_or("?", Td::label),
            self.summary.map_or("?", Summary::label),
            if self.end_reached { "end" } else { "cut" },
        )
    }
}

/// Lines of every agent's stderr that arrived after `since`.
fn agent_lines(cluster: &Cluster, since: Instant) -> Vec<String> {
    ["gen-1", "gen-2"]
        .iter()
        .filter_map(|n| cluster.agent_log(n))
        .flat_map(LineLog::lines)
        .filter(|(t, _)| *t >= since)
        .map(|(_, l)| l)
        .collect()
}

fn wait_marker(cluster: &Cluster, submit: &Proc, cell: &Cell, since: Instant) -> bool {
    let start = format!("MARK:{}-start", mark(cell.phase));
    if in_submit(cell.phase) {
        return submit
            .stderr
            .wait_for(|l| l.contains(&start), MARKER_TIMEOUT)
            .is_some();
    }
    let deadline = Instant::now() + MARKER_TIMEOUT;
    while Instant::now() < deadline {
        if agent_lines(cluster, since)
            .iter()
            .any(|l| l.contains(&start))
        {
            return true;
        }
        if submit.stderr.closed_at().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn run_cell(cluster: &Cluster, cell: &Cell) -> Observed {
    let mut obs = Observed::default();
    let before = cluster.latest_run_id().unwrap_or(0);
    let since = Instant::now();
    let method = format!("METHOD={}", cell.method.env());
    let hold = format!("HOLD={HOLD}");
    let mut args = vec!["-e", method.as_str(), "-e", hold.as_str()];
    if cell.method == Sigint2 {
        args.extend(["-e", "SLOW_AFTER=1"]);
    }
    let mut submit = cluster.submit(Path::new(cell.phase.script()), &args);
    if !wait_marker(cluster, &submit, cell, since) {
        obs.no_marker = true;
        obs.code = submit.wait_exit(CELL_TIMEOUT).and_then(|s| s.code());
        obs.last_line = format!("{}\n{}", submit.stderr.text(), cluster.agent_logs());
        return obs;
    }
    let mut acted = Instant::now();
    let mut second_sent: Option<Instant> = None;
    if cell.method.by_driver() {
        std::thread::sleep(SETTLE);
        acted = Instant::now();
        match cell.method {
            Sigint | Sigint2 => {
                send_signal(submit.id(), "INT");
            }
            Sigterm => {
                send_signal(submit.id(), "TERM");
            }
            Api => {
                obs.api_reply = Some(match cluster.latest_run_id().filter(|&id| id > before) {
                    Some(id) => {
                        let path = format!("/loadtests/v2/runs/{id}/stop");
                        match cluster.request("POST", &path, Some(&json!({}))) {
                            Ok((200, _)) => "ok".into(),
                            // handleSummary runs after the run ended: nothing to stop.
                            Ok((409, v)) if v.to_string().contains("run_finished") => {
                                "finished".into()
                            }
                            Ok((code, v)) => format!("{code}: {v}"),
                            Err(e) => e,
                        }
                    }
                    None => "no run to stop".into(),
                });
            }
            _ => {}
        }
        if cell.method == Sigint2 {
            std::thread::sleep(SECOND_SIGNAL_GAP);
            if submit.wait_exit(Duration::ZERO).is_some() {
                obs.second_after_exit = true;
            } else {
                send_signal(submit.id(), "INT");
                second_sent = Some(Instant::now());
            }
        }
    }
    match submit.wait_exit(CELL_TIMEOUT) {
        Some(st) => obs.code = st.code(),
        None => {
            obs.timed_out = true;
            submit.kill();
        }
    }
    let exited = submit.stderr.closed_at().unwrap_or_else(Instant::now);
    // The run this cell created, once it has ended (after a second Ctrl+C `submit` is gone
    // before the run ends).
    let new_run = cluster.latest_run_id().filter(|&id| id > before);
    if let Some(id) = new_run {
        let ended = cluster.wait_run(
            id,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            Duration::from_secs(30),
        );
        if let Ok(r) = &ended {
            obs.run_reason = r["transitions"]
                .as_array()
                .and_then(|t| t.last())
                .and_then(|t| t["reason"].as_str())
                .unwrap_or_default()
                .to_string();
        }
        obs.run = Some(ended.map(|r| {
            (
                r["run_status"].as_i64().unwrap_or(-1),
                r["exit_code"].as_i64().map_or(-1, |c| c as i32),
            )
        }));
    }
    // Teardown and the phase's end on the agents, read after the run ended.
    let cli = submit.stderr.lines();
    let mut lines: Vec<String> = cli.iter().map(|(_, l)| l.clone()).collect();
    lines.extend(agent_lines(cluster, since));
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    // As in the local matrix: a `submit` that closed its pipes within `LATE_SECOND` of the
    // second signal without saying it skipped anything was already exiting on the first one.
    if second_sent.is_some_and(|sent| exited <= sent + LATE_SECOND) && !has(SECOND_TEXT) {
        obs.second_after_exit = true;
    }
    obs.td = Some(Td::seen(has));
    obs.end_reached = has(&format!("MARK:{}-end", mark(cell.phase)));
    let out = submit.stdout.text();
    obs.summary = Some(Summary::seen(&out));
    if cell.method.is_signal() {
        obs.ack = Some(signal_ack(&cli, acted, exited));
    }
    obs.last_line = cli
        .iter()
        .rev()
        .map(|(_, l)| l.clone())
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    obs.stdout_tail = last_lines(&out, 3);
    obs.stderr_tail = last_lines(&submit.stderr.text(), 4);
    obs
}

fn check(cell: &Cell, obs: &Observed) -> Vec<String> {
    let mut problems = Vec::new();
    if obs.no_marker {
        problems.push(format!(
            "the phase under test never started; output:\n{}",
            obs.last_line
        ));
        return problems;
    }
    if obs.timed_out {
        problems.push(format!(
            "submit still running {CELL_TIMEOUT:?} after the action"
        ));
        return problems;
    }
    // A double Ctrl+C whose first signal already ended `submit` is a single Ctrl+C.
    let single;
    let cell = if obs.second_after_exit {
        single = CELLS
            .iter()
            .find(|c| c.method == Sigint && c.phase == cell.phase)
            .copied()
            .unwrap_or(*cell);
        &single
    } else {
        cell
    };
    if obs.code != Some(cell.code) {
        problems.push(format!(
            "exit {:?} instead of {} (the local run's code)",
            obs.code, cell.code
        ));
    }
    if obs.td != Some(cell.td) {
        problems.push(format!(
            "{} instead of {}",
            obs.td.map_or("?", Td::label),
            cell.td.label()
        ));
    }
    if obs.summary != Some(cell.summary) {
        problems.push(format!(
            "{} instead of {}",
            obs.summary.map_or("?", Summary::label),
            cell.summary.label()
        ));
    }
    if obs.end_reached != cell.end {
        problems.push(format!(
            "{} {}",
            mark(cell.phase),
            if cell.end {
                "was cut short; the contract lets it finish"
            } else {
                "ran to its end; the contract cuts it short"
            }
        ));
    }
    if cell.code == 0 {
        if obs.last_line.contains("level=error") {
            problems.push(format!(
                "exit 0 but the last line is an error: {}",
                obs.last_line
            ));
        }
    } else if !obs.last_line.contains(cell.text) {
        problems.push(format!(
            "last stderr line lacks {:?}: {}",
            cell.text, obs.last_line
        ));
    }
    match (cell.status, &obs.run) {
        (None, None) => {}
        (None, Some(r)) => problems.push(format!("a run was created: {r:?}")),
        (Some(_), None) => problems.push("no run was created".into()),
        (Some(_), Some(Err(e))) => problems.push(format!("the run did not end: {e}")),
        (Some(s), Some(Ok((got_s, got_c)))) => {
            if (s, cell.stored_code) != (*got_s, *got_c) {
                problems.push(format!(
                    "stored run_status/exit_code {got_s}/{got_c} instead of {s}/{}",
                    cell.stored_code
                ));
            }
        }
    }
    if let Some(ack) = obs.ack.filter(|a| *a > ACK_LIMIT) {
        problems.push(format!("signal acknowledged after {ack:?}"));
    }
    let want_reply = if cell.phase == Hs { "finished" } else { "ok" };
    if let Some(reply) = obs.api_reply.as_deref().filter(|r| *r != want_reply) {
        problems.push(format!("REST stop answered {reply}, expected {want_reply}"));
    }
    problems
}

#[test]
fn every_stop_method_in_every_phase_through_a_cluster() {
    let started = Instant::now();
    let results = run_in_parallel(
        CELLS,
        CLUSTERS,
        |n| Cluster::start(&format!("stop-matrix-{n}"), 2),
        |cluster, cell| {
            let obs = run_cell(cluster, cell);
            let problems = check(cell, &obs);
            (obs, problems)
        },
    );
    let failed = results.iter().filter(|(_, p)| !p.is_empty()).count();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Cluster stop matrix: {} cells, {failed} failed ({:.1} s)\n\n| cell | expected | observed | ack | result |\n|---|---|---|---|---|",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    for (c, (obs, problems)) in CELLS.iter().zip(&results) {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            c.name(),
            c.expected(),
            obs.outcome(),
            obs.ack
                .map_or(String::new(), |a| format!("{} ms", a.as_millis())),
            if problems.is_empty() { "PASS" } else { "FAIL" }
        );
    }
    for (c, (obs, problems)) in CELLS.iter().zip(&results) {
        if problems.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n## FAIL {}", c.name());
        for p in problems {
            let _ = writeln!(text, "- {p}");
        }
        let _ = writeln!(text, "- stdout tail: {}", obs.stdout_tail);
        let _ = writeln!(text, "- stderr tail: {}", obs.stderr_tail);
        let _ = writeln!(text, "- the stored run's last reason: {}", obs.run_reason);
    }
    println!("{text}");
    let path = workspace_root()
        .join("target")
        .join("cluster-stop-matrix-report.md");
    let _ = std::fs::write(&path, &text);
    assert_eq!(results.len(), CELLS.len(), "cells lost:\n{text}");
    assert_eq!(failed, 0, "{failed} cells broke the contract:\n{text}");
}

/// The checks catch what they are for (a test of the test).
#[test]
fn checks_flag_wrong_codes_runs_and_summaries() {
    let c = cell(Sigint, Hs, 105, FINISHED, 0, Done, HsOut, true, SIGINT_TEXT);
    let good = Observed {
        code: Some(105),
        td: Some(Td::Done),
        summary: Some(Summary::Hs),
        end_reached: true,
        last_line: "level=error msg=\"... received a 'interrupt' signal\"".into(),
        ack: Some(Duration::from_millis(2)),
        run: Some(Ok((3, 0))),
        ..Observed::default()
    };
    assert!(check(&c, &good).is_empty(), "{:?}", check(&c, &good));
    let bad = Observed {
        code: Some(0),
        td: Some(Td::Never),
        summary: Some(Summary::Both),
        end_reached: false,
        last_line: "level=info msg=done".into(),
        ack: Some(Duration::from_secs(2)),
        run: Some(Ok((5, 105))),
        ..Observed::default()
    };
    let p = check(&c, &bad).join("\n");
    for needle in [
        "exit Some(0) instead of 105",
        "TD– instead of TD✓",
        "HS✓+SUM instead of HS✓",
        "hs was cut short",
        "lacks",
        "stored run_status/exit_code 5/105 instead of 3/0",
        "acknowledged after",
    ] {
        assert!(p.contains(needle), "{needle:?} missing from:\n{p}");
    }
    let init = cell(Abort, Init, 108, NO_RUN, 0, Never, NoSum, false, ABORT_TEXT);
    let created = Observed {
        run: Some(Ok((7, 108))),
        ..Observed::default()
    };
    assert!(check(&init, &created)
        .join("\n")
        .contains("a run was created"));
}
