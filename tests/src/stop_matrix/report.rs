//! The report of the local stop matrix: a Markdown table of every run of every cell, the slowest
//! signal acknowledgement, then the details of each failure (printed, and written to
//! `target/stop-matrix-report.md`).

use std::fmt::Write as _;
use std::time::Duration;

use super::cells::Cell;
use super::driver::Observed;

/// One finished run of a cell.
pub struct CellRun {
    pub cell: Cell,
    /// Which run of a repeated cell (from 1).
    pub attempt: usize,
    pub obs: Observed,
    /// The contract violations (`check`); empty when the run passed.
    pub problems: Vec<String>,
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or(String::new(), |d| format!("{} ms", d.as_millis()))
}

/// The Markdown table of every run, then the details of the failures.
pub fn report(results: &[CellRun], wall: Duration) -> String {
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
