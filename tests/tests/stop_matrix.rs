//! The stop contract of docs/exit-codes.md, cell by cell, on local runs: the matrix, its driver,
//! judgement and report are `volley_e2e::stop_matrix` (`tests/src/stop_matrix/`).
//!
//! Cells run four at a time; each has a hard timeout and its process is killed on the way out.
//! The table of results is printed and written to `target/stop-matrix-report.md`. Everything
//! runs on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use volley_e2e::stop_matrix::cells::Method::{self, *};
use volley_e2e::stop_matrix::cells::Phase::{self, *};
use volley_e2e::stop_matrix::cells::{Cell, CELLS};
use volley_e2e::stop_matrix::check::check;
use volley_e2e::stop_matrix::driver::{run_cell, run_in_parallel, PARALLEL};
use volley_e2e::stop_matrix::report::{report, CellRun};
use volley_e2e::{spawn_volley_run, workspace_root, LineLog};

#[test]
fn every_stop_method_in_every_phase_follows_the_contract() {
    let jobs: Vec<(Cell, usize)> = CELLS
        .iter()
        .flat_map(|c| (1..=c.repeat).map(move |a| (*c, a)))
        .collect();
    let started = Instant::now();
    let results = run_in_parallel(
        &jobs,
        PARALLEL,
        |_| (),
        |(), &(cell, attempt)| {
            let obs = run_cell(&cell);
            let problems = check(&cell, &obs);
            CellRun {
                cell,
                attempt,
                obs,
                problems,
            }
        },
    );
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
