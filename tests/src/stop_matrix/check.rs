//! The judgement of one run of a cell: what the contract of docs/exit-codes.md says and what
//! the run showed, compared field by field into a list of violations (empty: the cell passes).

use std::time::Duration;

use super::cells::Method::{Sigint, Sigint2};
use super::cells::{Cell, Phase, Td, CELLS};
use super::driver::{Observed, CELL_TIMEOUT};

/// A stop must be acknowledged within this (docs/exit-codes.md#every-stop-method-in-every-phase).
pub const ACK_LIMIT: Duration = Duration::from_secs(1);

/// The contract violations in one run; empty when the cell passes.
pub fn check(cell: &Cell, obs: &Observed) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stop_matrix::cells::Phase::{Linger, Run};
    use crate::stop_matrix::cells::Summary::{self, Hs as HsOut};
    use crate::stop_matrix::cells::Td::Done;
    use crate::stop_matrix::cells::{cell, SECOND_TEXT, SIGINT_TEXT};

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
}
