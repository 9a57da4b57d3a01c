//! `controller-scale`: how many agents one controller holds (bench/README.md, "Controller
//! scale"). For each agent count N it starts a fresh `volley controller`, connects N simulated
//! agents that speak the real gRPC protocol, measures the controller while they only send
//! heartbeats, then submits one run over all N agents and measures its CPU, peak memory, the
//! merge lag, the acknowledgement delay and the REST API's latency while the run goes, and
//! checks that the merged totals equal what the agents sent. One markdown table row per N,
//! then issue 23's verdicts; `--run-start 100x1000` measures the run-start row; `--json PATH`
//! writes both for bench/summary.py.
//!
//! Where things are:
//! - [`args`]: the command line and its errors;
//! - [`curve`]: the agent counts one after another, their table and verdicts ([`verdict`]);
//! - [`measure`]: one measurement, whose figures make a [`row::Row`];
//! - [`replication`]: `--controllers 1,3`, a Raft group against one controller
//!   (docs/ha.md#what-replication-costs);
//! - [`run_start`]: the run-start row, submit → every agent RUNNING;
//! - [`report`]: the `--json` document;
//! - [`controller`]: the `volley controller` processes under test;
//! - [`agent`], [`batches`]: the simulated agents and the metric batches they send;
//! - [`probe`]: what is read from outside the controller (`/proc`, the API poller);
//! - [`rest`]: the tests it submits and a run's status, over the REST API;
//! - [`run_record`]: the run's record as `volley submit --wait` reads it (`--follow`);
//! - [`dashboards`]: open dashboards' live streams during the run;
//! - [`merge_cost`]: `--merge-cost`, the controller's decode and merge with no controller;
//! - [`limits`], [`wait`]: the open-files limit, and polling with a timeout.

mod agent;
mod args;
mod batches;
mod controller;
mod curve;
mod dashboards;
mod limits;
mod measure;
mod merge_cost;
mod probe;
mod replication;
mod report;
mod rest;
mod row;
mod run_record;
mod run_start;
mod verdict;
mod wait;

use std::process::ExitCode;

use args::Args;

fn main() -> ExitCode {
    let args = match Args::from_env() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(batches) = args.merge_cost {
        return match merge_cost::run(batches, args.rps) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let files = limits::raise_open_files();
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut agents = Vec::new();
    for &n in &args.agents {
        match limits::too_many(n, files) {
            Some(why) => {
                eprintln!("controller-scale: skipping {n} agents: {why}");
                skipped.push((n, why));
            }
            None => agents.push(n),
        }
    }
    if let Some(spec) = args.run_start {
        if limits::too_many(spec.agents, files).is_some() {
            eprintln!(
                "error: --run-start {} agents need {} open files, the limit is {files} (ulimit -n)",
                spec.agents,
                limits::open_files_needed(spec.agents)
            );
            return ExitCode::from(2);
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let curve = curve::run(&rt, &args, &agents, &skipped);
    let mut failed = curve.failed;
    let mut run_start = None;
    if let Some(spec) = args.run_start {
        if !curve.rows.is_empty() || !skipped.is_empty() {
            println!();
        }
        run_start = run_start::measure_and_print(&rt, &args.volley, args.cpu, spec, args.trials);
        failed |= run_start.is_none();
    }
    if let Some(path) = &args.json {
        let doc = report::document(&args, &curve, &skipped, run_start.as_ref());
        if let Err(e) = report::write(path, &doc) {
            eprintln!("error: {e:#}");
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
