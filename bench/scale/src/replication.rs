//! The replication table (`--controllers 1,3`, docs/ha.md#what-replication-costs): each
//! measurement's figures as a group's columns, the group's figures over one controller's, and
//! the submits timed while the run goes, which show what a Raft commit adds to the API.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use volley_api::client::Client;

use crate::agent::Fleet;
use crate::rest;
use crate::row::{ms, totals, Row};

/// The replication table's header (markdown).
pub fn header() -> &'static str {
    "| controllers | agents | run, cores (leader) | run, cores (all controllers) | submit p50 / p99 ms | checkpoints KiB/s | checkpoint commit ms | ack p50 / p99 ms | merge lag p50 / p99 ms | load avg | status | merged totals |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
}

/// `r` in the replication table.
pub fn line(r: &Row) -> String {
    format!(
        "| {} | {} | {:.2} | {:.2} | {} / {} | {:.1} | {} | {} / {} | {} / {} | {:.1} | {} | {} |",
        r.controllers,
        r.agents,
        r.run_cores,
        r.group_cores,
        ms(r.submit.0),
        ms(r.submit.1),
        r.checkpoint_kib_s,
        ms(r.checkpoint_ms),
        ms(r.ack.0),
        ms(r.ack.1),
        ms(r.lag.0),
        ms(r.lag.1),
        r.load,
        r.status,
        totals(r.totals_exact),
    )
}

/// The replication table's row of a measurement that could not be made.
pub fn error_line(controllers: u64, agents: usize) -> String {
    format!("| {controllers} | {agents} | – | – | – | – | – | – | – | – | harness error | – |")
}

/// Group `g`'s figures over `one`'s (the same agents on one controller).
pub fn ratio_line(g: &Row, one: &Row) -> String {
    let r = |a: f64, b: f64| {
        let v = a / b;
        if v.is_finite() {
            format!("×{v:.2}")
        } else {
            "–".into()
        }
    };
    format!(
        "| {} ÷ 1 | {} | {} | {} | {} / {} | {} | {} | {} / {} | {} / {} | | | |",
        g.controllers,
        g.agents,
        r(g.run_cores, one.run_cores),
        r(g.group_cores, one.group_cores),
        r(g.submit.0, one.submit.0),
        r(g.submit.1, one.submit.1),
        r(g.checkpoint_kib_s, one.checkpoint_kib_s),
        r(g.checkpoint_ms, one.checkpoint_ms),
        r(g.ack.0, one.ack.0),
        r(g.ack.1, one.ack.1),
        r(g.lag.0, one.lag.0),
        r(g.lag.1, one.lag.1),
    )
}

/// `count` submits of a one-agent test, one after another, each timed from the test's upload
/// to the run's start (what `volley submit` without `--wait` does); each run is stopped at
/// once (it waits QUEUED while the measured run holds every agent). No submit starts once an
/// agent of the measured run has sent its last batch: an idle agent would take the run, and
/// its batches would count as the measured run's. The times in ms.
pub fn timed_submits(client: &Client, count: usize, fleet: &Fleet) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        if fleet.finished.load(Ordering::SeqCst) > 0 {
            break;
        }
        // A script of its own each time: its archive is replicated too, as a new test's is.
        let script = format!("// submit {i}\nexport default function () {{}}\n");
        let began = Instant::now();
        let test = rest::create_test_of(client, 1, 2, &script)?;
        let run = client.start_testrun(test, &Default::default())?.run.id;
        times.push(began.elapsed().as_secs_f64() * 1e3);
        client.stop_run(run, &Default::default())?;
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_has_the_header_columns() {
        let columns = header().lines().next().unwrap().matches('|').count();
        assert_eq!(error_line(3, 100).matches('|').count(), columns);
        let one = Row {
            controllers: 1,
            agents: 100,
            run_cores: 0.5,
            ..Row::default()
        };
        let group = Row {
            controllers: 3,
            agents: 100,
            run_cores: 0.6,
            ..Row::default()
        };
        assert_eq!(line(&group).matches('|').count(), columns);
        let ratio = ratio_line(&group, &one);
        assert_eq!(ratio.matches('|').count(), columns);
        assert!(ratio.starts_with("| 3 ÷ 1 | 100 | ×1.20 | – |"), "{ratio}");
    }
}
